"""The command line: the JSON contract, exit codes, messages, and the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.cli import main
from qa.dicom.write import write_ct_series

REPO = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_score_json_holds_exactly_one_object_with_the_contract_fields(capsys, small_phantom):
    code, out, err = run(capsys, "score", small_phantom.out_dir, "--json", "--c-ha", "0.75")
    assert code == 0
    doc = json.loads(out)  # the only thing on stdout
    assert doc["schema"] == "qa.score/1" and doc["qa_version"]
    for key in ("agatston", "volume_mm3", "mass_mg", "settings", "series", "lesions"):
        assert key in doc
    assert set(doc["settings"]) >= {"method", "threshold_hu", "min_area_mm2", "connectivity", "volume_method", "increment_mm"}
    assert set(doc["series"]) >= {"series_instance_uid", "n_slices", "pixel_spacing_mm", "slice_thickness_mm", "slice_increment_mm", "kvp"}
    lesion = doc["lesions"][0]
    assert set(lesion) >= {"slice_index", "z_mm", "area_mm2", "peak_hu", "mean_hu", "weight", "agatston", "volume_mm3", "centroid_mm"}
    assert len(lesion["centroid_mm"]) == 3
    assert doc["agatston"] == pytest.approx(sum(item["agatston"] for item in doc["lesions"]))
    assert doc["mass_mg"] == pytest.approx(sum(item["mass_mg"] for item in doc["lesions"]))
    assert doc["series"]["n_slices"] == small_phantom.truth["n_slices"]
    assert len(doc["provenance"]["sop_instance_uids"]) == doc["series"]["n_slices"]
    assert "Agatston" in err  # the human table went to stderr


def test_score_prints_a_table(capsys, small_phantom):
    code, out, err = run(capsys, "score", small_phantom.out_dir, "--max-lesions", "3")
    assert code == 0
    assert "peak HU" in out and "Total    Agatston" in out
    assert "more lesions" in out
    assert "1 localizer image(s) left out" in out


def test_scoring_options_reach_the_scorer(capsys, tmp_path):
    hu = np.zeros((2, 20, 20))
    hu[:, 5, 5] = 450.0
    hu[:, 6, 6] = 150.0
    write_ct_series(tmp_path, hu, increment_mm=1.5, pixel_mm=1.0)
    _, out4, _ = run(capsys, "score", tmp_path, "--json")
    _, out8, _ = run(capsys, "score", tmp_path, "--json", "--connectivity", "8", "--threshold-hu", "140", "--min-area-mm2", "0.5")
    four, eight = json.loads(out4), json.loads(out8)
    assert four["agatston"] == pytest.approx(2 * (1 * 4 + 1 * 1) * 0.5)
    assert eight["agatston"] == pytest.approx(2 * (2 * 4) * 0.5)
    assert (eight["settings"]["connectivity"], eight["settings"]["threshold_hu"], eight["settings"]["min_area_mm2"]) == (8, 140.0, 0.5)
    assert four["mass_mg"] is None


def test_kv_warning_and_kv_adapted_option(capsys, tmp_path):
    hu = np.zeros((1, 20, 20))
    hu[0, 2:6, 2:6] = 300.0
    write_ct_series(tmp_path, hu, kvp=100.0)
    code, out, _ = run(capsys, "score", tmp_path)
    assert code == 0 and "100 kVp" in out and "warning" in out
    code, out, _ = run(capsys, "score", tmp_path, "--kv-adapted", "--json")
    doc = json.loads(out)
    assert doc["settings"]["threshold_hu"] == 145.0 and not doc["warnings"]
    code, _, err = run(capsys, "score", tmp_path, "--kv-adapted", "--threshold-hu", "150")
    assert code == 2 and "not both" in err


@pytest.mark.parametrize("method", ["standard", "siemens", "ge", "philips", "canon"])
def test_every_method_preset_runs(capsys, small_phantom, method):
    code, out, _ = run(capsys, "score", small_phantom.out_dir, "--method", method, "--json")
    assert code == 0 and json.loads(out)["settings"]["method"] == method


def test_input_errors_exit_2_and_name_the_file(capsys, tmp_path):
    paths = write_ct_series(tmp_path, np.zeros((5, 8, 8)), increment_mm=2.0)
    Path(paths[2]).unlink()
    code, out, err = run(capsys, "score", tmp_path)
    assert code == 2 and out == ""
    assert "missing slice" in err and "IMG0002.dcm" in err and "IMG0004.dcm" in err
    assert "what to do:" in err


def test_input_errors_with_json_give_an_error_object(capsys, tmp_path):
    code, out, err = run(capsys, "score", tmp_path, "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["schema"] == "qa.error/1" and doc["command"] == "score" and doc["exit_code"] == 2
    assert doc["error"]["type"] == "InputError" and doc["error"]["file"] == str(tmp_path)
    assert "agatston" not in doc
    assert "no files found" in err


def test_several_series_are_listed(capsys, tmp_path):
    write_ct_series(tmp_path / "a", np.zeros((4, 8, 8)), series_description="CaSc 3.0 B35f")
    write_ct_series(tmp_path / "b", np.zeros((6, 8, 8)), series_description="CaSc 1.5 Qr36", series_number=5)
    code, _, err = run(capsys, "score", tmp_path)
    assert code == 2 and "'CaSc 3.0 B35f'" in err and "4 images" in err and "6 images" in err


def test_synth_phantom_command_writes_a_series(capsys, tmp_path):
    code, out, _ = run(capsys, "synth", "phantom", tmp_path / "p", "--matrix", "64", "--pixel-mm", "4",
                       "--z-range", "-6", "6", "--vendor", "canon", "--shuffle", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "qa.synth/1" and doc["n_files"] == 5
    assert doc["truth"]["options"]["vendor"] == "canon"
    assert not (tmp_path / "p" / "IMG0001.dcm").exists()  # shuffled names
    code, _, err = run(capsys, "synth", "phantom", tmp_path / "p")
    assert code == 2 and "already holds a series" in err


def test_help_lists_commands_with_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "score", "synth"):
        assert command in out
    for sub in (["score", "--help"], ["synth", "phantom", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit):
            main(sub)
        assert "examples:" in capsys.readouterr().out


def test_the_installed_entry_point_and_python_m_qa(tmp_path, small_phantom):
    """Real processes: `python -m qa` and the `qa` script, exit codes included."""
    qa_script = Path(sys.executable).parent / "qa"
    ok = subprocess.run([sys.executable, "-m", "qa", "score", small_phantom.out_dir, "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["schema"] == "qa.score/1"
    if qa_script.exists():
        bad = subprocess.run([str(qa_script), "score", str(tmp_path)], capture_output=True, text=True)
        assert bad.returncode == 2 and "no files found" in bad.stderr
    version = subprocess.run([sys.executable, "-m", "qa", "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("qa ")


def test_help_does_not_import_the_heavy_libraries():
    code = (
        "import sys, qa.cli; qa.cli.build_parser();"
        "heavy = [m for m in ('numpy', 'scipy', 'pandas', 'pydicom', 'matplotlib', 'sqlalchemy', 'openpyxl') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_real_canon_phantom_scan_scores(capsys, canon_phantom_dir):
    code, out, _ = run(capsys, "score", canon_phantom_dir, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["series"]["n_slices"] == 47 and doc["series"]["kvp"] == 120.0
    # the 5 mm 800 mg/cm3 insert (near x -40.7, y 1.5 mm, z 600.9 mm) is among the lesions
    near = [lesion for lesion in doc["lesions"]
            if abs(lesion["centroid_mm"][0] + 40.7) < 3 and abs(lesion["centroid_mm"][1] - 1.5) < 3]
    assert near and max(lesion["peak_hu"] for lesion in near) > 1000
    assert doc["agatston"] > 0


def _bad_inputs(kind: str, folder: Path) -> str:
    """Build one kind of unusable input; return a file name the error must mention ('' for none)."""
    import pydicom
    from pydicom.encaps import encapsulate

    ramp = np.arange(5 * 8 * 8, dtype=float).reshape(5, 8, 8)
    if kind == "empty":
        folder.mkdir(parents=True)
        return ""
    if kind == "no-dicom":
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_text("hello")
        return ""
    if kind == "non-ct":
        write_ct_series(folder, ramp, header={"Modality": "PT", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.128"})
        return "IMG0001.dcm"
    if kind == "several-series":
        write_ct_series(folder / "a", ramp, series_description="first")
        write_ct_series(folder / "b", ramp, series_description="second", series_number=9)
        return ""
    if kind == "tilt":
        write_ct_series(folder, ramp, header={"GantryDetectorTilt": "-20"})
        return "IMG0001.dcm"
    if kind == "coronal":
        write_ct_series(folder, ramp, orientation=(1, 0, 0, 0, 0, -1), positions_mm=[(0, 3.0 * k, 0) for k in range(5)])
        return "IMG0001.dcm"
    if kind == "missing-slice":
        Path(write_ct_series(folder, ramp)[3]).unlink()
        return "IMG0003.dcm"
    if kind == "duplicate":
        paths = write_ct_series(folder, ramp)
        ds = pydicom.dcmread(paths[1])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.99"
        ds.save_as(folder / "dup.dcm")
        return "dup.dcm"
    if kind == "spacing":
        write_ct_series(folder, ramp, per_slice_header=[None, None, {"PixelSpacing": ["0.7", "0.7"]}, None, None])
        return "IMG0003.dcm"
    if kind == "truncated":
        paths = write_ct_series(folder, ramp)
        data = Path(paths[4]).read_bytes()
        Path(paths[4]).write_bytes(data[: len(data) - 40])
        return "IMG0005.dcm"
    if kind == "undecodable":
        paths = write_ct_series(folder, ramp)
        ds = pydicom.dcmread(paths[0])
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.103"  # MPEG-4 BD: no decoder
        ds.PixelData = encapsulate([bytes(64)])
        ds["PixelData"].VR = "OB"
        ds.save_as(paths[0], enforce_file_format=True)
        return "IMG0001.dcm"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    ["empty", "no-dicom", "non-ct", "several-series", "tilt", "coronal", "missing-slice", "duplicate",
     "spacing", "truncated", "undecodable"],
)
def test_every_refusal_exits_2_and_names_the_file(capsys, tmp_path, kind):
    folder = tmp_path / "input"
    must_name = _bad_inputs(kind, folder)
    code, out, err = run(capsys, "score", folder)
    assert code == 2, err
    assert out == ""
    assert err.startswith("qa: error: ")
    assert must_name in err
    assert "what to do:" in err


def test_non_hu_values_are_refused(capsys, ct_dir):
    code, _, err = run(capsys, "score", ct_dir / "pydicom-data-eCT_Supplemental.dcm")
    assert code == 2 and "RescaleType" in err and "not Hounsfield units" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["score", ".", "--c-ha", "0"], "must be positive"),
        (["score", ".", "--c-ha", "nan"], "not a finite number"),
        (["score", ".", "--max-lesions", "-1"], "must not be negative"),
        (["synth", "phantom", "x", "--heart-rate-bpm", "0"], "must be positive"),
        (["synth", "phantom", "x", "--shift-mm", "nan", "0"], "not a finite number"),
        (["synth", "phantom", "x", "--thickness-mm", "inf"], "not a finite number"),
    ],
)
def test_bad_option_values_are_usage_errors(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert main(argv + ["--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "qa.error/1" and doc["exit_code"] == 2 and message in doc["error"]["message"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--kvp", "50"], "70-140 kVp"),
        (["--phase-pct", "120"], "0-100"),
        (["--datetime", "yesterday"], "ISO 8601"),
    ],
)
def test_bad_synthesis_options_exit_2(capsys, tmp_path, extra, message):
    code, _, err = run(capsys, "synth", "phantom", tmp_path / "p", *extra)
    assert code == 2 and message in err


def test_out_dir_that_is_a_file_exits_2(capsys, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = run(capsys, "synth", "phantom", target)
    assert code == 2 and "is a file" in err
    code, _, err = run(capsys, "demo", "--out", target)
    assert code == 2 and "is a file" in err  # checked before any work


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
def test_non_finite_kvp_is_refused_with_its_field(capsys, tmp_path):
    """A KVP of NaN is a corrupt header, not an unknown kVp (issue 11, point 1): refused, field named."""
    hu = np.zeros((2, 16, 16))
    hu[:, 2:6, 2:6] = 300.0
    write_ct_series(tmp_path, hu, header={"KVP": "NaN"})
    code, out, _ = run(capsys, "score", tmp_path, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["error"]["field"] == "KVP" and doc["error"]["file"].endswith(".dcm")
