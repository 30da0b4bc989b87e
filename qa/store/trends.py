"""The manager's aggregates of the stored studies (``qa trends``, the dashboard), computed in the database.

Every function runs SQL on a connection (:meth:`qa.store.Store.snapshot` gives one read
transaction for all of them) and returns rows per group, never a row per study, except the outliers
it selects.  The SQL is the same on SQLite and PostgreSQL: ``GROUP BY``, window functions and the
portable percentiles of :mod:`qa.store.percentiles`.

* The studies kept (:class:`StudyFilter`): a date window on ``study_datetime`` (index
  ``ix_studies_datetime``), a scanner (``ix_studies_scanner_month``), a list of protocols as
  written (``ix_studies_protocol``).  Their events and checklists are read by their study
  (``ix_dose_events_study``, ``uq_exam_check``): a period costs what its studies cost, whatever
  the size of the store (``benchmarks/bench_trends.py``).
* Groups: any of ``scanner`` (``studies.scanner_id``), ``protocol`` (as the scanner wrote it) and
  ``month`` (``studies.study_month``, 'YYYY-MM' as written); NULL keys form a group of their own.
* ``n_studies``: studies holding a CT dose report (``has_dose_report``), QA studies included and
  counted apart (``n_qa``); ``n_all`` counts every study kept, with a dose report or not.
* The dose statistics, the reference levels and the outliers are over the *compared* studies:
  those with a dose report that are not QA studies (a phantom's dose is no patient's dose).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from qa.store.percentiles import MEDIAN_QUARTERS, interpolate, pick, ranked
from qa.store.percentiles import distribution as _distribution
from qa.records.trends import CHECKLIST_VERDICTS
from qa.store.schema import dose_events, exam_check_results, exam_checks, studies

GROUP_KEYS = ("scanner", "protocol", "month")
# The dose quantities of a study (columns of ``studies``).
QUANTITIES = ("ctdivol_mgy", "dlp_total_mgycm", "dose_msv")
STATUSES = ("pass", "warn", "fail", "not_available", "not_applicable")
VERDICTS = CHECKLIST_VERDICTS  # pass, incomplete, warn, fail: each counted apart

_KEY_COLUMNS = {"scanner": studies.c.scanner_id, "protocol": studies.c.protocol, "month": studies.c.study_month}


@dataclass(frozen=True)
class StudyFilter:
    """Which studies: ``start`` <= study_datetime < ``end`` (aware; None: open), of one scanner
    (row id), of these protocols as written (None in the tuple: no protocol; the tuple None: all)."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    scanner_id: int | None = None
    protocols: tuple[str | None, ...] | None = None

    def conditions(self) -> list:
        out = []
        if self.start is not None:
            out.append(studies.c.study_datetime >= self.start)
        if self.end is not None:
            out.append(studies.c.study_datetime < self.end)
        if self.scanner_id is not None:
            out.append(studies.c.scanner_id == self.scanner_id)
            out += self._months()
        if self.protocols is not None:
            named = sorted(p for p in self.protocols if p is not None)
            condition = studies.c.protocol.in_(named)
            out.append(sa.or_(condition, studies.c.protocol.is_(None)) if None in self.protocols else condition)
        return out

    def _months(self) -> list:
        """For one scanner's period: its months too, so that ``ix_studies_scanner_month`` reads that
        scanner's rows of those months only (``ix_studies_datetime`` would read every scanner's).
        ``study_month`` is the month of the scanner's wall clock, which differs from the UTC instant
        ``study_datetime`` by less than a day (UTC-12 to UTC+14): the months of the period widened by
        a day each way keep every study the dates keep, and the dates decide."""
        out = []
        if self.start is not None:
            out.append((self.start - dt.timedelta(days=1)).astimezone(dt.timezone.utc).strftime("%Y-%m"))
        if self.end is not None:
            out.append((self.end + dt.timedelta(days=1)).astimezone(dt.timezone.utc).strftime("%Y-%m"))
        month = studies.c.study_month
        if self.start is not None and self.end is not None:
            condition = month.between(out[0], out[1])
        elif self.start is not None:
            condition = month >= out[0]
        elif self.end is not None:
            condition = month <= out[0]
        else:
            return []
        return [sa.or_(condition, month.is_(None))]  # a dated study without its month (none is stored so) is kept


def _compared():
    """The studies whose dose is compared: a dose report, not a QA study."""
    return sa.and_(studies.c.has_dose_report.is_(sa.true()), studies.c.is_qa.is_(sa.false()))


def _keys(by: tuple[str, ...]) -> list:
    return [_KEY_COLUMNS[key].label(key) for key in by]


def _count_if(condition):
    return sa.func.sum(sa.case((condition, 1), else_=0))


# ------------------------------------------------------------------------------------ what is there


def protocols(connection: sa.Connection, where: StudyFilter) -> list[str | None]:
    """The distinct protocols (as written) of the studies ``where`` keeps."""
    query = sa.select(studies.c.protocol).where(*where.conditions()).distinct()
    return list(connection.execute(query).scalars())


def undated(connection: sa.Connection, where: StudyFilter) -> int:
    """Studies the filter would keep but for their unknown date (counted when a date window is given)."""
    plain = StudyFilter(None, None, where.scanner_id, where.protocols)
    query = sa.select(sa.func.count()).select_from(studies).where(*plain.conditions(), studies.c.study_datetime.is_(None))
    return int(connection.execute(query).scalar_one())


def group_counts(connection: sa.Connection, by: tuple[str, ...], where: StudyFilter) -> list:
    """Per group: ``n_all`` (every study), ``n_studies`` (with a dose report), ``n_qa`` (of those, QA studies)."""
    report = studies.c.has_dose_report.is_(sa.true())
    query = sa.select(
        *_keys(by),
        sa.func.count().label("n_all"),
        _count_if(report).label("n_studies"),
        _count_if(sa.and_(report, studies.c.is_qa.is_(sa.true()))).label("n_qa"),
    ).where(*where.conditions()).group_by(*_keys(by))
    return [r for r in connection.execute(query).all() if r.n_all]


# ------------------------------------------------------------------------------------ dose


# Which quantity a row of the long form holds: a three-row table the kept studies are crossed with.
def _quantity_rows() -> sa.Subquery:
    return sa.union_all(*(sa.select(sa.literal(i).label("q")) for i in range(len(QUANTITIES)))).subquery("quantities")


def _long(by: tuple[str, ...], where: StudyFilter, level=None) -> sa.Subquery:
    """One row per compared study and quantity with a value: (quantity index ``q``, keys, ``level``
    when given (an expression per study), ``v``).  The studies are read once (by the filter's index)
    and crossed with the three quantities."""
    extra = [level.label("level")] if level is not None else []
    kept = sa.select(*_keys(by), *(studies.c[name] for name in QUANTITIES), *extra).where(*where.conditions(), _compared())
    if level is not None:  # OFFSET 0 keeps the database from merging this query into the next: the level is computed once a study
        kept = kept.offset(0)
    kept = kept.subquery("kept")
    quantities = _quantity_rows()
    value = sa.case(*((quantities.c.q == i, kept.c[name]) for i, name in enumerate(QUANTITIES)))
    return sa.select(quantities.c.q, *(kept.c[k] for k in by), *([kept.c.level] if level is not None else []), value.label("v")) \
        .select_from(kept.join(quantities, sa.true())).where(value.is_not(None)).subquery("long")


def dose_distributions(connection: sa.Connection, by: tuple[str, ...], where: StudyFilter) -> list:
    """Per group and quantity (``q``: the index in :data:`QUANTITIES`): ``n``, ``mean``, ``median``, ``p75``, ``max``."""
    result = _distribution(_long(by, where), ["q", *by])
    return connection.execute(sa.select(result)).all()


def _ids_in(connection: sa.Connection, column, ids: sa.Select, where: StudyFilter):
    """``column IN (ids)``.  PostgreSQL plans an IN-subquery as a hash join that reads the whole of
    ``column``'s table; for a period or a scanner, ``column = ANY(ARRAY(ids))`` is planned as an
    index scan instead (the array's length is unknown when planning), so that the cost follows the
    studies kept, not the table.  Both select the same rows."""
    period = where.start is not None or where.end is not None or where.scanner_id is not None
    if period and connection.dialect.name == "postgresql":
        return column == sa.any_(sa.func.array(ids.scalar_subquery()))
    return column.in_(ids)


def _kept_ids(where: StudyFilter, *, compared: bool) -> sa.Select:
    return sa.select(studies.c.id).where(*where.conditions(), *((_compared(),) if compared else ()))


@dataclass(frozen=True)
class LevelRanks:
    """The rank (:func:`qa.dose.level_rank`) of each distinct input that matches a level: a qa
    protocol id, a name (the study's protocol or an event's Acquisition Protocol), a target region
    (code, scheme).  ``n_levels``: the levels in the tables (rank modulo it is the level's index)."""

    n_levels: int
    qa_protocol: dict[str, int]
    name: dict[str, int]
    region: dict[tuple[str, str], int]


@dataclass(frozen=True)
class LevelInputs:
    """The distinct inputs of the level choice among the compared studies ``where`` keeps."""

    qa_protocols: list[str]
    names: list[str]
    regions: list[tuple[str, str]]


def level_inputs(connection: sa.Connection, where: StudyFilter) -> LevelInputs:
    kept = (*where.conditions(), _compared())
    pairs = connection.execute(sa.select(studies.c.qa_protocol, studies.c.protocol).where(*kept).distinct()).all()
    events = connection.execute(
        sa.select(dose_events.c.protocol, dose_events.c.target_region_code, dose_events.c.target_region_scheme)
        .where(_ids_in(connection, dose_events.c.study_id, _kept_ids(where, compared=True), where)).distinct()).all()
    names = {p for _, p in pairs if p is not None} | {e.protocol for e in events if e.protocol is not None}
    regions = {(e.target_region_code, e.target_region_scheme) for e in events
               if e.target_region_code is not None and e.target_region_scheme is not None}
    return LevelInputs(sorted({q for q, _ in pairs if q is not None}), sorted(names), sorted(regions))


def study_level(ranks: LevelRanks):
    """The index of a study's reference level (NULL: none), an expression over ``studies``: the
    smallest rank among its qa protocol, its protocol and its events' names and target regions,
    modulo the number of levels.  One correlated subquery (its events are found by
    ``ix_dose_events_study``); None when no input matches any level."""
    if not (ranks.qa_protocol or ranks.name or ranks.region):
        return None
    e = dose_events.alias("e")
    candidates = []
    if ranks.qa_protocol:
        candidates.append(sa.select(sa.case(ranks.qa_protocol, value=studies.c.qa_protocol).label("r")).correlate(studies))
    if ranks.name:
        candidates.append(sa.select(sa.case(ranks.name, value=studies.c.protocol).label("r")).correlate(studies))
        candidates.append(sa.select(sa.case(ranks.name, value=e.c.protocol).label("r")).where(e.c.study_id == studies.c.id)
                          .correlate(studies))
    if ranks.region:
        rank = sa.case(*[(sa.and_(e.c.target_region_code == c, e.c.target_region_scheme == s), r) for (c, s), r in sorted(ranks.region.items())])
        candidates.append(sa.select(rank.label("r")).where(e.c.study_id == studies.c.id).correlate(studies))
    union = sa.union_all(*candidates).subquery("candidates")
    return sa.select(sa.func.min(union.c.r) % ranks.n_levels).scalar_subquery()


def level_distributions(connection: sa.Connection, by: tuple[str, ...], where: StudyFilter, ranks: LevelRanks,
                        limits: dict[tuple[int, int], float]) -> list:
    """Per group, reference level (``level``: its index) and quantity (``q``): the distribution of
    the compared studies whose level it is, and ``n_above``: how many exceed ``limits[(level, q)]``."""
    level = study_level(ranks)
    if level is None or not limits:
        return []
    long = _long(by, where, level=level)
    long = sa.select(long).where(long.c.level.is_not(None)).subquery("with_level")

    def limit(c):
        return sa.case(*[(sa.and_(c.level == index, c.q == q), value) for (index, q), value in sorted(limits.items())])

    result = _distribution(long, ["q", "level", *by], limit=limit)
    return connection.execute(sa.select(result)).all()


def outliers(connection: sa.Connection, where: StudyFilter, quantity: str, *, threshold: float, mad_factor: float,
             min_group: int) -> list:
    """Compared studies whose ``quantity`` lies more than ``threshold`` robust standard deviations
    from the median of its scanner + protocol group: ``|v - median| > threshold * mad_factor * MAD``
    (MAD: the median of the absolute deviations from the median), in groups of at least
    ``min_group`` values with MAD > 0.  Computed with window functions over the groups (no join
    back, so a NULL protocol is a group like any other).  Rows: study_key, study_datetime,
    study_month, scanner_id, protocol, v, median, mad, n, z."""
    column = studies.c[quantity]
    base = sa.select(studies.c.study_key, studies.c.study_datetime, studies.c.study_month, studies.c.scanner_id,
                     studies.c.protocol, column.label("v")).where(*where.conditions(), _compared(), column.is_not(None)).subquery()
    group = ["scanner_id", "protocol"]
    rows = ranked(base, group)
    over = [rows.c.scanner_id, rows.c.protocol]
    with_median = sa.select(rows, pick(rows, MEDIAN_QUARTERS, 0, over=over).label("m_low"),
                            pick(rows, MEDIAN_QUARTERS, 1, over=over).label("m_high")).subquery()
    c = with_median.c
    deviations = sa.select(c.study_key, c.study_datetime, c.study_month, c.scanner_id, c.protocol, c.v, c.n,
                           interpolate(c.n, c.m_low, c.m_high, MEDIAN_QUARTERS).label("median")).subquery()
    d = deviations.c
    absolute = sa.select(deviations, sa.func.abs(d.v - d.median).label("d")).subquery()
    by_deviation = sa.select(absolute, sa.func.row_number().over(partition_by=[absolute.c.scanner_id, absolute.c.protocol],
                                                                 order_by=absolute.c.d).label("rn")).subquery()
    over = [by_deviation.c.scanner_id, by_deviation.c.protocol]
    with_mad = sa.select(by_deviation, pick(by_deviation, MEDIAN_QUARTERS, 0, over=over, value="d").label("d_low"),
                         pick(by_deviation, MEDIAN_QUARTERS, 1, over=over, value="d").label("d_high")).subquery()
    w = with_mad.c
    mad = interpolate(w.n, w.d_low, w.d_high, MEDIAN_QUARTERS)
    scored = sa.select(w.study_key, w.study_datetime, w.study_month, w.scanner_id, w.protocol, w.v, w.median, mad.label("mad"),
                       w.n).where(w.n >= min_group).subquery()
    s = scored.c
    z = (s.v - s.median) / (s.mad * mad_factor)
    query = sa.select(scored, z.label("z")).where(s.mad > 0, sa.func.abs(s.v - s.median) > s.mad * (threshold * mad_factor))
    return connection.execute(query).all()


def events_per_study(connection: sa.Connection, by: tuple[str, ...], where: StudyFilter) -> list:
    """Per group: the distribution (``n``, ``mean``, ``median``, ``p75``, ``max``) of the compared
    studies' irradiation events (``studies.n_events``: localizers included, as the reports list them)."""
    kept = sa.select(sa.literal(0).label("g"), *_keys(by), studies.c.n_events.label("v")) \
        .where(*where.conditions(), _compared()).subquery("kept")
    result = _distribution(kept, ["g", *by])
    return connection.execute(sa.select(result)).all()


def json_true(connection: sa.Connection, column, key: str):
    """``column`` (text holding a JSON object) has ``key`` = true: a SQL condition (NULL when the
    text is NULL or the key absent).  SQLite's JSON1 ``json_extract`` gives 1 for true; PostgreSQL
    reads the text as ``jsonb``.  Used for the CT Dose Check details kept as JSON with each event."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return sa.cast(column, JSONB)[key].astext == "true"
    return sa.func.json_extract(column, f"$.{key}") == 1


def dose_check_counts(connection: sa.Connection, by: tuple[str, ...], where: StudyFilter) -> list:
    """Per group, over the events of the studies holding a dose report (QA studies included):
    ``n_events``, ``n_checked`` (with CT Dose Check details), ``n_alert`` / ``n_notification``
    (an alert / notification value exceeded) and ``n_studies_exceeded`` (studies with either)."""
    e = dose_events.c
    alert, notification = json_true(connection, e.dose_check, "alert_exceeded"), json_true(connection, e.dose_check, "notification_exceeded")
    query = sa.select(
        *_keys(by), sa.func.count().label("n_events"), _count_if(e.dose_check.is_not(None)).label("n_checked"),
        _count_if(alert).label("n_alert"), _count_if(notification).label("n_notification"),
        sa.func.count(sa.distinct(sa.case((sa.or_(alert, notification), e.study_id)))).label("n_studies_exceeded"),
    ).select_from(dose_events.join(studies, studies.c.id == e.study_id)) \
        .where(*where.conditions(), studies.c.has_dose_report.is_(sa.true())).group_by(*_keys(by))
    return connection.execute(query).all()


# ------------------------------------------------------------------------------------ compliance


def _latest_checklists(connection: sa.Connection, where: StudyFilter) -> sa.Subquery:
    """The latest checklist of each study kept (by analysis time, then row id): (``check_row``,
    ``study_id``, ``verdict``); the checklists are found by their study (``uq_exam_check``'s index)."""
    ordered = sa.select(
        exam_checks.c.id.label("check_row"), exam_checks.c.study_id, exam_checks.c.verdict,
        sa.func.row_number().over(partition_by=exam_checks.c.study_id,
                                  order_by=[exam_checks.c.analysed_at.desc(), exam_checks.c.id.desc()]).label("rn"),
    ).where(_ids_in(connection, exam_checks.c.study_id, _kept_ids(where, compared=False), where)).subquery()
    return sa.select(ordered.c.check_row, ordered.c.study_id, ordered.c.verdict).where(ordered.c.rn == 1).subquery()


def checklist_verdicts(connection: sa.Connection, by: tuple[str, ...], where: StudyFilter) -> list:
    """Per group: ``n_checked`` (studies with a checklist) and the latest checklists' verdicts
    (``pass``, ``incomplete``, ``warn``, ``fail``; a row stored as another word counts in none of them)."""
    latest = _latest_checklists(connection, where)
    query = sa.select(*_keys(by), sa.func.count().label("n_checked"),
                      *[_count_if(latest.c.verdict == v).label(v) for v in VERDICTS])
    query = query.select_from(latest.join(studies, studies.c.id == latest.c.study_id)).where(*where.conditions()).group_by(*_keys(by))
    return connection.execute(query).all()


def check_counts(connection: sa.Connection, by: tuple[str, ...], where: StudyFilter) -> list:
    """Per group and check id (``check_id``): how many of the latest checklists gave each status (:data:`STATUSES`)."""
    latest = _latest_checklists(connection, where)
    results = exam_check_results
    source = latest.join(studies, studies.c.id == latest.c.study_id).join(results, results.c.exam_check_id == latest.c.check_row)
    query = sa.select(*_keys(by), results.c.check_id, *[_count_if(results.c.status == s).label(s) for s in STATUSES])
    query = query.select_from(source).where(*where.conditions()).group_by(*_keys(by), results.c.check_id)
    return connection.execute(query).all()
