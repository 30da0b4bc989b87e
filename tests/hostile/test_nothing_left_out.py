"""Issue 11, point 2: nothing is silently left out.

A damaged file (empty, shorter than a DICOM header, truncated) among a series' files, first,
middle or last, named ``.dcm``, ``.ima`` or without extension, refuses the series with the file
named (exit 2): the series is never read from the remaining slices.  A folder that cannot be
read refuses the input.  Files that are not part of a series (a README, a JSON sidecar, a dose
report, a damaged file in another folder) are counted always and listed by name with
``--verbose`` and in the ``files`` block of the JSON document.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.errors import InputError
from tests.test_schemas import validate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory) -> Path:
    """A small synthetic CT series (11 slices of 128 x 128) and its truth.json."""
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    out = tmp_path_factory.mktemp("series")
    synthesize_phantom(out, SynthOptions(pixel_mm=1.6, matrix=128, z_start_mm=-10.0, z_end_mm=20.0, noise_hu=5.0, seed=11))
    return out


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != "truth.json")


def _copy(series_dir: Path, dest: Path, suffix: str = ".dcm") -> list[Path]:
    """The series copied into ``dest`` with its image files renamed to ``suffix`` (may be '')."""
    shutil.copytree(series_dir, dest)
    renamed = []
    for image in _images(dest):
        target = image.with_suffix(suffix)
        image.rename(target)
        renamed.append(target)
    return renamed


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "shorter_than_preamble":
        path.write_bytes(data[:100])  # not even the 128-byte preamble and 'DICM'
    elif how == "header_cut":
        path.write_bytes(data[:600])  # inside the header
    elif how == "pixels_cut":
        path.write_bytes(data[: len(data) // 2])  # inside the pixel data
    else:  # pragma: no cover
        raise AssertionError(how)


def _qa(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env, **kwargs)


# ------------------------------------------------------------------------------------ the series is refused


@pytest.mark.parametrize("suffix", [".dcm", ".ima", ""])
@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("how", ["empty", "shorter_than_preamble", "header_cut", "pixels_cut"])
def test_a_damaged_file_among_the_series_refuses_it_with_the_file_named(series_dir, tmp_path, how, position, suffix):
    from qa.workflows.score import score_series

    images = _copy(series_dir, tmp_path / "s", suffix)
    victim = images[{"first": 0, "middle": len(images) // 2, "last": -1}[position]]
    _damage(victim, how)
    with pytest.raises(InputError) as caught:
        score_series(tmp_path / "s")
    assert caught.value.path is not None and Path(caught.value.path).name == victim.name


@pytest.mark.parametrize("how", ["empty", "shorter_than_preamble", "pixels_cut"])
def test_the_header_only_readers_refuse_a_damaged_file_too(series_dir, tmp_path, how):
    """qa check and qa gating --series read headers only: a truncated image is refused there as well."""
    from qa.workflows.exam_files import load_exam

    images = _copy(series_dir, tmp_path / "s")
    _damage(images[-1], how)
    with pytest.raises(InputError) as caught:
        load_exam(tmp_path / "s")
    assert Path(caught.value.path).name == images[-1].name


@pytest.mark.parametrize("command", [["score"], ["check"], ["phantom", "--no-store"], ["gating", "--ecg", "{ecg}", "--series"]])
def test_every_series_command_exits_2_naming_the_damaged_file(series_dir, tmp_path, command, capsys):
    from qa.cli import main

    images = _copy(series_dir, tmp_path / "s")
    _damage(images[0], "empty")
    ecg = tmp_path / "ecg.csv"
    ecg.write_text("time_s,ecg_mv\n" + "".join(f"{n / 250:.3f},0.0\n" for n in range(2500)))
    argv = [a.format(ecg=ecg) for a in command] + [str(tmp_path / "s"), "--json"]
    code = main(argv)
    captured = capsys.readouterr()
    doc = validate(json.loads(captured.out), "qa.error/1")
    assert code == 2 and doc["exit_code"] == 2
    assert Path(doc["error"]["file"]).name == images[0].name and images[0].name in captured.err


def test_the_qa_process_exits_2_with_the_file_named(series_dir, tmp_path):
    images = _copy(series_dir, tmp_path / "s")
    _damage(images[-1], "shorter_than_preamble")
    result = _qa("score", str(tmp_path / "s"))
    assert result.returncode == 2, result.stderr
    assert images[-1].name in result.stderr and "Agatston" not in result.stdout


def test_a_damaged_file_in_a_zip_refuses_the_series_too(series_dir, tmp_path):
    import zipfile

    from qa.workflows.score import score_series

    images = _copy(series_dir, tmp_path / "s")
    archive = tmp_path / "exam.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, image in enumerate(images):
            zf.writestr(f"DICOM/SE1/{image.name}", b"" if n == 3 else image.read_bytes())
    with pytest.raises(InputError) as caught:
        score_series(archive)
    assert caught.value.path.endswith(f"!DICOM/SE1/{images[3].name}")


def test_an_unreadable_subfolder_refuses_the_input(series_dir, tmp_path, without_permission_override):
    """chmod 000 does not stop root: as root, the qa process runs without the capabilities that
    override file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so the folder is really unreadable."""
    _copy(series_dir, tmp_path / "s")
    hidden = tmp_path / "s" / "more"
    hidden.mkdir()
    shutil.copy(_images(series_dir)[0], hidden / "IMG9999.dcm")
    hidden.chmod(0)
    try:
        result = _qa("score", str(tmp_path / "s"), preexec_fn=without_permission_override)
    finally:
        hidden.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert str(hidden) in result.stderr and "cannot be read" in result.stderr


# ------------------------------------------------------------------------------------ counted and listed, not refused


def test_files_that_are_not_part_of_the_series_are_counted_and_listed(series_dir, tmp_path, capsys):
    from qa.cli import main

    _copy(series_dir, tmp_path / "s")
    folder = tmp_path / "s"
    (folder / "README.txt").write_text("exported from PACS\n")
    (folder / "notes.json").write_text("{}")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "._IMG0001.dcm").write_bytes(b"\0\5\26\7" + b"\0" * 80)  # a macOS resource fork, not an image
    names = ("README.txt", "notes.json", ".DS_Store", "._IMG0001.dcm", "truth.json")
    assert main(["score", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{len(names)} skipped (--verbose lists them)" in out and "README.txt" not in out
    assert main(["score", str(folder), "--verbose", "--json"]) == 0
    captured = capsys.readouterr()
    for name in names:
        assert f"{name}: " in captured.err
    doc = validate(json.loads(captured.out), "qa.score/1")
    assert doc["files"]["skipped"] == len(doc["files"]["skipped_files"]) == len(names)
    assert doc["files"]["read"] == len(_images(series_dir))
    assert not any(s["damaged"] for s in doc["files"]["skipped_files"])
    assert all("/" not in s["name"] for s in doc["files"]["skipped_files"])  # names only: folders may name patients


def test_a_damaged_file_in_another_folder_is_listed_as_unreadable(series_dir, tmp_path, capsys):
    from qa.cli import main

    _copy(series_dir, tmp_path / "exam" / "series")
    other = tmp_path / "exam" / "elsewhere"
    other.mkdir()
    (other / "IM000001").write_bytes(b"")
    for command in (["score"], ["check"]):
        assert main([*command, str(tmp_path / "exam"), "--json"]) == 0
        captured = capsys.readouterr()
        doc = validate(json.loads(captured.out), f"qa.{command[0]}/1")
        listed = {s["name"]: s for s in doc["files"]["skipped_files"]}
        assert listed["IM000001"]["damaged"] is True and "empty" in listed["IM000001"]["reason"]
        assert "1 unreadable" in captured.err


def test_a_dicom_object_that_is_not_an_image_is_not_a_broken_image(series_dir, tmp_path):
    """A structured report next to the images is listed as another object; the series is read."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from qa.workflows.score import score_series

    _copy(series_dir, tmp_path / "s")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sr = FileDataset(str(tmp_path / "s" / "SR0001.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    sr.SOPClassUID, sr.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    sr.Modality, sr.SeriesInstanceUID, sr.StudyInstanceUID = "SR", generate_uid(), generate_uid()
    sr.save_as(tmp_path / "s" / "SR0001.dcm", enforce_file_format=True)
    run = score_series(tmp_path / "s")
    assert run.volume.n_slices == len(_images(series_dir))
    assert run.input_summary.other_objects == {"Basic Text SR Storage": 1}


def test_dose_refuses_a_damaged_file_among_its_reports(shared_data, tmp_path):
    from qa.workflows.dose import summarise_dose

    reports = sorted((shared_data / "dicom" / "rdsr").glob("CT-RDSR-Siemens-Multi-*.dcm"))
    if not reports:
        pytest.skip("the Siemens multi-report RDSRs are not in the shared data")
    folder = tmp_path / "dose"
    folder.mkdir()
    for r in reports:
        shutil.copy(r, folder / r.name)
    summary = summarise_dose([folder])
    assert summary.files.read == len(reports) and summary.files.skipped == 0
    (folder / "CT-RDSR-Siemens-Multi-4.dcm").write_bytes(reports[0].read_bytes()[:90])
    with pytest.raises(InputError) as caught:
        summarise_dose([folder])
    assert caught.value.path.endswith("CT-RDSR-Siemens-Multi-4.dcm")


def test_an_image_whose_elements_stop_ascending_is_refused_not_read_in_part(series_dir, tmp_path):
    """Parsing stops where tags stop ascending (what follows is not a dataset): an image cut there
    before its pixel data is refused as corrupt, with the element named, never read without them."""
    from qa.workflows.score import score_series

    images = _copy(series_dir, tmp_path / "s")
    raw = images[4].read_bytes()
    at = raw.rfind(b"\xe0\x7f\x10\x00")  # the Pixel Data element
    images[4].write_bytes(raw[:at] + b"\x08\x00\x70\x00LO\x04\x00ABCD" + raw[at:])  # (0008,0070) after group 0028
    with pytest.raises(InputError) as caught:
        score_series(tmp_path / "s")
    assert Path(caught.value.path).name == images[4].name and caught.value.field == "(0008,0070)"


# ------------------------------------------------------------------------------------ review of issue 11 (defects 7, 8)


@pytest.mark.parametrize("command", [["phantom", "--no-store"], ["check"], ["score"]])
def test_a_dangling_link_among_the_series_refuses_it_with_the_link_named(series_dir, tmp_path, command):
    """A series copied with one file left on a removed disk: the link's name says it belongs there."""
    images = _copy(series_dir, tmp_path / "s")
    images[-1].unlink()
    os.symlink(tmp_path / "removed-usb-disk" / images[-1].name, images[-1])
    result = _qa(*command, str(tmp_path / "s"), "--json")
    assert result.returncode == 2, result.stderr
    doc = validate(json.loads(result.stdout), "qa.error/1")
    assert Path(doc["error"]["file"]).name == images[-1].name and "symbolic link" in doc["error"]["message"]


def test_a_dangling_link_named_like_no_dicom_file_is_only_listed(series_dir, tmp_path):
    _copy(series_dir, tmp_path / "s")
    os.symlink(tmp_path / "gone" / "notes.txt", tmp_path / "s" / "notes.txt")
    result = _qa("score", str(tmp_path / "s"), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema"] == "qa.score/1"


@pytest.mark.parametrize("command", [["check"], ["score"]])
def test_an_image_cut_before_its_pixel_data_is_refused_by_every_reader(series_dir, tmp_path, command):
    """The header cut inside group 0020: qa check reads headers only and used to count the image."""
    images = _copy(series_dir, tmp_path / "s")
    raw = images[5].read_bytes()
    images[5].write_bytes(raw[:raw.find(b"\x20\x00\x37\x00DS")])  # ends before ImageOrientationPatient
    result = _qa(*command, str(tmp_path / "s"), "--json")
    assert result.returncode == 2, result.stderr
    doc = validate(json.loads(result.stdout), "qa.error/1")
    assert Path(doc["error"]["file"]).name == images[5].name and doc["error"]["field"] == "PixelData"


@pytest.mark.parametrize("command", [["score"], ["phantom", "--no-store"], ["check"]])
def test_an_unknown_value_representation_is_refused_with_the_file_and_element_named(series_dir, tmp_path, command):
    images = _copy(series_dir, tmp_path / "s")
    raw = images[0].read_bytes()
    assert b"\x08\x00\x3e\x10LO" in raw  # SeriesDescription
    images[0].write_bytes(raw.replace(b"\x08\x00\x3e\x10LO", b"\x08\x00\x3e\x10KO", 1))
    result = _qa(*command, str(tmp_path / "s"), "--json")
    assert result.returncode == 2, result.stderr
    doc = validate(json.loads(result.stdout), "qa.error/1")
    assert Path(doc["error"]["file"]).name == images[0].name and doc["error"]["field"] == "(0008,103E)"
    assert "internal error" not in result.stderr


def test_a_dose_report_with_an_unknown_value_representation_is_refused(tmp_path):
    from qa.dicom.write_rdsr import write_dose_report

    report = Path(write_dose_report(tmp_path / "dose.dcm"))
    raw = report.read_bytes()
    assert b"\x08\x00\x04\x01LO" in raw  # a CodeMeaning
    report.write_bytes(raw.replace(b"\x08\x00\x04\x01LO", b"\x08\x00\x04\x01MO", 1))
    result = _qa("dose", str(report), "--json")
    assert result.returncode == 2, result.stderr
    doc = validate(json.loads(result.stdout), "qa.error/1")
    assert doc["error"]["file"].endswith("dose.dcm") and doc["error"]["field"] == "(0008,0104)"


def test_a_dicom_ecg_with_an_unknown_value_representation_is_refused(shared_data, tmp_path):
    source = shared_data / "ecg" / "waveform_ecg.dcm"
    if not source.exists():
        pytest.skip("the DICOM ECG waveform is not in the shared data")
    raw = source.read_bytes()
    assert b"\x08\x00\x60\x00CS" in raw  # Modality
    broken = tmp_path / "ecg.dcm"
    broken.write_bytes(raw.replace(b"\x08\x00\x60\x00CS", b"\x08\x00\x60\x00KS", 1))
    exposures = tmp_path / "exp.csv"
    exposures.write_text("start_s,duration_s\n1.0,0.2\n")
    result = _qa("gating", "--ecg", str(broken), "--exposures", str(exposures), "--json")
    assert result.returncode == 2, result.stderr
    doc = validate(json.loads(result.stdout), "qa.error/1")
    assert doc["error"]["file"].endswith("ecg.dcm") and doc["error"]["field"] == "(0008,0060)"
