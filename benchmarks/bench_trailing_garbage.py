"""Reading a CT image followed by trailing garbage vs a plain pydicom read of the same image without it.

    .venv/bin/python benchmarks/bench_trailing_garbage.py [--garbage-mb 100] [--repeats 5]

One synthetic CT image (512 x 512) is written, then copied twice: once followed by
``--garbage-mb`` MB of zeros, once by as many random bytes.  Timed alternately in the same run,
with the files in the OS cache:

* baseline: ``pydicom.dcmread(clean)`` and its pixel array (the image without garbage)
* qa: ``qa.dicom.files.Reader().examine`` of each file with garbage, and its pixel array

It prints each time and qa's time over the baseline's (target: the garbage adds under 1 s; qa
parses nothing after the pixel data, so the ratio stays near 1).  For scale, a plain pydicom read
of the zero-padded file parses the padding as elements (about a minute per 100 MB): run with
``--pydicom-garbage`` to measure that too.
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
    parser.add_argument("--garbage-mb", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pydicom-garbage", action="store_true", help="also time pydicom.dcmread on the zero-padded file")
    args = parser.parse_args()

    import pydicom

    from qa.dicom import files
    from qa.dicom.pixels import pixels
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    with tempfile.TemporaryDirectory() as tmp:
        seed = Path(tmp) / "seed"
        synthesize_phantom(seed, SynthOptions(matrix=512, pixel_mm=0.4, z_start_mm=0.0, z_end_mm=0.0))
        clean = next(seed.glob("*.dcm"))
        zeros, noise = Path(tmp) / "zeros.dcm", Path(tmp) / "noise.dcm"
        data = clean.read_bytes()
        zeros.write_bytes(data + bytes(args.garbage_mb * 1000**2))
        noise.write_bytes(data + os.urandom(args.garbage_mb * 1000**2))
        print(f"image {len(data)} bytes; {args.garbage_mb} MB of trailing zeros / random bytes")

        def baseline():
            return pydicom.dcmread(clean).pixel_array

        def ours(path):
            def run():
                ds = files.Reader().examine(files.Source(label=str(path), path=str(path)))
                return pixels(ds, str(path), 1)
            return run

        runs = {"baseline (pydicom, no garbage)": baseline, "qa, trailing zeros": ours(zeros), "qa, trailing random": ours(noise)}
        for fn in runs.values():
            fn()  # warm the OS cache and the imports
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["baseline (pydicom, no garbage)"])
        for name, values in times.items():
            t = statistics.median(values)
            print(f"{name:32s} {t * 1000:9.1f} ms   ratio {t / base:6.2f}   extra {(t - base) * 1000:+8.1f} ms")
        if args.pydicom_garbage:
            t0 = time.perf_counter()
            pydicom.dcmread(zeros)
            t = time.perf_counter() - t0
            print(f"{'pydicom, trailing zeros':32s} {t * 1000:9.1f} ms   ratio {t / base:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
