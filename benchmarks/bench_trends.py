"""The time of each ``qa trends`` query on PostgreSQL at two sizes of the store, and their ratio.

    QA_TEST_POSTGRES_URL=postgresql+psycopg://user:pw@host/db .venv/bin/python benchmarks/bench_trends.py
    .venv/bin/python benchmarks/bench_trends.py --small 20000 --factor 10 --explain   # (URL from /tmp/pgurl)

New databases are created on the server (the URL's role must be allowed to create them) and
dropped at the end.  They are filled with synthetic studies in bulk (SQLAlchemy Core executemany,
not through Store.save_study): the small store holds ``--small`` studies of 8 scanners over the
last 12 months, each with two dose events and, for a calcium score, a checklist of 8 checks.  The
large stores hold ``--factor`` times as many, grown in two ways:

* over time: the same scanners over the ``factor - 1`` years before (a site's store after years);
* over the fleet: ``(factor - 1) x 8`` more scanners over the same 12 months (a multi-site store).

Every query is timed (the median of ``--repeat`` runs after a warm-up) in each store.  The target:
10x the data costs at most 2x the time.  A whole-table aggregate reads every row, so its time
grows with the table (printed, with its ratio).  The common case is served by the indexes: the
last 12 months (``ix_studies_datetime``) cost the same in the store grown over time, one scanner's
last 12 months (``ix_studies_scanner_datetime``) the same in both large stores.  ``--explain``
prints the scans in PostgreSQL's plans of the 12-month queries (which indexes they use).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

SCANNERS = 8
PROTOCOLS = [("CaScore", "cac-standard", 0.5), ("Calcium Score", "cac-siemens", 0.1), ("Coronary CTA", None, 0.2),
             ("Thorax", None, 0.1), ("CT Abdomen", None, 0.07), (None, None, 0.03)]
CHECKS = ("kvp", "slice_thickness", "kernel", "heart_rate", "gating_mode", "ctdivol", "dlp", "effective_dose")
END = dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc)  # the data ends here; "the last 12 months" starts a year before
BATCH = 5000
# The scan event's CT Dose Check details as stored (a 10 mGy CTDIvol notification value; EXCEEDED filled in).
DOSE_CHECK = ('{"alert_ctdivol_configured": true, "alert_ctdivol_mgy": 1000.0, "alert_exceeded": false, '
              '"notification_ctdivol_configured": true, "notification_ctdivol_mgy": 10.0, "notification_exceeded": EXCEEDED}')


def server_url() -> str:
    url = os.environ.get("QA_TEST_POSTGRES_URL")
    if not url and Path("/tmp/pgurl").is_file():
        url = Path("/tmp/pgurl").read_text().strip()
    if not url:
        raise SystemExit("set QA_TEST_POSTGRES_URL (or write the URL to /tmp/pgurl)")
    return url


def fill(engine: sa.Engine, first_id: int, n: int, month_from: int, months: int, seed: int, scanners: range) -> None:
    """Insert ``n`` studies of ``scanners`` (row ids) spread over ``months`` months counted back from
    END (month_from = 0 is the last month), with their events, checklists and results, in batches."""
    from qa.store.schema import dose_events, exam_check_results, exam_checks, studies

    rng = random.Random(seed)
    weights = [p[2] for p in PROTOCOLS]
    now = dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc)
    rows: dict[str, list] = {"studies": [], "events": [], "checks": [], "results": []}

    def flush() -> None:
        with engine.begin() as c:
            for table, key in ((studies, "studies"), (dose_events, "events"), (exam_checks, "checks"), (exam_check_results, "results")):
                if rows[key]:
                    c.execute(table.insert(), rows[key])
                    rows[key].clear()

    for i in range(n):
        sid = first_id + i
        month_back = month_from + (i * months) // n
        start = END - dt.timedelta(days=30.4 * (month_back + 1))
        when = start + dt.timedelta(seconds=rng.uniform(0, 30.4 * 86400))
        protocol, qa_protocol, _ = rng.choices(PROTOCOLS, weights)[0]
        scanner = rng.choice(scanners)
        dlp = rng.lognormvariate(4.0 if protocol in ("CaScore", "Calcium Score") else 5.0, 0.3)
        is_qa = rng.random() < 0.01
        report = rng.random() < 0.95
        rows["studies"].append(dict(
            id=sid, study_key=f"p-{sid:020x}", scanner_id=scanner, study_datetime=when, study_month=when.strftime("%Y-%m"),
            protocol=protocol, qa_protocol=qa_protocol, is_calcium_score=qa_protocol is not None, is_qa=is_qa, has_dose_report=report,
            dose_source="rdsr" if report else None, ctdivol_mgy=dlp / 15, dlp_total_mgycm=dlp + 5, dose_msv=0.026 * dlp,
            k_msv_per_mgycm=0.026, k_source="bench", n_events=2, ingested_at=now, qa_version="bench", fingerprint=f"{sid:064x}"))
        if report:
            for e, (kind, name, value) in enumerate((("constant_angle", "Topogram", 5.0), ("sequenced", protocol, dlp))):
                check = None if e == 0 else DOSE_CHECK.replace("EXCEEDED", "true" if value / 15 > 10.0 else "false")
                rows["events"].append(dict(study_id=sid, irradiation_event_uid=f"1.2.826.0.9.{sid}.{e}", acquisition_type=kind,
                                           protocol=name, phantom="body32", ctdivol_mgy=value / 15, dlp_mgycm=value, dose_check=check))
        if qa_protocol is not None:
            rows["checks"].append(dict(id=sid, study_id=sid, series_key=f"1.2.826.0.8.{sid}", protocol_id=qa_protocol,
                                       protocol_sha256="ab" * 32, verdict="pass", qa_version="bench", analysed_at=when, document="{}"))
            for check in CHECKS:
                status = rng.choices(("pass", "warn", "fail", "not_available"), (0.8, 0.08, 0.08, 0.04))[0]
                rows["results"].append(dict(exam_check_id=sid, check_id=check, status=status))
        if len(rows["studies"]) >= BATCH:
            flush()
    flush()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum would soon: statistics and the visibility map


def cases(url: str):
    """(name, callable(store)) of every query timed: each store query of qa trends, as the workflow
    runs it, and the whole command."""
    from qa.store import Store
    from qa.store import study_list
    from qa.store import trends as q
    from qa.workflows.trends import LEVEL_QUANTITY, MAD_FACTOR, OUTLIER_MIN_GROUP, OUTLIER_Z, store_trends
    from qa.dose import level_rank
    from qa.procedures import load_dose_tables

    by = ("scanner", "protocol", "month")
    store = Store(url, read_only=True)
    tables = load_dose_tables()
    with store.snapshot() as c:
        inputs = q.level_inputs(c, q.StudyFilter())
    named = {"cac-standard": "site-cac", "cac-siemens": "site-cac"}
    ranks = q.LevelRanks(len(tables.reference_levels),
                         {p: r for p in inputs.qa_protocols if (r := level_rank(tables, protocol_id=p, named_level=named.get(p))) is not None},
                         {n: r for n in inputs.names if (r := level_rank(tables, name=n)) is not None}, {})
    limits = {(i, qi): getattr(lv, LEVEL_QUANTITY[name]) for i, lv in enumerate(tables.reference_levels)
              for qi, name in enumerate(q.QUANTITIES) if getattr(lv, LEVEL_QUANTITY[name]) is not None}

    def query(fn, *args, **kwargs):
        def run(on=store):
            with on.snapshot() as c:
                return fn(c, *args, **kwargs)
        return run

    out = []
    year = END - dt.timedelta(days=365)
    for label, where in (("all", q.StudyFilter()), ("12 months", q.StudyFilter(year, END)),
                         ("12 months, 1 scanner", q.StudyFilter(year, END, scanner_id=3))):
        out += [
            (f"group counts        {label}", query(q.group_counts, by, where)),
            (f"dose distributions  {label}", query(q.dose_distributions, by, where)),
            (f"level inputs        {label}", query(q.level_inputs, where)),
            (f"level distributions {label}", query(q.level_distributions, by, where, ranks, limits)),
            (f"outliers (DLP)      {label}", query(q.outliers, where, "dlp_total_mgycm", threshold=OUTLIER_Z, mad_factor=MAD_FACTOR,
                                                    min_group=OUTLIER_MIN_GROUP)),
            (f"checklist verdicts  {label}", query(q.checklist_verdicts, by, where)),
            (f"check counts        {label}", query(q.check_counts, by, where)),
            (f"events per study    {label}", query(q.events_per_study, by, where)),
            (f"dose check counts   {label}", query(q.dose_check_counts, by, where)),
        ]
        if label != "all":  # the study list of a period (every study and event of the store is not a drill-down)
            out += [(f"study list          {label}", query(study_list.study_rows, where)),
                    (f"study list events   {label}", query(study_list.event_rows, where))]
    first = year.astimezone().date().isoformat()
    out += [
        ("qa trends dose          all", lambda on=None: store_trends("dose", db=url)),
        ("qa trends dose          12 months", lambda on=None: store_trends("dose", db=url, date_from=first)),
        ("qa trends compliance    12 months", lambda on=None: store_trends("compliance", db=url, date_from=first)),
        ("qa trends dose --scanner 12 months", lambda on=None: store_trends("dose", db=url, date_from=first, scanner="3")),
        ("qa trends dose --studies --scanner 12 months", lambda on=None: store_trends("dose", db=url, date_from=first, scanner="3",
                                                                                   studies=True)),
        ("qa trends compliance --scanner 12 months", lambda on=None: store_trends("compliance", db=url, date_from=first, scanner="3")),
    ]
    return store, out


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (caches, plans)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def explain(url: str, timed_cases) -> None:
    """The scans in PostgreSQL's plan of every statement the 12-month queries run."""
    from qa.store import Store

    store = Store(url, read_only=True)
    seen: list[tuple[str, object]] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda conn, cursor, statement, params, context, many:
                    seen.append((statement, params)))
    for label, fn in timed_cases:
        if "12 months" in label and not label.startswith("qa trends"):
            seen.clear()
            fn(store)
            with store.engine.connect() as c:
                for statement, params in list(seen):
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    plan = [r[0] for r in c.exec_driver_sql("EXPLAIN " + statement, params)]
                    scans = sorted({line.strip().lstrip("-> ").split("  (")[0] for line in plan if "Scan" in line})
                    print(f"  {label:42s} " + "; ".join(scans))
    store.close()


def create(admin: sa.Engine, server: str, n_scanners: int) -> str:
    """A new database at the current layout with ``n_scanners`` scanners: its URL."""
    from qa.store import Store
    from qa.store.schema import scanners

    name = f"qa_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    Store(url).close()  # the current layout, by the migrations
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(scanners.insert(), [dict(id=i, manufacturer="SIEMENS", model="SOMATOM Force", serial=f"S-{i:03d}",
                                           station_name=f"CT-{i}", first_seen=END, identity_basis="serial",
                                           identity_key=f"SIEMENS|SOMATOM FORCE|S-{i:03d}") for i in range(1, n_scanners + 1)])
    engine.dispose()
    return url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=20_000, help="studies in the small store (default 20000)")
    ap.add_argument("--factor", type=int, default=10, help="the large stores hold this many times as many (default 10)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--explain", action="store_true", help="print the scans of the 12-month queries' plans in each store")
    args = ap.parse_args()
    server = server_url()
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    fleet = SCANNERS * args.factor
    stores = [("small", SCANNERS), ("grown over time", SCANNERS), ("grown over the fleet", fleet)]
    urls: list[str] = []
    results: dict[str, list[float]] = {}
    extra = args.small * (args.factor - 1)
    try:
        for index, (label, n_scanners) in enumerate(stores):
            url = create(admin, server, n_scanners)
            urls.append(url)
            engine = sa.create_engine(url)
            t0 = time.perf_counter()
            fill(engine, 1, args.small, 0, 12, seed=1, scanners=range(1, SCANNERS + 1))
            if index == 1:
                fill(engine, args.small + 1, extra, 12, 12 * (args.factor - 1), seed=2, scanners=range(1, SCANNERS + 1))
            elif index == 2:
                fill(engine, args.small + 1, extra, 0, 12, seed=2, scanners=range(SCANNERS + 1, fleet + 1))
            engine.dispose()
            total = args.small + (extra if index else 0)
            print(f"store    {label}: {total} studies of {n_scanners} scanners (filled in {time.perf_counter() - t0:.0f} s)", flush=True)
            store, timed_cases = cases(url)
            if args.explain:
                explain(url, timed_cases)
            for name, fn in timed_cases:
                results.setdefault(name, []).append(timed(fn, args.repeat))
            store.close()
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        print(f"\n{'query':42s} {'small':>8s} {'time x' + str(args.factor):>10s} {'ratio':>6s} {'fleet x' + str(args.factor):>10s} "
              f"{'ratio':>6s}   (target: ratio <= 2)")
        for name, (small, by_time, by_fleet) in results.items():
            r1, r2 = by_time / small, by_fleet / small
            print(f"{name:42s} {small * 1000:6.1f}ms {by_time * 1000:8.1f}ms {r1:6.2f} {by_fleet * 1000:8.1f}ms {r2:6.2f}")
    finally:
        with admin.connect() as c:
            for url in urls:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
