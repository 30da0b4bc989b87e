"""CT Dose Check Details carry text typed at the console (the reason for proceeding) and a person's
name: the name never leaves the reader (only its pseudonym), the reason is shown with control
characters escaped and exported as text, never as a formula; an impossible Dose Check value or
forward estimate refuses the report, naming the field."""

from __future__ import annotations

import json

from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report

REASON = '=HYPERLINK("http://example.invalid/","x")\x1b[31m red'
PERSON = "EVIL^NAME\x1b]0;title\x07"


def _report(tmp_path, **dose_check):
    event = SyntheticEvent(ctdivol_mgy=30.0, ctdivol_notification_mgy=25.0, **dose_check)
    return write_dose_report(tmp_path / "sr.dcm", (event,))


def test_the_reason_is_escaped_on_the_terminal_and_the_name_is_never_shown(tmp_path, qa_main):
    path = _report(tmp_path, notification_ctdivol_estimate_mgy=30.0, notification_reason=REASON, notification_person=PERSON)
    code, out, err = qa_main("dose", str(path))
    assert code == 0, err
    assert "\x1b" not in out and "\\x1b[31m red" in out and "EVIL" not in out and "title" not in out
    code, out, _ = qa_main("dose", str(path), "--json")
    check = json.loads(out)["reports"][0]["events"][0]["dose_check"]
    assert check["notification_reason"] == REASON and check["notification_person_key"].startswith("p-") and "EVIL" not in out


def test_the_reason_is_a_string_cell_in_the_events_sheet(tmp_path, qa_main):
    from openpyxl import load_workbook

    path = _report(tmp_path, notification_ctdivol_estimate_mgy=30.0, notification_reason=REASON, notification_person=PERSON)
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    assert qa_main("dose", str(path), "--db", db)[0] == 0
    assert qa_main("trends", "dose", "--db", db, "--studies", "--xlsx", str(tmp_path / "t.xlsx"))[0] == 0
    sheet = load_workbook(tmp_path / "t.xlsx")["events"]
    heads = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=heads.index("Dose Check reason for proceeding") + 1)
    assert cell.data_type == "s" and cell.value == REASON.replace("\x1b", "\\x1b")
    assert not any("EVIL" in str(c.value) for row in sheet.iter_rows() for c in row)


def test_an_impossible_dose_check_value_or_estimate_refuses_the_report_naming_the_field(tmp_path, qa_main):
    for bad in (dict(notification_ctdivol_estimate_mgy=-5.0), dict(alert_dlp_estimate_mgycm=1e9, dlp_alert_mgycm=1000.0)):
        (tmp_path / "sr.dcm").unlink(missing_ok=True)
        path = _report(tmp_path, **bad)
        code, out, err = qa_main("dose", str(path), "--json")
        doc = json.loads(out)
        assert code == 2 and doc["schema"] == "qa.error/1", err
        assert "CT Dose Check Details" in doc["error"]["field"] and doc["error"]["file"].endswith("sr.dcm")


def test_a_reason_that_names_the_patient_keeps_the_reason_and_loses_the_name(tmp_path, qa_main):
    """Typed at the console, a reason may name the patient (name components, Patient ID, accession
    number): they are removed where the report is read, so neither the terminal, the JSON nor the
    store ever holds them; the rest of the reason stays for the audit."""
    from qa.dicom.write_rdsr import DoseReportHeader

    event = SyntheticEvent(ctdivol_mgy=30.0, ctdivol_notification_mgy=25.0, notification_ctdivol_estimate_mgy=30.0,
                           notification_reason="Large patient Jansen (id PID-4711, acc ACC99), repeat approved")
    header = DoseReportHeader(patient_name="JANSEN^Pieter", patient_id="PID-4711")
    path = write_dose_report(tmp_path / "sr.dcm", (event,), header=header)
    import pydicom

    ds = pydicom.dcmread(path)
    ds.AccessionNumber = "ACC99"
    ds.save_as(path)
    db = tmp_path / "store.sqlite"
    code, out, err = qa_main("dose", str(path), "--json", "--db", f"sqlite:///{db}")
    assert code == 0, err
    reason = json.loads(out)["reports"][0]["events"][0]["dose_check"]["notification_reason"]
    assert reason == ("Large patient [patient identifier removed] (id [patient identifier removed], "
                      "acc [patient identifier removed]), repeat approved")
    code, text, _ = qa_main("dose", str(path))
    stored = db.read_bytes()
    for word in ("Jansen", "JANSEN", "PID-4711", "ACC99"):
        assert word not in out and word not in text and word.encode() not in stored
