"""Helpers of the store tests: qa 0.1.0 databases and plain reads of them that do not go through qa."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "store-0.1.0"

# The site of the tests: not UTC, and daylight saving time starts on 2026-03-08 at 02:00, between
# the fixture's runs of 7 and 8 March (EST, UTC-5, then EDT, UTC-4).
SITE_TZ = "America/New_York"

TABLE_KEYS = {
    "scanners": ("id",),
    "phantom_runs": ("id",),
    "phantom_metrics": ("run_id", "metric"),
    "phantom_checks": ("run_id", "check_id"),
    "baselines": ("id",),
    "audit_events": ("id",),
    "qa_meta": ("key",),
}
TIMESTAMP_COLUMNS = {("scanners", "first_seen"), ("phantom_runs", "acquired_at"), ("phantom_runs", "analysed_at"),
                     ("baselines", "created_at"), ("audit_events", "at")}


@dataclass(frozen=True)
class OldDatabase:
    """A database written by qa 0.1.0 (a private copy), and plain reads of it."""

    kind: str  # "sqlite" or "postgresql"
    url: str  # SQLAlchemy URL, for qa
    path: Path | None  # the SQLite file

    def connect(self):
        """A DB-API connection without qa or SQLAlchemy (sqlite3 / psycopg)."""
        if self.kind == "sqlite":
            return sqlite3.connect(self.path)
        import psycopg

        return psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))

    def query(self, sql: str, params=()) -> list[tuple]:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            rows = [tuple(r) for r in cursor.fetchall()]
            connection.rollback()
            return rows
        finally:
            connection.close()

    def execute(self, *statements: str) -> None:
        connection = self.connect()
        try:
            for sql in statements:
                connection.execute(sql)
            connection.commit()
        finally:
            connection.close()

    def tables(self) -> set[str]:
        if self.kind == "sqlite":
            return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {r[0] for r in self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}

    def rows(self) -> dict[str, list[dict]]:
        """Every row of every qa table, ordered by primary key, as {column: value}."""
        connection = self.connect()
        try:
            out = {}
            for table, key in TABLE_KEYS.items():
                cursor = connection.cursor()
                cursor.execute(f'SELECT * FROM {table} ORDER BY {", ".join(key)}')
                names = [d[0] for d in cursor.description]
                out[table] = [dict(zip(names, row)) for row in cursor.fetchall()]
            connection.rollback()
            return out
        finally:
            connection.close()


def instant(value, naive_zone: str) -> dt.datetime | None:
    """A stored timestamp (text or datetime) as an aware datetime; naive values are in ``naive_zone``.

    The test's own reading, independent of qa: 0.1.0's naive text is site time (``SITE_TZ``),
    the text store v2 keeps on SQLite is UTC.
    """
    if value is None:
        return None
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ZoneInfo(naive_zone))


def load_postgresql_dump(url: str) -> None:
    """Load qa-0.1.0.postgresql.sql into the (empty) database at ``url`` with psycopg."""
    import psycopg

    # psql meta-commands (\restrict) are not SQL; the rest is one script of plain statements
    script = "\n".join(line for line in (FIXTURES / "qa-0.1.0.postgresql.sql").read_text().splitlines()
                       if not line.startswith("\\"))
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute(script)
