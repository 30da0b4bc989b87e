"""The heart-rate and rhythm checks of a gating report, from the detected R-peaks (pure)."""

from __future__ import annotations

import numpy as np

from qa.ecg.rhythm import HeartRate, Rhythm
from qa.records.checks import NOT_AVAILABLE, PASS, WARN, Check
from qa.records.plausibility import RANGES


def heart_rate_warnings(hr: HeartRate, source: str) -> tuple[str, ...]:
    """Flagged warnings for a heart rate from the ECG outside ``RANGES['heart_rate_bpm']``: outside the
    limits the R-peaks cannot be beats of a human heart (noise or artefacts were detected)."""
    p = RANGES["heart_rate_bpm"]
    out = []
    for name, value in (("mean", hr.mean), ("min", hr.min), ("max", hr.max)):
        if value is None:
            continue
        if not p.is_possible(value):
            out.append(f"{source}: {name} heart rate {value:.0f} bpm from the detected R-peaks is impossible (possible: "
                       f"{p.describe_limits()}): noise or artefacts were taken for beats; check the trace")
        elif not p.is_typical(value):
            out.append(f"{source}: {name} heart rate {value:.0f} bpm from the detected R-peaks is outside the usual "
                       f"{p.describe_typical()}; check the trace")
    return tuple(out)


def heart_rate_check(hr: HeartRate, maximum: float | None) -> Check:
    src = {"rule": "rules.heart_rate", "from": "ECG trace (detected R-peaks)"}
    if hr.mean is None:
        return Check("heart_rate", NOT_AVAILABLE, None, maximum, "fewer than two R-peaks detected in the trace", src)
    text = f"{hr.mean:.0f} bpm (beats {hr.min:.0f}-{hr.max:.0f})"
    p = RANGES["heart_rate_bpm"]
    if not (p.is_possible(hr.mean) and p.is_possible(hr.min) and p.is_possible(hr.max)):
        return Check("heart_rate", WARN, round(hr.mean, 1), maximum if maximum is None else f"<= {maximum:g}",
                     f"{text}: impossible for a human heart ({p.describe_limits()}): the detected R-peaks are not all beats",
                     src)
    if maximum is None:
        return Check("heart_rate", PASS, round(hr.mean, 1), None, text, src)
    ok = hr.mean <= maximum
    return Check("heart_rate", PASS if ok else WARN, round(hr.mean, 1), f"<= {maximum:g}",
                 f"{text} {'within' if ok else 'above'} {maximum:g} bpm", src)


def rhythm_check(rhythm: Rhythm, premature: set[int], r: np.ndarray) -> Check:
    src = {"rule": "rhythm", "from": "ECG trace (detected R-peaks)"}
    if r.size < 3:
        return Check("rhythm", NOT_AVAILABLE, None, "regular", "too few beats to judge the rhythm", src)
    af = bool(rhythm.af_suspected)
    parts = []
    if premature:
        parts.append(f"{len(premature)} premature beat(s)")
    if af:
        parts.append("irregularly irregular RR: atrial fibrillation suspected (or frequent ectopic beats)")
    if not parts:
        return Check("rhythm", PASS, "regular", "regular", f"regular rhythm over {r.size} beats", src)
    return Check("rhythm", WARN, "; ".join(parts), "regular", "; ".join(parts) + f" in {r.size} beats", src)
