"""Phantom runs in the store: one phantom-QA result (a :class:`qa.phantom.analysis.PhantomResult`) per series and configuration.

A run keeps its whole document (provenance: toolkit version, procedure and its SHA-256,
settings, SOP Instance UIDs), its metrics (one row each, for trends in SQL) and its checks with
the reference and the limits that applied that day.  Re-analysing a series in the same
configuration replaces the earlier result instead of adding a second one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.errors import UsageError
from qa.records.provenance import Provenance
from qa.records.serialize import to_jsonable
from qa.store import scanners as scanner_rows
from qa.store.sql import bind_instant, read_instant, session_of
from qa.store.timestamps import utc_instant

if TYPE_CHECKING:
    from qa.phantom.analysis import PhantomResult


@dataclass(frozen=True)
class RunRow:
    id: int
    scanner_id: int
    series_instance_uid: str
    acquired_at: dt.datetime | None  # aware, UTC
    analysed_at: dt.datetime  # aware, UTC
    configuration_key: str
    protocol_ok: bool
    verdict: str
    metrics: dict[str, float | None]


def save(connection, result: PhantomResult, provenance: Provenance) -> tuple[int, bool]:
    """Store one phantom-QA result on ``connection`` (inside its transaction); (run id, replaced).
    ``connection``: a SQLAlchemy connection or a :class:`qa.store.sql.Session`.

    The stored document is the result's ``qa.phantom/1`` form with its analysis time and
    provenance.  The acquisition time (as the scanner wrote it, without an offset) is local time of
    this computer; the analysis time must be aware.
    """
    session = session_of(connection)
    acquired = result.acquisition.acquisition_datetime
    document = to_jsonable(result) | {"analysis_time": to_jsonable(provenance.analysis_time), "provenance": to_jsonable(provenance)}
    values = {
        "series_instance_uid": result.series.series_instance_uid,
        "acquired_at": bind_instant(None if acquired is None else utc_instant(acquired, field="acquisition_datetime",
                                                                              naive_is_local=True), session.dialect),
        "analysed_at": bind_instant(utc_instant(provenance.analysis_time, field="analysis_time"), session.dialect),
        "qa_version": provenance.qa_version,
        "procedure_id": result.procedure.id,
        "procedure_sha256": result.procedure.sha256,
        "phantom_id": result.phantom,
        "settings_key": json.dumps(document["settings"], sort_keys=True),
        "configuration_key": result.configuration.key,
        "protocol_ok": bool(result.protocol_ok),
        "verdict": result.verdict,
        "document": json.dumps(document, sort_keys=True),
    }
    values["scanner_id"] = scanner_rows.get_or_create_id(session, result.scanner)
    existing = session.first(
        "SELECT id FROM phantom_runs WHERE scanner_id = :scanner_id AND series_instance_uid = :series_instance_uid "
        "AND configuration_key = :configuration_key", values)
    columns = list(values)
    if existing is not None:
        run_id = int(existing.id)
        session.run("DELETE FROM phantom_metrics WHERE run_id = :run_id", {"run_id": run_id})
        session.run("DELETE FROM phantom_checks WHERE run_id = :run_id", {"run_id": run_id})
        session.run(f"UPDATE phantom_runs SET {', '.join(f'{c} = :{c}' for c in columns)} WHERE id = :run_id",
                    {**values, "run_id": run_id})
    else:
        run_id = session.insert(f"INSERT INTO phantom_runs ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
                                values)
    metrics = [{"run_id": run_id, "metric": k, "value": v} for k, v in result.metrics.items()]
    if metrics:
        session.run_many("INSERT INTO phantom_metrics (run_id, metric, value) VALUES (:run_id, :metric, :value)", metrics)
    checks = [
        {
            "run_id": run_id,
            "check_id": chk.id,
            "status": chk.status,
            "measured": json.dumps(to_jsonable(chk.measured)),
            "expected": json.dumps(to_jsonable(chk.expected)),
            "message": chk.message,
            "source": json.dumps(to_jsonable(chk.source), sort_keys=True),
        }
        for chk in result.checks
    ]
    if checks:
        session.run_many("INSERT INTO phantom_checks (run_id, check_id, status, measured, expected, message, source) "
                         "VALUES (:run_id, :check_id, :status, :measured, :expected, :message, :source)", checks)
    return run_id, existing is not None


def runs(connection, scanner_id: int, *, configuration_key: str | None = None, protocol_ok_only: bool = False) -> list[RunRow]:
    """Runs of a scanner in acquisition order (else analysis order), with their metrics."""
    session = session_of(connection)
    where = "r.scanner_id = :scanner_id"
    if configuration_key is not None:
        where += " AND r.configuration_key = :configuration_key"
    if protocol_ok_only:
        where += " AND r.protocol_ok = :true"
    params = {"scanner_id": scanner_id, "configuration_key": configuration_key, "true": True}
    rows = session.rows("SELECT r.id, r.scanner_id, r.series_instance_uid, r.acquired_at, r.analysed_at, r.configuration_key, "
                        f"r.protocol_ok, r.verdict FROM phantom_runs r WHERE {where}", params)
    metrics: dict[int, dict[str, float | None]] = {r.id: {} for r in rows}
    if rows:
        for m in session.rows("SELECT m.run_id, m.metric, m.value FROM phantom_metrics m JOIN phantom_runs r ON r.id = m.run_id "
                              f"WHERE {where}", params):
            if m.run_id in metrics:  # a run committed between the two queries (READ COMMITTED) is not among the rows read
                metrics[m.run_id][m.metric] = m.value
    out = [
        RunRow(r.id, r.scanner_id, r.series_instance_uid, read_instant(r.acquired_at, session.dialect),
               read_instant(r.analysed_at, session.dialect), r.configuration_key, bool(r.protocol_ok), r.verdict, metrics[r.id])
        for r in rows
    ]
    out.sort(key=lambda r: (r.acquired_at or r.analysed_at, r.id))
    return out


def document(connection, run_id: int) -> dict:
    row = session_of(connection).first("SELECT document FROM phantom_runs WHERE id = :id", {"id": run_id})
    if row is None:
        raise UsageError(f"no stored run #{run_id}")
    return json.loads(row.document)


def checks(connection, run_id: int) -> list[dict]:
    rows = session_of(connection).rows("SELECT check_id, status, measured, expected, message, source FROM phantom_checks "
                                       "WHERE run_id = :run_id", {"run_id": run_id})
    return [
        {"id": r.check_id, "status": r.status, "measured": json.loads(r.measured), "expected": json.loads(r.expected),
         "message": r.message, "source": json.loads(r.source)}
        for r in rows
    ]
