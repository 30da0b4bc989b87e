"""Read queries of the manager's fleet view (``qa dashboard``): what the store holds for a time window.

Each query is a function of a connection and the window ``[start, end)`` (aware datetimes), so
that ``benchmarks/bench_dashboard.py`` can time them one by one.  The study queries select the
window by ``studies.study_datetime``, a range scan of its index (``ix_studies_datetime``), and reach
the checklists and their results through their keys: their cost follows the studies in the window,
not the history the store holds.  The phantom runs are found by scanner and acquisition time
(``ix_phantom_runs_scanner_acquired``, revision 0005); each scanner's latest run is taken from the
window's runs, and the database is asked for an older one only for a scanner without a run in the window.  :func:`fleet_data` runs them all in one read
transaction (one consistent snapshot, also while ``qa ingest`` writes).

Nothing here reads an identifier: no patient, accession or operator pseudonym is selected; a study
is named by its ``study_key`` pseudonym only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from qa.store.scanners import ScannerRow, as_row
from qa.store.schema import dose_events, exam_check_results, exam_checks, phantom_runs, scanners, studies


@dataclass(frozen=True)
class FleetStudy:
    """One study in the window: its pseudonym, scanner, date, protocol, flags and dose."""

    id: int
    study_key: str
    scanner_id: int
    study_datetime: dt.datetime  # aware, UTC
    study_month: str | None  # 'YYYY-MM' as the scanner wrote the date
    protocol: str | None
    qa_protocol: str | None
    is_calcium_score: bool
    is_qa: bool
    ctdivol_mgy: float | None
    dlp_total_mgycm: float | None
    dose_msv: float | None
    has_dose_report: bool = True  # False: its dose is estimated from the image headers
    n_events: int = 0  # irradiation events its dose reports hold
    n_dose_check_alerts: int = 0  # of them, events with a CT Dose Check alert value exceeded (TID 10015)
    n_dose_check_notifications: int = 0  # ... a notification value exceeded


@dataclass(frozen=True)
class FleetChecklist:
    """One stored checklist of a study in the window."""

    id: int
    study_id: int
    protocol_id: str
    verdict: str
    analysed_at: dt.datetime


@dataclass(frozen=True)
class FleetCheckResult:
    exam_check_id: int
    check_id: str
    status: str


@dataclass(frozen=True)
class FleetRun:
    """One phantom QA run: when (acquired, else analysed), its verdict, procedure and whether it followed the protocol."""

    id: int
    scanner_id: int
    at: dt.datetime  # aware, UTC
    verdict: str
    procedure_id: str
    protocol_ok: bool


@dataclass(frozen=True)
class FleetData:
    """Everything the dashboard shows for a window, read in one transaction."""

    start: dt.datetime
    end: dt.datetime
    scanners: tuple[ScannerRow, ...]
    studies: tuple[FleetStudy, ...]
    checklists: tuple[FleetChecklist, ...]
    results: tuple[FleetCheckResult, ...]
    runs: tuple[FleetRun, ...]  # phantom runs in the window, by time
    last_runs: tuple[FleetRun, ...]  # each scanner's latest run before the window's end (also one older than the window)
    undated_studies: int  # studies without a date: never in a window
    dated_range: tuple[dt.datetime, dt.datetime] | None = None  # the first and last study date the store holds (all windows)


def _in_window(column, start: dt.datetime, end: dt.datetime):
    return sa.and_(column >= start, column < end)


def window_studies(connection: sa.Connection, start: dt.datetime, end: dt.datetime) -> list[FleetStudy]:
    """The studies dated in ``[start, end)``, by date, each with its events' CT Dose Check counts
    (events with an alert / notification value exceeded, counted in SQL from the events' details)."""
    from qa.store.trends import json_true

    s, e = studies.c, dose_events.c
    in_window = sa.select(s.id).where(_in_window(s.study_datetime, start, end))
    checks = (sa.select(e.study_id,
                        sa.func.sum(sa.case((json_true(connection, e.dose_check, "alert_exceeded"), 1), else_=0)).label("n_alert"),
                        sa.func.sum(sa.case((json_true(connection, e.dose_check, "notification_exceeded"), 1), else_=0))
                        .label("n_notification"))
              .where(e.study_id.in_(in_window), e.dose_check.is_not(None)).group_by(e.study_id).subquery("checks"))
    query = (sa.select(s.id, s.study_key, s.scanner_id, s.study_datetime, s.study_month, s.protocol, s.qa_protocol,
                       s.is_calcium_score, s.is_qa, s.ctdivol_mgy, s.dlp_total_mgycm, s.dose_msv, s.has_dose_report, s.n_events,
                       sa.func.coalesce(checks.c.n_alert, 0).label("n_alert"),
                       sa.func.coalesce(checks.c.n_notification, 0).label("n_notification"))
             .select_from(studies.outerjoin(checks, checks.c.study_id == s.id))
             .where(_in_window(s.study_datetime, start, end)).order_by(s.study_datetime, s.id))
    return [FleetStudy(int(r.id), r.study_key, int(r.scanner_id), r.study_datetime, r.study_month, r.protocol, r.qa_protocol,
                       bool(r.is_calcium_score), bool(r.is_qa), r.ctdivol_mgy, r.dlp_total_mgycm, r.dose_msv,
                       bool(r.has_dose_report), int(r.n_events), int(r.n_alert), int(r.n_notification))
            for r in connection.execute(query)]


def window_checklists(connection: sa.Connection, start: dt.datetime, end: dt.datetime) -> list[FleetChecklist]:
    """The checklists of the studies dated in ``[start, end)``."""
    e = exam_checks.c
    query = (sa.select(e.id, e.study_id, e.protocol_id, e.verdict, e.analysed_at)
             .join(studies, studies.c.id == e.study_id)
             .where(_in_window(studies.c.study_datetime, start, end)).order_by(e.id))
    return [FleetChecklist(int(r.id), int(r.study_id), r.protocol_id, r.verdict, r.analysed_at) for r in connection.execute(query)]


def window_check_results(connection: sa.Connection, start: dt.datetime, end: dt.datetime) -> list[FleetCheckResult]:
    """The per-check statuses of those checklists."""
    r_ = exam_check_results.c
    query = (sa.select(r_.exam_check_id, r_.check_id, r_.status)
             .join(exam_checks, exam_checks.c.id == r_.exam_check_id)
             .join(studies, studies.c.id == exam_checks.c.study_id)
             .where(_in_window(studies.c.study_datetime, start, end)))
    return [FleetCheckResult(int(r.exam_check_id), r.check_id, r.status) for r in connection.execute(query)]


def _run(r) -> FleetRun:
    at = r.acquired_at if r.acquired_at is not None else r.analysed_at
    return FleetRun(int(r.id), int(r.scanner_id), at, r.verdict, r.procedure_id, bool(r.protocol_ok))


_RUN_COLUMNS = (phantom_runs.c.id, phantom_runs.c.scanner_id, phantom_runs.c.acquired_at, phantom_runs.c.analysed_at,
                phantom_runs.c.verdict, phantom_runs.c.procedure_id, phantom_runs.c.protocol_ok)


def window_phantom_runs(connection: sa.Connection, start: dt.datetime, end: dt.datetime) -> list[FleetRun]:
    """The phantom runs acquired (else analysed) in ``[start, end)``, by time: a range of the
    acquisition-time index, and the (rare) runs without an acquisition time by their analysis time."""
    p = phantom_runs.c
    acquired = sa.select(*_RUN_COLUMNS).where(_in_window(p.acquired_at, start, end))
    analysed = sa.select(*_RUN_COLUMNS).where(p.acquired_at.is_(None), _in_window(p.analysed_at, start, end))
    rows = connection.execute(acquired).all() + connection.execute(analysed).all()
    return sorted((_run(r) for r in rows), key=lambda r: (r.at, r.id))


def last_phantom_runs(connection: sa.Connection, before: dt.datetime, scanner_ids=None) -> list[FleetRun]:
    """Each scanner's latest phantom run before ``before`` (acquisition time, else analysis time);
    only of ``scanner_ids`` when given (an empty collection: none).  One short query per scanner,
    each the top of its (scanner, acquisition time) index range."""
    from qa.store.schema import scanners

    p = phantom_runs.c
    if scanner_ids is None:
        scanner_ids = [r[0] for r in connection.execute(sa.select(scanners.c.id)).all()]
    out = []
    for scanner_id in sorted(scanner_ids):
        found = [connection.execute(sa.select(*_RUN_COLUMNS).where(p.scanner_id == scanner_id, p.acquired_at < before)
                                    .order_by(p.acquired_at.desc(), p.id.desc()).limit(1)).first(),
                 connection.execute(sa.select(*_RUN_COLUMNS).where(p.scanner_id == scanner_id, p.acquired_at.is_(None),
                                                                   p.analysed_at < before)
                                    .order_by(p.analysed_at.desc(), p.id.desc()).limit(1)).first()]
        runs = [_run(r) for r in found if r is not None]
        if runs:
            out.append(max(runs, key=lambda r: (r.at, r.id)))
    return out


def latest_runs(connection: sa.Connection, start: dt.datetime, window_runs: list[FleetRun], scanner_ids) -> list[FleetRun]:
    """Each scanner's latest run up to the window's end: its last run in the window (``window_runs``,
    by time), else (asked of the database only for the scanners without one) its last before the window."""
    last = {r.scanner_id: r for r in window_runs}
    missing = set(scanner_ids) - set(last)
    older = last_phantom_runs(connection, start, missing)
    return sorted([*last.values(), *older], key=lambda r: r.scanner_id)


def fleet_scanners(connection: sa.Connection) -> list[ScannerRow]:
    return [as_row(r) for r in connection.execute(sa.select(scanners).order_by(scanners.c.id))]


def dated_range(connection: sa.Connection) -> tuple[dt.datetime, dt.datetime] | None:
    """The first and last study date the store holds (two ends of the date index), None without any."""
    first, last = connection.execute(sa.select(sa.func.min(studies.c.study_datetime), sa.func.max(studies.c.study_datetime))).one()
    return None if first is None else (first, last)  # min/max keep the column's type: aware UTC datetimes


def undated_studies(connection: sa.Connection) -> int:
    """How many studies have no date (and so are in no window)."""
    return int(connection.execute(sa.select(sa.func.count()).select_from(studies).where(studies.c.study_datetime.is_(None)))
               .scalar_one())


# The queries of the dashboard, by name (what the benchmark times).
QUERIES = {
    "studies": window_studies,
    "checklists": window_checklists,
    "check_results": window_check_results,
    "phantom_runs": window_phantom_runs,
    # each scanner's last run before the window: asked only for scanners without a run in it (timed here for all)
    "last_phantom_runs_before_window": lambda connection, start, end: last_phantom_runs(connection, start),
    "scanners": lambda connection, start, end: fleet_scanners(connection),
    "undated_studies": lambda connection, start, end: undated_studies(connection),
}


def fleet_data(engine: sa.Engine, start: dt.datetime, end: dt.datetime) -> FleetData:
    """Every query of the dashboard for ``[start, end)``, in one read transaction (one snapshot)."""
    if start.utcoffset() is None or end.utcoffset() is None:
        raise ValueError("the window's start and end must be aware datetimes")
    with engine.connect() as c:
        if c.dialect.name == "postgresql":  # one snapshot for every query, also while an ingest writes
            c = c.execution_options(isolation_level="REPEATABLE READ")
        with c.begin():
            fleet = tuple(fleet_scanners(c))
            runs = window_phantom_runs(c, start, end)
            return FleetData(start, end, fleet, tuple(window_studies(c, start, end)), tuple(window_checklists(c, start, end)),
                             tuple(window_check_results(c, start, end)), tuple(runs),
                             tuple(latest_runs(c, start, runs, [s.id for s in fleet])), undated_studies(c), dated_range(c))
