"""An exam checklist with checks that could not be run is ``incomplete``, never a pass (issue 14, point 2):
its banner, ``qa check --json``, the stored checklist, ``qa trends compliance`` (counted apart, the pass
rate stated) and the dashboard all say so; exit 0 as for a pass; a dose report that comes later
completes it (``qa dose --db``, ``qa ingest``) and it turns to pass.  Real DICOM of our synthesisers
(images without CTDIvol, so the dose cannot be checked before the report), real SQLite and
PostgreSQL stores, the command line as a user runs it."""

from __future__ import annotations

import csv
import json
import shutil

import pydicom
import pytest
from ingest_site import write_exam

from qa.cli import main
from qa.records.checks import Check
from qa.records.verdicts import run_verdict

DOSE_CHECKS = ("ctdivol", "dlp", "effective_dose")


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    """A compliant calcium-score exam (2 x 48 mm stacks) whose images carry no CTDIvol, and its dose report apart."""
    root = tmp_path_factory.mktemp("incomplete")
    folder, _, report = write_exam(root / "site", 71, ctdivol_mgy=2.5, dlp_mgycm=41.0, stack_mm=48.0)
    images, reports = root / "images", root / "reports"
    shutil.copytree(folder, images, ignore=shutil.ignore_patterns(report.name))
    for path in images.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        del ds.CTDIvol  # neither the headers nor a dose report give the dose: the dose checks cannot be run
        ds.save_as(path)
    reports.mkdir()
    shutil.copy(report, reports / report.name)
    return images, reports / report.name


def qa(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def stored_verdicts(url: str) -> list[tuple[str, dict]]:
    from qa.store import Store

    store = Store(url)
    try:
        return [(c.verdict, c.document) for s in store.studies() for c in s.record.exam_checks]
    finally:
        store.close()


def test_a_checklist_with_nothing_failed_or_warned_but_checks_not_run_is_incomplete_and_exits_0(capsys, exam):
    from test_schemas import validate

    images, _ = exam
    code, out, err = qa(capsys, "check", images, "--json")
    doc = json.loads(out)
    validate(doc, "qa.check/1")
    statuses = {c["id"]: c["status"] for c in doc["checks"]}
    assert {statuses[c] for c in DOSE_CHECKS} == {"not_available"}
    assert not {"fail", "warn"} & set(statuses.values())
    assert code == 0 and doc["verdict"] == "incomplete" == doc["summary"]["level"]  # the verdict says what the banner says
    assert doc["verdict_message"] == "INCOMPLETE"
    assert "VERDICT  INCOMPLETE: 3 of " in err and "PASS" not in err.split("VERDICT")[1]


def test_the_checklist_is_stored_incomplete_counted_apart_in_compliance_trends_and_completed_by_a_later_dose_report(
        capsys, exam, tmp_path):
    images, report = exam
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    assert qa(capsys, "check", images, "--db", url)[0] == 0
    ((verdict, document),) = stored_verdicts(url)
    assert verdict == "incomplete" == document["verdict"] == document["summary"]["level"]
    code, out, err = qa(capsys, "trends", "compliance", "--db", url, "--by", "none", "--json")
    (group,) = json.loads(out)["groups"]
    assert group["verdicts"] == {"pass": 0, "incomplete": 1, "warn": 0, "fail": 0} and group["n_incomplete"] == 1
    assert group["n_checked"] == 1 and group["pass_rate"] == 0.0  # an incomplete checklist is no pass
    assert "pass rate = pass / checked studies: incomplete, warn and fail count as not passed" in err
    table = tmp_path / "compliance.csv"
    assert qa(capsys, "trends", "compliance", "--db", url, "--by", "none", "--csv", table)[0] == 0
    (row,) = csv.DictReader(table.open(newline=""))
    assert row["Verdict incomplete (n_incomplete)"] == "1" and row["Verdict pass"] == "0"
    assert row["Pass rate (%) = pass / checked studies: incomplete, warn and fail count as not passed"] == "0.0"
    # the dose report arrives later: qa dose --db judges the stored checklist's dose checks on it, and it turns to pass
    code, out, _ = qa(capsys, "dose", report, "--db", url, "--json")
    assert code == 0 and json.loads(out)["stored"]["studies"][0]["status"] == "updated"
    ((verdict, document),) = stored_verdicts(url)
    assert verdict == "pass" == document["verdict"] == document["summary"]["level"]
    assert {c["id"]: c["status"] for c in document["checks"] if c["id"] in DOSE_CHECKS} == dict.fromkeys(DOSE_CHECKS, "pass")
    (group,) = json.loads(qa(capsys, "trends", "compliance", "--db", url, "--by", "none", "--json")[1])["groups"]
    assert group["verdicts"]["pass"] == 1 and group["n_incomplete"] == 0 and group["pass_rate"] == 1.0


def test_an_ingested_checklist_judges_the_headers_and_turns_from_incomplete_to_pass_when_its_dose_report_is_ingested(
        capsys, exam, store_url):
    """Ingest reads headers only: motion is not applicable to it (qa check judges it), so what decides
    its verdict is what the headers and the dose report could give."""
    images, report = exam
    url = store_url
    assert qa(capsys, "ingest", images, "--db", url)[0] == 0
    ((verdict, document),) = stored_verdicts(url)
    motion = next(c for c in document["checks"] if c["id"] == "breath_hold_motion")
    assert (motion["status"], motion["message"]) == ("not_applicable", "not analysed at ingest: headers only")
    assert verdict == "incomplete" == document["summary"]["level"]
    assert sorted(i for g in document["summary"]["not_run"] for i in g["checks"]) == sorted(DOSE_CHECKS)
    assert qa(capsys, "ingest", report, "--db", url)[0] == 0
    ((verdict, document),) = stored_verdicts(url)
    assert verdict == "pass" == document["verdict"] == document["summary"]["level"]


def test_the_verdict_of_checks_is_incomplete_only_when_nothing_failed_or_warned():
    passed, missing = Check("kvp", "pass", 120, 120, "ok"), Check("dlp", "not_available", None, 200, "no DLP")
    assert run_verdict([passed, missing]) == "incomplete" and run_verdict([passed]) == "pass"
    assert run_verdict([passed, missing, Check("heart_rate", "warn", 80, 70, "high")]) == "warn"
    assert run_verdict([passed, missing, Check("kernel", "fail", "B70f", "B35f", "sharp")]) == "fail"
