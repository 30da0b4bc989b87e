"""The results database, on a SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import json

import pytest

from qa.workflows.phantom import run_phantom_qa
from tests.conftest import provenance_at, result_variant
from qa.errors import UsageError
from qa.phantom.analysis import Configuration, baseline_from_results
from qa.store import Store
from together import run_together


def test_runs_are_stored_with_provenance_and_not_duplicated(store_url, phantom_days):
    folders, other = phantom_days
    run = run_phantom_qa([folders[0]], db=store_url)
    document, run_id = run.to_dict(), run.stored.run_id
    assert not run.stored.replaced
    again = run_phantom_qa([folders[0]], db=store_url)
    assert again.stored.run_id == run_id and again.stored.replaced  # the same series replaces, never duplicates
    run_phantom_qa([other], db=store_url)
    store = Store(store_url)
    try:
        scanners = store.scanners()
        assert [s.station_name for s in scanners] == ["CT-A", "CT-B"]
        runs = store.phantom_runs(scanners[0].id)
        assert len(runs) == 1 and runs[0].metrics["mass_800_5mm"] == pytest.approx(document["metrics"]["mass_800_5mm"])
        stored = store.run_document(run_id)
        assert stored["provenance"]["qa_version"] and stored["procedure"]["sha256"] == document["procedure"]["sha256"]
        assert len(stored["provenance"]["sop_instance_uids"]) == stored["series"]["n_slices"]
        checks = {c["id"]: c for c in store.run_checks(run_id)}
        assert checks["mass_800_5mm_vs_physical"]["source"]["tolerance"]  # the limits that applied are kept
        assert "PHANTOM" not in json.dumps(stored)  # no patient identifier in the store
    finally:
        store.close()


def test_scanner_lookup_by_id_station_or_serial(store_url, phantom_days):
    folders, other = phantom_days
    run_phantom_qa([folders[0]], db=store_url)
    run_phantom_qa([other], db=store_url)
    store = Store(store_url)
    try:
        assert store.find_scanner("ct-a").serial == "A-001"
        assert store.find_scanner("B-002").station_name == "CT-B"
        assert store.find_scanner("#1").station_name == "CT-A"
        with pytest.raises(UsageError, match="no scanner matches"):
            store.find_scanner("CT-Z")
    finally:
        store.close()


def test_baselines_are_versioned_and_audited(store_url, phantom_days):
    folders, _ = phantom_days
    for folder in folders[:5]:
        run_phantom_qa([folder], db=store_url)
    store = Store(store_url)
    try:
        scanner = store.find_scanner("CT-A")
        runs = store.phantom_runs(scanner.id)
        config = Configuration.from_mapping(json.loads(runs[-1].configuration_key))
        first = baseline_from_results([r.metrics for r in runs], scanner.key, config, 0, "2026-03-05T08:00:00+00:00", tuple(r.id for r in runs))
        assert store.set_baseline(scanner.id, first, reason="commissioning") == 1
        second = baseline_from_results([r.metrics for r in runs[1:]], scanner.key, config, 0, "2026-03-06T08:00:00+00:00", tuple(r.id for r in runs[1:]))
        assert store.set_baseline(scanner.id, second, reason="tube change") == 2
        active = store.active_baseline(scanner.id, runs[-1].configuration_key)
        assert active.version == 2 and active.run_ids == tuple(r.id for r in runs[1:])
        history = store.baselines(scanner.id)
        assert [(b.version, is_active) for b, is_active, _, _ in history] == [(1, False), (2, True)]
        trail = store.audit_trail(scanner.id)
        assert [e["event"] for e in trail] == ["baseline_set", "baseline_set"]
        assert trail[1]["details"]["previous_version"] == 1 and trail[1]["details"]["reason"] == "tube change"
    finally:
        store.close()


def test_a_failed_save_leaves_nothing_half_written(store_url, phantom_result):
    store = Store(store_url)
    try:
        duplicate = phantom_result.checks[0]
        broken = result_variant(phantom_result, uid="1.2.3.4", checks=phantom_result.checks + (duplicate,))
        with pytest.raises(Exception):
            store.save_phantom_run(broken, provenance_at("2026-03-01T00:00:00+00:00"))
        assert store.scanners() == [] or store.phantom_runs(store.scanners()[0].id) == []
    finally:
        store.close()


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="cannot open the database"):
        Store("postgresql+psycopg://nobody:wrong@127.0.0.1:1/none")
    with pytest.raises(UsageError, match="cannot use the database URL"):
        Store("nonsense://x")


def test_concurrent_first_use_and_saves_lose_nothing(store_url, phantom_result):
    """Eight processes' worth of connections open a fresh database and store at the same moment."""
    run_ids = []

    def worker(n: int) -> None:
        store = Store(store_url)  # every worker creates the tables if they are missing
        try:
            result = result_variant(phantom_result, uid=f"1.2.826.0.1.3680043.9.{n}")
            run_ids.append(store.save_phantom_run(result, provenance_at("2026-03-01T08:00:00+00:00"))[0])
        finally:
            store.close()

    errors = run_together(8, worker)
    assert errors == []
    store = Store(store_url)
    try:
        assert len(store.scanners()) == 1  # one scanner, however many saved it first
        assert len(store.phantom_runs(store.scanners()[0].id)) == 8 and len(set(run_ids)) == 8
    finally:
        store.close()


def test_one_run_per_series_and_configuration(store_url, phantom_days, tmp_path):
    """Re-analysing with an edited procedure replaces; other scoring settings are another configuration."""
    from qa.procedures.builtin import builtin_dir

    folders, _ = phantom_days
    edited = tmp_path / "edited.toml"
    edited.write_text(
        (builtin_dir("procedures") / "daily-phantom-qa.toml").read_text().replace('name = "Daily', 'name = "Our daily')
    )
    from qa.calcium.scoring import ScoringRequest

    first = run_phantom_qa([folders[0]], db=store_url).stored
    again = run_phantom_qa([folders[0]], db=store_url, procedure=str(edited)).stored
    assert again.run_id == first.run_id and again.replaced
    other = run_phantom_qa([folders[0]], db=store_url, scoring=ScoringRequest(method="siemens")).stored
    assert other.run_id != first.run_id
    store = Store(store_url)
    try:
        runs = store.phantom_runs(store.scanners()[0].id)
        assert len(runs) == 2 and len({r.configuration_key for r in runs}) == 2
    finally:
        store.close()


def test_long_identifiers_store_alike_on_sqlite_and_postgresql(store_url, phantom_result):
    from dataclasses import replace

    long_id = "mass_800_5mm_against_the_site_reference_" + "x" * 120
    result = result_variant(phantom_result, checks=phantom_result.checks + (replace(phantom_result.checks[0], id=long_id),),
                            metrics={**phantom_result.metrics, long_id: 1.0},
                            scanner=replace(phantom_result.scanner, model="M" * 300))
    store = Store(store_url)
    try:
        run_id, _ = store.save_phantom_run(result, provenance_at("2026-03-01T08:00:00+00:00"))
        assert long_id in {c["id"] for c in store.run_checks(run_id)}
    finally:
        store.close()


def test_a_refused_scan_leaves_no_trace(store_url, tmp_path):
    import numpy as np

    from qa.dicom.write import write_ct_series
    from qa.errors import InputError

    yy, xx = np.mgrid[-32:32, -32:32]
    write_ct_series(tmp_path / "water", np.stack([np.where(xx**2 + yy**2 < 30**2, 0.0, -1000.0)] * 8), pixel_mm=3.0)
    with pytest.raises(InputError):
        run_phantom_qa([tmp_path / "water"], db=store_url)
    store = Store(store_url)
    try:
        assert store.scanners() == []
    finally:
        store.close()


def test_a_database_of_another_layout_is_refused_not_altered(tmp_path):
    import sqlalchemy as sa

    path = tmp_path / "old.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.execute(sa.text("CREATE TABLE phantom_runs (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(UsageError, match="earlier development version"):
        Store(f"sqlite:///{path}")
    engine = sa.create_engine(f"sqlite:///{path}")
    assert sa.inspect(engine).get_table_names() == ["phantom_runs"]  # untouched
    engine.dispose()


def test_sqlite_connections_keep_their_pragmas_and_real_transactions(tmp_path):
    import sqlalchemy as sa

    store = Store(f"sqlite:///{tmp_path / 'pragmas.sqlite'}")
    try:
        with store.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        # DDL and reads are inside the transaction too (pysqlite's own BEGIN handling is off)
        with pytest.raises(RuntimeError), store.engine.begin() as c:
            c.exec_driver_sql("CREATE TABLE scratch (x INTEGER)")
            raise RuntimeError("roll back")
        assert "scratch" not in sa.inspect(store.engine).get_table_names()
    finally:
        store.close()


def test_a_store_that_may_not_be_written_is_a_clear_error(phantom_days, tmp_path, capsys):
    """A current SQLite store opened read-only (as a file the user may not write would be, whoever
    runs the tests): reading works, storing says nothing was stored (exit 2), never an internal error."""
    from qa.cli import main

    folders, _ = phantom_days
    path = tmp_path / "qa.sqlite"
    assert main(["phantom", str(folders[0]), "--db", f"sqlite:///{path}"]) == 0
    before = path.read_bytes()
    capsys.readouterr()
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    code = main(["phantom", str(folders[1]), "--db", read_only, "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and "cannot be written" in err and "nothing was stored" in err, err
    assert json.loads(out)["error"]["message"].endswith("nothing was stored")
    assert main(["trend", "--scanner", "CT-A", "--db", read_only]) == 0  # reading still works
    assert path.read_bytes() == before
