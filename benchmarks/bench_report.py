"""What the HTML report adds to a `qa phantom` run, and `qa trend --plot` of 100 runs against one `qa phantom` run.

    .venv/bin/python benchmarks/bench_report.py [--repeats 5] [--runs 100] [--real PATH]

A synthetic phantom series is written once (`qa synth phantom` defaults: 512 x 512, 3 mm slices
over 110 mm, 37 slices; ``--real`` uses a real series instead), and a SQLite store is filled with
``--runs`` runs of its scanner (its analysis stored under other series UIDs, acquired a day apart,
with day-to-day spread and a late drift; a baseline set from the first 20).  Then, as whole
processes (`python -m qa`, what a user runs), alternately in the same run:

* report: `qa phantom SERIES --no-store --db URL` without and with `--report FILE.html` (the
  report holds the located phantom and the control charts of the stored runs);
* trend: `qa trend --scanner ID --plot FILE.png --db URL` and `qa phantom SERIES --no-store --db URL`.

Printed: the median wall time of each, the median of the per-round ratios (the targets: the report
adds at most 30 %, ratio <= 1.30; the trend with its plot takes less than the phantom run, < 1),
and the same for the processes' CPU time (user + system), which a machine busy with other work
disturbs less than the wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _qa(*args: str) -> tuple[float, float]:
    """Run ``python -m qa ARGS`` as a user would: its wall time and its CPU time (user + system), in
    seconds (it must not exit 2 or 3).  The CPU time is what a busy machine disturbs least."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "qa", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"qa {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def fill_store(series: Path, url: str, n_runs: int, seed: int = 1) -> str:
    """Store ``n_runs`` runs of the series' scanner: its real analysis, with the metrics of each run
    spread around it (and drifting over the last tenth); a baseline set from the first 20.  Returns the scanner id."""
    from qa.records.provenance import Provenance
    from qa.store import Store
    from qa.workflows.baselines import set_baseline
    from qa.workflows.phantom import run_phantom_qa

    result = run_phantom_qa([series], db=url, store=False).result
    rng = random.Random(seed)
    start = dt.datetime(2025, 1, 6, 7, 30)
    store = Store(url)
    try:
        def save(i: int) -> None:
            drift = 1.0 + (0.01 * (i - 0.9 * n_runs) if i > 0.9 * n_runs else 0.0)
            metrics = {k: (None if v is None else v * drift * (1 + rng.gauss(0, 0.01))) for k, v in result.metrics.items()}
            when = start + dt.timedelta(days=i)
            variant = dataclasses.replace(
                result, metrics=metrics,
                series=dataclasses.replace(result.series, series_instance_uid=f"1.2.826.0.1.3680043.10.1234.{i + 1}"),
                acquisition=dataclasses.replace(result.acquisition, acquisition_datetime=when.isoformat()))
            store.save_phantom_run(variant, Provenance("bench", when.astimezone() + dt.timedelta(minutes=5), ()))

        first = min(20, n_runs)
        for i in range(first):
            save(i)
        scanner = str(store.find_scanner_id(result.scanner))
    finally:
        store.close()
    set_baseline(scanner=scanner, from_last=first, reason="benchmark", include_failed=True, db=url)
    store = Store(url)
    try:
        for i in range(first, n_runs):
            save(i)
    finally:
        store.close()
    return scanner


def _rounds(label: str, a_label: str, a, b_label: str, b, repeats: int) -> float:
    a(), b()  # warm the OS cache and the byte-code
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(a())
        times_b.append(b())
    ratio = statistics.median(x[0] / y[0] for x, y in zip(times_b, times_a))
    cpu_ratio = statistics.median(x[1] / y[1] for x, y in zip(times_b, times_a))
    print(f"{label}: {a_label} {statistics.median(t[0] for t in times_a):.2f} s, {b_label} "
          f"{statistics.median(t[0] for t in times_b):.2f} s; ratio {ratio:.2f} (median of {repeats} alternating rounds); "
          f"CPU time {statistics.median(t[1] for t in times_a):.2f} s and {statistics.median(t[1] for t in times_b):.2f} s, "
          f"ratio {cpu_ratio:.2f}")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100, help="stored runs to chart (default 100)")
    parser.add_argument("--real", help="a real phantom series (folder) instead of the synthetic one")
    args = parser.parse_args()

    from qa.workflows.synth import synthesize_phantom

    print(f"{os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if args.real:
            series = Path(args.real)
        else:
            series = tmp_path / "series"
            synthesize_phantom(series)
        url = f"sqlite:///{tmp_path / 'bench.sqlite'}"
        scanner = fill_store(series, url, args.runs)
        phantom = ("phantom", str(series), "--no-store", "--db", url)
        report = _rounds("report", "qa phantom", lambda: _qa(*phantom), "with --report",
                         lambda: _qa(*phantom, "--report", str(tmp_path / "report.html")), args.repeats)
        print(f"  the report adds {100 * (report - 1):.0f} % to the run (target <= 30 %)")
        trend = _rounds(f"trend of {args.runs} runs", "qa phantom", lambda: _qa(*phantom), "qa trend --plot",
                        lambda: _qa("trend", "--scanner", scanner, "--db", url, "--plot", str(tmp_path / "trend.png")), args.repeats)
        print(f"  qa trend --plot takes {trend:.2f} x a qa phantom run (target < 1)")
    return 0 if report <= 1.30 and trend < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
