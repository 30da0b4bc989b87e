"""Plain SQL on either driver: the scanner, phantom-run and baseline queries written once.

The queries of :mod:`qa.store.scanners`, :mod:`qa.store.phantom_runs` and :mod:`qa.store.baselines`
are SQL text with named parameters (``:name``), run on a session of one of two kinds:

* :class:`AlchemySession`: a SQLAlchemy connection (the :class:`~qa.store.Store`, SQLite or
  PostgreSQL), inside the transaction its caller opened;
* :class:`SqliteSession`: a stdlib ``sqlite3`` connection (:class:`~qa.store.sqlite_file.SqliteFileStore`,
  what a daily phantom run opens on a current SQLite store: importing SQLAlchemy would cost it
  about a sixth of a second, more than storing the run).

What differs between the databases is said here, once: how an instant is bound and read back
(SQLite: UTC as text in the one format :class:`~qa.store.timestamps.UtcDateTime` writes, read back
strictly; PostgreSQL: ``TIMESTAMP WITH TIME ZONE``), and how an inserted row's id is learnt.
Nothing here imports SQLAlchemy until an :class:`AlchemySession` runs a statement.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import namedtuple
from typing import Any, Protocol

UTC = dt.timezone.utc

# SQLAlchemy's SQLite DATETIME storage format (its default), which UtcDateTime writes on SQLite: UTC,
# to the microsecond.  Read back matched whole (an un-migrated "2026-03-01T07:30:00" is an error).
SQLITE_UTC_PATTERN = r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6})$"
_SQLITE_UTC = re.compile(SQLITE_UTC_PATTERN)


def bind_instant(value: dt.datetime | None, dialect: str) -> Any:
    """An aware instant as the database stores it (SQLite: UTC text; others: the aware value);
    a naive one raises (its time zone is unknown)."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"a timestamp column takes an aware datetime, not {type(value).__name__} {value!r}")
    if value.utcoffset() is None:
        raise ValueError(f"refusing to store the naive datetime {value.isoformat()}: its time zone is unknown")
    value = value.astimezone(UTC)
    if dialect != "sqlite":
        return value
    # 'YYYY-MM-DD HH:MM:SS.ffffff' written field by field: strftime does not pad a year before 1000 on every platform
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}:{value.second:02d}."
            f"{value.microsecond:06d}")


def read_instant(value: Any, dialect: str) -> dt.datetime | None:
    """A stored instant as an aware ``datetime`` in UTC: SQLite's text read strictly (anything but
    the stored format raises ``ValueError``), a server's aware value converted; a naive one raises."""
    if value is None:
        return None
    if dialect == "sqlite" and isinstance(value, str):
        m = _SQLITE_UTC.match(value)
        if m is None:
            raise ValueError(f"Couldn't parse datetime string {value!r}: a stored timestamp must be UTC as "
                             "'YYYY-MM-DD HH:MM:SS.ffffff'")
        return dt.datetime(*map(int, m.groups()), tzinfo=UTC)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"the database returned {value!r} for a timestamp")
    if value.utcoffset() is None:
        if dialect == "sqlite":
            return value.replace(tzinfo=UTC)
        raise ValueError(f"the database returned the naive timestamp {value.isoformat()}: the column is not "
                         "TIMESTAMP WITH TIME ZONE")
    return value.astimezone(UTC)


class Session(Protocol):
    """A connection inside one transaction, running SQL text with ``:name`` parameters; rows read
    by column name as attributes (``row.id``)."""

    dialect: str  # "sqlite", "postgresql", ...

    def rows(self, sql: str, params: dict | None = None) -> list: ...

    def first(self, sql: str, params: dict | None = None): ...

    def run(self, sql: str, params: dict | None = None) -> None: ...

    def run_many(self, sql: str, params: list[dict]) -> None: ...

    def insert(self, sql: str, params: dict) -> int: ...


def session_of(connection) -> Session:
    """``connection`` as a :class:`Session`: a session as it is, a SQLAlchemy connection wrapped."""
    if isinstance(connection, (SqliteSession, AlchemySession)):
        return connection
    return AlchemySession(connection)


class SqliteSession:
    """A stdlib ``sqlite3`` connection (its transaction begun and ended by its owner)."""

    dialect = "sqlite"

    def __init__(self, connection):
        self.connection = connection
        self._row_types: dict[tuple[str, ...], type] = {}

    def _rows(self, cursor) -> list:
        if cursor.description is None:
            return []
        names = tuple(d[0] for d in cursor.description)
        row_type = self._row_types.get(names)
        if row_type is None:
            row_type = self._row_types[names] = namedtuple("Row", names)
        return [row_type(*values) for values in cursor.fetchall()]

    def rows(self, sql: str, params: dict | None = None) -> list:
        return self._rows(self.connection.execute(sql, params or {}))

    def first(self, sql: str, params: dict | None = None):
        found = self.rows(sql, params)
        return found[0] if found else None

    def run(self, sql: str, params: dict | None = None) -> None:
        self.connection.execute(sql, params or {})

    def run_many(self, sql: str, params: list[dict]) -> None:
        self.connection.executemany(sql, params)

    def insert(self, sql: str, params: dict) -> int:
        return int(self.connection.execute(sql, params).lastrowid)


class AlchemySession:
    """A SQLAlchemy connection (inside its caller's transaction): statements through ``sa.text``,
    so SQLAlchemy's error handling (a damaged store, a lost server: :mod:`qa.store.engine`) applies."""

    def __init__(self, connection):
        import sqlalchemy as sa

        self.connection = connection
        self.dialect = connection.dialect.name
        self._text = sa.text

    def rows(self, sql: str, params: dict | None = None) -> list:
        return list(self.connection.execute(self._text(sql), params or {}).all())

    def first(self, sql: str, params: dict | None = None):
        return self.connection.execute(self._text(sql), params or {}).first()

    def run(self, sql: str, params: dict | None = None) -> None:
        self.connection.execute(self._text(sql), params or {})

    def run_many(self, sql: str, params: list[dict]) -> None:
        self.connection.execute(self._text(sql), params)

    def insert(self, sql: str, params: dict) -> int:
        if self.dialect == "sqlite":
            return int(self.connection.execute(self._text(sql), params).lastrowid)
        return int(self.connection.execute(self._text(sql + " RETURNING id"), params).scalar_one())
