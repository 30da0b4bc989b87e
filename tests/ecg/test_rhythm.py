"""Rhythm from R-peak times: heart rate, premature beats (checked against the MIT-BIH beat labels), AF suspicion."""

from __future__ import annotations

import numpy as np
import pytest

from qa.ecg.evaluation import reference_beats
from qa.ecg.rhythm import analyze_rhythm, local_median_rr, rr_intervals_ms, turning_points

wfdb = pytest.importorskip("wfdb", reason="the wfdb extra reads the MIT-BIH annotations (pip install -e '.[test]')")


def annotated(shared_data, name):
    ann = wfdb.rdann(str(shared_data / "ecg" / name), "atr")
    return reference_beats(ann.sample, ann.symbol, ann.fs)


def test_heart_rate_of_a_regular_trace():
    r = np.arange(0.0, 30.0, 0.8)  # 75 bpm
    rhythm = analyze_rhythm(r)
    assert rhythm.heart_rate_bpm.to_dict() == {"mean": 75.0, "min": 75.0, "max": 75.0, "sd": 0.0, "rr_range_s": [0.3, 2.0],
                                               "n_intervals": r.size - 1, "n_left_out": 0}
    assert rhythm.premature == () and rhythm.af_suspected is False
    assert rhythm.rr_ms == pytest.approx([800.0] * (r.size - 1))
    assert "75 bpm" in rhythm.message


def test_mean_heart_rate_is_beats_per_minute_not_the_mean_of_rates():
    r = np.cumsum([0.0, 0.5, 1.5, 0.5, 1.5])  # 4 intervals, 4 s: 60 bpm, though the rates are 120 and 40
    hr = analyze_rhythm(r).heart_rate_bpm
    assert hr.mean == 60.0 and hr.min == 40.0 and hr.max == 120.0


def test_a_gap_in_the_recording_is_not_an_rr_interval():
    r = np.r_[np.arange(0.0, 10.0, 1.0), np.arange(30.0, 40.0, 1.0)]
    assert np.isnan(rr_intervals_ms(r, [(9.5, 29.5)])[9])
    rhythm = analyze_rhythm(r, gaps_s=[(9.5, 29.5)])
    assert rhythm.heart_rate_bpm.min == 60.0 and rhythm.to_dict()["rr_ms"][9] is None
    # without the gap, the 20-s "interval" is no plausible RR: left out of the heart rate, and counted
    hr = analyze_rhythm(r).heart_rate_bpm
    assert hr.min == 60.0 and hr.n_left_out == 1 and hr.n_intervals == 18


def test_heart_rate_min_and_max_come_from_plausible_rr_intervals_and_say_so():
    # a double detection (0.1 s) and a missed beat (2.4 s) in a 70-bpm trace: neither is a heart rate
    rr = [60 / 70] * 10 + [0.1, 60 / 70 - 0.1] + [60 / 70] * 5 + [2.4] + [60 / 70] * 5
    rhythm = analyze_rhythm(np.r_[0.0, np.cumsum(rr)])
    hr = rhythm.heart_rate_bpm
    assert (hr.n_left_out, hr.n_intervals) == (2, len(rr) - 2) and 30 <= hr.min <= hr.max <= 200
    assert hr.max < 90 and hr.min > 69  # the 0.76-s interval after the double detection is the fastest kept
    assert "from RR intervals 0.3-2.0 s; 2 outside left out" in hr.describe() and hr.describe() in rhythm.message


def test_isolated_pvc_with_a_compensatory_pause_and_an_apc_without():
    rr = [1.0] * 8 + [0.6, 1.4] + [1.0] * 8 + [0.7, 1.0] + [1.0] * 8
    r = np.r_[0.0, np.cumsum(rr)]
    rhythm = analyze_rhythm(r)
    assert rhythm.premature_indices == (9, 19)
    pvc, apc = rhythm.premature
    assert pvc.coupling_pct == pytest.approx(60.0) and pvc.pause_pct == pytest.approx(140.0) and pvc.compensatory
    assert apc.coupling_pct == pytest.approx(70.0) and apc.compensatory is False
    assert rhythm.af_suspected is False
    assert "2 premature beat(s), 1 with a full compensatory pause" in rhythm.message


def test_bigeminy_every_other_beat_is_premature_and_is_not_af():
    rng = np.random.default_rng(1)
    rr = np.tile([0.55, 1.25], 20) + rng.normal(0.0, 0.01, 40)
    rhythm = analyze_rhythm(np.r_[0.0, np.cumsum(rr)])
    # no normal (sinus-to-sinus) RR to compare with: the pause is never called compensatory, nor said to be
    assert len(rhythm.premature) == 20 and all(p.compensatory is None and p.normal_rr_ms is None for p in rhythm.premature)
    assert "compensatory" not in rhythm.message
    assert not rhythm.af_suspected
    assert local_median_rr(rr)[5] == pytest.approx(0.9, abs=0.02)  # the underlying cycle, not 0.55 or 1.25


def test_atrial_fibrillation_is_suspected_on_irregularly_irregular_rr():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(20):
        rr = rng.uniform(0.45, 1.1, 30)  # AF: RR without pattern over a wide range
        hits += bool(analyze_rhythm(np.r_[0.0, np.cumsum(rr)]).af_suspected)
    assert hits >= 18
    # respiratory sinus arrhythmia is smooth (few turning points): not AF
    k = np.arange(60)
    rr = 0.9 + 0.08 * np.sin(2 * np.pi * k / 5) + rng.normal(0.0, 0.005, 60)
    assert analyze_rhythm(np.r_[0.0, np.cumsum(rr)]).af_suspected is False
    # too short to judge
    assert analyze_rhythm(np.r_[0.0, np.cumsum(rng.uniform(0.45, 1.1, 6))]).af_suspected is None


def test_turning_points():
    assert turning_points([1, 2, 1, 2, 1]) == 3
    assert turning_points([1, 2, 3, 4]) == 0


def test_premature_beats_of_the_mitbih_records(shared_data):
    """RR alone finds the supraventricular premature beats; late-coupled PVCs of 208 are not premature by RR."""
    for name, symbol, min_recall in (("100", "A", 0.85), ("800", "S", 0.80)):
        times, symbols = annotated(shared_data, name)
        rhythm = analyze_rhythm(times)
        flagged = symbols[list(rhythm.premature_indices)]
        recall = np.isin(np.flatnonzero(symbols == symbol), rhythm.premature_indices).mean()
        assert recall >= min_recall, (name, recall)
        assert np.sum(flagged == "N") <= 0.001 * np.sum(symbols == "N")  # normal beats are not called premature
        assert rhythm.af_suspected is False
    times, symbols = annotated(shared_data, "208")
    rhythm = analyze_rhythm(times)
    v = np.flatnonzero(symbols == "V")
    found = np.isin(v, rhythm.premature_indices)
    assert 0.4 <= found.mean() <= 0.6  # about half of 208's 992 PVCs come under 80 % of the cycle
    assert np.sum(symbols[list(rhythm.premature_indices)] == "N") <= 0.01 * np.sum(symbols == "N")
    # the late-coupled PVCs left out really are late: over 80 % of the local cycle
    missed = v[~found]
    rr = np.diff(times) * 1000.0
    assert np.median(rr[missed - 1] / local_median_rr(rr)[missed - 1]) > 0.8


def test_no_af_in_one_minute_windows_of_normal_sinus_record_100(shared_data):
    times, _ = annotated(shared_data, "100")
    windows = [times[(times >= a) & (times < a + 60.0)] for a in np.arange(0.0, times[-1] - 60.0, 60.0)]
    assert len(windows) >= 29
    assert not any(analyze_rhythm(w).af_suspected for w in windows)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="increasing"):
        analyze_rhythm([1.0, 0.5, 2.0])
    assert analyze_rhythm([]).heart_rate_bpm.mean is None
    assert analyze_rhythm([1.0]).message.startswith("fewer than two")
