"""What is stored of a study never depends on the order or the path its files took: images and dose
report ingested in one run, in two runs (either order), or the report stored by ``qa dose --db``
before or after ``qa ingest``, all give the same stored rows: the dose (its k and k source), the
events, and the checklist whose dose checks are judged on the report.  Real DICOM of our
synthesisers, real SQLite stores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from ingest_site import write_exam

from qa.cli import main

# Columns that say when or by which run a row was written, not what it holds.
_WHEN = {"id", "study_id", "exam_check_id", "ingested_at", "analysed_at"}
# The parts of a stored qa.check/1 document that a dose report judges.
_JUDGED = ("checks", "verdict", "verdict_message", "dose", "reference_level", "reference_level_choice")


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    """A calcium-score exam: its images in one folder, its dose report in another."""
    root = tmp_path_factory.mktemp("order")
    folder, _, report = write_exam(root / "site", 51, ctdivol_mgy=2.5, dlp_mgycm=41.0)
    images, reports = root / "images", root / "reports"
    shutil.copytree(folder, images, ignore=shutil.ignore_patterns(report.name))
    reports.mkdir()
    shutil.copy(report, reports / report.name)
    return folder, images, reports / report.name


def qa_json(capsys, *argv) -> dict:
    capsys.readouterr()
    code = main([str(a) for a in argv] + ["--json"])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    return json.loads(out)


def snapshot(url: str) -> dict:
    """Every stored row of the studies' tables, without the columns that only say when it was written;
    of a checklist's document, what the dose report judges."""
    engine = sa.create_engine(url)
    tables = {}
    with engine.connect() as c:
        scanners = {r.id: (r.manufacturer, r.model, r.serial, r.station_name) for r in c.execute(sa.text("SELECT * FROM scanners"))}
        tables["scanners"] = sorted(scanners.values(), key=repr)  # no scanner made by a run and left unused
        for table in ("studies", "dose_events", "exam_checks", "exam_check_results", "ingested_objects"):
            rows = []
            for row in c.execute(sa.text(f"SELECT * FROM {table}")).mappings():
                row = {k: v for k, v in row.items() if k not in _WHEN}
                if "scanner_id" in row:
                    row["scanner_id"] = scanners[row["scanner_id"]]
                if table == "exam_checks":
                    document = json.loads(row.pop("document"))
                    row["judged"] = {k: document.get(k) for k in _JUDGED}
                    row.pop("qa_version")
                rows.append(row)
            tables[table] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    engine.dispose()
    return tables


def url_in(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


@pytest.fixture(scope="module")
def one_run(exam, tmp_path_factory):
    """The store of one ingest of the images and the dose report together."""
    import os

    from qa.workflows.ingest import ingest

    folder, _, _ = exam
    url = url_in(tmp_path_factory.mktemp("one-run"), "qa.sqlite")
    old = os.environ.get("QA_SECRET_FILE")
    os.environ["QA_SECRET_FILE"] = str(folder.parent.parent / "secret")
    try:
        assert ingest([folder], db=url).studies.added == 1
    finally:
        os.environ.pop("QA_SECRET_FILE") if old is None else os.environ.__setitem__("QA_SECRET_FILE", old)
    return url, snapshot(url)


@pytest.fixture
def same_secret(exam, monkeypatch):
    folder, _, _ = exam
    monkeypatch.setenv("QA_SECRET_FILE", str(folder.parent.parent / "secret"))


def test_a_dose_report_ingested_after_its_images_rejudges_their_checklist_as_one_run_would(capsys, exam, one_run, same_secret,
                                                                                           tmp_path):
    _, images, report = exam
    url = url_in(tmp_path, "qa.sqlite")
    qa_json(capsys, "ingest", images, "--db", url)
    first = snapshot(url)
    (study,) = first["studies"]
    assert study["dose_source"] == "headers" and not study["has_dose_report"]
    (check,) = first["exam_checks"]
    assert not check["judged"]["dose"]["from_report"]  # judged on the headers' estimate
    doc = qa_json(capsys, "ingest", report, "--db", url)
    assert doc["studies"]["updated"] == 1
    after = snapshot(url)
    assert after["exam_checks"][0]["judged"]["dose"]["from_report"]
    dlp = next(r for r in after["exam_check_results"] if r["check_id"] == "dlp")
    assert json.loads(dlp["measured"]) == pytest.approx(41.0)  # the report's DLP, not the headers' estimate
    assert after == one_run[1]


def test_images_ingested_after_their_dose_report_store_what_one_run_stores(capsys, exam, one_run, same_secret, tmp_path):
    _, images, report = exam
    url = url_in(tmp_path, "qa.sqlite")
    qa_json(capsys, "ingest", report, "--db", url)
    (study,) = snapshot(url)["studies"]
    assert study["qa_protocol"] == "cac-standard" and study["k_source"].startswith("cardiac by protocol")  # as with its images
    qa_json(capsys, "ingest", images, "--db", url)
    assert snapshot(url) == one_run[1]


def test_qa_dose_db_on_an_ingested_study_changes_nothing(capsys, exam, one_run, same_secret, tmp_path):
    folder, _, report = exam
    url = url_in(tmp_path, "qa.sqlite")
    qa_json(capsys, "ingest", folder, "--db", url)
    doc = qa_json(capsys, "dose", report, "--db", url)
    assert [s["status"] for s in doc["stored"]["studies"]] == ["unchanged"]
    assert snapshot(url) == one_run[1]
    doc = qa_json(capsys, "dose", report, "--db", url, "--k-factor", "chest")  # what qa dose prints, never what is stored
    assert [s["status"] for s in doc["stored"]["studies"]] == ["unchanged"]


def test_qa_dose_db_before_the_ingest_stores_what_the_ingest_stores(capsys, exam, one_run, same_secret, tmp_path):
    folder, _, report = exam
    dosed, ingested = url_in(tmp_path, "dose.sqlite"), url_in(tmp_path, "ingest.sqlite")
    qa_json(capsys, "dose", report, "--db", dosed)
    qa_json(capsys, "ingest", report, "--db", ingested)
    by_dose, by_ingest = snapshot(dosed), snapshot(ingested)
    apart = {"patient_key", "accession_key", "operator_key", "fingerprint"}  # qa dose reads no patient, accession or operator

    def dose_rows(rows):
        return [{k: v for k, v in row.items() if k not in apart} for row in rows]

    assert dose_rows(by_dose["studies"]) == dose_rows(by_ingest["studies"]) and by_dose["dose_events"] == by_ingest["dose_events"]
    qa_json(capsys, "ingest", folder, "--db", dosed)
    final = snapshot(dosed)
    assert {k: v for k, v in final.items() if k != "ingested_objects"} == {k: v for k, v in one_run[1].items() if k != "ingested_objects"}
