"""``qa check --db`` and ``qa dose --db`` store their studies the way ``qa ingest`` does; without --db nothing is stored."""

from __future__ import annotations

import json

import pytest
from ingest_site import write_exam

from qa.cli import main
from qa.store import Store


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    return write_exam(tmp_path_factory.mktemp("check-db"), 21, month=4)


def run_json(capsys, *argv):
    code = main([str(a) for a in argv] + ["--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def studies(url: str):
    store = Store(url)
    try:
        return store.studies(), store.study_counts()
    finally:
        store.close()


def test_qa_check_with_db_stores_the_study_and_its_full_checklist(capsys, exam, tmp_path):
    from test_schemas import validate

    folder, _, _ = exam
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, doc, err = run_json(capsys, "check", folder, "--db", url)
    validate(doc, "qa.check/1")
    (ref,) = doc["stored"]["studies"]
    assert ref["status"] == "added" and doc["stored"]["database"] == url
    (study,), counts = studies(url)
    record = study.record
    assert record.study_key == doc["exam"]["study_key"] == ref["study_key"]
    assert record.has_dose_report and record.dose_source == "rdsr" and record.is_calcium_score and record.qa_protocol == doc["protocol"]["id"]
    assert record.study_month == "2026-04" and record.accession_key.startswith("p-") and record.operator_key.startswith("p-")
    (check,) = record.exam_checks
    assert [(c.id, c.status) for c in check.checks] == [(c["id"], c["status"]) for c in doc["checks"]]
    motion = {c.id: c for c in check.checks}["breath_hold_motion"]
    assert motion.status != "not_available"  # qa check analyses the images: the full check is kept
    assert counts["ingested_objects"] == 0  # qa check does not mark files as ingested
    assert run_json(capsys, "check", folder, "--db", url)[1]["stored"]["studies"][0]["status"] == "unchanged"
    # a later ingest of the same folder finds nothing new: its headers-only checklist never replaces the full one
    code, ingested, _ = run_json(capsys, "ingest", folder, "--db", url)
    assert code == 0 and ingested["studies"]["unchanged"] == 1
    (again,), _ = studies(url)
    assert {c.id: c for c in again.record.exam_checks[0].checks}["breath_hold_motion"].status == motion.status


def test_without_db_nothing_is_stored(capsys, exam, tmp_path, monkeypatch):
    folder, _, report = exam
    default = tmp_path / "default.sqlite"
    monkeypatch.setenv("QA_DB_URL", f"sqlite:///{default}")
    code, doc, _ = run_json(capsys, "check", folder)
    assert doc["stored"] is None
    code, dose, _ = run_json(capsys, "dose", report)
    assert dose["stored"] is None
    assert not default.exists()


def test_qa_dose_with_db_stores_each_study_and_ingest_completes_it(capsys, exam, tmp_path):
    from test_schemas import validate

    folder, _, report = exam
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, doc, _ = run_json(capsys, "dose", report, "--db", url)
    validate(doc, "qa.dose/1")
    (ref,) = doc["stored"]["studies"]
    assert ref["status"] == "added" and ref["study_key"] == doc["reports"][0]["study_key"]
    (study,), counts = studies(url)
    record = study.record
    assert record.has_dose_report and not record.exam_checks and record.patient_key is None
    assert record.dlp_total_mgycm == pytest.approx(doc["reports"][0]["compared"]["dlp_mgycm"])
    # stored as qa ingest stores a calcium score's report: judged by the protocol qa check would choose
    assert record.qa_protocol == "cac-standard" and record.k_source.startswith("cardiac by protocol")
    judged = run_json(capsys, "dose", report, "--protocol", record.qa_protocol)[1]["reports"][0]
    assert record.dose_msv == pytest.approx(judged["effective_dose_msv"]) and record.k_source == judged["k_source"]
    assert [e.irradiation_event_uid for e in record.events] == [e["irradiation_event_uid"] for e in doc["reports"][0]["events"]]
    assert run_json(capsys, "dose", report, "--db", url)[1]["stored"]["studies"][0]["status"] == "unchanged"
    code, ingested, _ = run_json(capsys, "ingest", folder, "--db", url)
    assert ingested["studies"]["updated"] == 1  # the images add the checklist and the pseudonymised patient
    (study,), counts = studies(url)
    assert study.record.exam_checks and study.record.patient_key.startswith("p-") and counts["dose_events"] == 1


def test_an_unusable_database_is_refused_before_anything_is_read(capsys, exam, tmp_path):
    folder, _, report = exam
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database " * 10)
    for command, target in (("check", folder), ("dose", report)):
        code = main([command, str(target), "--db", f"sqlite:///{bad}", "--json"])
        out, err = capsys.readouterr()
        assert code == 2 and json.loads(out)["schema"] == "qa.error/1" and "not a SQLite database" in err
