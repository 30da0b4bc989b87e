"""The exam's time line: heart beats, the stacks' exposures, and the breathing (respiratory bellows) trace.

All times are seconds from the start of the ECG trace (which is also the study's start).  The
first stack is triggered by the first R-peak at least ``lead_in_s`` into the trace, each later
stack ``beats_per_stack`` beats after the previous one (step-and-shoot: the table moves in the
beat between); each exposure (one rotation) is centred on ``phase_pct`` of the RR interval the
scanner predicts (the previous one).  The patient breathes freely (15 breaths a minute), breathes
in deeply and holds the breath ``HOLD_BEFORE_SCAN_S`` before the first exposure, and breathes out
again after the last exposure (``held``), at a chosen time during the scan (``released-at-S``),
or never holds it (``free``).  During the hold the bellows signal stays flat but for a slow drift
(the diaphragm relaxes during a breath-hold; Khot et al., BJR 2020: up to 5.6 mm after 24 s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.exam_synth.options import ExamSynthOptions, parse_resp

BREATH_PERIOD_S = 4.0  # quiet breathing, 15 breaths a minute (illustrative)
HOLD_BEFORE_SCAN_S = 4.0  # the breath is held this long before the first exposure (technologists wait 3-5 s)
INHALE_S, EXHALE_S = 2.0, 1.0  # transitions into and out of the hold
HOLD_LEVEL = 1.3  # deep inspiration, in units of the quiet breath's amplitude (0 = end expiration, 1 = end inspiration)
HOLD_DRIFT_PER_S = -0.01  # the slow relaxation during the hold
AFTER_SCAN_S = 5.0  # trace recorded after the last exposure
FS_HZ = 500.0


@dataclass(frozen=True, eq=False)
class Timeline:
    r_peak_s: np.ndarray
    trigger_beats: tuple[int, ...]  # index of each stack's triggering R-peak
    exposure_start_s: tuple[float, ...]
    mode: str  # held | free | released
    hold_start_s: float | None
    release_s: float | None  # when breathing resumes (None: never held)
    duration_s: float
    heart_rate_start_bpm: float
    heart_rate_end_bpm: float

    def truth(self, opts: ExamSynthOptions) -> dict:
        first, last_end = self.exposure_start_s[0], self.exposure_start_s[-1] + opts.rotation_time_s
        return {
            "mode": self.mode,
            "hold_start_s": self.hold_start_s,
            "release_s": self.release_s,
            "released_during_scan": self.release_s is not None and first <= self.release_s < last_end,
            "first_exposure_s": first,
            "last_exposure_end_s": last_end,
            "breath_period_s": BREATH_PERIOD_S,
            "heart_rate_start_bpm": self.heart_rate_start_bpm,
            "heart_rate_end_bpm": self.heart_rate_end_bpm,
        }


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def timeline(opts: ExamSynthOptions) -> Timeline:
    hr0 = opts.heart_rate_bpm
    hr1 = hr0 + opts.heart_rate_change_bpm
    scan_s = opts.scan_duration_s
    hold_nominal = opts.lead_in_s - HOLD_BEFORE_SCAN_S
    horizon = opts.lead_in_s + scan_s * max(1.0, hr0 / min(hr0, hr1)) + 2 * 60.0 / min(hr0, hr1) + AFTER_SCAN_S + 10.0
    beats = [0.4]
    while beats[-1] < horizon:  # the heart rate changes linearly across the breath-hold (Valsalva, anxiety)
        ramp = np.clip((beats[-1] - hold_nominal) / max(scan_s + HOLD_BEFORE_SCAN_S, 1e-6), 0.0, 1.0)
        beats.append(beats[-1] + 60.0 / (hr0 + (hr1 - hr0) * float(ramp)))
    r = np.asarray(beats)
    b0 = int(np.searchsorted(r, opts.lead_in_s))
    trigger = tuple(b0 + k * opts.beats_per_stack for k in range(opts.stacks))
    starts = []
    for b in trigger:
        predicted_rr = r[b] - r[b - 1]
        starts.append(float(r[b] + opts.phase_pct / 100.0 * predicted_rr - opts.rotation_time_s / 2.0))
    first, last_end = starts[0], starts[-1] + opts.rotation_time_s
    mode, release_after = parse_resp(opts.resp)
    hold = release = None
    if mode != "free":
        hold = first - HOLD_BEFORE_SCAN_S
        release = first + release_after if mode == "released" else last_end + 1.0
    duration = max(last_end, release or 0.0) + AFTER_SCAN_S
    return Timeline(r[r < duration], trigger, tuple(starts), mode, hold, release, float(duration), hr0, hr1)


def respiration(line: Timeline, time_s: np.ndarray, seed: int) -> np.ndarray:
    """The bellows signal (arbitrary units) at ``time_s``: quiet breathing, the hold, and after it."""
    breathing = 0.5 - 0.5 * np.cos(2.0 * np.pi * time_s / BREATH_PERIOD_S)
    if line.hold_start_s is None:
        held = np.zeros_like(time_s)
        level = np.zeros_like(time_s)
    else:
        into = _smoothstep((time_s - (line.hold_start_s - INHALE_S)) / INHALE_S)
        out_of = 1.0 - _smoothstep((time_s - line.release_s) / EXHALE_S)
        held = into * out_of
        level = HOLD_LEVEL + HOLD_DRIFT_PER_S * np.clip(time_s - line.hold_start_s, 0.0, None)
    noise = np.random.default_rng(seed + 7).normal(0.0, 0.005, time_s.size)
    return (1.0 - held) * breathing + held * level + noise
