"""The whole `qa phantom` run (load, locate, score, check, store) vs a plain pydicom read loop.

    .venv/bin/python benchmarks/bench_phantom.py [--slices 60] [--repeats 7] [--real PATH]

A synthetic 512 x 512 x 60 phantom series is written once; then, alternately and in the same
run, the baseline ``[pydicom.dcmread(f).pixel_array for f in files]`` and the full daily QA
(into a SQLite file, as `qa phantom` does by default) are timed.  The median of the per-round
ratios is printed (target: <= 2).  ``--real`` times the same on a real series too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and p.name != "truth.json")


def _measure(label: str, folder: Path, repeats: int, db_url: str, ring: str) -> float:
    import pydicom

    from qa.cli.phantom import run_phantom
    from qa.store import Store

    files = _files(folder)

    def baseline():
        return [pydicom.dcmread(f).pixel_array for f in files]

    def ours():
        store = Store(db_url)
        try:
            return run_phantom([folder], store=store, ring=ring, progress=False)
        finally:
            store.close()

    baseline(), ours()  # warm the OS cache, the imports and the database file
    base_times, our_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        baseline()
        base_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours()
        our_times.append(time.perf_counter() - t0)
    ratios = [o / b for o, b in zip(our_times, base_times)]
    ratio = statistics.median(ratios)
    print(f"{label}: {len(files)} files; plain pydicom loop {statistics.median(base_times):.3f} s, "
          f"qa phantom {statistics.median(our_times):.3f} s; ratio {ratio:.2f} (median of {repeats} rounds)")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--matrix", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--real", help="also time a real phantom series (folder)")
    args = parser.parse_args()

    from qa.workflows.synth import SynthOptions, synthesize_phantom

    print(f"{os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "series"
        increment = 1.0
        synthesize_phantom(folder, SynthOptions(
            matrix=args.matrix, pixel_mm=250.0 / args.matrix, thickness_mm=3.0, increment_mm=increment,
            z_start_mm=-14.0, z_end_mm=-14.0 + increment * (args.slices - 1), shuffle=True,
        ))
        db_url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        ratio = _measure(f"synthetic {args.matrix} x {args.matrix} x {args.slices}", folder, args.repeats, db_url, "unspecified")
        if args.real:
            _measure(f"real series {args.real}", Path(args.real), args.repeats, db_url, "large")
    print(f"ratio (qa phantom) / (plain pydicom loop) = {ratio:.2f}  (target <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
