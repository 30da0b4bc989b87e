"""Beat classes by shape: normal, ventricular ectopic or unknown, from QRS width and template correlation.

    >>> classes = classify_beats(ecg_mv, fs_hz, r_peak_index)
    >>> classes.labels[k], classes.ventricular[k], classes.qrs_width_ms[k], classes.correlation[k]

RR timing alone misses late-coupled ventricular beats (most PVCs of MIT-BIH 208 come after more
than 80 % of the cycle); their shape does not.  For one lead:

1. **Dominant template.**  The complexes (band-pass 1-30 Hz, 100 ms before to 150 ms after the R-peak)
   are compared with their median; those correlating best (at least 0.8) give the dominant beat's
   template, its median again: the patient's usual (supraventricular) complex, whatever its width
   (a bundle branch block is the dominant beat, not an ectopic one).
2. **Features per beat.**  The correlation with the template (the best over +-20 ms shifts), the QRS
   width (where the slope of the complex exceeds 20 % of its maximum, first to last) and the
   amplitude against the template.
3. **Class.**  *Normal*: correlation at least 0.90.  *Ventricular*: correlation under 0.80 with a QRS
   wider than the template by at least 20 ms or 25 %, or under 0.50 with an amplitude at least 1.5 times
   the template's (a broad, tall complex of another axis: the AAMI VEB picture).  Everything else is
   *unknown* (fusion beats, aberrant conduction, a complex deformed by noise); so is any beat in a
   stretch too noisy to judge (``judgeable``).

Pure functions: arrays in, a frozen record out.

References: de Chazal P, O'Dwyer M, Reilly RB. Automatic classification of heartbeats using ECG
morphology and heartbeat interval features. IEEE Trans Biomed Eng 51(7):1196-1206 (2004) (QRS width and
morphology as features).  ANSI/AAMI EC57:2012 (beat classes N, S, V, F, Q).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.ecg.shape import ROWS_PER_BLOCK, correlation_with, windows
from qa.numeric import median
from qa.records.serialize import Record

NORMAL, VENTRICULAR, UNKNOWN = "normal", "ventricular", "unknown"
# Band of the complexes compared: ours (baseline wander and EMG out, the QRS shape kept).
BAND_HZ = (1.0, 30.0)
# The complex: from this long before to this long after the R-peak, s: ours (a wide QRS of 160 ms fits).
BEFORE_S, AFTER_S = 0.10, 0.15
# Shifts tried when correlating with the template, s: ours (fiducial jitter on wide complexes).
LAG_S = 0.02
# Beats correlating at least this well with the median of all make the dominant template: ours.
TEMPLATE_CORR = 0.8
# Normal: correlation with the template at least this: ours (set on MIT-BIH 100, 105, 118, 208).
NORMAL_CORR = 0.90
# Ventricular: correlation under this ...
VENTRICULAR_CORR = 0.80
# ... and a QRS wider than the template's by this much (s) or this factor (a PVC's QRS is >= 120 ms against
# 80-100 ms for a normal one: e.g. Goldberger's Clinical Electrocardiography, ventricular premature beats): ours.
WIDER_S = 0.020
WIDER_RATIO = 1.25
# ... or correlation under this with an amplitude at least AMPLITUDE_RATIO times the template's: ours.
VERY_DIFFERENT_CORR = 0.5
AMPLITUDE_RATIO = 1.5
# QRS width: where the absolute slope exceeds this fraction of the complex's largest slope: ours.
WIDTH_SLOPE_FRACTION = 0.2
# A long trace's complexes are filtered in spans of this length with this much context on each side, s: ours
# (bounded memory; 15 s lets the 1-Hz band-pass settle, so the complexes match a whole-trace pass).
CHUNK_S = 60.0
CHUNK_OVERLAP_S = 15.0


@dataclass(frozen=True, eq=False)
class BeatClasses(Record):
    """One class per R-peak (``labels``: "normal", "ventricular" or "unknown"), with the features it
    came from: ``correlation`` with the dominant template, ``qrs_width_ms`` and the template's width."""

    labels: tuple[str, ...]
    template_width_ms: float | None
    rule: str
    correlation: np.ndarray = field(repr=False, metadata={"json": False})
    qrs_width_ms: np.ndarray = field(repr=False, metadata={"json": False})

    @property
    def ventricular(self) -> np.ndarray:
        return np.array([lab == VENTRICULAR for lab in self.labels], dtype=bool)

    @property
    def ventricular_indices(self) -> tuple[int, ...]:
        return tuple(int(i) for i in np.flatnonzero(self.ventricular))

    def counts(self) -> dict[str, int]:
        return {lab: sum(1 for v in self.labels if v == lab) for lab in (NORMAL, VENTRICULAR, UNKNOWN)}


RULE = (f"normal: correlation with the dominant template >= {NORMAL_CORR:g}; ventricular: correlation < {VENTRICULAR_CORR:g} and "
        f"QRS wider by >= {1000 * WIDER_S:g} ms or x{WIDER_RATIO:g}, or correlation < {VERY_DIFFERENT_CORR:g} and amplitude "
        f">= x{AMPLITUDE_RATIO:g}; otherwise unknown (and in stretches too noisy to judge)")


def classify_beats(ecg_mv: np.ndarray, fs_hz: float, r_peak_index, *, judgeable=None) -> BeatClasses:
    """Class of each beat of one lead (mV at ``fs_hz``) at the R-peaks ``r_peak_index`` (samples).

    ``judgeable``: one bool per beat, False where the signal is too noisy to judge (then "unknown").
    """
    x = np.asarray(ecg_mv)
    fs = float(fs_hz)
    r = np.asarray(r_peak_index, dtype=np.int64)
    if r.size == 0 or x.size < 3:
        return BeatClasses((), None, RULE, np.empty(0), np.empty(0))
    return _classify(_complexes(x, fs, r), fs, judgeable)


def classify_trace_beats(trace, r_peak_s, *, judgeable=None) -> BeatClasses:
    """:func:`classify_beats` of an :class:`qa.records.ecg.EcgTrace` at R-peak times on its clock: the
    complexes are filtered segment by segment (never across a recording gap) and, on a long segment, in
    spans of ``CHUNK_S`` with ``CHUNK_OVERLAP_S`` of context (bounded memory; a segment up to their sum is
    one span); the template is still the dominant beat of the whole trace."""
    from qa.ecg.chunks import spans

    fs = float(trace.fs_hz)
    r = np.clip(trace.time_base.indices_of(np.asarray(r_peak_s, dtype=float)), 0, max(0, trace.n_samples - 1))
    if r.size == 0 or trace.n_samples < 3:
        return BeatClasses((), None, RULE, np.empty(0), np.empty(0))
    rows = np.zeros((r.size, 2 * _half(fs) + 1))  # filled span by span (the beats are in time order)
    done = 0
    for seg in trace.segments():
        for sp in spans(seg.start, seg.stop, int(CHUNK_S * fs), int(CHUNK_OVERLAP_S * fs)):
            here = r[(r >= sp.core_start) & (r < sp.core_stop)]
            if here.size and sp.stop - sp.start >= 3:
                rows[done:done + here.size] = _complexes(trace.ecg_mv[sp.start:sp.stop], fs, here - sp.start)
            done += here.size
    return _classify(rows, fs, judgeable)


def _half(fs: float) -> int:
    return (int(round(BEFORE_S * fs)) + int(round(AFTER_S * fs))) // 2


def _complexes(x: np.ndarray, fs: float, r: np.ndarray) -> np.ndarray:
    """The band-passed complex of each beat ``r`` (sample indices in ``x``), one row each, mean-free."""
    from qa.ecg.filters import butter2, filtfilt

    y = filtfilt(butter2((BAND_HZ[0], min(BAND_HZ[1], 0.45 * fs)), fs), np.asarray(x, dtype=float), min(x.size - 1, int(fs)))
    before, after = int(round(BEFORE_S * fs)), int(round(AFTER_S * fs))
    return windows(y, r + (after - before) // 2, _half(fs))  # windows of +-half around this span's middle


def _classify(w: np.ndarray, fs: float, judgeable) -> BeatClasses:
    """Classes of the complexes ``w`` (rows, as :func:`_complexes` gives them)."""
    lag = max(1, int(round(LAG_S * fs)))
    template = _template(w, lag)
    corr, _ = correlation_with(w, template, lag)
    width = _qrs_width_s(w, fs)
    t_width = float(_qrs_width_s(template[None, :], fs)[0])
    amp = np.ptp(w, axis=1) / max(float(np.ptp(template)), 1e-12)
    wider = (width >= t_width + WIDER_S) | (width >= WIDER_RATIO * t_width)
    ventricular = ((corr < VENTRICULAR_CORR) & wider) | ((corr < VERY_DIFFERENT_CORR) & (amp >= AMPLITUDE_RATIO))
    normal = (corr >= NORMAL_CORR) & ~ventricular
    labels = np.where(ventricular, VENTRICULAR, np.where(normal, NORMAL, UNKNOWN)).astype(object)
    if judgeable is not None:
        labels[~np.asarray(judgeable, dtype=bool)] = UNKNOWN
    return BeatClasses(tuple(str(v) for v in labels), round(1000.0 * t_width, 1), RULE, corr, 1000.0 * width)


def _template(w: np.ndarray, lag: int) -> np.ndarray:
    """The dominant complex: the median of the beats that resemble the median of all (twice refined)."""
    template = _column_median(w)
    for _ in range(2):
        c, _shift = correlation_with(w, template - template.mean(), lag)
        like = c >= TEMPLATE_CORR
        if like.sum() < 3:
            break
        template = _column_median(w, like)
    return template - template.mean()


def _column_median(w: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """The median of each column of ``w`` (of its ``rows`` when given), a few columns at a time (each
    block copied once, so a day of beats needs no second copy of them)."""
    out = np.empty(w.shape[1])
    step = max(1, (ROWS_PER_BLOCK * 16) // max(1, w.shape[0]))
    for a in range(0, w.shape[1], step):
        part = np.array(w[:, a:a + step]) if rows is None else w[rows, a:a + step]  # copies: partitioned in place
        out[a:a + step] = median(part, axis=0)
    return out


def _qrs_width_s(w: np.ndarray, fs: float) -> np.ndarray:
    """Width (s) of the part of each complex whose slope exceeds WIDTH_SLOPE_FRACTION of its maximum
    (in blocks of rows, so a day of beats needs no second copy of them)."""
    out = np.empty(w.shape[0])
    for a in range(0, w.shape[0], ROWS_PER_BLOCK):
        slope = np.abs(np.diff(w[a:a + ROWS_PER_BLOCK], axis=1))
        above = slope >= WIDTH_SLOPE_FRACTION * slope.max(axis=1, keepdims=True)
        first = above.argmax(axis=1)
        last = above.shape[1] - 1 - above[:, ::-1].argmax(axis=1)
        out[a:a + ROWS_PER_BLOCK] = (last - first + 1) / fs
    return out



__all__ = ["classify_beats", "classify_trace_beats", "BeatClasses", "NORMAL", "VENTRICULAR", "UNKNOWN"]
