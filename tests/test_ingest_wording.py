"""What ``qa ingest`` and ``qa trends compliance`` say each count counts, and what a dose screen
capture is stored as (issue 13, D5 e and f), on the real files in ../shared/data."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from qa.cli import main


def _lines(capsys, *argv) -> dict[str, str]:
    capsys.readouterr()
    main(list(argv))
    out = capsys.readouterr().out
    return {line[:8].strip(): line for line in out.splitlines() if line[:8].strip()}


def test_a_second_ingest_says_every_object_was_stored_before_and_none_was_read(capsys, ct_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    first = _lines(capsys, "ingest", str(ct_dir), "--db", db)
    again = _lines(capsys, "ingest", str(ct_dir), "--db", db)
    assert "(0 of them stored before)" in first["Objects"]
    found = first["Objects"].split()[1]
    assert f"{found} DICOM objects found ({found} of them stored before); 0 read in full" in again["Objects"]
    assert "opened for their headers" in again["Files"] and "files read" not in again["Files"]


def test_trends_compliance_counts_studies_with_a_checklist(capsys, ct_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    _lines(capsys, "ingest", str(ct_dir), "--db", db)
    lines = _lines(capsys, "trends", "compliance", "--by", "scanner", "--db", db)
    assert "1 studies with a checklist" in lines["Trends"]


def test_a_philips_dose_info_capture_is_stored_as_a_dose_screen_not_an_rdsr(ct_dir, tmp_path):
    capture = ct_dir / "CT-SC-Philips_Brilliance16P.dcm"
    if not capture.is_file():
        pytest.skip(f"{capture} is missing")
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(capture, folder)
    db = tmp_path / "qa.sqlite"
    assert main(["ingest", str(folder), "--db", f"sqlite:///{db}"]) == 0
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT dose_source, has_dose_report FROM studies")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("dose_screen", 1)]


def test_a_new_sqlite_store_in_a_missing_folder_is_refused_with_the_folder_named(capsys, ct_dir, tmp_path):
    missing = tmp_path / "nonexist"
    capsys.readouterr()
    assert main(["ingest", str(ct_dir), "--db", f"sqlite:///{missing / 'x.sqlite'}"]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "mkdir" in err and not missing.exists()
