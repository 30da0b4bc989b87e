"""Breathing during the breath-hold, from the trace recorded with the scan (pure).

With a respiratory channel (``resp``, a bellows or impedance signal): the breathing amplitude
while the stacks were acquired against the amplitude before them (free breathing), whether the
breath was held, and, if it was released during the scan, when.  Without one: ECG-derived
respiration (EDR: breathing modulates the R-wave amplitude; Moody et al., Comput Cardiol 1985),
labelled as the weaker estimate it is.  Both add the heart-rate change across the breath-hold
(the heart rate usually falls on a held breath; a rise hints at a Valsalva manoeuvre or release).

The amplitude is the 5th-95th percentile range of the signal in each window.  The windows and the
limits are the qa developers' proposal (no published threshold exists): free breathing is the
20 s ending 5 s before the first stack (the breath-hold command comes a few seconds before it);
the breath counts as held while the amplitude stays under 30 % of free breathing, and as released
at the first sample that leaves the held level by half the free-breathing amplitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.numeric import median, percentile
from qa.records.checks import NOT_AVAILABLE, PASS, WARN
from qa.records.ecg import EcgTrace
from qa.records.serialize import Record

BEFORE_S = (20.0, 5.0)  # free breathing: from 20 s to 5 s before the first stack (our proposal)
HELD_FRACTION = 0.3  # held: amplitude during the scan under 30 % of free breathing (our proposal)
RELEASE_FRACTION = 0.5  # released: the signal leaves the held level by half the free-breathing amplitude (our proposal)
MIN_BEFORE_SAMPLES = 8  # fewer samples (or beats, for EDR) before the scan: no reference
HELD_LEVEL_S = 0.5  # the held level: the median of the signal over the scan's first 0.5 s


@dataclass(frozen=True)
class Respiration(Record):
    """The breathing trace's analysis (the ``respiration`` block of ``qa.motion/1``)."""

    source: str  # "resp channel" | "ECG-derived respiration (R-wave amplitude)"
    weaker_estimate: bool  # True for ECG-derived respiration
    scan_start_s: float | None  # on the trace's time base (None: the scan could not be placed on the trace)
    scan_end_s: float | None
    amplitude_before: float | None  # in the signal's units (mV for ECG-derived respiration)
    amplitude_during: float | None
    ratio: float | None  # during / before
    breath_held: bool | None
    released_after_s: float | None  # seconds after the first stack when breathing resumed (resp channel only)
    heart_rate_before_bpm: float | None
    heart_rate_during_bpm: float | None
    heart_rate_change_bpm: float | None
    status: str
    message: str


def _range(values: np.ndarray) -> float | None:
    if values.size < 2:
        return None
    lo, hi = percentile(values, [5.0, 95.0])
    return float(hi - lo)


def _heart_rate(r_peak_s: np.ndarray, a: float, b: float) -> float | None:
    beats = r_peak_s[(r_peak_s >= a) & (r_peak_s <= b)]
    if beats.size < 2:
        return None
    return float(60.0 / median(np.diff(beats)))


def _samples(trace: EcgTrace, channel: np.ndarray, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    first, last = (float(v) for v in trace.time_base.at([0, trace.n_samples - 1]))
    a, b = max(a, first), min(b, last)
    if b <= a:
        return np.empty(0), np.empty(0)
    i, j = trace.time_base.index_of(a), trace.time_base.index_of(b) + 1
    t = np.asarray(trace.time_base.at(np.arange(i, min(j, trace.n_samples))), dtype=float)
    return t, np.asarray(channel[i:i + t.size], dtype=float)


def analyse_respiration(trace: EcgTrace, r_peak_s: np.ndarray, scan_start_s: float, scan_end_s: float) -> Respiration:
    """Breathing before and during the scan (``scan_start_s`` .. ``scan_end_s`` on the trace's time
    base, from the first stack to the end of the last), see module doc."""
    r = np.asarray(r_peak_s, dtype=float)
    lo, hi = scan_start_s - BEFORE_S[0], scan_start_s - BEFORE_S[1]
    if trace.resp is not None:
        source, weaker = "resp channel", False
        t, sig = _samples(trace, trace.resp, lo, max(scan_end_s, scan_start_s + HELD_LEVEL_S))
    else:
        source, weaker = "ECG-derived respiration (R-wave amplitude; a weaker estimate)", True
        t = r[(r >= lo) & (r <= scan_end_s)]
        idx = np.clip(trace.time_base.indices_of(t), 0, max(trace.n_samples - 1, 0))
        sig = np.asarray(trace.ecg_mv[idx], dtype=float) if t.size else np.empty(0)
    before = sig[(t >= lo) & (t <= hi)]
    during = sig[(t >= scan_start_s) & (t <= scan_end_s)]
    hr_before, hr_during = _heart_rate(r, lo, scan_start_s), _heart_rate(r, scan_start_s, scan_end_s)
    hr_change = None if hr_before is None or hr_during is None else hr_during - hr_before
    common = dict(source=source, weaker_estimate=weaker, scan_start_s=round(scan_start_s, 3), scan_end_s=round(scan_end_s, 3),
                  heart_rate_before_bpm=_r(hr_before, 1), heart_rate_during_bpm=_r(hr_during, 1), heart_rate_change_bpm=_r(hr_change, 1))
    hr_text = "" if hr_change is None else f"; heart rate {hr_before:.0f} -> {hr_during:.0f} bpm ({hr_change:+.0f})"
    amplitude_before = _range(before) if before.size >= MIN_BEFORE_SAMPLES else None
    if amplitude_before is None or amplitude_before <= 0:
        why = (f"the trace holds too little free breathing before the scan ({BEFORE_S[0]:g} to {BEFORE_S[1]:g} s before the "
               "first stack) to compare with")
        return Respiration(amplitude_before=None, amplitude_during=_r(_range(during), 4), ratio=None, breath_held=None,
                           released_after_s=None, status=NOT_AVAILABLE, message=why + hr_text, **common)
    amplitude_during = _range(during)
    released = None
    if not weaker and during.size:
        scan_t = t[(t >= scan_start_s) & (t <= scan_end_s)]
        level = float(median(during[scan_t <= scan_start_s + HELD_LEVEL_S]))
        away = np.flatnonzero(np.abs(during - level) > RELEASE_FRACTION * amplitude_before)
        released = float(scan_t[away[0]] - scan_start_s) if away.size else None
    ratio = None if amplitude_during is None else amplitude_during / amplitude_before
    held = None if ratio is None else bool(ratio < HELD_FRACTION and released is None)
    if held is None:
        status, text = NOT_AVAILABLE, "too few samples during the scan to tell whether the breath was held"
    elif held:
        status, text = PASS, f"breath held: amplitude {100 * ratio:.0f} % of free breathing during the scan"
    else:
        status = WARN
        text = (f"breathing during the scan: amplitude {100 * ratio:.0f} % of free breathing"
                + (f"; released {released:.1f} s after the first stack" if released is not None else ""))
    if weaker and status != NOT_AVAILABLE:
        text += " (ECG-derived: a weaker estimate)"
    return Respiration(amplitude_before=_r(amplitude_before, 4), amplitude_during=_r(amplitude_during, 4), ratio=_r(ratio, 3),
                       breath_held=held, released_after_s=_r(released, 2), status=status, message=text + hr_text, **common)


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def respiration_unavailable(trace: EcgTrace, reason: str) -> Respiration:
    """The trace could not be analysed (``reason`` says why): never a pass."""
    source = "resp channel" if trace.resp is not None else "ECG-derived respiration (R-wave amplitude; a weaker estimate)"
    return Respiration(source, trace.resp is None, None, None, None, None, None, None, None, None, None, None, NOT_AVAILABLE, reason)
