"""The stored study DLP is the study's total over all its events (issue 13, D1): a dose report that
mixes head (16 cm) and body (32 cm) phantom events is stored with its total, as ``qa dose`` prints
it and as its effective dose is computed, never with its body subtotal."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from qa.cli import main


def _studies(path):
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT study_key, dlp_total_mgycm, dose_msv, document FROM studies")).all()
    engine.dispose()
    return rows


def _dose_json(capsys, *argv):
    capsys.readouterr()
    code = main(["dose", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_mixed_head_and_body_report_is_stored_with_its_total_dlp_not_its_body_subtotal(capsys, tmp_path):
    from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report

    report = tmp_path / "in" / "mixed.dcm"
    report.parent.mkdir()
    write_dose_report(report, [SyntheticEvent(protocol="Head routine", phantom="head16", ctdivol_mgy=50.0, dlp_mgycm=900.0),
                               SyntheticEvent(protocol="Chest routine", phantom="body32", ctdivol_mgy=8.0, dlp_mgycm=300.0)])
    db = tmp_path / "qa.sqlite"
    assert main(["ingest", str(report.parent), "--db", f"sqlite:///{db}"]) == 0
    ((_, dlp, msv, document),) = _studies(db)
    assert dlp == pytest.approx(1200.0)
    compared = json.loads(document)["compared"]
    assert compared["body_subtotal"] and compared["dlp_mgycm"] == pytest.approx(300.0)  # the body subtotal, kept apart
    code, doc = _dose_json(capsys, str(report))
    (item,) = doc["reports"]
    assert item["dlp_total_mgycm"] == pytest.approx(dlp) and item["effective_dose_msv"] == pytest.approx(msv)


def test_the_real_ge_vct_report_is_stored_with_the_dlp_qa_dose_prints(capsys, shared_data, tmp_path):
    vct = shared_data / "dicom" / "rdsr" / "CT-ESR-GE_VCT.dcm"
    if not vct.is_file():
        pytest.skip(f"{vct} is missing")
    db = tmp_path / "qa.sqlite"
    assert main(["ingest", str(vct), "--db", f"sqlite:///{db}"]) == 0
    ((_, dlp, msv, _),) = _studies(db)
    code, doc = _dose_json(capsys, str(vct))
    (item,) = doc["reports"]
    events_sum = sum(e["dlp_mgycm"] or 0.0 for e in item["events"])
    assert events_sum == pytest.approx(2002.39, abs=0.01)
    assert dlp == pytest.approx(max(item["dlp_total_mgycm"], events_sum)) and dlp > 2000.0  # was 1109.0, the body subtotal
    assert msv == pytest.approx(item["effective_dose_msv"])


def test_qa_dose_db_stores_the_same_total_as_ingest(capsys, shared_data, tmp_path):
    vct = shared_data / "dicom" / "rdsr" / "CT-ESR-GE_VCT.dcm"
    if not vct.is_file():
        pytest.skip(f"{vct} is missing")
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    assert main(["ingest", str(vct), "--db", f"sqlite:///{a}"]) == 0
    capsys.readouterr()
    main(["dose", str(vct), "--db", f"sqlite:///{b}"])
    assert [r[1:3] for r in _studies(a)] == [r[1:3] for r in _studies(b)]
