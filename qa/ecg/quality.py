"""Signal quality of an ECG lead, second by second: where is the trace too noisy to judge a beat?

    >>> q = assess_quality(ecg_mv, fs_hz, r_peak_index)     # the detected R-peaks (sample indices)
    >>> q.noisy_stretches                                   # (start_s, end_s, reasons) on the sample clock

Each one-second epoch is measured against the QRS complexes around it (the median over the beats
within ``LEVEL_WINDOW_S``), so the measures are free of the lead's gain:

* **noise**: the tallest peak of the QRS-band slope envelope (:func:`qa.ecg.rpeaks.qrs_envelope`)
  *outside* the QRS complexes, relative to the QRS peaks: Pan & Tompkins' noise peak level over their
  signal peak level (NPKI / SPKI).  T waves stay near 0.1-0.2; noise a detector can take for a QRS
  reaches 0.4 and more.
* **saturation**: a run of identical samples at the trace's extreme value (the amplifier or the
  converter clipped);
* **flat line**: almost no signal over the second (a lead off, a disconnected cable);
* **baseline wander**: the slow baseline (under 0.7 Hz) moving by more than the QRS amplitude within
  the second (electrode motion, breathing against a loose electrode).

An epoch failing any of them is **too noisy to judge**; consecutive ones form the stretches returned.
The gating analysis then gives an exposure whose surroundings fall in such a stretch
``not_available`` with the reason (:func:`noise_verdict`), never a pass or a fail judged on noise.

Pure functions: arrays in, a frozen record out.

Reference: Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng
32(3):230-236 (1985) (signal and noise peak levels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.numeric import nanmedian_rows
from qa.records.serialize import Record

# Length of one quality epoch, s: ours (the resolution of the stretches; a gating window is ~0.1-0.3 s).
EPOCH_S = 1.0
# QRS level of an epoch: the median over the beats within this distance, s: ours (as the detector's ~10 s).
LEVEL_WINDOW_S = 5.0
# A complex occupies this much before and after its R-peak in the envelope (a wide QRS of up to 200 ms, plus half
# the 150 ms integration window of Pan & Tompkins 1985, plus the ST segment after it): ours.
QRS_BEFORE_S = 0.15
QRS_AFTER_S = 0.25
# Noise: epoch's largest envelope peak outside the complexes above this fraction of the QRS peaks: ours, set on
# the annotated noise of MIT-BIH 105: 27 of the detector's 31 errors there fall in the 115 s so marked; clean 100, 118
# and 800 stay under 0.22 (99th percentile), 208 with its large ventricular T waves marks 2 % of its seconds).
NOISE_RATIO_MAX = 0.4
# Saturation: at least this long a run of identical samples at the trace's extreme value, s: ours.
SATURATION_RUN_S = 0.040
# Flat line: the epoch's peak-to-peak under this, mV: ours (a QRS is rarely under 0.3 mV; 0.05 mV is ECG noise).
FLAT_MV = 0.05
# Baseline wander: the baseline (low-pass LOW_PASS_HZ) moves by more than this many QRS amplitudes within an epoch: ours.
WANDER_MAX = 1.5
BASELINE_LOW_PASS_HZ = 0.7
# An exposure is judged on the beats from this long before its triggering R-peak to its next R-peak: ours
# (the predicting intervals and the cycle the exposure lies in).
SURROUNDINGS_BEFORE_S = 2.0
# A long trace is assessed in spans of this length read with this much context on each side, s: ours (bounded
# memory; the context covers LEVEL_WINDOW_S and the filters' settling, so the epochs match a whole-trace pass).
CHUNK_S = 60.0
CHUNK_OVERLAP_S = 15.0

NOISE, SATURATION, FLAT, WANDER = "noise", "saturation", "flat line (lead off?)", "baseline wander"


@dataclass(frozen=True)
class NoisyStretch(Record):
    """A stretch too noisy to judge: ``start_s``-``end_s`` (the trace's clock), the ``reasons`` found in
    it and the largest noise ratio (envelope noise peak over QRS peak; None where no QRS level is known)."""

    start_s: float
    end_s: float
    reasons: tuple[str, ...]
    max_noise_ratio: float | None

    def describe(self) -> str:
        ratio = f", noise peaks up to {self.max_noise_ratio:.2f} of the QRS" if self.max_noise_ratio is not None else ""
        return f"{self.start_s:.1f}-{self.end_s:.1f} s: {', '.join(self.reasons)}{ratio}"


@dataclass(frozen=True, eq=False)
class SignalQuality(Record):
    """Per-epoch quality of one lead and the stretches too noisy to judge (see the module docstring).

    ``good_fraction``: the share of epochs fit to judge.  The per-epoch arrays (``epoch_start_s``,
    ``noise_ratio``, ``judgeable``) are not part of the JSON form.
    """

    epoch_s: float
    good_fraction: float
    noisy_stretches: tuple[NoisyStretch, ...]
    rule: str
    epoch_start_s: np.ndarray = field(repr=False, metadata={"json": False})
    noise_ratio: np.ndarray = field(repr=False, metadata={"json": False})
    judgeable: np.ndarray = field(repr=False, metadata={"json": False})

    def noisy_between(self, start_s: float, end_s: float) -> tuple[NoisyStretch, ...]:
        """The noisy stretches overlapping [start_s, end_s]."""
        return tuple(s for s in self.noisy_stretches if s.start_s < end_s and s.end_s > start_s)

    def good_at(self, times_s) -> np.ndarray:
        """For each time, is it outside every noisy stretch?"""
        t = np.asarray(times_s, dtype=float)
        ok = np.ones(t.shape, dtype=bool)
        for s in self.noisy_stretches:
            ok &= ~((t >= s.start_s) & (t <= s.end_s))
        return ok


RULE = (f"per {EPOCH_S:g}-s epoch: noise peaks outside the QRS over {NOISE_RATIO_MAX:g} of the QRS peaks (slope envelope), "
        f"or {1000 * SATURATION_RUN_S:g} ms clipped, or flat (under {FLAT_MV:g} mV), or baseline moving over "
        f"{WANDER_MAX:g} QRS amplitudes")


def assess_quality(ecg_mv: np.ndarray, fs_hz: float, r_peak_index, *, time_s: np.ndarray | None = None) -> SignalQuality:
    """Quality of one lead (mV at ``fs_hz``) given its detected R-peaks (sample indices).

    ``time_s``: the time of each sample (the trace's clock), when it is not ``index / fs_hz``.
    """
    x = np.asarray(ecg_mv)
    fs = float(fs_hz)
    n = x.size
    if n == 0:
        return _quality(_EpochFlags.empty(), np.empty(0), np.empty(0))
    starts = np.arange(0, n, max(1, int(round(EPOCH_S * fs))))
    ends = np.append(starts[1:], n) - 1
    flags = _epoch_flags(x, fs, np.asarray(r_peak_index, dtype=np.int64))
    if time_s is None:
        return _quality(flags, starts / fs, ends / fs)
    t = np.asarray(time_s, dtype=float)
    return _quality(flags, t[starts], t[ends])


def assess_trace_quality(trace, r_peak_s, *, envelopes: dict | None = None) -> SignalQuality:
    """:func:`assess_quality` of an :class:`qa.records.ecg.EcgTrace`, segment by segment (never across a
    recording gap) and, on a long segment, in spans of ``CHUNK_S`` read with ``CHUNK_OVERLAP_S`` of context
    (so memory stays bounded; a segment up to their sum is one span); the R-peaks are times on the trace's
    clock and so are the stretches.  ``envelopes``: the dict :func:`qa.ecg.gating.detect_beats` filled for this
    very trace (:func:`qa.ecg.rpeaks.qrs_envelope` of the samples (start, stop), default settings): each is
    taken out of the dict and used (changed in place) instead of computing it again."""
    from qa.ecg.chunks import spans

    r = np.asarray(r_peak_s, dtype=float)
    fs = float(trace.fs_hz)
    per = max(1, int(round(EPOCH_S * fs)))
    chunk, overlap = per * max(1, round(CHUNK_S / EPOCH_S)), per * max(1, round(CHUNK_OVERLAP_S / EPOCH_S))
    r_idx = trace.time_base.indices_of(r)
    flags, first, last = [], [], []
    for seg in trace.segments():
        x = trace.ecg_mv[seg]
        if x.size == 0:
            continue
        extremes = (float(x.max()), float(x.min()))
        for sp in spans(seg.start, seg.stop, chunk, overlap):
            inside = r_idx[(r_idx >= sp.start) & (r_idx < sp.stop)] - sp.start
            env = envelopes.pop((sp.start, sp.stop), None) if envelopes is not None else None
            f = _epoch_flags(trace.ecg_mv[sp.start:sp.stop], fs, inside, extremes=extremes, envelope=env)
            local = np.arange(sp.start, sp.stop, per)  # epochs counted from the span's start (a multiple of per)
            keep = (local >= sp.core_start) & (local < sp.core_stop)
            flags.append(f.take(keep))
            first.append(local[keep])
            last.append(np.minimum(local[keep] + per, sp.stop) - 1)
    if not flags:
        return assess_quality(np.empty(0), fs, [])
    starts, ends = np.concatenate(first), np.concatenate(last)
    return _quality(_EpochFlags.joined(flags), trace.time_base.at(starts), trace.time_base.at(ends))


@dataclass(frozen=True)
class _EpochFlags:
    """Per-epoch measures of one stretch of trace (see the module docstring)."""

    ratio: np.ndarray
    noisy: np.ndarray
    flat: np.ndarray
    saturated: np.ndarray
    wander: np.ndarray

    @classmethod
    def empty(cls) -> "_EpochFlags":
        no = np.empty(0, dtype=bool)
        return cls(np.empty(0), no, no, no, no)

    @classmethod
    def joined(cls, parts: list["_EpochFlags"]) -> "_EpochFlags":
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("ratio", "noisy", "flat", "saturated", "wander")))

    def take(self, keep: np.ndarray) -> "_EpochFlags":
        return _EpochFlags(self.ratio[keep], self.noisy[keep], self.flat[keep], self.saturated[keep], self.wander[keep])

    @property
    def bad(self) -> np.ndarray:
        return self.noisy | self.flat | self.saturated | self.wander


def _epoch_flags(ecg_mv: np.ndarray, fs: float, r: np.ndarray, *, extremes: tuple[float, float] | None = None,
                 envelope: np.ndarray | None = None) -> _EpochFlags:
    """The measures of each ``EPOCH_S`` epoch of one stretch (R-peaks ``r``: its sample indices).
    ``extremes``: the (max, min) of the whole trace, where clipping is looked for (default: this stretch's).
    ``envelope``: the stretch's QRS envelope when already computed (changed in place here)."""
    from qa.ecg.filters import butter2, filtfilt
    from qa.ecg.rpeaks import qrs_envelope

    x = np.asarray(ecg_mv, dtype=float)
    n = x.size
    per = max(1, int(round(EPOCH_S * fs)))
    starts = np.arange(0, n, per)
    r = r[(r >= 0) & (r < n)]
    if envelope is not None and envelope.shape == x.shape:
        env = envelope
    else:
        env = qrs_envelope(x, fs) if n >= 3 else np.zeros(n)
    before, after = max(1, int(round(QRS_BEFORE_S * fs))), max(1, int(round(QRS_AFTER_S * fs)))
    # QRS level of each epoch: median envelope peak and amplitude of the beats nearby
    if r.size:
        w = np.clip(r[:, None] + np.arange(-before, before + 1), 0, n - 1)
        beat_height = env[w].max(axis=1)
        q = max(1, int(round(0.06 * fs)))
        wq = np.clip(r[:, None] + np.arange(-q, q + 1), 0, n - 1)
        beat_amp = np.ptp(x[wq], axis=1)
    centres = np.minimum(starts + per // 2, n - 1)
    level = np.full(starts.size, np.nan)
    amp = np.full(starts.size, np.nan)
    reach = int(round(LEVEL_WINDOW_S * fs))
    if r.size:
        lo = np.searchsorted(r, centres - reach)
        hi = np.searchsorted(r, centres + reach)
        near = np.flatnonzero(hi > lo)
        level[near] = _slice_medians(beat_height, lo[near], hi[near])
        amp[near] = _slice_medians(beat_amp, lo[near], hi[near])
    # the tallest envelope peak outside the complexes (the envelope is not needed afterwards: zeroed in place)
    if r.size:
        mask = np.zeros(n + 1, dtype=np.int64)
        np.add.at(mask, np.clip(r - before, 0, n), 1)
        np.add.at(mask, np.clip(r + after + 1, 0, n), -1)
        env[np.cumsum(mask)[:n] > 0] = 0.0
        del mask
    noise_peak = np.maximum.reduceat(env, starts)
    del env
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = noise_peak / level
    noisy = ~(ratio <= NOISE_RATIO_MAX)  # NaN (no QRS nearby) counts as noisy
    # flat line and saturation
    ptp = np.maximum.reduceat(x, starts) - np.minimum.reduceat(x, starts)
    flat = ptp < FLAT_MV
    saturated = _clipped_epochs(x, starts, int(round(SATURATION_RUN_S * fs)), extremes)
    # baseline wander
    if n > 3 * int(fs):
        base = filtfilt(butter2(BASELINE_LOW_PASS_HZ, fs), x, min(n - 1, int(fs)))
        moved = np.maximum.reduceat(base, starts) - np.minimum.reduceat(base, starts)
        with np.errstate(invalid="ignore"):
            wander = moved > WANDER_MAX * amp
    else:
        wander = np.zeros(starts.size, dtype=bool)
    return _EpochFlags(ratio, noisy, flat, saturated, wander)


def _slice_medians(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``median(values[lo[k]:hi[k]])`` for every k (each slice non-empty, the values finite), all at once:
    the slices as rows padded with NaN (:func:`qa.numeric.nanmedian_rows`, numpy's median of each row's values)."""
    if lo.size == 0:
        return np.empty(0)
    at = lo[:, None] + np.arange(int((hi - lo).max()))
    outside = at >= hi[:, None]
    np.minimum(at, values.size - 1, out=at)
    return nanmedian_rows(np.where(outside, np.nan, values[at]))


def _quality(flags: _EpochFlags, start_s: np.ndarray, end_s: np.ndarray) -> SignalQuality:
    """The record of per-epoch flags, given each epoch's first and last sample times: consecutive bad
    epochs joined into stretches with their reasons."""
    bad = flags.bad
    ratio = flags.ratio
    stretches = []
    e = 0
    while e < bad.size:
        if not bad[e]:
            e += 1
            continue
        f = e
        while f + 1 < bad.size and bad[f + 1]:
            f += 1
        reasons = [name for name, flag in ((FLAT, flags.flat), (SATURATION, flags.saturated), (NOISE, flags.noisy & ~flags.flat),
                                           (WANDER, flags.wander)) if flag[e:f + 1].any()]
        finite = ratio[e:f + 1][np.isfinite(ratio[e:f + 1])]
        stretches.append(NoisyStretch(round(float(start_s[e]), 3), round(float(end_s[f]), 3), tuple(reasons),
                                      round(float(finite.max()), 2) if finite.size else None))
        e = f + 1
    good = round(float(1.0 - bad.mean()), 4) if bad.size else 1.0
    return SignalQuality(EPOCH_S, good, tuple(stretches), RULE, np.asarray(start_s, dtype=float), ratio, ~bad)


def _clipped_epochs(x: np.ndarray, starts: np.ndarray, run: int, extremes: tuple[float, float] | None = None) -> np.ndarray:
    """Per epoch: does a run of at least ``run`` identical samples at the trace's maximum or minimum start in it?"""
    out = np.zeros(starts.size, dtype=bool)
    if x.size < max(2, run) or run < 2:
        return out
    for extreme in extremes if extremes is not None else (x.max(), x.min()):
        at = np.concatenate([[False], x == extreme, [False]])
        edges = np.flatnonzero(np.diff(at.astype(np.int8)))
        first, last = edges[0::2], edges[1::2]
        long_runs = first[(last - first) >= run]
        if long_runs.size:
            out[np.searchsorted(starts, long_runs, side="right") - 1] = True
    return out


def noise_verdict(quality: SignalQuality, trigger_r_s: float | None, next_r_s: float | None, start_s: float,
                  end_s: float) -> str | None:
    """Why an exposure cannot be judged on this trace (its surroundings too noisy), or None when it can.

    The surroundings: from ``SURROUNDINGS_BEFORE_S`` before the triggering R-peak (its predicting
    beats) to the later of the next R-peak and the window's end.
    """
    a = (trigger_r_s if trigger_r_s is not None else start_s) - SURROUNDINGS_BEFORE_S
    b = max(end_s, next_r_s if next_r_s is not None else end_s)
    hit = quality.noisy_between(a, b)
    if not hit:
        return None
    return ("the ECG around the exposure is too noisy to judge its beats (" + "; ".join(s.describe() for s in hit[:2])
            + (f"; and {len(hit) - 2} more" if len(hit) > 2 else "") + ")")


__all__ = ["assess_quality", "assess_trace_quality", "noise_verdict", "SignalQuality", "NoisyStretch", "NOISE", "SATURATION", "FLAT", "WANDER"]
