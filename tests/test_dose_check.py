"""CT Dose Check Details (DICOM PS3.16 TID 10015, NEMA XR 25) as ``qa dose`` shows them: the
configured alert and notification values, the scanner's forward estimates, whether a value was
exceeded, the reason for proceeding and who authorised it (only as a pseudonym), on real vendor
reports and on reports written by our own writer."""

from __future__ import annotations

import json

import pytest

from qa.cli import main
from qa.dicom.rdsr import read_dose_report
from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report
from qa.records.dose import DoseCheck, dose_check_exceeded
from qa.records.identity import Pseudonymiser

KEYS = Pseudonymiser.ephemeral()


def _rdsr(shared_data, name):
    path = shared_data / "dicom" / "rdsr" / name
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def test_a_forward_estimate_above_its_value_or_a_recorded_reason_or_person_means_exceeded():
    assert dose_check_exceeded(True, ((27.5, 25.0), (None, 500.0)), None, None) is True
    assert dose_check_exceeded(True, ((25.0, 25.0), (499.0, 500.0)), None, None) is False  # equal is not above
    assert dose_check_exceeded(True, ((None, 25.0),), "large patient", None) is True  # TID 10015: a reason only when exceeded
    assert dose_check_exceeded(True, ((None, 25.0),), None, "p-0123456789abcdef0123") is True
    assert dose_check_exceeded(False, ((30.0, 25.0),), None, None) is None  # no container: nothing reported


def test_the_toshiba_reports_dlp_alert_exceeded_twice_and_its_person_only_as_a_pseudonym(shared_data):
    report = read_dose_report(_rdsr(shared_data, "CT-RDSR-Toshiba_DoseCheck.dcm"), pseudonymise=KEYS)
    first, second = (e.dose_check for e in report.events)
    assert (first.alert_dlp_configured, first.alert_ctdivol_configured, first.alert_dlp_mgycm, first.alert_ctdivol_mgy) == \
        (True, True, 100.0, 10.0)
    assert (first.alert_accumulated_dlp_forward_estimate_mgycm, first.alert_accumulated_ctdivol_forward_estimate_mgy) == (251.2, None)
    assert (second.alert_accumulated_dlp_forward_estimate_mgycm, second.alert_accumulated_ctdivol_forward_estimate_mgy) == (502.4, 10.6)
    assert first.alert_exceeded is second.alert_exceeded is True
    assert first.notification_exceeded is False and first.notification_ctdivol_configured is False
    assert first.alert_person_key == second.alert_person_key == KEYS("Luuk") and first.alert_reason is None
    assert "Luuk" not in json.dumps(report.to_dict())


def test_the_philips_report_has_values_configured_and_none_exceeded(shared_data):
    report = read_dose_report(_rdsr(shared_data, "CT-RDSR-Philips_BigBore4DCT.dcm"), pseudonymise=KEYS)
    (event,) = report.events
    d = event.dose_check
    assert (d.alert_ctdivol_mgy, d.notification_ctdivol_mgy, d.alert_dlp_configured) == (1000.0, 60.0, False)
    assert (d.alert_exceeded, d.notification_exceeded, d.exceeded) == (False, False, False)


def test_a_passed_notification_is_read_with_its_estimate_reason_and_person(tmp_path):
    path = write_dose_report(tmp_path / "sr.dcm", (
        SyntheticEvent(ctdivol_mgy=27.5, ctdivol_alert_mgy=1000.0, ctdivol_notification_mgy=25.0, dlp_notification_mgycm=500.0,
                       notification_ctdivol_estimate_mgy=27.5, notification_dlp_estimate_mgycm=420.0,
                       notification_reason="large patient", notification_person="MORGAN^ANNA"),
        SyntheticEvent(dlp_alert_mgycm=1000.0, alert_dlp_estimate_mgycm=1200.0, alert_reason="repeat", alert_person="RILEY^BEN"),
        SyntheticEvent(ctdivol_notification_mgy=25.0, notification_ctdivol_estimate_mgy=4.0)))
    report = read_dose_report(path, pseudonymise=KEYS)
    assert report.warnings == ()
    passed, alerted, below = (e.dose_check for e in report.events)
    assert (passed.notification_ctdivol_forward_estimate_mgy, passed.notification_dlp_forward_estimate_mgycm) == (27.5, 420.0)
    assert (passed.notification_exceeded, passed.alert_exceeded, passed.notification_reason) == (True, False, "large patient")
    assert passed.notification_person_key == KEYS("MORGAN^ANNA") and passed.alert_person_key is None
    assert (alerted.alert_exceeded, alerted.alert_reason, alerted.alert_person_key) == (True, "repeat", KEYS("RILEY^BEN"))
    assert below.notification_exceeded is False and below.exceeded is False


def test_a_stored_dose_check_is_read_back_and_unknown_keys_of_a_later_version_are_left_out():
    d = DoseCheck(notification_ctdivol_mgy=25.0, notification_exceeded=True)
    assert DoseCheck.from_stored(d.to_dict() | {"a_later_field": 1}) == d
    assert DoseCheck.from_stored({"alert_ctdivol_mgy": 1000.0}).alert_exceeded is None  # stored before the exceeded flags


def test_qa_dose_prints_each_events_dose_check_and_its_json_validates(tmp_path, capsys):
    from test_schemas import validate

    from qa.privacy import site_pseudonymiser

    path = write_dose_report(tmp_path / "sr.dcm", (
        SyntheticEvent(protocol="Topogram", acquisition_type="constant_angle", ctdivol_mgy=0.1, dlp_mgycm=2.0),
        SyntheticEvent(ctdivol_mgy=12.2, ctdivol_alert_mgy=1000.0, ctdivol_notification_mgy=10.0, notification_ctdivol_estimate_mgy=12.2,
                       notification_reason="large patient", notification_person="MORGAN^ANNA")))
    assert main(["dose", str(path)]) == 0
    out = capsys.readouterr().out
    who = site_pseudonymiser()("MORGAN^ANNA")
    (line,) = [t for t in out.splitlines() if t.startswith("Dose Check #2")]
    assert "alert CTDIvol 1000 mGy: not exceeded" in line
    assert "notification CTDIvol 10 mGy (estimate 12.2): EXCEEDED, reason 'large patient', authorised by " + who in line
    assert "Dose Check #1" not in out and "MORGAN" not in out  # the localizer has none; the name is never shown
    assert main(["dose", str(path), "--json"]) == 0
    doc = validate(json.loads(capsys.readouterr().out), "qa.dose/1")
    events = doc["reports"][0]["events"]
    assert events[0]["dose_check"] is None
    assert events[1]["dose_check"]["notification_exceeded"] is True and events[1]["dose_check"]["notification_person_key"] == who


def test_a_dose_check_alert_exceeded_makes_the_study_warn_with_the_scanners_reason(shared_data, capsys):
    from test_schemas import validate

    path = _rdsr(shared_data, "CT-RDSR-Toshiba_DoseCheck.dcm")
    assert main(["dose", str(path), "--json"]) == 0
    doc = validate(json.loads(capsys.readouterr().out), "qa.dose/1")
    (study,) = doc["reports"]
    alert = next(c for c in study["checks"] if c["id"] == "dose_check_alert")
    assert alert["status"] == "warn" and study["verdict"] == doc["verdict"] == "warn"
    assert "event #1 alert exceeded (DLP estimate 251.2 > 100 mGy cm)" in alert["message"]
    assert "event #2 alert exceeded (DLP estimate 502.4 > 100 mGy cm, CTDIvol estimate 10.6 > 10 mGy)" in alert["message"]
    assert "Dose Check value was exceeded" in study["verdict_message"] and not study["verdict_message"].startswith("PASS")
    assert main(["dose", str(path)]) == 0
    assert "Verdict  WARN: dose_check_alert WARN" in capsys.readouterr().out


def test_a_dose_check_not_exceeded_adds_no_warning(shared_data, capsys):
    path = _rdsr(shared_data, "CT-RDSR-Philips_BigBore4DCT.dcm")
    assert main(["dose", str(path), "--json"]) == 0
    (study,) = json.loads(capsys.readouterr().out)["reports"]
    assert all(c["id"] != "dose_check_alert" for c in study["checks"]) and study["verdict"] == "incomplete"  # a phantom QA study
