"""Gating timing on known beats and windows: triggering beat, phases never wrapped, failures, latency."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from qa.records.checks import FAIL, NOT_AVAILABLE, PASS, WARN
from qa.dicom.headers import Stack
from qa.ecg.gating import (
    ExposureWindow,
    gating_checks,
    rising_edges,
    time_exposures,
    trigger_latency,
    windows_from_stacks,
)
from qa.ecg.trace import read_exposures_csv
from qa.errors import InputError

BEATS = np.arange(0.0, 10.0, 1.0)  # 60 bpm


def _w(start, duration=0.2, approximate=False):
    return ExposureWindow(start, duration, "test", approximate=approximate)


def test_an_exposure_in_mid_diastole_passes():
    (t,) = time_exposures(BEATS, [_w(3.6)])  # centre at 3.7 s: 70 % of the beat 3 -> 4
    assert t.trigger_r_s == 3.0 and t.next_r_s == 4.0 and t.rr_actual_ms == pytest.approx(1000.0)
    assert t.delay_ms == pytest.approx(600.0) and t.phase_pct == pytest.approx(70.0)
    assert t.rr_predicted_ms == pytest.approx(1000.0) and t.ends_before_next_r and not t.ectopic_beat and t.status == PASS


def test_a_premature_next_beat_gives_a_phase_above_100_and_fails():
    beats = np.array([0.0, 1.0, 2.0, 3.0, 3.55, 4.8, 5.8])  # beat 4 comes early (premature)
    (t,) = time_exposures(beats, [_w(3.5)], premature={4})
    assert t.trigger_r_s == 3.0 and t.next_r_s == 3.55
    assert t.phase_pct == pytest.approx(100 * 0.6 / 0.55)  # the centre lies 50 ms past the next R
    assert t.phase_pct > 100.0  # never wrapped or clamped
    assert not t.ends_before_next_r and t.ectopic_beat and t.status == FAIL
    assert t.rr_predicted_ms == pytest.approx(1000.0) and t.rr_actual_ms == pytest.approx(550.0)


def test_the_triggering_beat_is_at_least_150_ms_before_the_window():
    # the window opens 100 ms after the R at 4 s: the scanner could not have reacted to it
    (t,) = time_exposures(BEATS, [_w(4.1)])
    assert t.trigger_r_s == 3.0 and t.phase_pct == pytest.approx(120.0) and t.status == FAIL
    (t,) = time_exposures(BEATS, [_w(4.1)], min_lead_ms=50.0)
    assert t.trigger_r_s == 4.0


def test_outside_the_phase_window_warns_and_approximate_windows_never_fail():
    (t,) = time_exposures(BEATS, [_w(3.3)])
    assert t.status == WARN and t.phase_pct == pytest.approx(40.0)
    (t,) = time_exposures(BEATS, [_w(3.9, approximate=True)])
    assert not t.ends_before_next_r and t.status == WARN and "approximate" in t.message


def test_windows_outside_the_trace_are_not_available():
    first, last = time_exposures(BEATS, [_w(0.05), _w(9.5)])
    assert first.status == NOT_AVAILABLE and "starts too late" in first.message
    assert last.status == NOT_AVAILABLE and "ends too early" in last.message


def test_exposure_timing_and_trigger_latency_checks():
    timings = time_exposures(BEATS, [_w(2.6), _w(3.6), _w(4.9)])
    check = {c.id: c for c in gating_checks(timings, phase_window_pct=(60.0, 80.0))}["exposure_timing"]
    # what was measured, never "in diastole"
    assert check.status == FAIL and check.measured == "2 of 3 within the 60-80 % phase window" and "#3" in check.message
    assert check.expected == "every exposure within the 60-80 % phase window"
    triggers = BEATS[1:] + np.array([0.010, 0.012, 0.015, 0.020, 0.011, 0.013, 0.018, 0.040, 0.012])
    latency = trigger_latency(triggers, BEATS)
    assert np.nanmax(latency) == pytest.approx(40.0)
    checks = {c.id: c for c in gating_checks(timings, latency_ms=latency, latency_limit_ms=35.0)}
    assert checks["trigger_latency"].status == WARN and checks["trigger_latency"].measured == pytest.approx(40.0)
    assert checks["trigger_latency"].source["median_ms"] == pytest.approx(13.0)
    assert gating_checks([])[0].status == NOT_AVAILABLE


def test_trigger_channel_edges():
    n = np.arange(3000)
    t = n / 1000.0
    trigger = ((n % 1000) >= 21) & ((n % 1000) < 50)
    assert rising_edges(trigger, t) == pytest.approx([0.021, 1.021, 2.021], abs=1e-6)


def test_ct_stack_windows_need_a_time_base():
    stacks = (Stack(0, 12, 0.0, 33.0, "2026-03-02T07:31:10", 0.0), Stack(1, 12, 36.0, 69.0, "2026-03-02T07:31:12", 2.0))
    windows, why = windows_from_stacks(stacks, None, 0.3)
    assert windows == [] and "no absolute start time" in why
    windows, why = windows_from_stacks(stacks, dt.datetime(2026, 3, 2, 7, 31, 5), 0.3)
    assert why is None and [w.start_s for w in windows] == [5.0, 7.0] and all(w.approximate for w in windows)


def test_exposure_csv(tmp_path):
    path = tmp_path / "exp.csv"
    path.write_text("start_s,duration_s\n3.6,0.2\n4.6,0.2\n")
    assert read_exposures_csv(path) == [(3.6, 0.2), (4.6, 0.2)]
    path.write_text("start,duration\n3.6,0.2\n")
    with pytest.raises(InputError, match="start_s,duration_s"):
        read_exposures_csv(path)
    path.write_text("start_s,duration_s\n3.6,-1\n")
    with pytest.raises(InputError, match="impossible") as info:
        read_exposures_csv(path)
    assert info.value.field == "duration_s, line 2"


def test_the_strip_shows_the_stretches_around_the_exposures_problems_first():
    from qa.report.plots import ecg_strip_png, strip_panels

    r = np.arange(0.3, 1800.0, 0.8)
    windows = [ExposureWindow(s, 0.1, "test") for s in [10.0, 10.8, 11.6, 300.0, *np.arange(400.0, 1600.0, 100.0)]]
    windows.append(ExposureWindow(1700.25, 0.6, "test"))  # runs into the next beat
    timings = time_exposures(r, windows, phase_window_pct=(60.0, 80.0))
    assert timings[-1].status == FAIL
    t = np.arange(0.0, 1800.0, 0.01)
    ranges, left_out = strip_panels(t, timings)
    assert len(ranges) == 6 and left_out == 9  # 15 groups of nearby exposures
    assert ranges[0] == pytest.approx((7.0, 13.7)) and ranges[-1] == pytest.approx((1697.25, 1702.85))
    assert strip_panels(t, [])[0] == [(0.0, 20.0)]
    ecg = np.exp(-(((t - 0.3) % 0.8) / 0.01) ** 2)
    png = ecg_strip_png(t, ecg, r, {5}, timings, (60.0, 80.0), title="test")
    assert png[:4] == b"\x89PNG"


def test_a_recording_gap_makes_the_exposures_around_it_not_available():
    beats = np.r_[np.arange(0.0, 10.0, 1.0), np.arange(20.0, 30.0, 1.0)]  # no beat known in 9-20 s
    gaps = [(9.05, 19.95)]
    windows = [_w(15.0), _w(20.05), _w(8.6, 0.2), _w(24.6)]  # #2: its last R 150 ms before lies before the gap
    t = time_exposures(beats, windows, gaps_s=gaps)
    assert [x.status for x in t] == [NOT_AVAILABLE, NOT_AVAILABLE, PASS, PASS]
    assert "recording gap" in t[0].message and "recording gap" in t[1].message
    # the RR predicted after the gap uses no interval across it
    assert t[3].rr_predicted_ms == pytest.approx(1000.0)
    # without the gap information the window would be timed against an 11-s "beat" from 9 s
    assert time_exposures(beats, windows)[1].trigger_r_s == 9.0


def test_nothing_verified_is_never_a_silent_pass(tmp_path):
    from qa.ecg.gating import analyze_gating
    from qa.ecg.synth import beat_times, synthesize_ecg
    from qa.ecg.trace import EcgTrace
    from qa.procedures import load_protocol

    r = beat_times(10.0, 60.0)
    t, ecg = synthesize_ecg(r, duration_s=10.0)
    trace = EcgTrace.from_times(500.0, t, ecg, lead="II", source="synthetic", start_time=None)
    settings = load_protocol("cac-standard").gating
    report = analyze_gating(trace, [], settings, phase_window_pct=(60.0, 80.0), time_base_note="no time base")
    assert report.verdict == WARN and any("could not be checked" in n for n in report.notes)
    # with a trigger channel the windows come from it, and the source says so
    from qa.ecg.synth import trigger_channel

    trace = EcgTrace.from_times(500.0, t, ecg, lead="II", source="synthetic", start_time=None,
                     trigger=trigger_channel(t, r).astype(bool))
    report = analyze_gating(trace, [], settings, phase_window_pct=(60.0, 80.0),
                            windows_source="CT stack acquisition times (approximate)", time_base_note="no time base")
    assert report.exposure_windows_from.startswith("trigger channel") and report.exposures
    assert any("the trigger channel is used instead" in n for n in report.notes)
