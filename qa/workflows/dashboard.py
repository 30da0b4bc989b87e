"""The manager's fleet view (``qa dashboard``): a static web page built from the store, opened from a file share.

:func:`build_dashboard` reads the store (read-only) for a window of calendar months, gives each
study its reference level and its checklist, each scanner its last phantom QA and whether it is
overdue, and writes ``OUT/index.html`` (the page: HTML, CSS, JavaScript and the window's
per-study rows, nothing fetched) and ``OUT/dashboard-data.json`` (the same rows for other tools).
The page computes every number it shows from those rows, so its filters (dates, protocol,
scanner) change them exactly.  The rows hold pseudonyms and numbers only: a study's ``study_key``
prefix, never a patient, accession or operator key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.errors import DefinitionError, UsageError
from qa.records.serialize import Record, to_jsonable
from qa.workflows.common import NO_WRITE, open_store, qa_version

DEFAULT_MONTHS = 13
MAX_MONTHS = 240  # twenty years: more is a mistyped option
DEFAULT_INTERVAL_DAYS = 1  # a phantom-QA procedure that names no interval is daily
STUDY_KEY_PREFIX = 12  # characters of a study's pseudonym shown for an outlier ("p-" and 10 hex digits)
FILES = ("dashboard-data.json", "index.html")  # written in this order: the page last
# Per-check status letters of the embedded rows (one letter per check id; "-": the checklist has no such check).
STATUS_CODES = {"pass": "p", "warn": "w", "fail": "f", "not_available": "n", "not_applicable": "x"}
# A study's checklist verdict as one letter: incomplete (nothing failed or warned, checks not run) is "i", never "p".
VERDICT_CODES = {"pass": "p", "incomplete": "i", "warn": "w", "fail": "f"}
QUANTITIES = ("ctdivol_mgy", "dlp_total_mgycm", "dose_msv")


@dataclass(frozen=True)
class Window(Record):
    """The calendar months shown: ``start`` (first day) to ``end`` (last day), local dates."""

    start: dt.date
    end: dt.date
    months: int
    first_month: str
    last_month: str


@dataclass(frozen=True)
class LastQA(Record):
    """A scanner's latest phantom QA run: verdict, when, how old (calendar days) and whether it is overdue."""

    verdict: str
    acquired_at: dt.datetime
    age_days: int
    interval_days: int
    interval_source: str
    overdue: bool
    procedure: str


@dataclass(frozen=True)
class DoseMedians(Record):
    """Medians over a scanner's calcium-score studies in the window (numpy's default, linear)."""

    n: int
    ctdivol_mgy: float | None
    dlp_total_mgycm: float | None
    dose_msv: float | None


@dataclass(frozen=True)
class FleetScanner(Record):
    id: int
    manufacturer: str
    model: str
    serial: str | None
    station_name: str | None
    label: str
    n_studies: int
    n_calcium_score: int
    n_checked: int
    n_compliant: int  # checked studies whose checklist did not fail
    n_incomplete: int  # checked studies whose checklist is incomplete (counted apart from a pass; not failed)
    median: DoseMedians
    last_qa: LastQA | None
    n_dose_check_alerts: int = 0  # events of its studies with a CT Dose Check alert value exceeded
    n_dose_check_notifications: int = 0  # ... a notification value exceeded


@dataclass(frozen=True)
class Dashboard(Record):
    """The ``qa.dashboard/1`` document."""

    out: str
    files: tuple[str, ...]
    scanners: tuple[FleetScanner, ...]
    n_studies: int
    window: Window
    database: str
    generated_at: dt.datetime
    warnings: tuple[str, ...] = ()


def dashboard_window(now: dt.datetime, months: int) -> Window:
    """The ``months`` calendar months ending with ``now``'s month (local dates)."""
    year, month = now.year, now.month
    first_year, first_month = divmod(year * 12 + month - 1 - (months - 1), 12)
    start = dt.date(first_year, first_month + 1, 1)
    next_year, next_month = divmod(year * 12 + month, 12)
    end = dt.date(next_year, next_month + 1, 1) - dt.timedelta(days=1)
    return Window(start, end, months, start.strftime("%Y-%m"), end.strftime("%Y-%m"))


def build_dashboard(*, out: str | os.PathLike, db: str | None = None, months: int = DEFAULT_MONTHS,
                    procedures: Sequence[str | os.PathLike] = (), now: dt.datetime | None = None) -> Dashboard:
    """Write the fleet dashboard of the last ``months`` calendar months into the folder ``out``.

    ``now`` (aware; default: this moment in the local time zone) ends the window and dates the
    page and the age of each scanner's last phantom QA.  ``procedures``: a site's own phantom-QA
    procedure files (a run names its procedure by id; a built-in id needs none), for how often
    their QA is due (``interval_days``).  The store (``db``, else ``QA_DB_URL``, else the default
    SQLite file) is only read.  ``out`` is created when missing; an existing file there is refused;
    the page's files are replaced whole (``qa.outputs``), the page last."""
    from qa.outputs import write_file
    from qa.report.dashboard import render_dashboard
    from qa.store.fleet import fleet_data

    if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= MAX_MONTHS:
        raise UsageError(f"--months must be a whole number of months from 1 to {MAX_MONTHS}, got {months!r}",
                         hint=f"the default is {DEFAULT_MONTHS} (this month and the twelve before)")
    from qa.procedures import load_procedure

    given = {}
    for path in procedures:
        procedure = load_procedure(Path(path))  # a path, never an id looked up in the working directory
        given[procedure.id] = procedure
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder} is a file, not a folder", hint="give a folder for the dashboard's files (created when missing)")
    now = (now or dt.datetime.now().astimezone()).replace(microsecond=0)
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    local = now.tzinfo
    window = dashboard_window(now, months)
    start = dt.datetime.combine(window.start, dt.time(), local)
    end = dt.datetime.combine(window.end + dt.timedelta(days=1), dt.time(), local)
    with open_store(db, mode=NO_WRITE) as access:
        if access.store is None:
            raise UsageError(f"no results store to read: {access.reason}",
                             hint="store results first (qa ingest, qa phantom), or give the store with --db")
        database = access.store.display_url
        data = fleet_data(access.store.engine, start, end)
    warnings = []
    if data.undated_studies:
        warnings.append(f"{data.undated_studies} stored stud{'y has' if data.undated_studies == 1 else 'ies have'} no date and "
                        "cannot be placed in the window: not shown")
    page, scanners, notes = _page_data(data, window, now, database, given)
    if not page["rows"]["date"] and data.dated_range is not None:
        first, last = (d.astimezone().strftime("%Y-%m-%d") for d in data.dated_range)
        warnings.append(f"no study in the window ({window.start} to {window.end}): the store holds studies from {first} to {last}; "
                        "widen the window with --months")
    warnings += notes
    page["warnings"] = warnings
    document = json.dumps(page, sort_keys=True, allow_nan=False)
    folder.mkdir(parents=True, exist_ok=True)
    written = [write_file(folder / FILES[0], document + "\n"),
               write_file(folder / FILES[1], render_dashboard(page))]
    return Dashboard(str(folder), tuple(written), tuple(scanners), len(page["rows"]["date"]), window, database, now, tuple(warnings))


# ------------------------------------------------------------------------------------------ the page's data


def _page_data(data, window: Window, now: dt.datetime, database: str, procedures: dict) -> tuple[dict, list[FleetScanner], list[str]]:
    """The page's embedded data (JSON-ready), the scanners' summaries and notes for the warnings."""
    from qa.procedures import load_dose_tables

    notes: list[str] = []
    tables = load_dose_tables()
    local = now.tzinfo
    months = _months(window)
    month_index = {m: i for i, m in enumerate(months)}
    chosen = _chosen_checklists(data)
    results: dict[int, dict[str, str]] = {}
    for r in data.results:
        results.setdefault(r.exam_check_id, {})[r.check_id] = r.status
    chosen_ids = {c.id for c in chosen.values()}
    check_ids = sorted({r.check_id for r in data.results if r.exam_check_id in chosen_ids})
    level_of = _LevelChooser(tables, notes)
    shown = {s.scanner_id for s in data.studies} | {r.scanner_id for r in data.last_runs}
    scanners = [s for s in data.scanners if s.id in shown]
    scanners.sort(key=lambda s: (_label(s).upper(), s.id))
    scanner_index = {s.id: i for i, s in enumerate(scanners)}
    protocols = sorted({s.protocol for s in data.studies if s.protocol}, key=lambda p: (p.upper(), p))
    protocol_index = {p: i for i, p in enumerate(protocols)}
    rows: dict[str, list] = {k: [] for k in ("date", "month", "scanner", "protocol", "flags", "ctdivol", "dlp", "msv", "level",
                                             "key", "verdict", "checks", "hour", "events", "dca", "dcn")}
    for s in data.studies:
        local_time = s.study_datetime.astimezone(local)
        month = s.study_month if s.study_month in month_index else local_time.strftime("%Y-%m")
        if month not in month_index:  # the scanner's own date and this computer's disagree across the window's edge
            continue
        checklist = chosen.get(s.id)
        statuses = results.get(checklist.id, {}) if checklist else {}
        rows["date"].append(local_time.strftime("%Y-%m-%d"))
        rows["month"].append(month_index[month])
        rows["scanner"].append(scanner_index[s.scanner_id])
        rows["protocol"].append(protocol_index.get(s.protocol, -1))
        rows["flags"].append((1 if s.is_calcium_score else 0) | (2 if s.is_qa else 0))
        # Dose statistics over the studies holding a CT dose report, as qa trends counts them (a
        # dose estimated from image headers stays in the store, not in the medians).
        reported = s.has_dose_report
        rows["ctdivol"].append(_number(s.ctdivol_mgy) if reported else None)
        rows["dlp"].append(_number(s.dlp_total_mgycm) if reported else None)
        rows["msv"].append(_number(s.dose_msv) if reported else None)
        rows["level"].append(level_of(s.qa_protocol, s.protocol))
        rows["key"].append(s.study_key[:STUDY_KEY_PREFIX])
        rows["verdict"].append(VERDICT_CODES.get(checklist.verdict, "-") if checklist else "-")
        rows["checks"].append("".join(STATUS_CODES.get(statuses.get(c, ""), "-") for c in check_ids) if checklist else "")
        rows["hour"].append(local_time.hour)  # the workload by weekday and hour (the weekday follows from the date)
        rows["events"].append(s.n_events)
        rows["dca"].append(s.n_dose_check_alerts)  # events with a CT Dose Check alert value exceeded
        rows["dcn"].append(s.n_dose_check_notifications)  # ... a notification value exceeded
    rows["verdict"] = "".join(rows["verdict"])
    last = {r.scanner_id: r for r in data.last_runs}
    runs: dict[int, list] = {s.id: [] for s in scanners}
    for r in data.runs:
        if r.scanner_id in runs:
            runs[r.scanner_id].append(r)
    intervals = _Intervals(notes, procedures)
    page_scanners, summaries = [], []
    for s in scanners:
        last_qa = _last_qa(last.get(s.id), now, intervals)
        mine = [i for i, k in enumerate(rows["scanner"]) if k == scanner_index[s.id]]
        summaries.append(_summary(s, last_qa, mine, rows))
        page_scanners.append({
            "id": s.id, "label": _label(s), "manufacturer": s.manufacturer, "model": s.model, "serial": s.serial or None,
            "station": s.station_name, "identity_basis": s.identity_basis,
            "last_qa": None if last_qa is None else to_jsonable(last_qa) | {"acquired_at": _local_text(last_qa.acquired_at, local)},
            "runs": {"t": [_local_text(r.at, local) for r in runs[s.id]], "v": [r.verdict for r in runs[s.id]],
                     "ok": [r.protocol_ok for r in runs[s.id]]},
        })
    page = {
        "schema": "qa.dashboard-page/1", "qa_version": qa_version(), "database": database, "generated_at": now.isoformat(),
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat(), "months": months},
        "scanners": page_scanners, "protocols": protocols, "checks": check_ids, "levels": level_of.levels(),
        "dose_tables": {"path": Path(tables.path).name, "sha256": tables.sha256}, "rows": rows,
        "undated_studies": data.undated_studies,
    }
    return page, summaries, notes


def _months(window: Window) -> list[str]:
    months, day = [], window.start
    while day <= window.end:
        months.append(day.strftime("%Y-%m"))
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months


def _chosen_checklists(data) -> dict:
    """One checklist per study: the one of the study's own qa protocol, else the latest analysed."""
    protocol = {s.id: s.qa_protocol for s in data.studies}
    chosen: dict = {}
    for c in data.checklists:
        best = chosen.get(c.study_id)
        rank = (c.protocol_id == protocol.get(c.study_id), c.analysed_at, c.id)
        if best is None or rank > (best.protocol_id == protocol.get(c.study_id), best.analysed_at, best.id):
            chosen[c.study_id] = c
    return chosen


class _LevelChooser:
    """The reference level of a study (qa.dose.reference_level_for: the level its qa protocol names,
    else its protocol id, else its protocol name), as an index into :meth:`levels`; -1: none."""

    def __init__(self, tables, notes: list[str]):
        from qa.procedures import available_protocols

        self.tables, self.notes = tables, notes
        self.known = set(available_protocols())
        self.cache: dict = {}
        self.used: list = []
        self.noted: set[str] = set()

    def __call__(self, qa_protocol: str | None, protocol: str | None) -> int:
        key = (qa_protocol, protocol)
        if key not in self.cache:
            self.cache[key] = self._choose(qa_protocol, protocol)
        return self.cache[key]

    def _choose(self, qa_protocol, protocol) -> int:
        from qa.dose import reference_level_for
        from qa.procedures import load_protocol

        named = None
        if qa_protocol in self.known:
            named = load_protocol(qa_protocol).reference_level
        elif qa_protocol and qa_protocol not in self.noted:
            self.noted.add(qa_protocol)
            self.notes.append(f"the qa protocol {qa_protocol!r} of some studies is not a built-in one: their reference level "
                              "is chosen by the protocol's id and name only")
        level, _ = reference_level_for(self.tables, protocol_id=qa_protocol, names=[protocol], named_level=named)
        if level is None:
            return -1
        if level not in self.used:
            self.used.append(level)
        return self.used.index(level)

    def levels(self) -> list[dict]:
        return [{"id": lv.id, "name": lv.name, "kind": lv.kind, "source": lv.source, "ctdivol_mgy": lv.ctdivol_mgy,
                 "dlp_mgycm": lv.dlp_mgycm, "dose_msv": lv.dose_msv} for lv in self.used]


class _Intervals:
    """How often a procedure's QA is due (its ``interval_days``, else daily): a site's own
    procedures (``given``, loaded, by id) first, then the built-in ones by id."""

    def __init__(self, notes: list[str], given: dict | None = None):
        from qa.procedures import available_procedures

        self.known = set(available_procedures())
        self.notes = notes
        self.cache: dict[str, tuple[int, str]] = {}
        for procedure in (given or {}).values():
            days = procedure.interval_days or DEFAULT_INTERVAL_DAYS
            self.cache[procedure.id] = (days, f"procedure {procedure.id} ({procedure.path})"
                                        + ("" if procedure.interval_days else " names no interval: daily"))

    def __call__(self, procedure_id: str) -> tuple[int, str]:
        if procedure_id not in self.cache:
            self.cache[procedure_id] = self._interval(procedure_id)
        return self.cache[procedure_id]

    def _interval(self, procedure_id: str) -> tuple[int, str]:
        from qa.procedures import load_procedure

        if procedure_id in self.known:
            try:
                days = load_procedure(procedure_id).interval_days
            except DefinitionError:  # pragma: no cover - a built-in procedure always loads (tested)
                days = None
            if days is not None:
                return days, f"procedure {procedure_id}"
            return DEFAULT_INTERVAL_DAYS, f"procedure {procedure_id} names no interval: daily"
        self.notes.append(f"the phantom QA procedure {procedure_id!r} is not a built-in one: its runs are taken as due daily "
                          "(give its file with --procedure for its interval_days)")
        return DEFAULT_INTERVAL_DAYS, f"procedure {procedure_id} unknown here: daily"


def _last_qa(run, now: dt.datetime, intervals: _Intervals) -> LastQA | None:
    if run is None:
        return None
    interval, source = intervals(run.procedure_id)
    age = (now.date() - run.at.astimezone(now.tzinfo).date()).days
    return LastQA(run.verdict, run.at, age, interval, source, age > interval, run.procedure_id)


def _summary(scanner, last_qa: LastQA | None, mine: list[int], rows: dict) -> FleetScanner:
    import numpy as np

    calcium = [i for i in mine if rows["flags"][i] & 1 and not rows["flags"][i] & 2]
    medians = {}
    for quantity, column in zip(QUANTITIES, ("ctdivol", "dlp", "msv")):
        values = [rows[column][i] for i in calcium if rows[column][i] is not None]
        medians[quantity] = float(np.median(values)) if values else None
    checked = [i for i in mine if rows["verdict"][i] != "-"]
    compliant = [i for i in checked if rows["verdict"][i] != "f"]
    incomplete = [i for i in checked if rows["verdict"][i] == "i"]
    return FleetScanner(scanner.id, scanner.manufacturer, scanner.model, scanner.serial or None, scanner.station_name,
                        _label(scanner), len(mine), len(calcium), len(checked), len(compliant), len(incomplete),
                        DoseMedians(len(calcium), **medians),
                        last_qa, sum(rows["dca"][i] for i in mine), sum(rows["dcn"][i] for i in mine))


def _label(scanner) -> str:
    """Manufacturer model, serial number (else station name), and the station name beside a serial."""
    name = f"{scanner.manufacturer} {scanner.model}"
    if scanner.serial:
        return f"{name} SN {scanner.serial}" + (f" ({scanner.station_name})" if scanner.station_name else "")
    return f"{name} {scanner.station_name or scanner.identity_key}"


def _number(value: float | None) -> float | None:
    import math

    return None if value is None or not math.isfinite(value) else float(value)


def _local_text(when: dt.datetime, local) -> str:
    return when.astimezone(local).strftime("%Y-%m-%dT%H:%M")
