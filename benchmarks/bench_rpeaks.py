"""R-peak detection: qa.ecg.rpeaks against NeuroKit2's default ``ecg_peaks``, accuracy and speed.

Both detectors run on the same signal (the first channel of MIT-BIH records 100 and 208 and
SVDB record 800 from ../shared/data/ecg) and are scored with the same AAMI EC57 beat-by-beat rule
(150 ms match window, non-beat annotations ignored), over the whole record and without the
standard's 5-minute learning period.  A second table scores short 8-s excerpts (gating traces are
short): every beat counts, from the first second on.  Times are the best of ``--repeat`` runs,
and the ratio is NeuroKit2's time over ours (above 1: we are faster).

    python benchmarks/bench_rpeaks.py [--repeat 3] [--excerpts 100]

NeuroKit2 is a benchmark-only dependency (``pip install -e .[bench]``); wfdb reads the records.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ecg"
RECORDS = ("100", "208", "800")


def best_time(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def load_record(name: str):
    """First lead (mV), sampling rate, reference beat times (s) and symbols of a record."""
    import wfdb

    from qa.ecg.evaluation import reference_beats

    sig = wfdb.rdrecord(str(DATA / name))
    ann = wfdb.rdann(str(DATA / name), "atr")
    fs = float(sig.fs)
    ref, sym = reference_beats(ann.sample, ann.symbol, fs)
    return np.ascontiguousarray(sig.p_signal[:, 0]), fs, ref, sym


def neurokit_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.ecg_peaks(x, sampling_rate=int(round(fs)))
    return np.asarray(info["ECG_R_Peaks"], dtype=int)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per detector and record; the best time counts")
    ap.add_argument("--excerpts", type=int, default=100, help="random 8-s excerpts per record for the short-trace table")
    args = ap.parse_args(argv)
    try:
        import neurokit2  # noqa: F401
        import wfdb  # noqa: F401
    except ImportError as exc:
        print(f"needs the benchmark extras: pip install -e '.[bench]' ({exc})", file=sys.stderr)
        return 2
    if not DATA.is_dir():
        print(f"the MIT-BIH records are not at {DATA}", file=sys.stderr)
        return 2
    from qa.ecg.evaluation import match_beats, score_detections
    from qa.ecg.rpeaks import detect_r_peaks

    detectors = {"qa": detect_r_peaks, "neurokit2": neurokit_peaks}
    print("Whole records (AAMI EC57: 150 ms window; 'all' = every beat, 'after 5 min' = without the learning period)")
    head = f"{'record':<7}{'detector':<11}{'period':<13}{'TP':>6}{'FN':>5}{'FP':>5}{'Se %':>9}{'+P %':>9}" \
           f"{'V found':>12}{'median err ms':>15}{'time s':>9}{'ratio':>7}"
    print(head)
    print("-" * len(head))
    for rec in RECORDS:
        x, fs, ref, sym = load_record(rec)
        times = {}
        results = {}
        for name, fn in detectors.items():
            times[name], idx = best_time(lambda fn=fn: fn(x, fs), args.repeat)
            results[name] = idx / fs
        for name in detectors:
            for skip, label in ((0.0, "all"), (300.0, "after 5 min")):
                s = score_detections(results[name], ref, skip_s=skip, reference_symbols=sym)
                v = f"{round(s.recall_by_symbol['V'] * s.count_by_symbol['V'])}/{s.count_by_symbol['V']}" if "V" in s.count_by_symbol else "-"
                ratio = f"{times['neurokit2'] / times['qa']:.1f}" if name == "qa" and skip == 0.0 else ""
                t = f"{times[name]:.3f}" if skip == 0.0 else ""
                print(f"{rec:<7}{name:<11}{label:<13}{s.tp:>6}{s.fn:>5}{s.fp:>5}{100 * s.sensitivity:>9.2f}"
                      f"{100 * s.positive_predictivity:>9.2f}{v:>12}{s.median_error_ms:>15.2f}{t:>9}{ratio:>7}")
    print()
    print(f"Short traces: {args.excerpts} random 8-s excerpts per record, every reference beat counts (from the first second on)")
    head = f"{'record':<7}{'detector':<11}{'beats':>7}{'missed':>8}{'false':>7}{'missed in 1st s':>17}{'Se %':>9}{'+P %':>9}"
    print(head)
    print("-" * len(head))
    for rec in RECORDS:
        x, fs, ref, _ = load_record(rec)
        rng = np.random.default_rng(int(rec))
        starts = rng.uniform(0.0, x.size / fs - 9.0, args.excerpts)
        for name, fn in detectors.items():
            n = missed = false = first = 0
            for st in starts:
                a, b = int(st * fs), int((st + 8.0) * fs)
                r = ref[(ref >= a / fs) & (ref < b / fs)] - a / fs
                try:
                    d = np.sort(np.asarray(fn(x[a:b], fs))) / fs
                except Exception:  # noqa: BLE001 - a detector that gives up on an excerpt misses its beats
                    d = np.empty(0)
                ri, di = match_beats(d, r)
                unmatched = np.setdiff1d(np.arange(r.size), ri)
                n += r.size
                missed += unmatched.size
                false += d.size - di.size
                first += int(np.sum(r[unmatched] < 1.0))
            se = 100.0 * (n - missed) / n
            pp = 100.0 * (n - missed) / max(1, n - missed + false)
            print(f"{rec:<7}{name:<11}{n:>7}{missed:>8}{false:>7}{first:>17}{se:>9.2f}{pp:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
