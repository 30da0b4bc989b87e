"""A qa 0.1.0 database opened by this qa: upgraded in place on first use, losing nothing.

The expected values come from the fixtures made by qa 0.1.0 (what ``qa trend --json`` and
``qa baseline show --json`` printed then) and from plain sqlite3 / psycopg reads of the 0.1.0
database, never from the code under test.  Everything runs in a site time zone that is not UTC
(America/New_York, with the change to summer time inside the data), so that the local-time rule
for 0.1.0's naive acquisition times is really exercised.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from old_store import FIXTURES, TIMESTAMP_COLUMNS, instant

from qa.store import HEAD_REVISION, Store

pytestmark = pytest.mark.usefixtures("site_timezone")


def _expected(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _like(got, expected):
    """``got`` cut down to the keys ``expected`` has (recursively): every value 0.1.0 printed must
    still be there and the same; fields added since (more are welcome in the JSON contract) are left out."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return {k: _like(got.get(k), v) for k, v in expected.items()}
    if isinstance(expected, list) and isinstance(got, list) and len(got) == len(expected):
        return [_like(g, e) for g, e in zip(got, expected)]
    return got


def _trend_instants(trend: dict, naive_zone: str) -> dict:
    """The trend document with every acquired_at parsed to an aware datetime."""
    out = json.loads(json.dumps(trend))
    for metric in out["metrics"].values():
        for run in metric["runs"]:
            run["acquired_at"] = instant(run["acquired_at"], naive_zone)
    return out


@pytest.mark.parametrize("scanner", ["CT-A", "CT-B"])
def test_qa_trend_reads_back_what_0_1_0_printed(old_database, qa_cli, site_timezone, scanner):
    code, out, err = qa_cli("trend", "--scanner", scanner, "--json", "--db", old_database.url)
    assert code == 0, err
    got, expected = json.loads(out), _expected(f"trend-{scanner}.json")
    # every run id, value, z, flag, baseline statistic, configuration and exclusion is the same ...
    expected.pop("qa_version")
    assert _like(_trend_instants(got, "UTC"), _trend_instants(expected, site_timezone)) == _trend_instants(expected, site_timezone)
    runs = [r for m in got["metrics"].values() for r in m["runs"]]
    assert len(runs) == sum(len(m["runs"]) for m in expected["metrics"].values()) > 0
    # ... and the times are ISO 8601 with their UTC offset (the same instants as 0.1.0's local wall-clock times)
    assert all(run["acquired_at"].endswith("+00:00") for run in runs)


def test_qa_trend_prints_local_wall_clock_times(old_database, qa_cli):
    code, out, err = qa_cli("trend", "--scanner", "CT-A", "--metric", "mass_800_5mm", "--db", old_database.url)
    assert code == 0, err
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    acquired = {int(r[0]): r[1] for r in rows if len(r) > 2 and r[1].startswith("2026-")}
    assert acquired == {day: f"2026-03-0{day}T07:30" for day in range(1, 7)}


def test_qa_baseline_show_reads_back_what_0_1_0_printed(old_database, qa_cli, site_timezone):
    created = {(row["scanner_id"], row["version"]): instant(row["created_at"], site_timezone)
               for row in old_database.rows()["baselines"]}
    for scanner in ("CT-A", "CT-B"):
        code, out, err = qa_cli("baseline", "show", "--scanner", scanner, "--json", "--db", old_database.url)
        assert code == 0, err
        got, expected = json.loads(out), _expected(f"baseline-{scanner}.json")
        assert _like(got["scanner"], expected["scanner"]) == expected["scanner"]
        assert got["scanner"]["identity_basis"] == "serial"  # told since revision 0003
        assert len(got["baselines"]) == len(expected["baselines"]) > 0
        for new, old in zip(got["baselines"], expected["baselines"]):
            # the PostgreSQL dump was filled a few seconds after the SQLite file: its own times count
            assert instant(new.pop("created_at"), "UTC") == created[(got["scanner"]["id"], old["version"])]
            if old_database.kind == "sqlite":
                assert created[(got["scanner"]["id"], old["version"])] == instant(old["created_at"], site_timezone)
            old.pop("created_at")
            assert _like(new, old) == old  # version, run ids, statistics, reason, actor, active, configuration


def test_every_row_survives_the_upgrade(old_database, site_timezone):
    before = old_database.rows()
    Store(old_database.url).close()
    after = old_database.rows()
    studies_tables = {"studies", "dose_events", "exam_checks", "exam_check_results", "ingested_objects"}  # revision 0004, empty
    assert old_database.tables() == set(before) | {"alembic_version"} | studies_tables
    assert old_database.query("SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert after["qa_meta"] == [{"key": "schema_version", "value": "6"}]  # qa 0.1.0 refuses anything but "2"
    for table in before:
        if table == "qa_meta":
            continue
        assert len(after[table]) == len(before[table]) > 0, table
        for old, new in zip(before[table], after[table]):
            added = {"identity_basis", "identity_key", "device_uid"} if table == "scanners" else set()  # revision 0003
            assert old.keys() == new.keys() - added
            if added:  # both 0.1.0 scanners carry a serial number: that stays their identity
                assert (new["identity_basis"], new["device_uid"]) == ("serial", None)
            for column, value in old.items():
                if (table, column) in TIMESTAMP_COLUMNS:
                    assert instant(new[column], "UTC") == instant(value, site_timezone), (table, column, old)
                else:
                    assert new[column] == value, (table, column, old)


def test_checks_documents_and_metrics_read_back_identical(old_database):
    raw = old_database.rows()
    store = Store(old_database.url)
    try:
        for run in raw["phantom_runs"]:
            expected_checks = [
                {"id": c["check_id"], "status": c["status"], "measured": json.loads(c["measured"]),
                 "expected": json.loads(c["expected"]), "message": c["message"], "source": json.loads(c["source"])}
                for c in raw["phantom_checks"] if c["run_id"] == run["id"]
            ]
            assert expected_checks
            key = lambda c: c["id"]  # noqa: E731
            assert sorted(store.run_checks(run["id"]), key=key) == sorted(expected_checks, key=key)
            assert store.run_document(run["id"]) == json.loads(run["document"])
        for scanner in raw["scanners"]:
            metrics = {r.id: r.metrics for r in store.phantom_runs(scanner["id"])}
            expected = {run["id"]: {m["metric"]: m["value"] for m in raw["phantom_metrics"] if m["run_id"] == run["id"]}
                        for run in raw["phantom_runs"] if run["scanner_id"] == scanner["id"]}
            assert metrics == expected
        assert [(s.id, s.manufacturer, s.model, s.serial, s.station_name) for s in store.scanners()] == [
            (s["id"], s["manufacturer"], s["model"], s["serial"], s["station_name"]) for s in raw["scanners"]]
        trail = store.audit_trail()
        assert [(e["actor"], e["event"], e["scanner_id"], e["details"]) for e in trail] == [
            (e["actor"], e["event"], e["scanner_id"], json.loads(e["details"])) for e in raw["audit_events"]]
        assert all(e["at"].tzinfo is not None and e["at"].utcoffset().total_seconds() == 0 for e in trail)
    finally:
        store.close()


def test_a_failed_upgrade_leaves_the_database_as_it_was(old_database):
    """A value that is no date stops the upgrade after three tables were already converted (and,
    on SQLite, rebuilt): everything is rolled back; after the fix the upgrade goes through."""
    from qa.errors import UsageError

    old_database.execute("UPDATE audit_events SET at = 'the day after' WHERE id = 3")
    before = (old_database.tables(), old_database.rows(), _layout(old_database))
    file_bytes = old_database.path.read_bytes() if old_database.path else None
    with pytest.raises(UsageError) as refused:
        Store(old_database.url)
    message = str(refused.value)
    assert "audit_events.at" in message and "'the day after'" in message and "nothing was changed" in message
    assert refused.value.hint and "then run qa again" in refused.value.hint
    assert _shown(old_database.url) in message
    assert (old_database.tables(), old_database.rows(), _layout(old_database)) == before
    if file_bytes is not None:
        assert old_database.path.read_bytes() == file_bytes  # not one byte changed
    old_database.execute("UPDATE audit_events SET at = '2026-12-06T21:04:47+00:00' WHERE id = 3")
    Store(old_database.url).close()
    assert old_database.query("SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


def test_rows_pointing_at_nothing_stop_the_upgrade(tmp_path):
    """SQLite runs the migration with foreign keys off (a rebuilt phantom_runs must not cascade);
    PRAGMA foreign_key_check before the commit catches a broken reference instead."""
    import shutil
    import sqlite3

    from qa.errors import UsageError

    path = tmp_path / "orphan.sqlite"
    shutil.copyfile(FIXTURES / "qa-0.1.0.sqlite", path)
    with sqlite3.connect(path) as c:  # foreign keys are off by default in sqlite3
        c.execute("INSERT INTO phantom_metrics (run_id, metric, value) VALUES (99, 'mass_800_5mm', 1.0)")
    file_bytes = path.read_bytes()
    with pytest.raises(UsageError, match=r"phantom_metrics row \d+ -> phantom_runs.*nothing was changed"):
        Store(f"sqlite:///{path}")
    assert path.read_bytes() == file_bytes


def test_processes_starting_together_upgrade_once(old_database, site_timezone):
    before = old_database.rows()
    code = "import sys; from qa.store import Store; Store(sys.argv[1]).close()"
    children = [subprocess.Popen([sys.executable, "-c", code, old_database.url], stderr=subprocess.PIPE, text=True)
                for _ in range(4)]
    errors = [(child.wait(timeout=300), child.stderr.read()) for child in children]
    assert all(rc == 0 for rc, _ in errors), errors
    assert old_database.query("SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    after = old_database.rows()
    # converted exactly once: a second conversion would shift every naive time by the UTC offset again
    assert [instant(r["acquired_at"], "UTC") for r in after["phantom_runs"]] == [
        instant(r["acquired_at"], site_timezone) for r in before["phantom_runs"]]
    assert len(after["phantom_metrics"]) == len(before["phantom_metrics"])


def test_qa_0_1_0_refuses_the_upgraded_database(old_database, tmp_path):
    """The 0.1.0 store code itself (from the repository's history) opens the upgraded database."""
    source = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "show", "4edca07:qa/store.py"],
                            capture_output=True, text=True)
    if source.returncode != 0:
        pytest.skip(f"qa 0.1.0's source is not in this checkout's history: {source.stderr.strip()}")
    Store(old_database.url).close()
    (tmp_path / "qa_0_1_0_store.py").write_text(source.stdout)
    code = ("import sys; sys.path.insert(0, sys.argv[2]); import qa_0_1_0_store as old\n"
            "try:\n    old.Store(sys.argv[1])\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code, old_database.url, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("UsageError") and "has table layout 6; this qa uses layout 2" in out.stdout
    assert old_database.query("SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


def _layout(database) -> list:
    if database.kind == "sqlite":
        return database.query("SELECT type, name, sql FROM sqlite_master ORDER BY name")
    return database.query("SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                          "WHERE table_schema = 'public' ORDER BY table_name, column_name")


def _shown(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)
