"""Issue 11, point 1: impossible values never pass; unusual ones are flagged.

Every input here is written by our own writers (``qa.dicom.write``, ``qa.dicom.write_rdsr``) with
one value made impossible, and run through the real ``qa`` command line (in-process ``main``):
an impossible value ends in exit 2 with the file and the field named (also in the ``qa.error/1``
document), never in a score, a PASS or an internal error; an unusual value is used and flagged in
the document's ``warnings`` and on the terminal.  The limits come from one table,
:mod:`qa.records.plausibility`; the tests read them from there rather than repeating numbers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from qa.cli import main
from qa.dicom.write import write_ct_series
from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report
from qa.records.dose import DoseReport
from qa.records.plausibility import RANGES, ImpossibleValue, plausible

# Our writers are asked for values that are invalid DICOM on purpose (NaN, 1e300): pydicom says so.
pytestmark = [pytest.mark.filterwarnings("ignore:Invalid value for VR"),
              pytest.mark.filterwarnings("ignore:The value length")]

# ------------------------------------------------------------------------------------ helpers


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _schemas():
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    found = [json.loads(p.read_text(encoding="utf-8")) for p in (Path(__file__).parents[2] / "schemas").glob("*.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in found)
    return {s["$id"].removeprefix("urn:qa:schema:"): Draft202012Validator(s, registry=registry) for s in found}


VALIDATORS = _schemas()


def run_json(capsys, *argv) -> tuple[int, dict, str]:
    """Run with --json: stdout is one document, valid against its schema (qa.error/1 included)."""
    code, out, err = run(capsys, *argv, "--json")
    doc = json.loads(out)
    errors = list(VALIDATORS[doc["schema"]].iter_errors(doc))
    assert not errors, [e.message[:200] for e in errors[:5]]
    return code, doc, err


def assert_refused(code: int, doc: dict, err: str, *, file_endswith: str, field_has: str) -> None:
    """Exit 2, a qa.error/1 document naming the file and the field, and the same on stderr."""
    assert code == 2, (doc, err)
    assert doc["schema"] == "qa.error/1" and doc["exit_code"] == 2
    error = doc["error"]
    assert error["type"] == "InputError"
    assert error["file"] and error["file"].endswith(file_endswith), error
    assert error["field"] and field_has in error["field"], error
    assert field_has in err and "internal error" not in err


def ct_series(folder: Path, *, n: int = 4, size: int = 32, **kwargs) -> Path:
    """A small CT series with one calcification-like blob per slice (HU 400)."""
    hu = np.full((n, size, size), 30.0)
    hu[:, size // 4: size // 4 + 4, size // 4: size // 4 + 4] = 400.0
    kwargs.setdefault("pixel_mm", 0.5)
    write_ct_series(folder, hu, series_description="CaSc 3.0 Qr36", **kwargs)
    return folder


# ------------------------------------------------------------------------------------ dose reports


def test_a_dose_report_with_a_negative_dlp_is_refused_never_passed(capsys, tmp_path):
    """The issue's report: DLP -2000 mGy cm gave 'dlp PASS', 'effective_dose PASS -52 mSv', 'VERDICT PASS'."""
    report = write_dose_report(tmp_path / "neg.dcm", [SyntheticEvent(dlp_mgycm=-2000.0)], dlp_total_mgycm=-2000.0)
    code, doc, err = run_json(capsys, "dose", report)
    assert_refused(code, doc, err, file_endswith="neg.dcm", field_has="113838")
    assert "PASS" not in err


@pytest.mark.parametrize(("event", "total", "field"), [
    ({"ctdivol_mgy": -4.0}, None, "113830"),  # Mean CTDIvol
    ({"dlp_mgycm": float("nan")}, None, "113838"),  # DLP, not a number
    ({"dlp_mgycm": float("inf")}, None, "113838"),
    ({"kvp": 0.0}, None, "113733"),  # KVP
    ({"exposure_time_s": -1.0}, None, "113824"),  # a time
    ({"scanning_length_mm": -100.0}, None, "113825"),  # a size
    ({"total_collimation_mm": -40.0}, None, "113827"),
    ({"tube_current_ma": -200.0}, None, "113734"),
    ({}, -60.0, "113813"),  # the report's own DLP total
    ({}, float("nan"), "113813"),
])
def test_every_impossible_dose_report_number_is_refused_with_its_field(capsys, tmp_path, event, total, field):
    total = total if total is not None else 60.0  # a finite own total: the event's value is what is tested
    report = write_dose_report(tmp_path / "bad.dcm", [SyntheticEvent(**event)], dlp_total_mgycm=total)
    code, doc, err = run_json(capsys, "dose", report)
    assert_refused(code, doc, err, file_endswith="bad.dcm", field_has=field)


def test_an_impossible_report_among_good_ones_refuses_the_run_not_only_itself(capsys, tmp_path):
    """Not 'skipped' like a file that is not a dose report: the whole run stops on it."""
    write_dose_report(tmp_path / "a-good.dcm", [SyntheticEvent()])
    write_dose_report(tmp_path / "b-bad.dcm", [SyntheticEvent(ctdivol_mgy=-1.0)])
    code, doc, err = run_json(capsys, "dose", tmp_path)
    assert_refused(code, doc, err, file_endswith="b-bad.dcm", field_has="113830")


def test_unusual_dose_values_are_used_and_flagged(capsys, tmp_path):
    high = RANGES["ctdivol_mgy"].typical[1] * 1.5  # above the AAPM Dose Check alert value
    report = write_dose_report(tmp_path / "high.dcm", [SyntheticEvent(ctdivol_mgy=high, dlp_mgycm=high * 15.0)])
    code, doc, err = run_json(capsys, "dose", report)
    assert code in (0, 1) and doc["schema"] == "qa.dose/1"
    flagged = [w for w in doc["warnings"] if "113830" in w]
    assert flagged and "AAPM" in flagged[0]
    assert any("effective dose" in w for w in doc["warnings"])  # k x DLP above the usual top
    assert flagged[0].split(": ", 1)[1] in err  # printed in the terminal too


def _vendor_reports(shared_data: Path) -> list[Path]:
    folder = shared_data / "dicom" / "rdsr"
    return sorted(p for p in folder.glob("*.dcm") if p.name.startswith(("CT-", "NM-CT-"))) if folder.is_dir() else []


def _first_num(ds, code: str):
    for item in ds.get("ContentSequence") or ():
        names = item.get("ConceptNameCodeSequence")
        if names and names[0].CodeValue == code and item.get("MeasuredValueSequence"):
            return item.MeasuredValueSequence[0]
        found = _first_num(item, code)
        if found is not None:
            return found
    return None


def test_every_vendors_real_report_with_a_negative_dlp_is_refused(tmp_path, shared_data):
    """GE, Siemens, Toshiba, Philips, Spectrum Dynamics RDSRs and Enhanced SRs: the first DLP made negative."""
    from qa.dicom.rdsr import read_dose_report
    from qa.records.identity import Pseudonymiser

    reports = _vendor_reports(shared_data)
    if not reports:
        pytest.skip("no vendor dose reports in the shared data")
    for path in reports:
        ds = pydicom.dcmread(path)
        value = _first_num(ds, "113838")
        if value is None:
            continue
        value.NumericValue = "-2000"
        out = tmp_path / path.name
        ds.save_as(out)
        with pytest.raises(ImpossibleValue) as caught:
            read_dose_report(out, pseudonymise=Pseudonymiser.ephemeral())
        assert caught.value.path == str(out) and "113838" in caught.value.field, path.name


def test_a_philips_dose_info_capture_with_a_negative_ctdivol_is_refused(tmp_path, shared_data):
    from qa.dicom.rdsr import read_dose_report
    from qa.records.identity import Pseudonymiser

    source = shared_data / "dicom" / "ct" / "CT-SC-Philips_Brilliance16P.dcm"
    if not source.is_file():
        pytest.skip(f"{source} is missing")
    ds = pydicom.dcmread(source)
    ds.ExposureDoseSequence[0].CTDIvol = -5.0
    out = tmp_path / "philips.dcm"
    ds.save_as(out)
    with pytest.raises(ImpossibleValue) as caught:
        read_dose_report(out, pseudonymise=Pseudonymiser.ephemeral())
    assert "ExposureDoseSequence[1]" in caught.value.field and "CTDIvol" in caught.value.field


@pytest.mark.parametrize("count", ["-3", "many", "1.5e3x"])
def test_a_philips_capture_whose_exposure_count_is_no_count_is_read_with_a_warning(count, tmp_path, shared_data):
    """The report's own event count is only compared with the events read: a bad one is named and
    left out of that comparison, never an internal error."""
    from qa.dicom.rdsr import read_dose_report
    from qa.records.identity import Pseudonymiser

    source = shared_data / "dicom" / "ct" / "CT-SC-Philips_Brilliance16P.dcm"
    if not source.is_file():
        pytest.skip(f"{source} is missing")
    ds = pydicom.dcmread(source)
    ds["TotalNumberOfExposures"].VR = "LO"  # a value an IS element cannot hold, as a damaged file may carry
    ds.TotalNumberOfExposures = count
    out = tmp_path / "philips.dcm"
    ds.save_as(out)
    report = read_dose_report(out, pseudonymise=Pseudonymiser.ephemeral())
    assert report.n_events_reported is None
    assert any("TotalNumberOfExposures" in w for w in report.warnings)


def test_a_negative_dlp_report_beside_an_exam_refuses_the_check(capsys, tmp_path):
    """qa check used to leave such a report out and estimate the dose from the headers."""
    exam = ct_series(tmp_path / "exam")
    write_dose_report(exam / "dose.dcm", [SyntheticEvent(dlp_mgycm=-2000.0)])
    code, doc, err = run_json(capsys, "check", exam)
    assert_refused(code, doc, err, file_endswith="dose.dcm", field_has="113838")


def test_an_unusual_value_in_the_exams_dose_report_is_flagged_by_check(capsys, tmp_path):
    exam = ct_series(tmp_path / "exam")
    study_uid = pydicom.dcmread(next(exam.glob("*.dcm"))).StudyInstanceUID
    high = RANGES["ctdivol_mgy"].typical[1] * 1.5
    write_dose_report(exam / "zz-dose.dcm", [SyntheticEvent(ctdivol_mgy=high, dlp_mgycm=20.0)], study_uid=study_uid)
    code, doc, err = run_json(capsys, "check", exam)
    assert doc["schema"] == "qa.check/1", doc
    flagged = [w for w in doc["warnings"] if "113830" in w and "AAPM" in w]
    assert flagged and flagged[0] in err


# ------------------------------------------------------------------------------------ images


IMPOSSIBLE_HEADERS = [
    ({"RescaleSlope": "1e30"}, "RescaleSlope"),  # was scored: Agatston 1e303
    ({"RescaleSlope": "-1"}, "RescaleSlope"),
    ({"RescaleIntercept": "1e30"}, "RescaleIntercept"),  # the CT numbers after rescale
    ({"Rows": 65535, "Columns": 65535}, "Rows"),  # was a 592 GiB allocation and exit 3
    ({"PixelSpacing": "0.0001\\0.0001"}, "PixelSpacing"),
    ({"PixelSpacing": "1000\\1000"}, "PixelSpacing"),
    ({"SliceThickness": "-3"}, "SliceThickness"),
    ({"SliceThickness": "0"}, "SliceThickness"),
    ({"KVP": "0"}, "KVP"),
    ({"KVP": "1e6"}, "KVP"),
    ({"KVP": "NaN"}, "KVP"),
    ({"CTDIvol": -4.0}, "CTDIvol"),
    ({"ImageOrientationPatient": "0\\0\\0\\0\\0\\0"}, "ImageOrientationPatient"),
]


@pytest.mark.parametrize(("header", "field"), IMPOSSIBLE_HEADERS, ids=[f for _, f in IMPOSSIBLE_HEADERS])
def test_an_impossible_image_header_is_refused_by_score_with_file_and_field(capsys, tmp_path, header, field):
    series = ct_series(tmp_path / "s", header=header)
    started = time.monotonic()
    code, doc, err = run_json(capsys, "score", series)
    assert_refused(code, doc, err, file_endswith=".dcm", field_has=field)
    assert time.monotonic() - started < 10  # refused from the header, nothing huge allocated


@pytest.mark.parametrize("command", ["phantom", "check"])
def test_phantom_and_check_refuse_the_same_impossible_headers(capsys, tmp_path, command):
    series = ct_series(tmp_path / "s", header={"RescaleSlope": "1e30", "CTDIvol": -4.0})
    extra = ("--no-store",) if command == "phantom" else ()
    code, doc, err = run_json(capsys, command, series, *extra)
    assert code == 2 and doc["error"]["file"].endswith(".dcm") and doc["error"]["field"]
    assert doc["error"]["field"] in ("RescaleSlope", "(0018,9345) CTDIvol")


@pytest.mark.parametrize(("positions", "field"), [
    ([(0.0, 0.0, 0.0), (0.0, 0.0, 1e300), (0.0, 0.0, 2e300)], "ImagePositionPatient"),  # non-finite along the normal
    ([(0.0, 0.0, 0.0), (0.0, 0.0, 3000.0), (0.0, 0.0, 6000.0)], "slice increment"),  # 3 m between slices
])
def test_impossible_slice_positions_are_refused(capsys, tmp_path, positions, field):
    series = ct_series(tmp_path / "s", n=3, positions_mm=positions)
    code, doc, err = run_json(capsys, "score", series)
    assert_refused(code, doc, err, file_endswith=".dcm", field_has=field)


def test_a_series_beyond_the_memory_budget_is_refused_before_decoding(capsys, tmp_path):
    """Each header is possible (4096 x 4096), together they would exceed the documented budget."""
    limit = plausible("volume_voxels").limits[1]
    n = int(limit // (4096 * 4096)) + 1
    series = ct_series(tmp_path / "s", n=n, size=8, header={"Rows": 4096, "Columns": 4096})
    code, doc, err = run_json(capsys, "score", series)
    assert_refused(code, doc, err, file_endswith=".dcm", field_has="Rows")
    assert "GiB" in doc["error"]["message"]


def test_unusual_image_headers_are_scored_and_flagged(capsys, tmp_path):
    spacing = RANGES["pixel_spacing_mm"].typical[1] * 1.5
    series = ct_series(tmp_path / "s", pixel_mm=spacing, kvp=60.0)
    code, doc, err = run_json(capsys, "score", series)
    assert code == 0 and doc["schema"] == "qa.score/1"
    for field in ("PixelSpacing", "KVP"):
        flagged = [w for w in doc["warnings"] if w.startswith(field)]
        assert flagged, doc["warnings"]
        assert flagged[0] in err
    assert not any(str(tmp_path) in w for w in doc["warnings"])  # fields, never paths (folders may name patients)


def test_ct_numbers_beyond_the_extended_scale_are_scored_and_flagged(capsys, tmp_path):
    top = RANGES["hu"].typical[1]
    hu = np.full((3, 32, 32), 30.0)
    hu[:, 8:12, 8:12] = top + 5000.0  # possible in 16 bits, beyond the extended CT scale
    write_ct_series(tmp_path / "s", hu, pixel_mm=0.5, series_description="CaSc 3.0 Qr36")
    code, doc, err = run_json(capsys, "score", tmp_path / "s")
    assert code == 0 and doc["agatston"] > 0
    flagged = [w for w in doc["warnings"] if w.startswith("CT number after rescale")]
    assert flagged and flagged[0] in err


def test_impossible_values_in_one_enhanced_ct_frame_are_refused(capsys, tmp_path):
    from qa.dicom.write_enhanced import write_enhanced_ct

    path = write_enhanced_ct(tmp_path / "enhanced.dcm", np.zeros((3, 16, 16)))
    ds = pydicom.dcmread(path)
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing = [0.0001, 0.0001]
    ds.save_as(path)
    code, doc, err = run_json(capsys, "score", path)
    assert_refused(code, doc, err, file_endswith="(frame 1)", field_has="PixelSpacing")


# ------------------------------------------------------------------------------------ exam headers


@pytest.mark.parametrize("heart_rate", ["0", "-60", "99999"])
def test_an_impossible_heart_rate_is_not_judged_as_a_heart_rate(capsys, tmp_path, heart_rate):
    """Treated as missing (some scanners write 0 when no ECG was recorded): not_available, flagged."""
    exam = ct_series(tmp_path / "exam", header={"HeartRate": heart_rate})
    code, doc, err = run_json(capsys, "check", exam)
    assert doc["schema"] == "qa.check/1", doc
    [check] = [c for c in doc["checks"] if c["id"] == "heart_rate"]
    assert check["status"] == "not_available"
    flagged = [w for w in doc["warnings"] if "HeartRate" in w and "treated as missing" in w]
    assert flagged and flagged[0] in err


def test_an_impossible_standard_heart_rate_gives_way_to_the_vendors_tag(capsys, tmp_path):
    """HeartRate 0 is skipped, and the Siemens ImageComments heart rate is used instead."""
    exam = ct_series(tmp_path / "exam", header={"Manufacturer": "SIEMENS", "HeartRate": "0", "ImageComments": "62 bpm"})
    _, doc, _ = run_json(capsys, "check", exam)
    [check] = [c for c in doc["checks"] if c["id"] == "heart_rate"]
    assert check["measured"] == 62 and check["status"] != "not_available"
    assert any("HeartRate" in w and "treated as missing" in w for w in doc["warnings"])


def test_an_impossible_vendor_heart_rate_is_missing_too(capsys, tmp_path):
    exam = ct_series(tmp_path / "exam", header={"Manufacturer": "SIEMENS", "HeartRate": None, "ImageComments": "0 bpm"})
    _, doc, _ = run_json(capsys, "check", exam)
    [check] = [c for c in doc["checks"] if c["id"] == "heart_rate"]
    assert check["status"] == "not_available"
    assert any("ImageComments" in w and "treated as missing" in w for w in doc["warnings"])


def test_a_possible_heart_rate_is_still_judged(capsys, tmp_path):
    exam = ct_series(tmp_path / "exam", header={"HeartRate": "60"})
    _, doc, _ = run_json(capsys, "check", exam)
    [check] = [c for c in doc["checks"] if c["id"] == "heart_rate"]
    assert check["status"] != "not_available" and check["measured"] == 60


def test_a_tube_current_beyond_its_limit_is_missing_with_a_warning(capsys, tmp_path):
    beyond = RANGES["tube_current_ma"].limits[1] * 10
    exam = ct_series(tmp_path / "exam", header={"XRayTubeCurrent": str(int(beyond))})
    code, doc, _ = run_json(capsys, "check", exam)
    assert doc["schema"] == "qa.check/1"
    assert any("XRayTubeCurrent" in w and "treated as missing" in w for w in doc["warnings"])


# Issue 11: a negative or non-finite dose, time or size is refused with the field named, on
# whichever image of the series it sits (review defects 1 and 11: only the first image was checked,
# and a negative Exposure was "treated as missing" while a negative CTDIvol was refused).
_EVERY_IMAGE = [
    ("KVP", "1e6"), ("KVP", "inf"), ("CTDIvol", float("nan")), ("CTDIvol", -4.0),
    ("Exposure", "-56"), ("XRayTubeCurrent", "-200"), ("ExposureTime", "-500"),
]


@pytest.mark.parametrize("command", [["score"], ["phantom", "--no-store"], ["check"]])
@pytest.mark.parametrize(("keyword", "value"), _EVERY_IMAGE)
def test_an_impossible_acquisition_value_on_any_image_refuses_the_series(capsys, tmp_path, command, keyword, value):
    n = 4
    series = ct_series(tmp_path / "s", n=n, per_slice_header=[None] + [{keyword: value}] * (n - 1))
    first = sorted(series.glob("*.dcm"))[0].name
    code, doc, err = run_json(capsys, *command, series)
    assert code == 2, (doc, err)
    assert doc["schema"] == "qa.error/1" and doc["error"]["type"] == "InputError"
    assert keyword in doc["error"]["field"] and Path(doc["error"]["file"]).name != first
    assert "np.float64" not in err and "internal error" not in err


@pytest.mark.parametrize("command", [["score"], ["phantom", "--no-store"]])
@pytest.mark.parametrize(("keyword", "first", "others"), [("KVP", "120", "80"), ("ConvolutionKernel", "B35f", "B70f")])
def test_slices_that_disagree_on_kvp_or_kernel_are_refused_by_the_scoring_commands(capsys, tmp_path, command, keyword,
                                                                                   first, others):
    n = 4
    series = ct_series(tmp_path / "s", n=n, header={keyword: first}, per_slice_header=[None] + [{keyword: others}] * (n - 1))
    code, doc, err = run_json(capsys, *command, series)
    assert code == 2 and doc["schema"] == "qa.error/1"
    assert doc["error"]["field"] == keyword and others in doc["error"]["message"] and first in doc["error"]["message"]


@pytest.mark.parametrize(("keyword", "value"), [
    ("RevolutionTime", -0.28), ("SingleCollimationWidth", -0.6), ("ReconstructionDiameter", "-200"),
    ("ReconstructionDiameter", "nan"), ("DataCollectionDiameter", "inf"),
])
def test_a_negative_or_non_finite_time_or_size_in_the_headers_is_refused(capsys, tmp_path, keyword, value):
    """Possible-but-odd descriptive values may be treated as missing; negative or non-finite never are."""
    exam = ct_series(tmp_path / "exam", header={keyword: value})
    code, doc, err = run_json(capsys, "check", exam)
    assert_refused(code, doc, err, file_endswith=".dcm", field_has=keyword)


def test_qa_check_still_fails_slices_that_disagree_on_kvp(capsys, tmp_path):
    n = 4
    series = ct_series(tmp_path / "s", n=n, per_slice_header=[None] + [{"KVP": "80"}] * (n - 1))
    code, doc, _ = run_json(capsys, "check", series)
    assert code == 1 and doc["verdict"] == "fail"
    assert any("kvp differs" in w for w in doc["warnings"])


def test_an_unusual_ctdivol_in_the_headers_is_flagged(capsys, tmp_path):
    high = RANGES["ctdivol_mgy"].typical[1] * 1.2
    exam = ct_series(tmp_path / "exam", header={"CTDIvol": high})
    _, doc, err = run_json(capsys, "check", exam)
    assert doc["schema"] == "qa.check/1"
    flagged = [w for w in doc["warnings"] if "CTDIvol" in w and "AAPM" in w]
    assert flagged and flagged[0] in err


# ------------------------------------------------------------------------------------ options


@pytest.mark.parametrize(("command", "option", "value"), [
    ("score", "--threshold-hu", "-2000"),  # gave negative masses
    ("score", "--threshold-hu", "0"),
    ("score", "--min-area-mm2", "-1"),
    ("score", "--min-area-mm2", "1e9"),
    ("score", "--c-ha", "0"),
    ("score", "--c-ha", "-0.8"),
    ("score", "--c-ha", "1e-9"),
    ("phantom", "--threshold-hu", "-5"),
])
def test_impossible_scoring_options_are_usage_errors_before_anything_is_read(capsys, tmp_path, command, option, value):
    missing = tmp_path / "not-there"  # refused on the option, before the input is even looked at
    code, doc, err = run_json(capsys, command, missing, f"{option}={value}")
    assert code == 2 and doc["schema"] == "qa.error/1"
    assert doc["error"]["type"] == "UsageError" and option in doc["error"]["message"]


@pytest.mark.parametrize(("option", "value"), [
    ("--matrix", "0"), ("--noise-hu", "-1"), ("--pixel-mm", "1e6"), ("--heart-rate-bpm", "1e6"),
    ("--thickness-mm", "0"), ("--increment-mm", "0.00001"), ("--ctdivol-mgy", "-1"), ("--blur-fwhm-mm", "1e9"),
    ("--shift-mm", "1e300"), ("--datetime", "9999-12-31T23:59:59"),  # its stacks would be acquired after the year 9999
])
def test_impossible_synthesis_options_are_usage_errors(capsys, tmp_path, option, value):
    values = [value, "0"] if option == "--shift-mm" else [value]
    code, out, err = run(capsys, "synth", "phantom", tmp_path / "out", option, *values)
    assert code == 2 and option.lstrip("-").replace("-", "_").split("_")[0] in err.replace("-", "_")
    assert "internal error" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_k_factor_that_is_not_in_the_tables_is_a_usage_error(capsys, tmp_path):
    report = write_dose_report(tmp_path / "ok.dcm")
    code, doc, _ = run_json(capsys, "dose", report, "--k-factor", "-0.014")
    assert code == 2 and doc["error"]["type"] == "UsageError" and "--k-factor" in doc["error"]["message"]


def test_the_plausibility_table_documents_every_bound():
    """Each quantity: limits contain the usual range, and a source (a citation or 'our proposal')."""
    for key, p in RANGES.items():
        assert p.limits[0] <= p.typical[0] <= p.typical[1] <= p.limits[1], key
        assert p.source.strip(), key


def test_dose_records_hold_no_impossible_value_after_a_real_read(tmp_path):
    """A good report reads back as written (the checks refuse only what is impossible)."""
    from qa.dicom.rdsr import read_dose_report
    from qa.records.identity import Pseudonymiser

    path = write_dose_report(tmp_path / "ok.dcm", [SyntheticEvent(dlp_mgycm=55.5, ctdivol_mgy=3.7)])
    report: DoseReport = read_dose_report(path, pseudonymise=Pseudonymiser.ephemeral())
    [event] = report.events
    assert (event.dlp_mgycm, event.ctdivol_mgy, report.dlp_total_mgycm) == (55.5, 3.7, 55.5)
    assert not report.warnings


def test_security_md_lists_every_plausibility_limit():
    """The documented limits are the ones the code applies (SECURITY.md carries a generated copy)."""
    from pathlib import Path

    from qa.records.plausibility import markdown_table

    text = (Path(__file__).resolve().parents[2] / "SECURITY.md").read_text(encoding="utf-8")
    start = "<!-- plausibility table: generated, do not edit by hand -->\n"
    table = text[text.index(start) + len(start):text.index("<!-- end of plausibility table -->")]
    assert table == markdown_table(), "SECURITY.md's table differs from qa/records/plausibility.py: regenerate it"


@pytest.mark.parametrize("command", ["score", "check", "phantom"])
def test_an_integer_string_of_infinity_is_refused_with_its_field_never_an_internal_error(capsys, tmp_path, command):
    """pydicom cannot convert an IS of "inf" (OverflowError): the readers take the text as written,
    an impossible exposure, refused with the file and the field (it was exit 3, an internal error)."""
    series = ct_series(tmp_path / "s", header={"Exposure": "1234"})
    for path in sorted(series.glob("*.dcm"))[:2]:
        data = path.read_bytes()
        element = b"\x18\x00\x52\x11IS\x04\x001234"  # (0018,1152) Exposure, explicit VR little endian
        assert element in data
        path.write_bytes(data.replace(element, b"\x18\x00\x52\x11IS\x04\x00inf "))
    extra = ("--no-store",) if command == "phantom" else ()
    code, doc, err = run_json(capsys, command, series, *extra)
    assert_refused(code, doc, err, file_endswith=".dcm", field_has="Exposure")
