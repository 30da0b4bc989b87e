"""What ``qa check``, ``qa gating`` and ``qa score`` say means what was measured (issue 14, points 7-9).

Series are never labelled as studies; only the exam's own study's series are "also in the exam";
no note contradicts a check; heart rates come from plausible RR intervals and say so; exposures are
said to lie within the phase window (what was measured), not "in diastole"; a compensatory pause is
named only where RR before + RR after = two normal RR; ``qa score`` says that bone and noise count.
Real inputs: the public files in ``../shared/data`` and series written by our own synthesisers.
"""

from __future__ import annotations

import json

import numpy as np

from qa.cli import main
from qa.ecg.rhythm import analyze_rhythm

SMARTSCORE_UID = "1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.6"  # the GE SmartScore series among ../shared/data/dicom/ct


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------------------------ qa check


def test_an_input_of_several_studies_names_each_study_and_labels_its_uids_as_series(capsys, ct_dir):
    code, _, err = run(capsys, "check", ct_dir)
    assert code == 2
    studies = [line.strip() for line in err.splitlines() if line.strip().startswith("study ")]
    assert len(studies) == 6
    for line in studies:
        # "study 3 (p-...): series '5/5mm Plain' 1.2.276...": the UID follows the word series, the study is its pseudonym
        label, _, listing = line.partition("): ")
        assert label.split(" (")[1].startswith("p-") and listing.startswith("series '")
    assert "1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302" not in "".join(s.partition("): ")[0] for s in studies)


def test_only_the_exams_own_study_is_also_in_the_exam(capsys, ct_dir):
    code, out, _ = run(capsys, "check", ct_dir, "--series-uid", SMARTSCORE_UID, "--json")
    doc = json.loads(out)
    series = doc["exam"]["series"]
    from qa.privacy import site_pseudonymiser
    from qa.records.uid_keys import uid_key

    # a patient exam's series UID leaves only as its pseudonym
    assert [s["series_instance_uid"] for s in series if s["role"] == "checked"] == [uid_key(site_pseudonymiser(), SMARTSCORE_UID)]
    assert all(s["role"] == "checked" for s in series)  # the five series of other studies are not in the exam
    assert "5 series of another study left out (not part of this exam)" in doc["warnings"]
    run(capsys, "check", ct_dir, "--series-uid", SMARTSCORE_UID)
    assert "also in the exam" not in capsys.readouterr().out
    # the pseudonym qa check lists the series by picks the same series
    code, again, _ = run(capsys, "check", ct_dir, "--series-uid", series[0]["series_instance_uid"], "--json")
    assert [s["series_instance_uid"] for s in json.loads(again)["exam"]["series"]] == [s["series_instance_uid"] for s in series]


def test_no_note_says_the_dose_was_estimated_when_no_dose_check_had_a_value(capsys, shared_data):
    """An image without CTDIvol beside another study's dose report: every dose check not_available."""
    code, out, _ = run(capsys, "check", shared_data / "dicom" / "ct" / "CT_small.dcm",
                       shared_data / "dicom" / "rdsr" / "CT-RDSR-Siemens_Flash-TAP-SS.dcm", "--json")
    doc = json.loads(out)
    statuses = {c["id"]: c["status"] for c in doc["checks"]}
    assert statuses["ctdivol"] == statuses["dlp"] == statuses["effective_dose"] == "not_available"
    assert not any("estimated" in w for w in doc["warnings"])
    assert any("other study left out: this exam has no dose report" in w for w in doc["warnings"])


# ------------------------------------------------------------------------------------ ECG wording


def test_gating_says_where_its_heart_rate_comes_from_and_what_the_exposures_hit(capsys, shared_data, tmp_path):
    exposures = tmp_path / "exposures.csv"
    exposures.write_text("start_s,duration_s\n10.3,0.15\n11.1,0.15\n20.4,0.15\n")
    code, out, _ = run(capsys, "gating", "--ecg", shared_data / "ecg" / "208.hea", "--exposures", exposures)
    assert code == 1
    beats = next(line for line in out.splitlines() if line.startswith("Beats"))
    assert "from RR intervals 0.3-2.0 s" in beats
    hr = [int(v) for v in beats.split("beat-to-beat ")[1].split(" bpm")[0].split("-")]
    assert 30 <= hr[0] <= hr[1] <= 200  # 208's noise made 14 and 288 bpm before: no heart beats so
    timing = next(line for line in out.splitlines() if line.startswith("exposure_timing"))
    assert "1 of 3 within the 60-80 % phase window" in timing and "diastole" not in timing


def test_gating_leaves_a_sinus_pause_out_of_the_heart_rate_and_says_so(capsys, tmp_path):
    """A 3.6-s sinus pause is no heart rate of 17 bpm: it is left out of min/max, counted and named."""
    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv

    r = beat_times(30.0, 60.0)
    r = np.concatenate([r[r < 12.0], r[r >= 14.0] + 0.6])  # beats 12.3 and 13.3 s missing, the rest 0.6 s later: a 3.6-s pause
    r = r[r < 29.5]
    t, mv = synthesize_ecg(r, duration_s=30.0, fs_hz=500.0)
    trace = tmp_path / "pause.csv"
    write_ecg_csv(trace, t, mv, fs_hz=500.0)
    exposures = tmp_path / "exposures.csv"
    exposures.write_text("start_s,duration_s\n5.55,0.15\n")
    code, out, _ = run(capsys, "gating", "--ecg", trace, "--exposures", exposures)
    beats = next(line for line in out.splitlines() if line.startswith("Beats"))
    assert "from RR intervals 0.3-2.0 s" in beats and "outside left out" in beats
    hr = [int(v) for v in beats.split("beat-to-beat ")[1].split(" bpm")[0].split("-")]
    assert hr[0] >= 55  # the pause (17 bpm) is not the minimum heart rate
    assert "left out of the heart rate" in out


def test_a_compensatory_pause_is_named_only_against_a_normal_rr():
    sinus = [1.0] * 8
    full = analyze_rhythm(np.r_[0.0, np.cumsum(sinus + [0.6, 1.4] + sinus)])  # 0.6 + 1.4 = 2 normal RR
    reset = analyze_rhythm(np.r_[0.0, np.cumsum(sinus + [0.6, 1.0] + sinus)])  # the sinus node reset: 1.6
    (p,) = full.premature
    assert p.compensatory and p.normal_rr_ms == 1000.0 and "1 with a full compensatory pause" in full.message
    (q,) = reset.premature
    assert q.compensatory is False and "compensatory" not in reset.message


# ------------------------------------------------------------------------------------ qa score


def test_qa_score_on_a_patient_like_exam_says_that_bone_and_noise_count(capsys, tmp_path):
    from qa.workflows.synth import ExamSynthOptions, synthesize_exam

    synthesize_exam(tmp_path / "exam", ExamSynthOptions(matrix=128, pixel_mm=2.0, stacks=2, noise_hu=10.0))
    code, out, _ = run(capsys, "score", tmp_path / "exam")
    assert code == 0
    note = next(line for line in out.splitlines() if line.startswith("note:") and "bone" in line)
    assert "noise count too" in note and "not only coronary calcium" in note
    code, out, _ = run(capsys, "score", tmp_path / "exam", "--json")
    assert any("bone" in n and "noise" in n for n in json.loads(out)["notes"])


def test_a_check_not_run_for_its_own_reason_is_named_once_in_the_banner_which_points_to_its_row(capsys, tmp_path):
    """The motion reason is long: it is said in the checks table, and the banner's "not run" line only names the check."""
    from test_compliance import _exam

    code, out, _ = run(capsys, "check", _exam(tmp_path))
    motion = next(line for line in out.splitlines() if line.startswith("breath_hold_motion"))
    assert "NOT_AVAILABLE" in motion and "could not be measured" in motion
    reason = motion.split("  ")[-1].strip()
    assert len(reason) > 60 and out.count(reason) == 1  # said once, in the table
    assert "not run  1 check: breath_hold_motion (its row of the checks table above says why)" in out
    assert code == 0 and "VERDICT  INCOMPLETE: 1 of " in out
