"""``--no-store`` means "do not write": the run reads the store and gets the checks a stored run gets.

The defect this pins down (found testing as a new user): ``qa phantom SERIES --no-store`` on a
scanner with a baseline printed "no baseline for this scanner yet", skipped every baseline check
and ended ``VERDICT PASS`` on a scan whose masses were 30 % off the baseline.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from qa.cli import main

CHECK_FIELDS = ("id", "status", "measured", "expected", "message")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _snapshot(url: str) -> dict:
    """Every row of every table: what "nothing was written" is checked against."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            tables = sorted(sa.inspect(c).get_table_names())
            return {t: sorted(map(repr, c.execute(sa.text(f'SELECT * FROM "{t}"')).all())) for t in tables}
    finally:
        engine.dispose()


def _stored_baseline(capsys, folders, db):
    for folder in folders[:5]:
        assert run(capsys, "phantom", folder, "--db", db, "--ring", "none")[0] == 0
    code, _, err = run(capsys, "baseline", "set", "--scanner", "CT-A", "--from-last", "5", "--db", db, "--reason", "test")
    assert code == 0, err


def test_a_no_store_run_gets_the_baseline_checks_and_writes_nothing(capsys, phantom_days, store_url):
    folders, _ = phantom_days
    _stored_baseline(capsys, folders, store_url)
    before = _snapshot(store_url)
    # day 6: the calcifications read 30 % brighter; with --no-store the baseline is still read
    code, out, err = run(capsys, "phantom", folders[5], "--db", store_url, "--no-store", "--ring", "none", "--json")
    unstored = json.loads(out)
    assert code == 1 and unstored["verdict"] == "fail", err
    checks = {c["id"]: c for c in unstored["checks"]}
    assert checks["configuration"]["status"] == "pass"
    assert checks["mass_800_5mm"]["status"] == "fail" and checks["mass_800_5mm"]["source"]["baseline_version"] == 1
    assert "no baseline" not in unstored["verdict_message"] and unstored["stored"] is None
    assert unstored["baseline"]["version"] == 1
    assert _snapshot(store_url) == before  # not a row written, changed or removed
    # the same run stored gets exactly the same checks, the same not-available ones included
    code, out, _ = run(capsys, "phantom", folders[5], "--db", store_url, "--ring", "none", "--json")
    stored = json.loads(out)
    assert code == 1 and stored["stored"]["run_id"]
    assert [[c[k] for k in CHECK_FIELDS] for c in stored["checks"]] == [[c[k] for k in CHECK_FIELDS] for c in unstored["checks"]]


def test_without_a_readable_store_the_verdict_says_why_baseline_checks_are_missing(capsys, phantom_days, tmp_path):
    folders, _ = phantom_days
    missing = tmp_path / "never-made.sqlite"
    code, out, err = run(capsys, "phantom", folders[5], "--db", f"sqlite:///{missing}", "--no-store", "--json")
    doc = json.loads(out)
    assert "baseline checks not available" in doc["verdict_message"] and str(missing) in doc["verdict_message"]
    assert {c["id"]: c for c in doc["checks"]}["mass_800_5mm"]["status"] == "not_available"
    assert not missing.exists()  # reading never creates a store


def test_no_store_reads_the_default_store_too(capsys, phantom_days, monkeypatch, tmp_path):
    """No --db: the store of QA_DB_URL (else the default file) is read when it exists."""
    folders, _ = phantom_days
    default = f"sqlite:///{tmp_path / 'default.sqlite'}"
    monkeypatch.setenv("QA_DB_URL", default)
    for folder in folders[:5]:
        assert run(capsys, "phantom", folder, "--ring", "none")[0] == 0
    assert run(capsys, "baseline", "set", "--scanner", "CT-A", "--from-last", "5")[0] == 0
    before = _snapshot(default)
    code, out, _ = run(capsys, "phantom", folders[5], "--no-store", "--ring", "none", "--json")
    assert code == 1 and json.loads(out)["verdict"] == "fail"
    assert _snapshot(default) == before


def test_a_store_that_exists_but_cannot_be_read_as_it_is_stops_the_run(capsys, phantom_days, tmp_path):
    """--no-store never degrades to "no baseline" when the store is there: an older layout (qa 0.1.0,
    which needs its upgrade, a write) or a newer one exits 2 naming the store, and nothing is written."""
    import shutil
    import sqlite3
    from pathlib import Path

    folders, _ = phantom_days
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "store-0.1.0" / "qa-0.1.0.sqlite"
    old = tmp_path / "old.sqlite"
    shutil.copyfile(fixture, old)
    before = old.read_bytes()
    code, out, err = run(capsys, "phantom", folders[0], "--db", f"sqlite:///{old}", "--no-store", "--json")
    assert code == 2 and "must be upgraded" in err and str(old) in err and "--no-store never writes" in err
    assert json.loads(out)["schema"] == "qa.error/1" and old.read_bytes() == before
    newer = tmp_path / "newer.sqlite"
    assert run(capsys, "phantom", folders[0], "--db", f"sqlite:///{newer}", "--ring", "none")[0] == 0
    with sqlite3.connect(newer) as c:
        c.execute("UPDATE alembic_version SET version_num = '9999_future'")
    code, _, err = run(capsys, "phantom", folders[0], "--db", f"sqlite:///{newer}", "--no-store")
    assert code == 2 and "newer than this qa knows" in err
