"""Reference levels that agree with each other, compared as what they are, and phantom QA studies
told apart (issue 14, point 6).

Every shipped dose table's DLP and effective-dose levels agree through the k they name; a
diagnostic reference level (``compares = "median"``) is shown beside one exam for context, never
as its pass, warn or fail; ``qa dose`` says why no level applies, never truncates a region, and
gives a phantom QA study no patient effective dose.  Real dose reports: written by our own
synthesiser (:mod:`qa.dicom.write_rdsr`) and the public ones in ``../shared/data``.
"""

from __future__ import annotations

import json
import tomllib

import pytest

from qa.cli import main
from qa.dicom.write_rdsr import DoseReportHeader, SyntheticEvent, write_dose_report
from qa.dose import AUDIT_LEVEL, LEVEL_K_TOLERANCE, compare_with_level, dose_values_from_report, level_status
from qa.procedures import load_dose_tables, load_protocol
from qa.procedures.builtin import builtin_dir
from qa.records.identity import Pseudonymiser
from qa.records.phantom_qa import PHANTOM_WORDS, is_phantom_qa, phantom_qa_evidence
from qa.workflows import ingest_study


def _shipped(kind: str) -> list:
    """The shipped definition files of one kind (``dose-tables``, ``exam-protocol``)."""
    out = []
    for path in sorted(builtin_dir("procedures").glob("*.toml")):
        head = next((t for t in tomllib.loads(path.read_text(encoding="utf-8")).values() if isinstance(t, dict) and "kind" in t), {})
        if head.get("kind") == kind:
            out.append(path)
    return out


# ------------------------------------------------------------------------------------ the tables


def test_every_shipped_levels_dlp_times_its_k_is_its_msv_level():
    tables = _shipped("dose-tables")
    assert tables, "no shipped dose table found"
    checked = 0
    for path in tables:
        t = load_dose_tables(str(path))
        for level in t.reference_levels:
            if level.dlp_mgycm is None or level.dose_msv is None:
                continue
            assert level.k_factor in t.k_factors, f"{path.name}: {level.id} gives DLP and mSv levels but names no k-factor"
            implied = level.dlp_mgycm * t.k_factors[level.k_factor].k_msv_per_mgycm
            assert level.dose_msv == pytest.approx(implied, rel=LEVEL_K_TOLERANCE), \
                f"{path.name}: {level.id}: {level.dlp_mgycm} mGy cm x k = {implied:.3g} mSv, not {level.dose_msv}"
            checked += 1
    assert checked >= 1  # site-cac gives both


def test_every_shipped_protocol_converts_dose_with_the_k_of_its_level():
    """A protocol whose k differs from its level's would judge an mSv the level was not made for."""
    t = load_dose_tables()
    levels = {level.id: level for level in t.reference_levels}
    for path in _shipped("exam-protocol"):
        p = load_protocol(str(path))
        level = levels.get(p.reference_level)
        if level is not None and level.k_factor is not None and level.dose_msv is not None:
            assert p.k_factor == level.k_factor, f"{path.name}: k {p.k_factor} but {level.id} was derived with {level.k_factor}"


def test_every_level_says_in_its_file_whether_it_is_a_drl_or_a_per_exam_alert_level():
    text = (builtin_dir("procedures") / "dose-reference.toml").read_text(encoding="utf-8")
    assert "PER-EXAM ALERT LEVEL" in text and "DIAGNOSTIC REFERENCE LEVEL" in text
    assert "200 mGy cm x 0.026 mSv/(mGy cm) = 5.2 mSv" in text  # the arithmetic, shown
    for level in load_dose_tables().reference_levels:
        assert level.compares in ("median", "each_exam") and level.what.endswith(("(audit level)", "per-exam alert level"))


# ------------------------------------------------------------------------------------ one exam against a DRL


def _report(tmp_path, name: str, events, **header) -> str:
    return write_dose_report(tmp_path / name, events, header=DoseReportHeader(**header) if header else None)


def test_a_drl_beside_one_exam_is_shown_for_context_never_judged(tmp_path):
    from qa.dicom.rdsr import merge_reports, read_dose_report

    path = _report(tmp_path, "ccta.dcm", [SyntheticEvent(protocol="Coronary CTA", ctdivol_mgy=15.0, dlp_mgycm=400.0,
                                                         target_region="heart")])
    tables = load_dose_tables()
    drl = next(level for level in tables.reference_levels if level.id == "uk-ndrl-ccta-prospective")
    (study,) = merge_reports([read_dose_report(path, pseudonymise=Pseudonymiser(b"k" * 32))])
    values = dose_values_from_report(study, tables)
    comparison = compare_with_level(values, drl, "dlp_mgycm")
    assert comparison.outcome == AUDIT_LEVEL and level_status(comparison, "fail") == "not_applicable"
    assert "compare the median of many exams" in comparison.message and "not one exam" in comparison.message

    doc = _dose_json(path)
    (s,) = doc["reports"]
    assert s["reference_level"]["id"] == "uk-ndrl-ccta-prospective" and s["reference_level"]["compares"] == "median"
    dlp = next(c for c in s["checks"] if c["id"] == "dlp")
    assert dlp["status"] == "not_applicable" and dlp["measured"] == 400.0 and "audit level" in dlp["message"]
    # 400 mGy cm is far above the DRL's 170, yet one exam is never judged by a DRL: not judged, never a pass
    assert s["verdict"] == "incomplete" and "shown for context" in s["verdict_message"]


def test_a_per_exam_alert_level_still_warns_for_one_exam(tmp_path, capsys):
    path = _report(tmp_path, "cac.dcm", [SyntheticEvent(protocol="Calcium Score", ctdivol_mgy=12.0, dlp_mgycm=240.0)])
    doc = _dose_json(path)
    (s,) = doc["reports"]
    assert s["reference_level"]["id"] == "site-cac" and s["reference_level"]["k_factor"] == "cardiac"
    assert {c["id"]: c["status"] for c in s["checks"]} == {"ctdivol": "warn", "dlp": "warn", "effective_dose": "warn"}
    assert s["verdict"] == "warn"


def _dose_json(*paths) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["dose", *map(str, paths), "--json"]) in (0, 1)
    return json.loads(out.getvalue())


# ------------------------------------------------------------------------------------ qa dose says what it means


def test_qa_dose_says_why_no_level_applies_and_never_truncates_the_region(capsys, shared_data):
    assert main(["dose", str(shared_data / "dicom" / "rdsr" / "CT-RDSR-ToshibaPixelMed.dcm")]) == 0
    out = capsys.readouterr().out
    assert "Chest, Abdomen and Pelvis" in out  # the whole region, never "Chest, Abdomen a"
    (level,) = [line for line in out.splitlines() if line.startswith("Level")]
    assert "a phantom QA study (PatientName)" in level  # its patient is named "QATesting^Physics" (never shown)
    assert main(["dose", str(shared_data / "dicom" / "rdsr" / "CT-ESR-GE_Optima.dcm")]) == 0
    (level,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Level")]
    assert "no reference level matches" in level and "has levels for: site-cac" in level
    assert level.strip() != "Level    none"


def test_qa_dose_gives_a_phantom_qa_study_no_patient_dose_and_no_level(capsys, shared_data):
    """The Siemens physics tests (41 mSv as a 'patient') and a daily QA report: phantoms, said so."""
    rdsr = shared_data / "dicom" / "rdsr"
    assert main(["dose", str(rdsr / "CT-RDSR-Siemens_Flash-QA-DS.dcm"), str(rdsr / "CT-RDSR-SpectrumDynamics.dcm"), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    by_evidence = {s["phantom_qa"]: s for s in doc["reports"]}
    assert set(by_evidence) == {"StudyDescription 'Specials^PhysicsTesting (Adult)'", "acquisition protocol 'Daily QA'"}
    for s in doc["reports"]:
        assert s["effective_dose_msv"] is None and s["reference_level"] is None and s["verdict"] == "incomplete"
        assert all(e["dose_msv"] is None and e["k_msv_per_mgycm"] is None for e in s["events"])
        assert {c["status"] for c in s["checks"]} == {"not_applicable"}
        assert s["compared"]["dlp_mgycm"] > 0  # the phantom's DLP is still reported
    assert "E        none: phantom QA study" in captured.err and "no patient effective dose" in captured.err


def test_qa_dose_db_stores_a_phantom_qa_report_as_a_qa_study(tmp_path, shared_data):
    from qa.workflows.trends import store_trends

    db = f"sqlite:///{tmp_path / 'dose.sqlite'}"
    assert main(["dose", str(shared_data / "dicom" / "rdsr" / "CT-RDSR-Siemens_Flash-QA-DS.dcm"), "--db", db]) == 0
    (group,) = store_trends("dose", by="none", db=db).groups
    assert group.n_qa_studies == 1


def test_the_phantom_qa_rule_is_one_rule_shared_with_ingest():
    assert ingest_study.is_phantom_qa is is_phantom_qa and ingest_study.PHANTOM_WORDS is PHANTOM_WORDS
    assert is_phantom_qa(["Specials^PhysicsTesting (Adult)"]) and is_phantom_qa(["Daily QA"]) and is_phantom_qa(["PhantomQA"])
    assert is_phantom_qa(["weekly quality control"]) and is_phantom_qa(["4DCT /PHYSICS"])
    assert not is_phantom_qa(["Thorax^TAP (Adult)", "Aquarium", "Coronary CTA", None, ""])
    assert phantom_qa_evidence([("StudyDescription", "Thorax"), ("acquisition protocol", "QA Phantom")]) == \
        "acquisition protocol 'QA Phantom'"
