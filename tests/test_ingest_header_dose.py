"""The dose of an exam without a dose report, estimated from its image headers, takes the k of the
region its images show, as a dose report's Target Region selects one: BodyPartExamined HEART is
cardiac, a cardiac protocol name on a CHEST exam is cardiac too; the k provenance says which region
and why.  Real exams of ``qa synth exams`` with their dose report removed, real SQLite stores."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pydicom
import pytest

from qa.procedures import load_dose_tables
from qa.store import Store
from qa.workflows.ingest import ingest
from qa.workflows.synth import FleetOptions, synthesize_exams


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet") / "fleet"
    synthesize_exams(root, FleetOptions(exams=24, scanners=1, months=1, seed=5, start="2026-01"), workers=1)
    return root, list(csv.DictReader((root / "truth.csv").open()))


@pytest.fixture(scope="module")
def k():
    return {k.id: k for k in load_dose_tables("dose-reference").k_factors.values()}


def without_report(fleet, kind: str, dest: Path, **headers) -> Path:
    """A copy of the fleet's first study of ``kind`` without its dose report; ``headers`` rewritten in its images."""
    root, truth = fleet
    row = next(r for r in truth if r["kind"] == kind and r["has_rdsr"] == "true")
    study = dest / kind
    shutil.copytree(root / row["folder"], study)
    for sr in study.glob("SR*"):
        shutil.rmtree(sr)
    for path in study.rglob("*.dcm"):
        if headers:
            ds = pydicom.dcmread(path)
            for keyword, value in headers.items():
                if value is None:
                    delattr(ds, keyword) if keyword in ds else None
                else:
                    setattr(ds, keyword, value)
            ds.save_as(path)
    return study


def stored_study(folder: Path, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    run = ingest([folder], db=url)
    assert run.studies.added == 1 and not run.refused
    store = Store(url)
    try:
        (study,) = store.studies()
    finally:
        store.close()
    return study.record


def test_a_coronary_cta_without_its_dose_report_takes_the_cardiac_k_of_body_part_heart(fleet, k, tmp_path):
    record = stored_study(without_report(fleet, "ccta", tmp_path), tmp_path)
    assert record.dose_source == "headers" and not record.has_dose_report
    assert record.k_msv_per_mgycm == k["cardiac"].k_msv_per_mgycm != k["chest"].k_msv_per_mgycm
    assert record.k_source.startswith("cardiac by target region (BodyPartExamined HEART): Trattner")
    assert record.dose_msv == pytest.approx(k["cardiac"].k_msv_per_mgycm * record.dlp_total_mgycm)


def test_a_cardiac_exam_labelled_chest_takes_the_cardiac_k_because_its_protocol_name_says_cardiac(fleet, k, tmp_path):
    record = stored_study(without_report(fleet, "ccta", tmp_path, BodyPartExamined="CHEST"), tmp_path)
    assert record.k_msv_per_mgycm == k["cardiac"].k_msv_per_mgycm
    assert record.k_source.startswith("cardiac by target region (ProtocolName 'Coronary CTA' names a cardiac exam; "
                                      "BodyPartExamined CHEST)")


def test_a_chest_ct_without_its_dose_report_keeps_the_chest_k_of_its_body_part(fleet, k, tmp_path):
    record = stored_study(without_report(fleet, "chest", tmp_path), tmp_path)
    assert record.k_msv_per_mgycm == k["chest"].k_msv_per_mgycm
    assert record.k_source.startswith("chest by target region (BodyPartExamined CHEST): Deak")


def test_images_that_name_no_region_take_the_body_phantom_default_labelled_as_such(fleet, k, tmp_path):
    record = stored_study(without_report(fleet, "ccta", tmp_path, BodyPartExamined=None, ProtocolName="Routine 1",
                                         SeriesDescription="Body 0.75", StudyDescription="Routine"), tmp_path)
    assert record.k_msv_per_mgycm == k["chest"].k_msv_per_mgycm
    assert record.k_source.startswith("chest by default for the body32 phantom")


def test_a_calcium_score_without_its_dose_report_keeps_its_protocols_k(fleet, k, tmp_path):
    record = stored_study(without_report(fleet, "cac", tmp_path, BodyPartExamined="CHEST"), tmp_path)
    assert record.is_calcium_score and record.qa_protocol.startswith("cac")
    assert record.k_source.startswith("cardiac by protocol")
    (check,) = record.exam_checks
    assert {c.id: c for c in check.checks}["effective_dose"].source["k_source"].startswith("cardiac by protocol")
