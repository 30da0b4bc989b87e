"""No patient-object UID reaches the store in clear (issue 13, D3): scanners build SOP Instance,
Series Instance and Irradiation Event UIDs from the StudyInstanceUID's root, so the store keeps them
only as keyed pseudonyms; ingest stays idempotent, and revision 0006 pseudonymises an older store."""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest
import sqlalchemy as sa

from qa.cli import main


def _uids(folder):
    """The Study, Series and SOP Instance UIDs of every DICOM file under ``folder``."""
    out = {"StudyInstanceUID": set(), "SeriesInstanceUID": set(), "SOPInstanceUID": set()}
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        for keyword, values in out.items():
            if ds.get(keyword):
                values.add(str(ds.get(keyword)))
    return out


def _leaks(db_path, uids) -> list[str]:
    data = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    leaks = [u for values in uids.values() for u in values if u.encode() in data]
    return leaks + [f"prefix of {u}" for u in uids["StudyInstanceUID"] if len(u) >= 20 and u[:20].encode() in data]


@pytest.fixture()
def dicom_dir(shared_data):
    path = shared_data / "dicom"
    if not path.is_dir():
        pytest.skip(f"{path} is missing")
    return path


def _ingest(capsys, folder, db):
    capsys.readouterr()
    assert main(["ingest", str(folder), "--db", f"sqlite:///{db}", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_no_study_series_or_sop_instance_uid_of_the_real_files_is_in_the_sqlite_bytes(capsys, dicom_dir, tmp_path):
    db = tmp_path / "qa.sqlite"
    doc = _ingest(capsys, dicom_dir, db)
    assert doc["studies"]["added"] > 10
    assert _leaks(db, _uids(dicom_dir)) == []


def test_a_second_ingest_finds_every_object_stored_by_its_pseudonym(capsys, dicom_dir, tmp_path):
    db = tmp_path / "qa.sqlite"
    _ingest(capsys, dicom_dir, db)
    again = _ingest(capsys, dicom_dir, db)
    assert again["objects"]["read"] == 0 and again["studies"]["added"] == 0 and again["studies"]["updated"] == 0


def test_cumulative_re_sends_still_merge_by_irradiation_event_uid(capsys, dicom_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    db = tmp_path / "qa.sqlite"
    for n in (1, 2, 3):  # three cumulative reports of one study, one run each
        shutil.copy(dicom_dir / "rdsr" / f"CT-RDSR-Siemens-Multi-{n}.dcm", folder)
        _ingest(capsys, folder, db)
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        events = c.execute(sa.text("SELECT irradiation_event_uid FROM dose_events")).scalars().all()
        (dlp,) = c.execute(sa.text("SELECT dlp_total_mgycm FROM studies")).scalars().all()
    engine.dispose()
    assert len(events) == 3 and all(e.startswith("p-") for e in events)
    assert dlp == pytest.approx(236.09)


def test_revision_0006_pseudonymises_the_uids_an_older_store_kept_in_clear(capsys, dicom_dir, tmp_path):
    from qa.privacy import site_pseudonymiser
    from qa.store import Store

    db = tmp_path / "qa.sqlite"
    _ingest(capsys, dicom_dir, db)
    p = site_pseudonymiser()
    uids = _uids(dicom_dir)
    clear_of = {p(u): u for values in uids.values() for u in values}
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as c:  # the store as qa wrote it before 0006: clear UIDs
        for key, uid in clear_of.items():
            c.execute(sa.text("UPDATE ingested_objects SET sop_instance_uid = :u WHERE sop_instance_uid = :k"), {"u": uid, "k": key})
            c.execute(sa.text("UPDATE exam_checks SET series_key = :u WHERE series_key = :k"), {"u": uid, "k": key})
        c.execute(sa.text("UPDATE alembic_version SET version_num = '0005'"))
        c.execute(sa.text("UPDATE qa_meta SET value = '5' WHERE key = 'schema_version'"))
        n_clear = c.execute(sa.text("SELECT count(*) FROM ingested_objects WHERE sop_instance_uid NOT LIKE 'p-%'")).scalar()
    engine.dispose()
    assert n_clear > 10 and _leaks(db, uids) != []
    Store(f"sqlite:///{db}").close()  # opening upgrades it to 0006
    assert _leaks(db, uids) == []
    again = _ingest(capsys, dicom_dir, db)
    assert again["objects"]["read"] == 0


def test_qa_dose_json_prints_no_uid_of_a_patient_report_in_clear(capsys, dicom_dir):
    report = dicom_dir / "rdsr" / "CT-ESR-GE_VCT.dcm"
    capsys.readouterr()
    main(["dose", str(report), "--json"])
    out = capsys.readouterr().out
    uids = _uids(report.parent)
    assert json.loads(out)["reports"]
    study = str(pydicom.dcmread(report, stop_before_pixels=True).StudyInstanceUID)
    assert study[:20] not in out and not any(u in out for values in uids.values() for u in values)


def test_qa_check_json_prints_no_uid_of_the_real_calcium_exam_in_clear(capsys, dicom_dir, tmp_path):
    exam = tmp_path / "exam"
    exam.mkdir()
    for path in (dicom_dir / "ct").glob("pydicom-dicomdirtests-98892001-*.dcm"):
        shutil.copy(path, exam)
    capsys.readouterr()
    main(["check", str(exam), "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["schema"] == "qa.check/1" and doc["exam"]["headers"]["series_instance_uid"].startswith("p-")
    uids = _uids(exam)
    assert not any(u in out for values in uids.values() for u in values)
    assert not any(u[:20] in out for u in uids["StudyInstanceUID"])
