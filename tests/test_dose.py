"""Effective dose, k provenance, head/body separation, DLP estimates and reference levels (real dose reports)."""

from __future__ import annotations

import json

import pytest

from qa.records.identity import Pseudonymiser

from qa.cli import main
from qa.dicom.rdsr import merge_reports, read_dose_report
from qa.dose import estimated_dlp, event_dose, reference_level_for, study_dose
from qa.procedures import load_dose_tables
from qa.errors import DefinitionError

KEYS = Pseudonymiser.ephemeral()  # one key for every report of these tests: one study, one study_key

TABLES = load_dose_tables()


def test_every_k_factor_and_level_says_where_it_comes_from():
    for k in TABLES.k_factors.values():
        assert k.source and k.icrp_basis in (60, 103) and 0 < k.k_msv_per_mgycm < 0.1
    assert TABLES.k_factors["cardiac"].k_msv_per_mgycm == 0.026 and TABLES.k_factors["cardiac"].icrp_basis == 103
    assert TABLES.k_factors["chest-legacy"].k_msv_per_mgycm == 0.014 and TABLES.k_factors["chest-legacy"].icrp_basis == 60
    kinds = {level.id: level.kind for level in TABLES.reference_levels}
    assert kinds["site-cac"] == "site" and kinds["uk-ndrl-ccta-prospective"] == "national"
    site = next(level for level in TABLES.reference_levels if level.id == "site-cac")
    assert (site.ctdivol_mgy, site.dlp_mgycm, site.dose_msv, site.k_factor) == (10.0, 200.0, 5.2, "cardiac") and "placeholder" in site.source
    # national DRLs are audited against a median; the site calcium-score level is a per-exam alert level
    assert {level.id: level.compares for level in TABLES.reference_levels} == {
        "site-cac": "each_exam", "uk-ndrl-ccta-prospective": "median", "uk-ndrl-ccta-prospective-padding": "median",
        "uk-ndrl-ccta-retrospective": "median"}


def test_k_by_target_region_in_both_code_generations():
    srt = event_dose(100.0, "body32", ("T-32000", "SRT"), TABLES)
    sct = event_dose(100.0, "body32", ("80891009", "SCT"), TABLES)
    assert srt.k_id == sct.k_id == "cardiac" and srt.dose_msv == pytest.approx(2.6)
    default = event_dose(100.0, "body32", None, TABLES)
    assert default.k_id == "chest" and "default" in default.k_source
    # the protocol's k wins for body events, never for a head-phantom event
    assert event_dose(100.0, "body32", ("T-D3000", "SRT"), TABLES, protocol_k="cardiac").k_id == "cardiac"
    assert event_dose(100.0, "head16", None, TABLES, protocol_k="cardiac").k_id == "head"


def test_head_and_body_dlp_are_never_mixed(shared_data):
    report = read_dose_report(shared_data / "dicom" / "rdsr" / "CT-ESR-GE_VCT.dcm", pseudonymise=KEYS)
    estimate = study_dose(report.events, TABLES, dlp_total_mgycm=report.dlp_total_mgycm)
    head = sum(e.dlp_mgycm for e in report.events if e.phantom == "head16" and e.dlp_mgycm)
    body = sum(e.dlp_mgycm for e in report.events if e.phantom == "body32" and e.dlp_mgycm)
    assert head > 0 and body > 0
    expected = head * TABLES.k_factors["head"].k_msv_per_mgycm + body * TABLES.k_factors["chest"].k_msv_per_mgycm
    assert estimate.dose_msv == pytest.approx(expected)
    assert estimate.k_msv_per_mgycm is None and "per event" in estimate.k_source
    assert any("never as one DLP" in n for n in estimate.notes)


def test_cumulative_resends_are_dosed_once(shared_data):
    folder = shared_data / "dicom" / "rdsr"
    reports = [read_dose_report(folder / f"CT-RDSR-Siemens-Multi-{n}.dcm", pseudonymise=KEYS) for n in (1, 2, 3)]
    (study,) = merge_reports(reports)
    estimate = study_dose(study.events, TABLES, dlp_total_mgycm=study.dlp_total_mgycm)
    assert study.dlp_total_mgycm == pytest.approx(236.09, abs=0.01)
    assert estimate.dlp_mgycm == pytest.approx(236.09, abs=0.05)


def test_dlp_estimated_from_headers():
    # axial: the rotations needed to cover 105 mm with 38.4 mm collimation (3), times the collimation
    dlp, how, lower = estimated_dlp(4.0, total_collimation_mm=38.4, covered_length_mm=105.0, axial=True)
    assert dlp == pytest.approx(4.0 * 3 * 3.84) and not lower and "3 axial rotation" in how
    # the irradiated length is never shorter than what was scanned
    dlp, _, _ = estimated_dlp(4.0, total_collimation_mm=38.4, covered_length_mm=111.0, axial=True)
    assert dlp * 10 / 4.0 >= 111.0
    # spiral or unknown collimation: the covered length, marked a lower bound
    dlp, how, lower = estimated_dlp(4.0, total_collimation_mm=38.4, covered_length_mm=105.0, axial=False)
    assert dlp == pytest.approx(42.0) and lower and "lower bound" in how
    assert estimated_dlp(4.0, total_collimation_mm=None, covered_length_mm=105.0, axial=True)[2]
    # a 140 mm wide-detector volume scan whose 3 mm slices cover 141 mm is one rotation, not two
    dlp, how, _ = estimated_dlp(12.8, total_collimation_mm=140.0, covered_length_mm=141.0, axial=True, centres_range_mm=138.0)
    assert dlp == pytest.approx(12.8 * 14.0) and "1 axial rotation" in how
    assert estimated_dlp(None, total_collimation_mm=38.4, covered_length_mm=105.0, axial=True)[0] is None


def test_reference_level_choice_says_why():
    level, why = reference_level_for(TABLES, protocol_id="cac-siemens")
    assert level.id == "site-cac" and "protocol" in why
    level, why = reference_level_for(TABLES, names=["Coronary CTA prospective"])
    assert level.id == "uk-ndrl-ccta-prospective" and "coronary cta" in why
    assert reference_level_for(TABLES, names=["Abdomen routine"])[0] is None


def test_malformed_dose_tables_name_the_key(tmp_path):
    from qa.procedures.builtin import builtin_dir

    text = (builtin_dir("procedures") / "dose-reference.toml").read_text()
    path = tmp_path / "tables.toml"
    path.write_text(text.replace("icrp_basis = 103", "icrp_basis = 102", 1))
    with pytest.raises(DefinitionError) as info:
        load_dose_tables(path)
    assert info.value.key == "k_factors[0].icrp_basis"


def test_cli_dose(capsys, shared_data):
    folder = shared_data / "dicom" / "rdsr"
    code = main(["dose", str(folder / "CT-RDSR-Siemens-Continued-1.dcm"), str(folder / "CT-RDSR-Siemens-Continued-2.dcm"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "qa.dose/1" and len(doc["reports"]) == 1  # one per study: the continued study's two reports
    study = doc["reports"][0]
    assert set(study) >= {"source_file", "study_key", "manufacturer", "model", "station_name", "study_datetime", "events",
                          "dlp_total_mgycm", "dlp_by_phantom_mgycm", "effective_dose_msv", "k_source", "icrp_basis"}
    assert study["dlp_total_mgycm"] == pytest.approx(60.17 + 56.44, abs=0.02) and len(study["events"]) == 4
    event = study["events"][0]
    assert set(event) >= {"irradiation_event_uid", "acquisition_type", "protocol", "target_region", "kvp", "ctdivol_mgy",
                          "dlp_mgycm", "phantom", "k_msv_per_mgycm"}
    assert study["effective_dose_msv"] > 0 and study["k_source"] and study["icrp_basis"] in (60, 103)
    assert "/" not in study["source_file"]  # a file name, never a folder path
    assert study["study_key"].startswith("p-") and "study_instance_uid" not in study  # the pseudonym, never the UID
    code = main(["dose", str(folder / "ESR_non-dose.dcm")])
    _, err = capsys.readouterr()
    assert code == 2 and "dose report" in err.lower()


def test_a_level_is_compared_with_the_body_part_of_a_mixed_study(shared_data):
    from qa.dose import compared_dose

    report = read_dose_report(shared_data / "dicom" / "rdsr" / "CT-ESR-GE_VCT.dcm", pseudonymise=KEYS)
    compared = compared_dose(report.events, report.dlp_total_mgycm, report.dlp_by_phantom_mgycm)
    body_scans = [e.ctdivol_mgy for e in report.events
                  if e.phantom == "body32" and e.acquisition_type != "constant_angle" and e.ctdivol_mgy is not None]
    assert compared.mixed and compared.dlp_mgycm == pytest.approx(report.dlp_by_phantom_mgycm["body32"])
    assert compared.ctdivol_mgy == max(body_scans)
    everything = compared_dose(report.events, report.dlp_total_mgycm, {})
    assert not everything.mixed and everything.dlp_mgycm == report.dlp_total_mgycm


def test_the_level_a_protocol_names_wins_whatever_its_path():
    from qa.procedures import load_protocol

    protocol = load_protocol("cac-standard")
    level, why = reference_level_for(TABLES, protocol_id=protocol.id, named_level=protocol.reference_level)
    assert level.id == protocol.reference_level and "named by protocol" in why


def _dose_json(capsys, *argv) -> dict:
    from test_schemas import validate

    code = main(["dose", *[str(a) for a in argv], "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return validate(json.loads(out), "qa.dose/1")


def test_a_study_no_per_exam_level_judged_is_incomplete_never_a_pass(capsys, shared_data, tmp_path):
    from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report

    folder = shared_data / "dicom" / "rdsr"
    # a phantom QA study: no patient reference level applies
    (phantom,) = _dose_json(capsys, folder / "CT-RDSR-GEPixelMed.dcm")["reports"]
    assert phantom["verdict"] == "incomplete" and "a phantom QA study" in phantom["verdict_message"]
    # no level matches the exam at all
    doc = _dose_json(capsys, folder / "CT-ESR-GE_Optima.dcm")  # (the Toshiba PixelMed report is physics QA by its patient name)
    assert doc["verdict"] == doc["reports"][0]["verdict"] == "incomplete"
    assert "no reference level applies" in doc["reports"][0]["verdict_message"]
    # a national DRL beside one exam: shown for context, never a judgement of the exam
    ccta = write_dose_report(tmp_path / "ccta.dcm", (SyntheticEvent(ctdivol_mgy=9.0, dlp_mgycm=150.0, protocol="Coronary CTA prospective",
                                                                    target_region="heart"),))
    (drl,) = _dose_json(capsys, ccta)["reports"]
    assert drl["reference_level"]["id"] == "uk-ndrl-ccta-prospective" and drl["verdict"] == "incomplete"
    assert "shown for context" in drl["verdict_message"] and not any(c["status"] == "pass" for c in drl["checks"])
    # a per-exam level that judged the exam: a pass; with the incomplete one beside it, the document is incomplete
    cac = write_dose_report(tmp_path / "cac.dcm", (SyntheticEvent(ctdivol_mgy=9.0, dlp_mgycm=150.0, target_region="heart"),),
                            study_uid="1.2.826.0.1.3680043.8.498.77")
    assert _dose_json(capsys, cac)["verdict"] == "pass"
    assert _dose_json(capsys, cac, ccta)["verdict"] == "incomplete"
    main(["dose", str(folder / "CT-RDSR-GEPixelMed.dcm")])
    out = capsys.readouterr().out
    assert "Verdict  INCOMPLETE" in out and "PASS" not in out.split("Verdict")[-1]


def test_the_msv_level_follows_the_k_used_and_never_contradicts_the_dlp_verdict(capsys, tmp_path):
    from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report

    # site-cac: DLP 200 mGy cm, 5.2 mSv = 200 x its k "cardiac" 0.026; the exam's mSv here uses k 0.028
    report = write_dose_report(tmp_path / "cac.dcm", (SyntheticEvent(ctdivol_mgy=9.0, dlp_mgycm=199.95, target_region="heart"),))
    (study,) = _dose_json(capsys, report, "--k-factor", "cardiac-cac-prospective-axial")["reports"]
    checks = {c["id"]: c for c in study["checks"]}
    assert study["effective_dose_msv"] == pytest.approx(199.95 * 0.028, abs=1e-3)
    assert checks["dlp"]["status"] == checks["effective_dose"]["status"] == "pass" and study["verdict"] == "pass"
    assert checks["effective_dose"]["expected"] == pytest.approx(200 * 0.028)
    assert "x the k used, 0.028" in checks["effective_dose"]["message"] and "assumes k cardiac" in checks["effective_dose"]["message"]
    above = write_dose_report(tmp_path / "above.dcm", (SyntheticEvent(ctdivol_mgy=9.0, dlp_mgycm=205.0, target_region="heart"),))
    (study,) = _dose_json(capsys, above, "--k-factor", "cardiac-cac-prospective-axial")["reports"]
    checks = {c["id"]: c for c in study["checks"]}
    assert checks["dlp"]["status"] == checks["effective_dose"]["status"] == "warn"
    # the level's own k: its own mSv value, unchanged
    (study,) = _dose_json(capsys, report)["reports"]
    effective = next(c for c in study["checks"] if c["id"] == "effective_dose")
    assert effective["expected"] == 5.2 and effective["status"] == "pass" and "k used" not in effective["message"]
