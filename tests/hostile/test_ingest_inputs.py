"""qa ingest on damaged and hostile input: nothing stops the run, nothing wrong is stored.

Unreadable files are listed with the reason; a study whose input cannot be used (a damaged file
among its images, an impossible dose value, an event another study owns) is refused whole and
listed, while every other study is stored; exit 1 then, never 0 and never 3.
"""

from __future__ import annotations

import json
import os

import pydicom
import pytest
from ingest_site import write_exam

from qa.cli import main
from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report
from qa.store import Store


def ingest_json(capsys, *argv):
    code = main(["ingest", *map(str, argv), "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def counts(url: str) -> dict:
    store = Store(url)
    try:
        return store.study_counts()
    finally:
        store.close()


def test_unreadable_files_are_listed_and_a_study_beside_a_damaged_file_is_refused_whole(capsys, tmp_path):
    stored_exam, _, _ = write_exam(tmp_path / "site", 11)
    other, _, _ = write_exam(tmp_path / "site", 12)
    (other / "IMG9999.dcm").write_bytes(b"")  # an empty file among an exam's images: the series is refused
    (tmp_path / "site" / "random.dcm").write_bytes(os.urandom(2000))
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, doc, err = ingest_json(capsys, tmp_path / "site", "--db", url)
    assert code == 1  # a study was refused; the other is stored
    assert doc["studies"]["added"] == 1 and doc["studies"]["refused"] == 1
    (refused,) = doc["refused"]
    assert refused["file"] == "IMG9999.dcm" and "empty" in refused["reason"]
    assert {f["name"] for f in doc["files"]["skipped_files"]} == {"IMG9999.dcm", "random.dcm"}
    n_files = len(list(stored_exam.glob("*.dcm")))
    assert counts(url)["studies"] == 1 and counts(url)["ingested_objects"] == n_files  # nothing of the refused study
    (other / "IMG9999.dcm").unlink()  # repaired: the refused study is stored by the next run
    code, doc, _ = ingest_json(capsys, tmp_path / "site", "--db", url)
    assert code == 0 and doc["studies"]["added"] == 1 and doc["studies"]["unchanged"] == 1


def test_a_study_with_an_impossible_dose_is_refused_naming_the_field_and_never_stored(capsys, tmp_path):
    write_exam(tmp_path / "site", 13)
    folder, study, report = write_exam(tmp_path / "site", 14)
    report.unlink()
    write_dose_report(report, [SyntheticEvent(protocol="Calcium Score", dlp_mgycm=-60.0)], study_uid=study)
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, doc, _ = ingest_json(capsys, tmp_path / "site", "--db", url)
    assert code == 1 and doc["studies"]["added"] == 1
    (refused,) = doc["refused"]
    assert refused["file"] == "rdsr.dcm" and "DLP" in refused["reason"]
    assert counts(url)["studies"] == 1 and counts(url)["dose_events"] == 1


def test_an_event_claimed_by_a_second_study_refuses_that_study(capsys, tmp_path):
    folder, _, report = write_exam(tmp_path / "site", 15)
    ds = pydicom.dcmread(report)
    ds.StudyInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["another study"])  # the same events, another study
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["copy"])
    (tmp_path / "copy").mkdir()
    ds.save_as(tmp_path / "copy" / "copied.dcm", enforce_file_format=True)
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    assert ingest_json(capsys, folder, "--db", url)[0] == 0
    code, doc, _ = ingest_json(capsys, tmp_path / "copy", "--db", url)
    assert code == 1 and "stored under another study" in doc["refused"][0]["reason"]
    assert counts(url)["studies"] == 1


def test_a_damaged_zip_is_listed_and_never_stops_the_ingest(capsys, tmp_path):
    """qa check refuses a damaged zip (one exam is read whole); qa ingest reads many studies: the zip
    is listed as skipped with the reason and every other study is stored (exit 0)."""
    write_exam(tmp_path / "site", 21)
    (tmp_path / "site" / "junk").mkdir()
    (tmp_path / "site" / "junk" / "bad.zip").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "top.zip").write_bytes(b"PK\x03\x04garbage")
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, doc, _ = ingest_json(capsys, tmp_path / "site", tmp_path / "top.zip", "--db", url)
    assert code == 0 and doc["studies"]["added"] == 1
    skipped = {f["name"]: f["reason"] for f in doc["files"]["skipped_files"]}
    assert "damaged zip" in skipped["bad.zip"] and "damaged zip" in skipped["top.zip"]
    assert counts(url)["studies"] == 1


def _cut(path, where: str) -> None:
    """Cut a DICOM file short: inside its file meta, just before its StudyInstanceUID, or inside its pixel data."""
    data = path.read_bytes()
    at = {"file meta": 200, "before (0020,000D)": data.find(b"\x20\x00\x0d\x00UI") - 6,
          "pixel data": len(data) - 100}[where]
    assert 132 < at < len(data)
    path.write_bytes(data[:at])


@pytest.mark.parametrize("where", ["file meta", "before (0020,000D)", "pixel data"])
def test_a_truncated_image_is_reported_damaged_by_name_and_refuses_its_study(capsys, tmp_path, where):
    intact, _, _ = write_exam(tmp_path / "site", 31)
    cut_exam, _, _ = write_exam(tmp_path / "site", 32)
    victim = sorted(p for p in cut_exam.rglob("*.dcm") if p.name != "rdsr.dcm")[1]
    _cut(victim, where)
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, doc, err = ingest_json(capsys, tmp_path / "site", "--db", url)
    assert code == 1 and doc["studies"]["added"] == 1 and doc["studies"]["refused"] == 1
    (refused,) = doc["refused"]
    assert refused["file"] == victim.name and "truncated" in refused["reason"]
    skipped = {f["name"]: f for f in doc["files"]["skipped_files"]}
    if where == "pixel data":  # the index reads its opening elements whole; the study's full read refuses it
        assert victim.name not in skipped
    else:
        assert skipped[victim.name]["damaged"] and "truncated" in skipped[victim.name]["reason"]
        assert "ends before its StudyInstanceUID (0020,000D)" in skipped[victim.name]["reason"]
    assert not any("no StudyInstanceUID" in f["reason"] for f in doc["files"]["skipped_files"])
    assert counts(url)["studies"] == 1  # the intact exam only; nothing of the other stored without its file


def test_a_truncated_image_inside_a_zip_is_reported_damaged_by_name_too(capsys, tmp_path):
    import shutil

    exam, _, _ = write_exam(tmp_path / "site", 33)
    victim = sorted(p for p in exam.rglob("*.dcm") if p.name != "rdsr.dcm")[2]
    _cut(victim, "before (0020,000D)")
    archive = shutil.make_archive(str(tmp_path / "exam"), "zip", exam)
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, doc, _ = ingest_json(capsys, archive, "--db", url)
    assert code == 1 and doc["studies"]["refused"] == 1 and doc["refused"][0]["file"] == victim.name
    (skipped,) = doc["files"]["skipped_files"]
    assert skipped["name"] == victim.name and skipped["damaged"]  # the zip member is read whole: its cut value is met first
    assert "truncated" in skipped["reason"] or "corrupt" in skipped["reason"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_values_that_break_the_standard_are_in_the_warnings_by_file_and_never_on_the_terminal(tmp_path, workers):
    """pydicom reads a value longer than its VR allows (or an invalid UID) as written and warns on
    stderr: qa ingest keeps the terminal clean and lists each message in its warnings, counted, with the files."""
    import subprocess
    import sys

    import warnings

    exam, _, report = write_exam(tmp_path / "site", 61)
    images = sorted(p for p in exam.rglob("*.dcm") if p.name != report.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns when the test writes them too
        for path in images:
            ds = pydicom.dcmread(path)
            ds.SeriesDescription = "Calcium Score " + "x" * 70  # LO: at most 64 characters (84 here)
            ds.save_as(path)
        ds = pydicom.dcmread(report)
        ds.ManufacturerModelName = ds.ManufacturerModelName + " " + "y" * 60  # LO too, another length
        ds.save_as(report)
    too_long = f"The value length ({len(ds.ManufacturerModelName)}) exceeds the maximum length of 64"
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    env = dict(os.environ, PYTHONWARNINGS="default")  # as a user's shell may have it: every warning shown
    done = subprocess.run([sys.executable, "-m", "qa", "ingest", str(tmp_path / "site"), "--db", url, "--workers", workers, "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "valuerep" not in done.stderr  # the terminal stays clean
    doc = json.loads(done.stdout)
    lo = [w for w in doc["warnings"] if "The value length (84) exceeds the maximum length of 64 allowed for VR LO" in w]
    sh = [w for w in doc["warnings"] if too_long in w]
    assert lo and sh and doc["studies"]["added"] == 1
    assert all("read as written" in w and "time(s)" in w for w in lo + sh)
    assert any(images[0].name in w or any(p.name in w for p in images) for w in lo) and any(report.name in w for w in sh)
