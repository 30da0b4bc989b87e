"""What the gating analysis needs to know about each beat beyond its time: is the signal around it
good enough to judge, and is it a ventricular ectopic beat?  (Pure; used by :mod:`qa.ecg.gating`.)

* An exposure whose surroundings (its predicting beats to its next R-peak) lie in a stretch too
  noisy to judge (:mod:`qa.ecg.quality`) is ``not_available`` with the reason: never a pass or a fail
  judged on noise.
* An exposure is **ectopic-affected** when a ventricular beat (by shape, :mod:`qa.ecg.morphology`)
  is its triggering beat or has its R-peak inside the exposure window, whatever its coupling
  interval (a late-coupled PVC is not premature by RR, but the heart's motion after it is not a sinus
  beat's).  Such an exposure that would pass warns instead.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qa.ecg.morphology import BeatClasses, classify_trace_beats
from qa.ecg.quality import SignalQuality, assess_trace_quality, noise_verdict
from qa.records.checks import NOT_AVAILABLE, PASS, WARN


def beat_context(trace, r_peak_s: np.ndarray, *, envelopes: dict | None = None) -> tuple[SignalQuality, BeatClasses]:
    """Signal quality of the trace and the class of each beat (noisy beats "unknown"), in bounded memory.
    ``envelopes``: QRS envelopes the detection left (:func:`qa.ecg.gating.detect_beats`), used up here."""
    r = np.asarray(r_peak_s, dtype=float)
    quality = assess_trace_quality(trace, r, envelopes=envelopes)
    classes = classify_trace_beats(trace, r, judgeable=quality.good_at(r))
    return quality, classes


def judge_in_context(timings, r_peak_s: np.ndarray, quality: SignalQuality, classes: BeatClasses) -> list:
    """The exposure timings (:class:`qa.ecg.gating.ExposureTiming`) with noise and ventricular beats taken into account."""
    r = np.asarray(r_peak_s, dtype=float)
    if len(classes.labels) != r.size:
        raise ValueError(f"{len(classes.labels)} beat classes for {r.size} R-peaks: they must be of the same beats")
    ventricular = r[classes.ventricular]
    out = []
    for t in timings:
        end = t.start_s + t.duration_s
        if t.trigger_r_s is not None or t.status != NOT_AVAILABLE:
            why = noise_verdict(quality, t.trigger_r_s, t.next_r_s, t.start_s, end)
            if why is not None:
                out.append(replace(t, status=NOT_AVAILABLE, message=why))
                continue
        hits = []
        if t.trigger_r_s is not None and np.any(np.isclose(ventricular, t.trigger_r_s, atol=1e-9)):
            hits.append("the triggering beat is ventricular")
        inside = ventricular[(ventricular >= t.start_s) & (ventricular <= end)]
        if inside.size:
            hits.append(f"a ventricular beat at {inside[0]:.3f} s falls inside the window")
        if not hits:
            out.append(t)
            continue
        note = "ectopic-affected: " + " and ".join(hits) + " (by QRS shape, whatever its coupling)"
        status = WARN if t.status == PASS else t.status
        out.append(replace(t, ectopic_beat=True, status=status, message=f"{t.message}; {note}"))
    return out


__all__ = ["beat_context", "judge_in_context"]
