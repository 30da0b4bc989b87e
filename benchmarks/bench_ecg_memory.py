"""Peak memory of reading and analysing a long ECG trace (``qa gating``), against numpy.loadtxt of the same file.

    .venv/bin/python benchmarks/bench_ecg_memory.py               # 24 hours at 1 kHz (a ~1 GB CSV; a few minutes)
    .venv/bin/python benchmarks/bench_ecg_memory.py --hours 2     # quicker

Each measurement is the peak resident memory (ru_maxrss) of a fresh child process: ``qa gating
--ecg TRACE --json`` (read, R-peaks, rhythm, checks), and, as the baseline measured in the same run,
a plain ``numpy.loadtxt`` of the file (and ``pandas.read_csv`` when pandas is installed), which only
read it.  The budget is 1 GiB for 24 hours at 1 kHz.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qa.ecg.synth import write_long_ecg_csv

BUDGET_MB = 1024.0


def peak_mb(argv: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, wall time s, exit code) of a command run in a fresh measuring parent."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / 1024.0, time.perf_counter() - t0, int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--fs", type=int, default=1000)
    ap.add_argument("--dir", help="folder for the trace (default: a temporary one, deleted after)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "long.csv"
        t0 = time.perf_counter()
        n = write_long_ecg_csv(path, hours=args.hours, fs_hz=args.fs)
        print(f"trace    {args.hours:g} h at {args.fs} Hz: {n} samples, {path.stat().st_size / 1e6:.0f} MB CSV "
              f"(written in {time.perf_counter() - t0:.0f} s)")
        qa = [sys.executable, "-m", "qa", "gating", "--ecg", str(path), "--json"]
        ours, t_ours, code = peak_mb(qa)
        print(f"qa gating        peak {ours:8.0f} MB  {t_ours:6.0f} s  (exit {code}; budget {BUDGET_MB * args.hours / 24:.0f} MB "
              f"for {args.hours:g} h)")
        loadtxt = [sys.executable, "-c", f"import numpy; numpy.loadtxt({str(path)!r}, delimiter=',', skiprows=3)"]
        base, t_base, _ = peak_mb(loadtxt)
        print(f"numpy.loadtxt    peak {base:8.0f} MB  {t_base:6.0f} s  (reading only)")
        try:
            import pandas  # noqa: F401
        except ImportError:
            pandas_mb = None
        else:
            pandas_mb, t_pd, _ = peak_mb([sys.executable, "-c", f"import pandas; pandas.read_csv({str(path)!r}, comment='#')"])
            print(f"pandas.read_csv  peak {pandas_mb:8.0f} MB  {t_pd:6.0f} s  (reading only)")
        print(f"ratio    qa gating / numpy.loadtxt = {ours / base:.2f}"
              + (f"; qa gating / pandas.read_csv = {ours / pandas_mb:.2f}" if pandas_mb else ""))


if __name__ == "__main__":
    main()
