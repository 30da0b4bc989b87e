"""The results database: SQLite by default, PostgreSQL by URL (SQLAlchemy Core).

Works unconfigured: the default is a SQLite file created on first use in the user's data folder
(``default_url()``; on Linux ``~/.local/share/qa/qa.sqlite``).  ``--db URL`` or ``QA_DB_URL``
choose another database, e.g. ``postgresql+psycopg://user:password@host/qa``.

What is kept: scanners (manufacturer + model + serial number, station name as a label), phantom
runs with their provenance (toolkit version, procedure and its SHA-256, settings, SOP Instance
UIDs inside the stored document), their metrics and checks (with the reference and the limits that
applied that day), versioned baselines, and an audit trail of baseline changes.  A series is kept once per
acquisition configuration: re-analysing it replaces the earlier result instead of adding a second
one.  Saves are safe when several processes store at once.  No patient identifier is stored.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from qa.errors import UsageError

metadata = sa.MetaData()

scanners = sa.Table(
    "scanners", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("manufacturer", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("serial", sa.Text, nullable=False),
    sa.Column("station_name", sa.Text),
    sa.Column("first_seen", sa.Text, nullable=False),
    sa.UniqueConstraint("manufacturer", "model", "serial", name="uq_scanner_identity"),
)

phantom_runs = sa.Table(
    "phantom_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
    sa.Column("series_instance_uid", sa.Text, nullable=False),
    sa.Column("acquired_at", sa.Text),
    sa.Column("analysed_at", sa.Text, nullable=False),
    sa.Column("qa_version", sa.Text, nullable=False),
    sa.Column("procedure_id", sa.Text, nullable=False),
    sa.Column("procedure_sha256", sa.Text, nullable=False),
    sa.Column("phantom_id", sa.Text, nullable=False),
    sa.Column("settings_key", sa.Text, nullable=False),
    sa.Column("configuration_key", sa.Text, nullable=False),
    sa.Column("protocol_ok", sa.Boolean, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    # One run per series and configuration: re-analysing replaces (a new procedure file or toolkit
    # version included), other scoring settings make another configuration.
    sa.UniqueConstraint("scanner_id", "series_instance_uid", "configuration_key", name="uq_phantom_run"),
)

phantom_metrics = sa.Table(
    "phantom_metrics", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("phantom_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("metric", sa.Text, primary_key=True),
    sa.Column("value", sa.Float),
)

phantom_checks = sa.Table(
    "phantom_checks", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("phantom_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("check_id", sa.Text, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("measured", sa.Text),
    sa.Column("expected", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("source", sa.Text),
)

baselines = sa.Table(
    "baselines", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
    sa.Column("configuration_key", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("run_ids", sa.Text, nullable=False),
    sa.Column("stats", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.UniqueConstraint("scanner_id", "configuration_key", "version", name="uq_baseline_version"),
)

# The layout version of these tables; a database of another layout is refused, never altered.
SCHEMA_VERSION = "2"
qa_meta = sa.Table(
    "qa_meta", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

audit_events = sa.Table(
    "audit_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("scanner_id", sa.Integer),
    sa.Column("details", sa.Text),
)


def default_url() -> str:
    """SQLite file in the user's data folder (created on first use)."""
    from platformdirs import user_data_dir

    return f"sqlite:///{Path(user_data_dir('qa')) / 'qa.sqlite'}"


def resolve_url(url: str | None) -> str:
    """``url``, else ``QA_DB_URL``, else the default SQLite file."""
    return url or os.environ.get("QA_DB_URL") or default_url()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


@dataclass(frozen=True)
class ScannerRow:
    id: int
    manufacturer: str
    model: str
    serial: str
    station_name: str | None

    @property
    def key(self) -> str:
        return f"{self.manufacturer}|{self.model}|{self.serial}"

    def label(self) -> str:
        name = self.station_name or "?"
        return f"#{self.id} {name} ({self.manufacturer} {self.model}, serial {self.serial or '?'})"

    def to_dict(self) -> dict:
        return {"id": self.id, "manufacturer": self.manufacturer, "model": self.model, "serial": self.serial,
                "station_name": self.station_name}


@dataclass(frozen=True)
class RunRow:
    id: int
    scanner_id: int
    series_instance_uid: str
    acquired_at: str | None
    analysed_at: str
    configuration_key: str
    protocol_ok: bool
    verdict: str
    metrics: dict[str, float | None]


class Store:
    """A connection to the results database (tables created on first use)."""

    def __init__(self, url: str | None = None, *, read_only: bool = False):
        self.url = resolve_url(url)
        self.read_only = read_only
        if self.url.startswith("sqlite:///") and not read_only:
            Path(self.url[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = _engine(self.url, read_only)
            if self.engine.dialect.name == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            if read_only:
                self._check_layout()
            else:
                _retry(self._create_tables)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            raise UsageError(f"cannot use the database URL {self.display_url}: {exc}",
                             hint="give a URL like sqlite:////path/qa.sqlite or postgresql+psycopg://user@host/qa") from exc
        except sa.exc.OperationalError as exc:
            raise UsageError(f"cannot open the database {self.display_url}: {exc.orig}",
                             hint="check that the server runs and the URL, user and password are right") from exc

    def _create_tables(self) -> None:
        """Create missing tables (once, even with several processes starting together); check the layout."""
        with self.engine.begin() as c:
            if c.dialect.name == "postgresql":
                c.execute(sa.text("SELECT pg_advisory_xact_lock(7281001)"))  # serialise concurrent first uses
            existing = set(sa.inspect(c).get_table_names())
            if "phantom_runs" in existing and "qa_meta" not in existing:
                raise UsageError(
                    f"the database {self.display_url} was created by an earlier development version of qa (no layout version)",
                    hint="move that database aside (or give another with --db); qa never alters a database it did not create",
                )
            metadata.create_all(c)
            row = c.execute(sa.select(qa_meta.c.value).where(qa_meta.c.key == "schema_version")).first()
            if row is None:
                c.execute(qa_meta.insert().values(key="schema_version", value=SCHEMA_VERSION))
            elif row.value != SCHEMA_VERSION:
                raise UsageError(
                    f"the database {self.display_url} has table layout {row.value}; this qa uses layout {SCHEMA_VERSION}",
                    hint="use the qa version that created it, or another database (--db)",
                )

    def _check_layout(self) -> None:
        with self.engine.connect() as c:
            existing = set(sa.inspect(c).get_table_names())
            if "qa_meta" not in existing:
                raise UsageError(f"{self.display_url} holds no qa results store", hint="check --db")
            row = c.execute(sa.select(qa_meta.c.value).where(qa_meta.c.key == "schema_version")).first()
            if row is None or row.value != SCHEMA_VERSION:
                raise UsageError(f"the database {self.display_url} has another table layout",
                                 hint="open it once without --no-store to upgrade it")

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        try:
            return sa.engine.make_url(self.url).render_as_string(hide_password=True)
        except Exception:
            return "<invalid URL>"

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------------------- scanners

    def find_scanner_id(self, scanner: dict) -> int | None:
        """The id of a known scanner (manufacturer + model + serial), else None; never writes."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(scanners.c.id).filter_by(**_identity(scanner))).first()
        return None if row is None else int(row.id)

    def scanner_id(self, scanner: dict, conn=None) -> int:
        """The id of the scanner (manufacturer + model + serial), created on first sight."""
        identity = _identity(scanner)

        def run(c) -> int:
            row = c.execute(sa.select(scanners.c.id, scanners.c.station_name).filter_by(**identity)).first()
            if row is not None:
                if scanner.get("station_name") and row.station_name != scanner["station_name"]:
                    c.execute(scanners.update().where(scanners.c.id == row.id).values(station_name=scanner["station_name"]))
                return int(row.id)
            result = c.execute(scanners.insert().values(**identity, station_name=scanner.get("station_name"), first_seen=_now()))
            return int(result.inserted_primary_key[0])

        if conn is not None:
            return run(conn)
        with self.engine.begin() as c:
            return run(c)

    def scanners(self) -> list[ScannerRow]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(scanners).order_by(scanners.c.id)).all()
        return [ScannerRow(r.id, r.manufacturer, r.model, r.serial, r.station_name) for r in rows]

    def find_scanner(self, query: str) -> ScannerRow:
        """A scanner by id (``3`` or ``#3``), station name, serial number or model (case-insensitive)."""
        all_scanners = self.scanners()
        if not all_scanners:
            raise UsageError("the database holds no scanners yet", hint="run qa phantom on a phantom series first")
        q = query.strip().lstrip("#").lower()
        matches = [s for s in all_scanners if str(s.id) == q]
        if not matches:
            matches = [s for s in all_scanners if q in {(s.station_name or "").lower(), s.serial.lower(), s.key.lower()}]
        if not matches:
            matches = [s for s in all_scanners if q == s.model.lower()]
        listing = "\n".join("  " + s.label() for s in all_scanners)
        if not matches:
            raise UsageError(f"no scanner matches {query!r}; the database holds:\n{listing}", hint="give an id, station name or serial number")
        if len(matches) > 1:
            raise UsageError(f"{query!r} matches several scanners:\n" + "\n".join("  " + s.label() for s in matches),
                             hint="give the id (e.g. --scanner 3) or the serial number")
        return matches[0]

    # ---------------------------------------------------------------------------- phantom runs

    def save_phantom_run(self, document: dict, *, analysed_at: str, qa_version: str) -> tuple[int, bool]:
        """Store one ``qa.phantom/1`` result in one transaction; returns (run id, replaced).

        Safe when several processes store at once: a lost race on a new scanner or run is retried.
        """
        return _retry(lambda: self._save_phantom_run(document, analysed_at=analysed_at, qa_version=qa_version))

    def _save_phantom_run(self, document: dict, *, analysed_at: str, qa_version: str) -> tuple[int, bool]:
        settings_key = json.dumps(document.get("settings", {}), sort_keys=True)
        configuration_key = json.dumps(document["configuration"], sort_keys=True)
        uid = document["series"]["series_instance_uid"]
        with self.engine.begin() as c:
            scanner_id = self.scanner_id(document["scanner"], conn=c)
            existing = c.execute(
                sa.select(phantom_runs.c.id).where(
                    phantom_runs.c.scanner_id == scanner_id,
                    phantom_runs.c.series_instance_uid == uid,
                    phantom_runs.c.configuration_key == configuration_key,
                )
            ).first()
            values = {
                "scanner_id": scanner_id,
                "series_instance_uid": uid,
                "acquired_at": document["acquisition"].get("acquisition_datetime"),
                "analysed_at": analysed_at,
                "qa_version": qa_version,
                "procedure_id": document["procedure"]["id"],
                "procedure_sha256": document["procedure"]["sha256"],
                "phantom_id": document["phantom"],
                "settings_key": settings_key,
                "configuration_key": configuration_key,
                "protocol_ok": bool(document["protocol_ok"]),
                "verdict": document["verdict"],
                "document": json.dumps(document, sort_keys=True),
            }
            if existing is not None:
                run_id = int(existing.id)
                c.execute(phantom_metrics.delete().where(phantom_metrics.c.run_id == run_id))
                c.execute(phantom_checks.delete().where(phantom_checks.c.run_id == run_id))
                c.execute(phantom_runs.update().where(phantom_runs.c.id == run_id).values(**values))
            else:
                run_id = int(c.execute(phantom_runs.insert().values(**values)).inserted_primary_key[0])
            metrics = [{"run_id": run_id, "metric": k, "value": v} for k, v in document["metrics"].items()]
            if metrics:
                c.execute(phantom_metrics.insert(), metrics)
            checks = [
                {
                    "run_id": run_id,
                    "check_id": chk["id"],
                    "status": chk["status"],
                    "measured": json.dumps(chk["measured"]),
                    "expected": json.dumps(chk["expected"]),
                    "message": chk["message"],
                    "source": json.dumps(chk.get("source", {}), sort_keys=True),
                }
                for chk in document["checks"]
            ]
            if checks:
                c.execute(phantom_checks.insert(), checks)
        return run_id, existing is not None

    def phantom_runs(self, scanner_id: int, *, configuration_key: str | None = None, protocol_ok_only: bool = False) -> list[RunRow]:
        """Runs of a scanner in acquisition order, with their metrics."""
        query = sa.select(phantom_runs).where(phantom_runs.c.scanner_id == scanner_id)
        if configuration_key is not None:
            query = query.where(phantom_runs.c.configuration_key == configuration_key)
        if protocol_ok_only:
            query = query.where(phantom_runs.c.protocol_ok.is_(True))
        with self.engine.connect() as c:
            rows = c.execute(query).all()
            ids = [r.id for r in rows]
            metric_rows = c.execute(sa.select(phantom_metrics).where(phantom_metrics.c.run_id.in_(ids))).all() if ids else []
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

    def run_document(self, run_id: int) -> dict:
        with self.engine.connect() as c:
            row = c.execute(sa.select(phantom_runs.c.document).where(phantom_runs.c.id == run_id)).first()
        if row is None:
            raise UsageError(f"no stored run #{run_id}")
        return json.loads(row.document)

    def run_checks(self, run_id: int) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(phantom_checks).where(phantom_checks.c.run_id == run_id)).all()
        return [
            {"id": r.check_id, "status": r.status, "measured": json.loads(r.measured), "expected": json.loads(r.expected),
             "message": r.message, "source": json.loads(r.source)}
            for r in rows
        ]

    # ---------------------------------------------------------------------------- baselines

    def active_baseline(self, scanner_id: int, configuration_key: str | None = None):
        """The active baseline of a scanner, as a :class:`~qa.phantom.analysis.Baseline`.

        For ``configuration_key`` when given; else (or when that configuration has none) the one
        set most recently, so that a run in another configuration is reported as a configuration
        change against it rather than as "no baseline yet".
        """
        with self.engine.connect() as c:
            query = sa.select(baselines).where(baselines.c.scanner_id == scanner_id, baselines.c.active.is_(True))
            row = None
            if configuration_key is not None:
                row = c.execute(query.where(baselines.c.configuration_key == configuration_key)).first()
            if row is None:
                row = c.execute(query.order_by(baselines.c.id.desc())).first()
            scanner = c.execute(sa.select(scanners).where(scanners.c.id == scanner_id)).first()
        return None if row is None else _baseline_from_row(row, scanner)

    def baselines(self, scanner_id: int) -> list:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(baselines).where(baselines.c.scanner_id == scanner_id).order_by(baselines.c.id)).all()
            scanner = c.execute(sa.select(scanners).where(scanners.c.id == scanner_id)).first()
        return [(_baseline_from_row(r, scanner), bool(r.active), r.created_by, r.reason) for r in rows]

    def set_baseline(self, scanner_id: int, baseline, *, reason: str | None = None) -> int:
        """Store ``baseline`` as the new active version for its configuration; audited.  Two
        concurrent calls never take the same version: the loser counts again."""
        return _retry(lambda: self._set_baseline(scanner_id, baseline, reason=reason))

    def _set_baseline(self, scanner_id: int, baseline, *, reason: str | None = None) -> int:
        configuration_key = baseline.configuration.key
        actor = _actor()
        with self.engine.begin() as c:
            previous = c.execute(
                sa.select(baselines.c.id, baselines.c.version).where(
                    baselines.c.scanner_id == scanner_id, baselines.c.configuration_key == configuration_key
                ).order_by(baselines.c.version.desc())
            ).first()
            version = (previous.version + 1) if previous is not None else 1
            c.execute(
                baselines.update().where(baselines.c.scanner_id == scanner_id, baselines.c.configuration_key == configuration_key)
                .values(active=False)
            )
            stats = {k: {"mean": v.mean, "sd": v.sd, "n": v.n} for k, v in baseline.stats.items()}
            c.execute(
                baselines.insert().values(
                    scanner_id=scanner_id, configuration_key=configuration_key, version=version, created_at=baseline.created_at,
                    created_by=actor, reason=reason, run_ids=json.dumps(list(baseline.run_ids)), stats=json.dumps(stats), active=True,
                )
            )
            c.execute(
                audit_events.insert().values(
                    at=_now(), actor=actor, event="baseline_set", scanner_id=scanner_id,
                    details=json.dumps({"version": version, "previous_version": previous.version if previous else None,
                                        "configuration": baseline.configuration.to_dict(), "run_ids": list(baseline.run_ids),
                                        "reason": reason}, sort_keys=True),
                )
            )
        return version

    def audit_trail(self, scanner_id: int | None = None) -> list[dict]:
        query = sa.select(audit_events).order_by(audit_events.c.id)
        if scanner_id is not None:
            query = query.where(audit_events.c.scanner_id == scanner_id)
        with self.engine.connect() as c:
            rows = c.execute(query).all()
        return [{"at": r.at, "actor": r.actor, "event": r.event, "scanner_id": r.scanner_id, "details": json.loads(r.details or "{}")}
                for r in rows]


def _identity(scanner: dict) -> dict:
    return {
        "manufacturer": (scanner.get("manufacturer") or "unknown").strip(),
        "model": (scanner.get("model") or "unknown").strip(),
        "serial": (scanner.get("device_serial_number") or "").strip(),
    }


def _retry(action, attempts: int = 4):
    """Run ``action``; after losing a race with another process (a unique key or a table that
    appeared meanwhile) run it again, so concurrent runs never lose a result."""
    import time

    for attempt in range(attempts):
        try:
            return action()
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError) as exc:
            text = str(exc.orig).lower() if getattr(exc, "orig", None) is not None else str(exc).lower()
            # a unique key taken meanwhile (SQLite "UNIQUE constraint failed", PostgreSQL "duplicate key"); any
            # other integrity error (a missing value, a broken reference) is a bug and is raised at once
            unique = isinstance(exc, sa.exc.IntegrityError) and ("unique" in text or "duplicate key" in text)
            lost_race = unique or "already exists" in text or "locked" in text
            if not lost_race or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _baseline_from_row(row: Any, scanner: Any):
    from qa.phantom.analysis import Baseline, Configuration, MetricStats

    stats = {k: MetricStats(v["mean"], v["sd"], v["n"]) for k, v in json.loads(row.stats).items()}
    key = f"{scanner.manufacturer}|{scanner.model}|{scanner.serial}" if scanner is not None else ""
    return Baseline(
        scanner=key, configuration=Configuration.from_mapping(json.loads(row.configuration_key)), version=int(row.version), created_at=row.created_at,
        stats=stats, run_ids=tuple(json.loads(row.run_ids)),
    )


def _engine(url: str, read_only: bool):
    """An engine; read-only ones cannot write (SQLite opened with mode=ro, PostgreSQL read-only transactions)."""
    if not read_only:
        return sa.create_engine(url, future=True)
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "").expanduser().resolve()
        return sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", future=True)
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(url, future=True, connect_args={"options": "-c default_transaction_read_only=on"})
    return sa.create_engine(url, future=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
