"""Beat-by-beat scoring of a QRS detector against reference annotations (ANSI/AAMI EC57).

The rule (ANSI/AAMI EC57:2012, section 4.2, as implemented by PhysioNet's ``bxb``): a detection
matches a reference *beat* annotation when the two lie within 150 ms of each other; each reference
beat and each detection is used at most once (one-to-one).  Non-beat annotations (rhythm changes,
noise markers, artefacts) are not reference beats: filter them out first with
:func:`reference_beats`.  The standard lets a detector "learn" for the first 5 minutes of a record;
``skip_s=300`` leaves that period out of the counts.

    >>> score = score_detections(detected_s, reference_s, skip_s=300.0)
    >>> score.sensitivity, score.positive_predictivity, score.median_error_ms

Pure functions over arrays of times in seconds; no file is opened here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from qa.numeric import median, percentile
from qa.records.serialize import Record

# Matching window between a detection and a reference beat: ANSI/AAMI EC57:2012 section 4.2 (150 ms).
AAMI_TOLERANCE_S = 0.150
# Learning period left out of the statistics: ANSI/AAMI EC57:2012 section 4.2 (first 5 minutes).
AAMI_LEARNING_PERIOD_S = 300.0
# Beat annotation codes (everything else is a non-beat annotation): WFDB ``ecgcodes.h`` / PhysioNet
# "MIT-BIH annotation codes" (isqrs() in the WFDB library).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
# AAMI EC57:2012 beat classes (table 1): ventricular ectopic (VEB) V, E; normal and supraventricular
# (their VEB false positives count); fusion F and unclassifiable Q (/, f, Q, ?) are not counted against
# a VEB call (as PhysioNet's bxb: VFP = Nv + Sv + Ov + Xv).
AAMI_VEB = frozenset("VE")
AAMI_NOT_VEB_COUNTED = frozenset("NLReBjnAaJS")


@dataclass(frozen=True)
class Score(Record):
    """Counts and rates of one detector on one record (AAMI EC57 beat-by-beat comparison).

    ``median_error_ms`` is the median signed error (detection minus reference) of the matched
    pairs: a constant fiducial offset shows here.  ``recall_by_symbol`` maps each reference beat
    symbol (when symbols were given) to the fraction of those beats that were detected.
    """

    tp: int
    fn: int
    fp: int
    sensitivity: float
    positive_predictivity: float
    median_error_ms: float
    median_abs_error_ms: float
    p95_abs_error_ms: float
    tolerance_s: float
    skip_s: float
    n_reference: int
    n_detected: int
    recall_by_symbol: dict = field(default_factory=dict)
    count_by_symbol: dict = field(default_factory=dict)



@dataclass(frozen=True)
class VebScore(Record):
    """AAMI EC57 ventricular-ectopic-beat statistics of a beat classifier on one record.

    ``tp``: reference V/E beats detected and called ventricular; ``fn``: reference V/E beats missed or
    called otherwise; ``fp``: beats called ventricular that are a reference normal or supraventricular
    beat, or no reference beat at all (fusion and unclassifiable beats called ventricular are not
    counted either way); ``tn``: reference N/S/F/Q beats detected and not called ventricular.
    ``n_called``: detections called ventricular; ``normal_called_ventricular``: reference N-class beats
    (N, L, R, e, j) called ventricular, and ``n_normal`` of them detected.
    """

    tp: int
    fn: int
    fp: int
    tn: int
    sensitivity: float
    positive_predictivity: float
    false_positive_rate: float
    n_reference: int
    n_called: int
    normal_called_ventricular: int
    n_normal: int
    skip_s: float = 0.0

    def describe(self) -> str:
        pct = (lambda v: "-" if v != v else f"{100 * v:.2f} %")  # noqa: E731 - NaN shows as "-"
        return (f"VEB Se {pct(self.sensitivity)} ({self.tp}/{self.tp + self.fn}), +P {pct(self.positive_predictivity)} "
                f"({self.tp}/{self.tp + self.fp}), normal beats called ventricular {self.normal_called_ventricular}/{self.n_normal}")


def reference_beats(sample: np.ndarray, symbol, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and symbols of the beat annotations among WFDB annotations (non-beats dropped)."""
    sample = np.asarray(sample)
    symbol = np.asarray(list(symbol), dtype=object)
    if sample.shape != symbol.shape:
        raise ValueError(f"{sample.size} annotation samples but {symbol.size} symbols")
    keep = np.fromiter((s in BEAT_SYMBOLS for s in symbol), dtype=bool, count=symbol.size)
    return sample[keep].astype(float) / float(fs_hz), symbol[keep].astype(str)


def match_beats(detected_s: np.ndarray, reference_s: np.ndarray, *, tolerance_s: float = AAMI_TOLERANCE_S
                ) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs (reference index, detection index) within ``tolerance_s``.

    The matching has the largest possible number of pairs and, among those, the smallest total
    timing error.  Both inputs must be sorted.  Items are grouped into chains whose neighbours lie
    within the tolerance; a chain of one reference and one detection is paired directly, a longer
    chain (a false detection next to a true one) is solved exactly as a small assignment problem.
    """
    det = np.asarray(detected_s, dtype=float)
    ref = np.asarray(reference_s, dtype=float)
    for name, arr in (("detected_s", det), ("reference_s", ref)):
        if arr.ndim != 1 or (arr.size > 1 and np.any(np.diff(arr) < 0)):
            raise ValueError(f"{name} must be a sorted 1-D array of times")
    if det.size == 0 or ref.size == 0:
        return np.empty(0, dtype=int), np.empty(0, dtype=int)
    times = np.concatenate([ref, det])
    is_det = np.concatenate([np.zeros(ref.size, bool), np.ones(det.size, bool)])
    index = np.concatenate([np.arange(ref.size), np.arange(det.size)])
    order = np.argsort(times, kind="stable")
    times, is_det, index = times[order], is_det[order], index[order]
    chain = np.concatenate([[0], np.cumsum(np.diff(times) > tolerance_s)])
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], chain])))
    ends = np.append(starts[1:], chain.size)
    sizes = ends - starts
    ref_out, det_out = [], []
    # The common case: a chain of exactly one reference beat and one detection.
    two = sizes == 2
    a, b = starts[two], starts[two] + 1
    pair = is_det[a] != is_det[b]
    a, b = a[pair], b[pair]
    r_idx = np.where(is_det[a], index[b], index[a])
    d_idx = np.where(is_det[a], index[a], index[b])
    ref_out.append(r_idx)
    det_out.append(d_idx)
    big_cost = 1.0e6  # any matched pair beats every unmatched one (max cardinality first)
    for s, e in zip(starts[sizes > 2], ends[sizes > 2]):
        sl = slice(s, e)
        r = index[sl][~is_det[sl]]
        d = index[sl][is_det[sl]]
        if r.size == 0 or d.size == 0:
            continue
        err = np.abs(ref[r][:, None] - det[d][None, :])
        ok = err <= tolerance_s
        cost = np.where(ok, err - big_cost, 0.0)
        ri, di = linear_sum_assignment(cost)
        good = ok[ri, di]
        ref_out.append(r[ri[good]])
        det_out.append(d[di[good]])
    ref_idx = np.concatenate(ref_out).astype(int)
    det_idx = np.concatenate(det_out).astype(int)
    order = np.argsort(ref_idx)
    return ref_idx[order], det_idx[order]


def score_detections(detected_s: np.ndarray, reference_s: np.ndarray, *, tolerance_s: float = AAMI_TOLERANCE_S,
                     skip_s: float = 0.0, reference_symbols=None) -> Score:
    """Sensitivity, positive predictivity and timing error of detections against reference beats.

    ``detected_s`` and ``reference_s`` are beat times in seconds on the same time base (the
    reference holds beat annotations only).  Matching is done over the whole record; then
    reference beats and detections earlier than ``skip_s`` (the learning period) are left out of
    the counts.  ``reference_symbols`` (one per reference beat) adds per-symbol recall, for example
    how many of the ventricular ectopic beats (``"V"``) were found.
    """
    det = np.sort(np.asarray(detected_s, dtype=float))
    ref_order = np.argsort(np.asarray(reference_s, dtype=float), kind="stable")
    ref = np.asarray(reference_s, dtype=float)[ref_order]
    ref_idx, det_idx = match_beats(det, ref, tolerance_s=tolerance_s)
    ref_scored = ref >= skip_s
    det_scored = det >= skip_s
    ref_matched = np.zeros(ref.size, bool)
    ref_matched[ref_idx] = True
    det_matched = np.zeros(det.size, bool)
    det_matched[det_idx] = True
    keep = ref_scored[ref_idx]
    tp = int(keep.sum())
    fn = int(np.sum(ref_scored & ~ref_matched))
    fp = int(np.sum(det_scored & ~det_matched))
    err_ms = (det[det_idx[keep]] - ref[ref_idx[keep]]) * 1000.0
    recall, count = {}, {}
    if reference_symbols is not None:
        sym = np.asarray(list(reference_symbols), dtype=str)
        if sym.size != ref.size:
            raise ValueError(f"{sym.size} reference symbols for {ref.size} reference beats")
        sym = sym[ref_order]
        for s in sorted(set(sym[ref_scored].tolist())):
            m = ref_scored & (sym == s)
            count[s] = int(m.sum())
            recall[s] = float(ref_matched[m].mean())
    nan = float("nan")
    return Score(
        tp=tp, fn=fn, fp=fp,
        sensitivity=tp / (tp + fn) if tp + fn else nan,
        positive_predictivity=tp / (tp + fp) if tp + fp else nan,
        median_error_ms=float(median(err_ms)) if err_ms.size else nan,
        median_abs_error_ms=float(median(np.abs(err_ms))) if err_ms.size else nan,
        p95_abs_error_ms=float(percentile(np.abs(err_ms), 95)) if err_ms.size else nan,
        tolerance_s=float(tolerance_s), skip_s=float(skip_s),
        n_reference=int(ref_scored.sum()), n_detected=int(det_scored.sum()),
        recall_by_symbol=recall, count_by_symbol=count,
    )


def score_veb(detected_s: np.ndarray, ventricular, reference_s: np.ndarray, reference_symbols, *,
              tolerance_s: float = AAMI_TOLERANCE_S, skip_s: float = 0.0) -> VebScore:
    """AAMI EC57 VEB sensitivity and positive predictivity of per-detection ventricular calls.

    ``detected_s``: sorted detection times (s); ``ventricular``: one bool per detection (called a
    ventricular ectopic beat); ``reference_s`` / ``reference_symbols``: the reference beats (beat
    annotations only, :func:`reference_beats`).  Detections are matched to reference beats with the
    EC57 rule (:func:`match_beats`); beats before ``skip_s`` are left out of the counts.
    """
    det = np.asarray(detected_s, dtype=float)
    called = np.asarray(ventricular, dtype=bool)
    if called.shape != det.shape:
        raise ValueError(f"{called.size} ventricular calls for {det.size} detections")
    order = np.argsort(np.asarray(reference_s, dtype=float), kind="stable")
    ref = np.asarray(reference_s, dtype=float)[order]
    sym = np.asarray(list(reference_symbols), dtype=str)
    if sym.size != ref.size:
        raise ValueError(f"{sym.size} reference symbols for {ref.size} reference beats")
    sym = sym[order]
    ref_idx, det_idx = match_beats(det, ref, tolerance_s=tolerance_s)
    match_of_ref = np.full(ref.size, -1)
    match_of_ref[ref_idx] = det_idx
    matched_det = np.zeros(det.size, bool)
    matched_det[det_idx] = True
    is_v = np.isin(sym, list(AAMI_VEB))
    counted = np.isin(sym, list(AAMI_NOT_VEB_COUNTED))
    normal = np.isin(sym, list("NLRej"))
    ref_in = ref >= skip_s
    det_in = det >= skip_s
    hit = match_of_ref >= 0
    ref_called = np.zeros(ref.size, bool)
    ref_called[hit] = called[match_of_ref[hit]]
    tp = int(np.sum(ref_in & is_v & ref_called))
    fn = int(np.sum(ref_in & is_v & ~ref_called))
    fp = int(np.sum(ref_in & counted & ref_called)) + int(np.sum(det_in & ~matched_det & called))
    tn = int(np.sum(ref_in & ~is_v & hit & ~ref_called))
    nan = float("nan")
    return VebScore(
        tp=tp, fn=fn, fp=fp, tn=tn,
        sensitivity=tp / (tp + fn) if tp + fn else nan,
        positive_predictivity=tp / (tp + fp) if tp + fp else nan,
        false_positive_rate=fp / (tn + fp) if tn + fp else nan,
        n_reference=int(np.sum(ref_in & is_v)), n_called=int(np.sum(det_in & called)),
        normal_called_ventricular=int(np.sum(ref_in & normal & ref_called)), n_normal=int(np.sum(ref_in & normal & hit)),
        skip_s=float(skip_s),
    )
