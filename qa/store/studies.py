"""Studies in the store: one row per study (by ``study_key``), its dose events, exam checklists and ingested objects.

:func:`save` writes one :class:`~qa.records.study.StudyRecord` on a connection inside the
caller's transaction (:meth:`qa.store.Store.save_study` makes it one transaction per study):

* the study row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` already holds the write lock), so two processes saving one study take turns,
  and the second sees what the first wrote;
* a study stored already is merged: ``merge(stored, new)`` (the workflow's, which recomputes the
  dose of the merged events) gives the record to store; without it the stored events are kept and
  the new record's events (by Irradiation Event UID) replace or join them;
* events are kept once per Irradiation Event UID; an event UID stored under another study is
  refused (:class:`~qa.errors.InputError`), never moved silently;
* a checklist replaces the stored one of the same series and protocol; others are kept (as the
  merge returns them: it may judge their dose checks again on a dose report stored later);
* an unchanged study (the same fingerprint: every stored value but times, documents of checklists
  and the toolkit version) is not written again: ``unchanged``;
* its objects (SOP Instance UIDs) are recorded in ``ingested_objects``.

A lost race (a study or object inserted meanwhile by another process) raises the database's
unique-key error, which :func:`qa.store.engine.retry` answers by running the whole transaction again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import replace

import sqlalchemy as sa

from qa.errors import InputError
from qa.records.checks import Check
from qa.records.identity import ScannerIdentity
from qa.records.serialize import to_jsonable
from qa.records.study import (ADDED, UNCHANGED, UPDATED, DoseEventRecord, ExamCheckRecord, IngestedObject, SavedStudy,
                              StoredStudy, StudyRecord)
from qa.store import scanners as scanner_rows
from qa.store.schema import dose_events, exam_check_results, exam_checks, ingested_objects, scanners, studies
from qa.store.timestamps import utc_instant, utc_now

Merge = Callable[[StoredStudy, StudyRecord], StudyRecord]

# Rows per IN (...) list: far below SQLite's and PostgreSQL's limits on bound parameters.
_CHUNK = 500

_EVENT_COLUMNS = ("acquisition_type", "protocol", "target_region", "target_region_code", "target_region_scheme", "phantom",
                  "ctdivol_mgy", "dlp_mgycm", "kvp", "tube_current_ma", "exposure_time_s", "pitch", "total_collimation_mm",
                  "scanning_length_mm")
_STUDY_COLUMNS = ("study_month", "protocol", "qa_protocol", "patient_key", "accession_key", "operator_key", "is_calcium_score",
                  "is_qa", "has_dose_report", "dose_source", "ctdivol_mgy", "dlp_total_mgycm", "dose_msv", "k_msv_per_mgycm",
                  "k_source")


def fingerprint(record: StudyRecord, scanner_id: int) -> str:
    """SHA-256 of what a study holds: every value but the objects, the toolkit version, and the
    checklists' times and documents (re-checking an unchanged exam changes nothing); the scanner
    by its row."""
    body = to_jsonable(replace(record, objects=(), qa_version="", exam_checks=()))
    body["scanner"] = scanner_id
    body["study_datetime"] = _instant_text(record.study_datetime)
    body["exam_checks"] = sorted(
        (to_jsonable([c.series_key, c.protocol_id, c.protocol_sha256, c.verdict, c.checks]) for c in record.exam_checks), key=repr)
    body["events"] = sorted(body["events"], key=lambda e: e["irradiation_event_uid"])
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def save(connection: sa.Connection, record: StudyRecord, *, merge: Merge | None = None) -> SavedStudy:
    """Store ``record`` on ``connection`` (inside the caller's transaction); see the module doc."""
    row = connection.execute(sa.select(studies).where(studies.c.study_key == record.study_key).with_for_update()).first()
    given_checks = {(c.series_key, c.protocol_id) for c in record.exam_checks}
    before: dict = {}
    if row is not None:
        stored = _stored(connection, row)
        before = {(c.series_key, c.protocol_id): c for c in stored.record.exam_checks}
        record = merge(stored, record) if merge is not None else record
        record = _joined(stored.record, record)
    scanner_id = scanner_rows.get_or_create_id(connection, record.scanner)  # the merged record's: a scanner only when it is kept
    if row is not None:
        if row.fingerprint == fingerprint(record, scanner_id):
            _mark(connection, record.objects, row.id)
            return SavedStudy(int(row.id), UNCHANGED)
    values = {name: getattr(record, name) for name in _STUDY_COLUMNS}
    values.update(
        scanner_id=scanner_id,
        study_datetime=_instant(record.study_datetime),
        n_events=len(record.events),
        ingested_at=utc_now(),
        qa_version=record.qa_version,
        fingerprint=fingerprint(record, scanner_id),
        document=None if record.document is None else json.dumps(to_jsonable(record.document), sort_keys=True),
    )
    if row is None:
        study_id = int(connection.execute(studies.insert().values(study_key=record.study_key, **values)).inserted_primary_key[0])
    else:
        study_id = int(row.id)
        connection.execute(studies.update().where(studies.c.id == study_id).values(**values))
    _write_events(connection, study_id, record.events)
    for check in record.exam_checks:  # the given checklists, and stored ones the merge changed (judged on a later dose report)
        key = (check.series_key, check.protocol_id)
        if row is None or key in given_checks or before.get(key) != check:
            _write_check(connection, study_id, check)
    _mark(connection, record.objects, study_id)
    return SavedStudy(study_id, ADDED if row is None else UPDATED)


def _joined(stored: StudyRecord, new: StudyRecord) -> StudyRecord:
    """``new`` with the stored events, checklists and objects it does not hold (the new ones win)."""
    new_uids = {e.irradiation_event_uid for e in new.events}
    events = tuple(e for e in stored.events if e.irradiation_event_uid not in new_uids) + new.events
    new_checks = {(c.series_key, c.protocol_id) for c in new.exam_checks}
    checks = tuple(c for c in stored.exam_checks if (c.series_key, c.protocol_id) not in new_checks) + new.exam_checks
    return replace(new, events=events, exam_checks=checks)


def _write_events(connection: sa.Connection, study_id: int, events: tuple[DoseEventRecord, ...]) -> None:
    uids = [e.irradiation_event_uid for e in events]
    for chunk in _chunks(uids):
        elsewhere = connection.execute(sa.select(dose_events.c.irradiation_event_uid).where(
            dose_events.c.irradiation_event_uid.in_(chunk), dose_events.c.study_id != study_id)).scalars().first()
        if elsewhere is not None:
            raise InputError(None, "Irradiation Event UID",
                             f"the irradiation event {elsewhere} is stored under another study already: one event cannot "
                             "belong to two studies",
                             hint="check the dose report's Study Instance UID and Irradiation Event UIDs (a copied or "
                                  "edited report?); the study was not stored")
    connection.execute(dose_events.delete().where(dose_events.c.study_id == study_id))
    rows = [{"study_id": study_id, "irradiation_event_uid": e.irradiation_event_uid,
             **{name: getattr(e, name) for name in _EVENT_COLUMNS},
             "sources": None if e.xray_sources is None else json.dumps(to_jsonable(e.xray_sources), sort_keys=True),
             "dose_check": None if e.dose_check is None else json.dumps(to_jsonable(e.dose_check), sort_keys=True)}
            for e in events]
    if rows:
        connection.execute(dose_events.insert(), rows)


def _write_check(connection: sa.Connection, study_id: int, check: ExamCheckRecord) -> None:
    connection.execute(exam_checks.delete().where(exam_checks.c.study_id == study_id, exam_checks.c.series_key == check.series_key,
                                                  exam_checks.c.protocol_id == check.protocol_id))
    check_id = int(connection.execute(exam_checks.insert().values(
        study_id=study_id, series_key=check.series_key, protocol_id=check.protocol_id, protocol_sha256=check.protocol_sha256,
        verdict=check.verdict, qa_version=check.qa_version, analysed_at=utc_instant(check.analysed_at, field="analysed_at"),
        document=json.dumps(to_jsonable(check.document), sort_keys=True))).inserted_primary_key[0])
    results = {}
    for c in check.checks:  # one row per check id (a repeated id keeps its last result, as the document shows them all)
        results[c.id] = {"exam_check_id": check_id, "check_id": c.id, "status": c.status,
                         "measured": json.dumps(to_jsonable(c.measured)), "expected": json.dumps(to_jsonable(c.expected)),
                         "message": c.message}
    if results:
        connection.execute(exam_check_results.insert(), list(results.values()))


def _mark(connection: sa.Connection, objects: Iterable[IngestedObject], study_id: int | None) -> None:
    """Record ``objects`` as ingested (those recorded already keep their row)."""
    mark_objects(connection, objects, study_id)


def mark_objects(connection: sa.Connection, objects: Iterable[IngestedObject], study_id: int | None) -> int:
    """Record ``objects`` as ingested, under ``study_id`` (None: not part of a stored study); returns
    how many were new.  An object recorded without a study joins the study it is now stored with."""
    by_uid = {o.sop_instance_uid: o for o in objects if o.sop_instance_uid}
    if not by_uid:
        return 0
    known: dict[str, int | None] = {}
    for chunk in _chunks(list(by_uid)):
        rows = connection.execute(sa.select(ingested_objects.c.sop_instance_uid, ingested_objects.c.study_id)
                                  .where(ingested_objects.c.sop_instance_uid.in_(chunk))).all()
        known.update({r.sop_instance_uid: r.study_id for r in rows})
    if study_id is not None:
        orphans = [uid for uid, sid in known.items() if sid is None]
        for chunk in _chunks(orphans):
            connection.execute(ingested_objects.update().where(ingested_objects.c.sop_instance_uid.in_(chunk)).values(study_id=study_id))
    now = utc_now()
    new = [{"sop_instance_uid": uid, "study_id": study_id, "kind": o.kind, "ingested_at": now}
           for uid, o in by_uid.items() if uid not in known]
    if new:
        connection.execute(ingested_objects.insert(), new)
    return len(new)


def stored_objects(connection: sa.Connection, uids: Iterable[str]) -> set[str]:
    """Which of ``uids`` are recorded in ``ingested_objects``."""
    found: set[str] = set()
    for chunk in _chunks(list(dict.fromkeys(uids))):
        found.update(connection.execute(sa.select(ingested_objects.c.sop_instance_uid)
                                        .where(ingested_objects.c.sop_instance_uid.in_(chunk))).scalars())
    return found


def find(connection: sa.Connection, study_key: str) -> StoredStudy | None:
    row = connection.execute(sa.select(studies).where(studies.c.study_key == study_key)).first()
    return None if row is None else _stored(connection, row)


def all_studies(connection: sa.Connection) -> list[StoredStudy]:
    """Every stored study, by date (then id)."""
    rows = connection.execute(sa.select(studies).order_by(studies.c.study_datetime, studies.c.id)).all()
    return [_stored(connection, r) for r in rows]


def counts(connection: sa.Connection) -> dict[str, int]:
    """Rows per table of the manager's view."""
    return {t.name: int(connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (studies, dose_events, exam_checks, exam_check_results, ingested_objects)}


def _stored(connection: sa.Connection, row) -> StoredStudy:
    scanner = connection.execute(sa.select(scanners).where(scanners.c.id == row.scanner_id)).one()
    identity = ScannerIdentity(scanner.manufacturer, scanner.model, scanner.serial or None, scanner.station_name, scanner.device_uid)
    events = tuple(
        DoseEventRecord(e.irradiation_event_uid, **{name: getattr(e, name) for name in _EVENT_COLUMNS},
                        xray_sources=None if e.sources is None else json.loads(e.sources),
                        dose_check=None if e.dose_check is None else json.loads(e.dose_check))
        for e in connection.execute(sa.select(dose_events).where(dose_events.c.study_id == row.id).order_by(dose_events.c.id)).all()
    )
    checks = []
    for c in connection.execute(sa.select(exam_checks).where(exam_checks.c.study_id == row.id).order_by(exam_checks.c.id)).all():
        results = connection.execute(sa.select(exam_check_results).where(exam_check_results.c.exam_check_id == c.id)).all()
        document = json.loads(c.document)
        order = {item.get("id"): n for n, item in enumerate(document.get("checks") or []) if isinstance(item, dict)}
        results = sorted(results, key=lambda r: (order.get(r.check_id, len(order)), r.check_id))
        checks.append(ExamCheckRecord(
            c.series_key, c.protocol_id, c.protocol_sha256, c.verdict, c.qa_version, c.analysed_at,
            tuple(Check(r.check_id, r.status, _loads(r.measured), _loads(r.expected), r.message or "",
                        _source(document, r.check_id)) for r in results),
            document))
    record = StudyRecord(
        study_key=row.study_key, scanner=identity, study_datetime=row.study_datetime,
        **{name: getattr(row, name) for name in _STUDY_COLUMNS},
        qa_version=row.qa_version, document=None if row.document is None else json.loads(row.document),
        events=events, exam_checks=tuple(checks),
    )
    return StoredStudy(int(row.id), int(row.scanner_id), record, row.ingested_at, row.study_datetime)


def _source(document: dict, check_id: str) -> dict:
    for item in document.get("checks") or []:
        if isinstance(item, dict) and item.get("id") == check_id:
            return item.get("source") or {}
    return {}


def _loads(text: str | None):
    return None if text is None else json.loads(text)


def _instant(value):
    if value is None:
        return None
    return utc_instant(value, field="study_datetime", naive_is_local=True)


def _instant_text(value) -> str | None:
    instant = _instant(value)
    return None if instant is None else instant.isoformat()


def _chunks(items: list) -> Iterable[list]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]
