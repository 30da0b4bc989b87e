"""How long ``qa synth exams`` takes to write a year of exams (issue 13, point 2: well under a minute).

    .venv/bin/python benchmarks/bench_fleet_synth.py [--exams 2000] [--scanners 4] [--months 12] [--workers 2]

Runs the command in a fresh process (start-up included) into a temporary folder, then, as the
baseline measured in the same run, creates as many 4 KB files in as many folders with as many
processes and nothing else.  Printed: files, wall time, CPU time (user and system, the workers
included), files per second, and the ratio to the bare file creation: what the DICOM content costs
on top of what this file system costs.  On a shared machine both move together; the ratio less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _bare(folder: str, n_folders: int, files_per_folder: int) -> int:
    from qa.outputs import create_new, output_folder

    data = b"\x00" * 4096
    for k in range(n_folders):
        with output_folder(Path(folder) / f"s{k:05d}") as tmp:
            for i in range(files_per_folder):
                with create_new(tmp / f"IM{i:04d}.dcm") as fp:
                    fp.write(data)
    return n_folders * files_per_folder


def _cpu() -> tuple[float, float]:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + children.ru_utime, me.ru_stime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exams", type=int, default=2000)
    parser.add_argument("--scanners", type=int, default=4)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, QA_SECRET_FILE=str(Path(tmp) / "secret"), QA_DB_URL=f"sqlite:///{Path(tmp) / 'qa.sqlite'}")
        out = Path(tmp) / "fleet"
        user0, sys0 = _cpu()
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "qa", "synth", "exams", str(out), "--exams", str(args.exams), "--scanners",
                               str(args.scanners), "--months", str(args.months), "--workers", str(args.workers), "--json"],
                              capture_output=True, text=True, env=env)
        wall = time.monotonic() - start
        user1, sys1 = _cpu()
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        doc = json.loads(done.stdout)
        files, studies = doc["n_files"], doc["n_studies"]
        per_folder = max(1, round(files / studies))
        bare_dir = Path(tmp) / "bare"
        bare_dir.mkdir()
        start = time.monotonic()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            chunks = [pool.submit(_bare, str(bare_dir / f"w{w}"), studies // args.workers, per_folder) for w in range(args.workers)]
            bare_files = sum(c.result() for c in chunks)
        bare = time.monotonic() - start
        print(f"qa synth exams --exams {args.exams} --scanners {args.scanners} --months {args.months} --workers {args.workers}")
        print(f"  {studies} studies, {files} files, {doc['counts']['dose_reports']} dose reports")
        print(f"  wall {wall:.1f} s (in the command: {doc['seconds']:.1f} s), CPU user {user1 - user0:.1f} s + system {sys1 - sys0:.1f} s, "
              f"{files / wall:.0f} files/s")
        print(f"  baseline: {bare_files} bare 4 KB files in {studies // args.workers * args.workers} folders: {bare:.1f} s "
              f"({bare_files / bare:.0f} files/s)")
        print(f"  ratio to the bare file creation: {(wall / files) / (bare / bare_files):.2f} x")
        print(f"  load average now: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
