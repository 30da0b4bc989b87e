"""Baselines in the store: versioned per scanner and acquisition configuration, every change audited.

Setting a baseline makes a new version active for its configuration (the earlier versions stay,
inactive) and writes an audit event saying who set it, when, why and from which runs.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from qa.phantom.baseline import Baseline, Configuration, MetricStats
from qa.store import scanners as scanner_rows
from qa.store.schema import audit_events, baselines, scanners
from qa.store.timestamps import utc_instant, utc_now


def active(connection: sa.Connection, scanner_id: int, configuration_key: str | None = None):
    """The active baseline of a scanner (see :meth:`qa.store.Store.active_baseline`), or None."""
    query = sa.select(baselines).where(baselines.c.scanner_id == scanner_id, baselines.c.active.is_(True))
    row = None
    if configuration_key is not None:
        row = connection.execute(query.where(baselines.c.configuration_key == configuration_key)).first()
    if row is None:
        row = connection.execute(query.order_by(baselines.c.id.desc())).first()
    scanner = connection.execute(sa.select(scanners).where(scanners.c.id == scanner_id)).first()
    return None if row is None else _baseline_from_row(row, scanner)


def history(connection: sa.Connection, scanner_id: int) -> list:
    """Every version of every configuration: (Baseline, active, created_by, reason), oldest first."""
    rows = connection.execute(sa.select(baselines).where(baselines.c.scanner_id == scanner_id).order_by(baselines.c.id)).all()
    scanner = connection.execute(sa.select(scanners).where(scanners.c.id == scanner_id)).first()
    return [(_baseline_from_row(r, scanner), bool(r.active), r.created_by, r.reason) for r in rows]


def set_active(connection: sa.Connection, scanner_id: int, baseline: Baseline, *, reason: str | None, actor: str) -> int:
    """Insert ``baseline`` as the next version of its configuration, active; audited.  Returns the version.

    ``baseline.created_at``: ISO 8601 with a UTC offset, or an aware datetime.
    """
    created_at = utc_instant(baseline.created_at, field="baseline created_at")
    configuration_key = baseline.configuration.key
    previous = connection.execute(
        sa.select(baselines.c.id, baselines.c.version).where(
            baselines.c.scanner_id == scanner_id, baselines.c.configuration_key == configuration_key
        ).order_by(baselines.c.version.desc())
    ).first()
    version = (previous.version + 1) if previous is not None else 1
    connection.execute(
        baselines.update().where(baselines.c.scanner_id == scanner_id, baselines.c.configuration_key == configuration_key)
        .values(active=False)
    )
    stats = {k: {"mean": v.mean, "sd": v.sd, "n": v.n} for k, v in baseline.stats.items()}
    connection.execute(
        baselines.insert().values(
            scanner_id=scanner_id, configuration_key=configuration_key, version=version, created_at=created_at,
            created_by=actor, reason=reason, run_ids=json.dumps(list(baseline.run_ids)), stats=json.dumps(stats), active=True,
        )
    )
    connection.execute(
        audit_events.insert().values(
            at=utc_now(), actor=actor, event="baseline_set", scanner_id=scanner_id,
            details=json.dumps({"version": version, "previous_version": previous.version if previous else None,
                                "configuration": baseline.configuration.to_dict(), "run_ids": list(baseline.run_ids),
                                "reason": reason}, sort_keys=True),
        )
    )
    return version


def audit_trail(connection: sa.Connection, scanner_id: int | None = None) -> list[dict]:
    """Audit events, oldest first; ``at`` is an aware UTC datetime."""
    query = sa.select(audit_events).order_by(audit_events.c.id)
    if scanner_id is not None:
        query = query.where(audit_events.c.scanner_id == scanner_id)
    rows = connection.execute(query).all()
    return [{"at": r.at, "actor": r.actor, "event": r.event, "scanner_id": r.scanner_id, "details": json.loads(r.details or "{}")}
            for r in rows]


def _baseline_from_row(row: Any, scanner: Any):
    stats = {k: MetricStats(v["mean"], v["sd"], v["n"]) for k, v in json.loads(row.stats).items()}
    key = scanner_rows.as_row(scanner).key if scanner is not None else ""
    return Baseline(
        scanner=key, configuration=Configuration.from_mapping(json.loads(row.configuration_key)), version=int(row.version),
        created_at=row.created_at,
        stats=stats, run_ids=tuple(json.loads(row.run_ids)),
    )
