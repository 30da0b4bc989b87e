"""qa gating and qa check --ecg end to end: real MIT-BIH and DICOM ECG traces, exposure CSVs, synthetic exams."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pytest

from qa.cli import main
from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _excerpt(shared_data, tmp_path, record, start_s, seconds, start_time=None):
    """A slice of a MIT-BIH record written as our CSV, with its reference beats (times, symbols)."""
    import wfdb

    from qa.ecg.evaluation import reference_beats

    rec = wfdb.rdrecord(str(shared_data / "ecg" / record))
    ann = wfdb.rdann(str(shared_data / "ecg" / record), "atr")
    fs = float(rec.fs)
    a, b = int(start_s * fs), int((start_s + seconds) * fs)
    path = tmp_path / f"{record}.csv"
    write_ecg_csv(path, np.arange(b - a) / fs, rec.p_signal[a:b, 0], start_time=start_time, fs_hz=fs, lead=rec.sig_name[0])
    ref_s, symbols = reference_beats(ann.sample, ann.symbol, fs)
    inside = (ref_s >= a / fs) & (ref_s < b / fs)
    return path, ref_s[inside] - a / fs, list(symbols[inside])


def test_an_exposure_hit_by_a_premature_beat_fails(capsys, shared_data, tmp_path):
    # record 208 has frequent PVCs: expose 150 ms at 60 % of each normal beat's predicted RR
    path, beats, symbols = _excerpt(shared_data, tmp_path, "208", 380.0, 20.0)
    rows, expected_fail = [], []
    for k in range(3, len(beats) - 1):
        if symbols[k] != "N":
            continue
        predicted = np.mean(np.diff(beats[k - 3 : k + 1]))
        start = beats[k] + 0.60 * predicted
        if abs(start + 0.15 - beats[k + 1]) < 0.05:
            continue  # within the fiducial spread of a wide ventricular complex: no clear truth
        rows.append(f"{start:.4f},0.15")
        expected_fail.append(bool(start + 0.15 > beats[k + 1]))
    assert any(expected_fail) and not all(expected_fail)  # the excerpt holds both cases
    exposures = tmp_path / "exp.csv"
    exposures.write_text("start_s,duration_s\n" + "\n".join(rows) + "\n")
    code, out, err = run(capsys, "gating", "--ecg", path, "--exposures", exposures, "--json", "--plot", tmp_path / "strip.png")
    doc = json.loads(out)
    assert doc["schema"] == "qa.gating/1" and code == 1
    assert set(doc["ecg"]) >= {"source", "sampling_rate_hz", "duration_s"}
    assert set(doc["beats"]) >= {"r_peak_times_s", "heart_rate_bpm", "ectopic_indices"}
    statuses = [e["status"] == "fail" for e in doc["exposures"]]
    assert statuses == expected_fail, (statuses, expected_fail)
    failed = [e for e in doc["exposures"] if e["status"] == "fail"]
    # the window's end lies past the next R-peak: beyond 100 % of the actual RR, never wrapped
    assert all(not e["ends_before_next_r"] for e in failed)
    assert all(e["phase_pct"] + 100.0 * 1000.0 * e["duration_s"] / 2 / e["rr_actual_ms"] > 100.0 for e in failed)
    assert any(e["ectopic_beat"] for e in failed)
    exposure = doc["exposures"][0]
    assert set(exposure) >= {"start_s", "duration_s", "rr_actual_ms", "rr_predicted_ms", "phase_pct", "delay_ms",
                             "ends_before_next_r", "ectopic_beat", "status"}
    assert (tmp_path / "strip.png").read_bytes()[:4] == b"\x89PNG"
    # every reference beat was found, from the first second on
    found = np.array(doc["beats"]["r_peak_times_s"])
    assert all(np.min(np.abs(found - b)) < 0.15 for b in beats)


def test_dicom_ecg_exposures_in_diastole_pass(capsys, shared_data, tmp_path):
    from qa.ecg.trace import read_trace

    trace = read_trace(shared_data / "ecg" / "waveform_ecg.dcm")
    from qa.ecg.gating import detect_beats

    r = detect_beats(trace)
    assert r.size == 10 or r.size == 11  # the strip's beats
    rows = [f"{a + 0.62 * (b - a):.4f},0.12" for a, b in zip(r[:-1], r[1:])]
    exposures = tmp_path / "exp.csv"
    exposures.write_text("start_s,duration_s\n" + "\n".join(rows) + "\n")
    code, out, _ = run(capsys, "gating", "--ecg", shared_data / "ecg" / "waveform_ecg.dcm", "--exposures", exposures, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] in ("pass", "warn")
    assert [e["status"] for e in doc["exposures"]] == ["pass"] * len(rows)
    # phase at the window centre, in % of the actual RR: 62 % + half of 120 ms
    expected = [100.0 * (0.62 * (b - a) + 0.06) / (b - a) for a, b in zip(r[:-1], r[1:])]
    assert [e["phase_pct"] for e in doc["exposures"]] == pytest.approx(expected, abs=0.2)
    assert all(e["ends_before_next_r"] and not e["ectopic_beat"] for e in doc["exposures"])
    # the terminal's checks table: values in display units (a heart rate in bpm, never a bare 98.3)
    heart_rate = next(c for c in doc["checks"] if c["id"] == "heart_rate")
    code, out, _ = run(capsys, "gating", "--ecg", shared_data / "ecg" / "waveform_ecg.dcm", "--exposures", exposures)
    (row,) = [line for line in out.splitlines() if line.startswith("heart_rate ")]
    assert f"{heart_rate['measured']:.4g} bpm" in row


def _synthetic_exam_with_ecg(tmp_path):
    """A synthetic gated exam at 60 bpm and its ECG, whose clock matches the scanner's (wall-clock start time)."""
    from qa.dicom.headers import headers_of
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    folder = tmp_path / "exam"
    synthesize_phantom(folder, SynthOptions(vendor="siemens", z_start_mm=-30.0, z_end_mm=72.0, matrix=128, pixel_mm=1.6,
                                            series_description="CaScore 3.0 Qr36", heart_rate_bpm=60.0, seed=5))
    h = headers_of(folder)
    first = dt.datetime.fromisoformat(h.stacks[0].acquisition_time)
    # R-peaks 0.55 s before each second of the scan: every stack starts at 55 % of a 1 s beat
    start = first - dt.timedelta(seconds=5.55)
    duration_s = 5.55 + h.stacks[-1].start_s + 4.0
    t, ecg = synthesize_ecg(beat_times(duration_s, 60.0, first_s=0.0), duration_s=duration_s, fs_hz=500.0, seed=3)
    trace = tmp_path / "ecg.csv"
    write_ecg_csv(trace, t, ecg, start_time=start, fs_hz=500.0)
    return folder, trace


def test_check_with_the_exams_ecg(capsys, tmp_path):
    """A synthetic exam and a synthetic ECG whose clock matches the scanner's: the stacks land in diastole."""
    folder, trace = _synthetic_exam_with_ecg(tmp_path)
    code, out, err = run(capsys, "check", folder, "--plot", tmp_path / "strip.png")
    assert code == 2 and "needs --ecg" in err
    code, out, err = run(capsys, "check", folder, "--ecg", trace, "--json", "--plot", tmp_path / "strip.png")
    assert (tmp_path / "strip.png").read_bytes()[:4] == b"\x89PNG"
    doc = json.loads(out)
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["heart_rate"]["measured"] == pytest.approx(60.0, abs=0.5) and "ECG trace" in checks["heart_rate"]["message"]
    assert checks["rhythm"]["status"] == "pass"
    assert checks["exposure_timing"]["status"] == "pass" and checks["exposure_timing"]["source"]["approximate"]
    assert doc["ecg"]["exposures"] and all(e["approximate"] for e in doc["ecg"]["exposures"])


@pytest.mark.parametrize("latency_ms, expected", [(20.0, "pass"), (60.0, "warn")])
def test_windows_from_the_trigger_channel_and_its_latency(capsys, tmp_path, latency_ms, expected):
    """A trace with the monitor's trigger output: windows centred at 70 % of the predicted RR, latency checked."""
    from qa.ecg.synth import trigger_channel

    r = beat_times(12.0, 60.0, first_s=0.4)
    t, ecg = synthesize_ecg(r, duration_s=12.0, fs_hz=500.0, seed=4)
    path = tmp_path / "trig.csv"
    write_ecg_csv(path, t, ecg, fs_hz=500.0, trigger=trigger_channel(t, r, delay_ms=latency_ms))
    code, out, _ = run(capsys, "gating", "--ecg", path, "--json")
    doc = json.loads(out)
    assert doc["exposure_windows_from"].startswith("trigger channel")
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["trigger_latency"]["status"] == expected
    assert checks["trigger_latency"]["source"]["median_ms"] == pytest.approx(latency_ms, abs=4.0)
    exposures = doc["exposures"]
    assert len(exposures) == r.size - 1  # the first trigger has no RR to predict from
    # centred 70 % of the (regular, 1 s) predicted RR after the trigger: phase = 70 % + the latency
    timed = exposures[:-1]  # the last window lies past the end of the trace: not available
    assert exposures[-1]["status"] == "not_available" and exposures[-1]["phase_pct"] is None
    assert all(e["phase_pct"] == pytest.approx(70.0 + latency_ms / 10.0, abs=0.5) for e in timed)
    assert all(e["status"] == "pass" for e in timed) and code == 0


def test_gating_on_a_ct_series_is_approximate_and_needs_a_time_base(capsys, tmp_path):
    from qa.dicom.headers import headers_of
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    folder = tmp_path / "exam"
    synthesize_phantom(folder, SynthOptions(vendor="ge", z_start_mm=-30.0, z_end_mm=72.0, matrix=96, pixel_mm=2.2,
                                            series_description="Cardiac Calcium Score", heart_rate_bpm=60.0, seed=6))
    h = headers_of(folder)
    first = dt.datetime.fromisoformat(h.stacks[0].acquisition_time)
    # synthesised stacks: exposure centred on 70 % of a 1-s beat, one stack every second beat
    r0 = first - dt.timedelta(seconds=0.70 - h.exposure_time_ms / 2000.0)
    # a ventricular beat at 55 % of the cycle after the beat that triggers stack 2 (beat 5 + 2)
    r = beat_times(14.0, 60.0, first_s=0.0, premature_at={8: 0.55})
    t, ecg = synthesize_ecg(r, duration_s=14.0, fs_hz=500.0, ventricular={8}, seed=2)
    with_clock, without = tmp_path / "ecg.csv", tmp_path / "ecg-no-clock.csv"
    write_ecg_csv(with_clock, t, ecg, start_time=r0 - dt.timedelta(seconds=5.0), fs_hz=500.0)
    write_ecg_csv(without, t, ecg, fs_hz=500.0)

    code, out, _ = run(capsys, "gating", "--ecg", with_clock, "--series", folder, "--json")
    doc = json.loads(out)
    statuses = [e["status"] for e in doc["exposures"]]
    assert len(statuses) == len(h.stacks) == 3 and all(e["approximate"] for e in doc["exposures"])
    # stack 2 ran into the premature beat: a warning, not a failure, since the clocks are not synchronised
    assert statuses == ["pass", "warn", "pass"] and code == 0
    hit = doc["exposures"][1]
    assert hit["ends_before_next_r"] is False and hit["ectopic_beat"] and hit["phase_pct"] > 100.0
    assert "approximate" in hit["message"]

    code, out, _ = run(capsys, "gating", "--ecg", without, "--series", folder, "--json")
    doc = json.loads(out)
    timing = {c["id"]: c for c in doc["checks"]}["exposure_timing"]
    assert timing["status"] == "not_available" and "start time" in timing["message"] and code == 0


def test_an_ecg_start_time_with_an_offset_is_the_same_instant(capsys, tmp_path, monkeypatch):
    """The recorder wrote its start time in UTC, the CT its wall-clock time: the exposures land on
    the same beats as with a wall-clock start time (the site here: Central Europe)."""
    import time

    from qa.workflows.exam import check_exam_files

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        folder, trace = _synthetic_exam_with_ecg(tmp_path)
        local = check_exam_files([folder], ecg=trace)
        text = trace.read_text()
        wall = dt.datetime.fromisoformat(re.search(r"# start_time=(\S+)", text).group(1))
        utc = wall.astimezone(dt.timezone.utc)  # the wall-clock time is Berlin's: the same instant in UTC
        shifted = tmp_path / "utc.csv"
        shifted.write_text(text.replace(f"# start_time={wall.isoformat()}", f"# start_time={utc.isoformat()}"))
        assert shifted.read_text() != text
        as_utc = check_exam_files([folder], ecg=shifted)
    finally:
        monkeypatch.undo()
        time.tzset()
    timing = [(e.start_s, e.phase_pct, e.status) for e in local.checklist.ecg.exposures]
    assert timing and timing == [(e.start_s, e.phase_pct, e.status) for e in as_utc.checklist.ecg.exposures]
