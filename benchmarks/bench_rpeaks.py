"""R-peak detection and ventricular-beat classification: qa.ecg against NeuroKit2, accuracy and speed.

Every detector runs on the first channel of each record in ../shared/data/ecg (MIT-BIH 100, 105,
118, 208, SVDB 800 and the noise-stress record 118e12) and is scored with the same AAMI EC57
beat-by-beat rule (150 ms match window, non-beat annotations ignored), over the whole record and
without the standard's 5-minute learning period (``--learning`` adds the rows after it).
NeuroKit2 is called two ways: its documented default pipeline (``ecg_clean`` then ``ecg_peaks``,
"nk2 clean") and ``ecg_peaks`` on the raw signal ("nk2 raw").  F1 is 2 TP / (2 TP + FN + FP).
VEB Se / +P: AAMI EC57 ventricular-ectopic-beat statistics of our beat classes
(:func:`qa.ecg.evaluation.score_veb`; beats in stretches too noisy to judge are "unknown", as in the
gating analysis); NeuroKit2 does not classify beats.  Times are the best of ``--repeat`` runs (ours:
detection, plus signal quality and classification in the "classify s" column).  A second table
scores short 8-s excerpts (gating traces are short): every beat counts, from the first second on.

    python benchmarks/bench_rpeaks.py [--repeat 3] [--excerpts 100] [--records 100,105] [--learning]

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
RECORDS = ("100", "105", "118", "208", "800", "118e12")


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


def neurokit_clean_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """NeuroKit2's documented default: ``ecg_clean`` then ``ecg_peaks`` (method "neurokit" for both)."""
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = nk.ecg_clean(x, sampling_rate=int(round(fs)))
        _, info = nk.ecg_peaks(clean, sampling_rate=int(round(fs)))
    return np.asarray(info["ECG_R_Peaks"], dtype=int)


def neurokit_raw_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.ecg_peaks(x, sampling_rate=int(round(fs)))
    return np.asarray(info["ECG_R_Peaks"], dtype=int)


def _classifier():
    """Our beat classifier, or None on a version without one."""
    try:
        from qa.ecg.morphology import classify_beats
        from qa.ecg.quality import assess_quality
    except ImportError:
        return None

    def classify(x, fs, idx):  # as the gating analysis does: beats in stretches too noisy to judge are "unknown"
        quality = assess_quality(x, fs, idx)
        return classify_beats(x, fs, idx, judgeable=quality.good_at(idx / fs))
    return classify


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per detector and record; the best time counts")
    ap.add_argument("--excerpts", type=int, default=100, help="random 8-s excerpts per record for the short-trace table (0: none)")
    ap.add_argument("--records", default=",".join(RECORDS), help="comma-separated record names")
    ap.add_argument("--learning", action="store_true", help="also print the counts after the 5-minute learning period")
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
    from qa.ecg.evaluation import match_beats, score_detections, score_veb
    from qa.ecg.rpeaks import detect_r_peaks

    records = [r for r in args.records.split(",") if r]
    classify = _classifier()
    detectors = {"qa": detect_r_peaks, "nk2 clean": neurokit_clean_peaks, "nk2 raw": neurokit_raw_peaks}
    print("Whole records (AAMI EC57: 150 ms window, every beat from the first second; no learning period)")
    head = (f"{'record':<8}{'detector':<11}{'period':<7}{'TP':>6}{'FN':>5}{'FP':>5}{'Se %':>8}{'+P %':>8}{'F1 %':>8}"
            f"{'VEB Se':>8}{'VEB +P':>8}{'err ms':>8}{'detect s':>10}{'classify s':>11}")
    print(head)
    print("-" * len(head))
    for rec in records:
        x, fs, ref, sym = load_record(rec)
        times, results = {}, {}
        for name, fn in detectors.items():
            times[name], idx = best_time(lambda fn=fn: fn(x, fs), args.repeat)
            results[name] = np.sort(idx)
        veb, t_class = None, None
        if classify is not None:
            t_class, classes = best_time(lambda: classify(x, fs, results["qa"]), args.repeat)
            veb = score_veb(results["qa"] / fs, classes.ventricular, ref, sym)
        for name in detectors:
            for skip, label in ((0.0, "all"), (300.0, ">5min")) if args.learning else ((0.0, "all"),):
                s = score_detections(results[name] / fs, ref, skip_s=skip, reference_symbols=sym)
                f1 = 2 * s.tp / max(1, 2 * s.tp + s.fn + s.fp)
                v_se = v_pp = "-"
                if name == "qa" and veb is not None and skip == 0.0:
                    v_se = f"{100 * veb.sensitivity:.2f}" if veb.n_reference else "-"
                    v_pp = f"{100 * veb.positive_predictivity:.2f}" if veb.n_called else "-"
                t = f"{times[name]:.3f}" if skip == 0.0 else ""
                tc = f"{t_class:.3f}" if name == "qa" and t_class is not None and skip == 0.0 else ""
                print(f"{rec:<8}{name:<11}{label:<7}{s.tp:>6}{s.fn:>5}{s.fp:>5}{100 * s.sensitivity:>8.2f}"
                      f"{100 * s.positive_predictivity:>8.2f}{100 * f1:>8.2f}{v_se:>8}{v_pp:>8}{s.median_error_ms:>8.2f}{t:>10}{tc:>11}")
        if veb is not None and veb.n_reference:
            print(f"{'':<8}qa VEB: {veb.describe()}")
    if args.excerpts <= 0:
        return 0
    print()
    print(f"Short traces: {args.excerpts} random 8-s excerpts per record, every reference beat counts (from the first second on)")
    head = f"{'record':<8}{'detector':<11}{'beats':>7}{'missed':>8}{'false':>7}{'missed in 1st s':>17}{'Se %':>9}{'+P %':>9}"
    print(head)
    print("-" * len(head))
    for rec in records:
        x, fs, ref, _ = load_record(rec)
        rng = np.random.default_rng(int("".join(c for c in rec if c.isdigit())))
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
            print(f"{rec:<8}{name:<11}{n:>7}{missed:>8}{false:>7}{first:>17}{se:>9.2f}{pp:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
