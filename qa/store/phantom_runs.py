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

import sqlalchemy as sa

from qa.errors import UsageError
from qa.records.provenance import Provenance
from qa.records.serialize import to_jsonable
from qa.store import scanners as scanner_rows
from qa.store.schema import phantom_checks, phantom_metrics, phantom_runs
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


def save(connection: sa.Connection, result: PhantomResult, provenance: Provenance) -> tuple[int, bool]:
    """Store one phantom-QA result on ``connection`` (inside its transaction); (run id, replaced).

    The stored document is the result's ``qa.phantom/1`` form with its analysis time and
    provenance.  The acquisition time (as the scanner wrote it, without an offset) is local time of
    this computer; the analysis time must be aware.
    """
    acquired = result.acquisition.acquisition_datetime
    document = to_jsonable(result) | {"analysis_time": to_jsonable(provenance.analysis_time), "provenance": to_jsonable(provenance)}
    values = {
        "series_instance_uid": result.series.series_instance_uid,
        "acquired_at": None if acquired is None else utc_instant(acquired, field="acquisition_datetime", naive_is_local=True),
        "analysed_at": utc_instant(provenance.analysis_time, field="analysis_time"),
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
    values["scanner_id"] = scanner_rows.get_or_create_id(connection, result.scanner)
    existing = connection.execute(
        sa.select(phantom_runs.c.id).where(
            phantom_runs.c.scanner_id == values["scanner_id"],
            phantom_runs.c.series_instance_uid == values["series_instance_uid"],
            phantom_runs.c.configuration_key == values["configuration_key"],
        )
    ).first()
    if existing is not None:
        run_id = int(existing.id)
        connection.execute(phantom_metrics.delete().where(phantom_metrics.c.run_id == run_id))
        connection.execute(phantom_checks.delete().where(phantom_checks.c.run_id == run_id))
        connection.execute(phantom_runs.update().where(phantom_runs.c.id == run_id).values(**values))
    else:
        run_id = int(connection.execute(phantom_runs.insert().values(**values)).inserted_primary_key[0])
    metrics = [{"run_id": run_id, "metric": k, "value": v} for k, v in result.metrics.items()]
    if metrics:
        connection.execute(phantom_metrics.insert(), metrics)
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
        connection.execute(phantom_checks.insert(), checks)
    return run_id, existing is not None


def runs(connection: sa.Connection, scanner_id: int, *, configuration_key: str | None = None,
         protocol_ok_only: bool = False) -> list[RunRow]:
    """Runs of a scanner in acquisition order (else analysis order), with their metrics."""
    query = sa.select(phantom_runs).where(phantom_runs.c.scanner_id == scanner_id)
    if configuration_key is not None:
        query = query.where(phantom_runs.c.configuration_key == configuration_key)
    if protocol_ok_only:
        query = query.where(phantom_runs.c.protocol_ok.is_(True))
    rows = connection.execute(query).all()
    ids = [r.id for r in rows]
    metric_rows = connection.execute(sa.select(phantom_metrics).where(phantom_metrics.c.run_id.in_(ids))).all() if ids else []
    metrics: dict[int, dict[str, float | None]] = {i: {} for i in ids}
    for m in metric_rows:
        metrics[m.run_id][m.metric] = m.value
    out = [
        RunRow(r.id, r.scanner_id, r.series_instance_uid, r.acquired_at, r.analysed_at, r.configuration_key,
               bool(r.protocol_ok), r.verdict, metrics[r.id])
        for r in rows
    ]
    out.sort(key=lambda r: (r.acquired_at or r.analysed_at, r.id))
    return out


def document(connection: sa.Connection, run_id: int) -> dict:
    row = connection.execute(sa.select(phantom_runs.c.document).where(phantom_runs.c.id == run_id)).first()
    if row is None:
        raise UsageError(f"no stored run #{run_id}")
    return json.loads(row.document)


def checks(connection: sa.Connection, run_id: int) -> list[dict]:
    rows = connection.execute(sa.select(phantom_checks).where(phantom_checks.c.run_id == run_id)).all()
    return [
        {"id": r.check_id, "status": r.status, "measured": json.loads(r.measured), "expected": json.loads(r.expected),
         "message": r.message, "source": json.loads(r.source)}
        for r in rows
    ]
