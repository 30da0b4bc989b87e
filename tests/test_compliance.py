"""qa check: an exam against its protocol, on real GE headers and on synthetic exams written as DICOM."""

from __future__ import annotations

import json

import pydicom
import pytest

from qa.records.checks import FAIL, NOT_AVAILABLE, PASS, WARN
from qa.cli import main
from qa.compliance import check_exam
from qa.workflows.exam import load_exam
from qa.procedures import load_dose_tables
from qa.errors import DefinitionError
from qa.workflows.synth import SynthOptions, synthesize_phantom
from qa.compliance import EXAM_CHECK_IDS as EXAM_CHECKS
from qa.procedures import load_protocol

TABLES = load_dose_tables()


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _checks(checklist):
    return {c.id: c for c in checklist.checks}


def _exam(folder, **options):
    """A synthetic Siemens calcium-score exam: the 3 mm series, a thin reconstruction and a scout."""
    base = dict(vendor="siemens", z_start_mm=-30.0, z_end_mm=72.0, thickness_mm=3.0, noise_hu=10.0, matrix=256, pixel_mm=0.8,
                series_description="CaScore 3.0 Qr36", scout=True, seed=3,
                study_key="exam-1")
    synthesize_phantom(folder / "cascore", SynthOptions(**{**base, **options}))
    synthesize_phantom(folder / "thin", SynthOptions(**{**base, "thickness_mm": 1.0, "z_start_mm": -6.0, "z_end_mm": 6.0,
                                                        "series_number": 4, "series_description": "CaScore 1.0 Qr36",
                                                        "scout": False, "seed": 4}))
    return folder


def _rewrite(folder, edit):
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        if "LOCALIZER" in ds.ImageType:
            continue
        edit(ds)
        ds.save_as(path)


def test_real_ge_exam_from_its_private_tags(ct_dir):
    files = sorted(ct_dir.glob("pydicom-dicomdirtests-98892001-CT*.dcm"))
    exam, protocol = load_exam(files)
    assert protocol.id == "cac-ge" and "smartscore" in exam.protocol_choice
    checks = _checks(check_exam(exam, protocol, TABLES))
    assert [c for c in EXAM_CHECKS if c in checks] == list(checks)  # stable ids, in order
    assert checks["kvp"].status == PASS and checks["slice_thickness"].measured == 2.5
    assert checks["cardiac_phase"].measured == 70.0 and "PctRpeakDelay" in checks["cardiac_phase"].source["tag"]
    assert checks["heart_rate"].status == WARN and checks["heart_rate"].measured == pytest.approx(72.8)
    assert checks["gating_mode"].status == PASS and checks["gating_mode"].source["tag"].startswith("inferred")
    # no CTDIvol in these old headers and no dose report: not available, never a pass
    assert checks["ctdivol"].status == NOT_AVAILABLE and checks["effective_dose"].status == NOT_AVAILABLE


def test_a_compliant_synthetic_exam(tmp_path):
    exam, protocol = load_exam(_exam(tmp_path))
    assert protocol.id == "cac-siemens"
    picked = [s for s in exam.series if s.role == "checked"]
    assert len(picked) == 1 and picked[0].slice_thickness_mm == 3.0 and len(exam.series) == 2  # the thin one is listed
    checklist = check_exam(exam, protocol, TABLES)
    checks = _checks(checklist)
    for check_id in ("kvp", "slice_thickness", "slice_increment", "kernel", "reconstruction_algorithm", "reconstruction_fov",
                     "gating_mode", "cardiac_phase", "heart_rate", "scan_coverage", "ctdivol"):
        assert checks[check_id].status == PASS, checks[check_id]
    # no dose report: DLP from CTDIvol x rotations x total collimation (slice centres over 102 mm -> 3 x 38.4 mm)
    assert checks["dlp"].status == PASS and "estimated from headers" in checklist.dose.dlp_source
    assert checklist.dose.dlp_mgycm == pytest.approx(4.0 * 3 * 38.4 / 10)
    assert checklist.dose.effective.k_msv_per_mgycm == 0.026 and checklist.dose.effective.icrp_basis == 103
    # motion was not analysed (no MotionAnalysis given): every other check passed, and the verdict is incomplete, never pass
    assert [g.checks for g in checklist.summary.not_run] == [("breath_hold_motion",)]
    assert checklist.verdict == "incomplete" == checklist.summary.level
    # identifiers are pseudonymised
    text = json.dumps(checklist.to_dict(), default=str)
    assert "PHANTOM" not in text and exam.patient_key.startswith("p-")


@pytest.mark.parametrize("options, edit, check_id, status", [
    (dict(kvp=100.0), None, "kvp", FAIL),
    (dict(thickness_mm=2.0), None, "slice_thickness", FAIL),
    (dict(thickness_mm=3.0, increment_mm=1.5), None, "slice_increment", WARN),
    (dict(phase_pct=40.0), None, "cardiac_phase", WARN),
    (dict(heart_rate_bpm=82.0), None, "heart_rate", WARN),
    (dict(fov_mm=350.0), None, "reconstruction_fov", WARN),
    (dict(ctdivol_mgy=14.0), None, "ctdivol", WARN),
    ({}, lambda ds: setattr(ds, "ConvolutionKernel", "Br64"), "kernel", FAIL),
    ({}, lambda ds: setattr(ds, "CardiacSynchronizationTechnique", "RETROSPECTIVE"), "gating_mode", WARN),
    ({}, lambda ds: setattr(ds, "CardiacSynchronizationTechnique", "NONE"), "gating_mode", FAIL),
    ({}, lambda ds: setattr(ds, "ReconstructionAlgorithm", "ITERATIVE"), "reconstruction_algorithm", WARN),
])
def test_each_deviation_is_caught(tmp_path, options, edit, check_id, status):
    folder = _exam(tmp_path, **options)
    if edit is not None:
        _rewrite(folder / "cascore", edit)
    exam, protocol = load_exam(folder, protocol="cac-siemens")
    check = _checks(check_exam(exam, protocol, TABLES))[check_id]
    assert check.status == status, check


def test_missing_essentials_make_the_verdict_warn(tmp_path):
    folder = _exam(tmp_path)

    def edit(ds):
        for keyword in ("CardiacSynchronizationTechnique", "NominalPercentageOfCardiacPhase", "TriggerTime",
                        "NominalCardiacTriggerDelayTime", "HeartRate"):
            delattr(ds, keyword)

    _rewrite(folder / "cascore", edit)
    exam, protocol = load_exam(folder)
    checklist = check_exam(exam, protocol, TABLES)
    checks = _checks(checklist)
    assert checks["gating_mode"].status == NOT_AVAILABLE and "synchronised" in checks["gating_mode"].message
    assert checklist.verdict == WARN and "gating_mode" in checklist.verdict_message


def test_the_dose_report_of_the_exam_is_used(tmp_path, shared_data):
    folder = _exam(tmp_path)
    study_uid = pydicom.dcmread(next((folder / "cascore").glob("*.dcm"))).StudyInstanceUID
    report = pydicom.dcmread(shared_data / "dicom" / "rdsr" / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    report.StudyInstanceUID = study_uid  # as if the scanner had sent it with this exam
    report.save_as(folder / "dose.dcm")
    exam, protocol = load_exam(folder)
    checklist = check_exam(exam, protocol, TABLES)
    assert checklist.dose.dlp_mgycm == pytest.approx(724.52, abs=0.01)  # the report's own total
    assert "113813" in checklist.dose.dlp_source
    checks = _checks(checklist)
    assert checks["dlp"].status == WARN and checks["dlp"].source["reference_level"] == "site-cac"
    assert checks["effective_dose"].source["k_source"].startswith("cardiac by protocol")
    assert checklist.dose.effective.dose_msv == pytest.approx(0.026 * checklist.dose.effective.dlp_mgycm)


def test_the_dose_report_inside_a_zipped_exam_is_used_and_other_reports_are_not_noise(tmp_path, shared_data):
    import shutil
    import zipfile

    folder = _exam(tmp_path / "exam")
    study_uid = pydicom.dcmread(next((folder / "cascore").glob("*.dcm"))).StudyInstanceUID
    report = pydicom.dcmread(shared_data / "dicom" / "rdsr" / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    report.StudyInstanceUID = study_uid
    report.save_as(folder / "dose.dcm")
    # a structured report that is not a dose report (a plain Basic Text SR)
    other = pydicom.dcmread(shared_data / "dicom" / "rdsr" / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    other.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    other.ConceptNameCodeSequence[0].CodeValue = "11528-7"
    other.ConceptNameCodeSequence[0].CodingSchemeDesignator = "LN"
    other.SOPInstanceUID = other.SOPInstanceUID + ".9"
    other.save_as(folder / "text-sr.dcm")
    archive = tmp_path / "exam.zip"  # beside the folder, never inside it
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
    shutil.rmtree(folder)
    exam, protocol = load_exam(archive)
    checklist = check_exam(exam, protocol, TABLES)
    assert checklist.dose.dlp_mgycm == pytest.approx(724.52, abs=0.01) and "113813" in checklist.dose.dlp_source
    assert not any("dose report" in n and "text-sr" in n for n in exam.notes)


def test_cli_check_json_and_exit_codes(capsys, tmp_path):
    folder = _exam(tmp_path, kvp=100.0)
    code, out, err = run(capsys, "check", folder, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["schema"] == "qa.check/1" and doc["verdict"] == "fail"
    check = next(c for c in doc["checks"] if c["id"] == "kvp")
    assert check["measured"] == 100.0 and check["expected"] == 120 and check["source"]["tag"] == "(0018,0060) KVP"
    assert doc["exam"]["patient_key"].startswith("p-") and "VERDICT" in err
    assert doc["provenance"]["definitions"][0]["sha256"] == doc["protocol"]["sha256"]


def test_malformed_protocols_name_the_file_and_key(tmp_path, capsys):
    from qa.procedures.builtin import builtin_dir

    text = (builtin_dir("procedures") / "cac-standard.toml").read_text()
    for old, new, key in [
        ("[rules.kvp]", "[rules.kvpp]", "rules.kvpp"),
        ("range = [60.0, 80.0]", "range = [80.0, 60.0]", "rules.cardiac_phase.range"),
        ("maximum = 70.0", "maximum = \"seventy\"", "rules.heart_rate.maximum"),
        ('kind = "exam-protocol"', 'kind = "phantom-qa"', "protocol.kind"),
        ('severity = "fail"\nsource = "Agatston scoring', 'severity = "fatal"\nsource = "Agatston scoring', "rules.kvp.severity"),
    ]:
        assert old in text, old
        path = tmp_path / "bad.toml"
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(DefinitionError) as info:
            load_protocol(path)
        assert info.value.key == key and str(path) in str(info.value)
    code, _, err = run(capsys, "check", tmp_path, "--protocol", path)
    assert code == 2 and "rules.kvp.severity" in err


# ---------------------------------------------------------------------------- review findings


def test_several_studies_are_refused_and_series_uid_picks_one(tmp_path, ct_dir, capsys):
    folder = _exam(tmp_path / "siemens")
    ge = sorted(ct_dir.glob("pydicom-dicomdirtests-98892001-CT5N-*.dcm"))
    code, _, err = run(capsys, "check", folder, *ge)
    assert code == 2 and "2 studies" in err and "--series-uid" in err
    ge_uid = pydicom.dcmread(ge[0], stop_before_pixels=True).SeriesInstanceUID
    exam, protocol = load_exam([folder, *ge], series_uid=ge_uid)
    assert protocol.id == "cac-ge" and exam.headers.series_instance_uid == ge_uid  # the vendor of the checked series


def test_a_setting_that_differs_between_images_fails(tmp_path):
    folder = _exam(tmp_path)
    paths = sorted((folder / "cascore").glob("*.dcm"))
    for path in paths[1:]:
        ds = pydicom.dcmread(path)
        if "LOCALIZER" in ds.ImageType:
            continue
        ds.KVP = "100"
        ds.save_as(path)
    exam, protocol = load_exam(folder)
    check = _checks(check_exam(exam, protocol, TABLES))["kvp"]
    assert check.status == FAIL and "differs between the images" in check.message and exam.headers.kvp is None


def test_no_false_evidence_of_gating(tmp_path):
    folder = _exam(tmp_path)

    def edit(ds):
        for keyword in ("CardiacSynchronizationTechnique", "NominalPercentageOfCardiacPhase", "NominalCardiacTriggerDelayTime",
                        "HeartRate"):
            delattr(ds, keyword)
        ds.TriggerTime = "0"
        ds.ImageComments = "CARE kV 80 %"

    _rewrite(folder / "cascore", edit)
    exam, protocol = load_exam(folder)
    checks = _checks(check_exam(exam, protocol, TABLES))
    assert checks["gating_mode"].status == NOT_AVAILABLE and checks["cardiac_phase"].status == NOT_AVAILABLE


def test_the_dlp_estimate_never_irradiates_less_than_was_scanned(tmp_path):
    folder = _exam(tmp_path)
    _rewrite(folder / "cascore", lambda ds: (setattr(ds, "AcquisitionTime", "073000"), setattr(ds, "AcquisitionNumber", 1),
                                             ds.__delattr__("AcquisitionDateTime") if "AcquisitionDateTime" in ds else None))
    exam, protocol = load_exam(folder)
    checklist = check_exam(exam, protocol, TABLES)
    low, high = exam.headers.scan_range_mm
    assert checklist.dose.dlp_mgycm * 10 / exam.headers.ctdivol_mgy >= high - low  # every slice centre was irradiated


def test_a_lower_bound_below_the_level_proves_nothing(tmp_path):
    folder = _exam(tmp_path)
    _rewrite(folder / "cascore", lambda ds: ds.__delattr__("TotalCollimationWidth"))
    exam, protocol = load_exam(folder)
    checklist = check_exam(exam, protocol, TABLES)
    checks = _checks(checklist)
    assert checklist.dose.effective.lower_bound
    assert checks["dlp"].status == NOT_AVAILABLE and "lower bound" in checks["dlp"].message
    assert checks["effective_dose"].status == NOT_AVAILABLE


def test_contiguous_fbp_series_is_preferred(tmp_path):
    base = dict(vendor="siemens", z_start_mm=-15.0, z_end_mm=60.0, thickness_mm=3.0, matrix=128, pixel_mm=1.6,
                series_description="CaScore 3.0 Qr36", study_key="exam-2")
    synthesize_phantom(tmp_path / "overlap", SynthOptions(**base, increment_mm=1.5, series_number=5, seed=1))
    synthesize_phantom(tmp_path / "contiguous", SynthOptions(**base, series_number=6, seed=2))
    exam, _ = load_exam(tmp_path)
    assert exam.headers.slice_increment_mm == pytest.approx(3.0)


def test_protocols_that_name_missing_tables_or_wrong_values_are_refused(tmp_path, capsys):
    from qa.compliance import validate_protocol
    from qa.procedures.builtin import builtin_dir

    text = (builtin_dir("procedures") / "cac-standard.toml").read_text()
    cases = [
        ('k_factor = "cardiac"', 'k_factor = "cardio"', "protocol.k_factor", True),
        ('reference_level = "site-cac"', 'reference_level = "site-cacx"', "protocol.reference_level", True),
        ('expected = "prospective"', 'expected = "prospektive"', "rules.gating_mode.expected", False),
        ("[rules.kvp]\nexpected = 120", '[rules.kvp]\nexpected = "120kV"', "rules.kvp.expected", False),
        ("range = [60.0, 80.0]", "range = [60.0, 80.0]\nexpected = 70", "rules.cardiac_phase", False),
    ]
    for old, new, key, at_check in cases:
        assert old in text, old
        path = tmp_path / f"{key}.toml"
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(DefinitionError) as info:
            validate_protocol(load_protocol(path), TABLES) if at_check else load_protocol(path)
        assert info.value.key == key
    code, _, err = run(capsys, "dose", tmp_path, "--k-factor", "cardio")
    assert code == 2 and "--k-factor" in err


def test_no_folder_names_or_study_uids_in_the_json(tmp_path, capsys, shared_data):
    folder = _exam(tmp_path / "SMITH_JOHN_19500101")
    study_uid = pydicom.dcmread(next((folder / "cascore").glob("*.dcm"))).StudyInstanceUID
    report = pydicom.dcmread(shared_data / "dicom" / "rdsr" / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    report.StudyInstanceUID = study_uid
    report.save_as(folder / "dose.dcm")
    code, out, _ = run(capsys, "check", folder, "--json")
    assert "SMITH" not in out and study_uid not in out and "PHANTOM" not in out


def test_head_and_body_dlp_are_compared_apart(capsys, shared_data):
    code, out, _ = run(capsys, "dose", shared_data / "dicom" / "rdsr" / "CT-ESR-GE_VCT.dcm", "--protocol", "cac-standard", "--json")
    doc = json.loads(out)
    dlp = next(c for c in doc["reports"][0]["checks"] if c["id"] == "dlp")
    assert dlp["source"]["body_subtotal"] and dlp["measured"] == pytest.approx(1109.01, abs=0.01)
    assert doc["reports"][0]["compared"]["dlp_mgycm"] == pytest.approx(1109.01, abs=0.01)


def test_qa_dose_reads_reports_inside_a_zip(capsys, tmp_path, shared_data):
    import zipfile

    archive = tmp_path / "reports.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(shared_data / "dicom" / "rdsr" / "CT-ESR-GE_VCT.dcm", "study/dose.dcm")
        z.writestr("study/readme.txt", "not DICOM")
    code, out, _ = run(capsys, "dose", archive, "--json")
    doc = json.loads(out)
    assert code == 0 and len(doc["reports"]) == 1
    code, out, _ = run(capsys, "dose", shared_data / "dicom" / "rdsr" / "CT-ESR-GE_VCT.dcm", "--json")
    direct = json.loads(out)["reports"][0]
    assert doc["reports"][0]["dlp_total_mgycm"] == direct["dlp_total_mgycm"] == pytest.approx(2002.39, abs=0.01)


def test_qa_dose_and_qa_check_judge_a_study_by_the_same_rules(tmp_path, capsys, shared_data):
    """One policy: a site protocol whose DLP rule is a plain maximum (no reference level) fails the
    same study in qa check and in qa dose, with the same measured value and message."""
    from qa.procedures.builtin import builtin_dir

    folder = _exam(tmp_path / "exam")
    study_uid = pydicom.dcmread(next((folder / "cascore").glob("*.dcm"))).StudyInstanceUID
    report = pydicom.dcmread(shared_data / "dicom" / "rdsr" / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    report.StudyInstanceUID = study_uid
    report.save_as(folder / "dose.dcm")
    text = (builtin_dir("procedures") / "cac-standard.toml").read_text()
    site = tmp_path / "site.toml"
    site.write_text(text.replace('[rules.dlp]\nreference = "level"\nseverity = "warn"', '[rules.dlp]\nmaximum = 100\nseverity = "fail"'))
    code_check, out, _ = run(capsys, "check", folder, "--protocol", site, "--json")
    by_check = {c["id"]: c for c in json.loads(out)["checks"]}
    code_dose, out, _ = run(capsys, "dose", folder / "dose.dcm", "--protocol", site, "--json")
    by_dose = {c["id"]: c for c in json.loads(out)["reports"][0]["checks"]}
    assert code_check == code_dose == 1
    assert set(by_dose) == {"ctdivol", "dlp", "effective_dose"}  # what the protocol has rules for
    # (CTDIvol differs by design: qa check takes the calcium-score series' own, qa dose the report's highest scan)
    for check_id in ("dlp", "effective_dose"):
        mine, theirs = by_check[check_id], by_dose[check_id]
        assert (mine["status"], mine["measured"], mine["expected"], mine["message"]) == \
               (theirs["status"], theirs["measured"], theirs["expected"], theirs["message"]), check_id
    assert by_dose["dlp"]["status"] == "fail" and by_dose["dlp"]["expected"] == "<= 100"
