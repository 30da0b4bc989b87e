"""Timestamps in the store: aware, UTC, the same instant on SQLite and PostgreSQL; naive values refused
(except a DICOM acquisition time without offset, which is the site's local time)."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
import sqlalchemy as sa

from qa.phantom.analysis import Baseline, MetricStats
from qa.records.identity import ScannerIdentity
from qa.store import Store
from tests.conftest import provenance_at, result_variant

UTC = dt.timezone.utc
TEST_SCANNER = ScannerIdentity("QA Test", "T1", "T-1", "CT-T")


@pytest.fixture
def save(phantom_result):
    """save(store, uid, acquired, analysed_at): store the real result as series ``uid`` of the test scanner."""

    def run(store, uid: str, acquired: str | None, analysed_at):
        result = result_variant(phantom_result, uid=uid, acquired=acquired, scanner=TEST_SCANNER)
        return store.save_phantom_run(result, provenance_at(analysed_at))

    return run


def _baseline(created_at, configuration) -> Baseline:
    return Baseline("QA Test|T1|T-1", configuration, 0, created_at, {"total_mass": MetricStats(168.0, 1.0, 5)}, (1,))


def _is_utc(value: dt.datetime) -> bool:
    return value.tzinfo is UTC


def test_times_read_back_aware_in_utc(store_url, site_timezone, save, phantom_result):
    store = Store(store_url)
    try:
        save(store, "1.1", "2026-03-01T07:30:00", "2026-03-01T13:00:00+01:00")
        save(store, "1.2", "2026-07-01T07:30:00", dt.datetime(2026, 7, 1, 12, tzinfo=UTC))
        save(store, "1.3", "2026-03-02T07:30:00+09:00", "2026-03-02T00:00:00Z")
        save(store, "1.4", None, "2026-03-03T00:00:00+00:00")
        runs = {r.series_instance_uid: r for r in store.phantom_runs(store.scanners()[0].id)}
        # naive acquisition times are site time (New York: EST in March, EDT in July)
        assert runs["1.1"].acquired_at == dt.datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
        assert runs["1.2"].acquired_at == dt.datetime(2026, 7, 1, 11, 30, tzinfo=UTC)
        assert runs["1.3"].acquired_at == dt.datetime(2026, 3, 1, 22, 30, tzinfo=UTC)  # an offset keeps its instant
        assert runs["1.4"].acquired_at is None
        assert runs["1.1"].analysed_at == dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        assert all(_is_utc(r.analysed_at) and (r.acquired_at is None or _is_utc(r.acquired_at)) for r in runs.values())
        scanner_id = store.scanners()[0].id
        store.set_baseline(scanner_id, _baseline("2026-03-05T09:00:00-05:00", phantom_result.configuration), reason="test")
        created = store.active_baseline(scanner_id).created_at
        assert created == dt.datetime(2026, 3, 5, 14, tzinfo=UTC) and _is_utc(created)
        assert store.active_baseline(scanner_id).to_dict()["created_at"] == "2026-03-05T14:00:00+00:00"
        (event,) = store.audit_trail(scanner_id)
        assert _is_utc(event["at"]) and abs(dt.datetime.now(UTC) - event["at"]) < dt.timedelta(minutes=5)
    finally:
        store.close()


def test_naive_times_are_refused_and_nothing_is_written(store_url, save, phantom_result):
    store = Store(store_url)
    try:
        with pytest.raises(ValueError, match="analysis_time .* has no UTC offset"):
            save(store, "2.1", "2026-03-01T07:30:00", "2026-03-01T08:00:00")
        with pytest.raises(ValueError, match="naive datetime"):
            save(store, "2.1", "2026-03-01T07:30:00", dt.datetime(2026, 3, 1, 8))
        with pytest.raises(ValueError, match="not an ISO 8601"):
            save(store, "2.1", "1 March", "2026-03-01T08:00:00+00:00")
        assert store.scanners() == []
        save(store, "2.2", "2026-03-01T07:30:00", "2026-03-01T08:00:00+00:00")
        scanner_id = store.scanners()[0].id
        for naive in (dt.datetime(2026, 3, 5, 9), "2026-03-05T09:00:00"):
            with pytest.raises(ValueError, match="baseline created_at"):
                store.set_baseline(scanner_id, _baseline(naive, phantom_result.configuration))
        assert store.baselines(scanner_id) == [] and store.audit_trail() == []
        # the column type itself never binds a naive value
        from qa.store.schema import audit_events

        engine = sa.create_engine(store_url)
        try:
            with pytest.raises(sa.exc.StatementError, match="naive datetime"), engine.begin() as c:
                c.execute(audit_events.insert().values(at=dt.datetime(2026, 3, 1), actor="t", event="e"))
        finally:
            engine.dispose()
        assert store.audit_trail() == []
    finally:
        store.close()


def test_the_postgresql_session_time_zone_changes_nothing(postgres_database, monkeypatch, save):
    url = postgres_database()
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")  # libpq sets the session TimeZone from it
    store = Store(url)
    try:
        with store.engine.connect() as c:
            assert c.exec_driver_sql("SHOW TimeZone").scalar() == "Asia/Tokyo"
        save(store, "3.1", "2026-03-01T07:30:00+00:00", "2026-03-01T08:00:00+00:00")
        (run,) = store.phantom_runs(store.scanners()[0].id)
        assert run.acquired_at == dt.datetime(2026, 3, 1, 7, 30, tzinfo=UTC) and _is_utc(run.acquired_at)
    finally:
        store.close()
    monkeypatch.setenv("PGTZ", "UTC")
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as c:
        (stored,) = c.execute("SELECT acquired_at::text FROM phantom_runs").fetchone()
    assert stored == "2026-03-01 07:30:00+00"


def test_sqlite_refuses_to_guess_at_text_it_did_not_write(tmp_path, save):
    """SQLAlchemy's default SQLite DATETIME reads only the start of a text; a stray
    "2026-03-01T07:30:00" would come back as midnight.  The store's reader fails instead."""
    path = tmp_path / "stray.sqlite"
    store = Store(f"sqlite:///{path}")
    try:
        save(store, "4.1", "2026-03-01T07:30:00+00:00", "2026-03-01T08:00:00+00:00")
        with sqlite3.connect(path) as c:
            assert c.execute("SELECT acquired_at FROM phantom_runs").fetchall() == [("2026-03-01 07:30:00.000000",)]
            c.execute("UPDATE phantom_runs SET acquired_at = '2026-03-01T07:30:00'")
        with pytest.raises(ValueError, match="Couldn't parse datetime string"):
            store.phantom_runs(store.scanners()[0].id)
    finally:
        store.close()
