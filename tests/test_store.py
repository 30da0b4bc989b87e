"""The results database, on a SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import json

import pytest

from qa.cli.phantom import run_phantom
from qa.errors import UsageError
from qa.phantom.analysis import baseline_from_results
from qa.store import Store


def test_runs_are_stored_with_provenance_and_not_duplicated(store_url, phantom_days):
    folders, other = phantom_days
    store = Store(store_url)
    try:
        _, _, document, run_id, replaced = run_phantom([folders[0]], store=store, progress=False)
        assert not replaced
        again = run_phantom([folders[0]], store=store, progress=False)
        assert again[3] == run_id and again[4]  # the same series replaces, never duplicates
        run_phantom([other], store=store, progress=False)
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
    store = Store(store_url)
    try:
        run_phantom([folders[0]], store=store, progress=False)
        run_phantom([other], store=store, progress=False)
        assert store.find_scanner("ct-a").serial == "A-001"
        assert store.find_scanner("B-002").station_name == "CT-B"
        assert store.find_scanner("#1").station_name == "CT-A"
        with pytest.raises(UsageError, match="no scanner matches"):
            store.find_scanner("CT-Z")
    finally:
        store.close()


def test_baselines_are_versioned_and_audited(store_url, phantom_days):
    folders, _ = phantom_days
    store = Store(store_url)
    try:
        for folder in folders[:5]:
            run_phantom([folder], store=store, progress=False)
        scanner = store.find_scanner("CT-A")
        runs = store.phantom_runs(scanner.id)
        config = json.loads(runs[-1].configuration_key)
        first = baseline_from_results([r.metrics for r in runs], scanner.key, config, 0, "2026-03-05T08:00:00", tuple(r.id for r in runs))
        assert store.set_baseline(scanner.id, first, reason="commissioning") == 1
        second = baseline_from_results([r.metrics for r in runs[1:]], scanner.key, config, 0, "2026-03-06T08:00:00", tuple(r.id for r in runs[1:]))
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


def test_a_failed_save_leaves_nothing_half_written(store_url, phantom_days):
    folders, _ = phantom_days
    store = Store(store_url)
    try:
        _, _, document, _, _ = run_phantom([folders[0]], store=None, progress=False)
        broken = json.loads(json.dumps(document))
        broken["series"]["series_instance_uid"] = "1.2.3.4"
        broken["checks"].append({"id": broken["checks"][0]["id"], "status": "pass", "measured": 1, "expected": 1, "message": "dup"})
        with pytest.raises(Exception):
            store.save_phantom_run(broken, analysed_at="2026-03-01T00:00:00", qa_version="test")
        assert store.scanners() == [] or store.phantom_runs(store.scanners()[0].id) == []
    finally:
        store.close()


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="cannot open the database"):
        Store("postgresql+psycopg://nobody:wrong@127.0.0.1:1/none")
    with pytest.raises(UsageError, match="cannot use the database URL"):
        Store("nonsense://x")
