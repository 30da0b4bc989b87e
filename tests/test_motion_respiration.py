"""Breathing during the breath-hold from the trace recorded with the scan (``qa motion --ecg``,
``qa check --ecg``): a CSV trace in our format with a ``resp`` column, written here, whose breath is
held through the stacks or released mid-scan; without ``resp``, ECG-derived respiration."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from motion_exams import ExamSpec, write_exam
from qa.ecg.synth import beat_times, synthesize_ecg

SCAN_START = dt.datetime(2026, 3, 2, 9, 15, 0)  # the first stack of motion_exams.write_exam; stacks 1.2 s apart
LEAD_IN_S = 30.0


def write_trace(path, *, hold_from_s: float, release_at_s: float | None, resp: bool = True, hr_bpm: float = 62.0,
                hr_during_bpm: float | None = None) -> None:
    """A 45 s trace starting 30 s before the first stack: breathing (4 s period) until ``hold_from_s``,
    held until ``release_at_s`` (None: to the end); with ``resp``: the bellows channel, and always an
    ECG whose R-wave amplitude follows the breathing (as the heart's axis moves with it)."""
    fs, duration = 250.0, 45.0
    before = beat_times(hold_from_s, hr_bpm)
    after = beat_times(duration - hold_from_s, hr_during_bpm or hr_bpm, first_s=60.0 / (hr_during_bpm or hr_bpm)) + hold_from_s
    r = np.concatenate([before, after])
    t, ecg = synthesize_ecg(r, duration_s=duration, fs_hz=fs, noise_mv=0.005)
    breathing = np.sin(2 * np.pi * t / 4.0)
    held = (t >= hold_from_s) & ((t < release_at_s) if release_at_s is not None else True)
    level = np.sin(2 * np.pi * hold_from_s / 4.0)
    signal = np.where(held, level, breathing)
    ecg = ecg * (1.0 + 0.15 * signal)
    start = SCAN_START - dt.timedelta(seconds=LEAD_IN_S)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# start_time={start.isoformat()}\n# lead=II\n")
        f.write("time_s,ecg_mv" + (",resp" if resp else "") + "\n")
        for k in range(t.size):
            f.write(f"{t[k]:.4f},{ecg[k]:.5f}" + (f",{signal[k]:.4f}" if resp else "") + "\n")


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    root = tmp_path_factory.mktemp("resp")
    return root, write_exam(ExamSpec(n_stacks=4, slices_per_stack=4, matrix=64, pixel_mm=4.0), root / "exam")


def _motion(qa_args, root):
    from qa.cli import main
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main([str(a) for a in qa_args])
    return code, json.loads(out.getvalue())


def test_a_held_breath_passes_and_says_so(exam):
    root, folder = exam
    write_trace(root / "held.csv", hold_from_s=LEAD_IN_S - 3.0, release_at_s=None)
    code, doc = _motion(["motion", folder, "--ecg", root / "held.csv", "--json"], root)
    r = doc["respiration"]
    assert code == 0 and r["source"] == "resp channel" and not r["weaker_estimate"]
    assert r["breath_held"] is True and r["ratio"] < 0.3 and r["released_after_s"] is None
    assert doc["status"] == "pass"


def test_a_breath_released_mid_scan_warns_and_says_when(exam):
    root, folder = exam
    write_trace(root / "released.csv", hold_from_s=LEAD_IN_S - 3.0, release_at_s=LEAD_IN_S + 1.5)
    code, doc = _motion(["motion", folder, "--ecg", root / "released.csv", "--json"], root)
    r = doc["respiration"]
    assert code == 0 and r["breath_held"] is False and r["status"] == "warn"
    assert r["released_after_s"] == pytest.approx(1.5, abs=0.6)
    assert doc["status"] == "warn" and "released" in doc["message"]


def test_without_a_resp_column_the_ecg_derived_estimate_is_labelled_weaker(exam):
    root, folder = exam
    write_trace(root / "edr.csv", hold_from_s=LEAD_IN_S - 3.0, release_at_s=None, resp=False, hr_bpm=70.0, hr_during_bpm=60.0)
    code, doc = _motion(["motion", folder, "--ecg", root / "edr.csv", "--json"], root)
    r = doc["respiration"]
    assert r["weaker_estimate"] is True and "weaker" in r["source"]
    assert r["heart_rate_change_bpm"] == pytest.approx(-10.0, abs=3.0)


def test_a_trace_without_a_start_time_cannot_place_the_stacks(exam, tmp_path):
    root, folder = exam
    write_trace(tmp_path / "t.csv", hold_from_s=LEAD_IN_S - 3.0, release_at_s=None)
    text = (tmp_path / "t.csv").read_text().splitlines()
    (tmp_path / "nostart.csv").write_text("\n".join(line for line in text if not line.startswith("# start_time")) + "\n")
    code, doc = _motion(["motion", folder, "--ecg", tmp_path / "nostart.csv", "--json"], root)
    assert doc["respiration"]["status"] == "not_available" and "start time" in doc["respiration"]["message"]
    assert doc["status"] == "pass"  # the images still speak; the trace is not passed over silently
    assert "from the trace" in doc["message"]


def test_qa_check_with_the_trace_judges_the_breath_hold_too(exam):
    root, folder = exam
    write_trace(root / "released2.csv", hold_from_s=LEAD_IN_S - 3.0, release_at_s=LEAD_IN_S + 1.5)
    from qa.cli import main
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        main(["check", str(folder), "--ecg", str(root / "released2.csv"), "--json"])
    doc = json.loads(out.getvalue())
    (check,) = [c for c in doc["checks"] if c["id"] == "breath_hold_motion"]
    assert check["status"] == "warn" and check["source"]["respiration"]["breath_held"] is False
