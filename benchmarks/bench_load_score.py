"""Loading + scoring a 512 x 512 x 60 series vs a plain pydicom loop over the same files.

    .venv/bin/python benchmarks/bench_load_score.py [--slices 60] [--repeats 7]

Both are timed in the same run, alternately, with the files in the OS cache; the ratio of the
medians is printed (target: <= 1.3).  The baseline is
``[pydicom.dcmread(f).pixel_array for f in files]``; qa does that work plus finding the files,
validating the geometry, sorting, converting to HU (float32) and scoring the whole volume.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--matrix", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    import pydicom

    import qa
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "series"
        increment = 1.0
        opts = SynthOptions(
            matrix=args.matrix, pixel_mm=250.0 / args.matrix, thickness_mm=1.0, increment_mm=increment,
            z_start_mm=-20.0, z_end_mm=-20.0 + increment * (args.slices - 1), shuffle=True,
        )
        result = synthesize_phantom(folder, opts)
        files = list(result.files)
        print(f"series: {len(files)} files of {args.matrix} x {args.matrix} in {folder}; {os.cpu_count()} CPU cores")

        def baseline():
            return [pydicom.dcmread(f).pixel_array for f in files]

        def ours():
            volume = qa.load_series(folder)
            return qa.score_volume(volume, qa.scoring_settings("standard"))

        def load_only():
            return qa.load_series(folder)

        # warm the OS cache and the imports
        baseline(), ours()
        times = {"baseline": [], "qa load+score": [], "qa load only": []}
        for _ in range(args.repeats):
            for name, fn in (("baseline", baseline), ("qa load+score", ours), ("qa load only", load_only)):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        # Each round's ratio pairs runs made moments apart, which cancels slow drifts of the machine.
        ratios = {name: [v / b for v, b in zip(values, times["baseline"])] for name, values in times.items()}
        print(f"{'':16s} {'median s':>9s} {'min s':>7s} {'ratio (median of rounds)':>25s}")
        for name, values in times.items():
            print(
                f"{name:16s} {statistics.median(values):9.3f} {min(values):7.3f} "
                f"{statistics.median(ratios[name]):25.2f}"
            )
        ratio = statistics.median(ratios["qa load+score"])
        print(f"ratio (qa load + score) / (plain pydicom loop) = {ratio:.2f}  (target <= 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
