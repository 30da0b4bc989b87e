"""Issue 11: dose reports that contradict themselves or each other never decide a verdict silently.

Every report here is written by :mod:`qa.dicom.write_rdsr` and edited where a hostile or broken
sender would differ, then run through the real ``qa dose`` and ``qa check`` command line.  The
rules shown: conflicting values for one Irradiation Event UID are flagged naming both files and
the larger dose is judged, whatever the file order; the DLP judged against a reference level is
never less than the sum of the events; a dose missing scan events' DLP is a lower bound that never
passes; a report with no usable dose value is never a pass; a Floating Point Value contradicting
the Numeric Value is flagged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report

SMALL = SyntheticEvent()  # the writer's everyday event
LARGE = SyntheticEvent(ctdivol_mgy=SMALL.ctdivol_mgy * 100, dlp_mgycm=SMALL.dlp_mgycm * 100)


# ------------------------------------------------------------------------------------ helpers


def dose_json(qa_main, *paths) -> tuple[int, dict, str]:
    code, out, err = qa_main("dose", *paths, "--json")
    return code, json.loads(out), err


def _walk(ds):
    for item in ds.get("ContentSequence") or ():
        yield item
        yield from _walk(item)


def _measured(ds, code: str) -> list:
    """The measured values of every NUM item with concept ``code`` (DCM), in document order."""
    return [item.MeasuredValueSequence[0] for item in _walk(ds)
            if item.get("ConceptNameCodeSequence") and item.ConceptNameCodeSequence[0].CodeValue == code
            and item.get("MeasuredValueSequence")]


def _resend(source: Path, target: Path, edit=None) -> Path:
    """``source`` sent again under a new SOP Instance UID (the same events, same UIDs), edited by ``edit``."""
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(target)])
    if edit is not None:
        edit(ds)
    ds.save_as(target)
    return target


def _one_study(doc: dict) -> dict:
    (study,) = doc["reports"]
    return study


def _checks(study_or_doc: dict) -> dict:
    return {c["id"]: c for c in study_or_doc["checks"]}


def _exam_with_report(folder: Path, events, **report) -> Path:
    """A small CT series and its dose report, one study (as ``qa check`` reads an exam)."""
    from tests.hostile.test_impossible_values import ct_series

    exam = ct_series(folder)
    study_uid = pydicom.dcmread(next(exam.glob("*.dcm"))).StudyInstanceUID
    write_dose_report(exam / "zz-dose.dcm", events, study_uid=study_uid, **report)
    return exam


# ------------------------------------------------------------------------------------ conflicting re-sends


@pytest.mark.parametrize("large_first", [True, False])
def test_a_resend_contradicting_an_event_is_flagged_and_the_larger_dose_is_judged_in_either_file_order(
        qa_main, tmp_path, large_first):
    """The review's dmerge/dmerge2: the file name decided between 6000 mGy cm (warn) and 60 (pass)."""
    folder = tmp_path / "study"
    folder.mkdir()
    original = Path(write_dose_report(tmp_path / "sent.dcm", [SMALL]))
    big = lambda ds: ([v.__setattr__("NumericValue", f"{LARGE.dlp_mgycm:g}") for v in _measured(ds, "113838") + _measured(ds, "113813")],
                      [v.__setattr__("NumericValue", f"{LARGE.ctdivol_mgy:g}") for v in _measured(ds, "113830")])
    names = ("a.dcm", "b.dcm") if large_first else ("b.dcm", "a.dcm")
    _resend(original, folder / names[0], big)
    _resend(original, folder / names[1])
    code, doc, err = dose_json(qa_main, folder)
    study = _one_study(doc)
    assert len(study["events"]) == 1  # one event, sent twice
    assert study["events"][0]["dlp_mgycm"] == LARGE.dlp_mgycm and study["events"][0]["ctdivol_mgy"] == LARGE.ctdivol_mgy
    checks = _checks(study)
    assert checks["dlp"]["measured"] == LARGE.dlp_mgycm and checks["ctdivol"]["measured"] == LARGE.ctdivol_mgy
    assert doc["verdict"] != "pass" and code in (0, 1)
    flagged = [w for w in doc["warnings"] if "contradict" in w]
    assert flagged and "a.dcm" in flagged[0] and "b.dcm" in flagged[0]
    assert flagged[0].split(": ", 1)[1][:60] in err  # on the terminal too


def test_two_files_with_one_sop_instance_uid_and_different_doses_are_flagged(qa_main, tmp_path):
    """A copy edited in place (same SOP Instance UID) was dropped as 'the same file read twice' when it came second."""
    folder = tmp_path / "study"
    folder.mkdir()
    original = Path(write_dose_report(folder / "a.dcm", [SMALL]))
    ds = pydicom.dcmread(original)
    for v in _measured(ds, "113838") + _measured(ds, "113813"):
        v.NumericValue = f"{LARGE.dlp_mgycm:g}"
    ds.save_as(folder / "b.dcm")
    code, doc, err = dose_json(qa_main, folder)
    study = _one_study(doc)
    assert _checks(study)["dlp"]["measured"] == LARGE.dlp_mgycm
    assert any("one SOP Instance UID" in w and "a.dcm" in w and "b.dcm" in w for w in doc["warnings"])


def test_a_contradicting_resend_in_an_exam_is_flagged_by_check(qa_main, tmp_path):
    exam = _exam_with_report(tmp_path / "exam", [SMALL])
    _resend(exam / "zz-dose.dcm", exam / "zz-dose-2.dcm",
            lambda ds: [v.__setattr__("NumericValue", f"{LARGE.dlp_mgycm:g}") for v in _measured(ds, "113838") + _measured(ds, "113813")])
    code, out, err = qa_main("check", exam, "--json")
    doc = json.loads(out)
    assert doc["schema"] == "qa.check/1", doc
    assert _checks(doc)["dlp"]["measured"] == LARGE.dlp_mgycm and _checks(doc)["dlp"]["status"] != "pass"
    assert any("contradict" in w and "zz-dose.dcm" in w and "zz-dose-2.dcm" in w for w in doc["warnings"])


# ------------------------------------------------------------------------------------ own total against the events


def test_the_dlp_judged_is_never_less_than_the_sum_of_the_events(qa_main, tmp_path):
    """The review's tot_lie.dcm: own total 10 judged 'dlp PASS' while the events held 6000 mGy cm."""
    lie = LARGE.dlp_mgycm / 600
    report = write_dose_report(tmp_path / "tot_lie.dcm", [LARGE], dlp_total_mgycm=lie)
    code, doc, err = dose_json(qa_main, report)
    study = _one_study(doc)
    dlp = _checks(study)["dlp"]
    assert dlp["measured"] == LARGE.dlp_mgycm and dlp["status"] != "pass"
    assert study["compared"]["dlp_mgycm"] == LARGE.dlp_mgycm and study["dlp_total_mgycm"] == lie  # the own total shown as stated
    assert any("is judged" in w and f"{lie:g}" in w for w in doc["warnings"])
    assert doc["verdict"] != "pass"


def test_an_own_total_above_the_events_is_judged_and_makes_the_dose_a_lower_bound(qa_main, tmp_path):
    """Events missing from the report: the effective dose from the events is short of the truth."""
    total = SMALL.dlp_mgycm * 16
    report = write_dose_report(tmp_path / "short.dcm", [SMALL], dlp_total_mgycm=total)
    code, doc, err = dose_json(qa_main, report)
    study = _one_study(doc)
    checks = _checks(study)
    assert checks["dlp"]["measured"] == total
    assert study["effective_dose"]["lower_bound"] is True
    assert checks["effective_dose"]["status"] in ("not_available", "warn", "fail")
    assert doc["verdict"] != "pass"


# ------------------------------------------------------------------------------------ missing values


def _blank_dlp(index: int):
    def edit(ds):
        _measured(ds, "113838")[index].NumericValue = ""
    return edit


def test_an_event_without_its_dlp_makes_the_dose_a_lower_bound_never_a_pass(qa_main, tmp_path):
    """The review's two_missing.dcm: 0.87 mSv PASS, lower_bound false, while the own total held 960 mGy cm."""
    events = [SMALL, SyntheticEvent(ctdivol_mgy=SMALL.ctdivol_mgy * 2, dlp_mgycm=SMALL.dlp_mgycm * 15)]
    path = Path(write_dose_report(tmp_path / "w.dcm", events))
    _resend(path, tmp_path / "two_missing.dcm", _blank_dlp(1))
    code, doc, err = dose_json(qa_main, tmp_path / "two_missing.dcm")
    study = _one_study(doc)
    assert study["effective_dose"]["lower_bound"] is True and "lower bound" in study["effective_dose"]["dlp_basis"]
    checks = _checks(study)
    assert checks["effective_dose"]["status"] != "pass"
    assert checks["dlp"]["measured"] >= sum(e.dlp_mgycm for e in events)  # the own total, not the one event left
    assert doc["verdict"] != "pass"


def test_an_event_without_its_dlp_and_no_own_total_makes_the_dlp_a_lower_bound(qa_main, tmp_path):
    path = Path(write_dose_report(tmp_path / "w.dcm", [SMALL, SMALL]))

    def edit(ds):
        _blank_dlp(1)(ds)
        _measured(ds, "113813")[0].NumericValue = ""
    _resend(path, tmp_path / "none.dcm", edit)
    code, doc, err = dose_json(qa_main, tmp_path / "none.dcm")
    study = _one_study(doc)
    checks = _checks(study)
    assert study["compared"]["dlp_lower_bound"] is True
    assert checks["dlp"]["status"] != "pass" and checks["effective_dose"]["status"] != "pass"
    assert doc["verdict"] != "pass" and "could not judge" in study["verdict_message"]


def test_vendor_localizers_without_a_dlp_do_not_make_a_lower_bound(qa_main, shared_data):
    """GE and Toshiba report no DLP for their localizers: that is not a report short of a scan."""
    folder = shared_data / "dicom" / "rdsr"
    paths = [folder / n for n in ("CT-ESR-GE_Optima.dcm", "CT-RDSR-ToshibaPixelMed.dcm") if (folder / n).is_file()]
    if not paths:
        pytest.skip("no GE or Toshiba dose reports in the shared data")
    for path in paths:
        code, doc, err = dose_json(qa_main, path)
        study = _one_study(doc)
        assert any(e["dlp_mgycm"] is None and e["acquisition_type"] == "constant_angle" for e in study["events"]), path.name
        assert study["effective_dose"]["lower_bound"] is False and not study["compared"]["dlp_lower_bound"], path.name


def _strip_units(ds):
    for item in _walk(ds):
        for v in item.get("MeasuredValueSequence") or ():
            if "MeasurementUnitsCodeSequence" in v:
                del v.MeasurementUnitsCodeSequence


def test_a_report_with_no_usable_dose_value_is_never_a_pass(qa_main, tmp_path):
    """The review's u_none.dcm: every value unreadable (no units), yet verdict pass."""
    path = Path(write_dose_report(tmp_path / "w.dcm", [SMALL]))
    _resend(path, tmp_path / "u_none.dcm", _strip_units)
    code, doc, err = dose_json(qa_main, tmp_path / "u_none.dcm")
    study = _one_study(doc)
    assert {c["status"] for c in study["checks"]} == {"not_available"}
    assert all("dose report" in c["message"] for c in study["checks"])
    assert study["verdict"] != "pass" and doc["verdict"] != "pass"
    assert "could not judge" in study["verdict_message"] and "could not judge" in err


def test_an_exam_whose_dose_report_has_no_usable_value_is_never_a_pass(qa_main, tmp_path):
    exam = _exam_with_report(tmp_path / "exam", [SMALL])
    ds = pydicom.dcmread(exam / "zz-dose.dcm")
    _strip_units(ds)
    ds.save_as(exam / "zz-dose.dcm")
    code, out, err = qa_main("check", exam, "--json")
    doc = json.loads(out)
    assert doc["schema"] == "qa.check/1", doc
    assert _checks(doc)["dlp"]["status"] == "not_available"
    assert doc["verdict"] != "pass" and "could not judge" in doc["verdict_message"]


# ------------------------------------------------------------------------------------ Floating Point Value


def test_a_floating_point_value_contradicting_the_numeric_value_is_flagged_and_the_larger_used(qa_main, tmp_path):
    """A Floating Point Value (0040,A161) is the same number more precisely: within the Numeric Value's
    rounding it agrees; beyond it, the two contradict and the larger dose is used, flagged."""
    path = Path(write_dose_report(tmp_path / "w.dcm", [SMALL]))
    for name, value, contradicts in (("close.dcm", SMALL.dlp_mgycm + 0.4, False),  # NumericValue "60": rounding 0.5
                                     ("far.dcm", LARGE.dlp_mgycm, True)):
        _resend(path, tmp_path / name, lambda ds, v=value: setattr(_measured(ds, "113838")[0], "FloatingPointValue", v))
        code, doc, err = dose_json(qa_main, tmp_path / name)
        flagged = [w for w in doc["warnings"] if "Floating Point Value" in w and "contradict" in w]
        assert _one_study(doc)["events"][0]["dlp_mgycm"] == (max(value, SMALL.dlp_mgycm) if contradicts else SMALL.dlp_mgycm)
        assert bool(flagged) is contradicts, name


# ------------------------------------------------------------------------------------ the real command


def test_the_real_qa_dose_process_flags_a_contradicting_resend(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    original = Path(write_dose_report(tmp_path / "sent.dcm", [SMALL]))
    _resend(original, folder / "a.dcm",
            lambda ds: [v.__setattr__("NumericValue", f"{LARGE.dlp_mgycm:g}") for v in _measured(ds, "113838") + _measured(ds, "113813")])
    _resend(original, folder / "b.dcm")
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    done = subprocess.run([sys.executable, "-m", "qa", "dose", str(folder), "--json"], capture_output=True, text=True, env=env,
                          timeout=120)
    doc = json.loads(done.stdout)
    assert done.returncode in (0, 1), done.stderr
    assert _checks(_one_study(doc))["dlp"]["measured"] == LARGE.dlp_mgycm and doc["verdict"] != "pass"
    assert "contradict" in done.stderr
