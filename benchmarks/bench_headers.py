"""Header extraction (`qa check`'s first step) over 10,000 files vs a bare pydicom header loop.

    .venv/bin/python benchmarks/bench_headers.py [--files 10000] [--repeats 3]

One realistic synthetic CT image (full acquisition and cardiac headers, 64 x 64 pixels) is
written, then copied into ``--files`` images of one series at distinct positions with their own
SOP Instance UIDs.  Timed alternately in the same run, with the files in the OS cache:

* baseline: ``[pydicom.dcmread(f, stop_before_pixels=True) for f in files]``
* qa: ``qa.dicom.headers.headers_of(folder)`` (find the files, read each header once, group by
  series, leave out localizers, sort by position, read every acquisition parameter with its source)

It prints the rate of each and qa's rate as a fraction of the baseline's (target: >= 0.7).
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
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import pydicom
    from pydicom.uid import generate_uid

    from qa.dicom.headers import headers_of
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    with tempfile.TemporaryDirectory() as tmp:
        seed_dir = Path(tmp) / "seed"
        synthesize_phantom(seed_dir, SynthOptions(matrix=64, pixel_mm=5.0, z_start_mm=0.0, z_end_mm=0.0))
        template = pydicom.dcmread(next(seed_dir.glob("*.dcm")))
        folder = Path(tmp) / "series"
        folder.mkdir()
        files = []
        for k in range(args.files):
            template.SOPInstanceUID = generate_uid(entropy_srcs=["bench", str(k)])
            template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
            template.InstanceNumber = k + 1
            template.ImagePositionPatient = [-160.0, -160.0, -0.5 * k]
            path = folder / f"IM{k:05d}.dcm"
            template.save_as(path)
            files.append(str(path))
        print(f"{len(files)} files of one series in {folder}; {os.cpu_count()} CPU cores")

        def baseline():
            return [pydicom.dcmread(f, stop_before_pixels=True) for f in files]

        def ours():
            return headers_of(folder)

        baseline(), ours()  # warm the OS cache and the imports
        times = {"baseline": [], "qa headers": []}
        for _ in range(args.repeats):
            for name, fn in (("baseline", baseline), ("qa headers", ours)):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["baseline"])
        mine = statistics.median(times["qa headers"])
        print(f"baseline (dcmread stop_before_pixels)  {base:7.2f} s  {len(files) / base:8.0f} files/s")
        print(f"qa headers_of                          {mine:7.2f} s  {len(files) / mine:8.0f} files/s")
        print(f"rate ratio qa / baseline = {base / mine:.2f}  (target >= 0.7)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
