"""The studies behind the trends, one row each, and their irradiation events (``qa trends dose --studies``).

The drill-down of a manager's aggregate: the studies a :class:`~qa.store.trends.StudyFilter` keeps
(a period, a scanner, protocols), by date, with their dose, how many irradiation events their
reports hold and how many of those had a CT Dose Check alert or notification value exceeded
(counted in SQL, :func:`qa.store.trends.json_true`); and every event of those studies in report
order.  Nothing here reads an identifier: a study is named by its ``study_key`` pseudonym, no
patient, accession or operator key is selected, and an event by its position in the study (its
Irradiation Event UID may carry the study's UID root, so it is not selected either).
"""

from __future__ import annotations

import sqlalchemy as sa

from qa.store.schema import dose_events, studies
from qa.store.trends import StudyFilter, _ids_in, json_true

_STUDY_COLUMNS = ("id", "study_key", "study_datetime", "study_month", "scanner_id", "protocol", "qa_protocol", "is_calcium_score",
                  "is_qa", "has_dose_report", "n_events", "ctdivol_mgy", "dlp_total_mgycm", "dose_msv")
_EVENT_COLUMNS = ("acquisition_type", "protocol", "target_region", "phantom", "ctdivol_mgy", "dlp_mgycm", "kvp", "tube_current_ma",
                  "exposure_time_s", "pitch", "total_collimation_mm", "scanning_length_mm", "dose_check")


def _kept(connection: sa.Connection, column, where: StudyFilter):
    """``column`` is the id of a study ``where`` keeps (found by the events' study index on both databases)."""
    return _ids_in(connection, column, sa.select(studies.c.id).where(*where.conditions()), where)


def study_rows(connection: sa.Connection, where: StudyFilter) -> list:
    """Every study ``where`` keeps (by date, undated last): the columns of :data:`_STUDY_COLUMNS` and
    ``n_alert`` / ``n_notification``, its events with a Dose Check alert / notification value exceeded."""
    e = dose_events.c
    counts = sa.select(
        e.study_id,
        sa.func.sum(sa.case((json_true(connection, e.dose_check, "alert_exceeded"), 1), else_=0)).label("n_alert"),
        sa.func.sum(sa.case((json_true(connection, e.dose_check, "notification_exceeded"), 1), else_=0)).label("n_notification"),
    ).where(_kept(connection, e.study_id, where), e.dose_check.is_not(None)).group_by(e.study_id).subquery("checks")
    query = (sa.select(*(studies.c[name] for name in _STUDY_COLUMNS), sa.func.coalesce(counts.c.n_alert, 0).label("n_alert"),
                       sa.func.coalesce(counts.c.n_notification, 0).label("n_notification"))
             .select_from(studies.outerjoin(counts, counts.c.study_id == studies.c.id))
             .where(*where.conditions())
             .order_by(studies.c.study_datetime.is_(None), studies.c.study_datetime, studies.c.id))
    return connection.execute(query).all()


def event_rows(connection: sa.Connection, where: StudyFilter) -> list:
    """Every irradiation event of the studies ``where`` keeps: ``study_id``, the columns of
    :data:`_EVENT_COLUMNS` (``dose_check`` as its stored JSON text), by study and in report order."""
    e = dose_events.c
    query = (sa.select(e.study_id, *(e[name] for name in _EVENT_COLUMNS))
             .where(_kept(connection, e.study_id, where)).order_by(e.study_id, e.id))
    return connection.execute(query).all()
