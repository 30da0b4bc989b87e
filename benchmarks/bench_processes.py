"""Whole processes, as a user runs them: each `qa` command against a bare process reading the same files.

    .venv/bin/python benchmarks/bench_processes.py [--repeats 5] [--scaling 60,120,240,480] [--check-files 1000]
                                                   [--memory-files 10000] [--min-seconds 10] [--quick]

Every command runs as a fresh process (interpreter start, imports, work, exit), timed alternately with
its bare baseline in the same run (the files in the OS cache), median of the rounds: at least
``--repeats``, and as many more as fit in 10 s (at most 41), so that a short command's median is
not one busy moment of a shared host; peak memory is the child's maximum resident set (``os.wait4``).  Baselines:

* ``qa score`` and ``qa phantom --no-store`` on a 60-slice 512 x 512 phantom series, and a stored
  ``qa phantom`` into an existing SQLite store: a bare ``python`` that reads every file's pixel array
  with pydicom (``dcmread(f).pixel_array``);
* ``qa gating`` on a 60-s ECG CSV with its exposure windows: a bare ``numpy.loadtxt`` of the CSV;
* ``qa check`` on a 1,000-file exam folder (a 3 mm calcium-score series and a thin reconstruction):
  a bare header-only read of every file (``dcmread(f, stop_before_pixels=True)``).

The cache of validated definitions (:mod:`qa.procedures.cache`) lives in a folder of the run and is
filled by the first round, as a user's first run fills it; ``--cold`` turns it off.

Targets (issue 17): score <= 1.4x, phantom <= 1.5x, stored <= 1.8x, gating <= 1.5x, check <= 1.2x;
peak memory of ``qa phantom`` on 480 slices and of ``qa check`` on 10,000 files <= 1.3x the bare read's.
Memory baselines keep what the command must hold: every pixel array for ``qa phantom`` (the bare
read of the time table drops each one, so its peak is the interpreter's whatever the series), every
header for ``qa check``.
Scaling: time and peak memory of ``qa phantom --no-store`` at 60, 120, 240 and 480 slices, with the
growth exponent (slope of log time, log memory against log slices; 1.0 = linear).

The inputs are written by child processes (``--make``), so that this process stays small: Linux
counts the parent's resident set at the fork in a child's maximum resident set (``ru_maxrss``), which
would put a floor under every memory number (the parent holding a 480-slice series in memory made
every command and baseline look like ~100-300 MiB).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
QA = [PYTHON, "-m", "qa"]

BARE_PIXELS = """
import sys, os, pydicom
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith('.dcm'))
total = 0
for f in files:
    total += int(pydicom.dcmread(f).pixel_array.shape[0])
"""

# The memory baseline of a command that holds the volume: a bare read that keeps every pixel array
# (the bare read above drops each one, so its peak does not grow with the series).
BARE_PIXELS_KEPT = """
import sys, os, pydicom
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith('.dcm'))
kept = [pydicom.dcmread(f).pixel_array for f in files]
"""

BARE_HEADERS = """
import sys, os, pydicom
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith('.dcm'))
headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
"""

# The '#' lines and the column header are skipped first (loadtxt's skiprows counts the comment lines too).
BARE_CSV = """
import sys, numpy
with open(sys.argv[1]) as fp:
    line = fp.readline()
    while line.startswith('#'):
        line = fp.readline()
    data = numpy.loadtxt(fp, delimiter=',', usecols=(0, 1))
assert data.shape[0] > 1000
"""


def run_once(argv: list[str], *, ok=(0, 1)) -> tuple[float, float]:
    """Seconds and peak resident memory (MiB) of one process; its exit status must be in ``ok``."""
    # stderr to a file, not a pipe: a child writing more than a pipe holds would block before exiting.
    with tempfile.TemporaryFile() as err_file:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err_file, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
    if proc.returncode not in ok:
        raise SystemExit(f"bench: {' '.join(argv)} exited {proc.returncode}:\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024.0


# A comparison runs at least this long (and at least --repeats rounds): a command of a fifth of a
# second takes many more rounds than one of two seconds for a median that another busy process on a
# shared host does not move (five rounds of qa gating measured 1.21-1.57x across runs).
MIN_SECONDS = 10.0
MAX_ROUNDS = 41


def compare(label: str, ours: list[str], bare: list[str], repeats: int, target: float | None = None,
            min_seconds: float = MIN_SECONDS) -> dict:
    run_once(bare, ok=(0,)), run_once(ours)  # the OS cache, the .pyc files, the store file
    pairs = []
    started = time.perf_counter()
    while len(pairs) < repeats or (time.perf_counter() - started < min_seconds and len(pairs) < MAX_ROUNDS):
        b = run_once(bare, ok=(0,))  # a baseline that fails measures nothing
        o = run_once(ours)
        pairs.append((o, b))
    ratio = statistics.median(o[0] / b[0] for o, b in pairs)
    return {
        "label": label, "ours_s": statistics.median(o[0] for o, _ in pairs),
        "bare_s": statistics.median(b[0] for _, b in pairs), "ratio": ratio, "rounds": len(pairs),
        "ours_mib": max(o[1] for o, _ in pairs), "bare_mib": max(b[1] for _, b in pairs), "target": target,
    }


def _phantom_series(folder: Path, slices: int, matrix: int = 512) -> Path:
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    increment = 3.0 if slices <= 60 else 180.0 / slices
    synthesize_phantom(folder, SynthOptions(
        matrix=matrix, pixel_mm=250.0 / matrix, thickness_mm=3.0 if slices <= 60 else max(increment, 0.5),
        increment_mm=increment, z_start_mm=-90.0, z_end_mm=-90.0 + increment * (slices - 1),
    ))
    return folder


def _ecg_trace(folder: Path, seconds: float = 60.0) -> tuple[Path, Path]:
    import numpy as np

    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv

    folder.mkdir(parents=True, exist_ok=True)
    r = beat_times(seconds, 62.0)
    t, mv = synthesize_ecg(r, duration_s=seconds, fs_hz=1000.0)
    trace = folder / "ecg.csv"
    write_ecg_csv(trace, t, mv, fs_hz=1000.0)
    exposures = folder / "exposures.csv"
    rr = np.diff(r)
    lines = ["start_s,duration_s"]
    for k in range(2, len(r) - 1, 3):  # every third beat, at 70 % of its RR, 250 ms windows
        lines.append(f"{r[k] + 0.70 * rr[k] - 0.125:.4f},0.25")
    exposures.write_text("\n".join(lines) + "\n")
    return trace, exposures


def _exam_folder(folder: Path, n_files: int) -> Path:
    """A calcium-score exam (``qa synth exam``) plus a thin reconstruction of it, ``n_files`` files in all."""
    import pydicom
    from pydicom.uid import generate_uid

    from qa.exam_synth.options import ExamSynthOptions
    from qa.workflows.synth import synthesize_exam

    synthesize_exam(folder, ExamSynthOptions())
    cac = sorted(folder.glob("**/*.dcm"))
    template = pydicom.dcmread(cac[len(cac) // 2])
    thin = folder / "thin"
    thin.mkdir()
    series_uid = generate_uid(entropy_srcs=["bench-thin", str(n_files)])
    z0 = float(template.ImagePositionPatient[2])
    template.SeriesInstanceUID = series_uid
    template.SeriesNumber = 4
    template.SeriesDescription = "CaScore 0.5 mm"
    template.SliceThickness = 0.5
    for k in range(max(0, n_files - len(cac))):
        template.SOPInstanceUID = generate_uid(entropy_srcs=["bench-thin", str(n_files), str(k)])
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = k + 1
        template.ImagePositionPatient = [template.ImagePositionPatient[0], template.ImagePositionPatient[1], z0 - 0.5 * k]
        template.SliceLocation = z0 - 0.5 * k
        template.save_as(thin / f"IM{k:05d}.dcm")
    return folder


def _make(kind: str, folder: Path, n: int = 0) -> Path:
    """Write an input in a child process (see the module docstring: this process stays small)."""
    subprocess.run([PYTHON, str(Path(__file__).resolve()), "--make", kind, str(folder), str(n)], check=True, cwd=ROOT)
    return folder


def _slope(xs, ys) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def _print_table(rows: list[dict]) -> None:
    print()
    print(f"{'command (fresh process)':44} {'qa s':>7} {'bare s':>7} {'ratio':>6} {'target':>7}  "
          f"{'qa MiB':>7} {'bare MiB':>8} {'mem x':>6} {'rounds':>6}")
    for r in rows:
        target = f"<= {r['target']:.1f}" if r.get("target") else ""
        verdict = "" if not r.get("target") else (" ok" if r["ratio"] <= r["target"] else " MISSED")
        print(f"{r['label']:44} {r['ours_s']:7.2f} {r['bare_s']:7.2f} {r['ratio']:6.2f} {target:>7}{verdict:7}"
              f"{r['ours_mib']:7.0f} {r['bare_mib']:8.0f} {r['ours_mib'] / r['bare_mib']:6.2f} {r['rounds']:6d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scaling", default="60,120,240,480", help="slice counts for the scaling table ('' to skip)")
    parser.add_argument("--check-files", type=int, default=1000)
    parser.add_argument("--memory-files", type=int, default=10000, help="files for qa check's memory (0 to skip)")
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS,
                        help="each comparison runs more rounds until this long (at most 41 rounds; default 10)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, no minimum time, scaling 60,120, no 10,000-file memory run")
    parser.add_argument("--cold", action="store_true",
                        help="every run validates its definition files again (QA_DEFINITION_CACHE=off; default: the cache of "
                             "validated definitions, in a folder of this run, is filled by the first round as by a user's first run)")
    parser.add_argument("--make", nargs=3, metavar=("KIND", "FOLDER", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:  # a child writing one input: phantom (N slices), ecg, exam (N files)
        kind, folder, n = args.make[0], Path(args.make[1]), int(args.make[2])
        {"phantom": lambda: _phantom_series(folder, n), "ecg": lambda: _ecg_trace(folder),
         "exam": lambda: _exam_folder(folder, n)}[kind]()
        return 0
    if args.quick:
        args.repeats, args.scaling, args.memory_files, args.min_seconds = 3, "60,120", 0, 0.0

    print(f"{os.cpu_count()} CPU cores; python {sys.version.split()[0]}; median of alternate rounds (at least {args.repeats}, "
          f"and as many as fit in {args.min_seconds:.0f} s)")
    # Every qa module's .pyc written first: with PYTHONDONTWRITEBYTECODE=1 (or a read-only tree) each run
    # would otherwise compile the modules changed since the last write (0.2-0.3 s after a merge).
    import compileall

    compileall.compile_dir(str(ROOT / "qa"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("QA_SECRET_FILE", str(tmp / "secret"))
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # the cache of validated definitions: this run's own
        if args.cold:
            os.environ["QA_DEFINITION_CACHE"] = "off"
        print("definition files: " + ("validated by every run (--cold)" if args.cold else
                                      "validated once, then read from the cache of validated definitions (qa.procedures.cache)"))
        bare_pixels = [PYTHON, "-c", BARE_PIXELS]
        bare_headers = [PYTHON, "-c", BARE_HEADERS]
        series = _make("phantom", tmp / "s60", 60)
        db = f"sqlite:///{tmp / 'store.sqlite'}"
        rows = [
            compare("qa score (60 x 512 x 512)", QA + ["score", str(series)], bare_pixels + [str(series)], args.repeats, 1.4,
                    args.min_seconds),
            compare("qa phantom --no-store", QA + ["phantom", str(series), "--no-store"], bare_pixels + [str(series)],
                    args.repeats, 1.5, args.min_seconds),
            compare("qa phantom (stored, existing SQLite)", QA + ["phantom", str(series), "--db", db],
                    bare_pixels + [str(series)], args.repeats, 1.8, args.min_seconds),
        ]
        _make("ecg", tmp / "ecg")
        trace, exposures = tmp / "ecg" / "ecg.csv", tmp / "ecg" / "exposures.csv"
        rows.append(compare("qa gating (60-s CSV at 1 kHz)", QA + ["gating", "--ecg", str(trace), "--exposures", str(exposures)],
                            [PYTHON, "-c", BARE_CSV, str(trace)], args.repeats, 1.5, args.min_seconds))
        exam = _make("exam", tmp / "exam", args.check_files)
        n_exam = sum(1 for _ in exam.glob("**/*.dcm"))
        rows.append(compare(f"qa check ({n_exam}-file exam)", QA + ["check", str(exam)], bare_headers + [str(exam)],
                            args.repeats, 1.2, args.min_seconds))
        _print_table(rows)

        memory_rows = []
        sizes = [int(s) for s in args.scaling.split(",") if s.strip()]
        if sizes:
            print("\nscaling of qa phantom --no-store (one process each; median of the repeats):")
            print(f"{'slices':>6} {'qa s':>7} {'bare s':>7} {'qa MiB':>7} {'kept MiB':>8} {'mem x':>6}  "
                  "(kept: a bare read keeping every pixel array)")
            times, mems, bare_mems = [], [], []
            for n in sizes:
                folder = series if n == 60 else _make("phantom", tmp / f"s{n}", n)
                r = compare(f"{n}", QA + ["phantom", str(folder), "--no-store"], bare_pixels + [str(folder)],
                            max(1, args.repeats // 2 + 1), min_seconds=0.0)
                kept_mib = max(run_once([PYTHON, "-c", BARE_PIXELS_KEPT, str(folder)], ok=(0,))[1] for _ in range(2))
                times.append(r["ours_s"])
                mems.append(r["ours_mib"])
                bare_mems.append(kept_mib)
                print(f"{n:6d} {r['ours_s']:7.2f} {r['bare_s']:7.2f} {r['ours_mib']:7.0f} {kept_mib:8.0f} "
                      f"{r['ours_mib'] / kept_mib:6.2f}")
                if n == max(sizes):
                    memory_rows.append((f"qa phantom, {n} slices", r["ours_mib"], kept_mib))
            if len(sizes) > 1:
                per_slice = (mems[-1] - mems[0]) / (sizes[-1] - sizes[0])
                bare_per_slice = (bare_mems[-1] - bare_mems[0]) / (sizes[-1] - sizes[0])
                print(f"growth exponent: time {_slope(sizes, times):.2f}, memory {_slope(sizes, mems):.2f} "
                      f"(1.00 = linear); memory {per_slice:.2f} MiB per slice against {bare_per_slice:.2f} for bare pydicom "
                      "keeping the arrays")
        if args.memory_files:
            big = _make("exam", tmp / "exam10k", args.memory_files)
            _, ours_mib = run_once(QA + ["check", str(big)])
            _, bare_mib = run_once(bare_headers + [str(big)], ok=(0,))
            memory_rows.append((f"qa check, {args.memory_files} files", ours_mib, bare_mib))
        if memory_rows:
            print("\npeak memory against the bare read (target <= 1.3x):")
            for label, ours_mib, bare_mib in memory_rows:
                ratio = ours_mib / bare_mib
                print(f"  {label:28} {ours_mib:7.0f} MiB vs {bare_mib:7.0f} MiB: {ratio:.2f}x {'ok' if ratio <= 1.3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
