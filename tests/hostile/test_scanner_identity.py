"""Point 3: scanners are told apart, also without a serial number (anonymised exports).

Real DICOM series written by the synthesiser without a Device Serial Number, analysed and stored
in real SQLite files (and the real PostgreSQL server for the migration), through the workflows and
the ``qa`` command; the expected identities come from the headers the test wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qa.records.identity import ScannerIdentity
from qa.store import Store
from qa.workflows.phantom import run_phantom_qa
from qa.workflows.synth import SynthOptions, synthesize_phantom


def _qa(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    out = subprocess.run([sys.executable, "-m", "qa", *map(str, args)], capture_output=True, text=True,
                         env=env or dict(os.environ), timeout=300)
    return out.returncode, out.stdout, out.stderr


@pytest.fixture(scope="module")
def anonymised(tmp_path_factory):
    """Phantom series of two scanners of one model exported without serial numbers (CT-1 twice,
    CT-2 once), and one of CT-1 whose export wrote the placeholder serial "UNKNOWN "."""
    root = tmp_path_factory.mktemp("anonymised")
    series = {}
    for name, station, serial, day in (("ct1-day1", "CT-1", "", 1), ("ct1-day2", "ct-1 ", "", 2), ("ct2-day1", "CT-2", "", 11),
                                       ("ct1-placeholder", "CT-1", "UNKNOWN ", 3)):
        opts = SynthOptions(pixel_mm=0.9, matrix=256, z_start_mm=-12.0, z_end_mm=45.0, noise_hu=8.0, seed=day, 
                            acquisition_datetime=f"2026-03-{day:02d}T07:30:00", station_name=station, device_serial_number=serial)
        synthesize_phantom(root / name, opts)
        series[name] = root / name
    return series


@pytest.mark.parametrize("serial", [None, "", "   ", "0", "000000", "unknown", "N/A", "Anonymized", "-", "\x00"])
def test_a_blank_or_placeholder_serial_is_no_identity(serial):
    scanner = ScannerIdentity("SIEMENS", "SOMATOM Force", serial, "CT-1")
    assert scanner.identity_basis == "station_name"
    assert scanner.key == ScannerIdentity("Siemens ", "somatom  force", None, " ct-1").key


def test_identity_falls_back_serial_then_device_uid_then_station_then_institution():
    assert ScannerIdentity("GE", "Revolution", "SN1", "CT-1", "1.2.3", "H").identity_basis == "serial"
    assert ScannerIdentity("GE", "Revolution", "", "CT-1", "1.2.3", "H").identity_basis == "device_uid"
    assert ScannerIdentity("GE", "Revolution", "", "CT-1", None, "H").identity_basis == "station_name"
    assert ScannerIdentity("GE", "Revolution", "", "", None, "H").identity_basis == "institution"
    assert ScannerIdentity("GE", "Revolution", "", "", None, "").identity_basis == "model"
    # case and padding of a serial never make a second scanner; a different serial always does
    assert ScannerIdentity("GE", "Revolution", " sn1", None).key == ScannerIdentity("GE ", "REVOLUTION", "SN1", None).key
    assert ScannerIdentity("GE", "Revolution", "SN1", "CT-1").key != ScannerIdentity("GE", "Revolution", "SN2", "CT-1").key


def test_two_scanners_without_serial_get_two_trends_and_the_same_station_one(anonymised, tmp_path):
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    runs = {name: run_phantom_qa(anonymised[name], ring="none", db=db) for name in ("ct1-day1", "ct2-day1", "ct1-day2")}
    for run in runs.values():
        assert run.result.scanner.identity_basis == "station_name"
        assert any("no serial number" in w and "station name" in w for w in run.warnings)
    store = Store(db)
    try:
        scanners = store.scanners()
        assert sorted((s.identity_basis, s.station_name.strip().upper()) for s in scanners) == [
            ("station_name", "CT-1"), ("station_name", "CT-2")]
        by_station = {s.station_name.strip().upper(): s for s in scanners}
        ct1 = [r.id for r in store.phantom_runs(by_station["CT-1"].id)]
        ct2 = [r.id for r in store.phantom_runs(by_station["CT-2"].id)]
        assert sorted(ct1) == sorted([runs["ct1-day1"].stored.run_id, runs["ct1-day2"].stored.run_id])
        assert ct2 == [runs["ct2-day1"].stored.run_id]
    finally:
        store.close()


def test_the_command_says_which_identity_it_used(anonymised, tmp_path, qa_main):
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, out, err = _qa("phantom", anonymised["ct1-placeholder"], "--ring", "none", "--db", db, "--json")
    assert code in (0, 1), err
    doc = json.loads(out)
    assert doc["scanner"]["identity_basis"] == "station_name"
    assert doc["scanner"]["identity"] == "station name CT-1"
    assert any("no serial number" in w for w in doc["warnings"])
    assert "identified by station name CT-1" in err and "no serial number" in err
    code, out, err = qa_main("trend", "--scanner", "ct-1", "--db", db, "--json")
    assert code == 0, err
    assert json.loads(out)["scanner"]["identity_basis"] == "station_name"


def test_a_serial_seen_later_keeps_the_scanner_and_is_audited(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'qa.sqlite'}")
    try:
        first = store.scanner_id(ScannerIdentity("GE", "Revolution", None, "CT-1"))
        other = store.scanner_id(ScannerIdentity("GE", "Revolution", None, "CT-2"))
        later = store.scanner_id(ScannerIdentity("GE", "Revolution", "SN-77", "CT-1"))
        again_without = store.scanner_id(ScannerIdentity("GE", "Revolution", "", "ct-1"))
        assert first == later == again_without != other
        row = next(s for s in store.scanners() if s.id == first)
        assert (row.identity_basis, row.serial) == ("serial", "SN-77")
        events = [e for e in store.audit_trail(first) if e["event"] == "scanner_identity_strengthened"]
        assert len(events) == 1 and events[0]["details"]["from"]["identity_basis"] == "station_name"
        # a Device UID identifies a scanner whose serial was removed; the station name is then a label
        uid = store.scanner_id(ScannerIdentity("GE", "Revolution", None, "CT-9", "1.2.826.0.1.3680043.2.1"))
        renamed = store.scanner_id(ScannerIdentity("GE", "Revolution", None, "CT-9-new", "1.2.826.0.1.3680043.2.1"))
        assert uid == renamed not in (first, other)
    finally:
        store.close()


def test_scanner_lookups_are_unambiguous(tmp_path, qa_main):
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    store = Store(db)
    try:
        a = store.scanner_id(ScannerIdentity("GE", "Revolution", "SN-1", "CT-SHARED"))
        b = store.scanner_id(ScannerIdentity("GE", "Revolution", "SN-2", "CT-SHARED"))
        c = store.scanner_id(ScannerIdentity("GE", "Revolution", None, "CT-3"))
    finally:
        store.close()
    code, out, err = qa_main("baseline", "show", "--scanner", "ct-shared", "--db", db, "--json")
    assert code == 2
    message = json.loads(out)["error"]["message"]
    assert f"#{a} " in message and f"#{b} " in message and f"#{c} " not in message
    for query, expected in (("sn-2", b), (" SN-1 ", a), ("ct-3", c), (f"#{c}", c)):
        code, out, err = qa_main("baseline", "show", "--scanner", query, "--db", db, "--json")
        assert code == 0, err
        assert json.loads(out)["scanner"]["id"] == expected
    code, out, err = qa_main("baseline", "show", "--scanner", "  ", "--db", db, "--json")
    assert code == 2 and json.loads(out)["schema"] == "qa.error/1"


# ---------------------------------------------------------------------------------------------
# The upgrade of an existing store (revision 0003): scanners merged under a blank serial are split.

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "store-0.1.0"


def _connect(kind: str, url: str):
    if kind == "sqlite":
        import sqlite3

        return sqlite3.connect(url.removeprefix("sqlite:///"))
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def _merge_as_anonymised(kind: str, url: str, *, mix_baseline: bool = False) -> dict:
    """The 0.1.0 store as qa wrote it had CT-A and CT-B (one model) been exported without serial
    numbers: one scanner row (serial ""), every run's document without a serial.  Plain SQL, no qa.
    Returns {station: [run ids]}."""
    p = "?" if kind == "sqlite" else "%s"
    connection = _connect(kind, url)
    try:
        cur = connection.cursor()
        cur.execute("SELECT manufacturer, model FROM scanners WHERE id = 1")
        manufacturer, model = cur.fetchone()
        for table in ("phantom_runs", "baselines", "audit_events"):
            cur.execute(f"UPDATE {table} SET scanner_id = 1 WHERE scanner_id = 2")
        cur.execute("DELETE FROM scanners WHERE id = 2")
        cur.execute("UPDATE scanners SET serial = '' WHERE id = 1")
        cur.execute("SELECT id, document FROM phantom_runs ORDER BY id")
        stations: dict = {}
        for run_id, document in cur.fetchall():
            doc = json.loads(document)
            doc["scanner"].update(manufacturer=manufacturer, model=model, device_serial_number=None)
            stations.setdefault(doc["scanner"]["station_name"], []).append(run_id)
            cur.execute(f"UPDATE phantom_runs SET document = {p} WHERE id = {p}", (json.dumps(doc, sort_keys=True), run_id))
        if mix_baseline:  # CT-B's baseline as if set from runs of both stations
            cur.execute("SELECT id, run_ids FROM baselines WHERE configuration_key LIKE '%2.5%' ORDER BY id")
            baseline_id, run_ids = cur.fetchone()
            mixed = json.loads(run_ids)[:-1] + [stations["CT-A"][0]]
            cur.execute(f"UPDATE baselines SET run_ids = {p} WHERE id = {p}", (json.dumps(mixed), baseline_id))
        connection.commit()
        return stations
    finally:
        connection.close()


def _essentials(trend: dict) -> dict:
    """What a trend says about its runs, independent of time zones and of the scanner's serial."""
    return {"baseline_version": trend["baseline_version"],  # the baseline's fields 0.1.0 wrote (later versions add more)
            "metrics": {m: {"baseline": {k: v["baseline"][k] for k in ("mean", "sd", "n", "chart_sd")}, "runs": [(r["run_id"], r["value"], r["z"], r["flags"]) for r in v["runs"]]}
                        for m, v in trend["metrics"].items()}}


@pytest.fixture(params=["sqlite", "sqlite-at-0002", "postgresql"])
def merged_store(request, tmp_path):
    """(kind, url) of a copy of the 0.1.0 store fixture (SQLite, SQLite already at revision 0002 as
    the previous qa left it, PostgreSQL) before the merge is applied."""
    import shutil

    if request.param.startswith("sqlite"):
        path = tmp_path / "merged.sqlite"
        shutil.copyfile(FIXTURES / "qa-0.1.0.sqlite", path)
        url = f"sqlite:///{path}"
        if request.param == "sqlite-at-0002":
            import sqlalchemy as sa
            from alembic import command

            from qa.store.upgrade import alembic_config

            engine = sa.create_engine(url)
            try:
                with engine.begin() as c:
                    command.stamp(alembic_config(c), "0001")
                    command.upgrade(alembic_config(c), "0002")
            finally:
                engine.dispose()
        return "sqlite", url
    sys.path.insert(0, str(FIXTURES.parents[1] / "store"))
    from old_store import load_postgresql_dump

    url = request.getfixturevalue("postgres_database")()
    load_postgresql_dump(url)
    return "postgresql", url


def test_the_upgrade_splits_scanners_merged_without_serial(merged_store, qa_main):
    kind, url = merged_store
    stations = _merge_as_anonymised(kind, url)
    runs = {}
    for station in ("CT-A", "CT-B"):
        code, out, err = qa_main("trend", "--scanner", station, "--json", "--db", url)
        assert code == 0, err
        runs[station] = json.loads(out)
        expected = json.loads((FIXTURES / f"trend-{station}.json").read_text())
        # every run, value, z-score, flag and baseline is what 0.1.0 charted for that scanner alone
        assert _essentials(runs[station]) == _essentials(expected)
        assert runs[station]["scanner"]["identity_basis"] == "station_name"
    assert runs["CT-A"]["scanner"]["id"] == 1  # the row's own station keeps its id
    store = Store(url)
    try:
        by_id = {s.id: s for s in store.scanners()}
        assert len(by_id) == 2
        for station, run_ids in stations.items():
            scanner_id = runs[station]["scanner"]["id"]
            assert sorted(r.id for r in store.phantom_runs(scanner_id)) == sorted(run_ids)
        splits = [e for e in store.audit_trail() if e["event"] == "scanner_split"]
        assert {e["scanner_id"] for e in splits} == set(by_id)
    finally:
        store.close()


def test_a_baseline_mixing_two_scanners_is_withdrawn_on_upgrade(tmp_path):
    import shutil

    path = tmp_path / "merged.sqlite"
    shutil.copyfile(FIXTURES / "qa-0.1.0.sqlite", path)
    url = f"sqlite:///{path}"
    _merge_as_anonymised("sqlite", url, mix_baseline=True)
    code, out, err = _qa("trend", "--scanner", "CT-B", "--json", "--db", url)
    assert code == 0, err
    assert json.loads(out)["baseline_version"] is None  # never judged against runs of another scanner
    store = Store(url)
    try:
        withdrawn = [e for e in store.audit_trail() if e["event"] == "baseline_withdrawn"]
        assert len(withdrawn) == 1 and "set a new baseline" in withdrawn[0]["details"]["why"]
    finally:
        store.close()
