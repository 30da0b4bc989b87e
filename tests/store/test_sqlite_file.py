"""The phantom run's store through the stdlib sqlite3 (qa.store.sqlite_file) against the Store (SQLAlchemy).

The same results saved through each into two SQLite files leave the same rows, and each reads back
what the other reads: the queries are one code (qa.store.scanners, phantom_runs, baselines), and
these tests hold the two drivers' handling of timestamps, booleans and ids to it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading

import pytest

from qa.records.identity import ScannerIdentity
from qa.store import Store
from qa.store.sqlite_file import SqliteFileStore, open_sqlite_file
from tests.conftest import provenance_at, result_variant
from together import run_together

TABLES = ("scanners", "phantom_runs", "phantom_metrics", "phantom_checks", "baselines", "audit_events")
# Written as "now" by whichever store saves: compared by their format, not their value.
NOW_COLUMNS = {("scanners", "first_seen"), ("audit_events", "at")}
STORED_UTC = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


def _history(phantom_result) -> list:
    """(result, provenance) of a scanner's life: new series, a re-analysis that replaces, a second
    scanner known by its station only, that station's serial appearing (the row re-keyed, audited),
    a serial-less image of a station stored under a serial, an acquisition time without offset."""
    base = phantom_result.scanner
    station_only = ScannerIdentity("Acme", "CT 9", None, "CT-NINE")
    with_serial = ScannerIdentity("Acme", "CT 9", "SN-9", "CT-NINE")
    serial_less_a = ScannerIdentity(base.manufacturer, base.model, None, base.station_name)
    return [
        (phantom_result, provenance_at("2026-03-01T08:00:00+00:00")),
        (result_variant(phantom_result, uid="1.2.3.2", acquired="2026-03-02T07:30:00"), provenance_at("2026-03-02T08:00:00+01:00")),
        (result_variant(phantom_result, uid="1.2.3.2", acquired="2026-03-02T07:30:00"), provenance_at("2026-03-02T09:00:00+00:00")),
        (result_variant(phantom_result, uid="1.2.3.3", acquired=None, scanner=station_only), provenance_at("2026-03-03T08:00:00Z")),
        (result_variant(phantom_result, uid="1.2.3.4", scanner=with_serial), provenance_at("2026-03-04T08:00:00+00:00")),
        (result_variant(phantom_result, uid="1.2.3.5", scanner=serial_less_a, protocol_ok=False),
         provenance_at("2026-03-05T08:00:00-05:00")),
    ]


def _rows(path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as c:
        out = {}
        for table in TABLES:
            cursor = c.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
            names = [d[0] for d in cursor.description]
            rows = []
            for row in cursor.fetchall():
                values = dict(zip(names, row))
                for t, column in NOW_COLUMNS:
                    if t == table:
                        assert STORED_UTC.match(values.pop(column)), (table, column)
                rows.append(tuple(sorted(values.items())))
            out[table] = rows
    c.close()
    return out


def _new_store(path) -> str:
    url = f"sqlite:///{path}"
    Store(url).close()  # made by the migrations, as a first run makes it
    return url


def test_the_sqlite_file_store_writes_and_reads_what_the_store_does(tmp_path, phantom_result):
    full_url, light_url = _new_store(tmp_path / "full.sqlite"), _new_store(tmp_path / "light.sqlite")
    full = Store(full_url)
    light = open_sqlite_file(light_url, read_only=False)
    assert isinstance(light, SqliteFileStore)
    try:
        for result, provenance in _history(phantom_result):
            assert light.save_phantom_run(result, provenance) == full.save_phantom_run(result, provenance)
        # a baseline (set by the Store in both: qa baseline set), then read back through each
        for url in (full_url, light_url):
            setter = Store(url)
            try:
                scanner = setter.find_scanner("SN-9")
                runs = setter.phantom_runs(scanner.id)
                from qa.phantom.analysis import Configuration, baseline_from_results

                config = Configuration.from_mapping(json.loads(runs[-1].configuration_key))
                baseline = baseline_from_results([r.metrics for r in runs], scanner.key, config, 0,
                                                  "2026-03-06T08:00:00+00:00", tuple(r.id for r in runs))
                setter.set_baseline(scanner.id, baseline, reason="commissioning")
            finally:
                setter.close()
        assert _rows(tmp_path / "light.sqlite") == _rows(tmp_path / "full.sqlite")
        rows = _rows(tmp_path / "light.sqlite")
        assert len(rows["scanners"]) == 2 and len(rows["phantom_runs"]) == 5  # one series re-analysed, not duplicated
        assert [dict(r)["event"] for r in rows["audit_events"]] == ["scanner_identity_strengthened", "baseline_set"]
        # the acquisition time without an offset is local time, stored as UTC; the analysis times as given, in UTC
        stored = {dict(r)["series_instance_uid"]: dict(r) for r in rows["phantom_runs"]}
        assert stored["1.2.3.2"]["analysed_at"] == "2026-03-02 09:00:00.000000"
        assert stored["1.2.3.2"]["acquired_at"] == (dt.datetime(2026, 3, 2, 7, 30).astimezone().astimezone(dt.timezone.utc)
                                                    .strftime("%Y-%m-%d %H:%M:%S.%f"))
        assert stored["1.2.3.3"]["acquired_at"] is None and stored["1.2.3.5"]["protocol_ok"] == 0

        assert light.scanners() == full.scanners()
        for scanner in full.scanners():
            assert light.phantom_runs(scanner.id) == full.phantom_runs(scanner.id)
            assert light.phantom_runs(scanner.id, protocol_ok_only=True) == full.phantom_runs(scanner.id, protocol_ok_only=True)
            for run in full.phantom_runs(scanner.id):
                assert run.analysed_at.tzinfo is dt.timezone.utc
                key = run.configuration_key
                assert (light.phantom_runs(scanner.id, configuration_key=key)
                        == full.phantom_runs(scanner.id, configuration_key=key))
                assert light.active_baseline(scanner.id, key) == full.active_baseline(scanner.id, key)
        for result, _ in _history(phantom_result):
            assert light.find_scanner_id(result.scanner) == full.find_scanner_id(result.scanner)
        assert light.active_baseline(full.find_scanner("SN-9").id).created_at == dt.datetime(2026, 3, 6, 8, tzinfo=dt.timezone.utc)
        assert light.find_scanner("ct-nine") == full.find_scanner("ct-nine")
    finally:
        full.close()
        light.close()


def test_only_a_current_sqlite_file_is_opened_without_sqlalchemy(tmp_path):
    assert open_sqlite_file(f"sqlite:///{tmp_path / 'missing.sqlite'}", read_only=False) is None  # created by the Store
    (tmp_path / "empty.sqlite").touch()
    assert open_sqlite_file(f"sqlite:///{tmp_path / 'empty.sqlite'}", read_only=False) is None  # a new database
    url = _new_store(tmp_path / "qa.sqlite")
    for other in (f"{url}?timeout=30", url.replace("sqlite:", "sqlite+pysqlcipher:"), "postgresql+psycopg://u@h/qa", "sqlite://"):
        assert open_sqlite_file(other, read_only=False) is None, other
    with sqlite3.connect(tmp_path / "qa.sqlite") as c:
        c.execute("UPDATE alembic_version SET version_num = '0099'")  # a newer qa's store: the Store refuses it
    c.close()
    assert open_sqlite_file(url, read_only=True) is None
    assert open_sqlite_file(url.replace("sqlite:", "sqlite+pysqlite:"), read_only=False) is None


def test_a_read_only_open_reads_and_never_writes(tmp_path, phantom_result):
    url = _new_store(tmp_path / "qa.sqlite")
    writer = open_sqlite_file(url, read_only=False)
    writer.save_phantom_run(phantom_result, provenance_at("2026-03-01T08:00:00+00:00"))
    writer.close()
    before = (tmp_path / "qa.sqlite").read_bytes()
    reader = open_sqlite_file(url, read_only=True)
    try:
        assert reader.find_scanner_id(phantom_result.scanner) == 1 and len(reader.phantom_runs(1)) == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._connection.execute("DELETE FROM phantom_runs")
    finally:
        reader.close()
    assert (tmp_path / "qa.sqlite").read_bytes() == before


def test_concurrent_saves_through_sqlite3_lose_nothing(tmp_path, phantom_result):
    """Eight writers (each its own connection) store at the same moment, and re-store: every run kept once."""
    url = _new_store(tmp_path / "qa.sqlite")
    run_ids = []

    def worker(n: int) -> None:
        store = open_sqlite_file(url, read_only=False)
        try:
            result = result_variant(phantom_result, uid=f"1.2.826.0.1.3680043.9.{n % 4}")  # two writers per series
            run_ids.append(store.save_phantom_run(result, provenance_at("2026-03-01T08:00:00+00:00"))[0])
        finally:
            store.close()

    errors = run_together(8, worker)
    assert errors == []
    store = Store(url)
    try:
        assert len(store.scanners()) == 1
        assert len(store.phantom_runs(1)) == 4 and sorted(set(run_ids)) == [r.id for r in store.phantom_runs(1)]
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# From the review of the sqlite3 path: early years, locks held past the busy timeout, a run
# committed between the two queries of a read.

@pytest.mark.parametrize("acquired", ["0999-06-01T10:00:00+00:00", "0001-01-02T00:00:00+00:00"])
def test_an_instant_before_the_year_1000_is_stored_as_the_store_reads_it_back(tmp_path, phantom_result, acquired):
    full_url, light_url = _new_store(tmp_path / "full.sqlite"), _new_store(tmp_path / "light.sqlite")
    result = result_variant(phantom_result, acquired=acquired)
    full, light = Store(full_url), open_sqlite_file(light_url, read_only=False)
    try:
        full.save_phantom_run(result, provenance_at("2026-03-01T08:00:00+00:00"))
        light.save_phantom_run(result, provenance_at("2026-03-01T08:00:00+00:00"))
        assert _rows(tmp_path / "light.sqlite") == _rows(tmp_path / "full.sqlite")
        expected = dt.datetime.fromisoformat(acquired)
        assert light.phantom_runs(1)[0].acquired_at == full.phantom_runs(1)[0].acquired_at == expected
        assert dict(_rows(tmp_path / "light.sqlite")["phantom_runs"][0])["acquired_at"].startswith(acquired[:10])
    finally:
        full.close()
        light.close()


def _hold(path, statement: str, seconds: float, held: threading.Event) -> threading.Thread:
    """Another connection holding a lock of ``path`` (``statement`` then a read) for ``seconds``."""
    def hold() -> None:
        c = sqlite3.connect(path, isolation_level=None)
        c.execute(statement)
        c.execute("SELECT count(*) FROM phantom_runs").fetchall()
        held.set()
        threading.Event().wait(seconds)
        c.execute("COMMIT")
        c.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    return thread


def test_a_commit_that_meets_a_reader_past_the_busy_timeout_is_run_again_and_stores_once(tmp_path, phantom_result):
    """A COMMIT that fails (a reader still holds the file) leaves SQLite's transaction open: it is rolled
    back and the whole transaction runs again, never 'cannot start a transaction within a transaction'."""
    url = _new_store(tmp_path / "qa.sqlite")
    store = open_sqlite_file(url, read_only=False, busy_timeout_ms=150)
    try:
        reader = _hold(tmp_path / "qa.sqlite", "BEGIN", 0.4, threading.Event())
        run_id, replaced = store.save_phantom_run(phantom_result, provenance_at("2026-03-01T08:00:00+00:00"))
        reader.join()
        assert (run_id, replaced) == (1, False) and len(store.phantom_runs(1)) == 1
        assert not store._connection.in_transaction
    finally:
        store.close()


def test_a_store_locked_by_another_writer_when_opened_is_waited_for(tmp_path):
    url = _new_store(tmp_path / "qa.sqlite")
    writer = _hold(tmp_path / "qa.sqlite", "BEGIN EXCLUSIVE", 0.4, threading.Event())
    try:
        store = open_sqlite_file(url, read_only=False, busy_timeout_ms=150)
        assert isinstance(store, SqliteFileStore)
        store.close()
    finally:
        writer.join()


def test_a_run_committed_between_the_two_queries_of_a_read_is_left_for_the_next_read(postgres_database, phantom_result):
    """On PostgreSQL (READ COMMITTED) each query sees what was committed before it: a run stored by another
    process after the runs were read and before their metrics are must not break the read.  The other
    process's commit is placed between the two queries by running it from the session's first query."""
    from qa.store import phantom_runs as run_rows
    from qa.store.sql import AlchemySession

    url = postgres_database()
    store, other = Store(url), Store(url)
    try:
        store.save_phantom_run(phantom_result, provenance_at("2026-03-01T08:00:00+00:00"))

        class CommitAfterFirstQuery(AlchemySession):
            def rows(self, sql, params=None):
                out = super().rows(sql, params)
                if sql.startswith("SELECT r.id") and not getattr(self, "done", False):
                    self.done = True
                    other.save_phantom_run(result_variant(phantom_result, uid="1.2.9.9"), provenance_at("2026-03-02T08:00:00+00:00"))
                return out

        with store.engine.connect() as c:
            runs = run_rows.runs(CommitAfterFirstQuery(c), 1)
        assert [r.series_instance_uid for r in runs] == [phantom_result.series.series_instance_uid]
        assert runs[0].metrics == {k: pytest.approx(v) for k, v in phantom_result.metrics.items()}
        assert len(store.phantom_runs(1)) == 2  # the next read sees it
    finally:
        store.close()
        other.close()
