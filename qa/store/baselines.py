"""Baselines in the store: versioned per scanner and acquisition configuration, every change audited.

Setting a baseline makes a new version active for its configuration (the earlier versions stay,
inactive) and writes an audit event saying who set it, when, why and from which runs.
"""

from __future__ import annotations

import json
from typing import Any

from qa.phantom.baseline import Baseline, Configuration, MetricStats
from qa.store import scanners as scanner_rows
from qa.store.sql import bind_instant, read_instant, session_of
from qa.store.timestamps import utc_instant

# The columns of a baseline row (the table: qa.store.schema.baselines).
_BASELINE_COLUMNS = "id, scanner_id, configuration_key, version, created_at, created_by, reason, run_ids, stats, active"


def active(connection, scanner_id: int, configuration_key: str | None = None):
    """The active baseline of a scanner (see :meth:`qa.store.Store.active_baseline`), or None.
    ``connection``: a SQLAlchemy connection or a :class:`qa.store.sql.Session`."""
    session = session_of(connection)
    query = f"SELECT {_BASELINE_COLUMNS} FROM baselines WHERE scanner_id = :scanner_id AND active = :true"
    params = {"scanner_id": scanner_id, "true": True}
    row = None
    if configuration_key is not None:
        row = session.first(query + " AND configuration_key = :configuration_key", {**params, "configuration_key": configuration_key})
    if row is None:
        row = session.first(query + " ORDER BY id DESC", params)
    return None if row is None else _baseline_from_row(session, row, _scanner(session, scanner_id))


def history(connection, scanner_id: int) -> list:
    """Every version of every configuration: (Baseline, active, created_by, reason), oldest first."""
    session = session_of(connection)
    rows = session.rows(f"SELECT {_BASELINE_COLUMNS} FROM baselines WHERE scanner_id = :scanner_id ORDER BY id",
                        {"scanner_id": scanner_id})
    scanner = _scanner(session, scanner_id)
    return [(_baseline_from_row(session, r, scanner), bool(r.active), r.created_by, r.reason) for r in rows]


def set_active(connection, scanner_id: int, baseline: Baseline, *, reason: str | None, actor: str) -> int:
    """Insert ``baseline`` as the next version of its configuration, active; audited.  Returns the version.

    ``baseline.created_at``: ISO 8601 with a UTC offset, or an aware datetime.
    """
    session = session_of(connection)
    created_at = utc_instant(baseline.created_at, field="baseline created_at")
    key = {"scanner_id": scanner_id, "configuration_key": baseline.configuration.key}
    previous = session.first("SELECT id, version FROM baselines WHERE scanner_id = :scanner_id AND "
                             "configuration_key = :configuration_key ORDER BY version DESC", key)
    version = (previous.version + 1) if previous is not None else 1
    session.run("UPDATE baselines SET active = :false WHERE scanner_id = :scanner_id AND configuration_key = :configuration_key",
                {**key, "false": False})
    stats = {k: {"mean": v.mean, "sd": v.sd, "n": v.n} for k, v in baseline.stats.items()}
    session.run("INSERT INTO baselines (scanner_id, configuration_key, version, created_at, created_by, reason, run_ids, stats, "
                "active) VALUES (:scanner_id, :configuration_key, :version, :created_at, :created_by, :reason, :run_ids, :stats, "
                ":active)", {**key, "version": version, "created_at": bind_instant(created_at, session.dialect),
                             "created_by": actor, "reason": reason, "run_ids": json.dumps(list(baseline.run_ids)),
                             "stats": json.dumps(stats), "active": True})
    scanner_rows.audit(session, actor=actor, event="baseline_set", scanner_id=scanner_id,
                       details={"version": version, "previous_version": previous.version if previous else None,
                                "configuration": baseline.configuration.to_dict(), "run_ids": list(baseline.run_ids),
                                "reason": reason})
    return version


def audit_trail(connection, scanner_id: int | None = None) -> list[dict]:
    """Audit events, oldest first; ``at`` is an aware UTC datetime."""
    session = session_of(connection)
    where = "" if scanner_id is None else " WHERE scanner_id = :scanner_id"
    rows = session.rows(f"SELECT at, actor, event, scanner_id, details FROM audit_events{where} ORDER BY id",
                        {"scanner_id": scanner_id} if scanner_id is not None else {})
    return [{"at": read_instant(r.at, session.dialect), "actor": r.actor, "event": r.event, "scanner_id": r.scanner_id,
             "details": json.loads(r.details or "{}")} for r in rows]


def _scanner(session, scanner_id: int):
    return session.first("SELECT id, manufacturer, model, serial, station_name, identity_basis, identity_key FROM scanners "
                         "WHERE id = :id", {"id": scanner_id})


def _baseline_from_row(session, row: Any, scanner: Any):
    stats = {k: MetricStats(v["mean"], v["sd"], v["n"]) for k, v in json.loads(row.stats).items()}
    key = scanner_rows.as_row(scanner).key if scanner is not None else ""
    return Baseline(
        scanner=key, configuration=Configuration.from_mapping(json.loads(row.configuration_key)), version=int(row.version),
        created_at=read_instant(row.created_at, session.dialect),
        stats=stats, run_ids=tuple(json.loads(row.run_ids)),
    )
