"""Rhythm from R-peak times: heart rate, RR series, premature beats, suspicion of atrial fibrillation.

    >>> rhythm = analyze_rhythm(r_peak_s)                  # times in seconds, sorted
    >>> rhythm.heart_rate_bpm.mean, rhythm.premature_indices, rhythm.af_suspected

* **RR series.**  Intervals between consecutive R-peaks; an interval that spans a recording gap
  (``gaps_s``) is not an RR interval and is left out of everything below.
* **Heart rate.**  From the plausible RR intervals only, 0.3-2.0 s (30-200 bpm, the usual range of
  :data:`qa.records.plausibility.RANGES` ``heart_rate_bpm``): a shorter or longer "interval" is
  noise taken for a beat or a missed beat, and is left out and counted (``n_left_out``).  Mean
  heart rate is 60 / mean RR (the beats per minute a clock would count); minimum, maximum and SD
  are of the beat-to-beat rate 60 / RR.
* **Premature beats.**  A beat is premature when the RR interval ending on it is shorter than
  80 % of the local median RR.  The local median is taken over the neighbouring intervals
  averaged in consecutive pairs: a premature beat followed by its pause averages back to the
  underlying cycle, so the reference stays right in bigeminy and trigeminy, where half or a third
  of the raw intervals are short.  For each premature beat the following interval says whether
  there was a pause.  The pause is called **fully compensatory** only where that can be shown: the
  RR before the premature beat plus the RR after it equals two *normal* RR intervals (the textbook
  definition, e.g. Goldberger AL et al., Goldberger's Clinical Electrocardiography, 9th ed. 2017,
  ventricular premature beats: the sinus node is not reset, the usual signature of a ventricular
  ectopic beat; a supraventricular one resets it, and the sum falls short).  The normal RR is the
  median of the nearby intervals between two beats that are neither premature nor the beat after
  one.  "Equal" can only be measured as closely as the sinus rhythm itself repeats: the sum of two
  undisturbed sinus cycles scatters by sqrt(2) x the SD of one (robust SD of the same nearby
  normal intervals), so the sum is called equal within 2 SD of that scatter, and never closer than
  one small square of the paper ECG, 40 ms (:func:`compensatory_tolerance_ms`).  Outside it the
  pause is *not* compensatory; where there are too few normal intervals (bigeminy, a short trace),
  or they vary so much that the tolerance exceeds 6 % of two cycles (frequent ectopy, marked sinus
  arrhythmia), ``compensatory`` is None: not judged, and nothing is said.  Every statement gives its numbers
  (:meth:`PrematureBeat.describe`: "RR before + after 1,612 ms = 1.98 x the normal 814 ms (16 ms
  short of 2 x; tolerance 80 ms): full compensatory pause").
* **Atrial fibrillation (suspicion).**  "Irregularly irregular" RR: after the premature beats
  with a compensatory pause are set aside, and the most extreme intervals trimmed, the
  normalised RMSSD is high *and* the sequence of turning points is what a random sequence gives
  (a regular pattern such as bigeminy has far more turning points, respiratory sinus arrhythmia
  far fewer).  After Dash et al. (2009).  This is a screening flag for the technologist
  (prospective triggering is unreliable; consider retrospective gating), not a diagnosis.  RR alone
  cannot tell AF from very frequent ectopy: on MIT-BIH 208 (a third of the beats ventricular,
  many late-coupled or fused) it is raised in 135 of 195 half-overlapping 30-beat windows, on the
  sinus rhythm of record 100 in none of 150; on random RR (simulated AF) in 187 of 200.

Pure functions: arrays in, a frozen record out.

References: Dash S, Chon KH, Lu S, Raeder EA. Automatic real time detection of atrial
fibrillation. Ann Biomed Eng 37(9):1701-1709 (2009).  Kendall M, Stuart A. The Advanced Theory of
Statistics, vol. 3: turning points of a random series (mean 2(n-2)/3, variance (16n-29)/90).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from qa.numeric import median, nanmedian_rows
from qa.records.serialize import Record

# A beat is premature when its RR is under this fraction of the local median RR: the and
# common Holter practice (e.g. Hamilton & Tompkins' beat classifier uses 80 % for "premature").
PREMATURE_RATIO = 0.80
# Neighbouring intervals (each side) over which the local median RR is taken: ours.
LOCAL_NEIGHBOURS = 8
# "Fully compensatory": coupling + pause = 2 normal RR (Goldberger's Clinical Electrocardiography, 9th ed.
# 2017), measured as closely as the sinus rhythm repeats: within this many SD of the sum of two normal
# cycles (SD = sqrt(2) x the robust SD of the nearby normal RR), i.e. the two-sided ~95 % range of a normal
# distribution (1.96, rounded to 2): ours, from the local sinus variability.
COMPENSATORY_SD = 2.0
# ... and never closer than one small square of paper ECG at 25 mm/s, 0.04 s, the precision of a pause
# measured by hand (Hall JE, Guyton and Hall Textbook of Medical Physiology, ECG time calibration lines).
COMPENSATORY_FLOOR_MS = 40.0
# A tolerance wider than this fraction of 2 normal RR cannot tell a full compensatory pause from a reset
# one (a reset shortens the sum by the sinoatrial conduction time, a tenth of a cycle or less): not
# judged. Ours (on MIT-BIH 100, 118 and 208 it keeps every claim within 2 x the annotation-based tolerance).
COMPENSATORY_MAX_FRACTION = 0.06
# A "normal" interval is also within this fraction of the local median RR: ours (late-coupled ectopic
# beats and their pauses, not premature by RR, are kept out of the normal RR and its SD).
NORMAL_BAND = 0.15
# Fewest normal (sinus-to-sinus) intervals near a premature beat to know the normal RR and its SD: ours
# (an SD from two or three intervals is no measure of the sinus variability).
MIN_NORMAL_INTERVALS = 4
# A premature beat's pause "restores the cycle" (its ectopy is not AF's irregularity) when coupling +
# pause is within this fraction of two local cycles: ours (a screening aid, no compensatory claim).
CYCLE_RESTORED_TOLERANCE = 0.10
# Plausible RR intervals for the heart rate, s: 60/200 to 60/30, the usual heart-rate range of
# qa.records.plausibility (30-200 bpm, bradycardia to tachycardia during CT; our proposal).
RR_PLAUSIBLE_S = (0.3, 2.0)
# Normalised RMSSD above which RR is called irregular: Dash et al. 2009 (threshold 0.1).
AF_NRMSSD_MIN = 0.10
# Fraction of intervals trimmed at each end before the irregularity measures: Dash et al. 2009
# (8 largest and 8 smallest of 128, i.e. 1/16 each side).
AF_TRIM_FRACTION = 1.0 / 16.0
# Two-sided z for the turning-point test of randomness: 95 % (Dash et al. 2009 use the 95 % range).
AF_TPR_Z = 1.96
# Fewest usable RR intervals for an AF judgement: ours (a short gating trace of under ~12 beats
# cannot tell irregularly irregular from a couple of ectopic beats).
AF_MIN_INTERVALS = 12


@dataclass(frozen=True)
class HeartRate(Record):
    """Mean (60 / mean RR), min, max and SD of the beat-to-beat heart rate, bpm, over the RR
    intervals within ``rr_range_s`` (None without one); ``n_intervals`` used, ``n_left_out``
    outside the range (noise taken for beats, missed beats)."""

    mean: float | None
    min: float | None
    max: float | None
    sd: float | None
    rr_range_s: tuple[float, float] = RR_PLAUSIBLE_S
    n_intervals: int = 0
    n_left_out: int = 0

    def describe(self) -> str:
        """``78 bpm (beat-to-beat 56-130 bpm, from RR intervals 0.3-2.0 s; 2 outside left out)``."""
        lo, hi = self.rr_range_s
        left = f"; {self.n_left_out} outside left out" if self.n_left_out else ""
        if self.mean is None:
            return f"no RR interval within {lo:.1f}-{hi:.1f} s" + (f" ({self.n_left_out} outside left out)" if self.n_left_out else "")
        return (f"{self.mean:.0f} bpm (beat-to-beat {self.min:.0f}-{self.max:.0f} bpm, from RR intervals "
                f"{lo:.1f}-{hi:.1f} s{left})")


@dataclass(frozen=True)
class Irregularity(Record):
    """The atrial-fibrillation measures of Dash et al. 2009 over the trimmed RR series."""

    intervals_used: int
    nrmssd: float | None
    turning_point_ratio: float | None
    turning_point_range: tuple[float, float] | None
    rule: str


@dataclass(frozen=True)
class PrematureBeat(Record):
    """One premature beat: ``index`` into the R-peaks, ``coupling_pct`` (its RR as % of the local
    median), ``pause_pct`` (the next RR as % of it, None at the end of the trace) and whether the
    pause was fully compensatory: ``rr_sum_ms`` (RR before + RR after) within ``tolerance_ms`` of
    2 x ``normal_rr_ms`` (module doc).  None when not judged: no next interval (``rr_sum_ms`` None),
    too few normal RR nearby (``normal_rr_ms`` None), or a normal RR so variable that the tolerance
    exceeds ``COMPENSATORY_MAX_FRACTION`` of 2 normal RR."""

    index: int
    time_s: float
    coupling_pct: float
    pause_pct: float | None
    compensatory: bool | None
    normal_rr_ms: float | None = None
    rr_sum_ms: float | None = None
    tolerance_ms: float | None = None

    def describe(self) -> str:
        """``RR before + after 1,612 ms = 1.98 x the normal 814 ms (16 ms short of 2 x; tolerance 80 ms): full
        compensatory pause``;
        ``... : not compensatory``; or why it was not judged."""
        if self.rr_sum_ms is None:
            return "no RR after it: pause not judged"
        if self.normal_rr_ms is None:
            return "too few normal RR nearby: pause not judged"
        if self.compensatory is None:
            return (f"the normal RR nearby ({self.normal_rr_ms:,.0f} ms) varies too much to tell (tolerance "
                    f"{self.tolerance_ms:,.0f} ms, over {100 * COMPENSATORY_MAX_FRACTION:g} % of 2 x): pause not judged")
        ratio = self.rr_sum_ms / self.normal_rr_ms
        off = self.rr_sum_ms - 2.0 * self.normal_rr_ms
        side = "= 2 x" if abs(off) < 0.5 else f"{abs(off):,.0f} ms {'short of' if off < 0 else 'over'} 2 x"
        verdict = "full compensatory pause" if self.compensatory else "not compensatory"
        return (f"RR before + after {self.rr_sum_ms:,.0f} ms = {ratio:.2f} x the normal {self.normal_rr_ms:,.0f} ms "
                f"({side}; tolerance {self.tolerance_ms:,.0f} ms): {verdict}")


def compensatory_tolerance_ms(normal_rr_ms) -> float:
    """How closely coupling + pause must equal 2 x the median of ``normal_rr_ms`` (nearby sinus-to-sinus
    intervals, ms) to call the pause fully compensatory: ``COMPENSATORY_SD`` x sqrt(2) x their robust SD
    (1.4826 x the median absolute deviation), never under ``COMPENSATORY_FLOOR_MS``."""
    rr = np.asarray(normal_rr_ms, dtype=float)
    rr = rr[np.isfinite(rr)]
    sd = 1.4826 * float(median(np.abs(rr - median(rr)))) if rr.size else 0.0
    return float(max(COMPENSATORY_SD * np.sqrt(2.0) * sd, COMPENSATORY_FLOOR_MS))


def compensatory_summary(premature) -> str | None:
    """``3 with a full compensatory pause (the first at 12.3 s: RR before + after ...)``; None when
    no pause was shown to be fully compensatory (then nothing is said of it)."""
    full = [p for p in premature if p.compensatory]
    if not full:
        return None
    return f"{len(full)} with a full compensatory pause (the first at {full[0].time_s:.1f} s: {full[0].describe()})"


@dataclass(frozen=True)
class Rhythm(Record):
    """Heart rate, RR series, premature beats and the AF suspicion of one trace's R-peaks.

    ``rr_ms`` holds one value per consecutive pair of R-peaks (NaN where the pair spans a gap; null
    in JSON); ``heart_rate_bpm`` has ``mean``, ``min``, ``max``, ``sd`` (None with fewer than two beats);
    ``af_suspected`` is None when there were too few intervals to judge.
    """

    n_beats: int
    rr_ms: tuple[float, ...]
    heart_rate_bpm: HeartRate
    premature: tuple[PrematureBeat, ...]
    af_suspected: bool | None
    irregularity: Irregularity
    message: str

    @property
    def premature_indices(self) -> tuple[int, ...]:
        return tuple(p.index for p in self.premature)



def analyze_rhythm(r_peak_s, *, gaps_s=(), unusable_s=(), ventricular=()) -> Rhythm:
    """Rhythm of sorted R-peak times (s); ``gaps_s``: (start, end) of recording gaps on the same time base;
    ``unusable_s``: (start, end) of stretches too noisy to judge (:mod:`qa.ecg.quality`): an interval with
    a beat in one is left out like one across a gap, so premature beats and the AF suspicion are judged
    on good-quality stretches only.  ``ventricular``: indices of the beats found ventricular by shape
    (:mod:`qa.ecg.morphology`): the intervals into and out of them are left out of the AF suspicion
    (frequent ventricular ectopy is irregular, but it is not atrial fibrillation)."""
    r = np.asarray(r_peak_s, dtype=float)
    if r.ndim != 1 or (r.size > 1 and np.any(np.diff(r) <= 0)):
        raise ValueError("R-peak times must be a strictly increasing 1-D array of seconds")
    rr = rr_intervals_ms(r, gaps_s, unusable_s)
    hr = heart_rate_stats(rr)
    premature = find_premature(r, rr)
    af, irregular = af_suspicion(rr, premature, ventricular)
    return Rhythm(int(r.size), tuple(round(float(v), 1) for v in rr), hr, tuple(premature), af, irregular,
                  _message(r.size, hr, premature, af))


def rr_intervals_ms(r_peak_s: np.ndarray, gaps_s=(), unusable_s=()) -> np.ndarray:
    """RR intervals (ms) of consecutive beats; NaN for a pair of beats on either side of a gap, and
    for a pair with a beat inside an unusable (too noisy) stretch."""
    r = np.asarray(r_peak_s, dtype=float)
    rr = np.diff(r) * 1000.0
    for start, end in gaps_s:
        spans = (r[:-1] <= start) & (r[1:] >= end)
        rr[spans] = np.nan
    for start, end in unusable_s:
        inside = (r >= start) & (r <= end)
        rr[inside[:-1] | inside[1:] | ((r[:-1] <= start) & (r[1:] >= end))] = np.nan
    return rr


def heart_rate_stats(rr_ms: np.ndarray, *, rr_range_s: tuple[float, float] = RR_PLAUSIBLE_S) -> HeartRate:
    """Mean (60 / mean RR), min, max and SD of the beat-to-beat heart rate, bpm, over the RR
    intervals within ``rr_range_s`` (the others are counted in ``n_left_out``; None when no RR)."""
    rr = np.asarray(rr_ms, dtype=float)
    rr = rr[np.isfinite(rr)]
    keep = (rr >= 1000.0 * rr_range_s[0]) & (rr <= 1000.0 * rr_range_s[1])
    left_out = int(rr.size - keep.sum())
    rr = rr[keep]
    if rr.size == 0:
        return HeartRate(None, None, None, None, tuple(rr_range_s), 0, left_out)
    hr = 60000.0 / rr
    return HeartRate(round(float(60000.0 / rr.mean()), 2), round(float(hr.min()), 2), round(float(hr.max()), 2),
                     round(float(hr.std(ddof=1)), 2) if hr.size > 1 else 0.0, tuple(rr_range_s), int(rr.size), left_out)


def local_median_rr(rr_ms: np.ndarray, neighbours: int = LOCAL_NEIGHBOURS) -> np.ndarray:
    """Underlying cycle length (ms) around each RR interval.

    The median, over the intervals within ``neighbours`` of each one, of consecutive intervals
    averaged in pairs (NaN intervals skipped).  A premature beat and its pause average back to
    about the cycle, so the reference does not collapse in bigeminy.
    """
    rr = np.asarray(rr_ms, dtype=float)
    n = rr.size
    if n == 0:
        return rr.copy()
    pair = np.full(n, np.nan)
    if n > 1:
        pair[:-1] = 0.5 * (rr[:-1] + rr[1:])
    pair[~np.isfinite(pair)] = np.nan
    lone = np.isnan(pair) & np.isfinite(rr)  # the last interval, or one next to a gap
    pair[lone] = rr[lone]
    padded = np.concatenate([np.full(neighbours, np.nan), pair, np.full(neighbours, np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * neighbours + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window (only gaps around) gives NaN
        return nanmedian_rows(windows)


def find_premature(r_peak_s: np.ndarray, rr_ms: np.ndarray, *, ratio: float = PREMATURE_RATIO) -> list[PrematureBeat]:
    """Beats whose RR is under ``ratio`` of the local median RR, with their pause."""
    rr = np.asarray(rr_ms, dtype=float)
    ref = local_median_rr(rr)
    out = []
    with np.errstate(invalid="ignore"):
        early = np.flatnonzero(rr < ratio * ref)
    # normal (sinus-to-sinus) intervals: neither ending on a premature beat nor starting at one
    normal = np.isfinite(rr)
    normal[early] = False
    normal[early[early + 1 < rr.size] + 1] = False
    with np.errstate(invalid="ignore"):
        normal &= np.abs(rr - ref) <= NORMAL_BAND * ref
    for i in early:
        nxt = rr[i + 1] if i + 1 < rr.size and np.isfinite(rr[i + 1]) else None
        pause = None if nxt is None else float(100.0 * nxt / ref[i])
        lo, hi = max(0, i - LOCAL_NEIGHBOURS), i + LOCAL_NEIGHBOURS + 2
        near = rr[lo:hi][normal[lo:hi]]
        total = None if nxt is None else float(rr[i] + nxt)
        norm = tol = comp = None
        if total is not None and near.size >= MIN_NORMAL_INTERVALS:
            norm, tol = float(median(near)), compensatory_tolerance_ms(near)
            if tol <= COMPENSATORY_MAX_FRACTION * 2.0 * norm:  # else too variable to tell: not judged
                comp = bool(abs(total - 2.0 * norm) <= tol)
        out.append(PrematureBeat(int(i + 1), round(float(r_peak_s[i + 1]), 4), round(float(100.0 * rr[i] / ref[i]), 1),
                                 None if pause is None else round(pause, 1), comp, _round(norm), _round(total), _round(tol)))
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _restores_cycle(rr: np.ndarray, p: PrematureBeat) -> bool:
    """Does a premature beat's pause bring the rhythm back to its cycle (coupling + pause = two local
    cycles, the cycle as :func:`local_median_rr` sees it)?  Such ectopy is not AF's irregularity."""
    i = p.index - 1
    if p.pause_pct is None or i + 1 >= rr.size:
        return False
    cycle = 100.0 * rr[i] / p.coupling_pct
    return bool(abs(rr[i] + rr[i + 1] - 2.0 * cycle) <= CYCLE_RESTORED_TOLERANCE * 2.0 * cycle)


def turning_points(x: np.ndarray) -> int:
    """Number of interior points that are a strict local maximum or minimum."""
    x = np.asarray(x, dtype=float)
    if x.size < 3:
        return 0
    a, b, c = x[:-2], x[1:-1], x[2:]
    return int(np.sum(((b > a) & (b > c)) | ((b < a) & (b < c))))


def af_suspicion(rr_ms: np.ndarray, premature: list[PrematureBeat], ventricular=()) -> tuple[bool | None, Irregularity]:
    """Irregularly irregular RR?  (suspected or not or None when too few intervals, the measures).
    ``ventricular``: beat indices whose intervals in and out are left out (ectopy is not AF's irregularity)."""
    rr = np.asarray(rr_ms, dtype=float)
    use = np.isfinite(rr)
    v = np.asarray(ventricular, dtype=np.int64)
    if np.any((v < 0) | (v > rr.size)):
        raise ValueError(f"ventricular beat indices must be those of the {rr.size + 1} beats (0-{rr.size}), got {v.tolist()}")
    use[v[v >= 1] - 1] = False  # the interval into a ventricular beat
    use[v[v < rr.size]] = False  # and the one out of it
    for p in premature:  # an ectopic beat whose pause restores the cycle is not AF's irregularity
        if _restores_cycle(rr, p):
            use[p.index - 1] = False
            if p.index < rr.size:
                use[p.index] = False
    x = rr[use]
    trim = int(np.floor(AF_TRIM_FRACTION * x.size))
    if trim:
        order = np.argsort(x, kind="stable")
        keep = np.ones(x.size, bool)
        keep[order[:trim]] = False
        keep[order[-trim:]] = False
        x = x[keep]
    rule = f"nRMSSD > {AF_NRMSSD_MIN:g} and turning points as random (Dash 2009)"
    if x.size < AF_MIN_INTERVALS:
        return None, Irregularity(int(x.size), None, None, None, rule)
    nrmssd = float(np.sqrt(np.mean(np.diff(x) ** 2)) / np.mean(x))
    n = x.size
    tp = turning_points(x)
    mean_tp = 2.0 * (n - 2) / 3.0
    sd_tp = np.sqrt((16.0 * n - 29.0) / 90.0)
    lo, hi = (mean_tp - AF_TPR_Z * sd_tp) / n, (mean_tp + AF_TPR_Z * sd_tp) / n
    tpr = tp / n
    info = Irregularity(int(x.size), round(nrmssd, 4), round(tpr, 4), (round(lo, 4), round(hi, 4)), rule)
    return bool(nrmssd > AF_NRMSSD_MIN and lo <= tpr <= hi), info


def _message(n_beats: int, hr: HeartRate, premature: list[PrematureBeat], af: bool | None) -> str:
    if hr.mean is None:
        return "fewer than two R-peaks: no rhythm" if hr.n_left_out == 0 else f"{n_beats} R-peaks, {hr.describe()}: no rhythm"
    parts = [f"{n_beats} beats, {hr.describe()}"]
    if premature:
        full = compensatory_summary(premature)
        parts.append(f"{len(premature)} premature beat(s)" + (f", {full}" if full else ""))
    if af:
        parts.append("irregularly irregular RR: atrial fibrillation suspected (or frequent ectopic beats)")
    elif af is None:
        parts.append("too few beats to judge regularity")
    return "; ".join(parts)


__all__ = ["analyze_rhythm", "HeartRate", "Irregularity", "Rhythm", "PrematureBeat", "rr_intervals_ms", "heart_rate_stats", "local_median_rr",
           "find_premature", "af_suspicion", "turning_points", "compensatory_tolerance_ms", "compensatory_summary"]
