"""CT radiation dose reports: the public files in ../shared/data/dicom (see its SOURCES.md)."""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import re
import shutil
from collections import Counter
from pathlib import Path

import pydicom
import pytest

from qa.records.identity import Pseudonymiser
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from qa.dicom.rdsr import DoseReport, is_dose_report, merge_reports, read_dose_report
from qa.errors import InputError

KEYS = Pseudonymiser.ephemeral()  # one key for every report of these tests: one study, one study_key


@pytest.fixture(scope="session")
def rdsr_dir(shared_data: Path) -> Path:
    path = shared_data / "dicom" / "rdsr"
    if not path.is_dir():
        pytest.skip(f"{path} is missing")
    return path


# file, SOP class, events, own DLP total (DCM 113813), DLP per phantom, acquisition types.
# Events and totals as listed in ../shared/data/dicom/SOURCES.md.
CT_REPORTS = [
    ("CT-RDSR-GEPixelMed.dcm", "xray_dose_sr", 2, 586.34, {"head16"}, {"spiral": 1, "stationary": 1}),
    ("CT-ESR-GE_Optima.dcm", "enhanced_sr", 6, 415.82, {"body32"}, {"constant_angle": 4, "spiral": 2}),
    ("CT-ESR-GE_VCT.dcm", "enhanced_sr", 27, 2002.39, {"head16", "body32"},
     {"constant_angle": 16, "sequenced": 5, "stationary": 4, "spiral": 2}),
    ("CT-RDSR-Philips_BigBore4DCT.dcm", "xray_dose_sr", 1, 541.1, {"body32"}, {"spiral": 1}),
    ("CT-RDSR-Siemens_Flash-TAP-SS.dcm", "xray_dose_sr", 4, 724.52, {"body32"},
     {"constant_angle": 1, "stationary": 2, "spiral": 1}),
    ("CT-RDSR-Siemens_Flash-QA-DS.dcm", "xray_dose_sr", 9, 1590.0, {"body32"}, {"stationary": 7, "spiral": 2}),
    ("CT-RDSR-Siemens-Multi-1.dcm", "xray_dose_sr", 1, 7.46, {"body32"}, {"constant_angle": 1}),
    ("CT-RDSR-Siemens-Multi-2.dcm", "xray_dose_sr", 2, 77.27, {"body32"}, {"constant_angle": 1, "spiral": 1}),
    ("CT-RDSR-Siemens-Multi-3.dcm", "xray_dose_sr", 3, 236.09, {"body32"}, {"constant_angle": 1, "spiral": 2}),
    ("CT-RDSR-Siemens-Continued-1.dcm", "xray_dose_sr", 2, 60.17, {"body32"}, {"constant_angle": 1, "spiral": 1}),
    ("CT-RDSR-Siemens-Continued-2.dcm", "xray_dose_sr", 2, 56.44, {"body32"}, {"constant_angle": 1, "spiral": 1}),
    ("CT-RDSR-ToshibaPixelMed.dcm", "xray_dose_sr", 3, 349.7, {"body32"}, {"constant_angle": 1, "spiral": 2}),
    ("CT-RDSR-Toshiba_DoseCheck.dcm", "xray_dose_sr", 2, 502.4, {"body32"}, {"spiral": 2}),
    ("CT-RDSR-Toshiba_MultiValSD.dcm", "xray_dose_sr", 3, 136.9, {"body32"}, {"constant_angle": 2, "spiral": 1}),
    ("CT-RDSR-SpectrumDynamics.dcm", "xray_dose_sr", 5, 187.339, {"body32"},
     {"constant_angle": 1, "stationary": 2, "free": 2}),
    ("NM-CT-RDSR-Siemens.dcm", "xray_dose_sr", 2, 667.72, {"body32"}, {"constant_angle": 1, "spiral": 1}),
]


def _read(rdsr_dir: Path, name: str) -> DoseReport:
    return read_dose_report(rdsr_dir / name, pseudonymise=KEYS)


def _items(container, code: tuple[str, str]):
    """Every content item below ``container`` whose concept name is ``code`` (depth first)."""
    for item in container.get("ContentSequence") or ():
        names = item.get("ConceptNameCodeSequence")
        if names and (names[0].CodeValue, names[0].CodingSchemeDesignator) == code:
            yield item
        yield from _items(item, code)


def _set_num(item, value: str, unit: str) -> None:
    measured = item.MeasuredValueSequence[0]
    measured.NumericValue = value
    measured.MeasurementUnitsCodeSequence[0].CodeValue = unit


# ---- every CT report parses with the totals and event counts of SOURCES.md --------------------


@pytest.mark.parametrize(("name", "sop_class", "n_events", "dlp_total", "phantoms", "types"), CT_REPORTS,
                         ids=[row[0] for row in CT_REPORTS])
def test_every_ct_dose_report_gives_its_events_and_own_total(rdsr_dir, name, sop_class, n_events, dlp_total,
                                                            phantoms, types):
    report = _read(rdsr_dir, name)
    assert report.sop_class == sop_class
    assert len(report.events) == n_events == report.n_events_reported
    assert report.dlp_total_mgycm == pytest.approx(dlp_total, abs=1e-9)
    assert report.dlp_total_source == "DCM 113813"
    assert report.dlp_events_sum_mgycm == pytest.approx(dlp_total, abs=0.01)  # the "(Σ event DLP)" column
    assert {p for p, dlp in report.dlp_by_phantom_mgycm.items() if dlp > 0} == phantoms
    assert sum(report.dlp_by_phantom_mgycm.values()) == pytest.approx(report.dlp_events_sum_mgycm)
    assert Counter(e.acquisition_type for e in report.events) == Counter(types)
    uids = [e.irradiation_event_uid for e in report.events]
    assert all(uids) and len(set(uids)) == len(uids)
    assert report.study_key and report.sop_instance_uid and report.manufacturer
    for event in report.events:
        per_source = (event.kvp, event.tube_current_ma, event.max_tube_current_ma, event.exposure_time_per_rotation_s)
        assert len({len(values) for values in per_source + (event.xray_source_ids,)}) == 1
        if event.dlp_mgycm is not None:
            assert event.sources["dlp_mgycm"] == "DCM 113838"
            assert event.sources["ctdivol_mgy"] == "DCM 113830"
    assert is_dose_report(rdsr_dir / name)
    json.dumps(report.to_dict())  # plain JSON


def test_a_report_record_carries_no_patient_identifiers(rdsr_dir):
    path = rdsr_dir / "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
    header = pydicom.dcmread(path)
    text = json.dumps(read_dose_report(path, pseudonymise=KEYS).to_dict())
    assert str(header.PatientName) and str(header.PatientName) not in text
    assert header.PatientID and header.PatientID not in text
    assert not any("patient" in f.name for f in dataclasses.fields(DoseReport))


# ---- vendor specifics ------------------------------------------------------------------------


def test_dual_source_events_give_one_kvp_per_tube(rdsr_dir):
    report = _read(rdsr_dir, "CT-RDSR-Siemens_Flash-QA-DS.dcm")
    for event in report.events:
        assert event.n_xray_sources_reported == 2
        assert event.xray_source_ids == ("A", "B")
        assert len(event.kvp) == len(event.tube_current_ma) == 2
    first = report.events[0]  # 'DE_laser align': dual energy, 100 kV on tube A and 140 kV on tube B
    assert first.acquisition_protocol == "DE_laser align"
    assert first.kvp == (100.0, 140.0)
    assert first.tube_current_ma == (399.0, 308.0)
    assert first.exposure_time_per_rotation_s == (0.5, 0.5)
    heart = report.events[1]
    assert (heart.target_region, heart.target_region_code, heart.target_region_scheme) == ("Heart", "T-32000", "SRT")
    assert heart.exposure_time_per_rotation_s == (0.238, 0.151)


def test_head_and_body_phantom_dlp_are_kept_apart(rdsr_dir):
    report = _read(rdsr_dir, "CT-ESR-GE_VCT.dcm")
    by_phantom = report.dlp_by_phantom_mgycm
    head = sum(e.dlp_mgycm for e in report.events if e.phantom == "head16")
    body = sum(e.dlp_mgycm for e in report.events if e.phantom == "body32")
    assert head > 0 and body > 0
    assert by_phantom["head16"] == pytest.approx(head) and by_phantom["body32"] == pytest.approx(body)
    assert by_phantom["head16"] + by_phantom["body32"] == pytest.approx(report.dlp_total_mgycm)
    assert by_phantom["unknown"] == 0
    assert {e.sources["phantom"] for e in report.events if e.phantom} == {"DCM 113690", "DCM 113691"}
    # GE's private target region code is kept as it is, scheme apart from value
    assert {(e.target_region, e.target_region_code, e.target_region_scheme) for e in report.events} == {
        ("Unknown", "00001", "99GEMS")}


def test_an_invalid_number_in_a_field_we_do_not_need_is_ignored(rdsr_dir):
    report = _read(rdsr_dir, "CT-RDSR-Toshiba_MultiValSD.dcm")  # 'Standard deviation of population' = '10.50/ 15.00'
    assert report.dlp_total_mgycm == 136.9
    assert [e.dlp_mgycm for e in report.events] == [None, None, 136.9]
    assert report.warnings == ()


def test_utf8_text_declared_as_latin1_is_read_as_utf8(rdsr_dir):
    report = _read(rdsr_dir, "CT-RDSR-Siemens_Flash-TAP-SS.dcm")  # declares ISO_IR 100, holds UTF-8
    assert report.events[0].acquisition_protocol == "testæøå"
    assert any("UTF-8" in w and "ISO_IR 100" in w for w in report.warnings)
    assert "X-ray Modulation Type = OFF" in report.events[0].comment


def test_missing_number_of_sources_and_private_containers_are_tolerated(rdsr_dir):
    pixelmed = _read(rdsr_dir, "CT-RDSR-ToshibaPixelMed.dcm")  # no Number of X-Ray Sources, no source containers
    assert [e.n_xray_sources_reported for e in pixelmed.events] == [None, None, None]
    assert [e.kvp for e in pixelmed.events] == [(), (), ()]
    assert [e.ctdivol_mgy for e in pixelmed.events] == [None, 25.4, 24.7]
    dose_check = _read(rdsr_dir, "CT-RDSR-Toshiba_DoseCheck.dcm")  # 99TOSHIBA-TMSC containers
    assert dose_check.warnings == ()
    assert [e.pitch for e in dose_check.events] == [0.813, 0.813]
    assert dose_check.events[0].sources["acquisition_type"] == "SRT P5-08001"


# ---- refusals --------------------------------------------------------------------------------


def test_an_enhanced_sr_that_is_not_a_dose_report_is_refused(rdsr_dir):
    path = rdsr_dir / "ESR_non-dose.dcm"
    with pytest.raises(InputError, match="not a CT radiation dose report: its document title is "
                                         "'Diagnostic Imaging Report'") as caught:
        read_dose_report(path, pseudonymise=KEYS)
    assert caught.value.path == str(path) and caught.value.field == "ConceptNameCodeSequence"
    assert caught.value.hint
    assert not is_dose_report(path)


def test_a_projection_xray_dose_report_is_refused_as_not_ct(rdsr_dir):
    path = rdsr_dir / "DX-RDSR-Canon_CXDI.dcm"
    with pytest.raises(InputError, match="is a projection X-ray dose report .*not a CT radiation dose") as caught:
        read_dose_report(path, pseudonymise=KEYS)
    assert caught.value.path == str(path) and caught.value.field
    assert not is_dose_report(path)
    assert not is_dose_report(pydicom.dcmread(path))


def test_a_projection_report_without_template_identifier_is_still_refused(rdsr_dir, tmp_path):
    ds = pydicom.dcmread(rdsr_dir / "DX-RDSR-Canon_CXDI.dcm")
    del ds.ContentTemplateSequence  # the procedure reported (DCM 113704 Projection X-Ray) still says so
    ds.save_as(tmp_path / "dx.dcm")
    with pytest.raises(InputError, match="projection X-ray") as caught:
        read_dose_report(tmp_path / "dx.dcm", pseudonymise=KEYS)
    assert caught.value.field == "Procedure reported (DCM 121058)"


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 0.9, 0.999])
def test_a_truncated_report_is_refused_naming_the_file(rdsr_dir, tmp_path, fraction):
    data = (rdsr_dir / "CT-RDSR-Siemens-Multi-3.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InputError, match="truncated") as caught:
        read_dose_report(cut, pseudonymise=KEYS)
    assert caught.value.path == str(cut)
    assert caught.value.hint


def test_files_that_are_not_dose_reports_are_refused(shared_data, tmp_path):
    text = tmp_path / "notes.dcm"
    text.write_text("not a DICOM file\n" * 20)
    with pytest.raises(InputError, match="not a DICOM file") as caught:
        read_dose_report(text, pseudonymise=KEYS)
    assert caught.value.path == str(text)
    image = shared_data / "dicom" / "ct" / "CT_small.dcm"
    with pytest.raises(InputError, match="CT Image Storage, not a radiation dose report") as caught:
        read_dose_report(image, pseudonymise=KEYS)
    assert caught.value.field == "SOPClassUID"
    assert not is_dose_report(text) and not is_dose_report(image) and not is_dose_report(tmp_path / "absent.dcm")
    with pytest.raises(InputError, match="no such file"):
        read_dose_report(tmp_path / "absent.dcm", pseudonymise=KEYS)


# ---- codes, units, own totals ------------------------------------------------------------------


def test_units_are_converted_by_their_ucum_code(rdsr_dir, tmp_path):
    ds = pydicom.dcmread(rdsr_dir / "CT-RDSR-Siemens-Multi-1.dcm")
    [total] = _items(ds, ("113813", "DCM"))
    _set_num(total, "0.746", "cGy.cm")
    [dlp] = _items(ds, ("113838", "DCM"))
    _set_num(dlp, "0.00746", "Gy.cm")
    [ctdivol] = _items(ds, ("113830", "DCM"))
    _set_num(ctdivol, "150", "uGy")
    [length] = _items(ds, ("113825", "DCM"))
    _set_num(length, "51.4", "cm")
    [exposure] = _items(ds, ("113824", "DCM"))
    _set_num(exposure, "5280", "ms")
    ds.save_as(tmp_path / "units.dcm")
    report = read_dose_report(tmp_path / "units.dcm", pseudonymise=KEYS)
    event = report.events[0]
    assert report.dlp_total_mgycm == pytest.approx(7.46)
    assert event.dlp_mgycm == pytest.approx(7.46)
    assert event.ctdivol_mgy == pytest.approx(0.15)
    assert event.scanning_length_mm == pytest.approx(514.0)
    assert event.exposure_time_s == pytest.approx(5.28)
    assert report.warnings == ()


def test_an_unknown_unit_or_an_invalid_number_leaves_the_value_empty_with_a_warning(rdsr_dir, tmp_path):
    ds = pydicom.dcmread(rdsr_dir / "CT-RDSR-Siemens-Multi-3.dcm")
    dlps = list(_items(ds, ("113838", "DCM")))
    _set_num(dlps[1], "69.81", "mSv")  # not a DLP unit
    ctdis = list(_items(ds, ("113830", "DCM")))
    invalid = b"10.50/ 15.00"  # the Toshiba fault, written as raw bytes (pydicom would refuse the value)
    ctdis[2].MeasuredValueSequence[0][0x0040A30A] = RawDataElement(Tag(0x0040A30A), "DS", len(invalid), invalid,
                                                                   0, False, True)
    ds.save_as(tmp_path / "bad.dcm")
    report = read_dose_report(tmp_path / "bad.dcm", pseudonymise=KEYS)
    assert report.events[1].dlp_mgycm is None and "dlp_mgycm" not in report.events[1].sources
    assert report.events[2].ctdivol_mgy is None
    assert report.events[2].dlp_mgycm is not None
    assert any("DLP (DCM 113838)" in w and "'mSv'" in w for w in report.warnings)
    assert any("Mean CTDIvol (DCM 113830)" in w and "'10.50/ 15.00'" in w for w in report.warnings)
    assert report.dlp_total_mgycm == 236.09  # the own total stays, the event sum lacks one event
    assert report.dlp_events_sum_mgycm == pytest.approx(236.09 - 69.81)
    assert any("differs from the sum" in w for w in report.warnings)


def test_codes_are_matched_on_value_and_scheme_never_on_meaning(rdsr_dir, tmp_path):
    ds = pydicom.dcmread(rdsr_dir / "CT-RDSR-Siemens-Multi-3.dcm")
    spirals = [i for i in _items(ds, ("113820", "DCM")) if i.ConceptCodeSequence[0].CodeValue == "P5-08001"]
    for item in spirals:  # SNOMED CT generation of 'Spiral Acquisition', with a misleading meaning
        code = item.ConceptCodeSequence[0]
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "116152004", "SCT", "Constant Angle Acquisition"
    for item in _items(ds, ("113838", "DCM")):
        item.ConceptNameCodeSequence[0].CodeMeaning = "Something else"
    ds.save_as(tmp_path / "sct.dcm")
    report = read_dose_report(tmp_path / "sct.dcm", pseudonymise=KEYS)
    assert [e.acquisition_type for e in report.events] == ["constant_angle", "spiral", "spiral"]
    assert report.events[1].sources["acquisition_type"] == "SCT 116152004"
    assert report.dlp_events_sum_mgycm == pytest.approx(236.09)


def test_the_own_total_is_never_replaced_by_the_event_sum(rdsr_dir, tmp_path):
    ds = pydicom.dcmread(rdsr_dir / "CT-RDSR-Siemens-Multi-2.dcm")
    [accumulated] = _items(ds, ("113811", "DCM"))
    accumulated.ContentSequence = [i for i in accumulated.ContentSequence
                                   if i.ConceptNameCodeSequence[0].CodeValue != "113813"]
    ds.save_as(tmp_path / "no-total.dcm")
    report = read_dose_report(tmp_path / "no-total.dcm", pseudonymise=KEYS)
    assert report.dlp_total_mgycm is None and report.dlp_total_source is None
    assert report.dlp_events_sum_mgycm == pytest.approx(77.27)
    assert any("113813" in w for w in report.warnings)


# ---- merging the reports of a study ----------------------------------------------------------


def test_cumulative_resends_merge_by_event_uid_without_double_counting(rdsr_dir):
    reports = [_read(rdsr_dir, f"CT-RDSR-Siemens-Multi-{n}.dcm") for n in (1, 2, 3)]
    random.Random(4).shuffle(reports)
    [study] = merge_reports(reports + reports[:1])  # the same file twice counts once
    multi = {r.path.rsplit("-", 1)[-1]: r for r in reports}
    assert len(study.events) == 3
    assert [e.irradiation_event_uid for e in study.events] == [e.irradiation_event_uid for e in multi["3.dcm"].events]
    assert study.dlp_total_mgycm == pytest.approx(236.09)
    assert sum(e.dlp_mgycm for e in study.events) == pytest.approx(236.09)
    assert set(study.superseded_sop_instance_uids) == {multi["1.dcm"].sop_instance_uid, multi["2.dcm"].sop_instance_uid}
    assert len(study.sop_instance_uids) == 3
    assert study.dlp_total_method.startswith(f"own total (DCM 113813) of report {multi['3.dcm'].source_file}")
    assert study.dlp_by_phantom_mgycm["body32"] == pytest.approx(236.09)


def test_a_continued_study_keeps_the_events_and_totals_of_both_reports(rdsr_dir):
    first, second = (_read(rdsr_dir, f"CT-RDSR-Siemens-Continued-{n}.dcm") for n in (1, 2))
    assert first.study_key == second.study_key
    [study] = merge_reports([first, second])
    assert len(study.events) == 4
    assert study.dlp_total_mgycm == pytest.approx(60.17 + 56.44)
    assert study.superseded_sop_instance_uids == ()
    assert study.sop_instance_uids == (first.sop_instance_uid, second.sop_instance_uid)
    assert "sum of the own totals of 2 reports" in study.dlp_total_method
    json.dumps(study.to_dict())


def test_reports_of_different_studies_stay_apart_and_partial_overlap_falls_back_to_event_sum(rdsr_dir):
    multi3 = _read(rdsr_dir, "CT-RDSR-Siemens-Multi-3.dcm")
    continued = _read(rdsr_dir, "CT-RDSR-Siemens-Continued-1.dcm")
    vct = _read(rdsr_dir, "CT-ESR-GE_VCT.dcm")
    studies = merge_reports([multi3, vct, continued])
    assert [s.study_key for s in studies] == [multi3.study_key, vct.study_key,
                                                       continued.study_key]
    assert [len(s.events) for s in studies] == [3, 27, 2]
    # a report of the same study sharing one event with Multi-3 and adding two of its own
    overlapping = dataclasses.replace(continued, study_key=multi3.study_key,
                                      events=(multi3.events[0],) + continued.events)
    [study] = merge_reports([multi3, overlapping])
    assert len(study.events) == 5
    assert study.dlp_total_mgycm == pytest.approx(236.09 + 60.17)
    assert "share some events" in study.dlp_total_method
    assert any("sum of event DLPs" in w for w in study.warnings)


# ---- Philips dose info screen capture ----------------------------------------------------------


def test_a_philips_dose_info_capture_gives_dlp_per_acquisition(ct_dir):
    path = ct_dir / "CT-SC-Philips_Brilliance16P.dcm"
    assert is_dose_report(path)
    report = read_dose_report(path, pseudonymise=KEYS)
    assert report.sop_class == "philips_dose_info"
    assert (report.manufacturer, report.model) == ("Philips", "Brilliance 16P")
    assert report.n_events_reported == len(report.events) == 4
    # the screen's own text: "Series #3 PRE KIDNEYS Average CTDIvol=7.2 DLP=196.0 ... Total DLP=1102.4"
    comments = pydicom.dcmread(path, stop_before_pixels=True).CommentsOnRadiationDose
    printed = {m[0]: float(m[1]) for m in re.findall(r"#\d+ (.+?) Average CTDIvol=[\d.]+ DLP=([\d.]+)", comments)}
    by_protocol = {e.acquisition_protocol: e for e in report.events}
    for protocol, dlp in printed.items():
        assert by_protocol[protocol].dlp_mgycm == pytest.approx(dlp, abs=0.05)
    assert report.dlp_total_mgycm == pytest.approx(float(re.search(r"Total DLP=([\d.]+)", comments)[1]), abs=0.05)
    assert report.dlp_total_source == "(00E1,1021) ELSCINT1 DLP"
    assert report.dlp_events_sum_mgycm == pytest.approx(report.dlp_total_mgycm, abs=0.01)
    spiral = by_protocol["PRE KIDNEYS"]
    assert spiral.acquisition_type == "spiral"
    assert spiral.ctdivol_mgy == pytest.approx(7.2, abs=0.01)
    assert spiral.tube_current_ma == (pytest.approx(165.044, abs=1e-3),)  # from uA
    assert spiral.exposure_time_s == pytest.approx(6.986)  # from ms
    assert spiral.sources["ctdivol_mgy"] == "ExposureDoseSequence[2] CTDIvol (0018,9345)"
    assert spiral.sources["dlp_mgycm"] == "ExposureDoseSequence[2] (00E1,1021) ELSCINT1 DLP"
    assert report.events[0].acquisition_type == "constant_angle"  # the surview
    assert report.dlp_by_phantom_mgycm["unknown"] == pytest.approx(report.dlp_events_sum_mgycm)
    assert any("phantom" in w for w in report.warnings)


def test_a_copied_report_reads_the_same_as_the_original(rdsr_dir, tmp_path):
    copy = tmp_path / "copy.dcm"
    shutil.copyfile(rdsr_dir / "CT-ESR-GE_Optima.dcm", copy)
    original, copied = _read(rdsr_dir, "CT-ESR-GE_Optima.dcm"), read_dose_report(copy, pseudonymise=KEYS)
    assert dataclasses.replace(copied, path=original.path, source_file=original.source_file) == original


def test_ssde_and_event_start_time_are_read_when_present(rdsr_dir, tmp_path):
    ds = pydicom.dcmread(rdsr_dir / "CT-RDSR-Siemens-Multi-1.dcm")  # neither item is in any of the public files
    [dose] = _items(ds, ("113829", "DCM"))
    [ctdivol] = _items(dose, ("113830", "DCM"))
    ssde = copy.deepcopy(ctdivol)
    ssde.ConceptNameCodeSequence[0].CodeValue = "113930"
    ssde.ConceptNameCodeSequence[0].CodeMeaning = "Size Specific Dose Estimation"
    _set_num(ssde, "0.21", "mGy")
    dose.ContentSequence.append(ssde)
    started = pydicom.Dataset()
    started.RelationshipType, started.ValueType, started.DateTime = "CONTAINS", "DATETIME", "20180105172103.083003"
    code = pydicom.Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "111526", "DCM", "DateTime Started"
    started.ConceptNameCodeSequence = [code]
    [event] = _items(ds, ("113819", "DCM"))
    event.ContentSequence.append(started)
    ds.save_as(tmp_path / "ssde.dcm")
    [parsed] = read_dose_report(tmp_path / "ssde.dcm", pseudonymise=KEYS).events
    assert parsed.ssde_mgy == pytest.approx(0.21) and parsed.sources["ssde_mgy"] == "DCM 113930"
    assert parsed.ctdivol_mgy == pytest.approx(0.15)
    assert parsed.start_datetime == "2018-01-05T17:21:03.083003"


def test_reports_of_one_study_from_different_scanners_are_flagged(rdsr_dir):
    """One Study Instance UID is one study, but two scanners under it (a copy, a re-used UID) must
    not be merged silently: the study says so."""
    siemens = _read(rdsr_dir, "CT-RDSR-Siemens-Multi-3.dcm")
    toshiba = dataclasses.replace(_read(rdsr_dir, "CT-RDSR-Toshiba_DoseCheck.dcm"), study_key=siemens.study_key)
    [study] = merge_reports([siemens, toshiba])
    assert any("2 different scanners" in w and "SIEMENS" in w and "TOSHIBA" in w for w in study.warnings)
    assert any("different study dates" in w for w in study.warnings)
    [alone] = merge_reports([siemens])
    assert not any("different" in w for w in alone.warnings)


def test_a_synthetic_dose_report_names_the_scanner_it_is_written_for(tmp_path):
    from qa.dicom.write_rdsr import write_dose_report

    path = write_dose_report(tmp_path / "sr.dcm", manufacturer="SIEMENS", model="SOMATOM Force", station_name="CT1", serial="71000")
    report = read_dose_report(path, pseudonymise=Pseudonymiser.ephemeral())
    assert (report.manufacturer, report.model, report.station_name, report.device_serial_number) == (
        "SIEMENS", "SOMATOM Force", "CT1", "71000")
    assert pydicom.dcmread(path).ManufacturerModelName == "SOMATOM Force"
    default = read_dose_report(write_dose_report(tmp_path / "default.dcm"), pseudonymise=Pseudonymiser.ephemeral())
    assert default.model == "Dose Report Synthesiser"  # the writer's own name only when no scanner is named
