"""The dashboard's store queries at two sizes of history: 10x the data must cost at most 2x the time.

    .venv/bin/python benchmarks/bench_dashboard.py [--postgres | --db URL] [--per-month 1540] [--months 13]
                                                   [--scale 10] [--scanners 8] [--repeats 5]

Two fresh databases are filled by bulk insert with the same fleet at the same monthly volume:
``--months`` months of history (the dashboard's default window, 13) and ``--scale`` times as many
(130): studies (dated through each month; three protocols, calcium scores with a 1 KB dose
document), a checklist with five check results on four of five calcium scores, and a daily
phantom QA run per scanner (with a document of ``--run-document-kb``, 19 KB as a real run's).
Each query of :mod:`qa.store.fleet` (what ``qa dashboard`` runs) is then timed over the last
13 months of both, and so is the whole page (``build_dashboard``): ``--repeats`` rounds after a
warm-up round, each round running everything on the small and then the big database; the median.  Printed: rows, the time at each size and the ratio (target <= 2).

``--postgres``: databases made on the server of QA_TEST_POSTGRES_URL (else the URL in /tmp/pgurl)
and dropped afterwards; ``--db URL``: that SQLite URL names the small database (the big one beside
it, ``-big``); default: SQLite files in a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import sqlalchemy as sa

CHECKS = ("heart_rate", "kvp", "slice_thickness", "prospective_gating", "breath_hold_motion")
PROTOCOLS = ("CaScore", "CaScore 100kV", "Coronary CTA")
BATCH = 20_000


def _month_start(year: int, month: int) -> dt.datetime:
    return dt.datetime(year, month, 1, tzinfo=dt.timezone.utc)


def _document(rng, kb: int) -> str:
    """A JSON document of about ``kb`` KB, as compressible as a stored result (keys and measured numbers)."""
    items, text = [], "[]"
    while len(text) < kb * 1024:
        items.append({"id": f"check_{len(items)}", "status": "pass", "measured": float(rng.normal(100, 20)),
                      "expected": [float(rng.normal(90, 5)), float(rng.normal(110, 5))], "message": "within the tolerance"})
        text = json.dumps({"checks": items})
    return text


def fill(url: str, *, months: int, per_month: int, scanners: int, run_document_kb: int, end: dt.datetime, seed: int = 1) -> dict:
    """Create the store at ``url`` (the migrations) and bulk-insert ``months`` months of history ending before ``end``."""
    from qa.store import Store
    from qa.store.schema import exam_check_results, exam_checks, phantom_runs, scanners as scanner_table, studies

    Store(url).close()  # the layout, by the migrations
    rng = np.random.default_rng(seed)
    engine = sa.create_engine(url)
    now = dt.datetime.now(dt.timezone.utc)
    counts = dict.fromkeys(("studies", "exam_checks", "exam_check_results", "phantom_runs"), 0)
    document = _document(rng, 1)
    run_document = _document(rng, run_document_kb)
    with engine.begin() as c:
        c.execute(scanner_table.insert(), [
            {"id": k + 1, "manufacturer": "Vendor", "model": f"Model {k % 3}", "serial": f"SN-{k:04d}", "station_name": f"CT-{k}",
             "first_seen": now, "identity_basis": "serial", "identity_key": f"VENDOR|MODEL {k % 3}|SN-{k:04d}"} for k in range(scanners)])
    study_id = check_id = run_id = 0
    first = end.year * 12 + end.month - 1 - months
    for m in range(first, first + months):
        start = _month_start(m // 12, m % 12 + 1)
        days = (_month_start((m + 1) // 12, (m + 1) % 12 + 1) - start).days
        seconds = np.sort(rng.integers(0, days * 86400, per_month))
        study_rows, check_rows, result_rows = [], [], []
        for n in range(per_month):
            study_id += 1
            protocol = PROTOCOLS[0] if n % 5 < 3 else PROTOCOLS[1] if n % 5 == 3 else PROTOCOLS[2]
            calcium = protocol != PROTOCOLS[2]
            ctdivol = float(rng.normal(3.0 if calcium else 14.0, 0.5))
            dlp = ctdivol * float(rng.normal(16.0, 1.0))
            when = start + dt.timedelta(seconds=int(seconds[n]))
            study_rows.append({
                "id": study_id, "study_key": f"p-{study_id:020x}",
                "scanner_id": 1 + int(rng.integers(scanners)), "study_datetime": when, "study_month": when.strftime("%Y-%m"),
                "protocol": protocol, "qa_protocol": "cac-standard" if calcium else None, "patient_key": None, "accession_key": None,
                "operator_key": None, "is_calcium_score": calcium, "is_qa": False, "has_dose_report": True, "dose_source": "rdsr",
                "ctdivol_mgy": ctdivol, "dlp_total_mgycm": dlp, "dose_msv": dlp * 0.026, "k_msv_per_mgycm": 0.026,
                "k_source": "protocol", "n_events": 0, "ingested_at": now, "qa_version": "bench", "fingerprint": f"{study_id:064x}",
                "document": document})
            if calcium and n % 5 != 1:
                check_id += 1
                statuses = ["fail" if rng.random() < 0.05 else "pass" for _ in CHECKS[:-1]] + ["not_available"]
                check_rows.append({"id": check_id, "study_id": study_id, "series_key": f"1.2.3.{study_id}", "protocol_id": "cac-standard",
                                   "protocol_sha256": "ab" * 32, "verdict": "fail" if "fail" in statuses else "warn", "qa_version": "bench",
                                   "analysed_at": when, "document": "{}"})
                result_rows += [{"exam_check_id": check_id, "check_id": k, "status": s, "measured": "null", "expected": "null",
                                 "message": ""} for k, s in zip(CHECKS, statuses)]
        runs = []
        for day in range(days):
            for k in range(scanners):
                run_id += 1
                at = start + dt.timedelta(days=day, hours=7, minutes=k)
                runs.append({"id": run_id, "scanner_id": k + 1, "series_instance_uid": f"1.2.9.{run_id}", "acquired_at": at,
                             "analysed_at": at, "qa_version": "bench", "procedure_id": "daily-phantom-qa", "procedure_sha256": "cd" * 32,
                             "phantom_id": "qrm-cci", "settings_key": "{}", "configuration_key": "{}", "protocol_ok": True,
                             "verdict": "fail" if rng.random() < 0.03 else "pass", "document": run_document})
        with engine.begin() as c:
            for table, rows in ((studies, study_rows), (exam_checks, check_rows), (exam_check_results, result_rows), (phantom_runs, runs)):
                for i in range(0, len(rows), BATCH):
                    c.execute(table.insert(), rows[i:i + BATCH])
                counts[table.name] += len(rows)
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as c:
        c.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    engine.dispose()
    return counts


def time_queries(urls: dict, start: dt.datetime, end: dt.datetime, repeats: int, out: Path) -> dict:
    """{size: {query: (rows, median seconds)}}: each query of the dashboard (and the whole page) run
    on every database in turn, ``repeats`` rounds after a warm-up round, so that both sizes see the
    same machine (the rounds alternate between them)."""
    from qa.store import Store
    from qa.store.fleet import QUERIES
    from qa.workflows.dashboard import build_dashboard

    stores = {label: Store(url, read_only=True) for label, url in urls.items()}
    times = {label: {name: [] for name in [*QUERIES, PAGE]} for label in urls}
    rows = {label: {} for label in urls}
    now = (end - dt.timedelta(seconds=1)).astimezone()
    try:
        for round_ in range(repeats + 1):
            for label, store in stores.items():
                for name, query in QUERIES.items():
                    with store.engine.connect() as c:
                        t0 = time.perf_counter()
                        found = query(c, start, end)
                        elapsed = time.perf_counter() - t0
                    rows[label][name] = len(found) if isinstance(found, list) else found
                    if round_:
                        times[label][name].append(elapsed)
                t0 = time.perf_counter()
                board = build_dashboard(out=out / label, db=urls[label], now=now, months=13)
                if round_:
                    times[label][PAGE].append(time.perf_counter() - t0)
                rows[label][PAGE] = board.n_studies
    finally:
        for store in stores.values():
            store.close()
    return {label: {name: (rows[label][name], statistics.median(t)) for name, t in times[label].items()} for label in urls}


PAGE = "whole page (build_dashboard)"


@contextlib.contextmanager
def databases(args, tmp: Path):
    """(small URL, big URL): fresh databases, dropped afterwards (PostgreSQL)."""
    if not args.postgres:
        small = args.db or f"sqlite:///{tmp / 'dashboard-small.sqlite'}"
        path = sa.engine.make_url(small).database
        yield small, f"sqlite:///{path}-big"
        return
    server = os.environ.get("QA_TEST_POSTGRES_URL") or Path("/tmp/pgurl").read_text().strip()
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    names = [f"qa_bench_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    try:
        with admin.connect() as c:
            for name in names:
                c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield tuple(sa.engine.make_url(server).set(database=n).render_as_string(hide_password=False) for n in names)
    finally:
        with admin.connect() as c:
            for name in names:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (QA_TEST_POSTGRES_URL, else /tmp/pgurl)")
    parser.add_argument("--db", help="SQLite URL of the small database (the big one is written beside it)")
    parser.add_argument("--per-month", type=int, default=1540, help="studies per month (1540: 20,000 in 13 months)")
    parser.add_argument("--months", type=int, default=13, help="months of history of the small database")
    parser.add_argument("--scale", type=int, default=10, help="the big database holds this many times the months")
    parser.add_argument("--scanners", type=int, default=8)
    parser.add_argument("--run-document-kb", type=int, default=19, help="size of each phantom run's stored document")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    end = _month_start(2026, 4)
    window = (_month_start(2025, 3), end)  # the dashboard's default window: the last 13 months
    with tempfile.TemporaryDirectory() as tmp, databases(args, Path(tmp)) as (small, big):
        for label, url, months in (("small", small, args.months), ("big", big, args.months * args.scale)):
            t0 = time.perf_counter()
            counts = fill(url, months=months, per_month=args.per_month, scanners=args.scanners, run_document_kb=args.run_document_kb, end=end)
            print(f"{label}: {months} months, " + ", ".join(f"{v} {k}" for k, v in counts.items())
                  + f" (filled in {time.perf_counter() - t0:.1f} s)")
        results = time_queries({"small": small, "big": big}, *window, args.repeats, Path(tmp))
        backend = sa.engine.make_url(small).get_backend_name()
        print(f"\n{backend}: dashboard queries over the last 13 months; median of {args.repeats} runs")
        print(f"{'query':32s} {'rows':>8s} {'small ms':>10s} {'big ms':>10s} {'ratio big/small':>16s}")
        for name in results["small"]:
            rows, t_small = results["small"][name]
            rows_big, t_big = results["big"][name]
            print(f"{name:32s} {rows_big:8d} {1000 * t_small:10.2f} {1000 * t_big:10.2f} {t_big / t_small:16.2f}")
        print(f"(target: ratio <= 2 for {args.scale}x the history)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
