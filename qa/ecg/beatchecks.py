"""The heart-rate and rhythm checks of a gating report, from the detected R-peaks (pure)."""

from __future__ import annotations

import numpy as np

from qa.ecg.rhythm import HeartRate, Rhythm, compensatory_summary
from qa.records.checks import NOT_AVAILABLE, PASS, WARN, Check
from qa.records.plausibility import RANGES


def heart_rate_warnings(hr: HeartRate, source: str) -> tuple[str, ...]:
    """Flagged warnings about the heart rate from the ECG: RR intervals left out of it (outside
    ``hr.rr_range_s``: noise or artefacts taken for beats, or missed beats), and a mean outside the
    usual range of ``RANGES['heart_rate_bpm']``."""
    p = RANGES["heart_rate_bpm"]
    out = []
    lo, hi = hr.rr_range_s
    if hr.n_left_out:
        total = hr.n_intervals + hr.n_left_out
        out.append(f"{source}: {hr.n_left_out} of {total} RR intervals between the detected R-peaks lie outside {lo:.1f}-{hi:.1f} s "
                   f"({60 / hi:.0f}-{60 / lo:.0f} bpm) and are left out of the heart rate: noise or artefacts taken for beats, "
                   "or missed beats; check the trace")
    if hr.mean is not None and not p.is_typical(hr.mean):
        out.append(f"{source}: mean heart rate {hr.mean:.0f} bpm from the detected R-peaks is outside the usual "
                   f"{p.describe_typical()}; check the trace")
    return tuple(out)


def heart_rate_check(hr: HeartRate, maximum: float | None) -> Check:
    src = {"rule": "rules.heart_rate", "from": "ECG trace (detected R-peaks)", "rr_range_s": list(hr.rr_range_s),
           "rr_intervals": hr.n_intervals, "rr_intervals_left_out": hr.n_left_out}
    if hr.mean is None and hr.n_left_out == 0:
        return Check("heart_rate", NOT_AVAILABLE, None, maximum, "fewer than two R-peaks detected in the trace", src)
    if hr.mean is None:  # R-peaks, but no plausible interval between them: never a pass
        lo, hi = hr.rr_range_s
        return Check("heart_rate", WARN, None, maximum if maximum is None else f"<= {maximum:g}",
                     f"{hr.describe()}: the detected R-peaks are not the beats of a heart beating at {60 / hi:.0f}-{60 / lo:.0f} bpm "
                     "(noise taken for beats, or an extreme rate): check the trace", src)
    text = hr.describe()
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
    full = compensatory_summary(rhythm.premature)  # said only where RR before + after = 2 normal RR was shown
    return Check("rhythm", WARN, "; ".join(parts), "regular", "; ".join(parts) + f" in {r.size} beats" + (f"; {full}" if full else ""), src)
