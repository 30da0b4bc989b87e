"""The manager's trends from the store (``qa trends dose|compliance``): per scanner, protocol and month.

The aggregates are computed by the database (:mod:`qa.store.trends`: ``GROUP BY`` and window
functions, the same SQL on SQLite and PostgreSQL), read in one read-only transaction; this module
chooses the studies, ranks the reference levels, and puts the rows into records, sorted by key
(never by when a study was stored).

Reference levels: each study takes the level ``qa dose`` would choose for it
(:func:`qa.dose.reference_level_for`: the level its qa protocol names or whose protocol patterns
match it, else the first level one of its names matches, its protocol as written or an event's
Acquisition Protocol, else one of its events' target regions).  The level of every study is
picked in SQL from the ranks of the few distinct inputs (:func:`qa.dose.level_rank`), so a group
whose studies take different levels reports each level over its own studies.  A diagnostic
reference level (``compares = "median"``) is compared with the median of those studies, a per-exam
alert level (``each_exam``) with each of them (the count above it).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import re
from collections.abc import Sequence

from qa.errors import UsageError
from qa.records.trends import (CHECKLIST_VERDICTS, COMPLIANCE, DOSE, GROUP_KEYS, KINDS, STATUSES, CheckCounts, ComplianceGroup, Distribution,
                               DoseCheckCounts, DoseGroup, GroupScanner, LevelResult, Outlier, StudyEvent, StudyItem, TrendFilters,
                               TrendMethods, TrendsReport)
from qa.workflows.common import NO_WRITE, now, open_store

# Robust z = (x - median) / (1.4826 MAD): 1.4826 = 1 / Phi^-1(3/4) makes the MAD a consistent
# estimator of the standard deviation of normal data (Rousseeuw & Croux, JASA 1993;88:1273-1283).
MAD_FACTOR = 1.4826
# |robust z| > 3.5 flags an outlier (Iglewicz & Hoaglin, "How to Detect and Handle Outliers",
# ASQC Quality Press 1993: modified z-scores 0.6745 (x - median) / MAD above 3.5).
OUTLIER_Z = 3.5
# Our proposal: below 5 values a group's median and MAD say too little to call anything an outlier.
OUTLIER_MIN_GROUP = 5
# The outliers are looked for in these quantities (DLP first).
OUTLIER_QUANTITIES = ("dlp_total_mgycm", "ctdivol_mgy")
# The level's quantity for each study quantity.
LEVEL_QUANTITY = {"ctdivol_mgy": "ctdivol_mgy", "dlp_total_mgycm": "dlp_mgycm", "dose_msv": "dose_msv"}
LEVEL_UNITS = {"ctdivol_mgy": "mGy", "dlp_mgycm": "mGy cm", "dose_msv": "mSv"}

PERCENTILES = ("linear interpolation between closest ranks (Hyndman & Fan 1996 definition 7: numpy's default, PostgreSQL's "
               "percentile_cont), computed in the database with window functions")
OUTLIER_RULE = (f"robust z = (value - median) / ({MAD_FACTOR} MAD) over the study's scanner + protocol group (compared studies "
                f"of the period); |z| > {OUTLIER_Z} (Iglewicz & Hoaglin 1993); groups of at least {OUTLIER_MIN_GROUP} values with "
                "MAD > 0")
LEVEL_RULE = ("each study takes the level qa dose would choose for it (its qa protocol's level, else the first level a name "
              "or target region matches); a group reports each of its studies' levels over those studies: the median "
              "against a diagnostic reference level (compares median), every exam against a per-exam alert level "
              "(compares each_exam, the count above it)")

_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def store_trends(kind: str, *, by: str | Sequence[str] = GROUP_KEYS, date_from: str | None = None, date_to: str | None = None,
                 protocol: str | None = None, scanner: str | None = None, db: str | None = None,
                 csv: str | os.PathLike | None = None, xlsx: str | os.PathLike | None = None,
                 dose_tables: str = "dose-reference", studies: bool = False) -> TrendsReport:
    """Dose (``kind="dose"``) or compliance trends of the stored studies, grouped ``by`` any of
    scanner, protocol, month (comma-separated or a sequence; the order is the sort order).

    ``date_from`` / ``date_to``: inclusive dates (YYYY-MM-DD, or YYYY-MM for a whole month) on the
    site's wall clock; ``protocol``: a pattern (``*`` and ``?``, case ignored) on the protocol as
    the scanner wrote it; ``scanner``: an id, station name or serial number.  ``csv`` / ``xlsx``:
    write one row per group there.  ``studies`` (dose only): also list every study kept, by date,
    with its events (the CSV then holds one row per study; the xlsx adds a studies and an events
    sheet).  The store is only read."""
    from qa.store.trends import StudyFilter

    if kind not in KINDS:
        raise UsageError(f"unknown trends kind {kind!r}", hint=f"choose one of {', '.join(KINDS)}")
    if csv is not None and xlsx is not None:
        raise UsageError("--csv and --xlsx write one file each: give one of them", hint="run the command twice for both")
    if studies and kind != DOSE:
        raise UsageError("--studies lists the studies behind the dose trends", hint="use it with qa trends dose")
    from qa.workflows.output_targets import check_output_file

    if csv is not None or xlsx is not None:  # before the store is read
        check_output_file(csv if csv is not None else xlsx, "--csv" if csv is not None else "--xlsx", "csv" if csv is not None else "xlsx")
    keys = parse_by(by)
    start, first_day = _day(date_from, "--from", first=True)
    end, last_day = _day(date_to, "--to", first=False)
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--from {date_from} is after --to {date_to}", hint="give the earlier date with --from")
    tables = _tables(dose_tables) if kind == DOSE else None
    warnings: list[str] = []
    with open_store(db, mode=NO_WRITE) as access:
        if access.store is None:
            raise UsageError(f"no results store to read: {access.reason}",
                             hint="ingest exams and dose reports first (qa ingest), or give the store with --db")
        store = access.store
        matched = store.find_scanner(scanner) if scanner is not None else None
        with store.snapshot() as connection:
            scanner_rows = _scanner_rows(connection)  # in the snapshot: every scanner its studies name
            where = StudyFilter(start, end, matched.id if matched else None)
            where = _with_protocols(connection, where, protocol, warnings)
            if start is not None or end is not None:
                undated = _undated(connection, where)
                if undated:
                    warnings.append(f"{undated} stud{'y' if undated == 1 else 'ies'} without a date left out of the period")
            if kind == DOSE:
                groups, outliers = _dose(connection, keys, where, tables, scanner_rows, warnings)
            else:
                groups, outliers = _compliance(connection, keys, where, scanner_rows), ()
            listed = _studies(connection, where, scanner_rows) if studies else None
    exported = None
    if csv is not None or xlsx is not None:
        from qa.report.spreadsheet import write_trends

        exported = write_trends(csv if csv is not None else xlsx, kind, keys, groups, outliers, xlsx=xlsx is not None, studies=listed)
    return TrendsReport(
        kind=kind, by=keys, period={"from": first_day, "to": last_day},
        filters=TrendFilters(protocol, scanner, _scanner(matched) if matched else None),
        n_studies=sum(g.n_studies for g in groups), groups=tuple(groups), outliers=tuple(outliers),
        methods=TrendMethods(PERCENTILES, OUTLIER_RULE, OUTLIER_Z, MAD_FACTOR, OUTLIER_MIN_GROUP, LEVEL_RULE),
        dose_tables=tables.ref if tables is not None else None, analysis_time=now(), exported=exported, warnings=tuple(warnings),
        studies=listed,
    )


def parse_by(by: str | Sequence[str]) -> tuple[str, ...]:
    """The grouping keys: any of scanner, protocol, month, each once (``none`` or empty: one group of everything)."""
    items = [k.strip().lower() for k in (by.split(",") if isinstance(by, str) else by)]
    items = [k for k in items if k and k != "none"]
    unknown = [k for k in items if k not in GROUP_KEYS]
    if unknown:
        raise UsageError(f"--by {','.join(unknown)}: unknown grouping key", hint=f"group by any of {', '.join(GROUP_KEYS)}, "
                         "comma-separated (e.g. --by scanner,month)")
    if len(set(items)) != len(items):
        raise UsageError(f"--by {','.join(items)} names a key twice", hint="name each key once")
    return tuple(items)


def _day(text: str | None, option: str, *, first: bool) -> tuple[dt.datetime | None, str | None]:
    """(the instant the period starts at or ends before, the inclusive day as YYYY-MM-DD) of a
    ``--from`` (``first``) or ``--to`` date: midnight on the site's wall clock (this computer's
    time zone, as the store read the studies' local times)."""
    if text is None:
        return None, None
    match = _DATE.match(text.strip())
    try:
        if match is None:
            raise ValueError
        year, month, day = int(match[1]), int(match[2]), match[3]
        if day is not None:
            date = dt.date(year, month, int(day))
        else:  # a whole month: its first day, or its last
            date = dt.date(year, month, 1)
            if not first:
                date = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
        if not 1900 <= year <= 2999:
            raise ValueError
        midnight = date if first else date + dt.timedelta(days=1)
        instant = dt.datetime(midnight.year, midnight.month, midnight.day).astimezone().astimezone(dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise UsageError(f"{option} {text!r} is not a date from 1900 to 2999",
                         hint="give YYYY-MM-DD, or YYYY-MM for a whole month") from None
    return instant, date.isoformat()


def _tables(name: str):
    from qa.procedures import load_dose_tables

    return load_dose_tables(name)


def _with_protocols(connection, where, pattern: str | None, warnings: list[str]):
    """``where`` keeping the protocols (as written) that ``pattern`` matches: shell wildcards, case
    ignored (fnmatch), matched against the distinct protocols of the period, so that the query
    filters on the protocol index."""
    from dataclasses import replace

    from qa.store.trends import protocols

    if pattern is None:
        return where
    wanted = pattern.strip().lower()
    names = [p for p in protocols(connection, where) if p is not None and fnmatch.fnmatchcase(p.lower(), wanted)]
    if not names:
        warnings.append(f"no stored study of the period has a protocol matching {pattern!r}")
    return replace(where, protocols=tuple(names))


def _scanner_rows(connection) -> dict:
    from qa.store.scanners import all_rows

    return {row.id: row for row in all_rows(connection)}


def _undated(connection, where) -> int:
    from qa.store.trends import undated

    return undated(connection, where)


def _scanner(row) -> GroupScanner:
    return GroupScanner(row.manufacturer, row.model, row.serial or None, row.station_name)


def _group_keys(row, keys: tuple[str, ...], scanner_rows) -> dict:
    return {k: _scanner(scanner_rows[getattr(row, k)]) if k == "scanner" else getattr(row, k) for k in keys}


def _sort_key(raw: tuple, keys: tuple[str, ...], scanner_rows) -> tuple:
    """Groups in key order: scanners by manufacturer, model, serial, station name (then identity),
    protocols and months as text, unknown ones last."""
    out = []
    for key, value in zip(keys, raw):
        if key == "scanner":
            s = scanner_rows[value]
            out.append((0, s.manufacturer, s.model, s.serial, s.station_name or "", s.identity_key))
        else:
            out.append((value is None, value or ""))
    return tuple(out)


def _raw(row, keys) -> tuple:
    return tuple(getattr(row, k) for k in keys)


# ------------------------------------------------------------------------------------ dose


def _dose(connection, keys, where, tables, scanner_rows, warnings):
    from qa.store import trends as q

    counts = q.group_counts(connection, keys, where)
    stats: dict[tuple, dict[str, Distribution]] = {}
    for r in q.dose_distributions(connection, keys, where):
        stats.setdefault(_raw(r, keys), {})[q.QUANTITIES[r.q]] = Distribution(int(r.n), r.median, r.p75, r.mean)
    levels = _levels(connection, keys, where, tables, warnings)
    events = {_raw(r, keys): Distribution(int(r.n), _float(r.median), _float(r.p75), _float(r.mean))
              for r in q.events_per_study(connection, keys, where)}
    checks = {_raw(r, keys): DoseCheckCounts(int(r.n_events), int(r.n_checked), int(r.n_alert), int(r.n_notification),
                                             int(r.n_studies_exceeded)) for r in q.dose_check_counts(connection, keys, where)}
    empty = Distribution(0, None, None, None)
    groups = []
    for r in sorted(counts, key=lambda r: _sort_key(_raw(r, keys), keys, scanner_rows)):
        raw = _raw(r, keys)
        mine = stats.get(raw, {})
        groups.append(DoseGroup(_group_keys(r, keys, scanner_rows), int(r.n_studies), int(r.n_qa), int(r.n_all - r.n_studies),
                                *(mine.get(name, empty) for name in q.QUANTITIES), tuple(levels.get(raw, ())),
                                events_per_study=events.get(raw, empty), dose_check=checks.get(raw, DoseCheckCounts(0, 0, 0, 0, 0))))
    outliers = []
    for quantity in OUTLIER_QUANTITIES:
        rows = q.outliers(connection, where, quantity, threshold=OUTLIER_Z, mad_factor=MAD_FACTOR, min_group=OUTLIER_MIN_GROUP)
        found = [Outlier(r.study_key, r.study_datetime, r.study_month, _scanner(scanner_rows[r.scanner_id]), r.protocol, quantity,
                         r.v, r.median, r.mad, int(r.n), r.z) for r in rows]
        outliers += sorted(found, key=lambda o: (-abs(o.z), o.study_key))
    return groups, outliers


def _float(value) -> float | None:
    return None if value is None else float(value)


def _levels(connection, keys, where, tables, warnings) -> dict[tuple, list[LevelResult]]:
    """Per group: each reference level its compared studies take, for each quantity the level gives."""
    from qa.dose import level_rank
    from qa.store import trends as q

    levels = tables.reference_levels
    if not levels:
        return {}
    inputs = q.level_inputs(connection, where)
    named = _named_levels(inputs.qa_protocols, warnings)
    ranks = q.LevelRanks(
        len(levels),
        _ranked({p: level_rank(tables, protocol_id=p, named_level=named.get(p)) for p in inputs.qa_protocols}),
        _ranked({n: level_rank(tables, name=n) for n in inputs.names}),
        _ranked({code: level_rank(tables, region_code=code) for code in inputs.regions}),
    )
    limits = {}
    for index, level in enumerate(levels):
        for qi, quantity in enumerate(q.QUANTITIES):
            value = getattr(level, LEVEL_QUANTITY[quantity])
            if value is not None:
                limits[(index, qi)] = value
    out: dict[tuple, list[tuple]] = {}
    for r in q.level_distributions(connection, keys, where, ranks, limits):
        level = levels[r.level]
        quantity = LEVEL_QUANTITY[q.QUANTITIES[r.q]]
        limit = limits.get((r.level, r.q))
        if limit is None:
            continue
        median = level.compares == "median"
        result = LevelResult(level.id, level.kind, level.compares, quantity, limit, LEVEL_UNITS[quantity], int(r.n),
                             r.median if median else r.max, (r.median > limit) if median else None,
                             None if median else int(r.n_above))
        out.setdefault(_raw(r, keys), []).append((r.level, r.q, result))
    return {raw: [item[2] for item in sorted(items, key=lambda i: (i[0], i[1]))] for raw, items in out.items()}


def _ranked(ranks: dict) -> dict:
    return {k: v for k, v in ranks.items() if v is not None}


def _named_levels(qa_protocols: list[str], warnings: list[str]) -> dict[str, str | None]:
    """The reference level each built-in qa protocol names (a stored id that is no built-in protocol
    is never read as a path: its studies take a level by its id's pattern, names and regions)."""
    from qa.errors import DefinitionError
    from qa.procedures import available_protocols, load_protocol

    builtin = set(available_protocols())
    out: dict[str, str | None] = {}
    for pid in qa_protocols:
        if pid not in builtin:
            warnings.append(f"the qa protocol {pid!r} of stored studies is not a built-in protocol: the reference level it may "
                            "name is unknown here, its studies take a level by their names and target regions")
            continue
        try:
            out[pid] = load_protocol(pid).reference_level
        except DefinitionError as exc:  # a broken built-in file: say so, compare without its level
            warnings.append(f"the qa protocol {pid!r} could not be read ({exc.message})")
    return out


def _studies(connection, where, scanner_rows) -> tuple[StudyItem, ...]:
    """Every study kept, by date, with its events (:mod:`qa.store.study_list`)."""
    import json

    from qa.records.dose import DoseCheck
    from qa.store.study_list import event_rows, study_rows

    events: dict[int, list[StudyEvent]] = {}
    for e in event_rows(connection, where):
        mine = events.setdefault(e.study_id, [])
        check = DoseCheck.from_stored(json.loads(e.dose_check)) if e.dose_check else None
        mine.append(StudyEvent(len(mine) + 1, e.acquisition_type, e.protocol, e.target_region, e.phantom, e.ctdivol_mgy, e.dlp_mgycm,
                               e.kvp, e.tube_current_ma, e.exposure_time_s, e.pitch, e.total_collimation_mm, e.scanning_length_mm, check))
    return tuple(
        StudyItem(r.study_key, r.study_datetime, r.study_month, _scanner(scanner_rows[r.scanner_id]), r.protocol, r.qa_protocol,
                  bool(r.is_calcium_score), bool(r.is_qa), bool(r.has_dose_report), int(r.n_events), r.ctdivol_mgy, r.dlp_total_mgycm,
                  r.dose_msv, int(r.n_alert), int(r.n_notification), tuple(events.get(r.id, ())))
        for r in study_rows(connection, where))


# ------------------------------------------------------------------------------------ compliance


def _compliance(connection, keys, where, scanner_rows) -> list[ComplianceGroup]:
    from qa.store import trends as q

    counts = q.group_counts(connection, keys, where)
    verdicts = {_raw(r, keys): r for r in q.checklist_verdicts(connection, keys, where)}
    checks: dict[tuple, list[CheckCounts]] = {}
    for r in q.check_counts(connection, keys, where):
        by_status = {s: int(getattr(r, s)) for s in STATUSES}
        judged = by_status["pass"] + by_status["warn"] + by_status["fail"]
        checks.setdefault(_raw(r, keys), []).append(
            CheckCounts(r.check_id, by_status, judged, by_status["fail"] / judged if judged else None))
    groups = []
    for r in sorted(counts, key=lambda r: _sort_key(_raw(r, keys), keys, scanner_rows)):
        raw = _raw(r, keys)
        v = verdicts.get(raw)
        mine = sorted(checks.get(raw, ()), key=lambda c: (c.failure_rate is None, -(c.failure_rate or 0.0), c.id))
        groups.append(ComplianceGroup(_group_keys(r, keys, scanner_rows), int(r.n_studies), int(r.n_qa), int(r.n_all - r.n_studies),
                                      int(v.n_checked) if v else 0, {s: int(getattr(v, s)) if v else 0 for s in CHECKLIST_VERDICTS},
                                      tuple(mine)))
    return groups


__all__ = ["COMPLIANCE", "DOSE", "parse_by", "store_trends"]
