"""Impossible and unusual ECG values (issue 11, point 1, the ECG part): an absurd sample is refused
with its time, an unusual one is flagged and can never improve a verdict, heart rates from the
trace outside the plausible range are flagged, and exposure CSVs with impossible rows are refused
with the row and column named (unsorted rows and windows outside the trace flagged)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.cli import main
from qa.ecg.synth import beat_times, synthesize_ecg
from qa.records.plausibility import RANGES

FS = 500.0
LIMITS = RANGES["ecg_mv"].limits
TYPICAL = RANGES["ecg_mv"].typical


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _csv(path, t, ecg, column="ecg_mv", scale=1.0):
    path.write_text(f"time_s,{column}\n" + "".join(f"{a:.4f},{v * scale:.6g}\n" for a, v in zip(t, ecg)))
    return path


@pytest.fixture
def failing_exam(tmp_path):
    """A trace whose second exposure runs into a premature beat (FAIL), and its exposure CSV."""
    r = beat_times(20.0, 60.0, first_s=0.4, premature_at={10: 0.7})
    t, ecg = synthesize_ecg(r, duration_s=20.0, fs_hz=FS, ventricular={10}, seed=1)
    exposures = tmp_path / "exposures.csv"
    exposures.write_text(f"start_s,duration_s\n{r[4] + 0.6:.3f},0.2\n{r[9] + 0.6:.3f},0.2\n")
    return r, t, ecg, exposures


def _gating(capsys, trace, exposures):
    code, out, err = run(capsys, "gating", "--ecg", trace, "--exposures", exposures, "--json")
    return code, json.loads(out), err


def test_the_failing_exam_fails(capsys, tmp_path, failing_exam):
    r, t, ecg, exposures = failing_exam
    code, doc, _ = _gating(capsys, _csv(tmp_path / "clean.csv", t, ecg), exposures)
    assert code == 1 and doc["verdict"] == "fail" and doc["exposures"][1]["status"] == "fail"


@pytest.mark.parametrize("after_premature_s", [0.1, 0.15, 0.18, 0.25, 0.4])
@pytest.mark.parametrize("spike_mv", [LIMITS[1] * 0.9, LIMITS[0] * 0.9, TYPICAL[1] * 0.9, 1e12, -1e12])
def test_a_single_spike_never_improves_a_failing_verdict(capsys, tmp_path, failing_exam, after_premature_s, spike_mv):
    """Just after the premature beat a spike could take its place as the 'next R-peak' and turn the FAIL into a
    pass: an absurd one is refused, a possible one is judged both ways and the worse verdict kept."""
    r, t, ecg, exposures = failing_exam
    spiked = ecg.copy()
    k = int(round((r[10] + after_premature_s) * FS))
    spiked[k] = spike_mv
    code, doc, err = _gating(capsys, _csv(tmp_path / "spike.csv", t, spiked), exposures)
    if not LIMITS[0] <= spike_mv <= LIMITS[1]:
        assert code == 2 and doc["schema"] == "qa.error/1"
        assert doc["error"]["field"] == f"ecg_mv, line {k + 2}"
        assert f"{t[k]:.3f} s" in doc["error"]["message"] and "cannot reach" in doc["error"]["message"]
        return
    assert code == 1 and doc["verdict"] == "fail" and doc["exposures"][1]["status"] == "fail"
    assert any("judged both" in w for w in doc["warnings"])
    assert "judged both" in err  # flagged in the terminal too


def test_an_absurd_sample_in_microvolts_is_refused_like_one_in_millivolts(capsys, tmp_path, failing_exam):
    r, t, ecg, exposures = failing_exam
    spiked = ecg.copy()
    spiked[3000] = 1e12
    code, doc, _ = _gating(capsys, _csv(tmp_path / "uv.csv", t, spiked, column="ecg_uv", scale=1000.0), exposures)
    assert code == 2 and doc["error"]["field"] == "ecg_uv, line 3002"


def test_an_unusual_amplitude_is_flagged_in_json_and_terminal(capsys, tmp_path, failing_exam):
    r, t, ecg, exposures = failing_exam
    loud = ecg.copy()
    loud[2000:2010] = TYPICAL[1] * 1.5  # a 10-sample plateau: no one-sample spike, an unusual amplitude
    code, doc, err = _gating(capsys, _csv(tmp_path / "loud.csv", t, loud), exposures)
    assert code == 1 and doc["verdict"] == "fail"
    assert any("beyond the usual" in w and "4.000 s" in w for w in doc["warnings"])
    assert "beyond the usual" in err


def test_heart_rates_outside_the_usual_range_are_flagged(capsys, tmp_path):
    fast_bpm = RANGES["heart_rate_bpm"].typical[1] * 1.1
    r = beat_times(12.0, fast_bpm, first_s=0.3)
    t, ecg = synthesize_ecg(r, duration_s=12.0, fs_hz=FS)
    code, out, err = run(capsys, "gating", "--ecg", _csv(tmp_path / "fast.csv", t, ecg), "--json")
    doc = json.loads(out)
    # every interval lies outside the plausible 0.3-2.0 s: left out of the heart rate, flagged, never a pass
    hr = doc["beats"]["heart_rate_bpm"]
    assert hr["mean"] is None and hr["n_left_out"] == len(r) - 1 and hr["rr_range_s"] == [0.3, 2.0]
    assert any("heart rate" in w and "outside 0.3-2.0 s" in w for w in doc["warnings"])
    assert {c["id"]: c["status"] for c in doc["checks"]}["heart_rate"] == "warn"
    assert "left out of the heart rate" in err


@pytest.mark.parametrize("bpm", [RANGES["heart_rate_bpm"].limits[0] * 0.8, RANGES["heart_rate_bpm"].limits[1] * 1.2])
def test_a_heart_rate_no_heart_can_have_is_never_a_pass(bpm):
    """R-peaks that no heart can produce (from noise taken for beats): the heart-rate check warns, never passes."""
    from qa.ecg.beatchecks import heart_rate_check, heart_rate_warnings
    from qa.ecg.rhythm import analyze_rhythm

    hr = analyze_rhythm(np.arange(12) * 60.0 / bpm).heart_rate_bpm
    assert hr.mean is None and hr.n_left_out == 11  # no interval is a plausible RR (0.3-2.0 s)
    for maximum in (None, 70.0, 1000.0):
        check = heart_rate_check(hr, maximum)
        assert check.status == "warn" and "not the beats of a heart" in check.message
    assert any("11 of 11 RR intervals" in w and "left out" in w for w in heart_rate_warnings(hr, "x.csv"))


@pytest.fixture
def trace_csv(tmp_path):
    r = beat_times(12.0, 60.0, first_s=0.4)
    t, ecg = synthesize_ecg(r, duration_s=12.0, fs_hz=FS)
    return _csv(tmp_path / "ecg.csv", t, ecg)


@pytest.mark.parametrize("rows, field, words", [
    (["-1.0,0.2"], "start_s, line 2", "impossible"),
    (["3.6,-0.2"], "duration_s, line 2", "impossible"),
    (["3.6,0"], "duration_s, line 2", "positive time"),
    (["3.6,0.2", "nan,0.2"], "start_s, line 3", "impossible"),
    (["3.6,inf"], "duration_s, line 2", "impossible"),
    (["3.6,0.2", "", "# a comment", "4.6,x"], "duration_s, line 5", "not a number"),
    (["3.6,0.3", "3.8,0.2"], "start_s, line 3", "cannot overlap"),
    (["5.6,0.2", "3.6,0.3", "3.8,0.2"], "start_s, line 4", "cannot overlap"),
    ([], "start_s", "lists no exposure"),
])
def test_impossible_exposure_rows_are_refused_with_row_and_column(capsys, tmp_path, trace_csv, rows, field, words):
    exposures = tmp_path / "exp.csv"
    exposures.write_text("start_s,duration_s\n" + "\n".join(rows) + "\n")
    code, out, err = run(capsys, "gating", "--ecg", trace_csv, "--exposures", exposures, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["schema"] == "qa.error/1" and doc["error"]["file"].endswith("exp.csv")
    assert doc["error"]["field"] == field and words in doc["error"]["message"]


def test_unsorted_rows_and_windows_outside_the_trace_are_flagged(capsys, tmp_path, trace_csv):
    exposures = tmp_path / "exp.csv"
    exposures.write_text("start_s,duration_s\n7.0,0.2\n4.0,0.2\n30.0,0.2\n")  # beats at 0.4 s + k: phase 70 %
    code, out, err = run(capsys, "gating", "--ecg", trace_csv, "--exposures", exposures, "--json")
    doc = json.loads(out)
    assert any("not in time order" in w and "line 3" in w for w in doc["warnings"])
    assert any("outside the ECG trace" in w and "line(s) 4" in w for w in doc["warnings"])
    assert [e["status"] for e in doc["exposures"]] == ["pass", "pass", "not_available"]
    assert "not in time order" in err and "outside the ECG trace" in err


def test_qa_check_with_an_ecg_flags_and_refuses_like_qa_gating(capsys, tmp_path):
    """``qa check --ecg``: an unusual sample is flagged in the checklist's warnings, an absurd one refused (exit 2)."""
    import datetime as dt

    from qa.dicom.headers import headers_of
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    folder = tmp_path / "exam"
    synthesize_phantom(folder, SynthOptions(vendor="siemens", z_start_mm=-30.0, z_end_mm=72.0, matrix=96, pixel_mm=2.2,
                                            series_description="CaScore 3.0 Qr36", heart_rate_bpm=60.0, seed=5))
    h = headers_of(folder)
    start = dt.datetime.fromisoformat(h.stacks[0].acquisition_time) - dt.timedelta(seconds=5.55)
    duration_s = 5.55 + h.stacks[-1].start_s + 4.0
    t, ecg = synthesize_ecg(beat_times(duration_s, 60.0, first_s=0.0), duration_s=duration_s, fs_hz=FS, seed=3)
    for value, expected_code in ((TYPICAL[1] * 1.5, (0, 1)), (1e12, (2,))):
        spiked = ecg.copy()
        spiked[1234] = value
        trace = tmp_path / f"ecg-{value:g}.csv"
        trace.write_text(f"# start_time={start.isoformat()}\ntime_s,ecg_mv\n"
                         + "".join(f"{a:.4f},{v:.6g}\n" for a, v in zip(t, spiked)))
        code, out, err = run(capsys, "check", folder, "--ecg", trace, "--json")
        doc = json.loads(out)
        assert code in expected_code
        if code == 2:
            assert doc["error"]["field"] == "ecg_mv, line 1237" and f"{t[1234]:.3f} s" in doc["error"]["message"]
        else:
            assert any("judged both" in w for w in doc["warnings"]) and "judged both" in err
