"""The ECG synthesiser puts every beat where it is told: our detector and rhythm analysis find them there."""

from __future__ import annotations

import numpy as np

from qa.ecg.rhythm import analyze_rhythm
from qa.ecg.rpeaks import detect_r_peaks
from qa.ecg.synth import beat_times, synthesize_ecg, trigger_channel, write_ecg_csv
from qa.ecg.trace import read_trace


def test_beats_land_where_they_were_put_and_the_pvc_is_premature(tmp_path):
    r = beat_times(20.0, 72.0, premature_at={8: 0.6, 15: 0.7}, compensatory=True)
    assert abs(r[8] - r[7] - 0.5) < 1e-9  # 60 % of the 833-ms cycle
    assert abs((r[9] - r[7]) - 2 * 60 / 72) < 1e-9  # full compensatory pause
    t, ecg = synthesize_ecg(r, duration_s=20.0, fs_hz=500.0, ventricular={8})
    write_ecg_csv(tmp_path / "e.csv", t, ecg, fs_hz=500.0, trigger=trigger_channel(t, r))
    trace = read_trace(tmp_path / "e.csv")
    rising = np.flatnonzero(np.diff(trace.trigger.astype(int)) == 1) + 1
    assert rising.size == r.size and np.allclose(trace.time_s[rising] - r, 0.020, atol=0.0021)  # 20 ms after each R
    found = trace.time_s[detect_r_peaks(trace.ecg_mv, trace.fs_hz)]
    assert found.size == r.size and np.max(np.abs(found - r)) <= 0.004
    assert analyze_rhythm(found).premature_indices == (8, 15)


def test_without_compensation_the_rhythm_resets():
    r = beat_times(10.0, 60.0, premature_at={4: 0.7}, compensatory=False)
    assert np.isclose(np.diff(r)[3], 0.7) and np.allclose(np.diff(r)[4:], 1.0)
