"""Points in time in the results store: always time-zone aware, always stored as UTC.

Why a module of its own: a timestamp without an offset is ambiguous (a DICOM acquisition time is
the scanner's wall clock), and an ambiguity resolved silently would shift every run in a trend.
So the rule is written once, here:

* a value that carries a UTC offset keeps its instant;
* a naive ISO 8601 *string* is accepted only where the source is known to be local wall-clock
  time (the DICOM acquisition date-time): it is read as the local time of this computer
  (Python's ``datetime.astimezone()`` on a naive value; at the autumn clock change an hour that
  occurs twice is read as its first occurrence);
* a naive ``datetime`` object is always refused: code that made it must say which zone it meant.

:class:`UtcDateTime` is the column type: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, on SQLite a
text column that holds UTC in one fixed format (read back strictly: anything else is an error,
never a guess).  Values read back are ``datetime`` objects with ``tzinfo=UTC`` on both.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

UTC = dt.timezone.utc

# What SQLAlchemy's SQLite DATETIME writes (its default storage format), matched whole: a value in
# any other shape (for example an un-migrated "2026-03-01T07:30:00") fails loudly instead of
# being read as midnight by the default, prefix-matching pattern.
_SQLITE_UTC_PATTERN = r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6})$"


def utc_now() -> dt.datetime:
    """Now, to the second, in UTC."""
    return dt.datetime.now(UTC).replace(microsecond=0)


def utc_instant(value: str | dt.datetime, *, field: str, naive_is_local: bool = False) -> dt.datetime:
    """``value`` (ISO 8601 text or an aware ``datetime``) as an aware UTC ``datetime``.

    ``naive_is_local``: a naive ISO string is local wall-clock time of this computer (the rule for
    DICOM acquisition times); otherwise a naive value raises ``ValueError`` naming ``field``.
    """
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{field} {value!r} is not an ISO 8601 date and time") from None
        if parsed.utcoffset() is None:
            if not naive_is_local:
                raise ValueError(f"{field} {value!r} has no UTC offset; give one (for example {value}+00:00)")
            parsed = parsed.astimezone()  # local wall-clock time of this computer
    elif isinstance(value, dt.datetime):
        parsed = value
        if parsed.utcoffset() is None:
            raise ValueError(f"{field} {value!r} is a naive datetime; give a time-zone-aware one (tzinfo set)")
    else:
        raise TypeError(f"{field} must be an ISO 8601 string or an aware datetime, not {type(value).__name__}")
    return parsed.astimezone(UTC)


class UtcDateTime(sa.types.TypeDecorator):
    """An aware point in time, stored as UTC; naive values are never bound (they raise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.DATETIME(regexp=_SQLITE_UTC_PATTERN))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"a timestamp column takes an aware datetime, not {type(value).__name__} {value!r}")
        if value.utcoffset() is None:
            raise ValueError(f"refusing to store the naive datetime {value.isoformat()}: its time zone is unknown")
        value = value.astimezone(UTC)
        # SQLite has no time-zone type: the text holds UTC, marked as such when read back.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.utcoffset() is None:
            if dialect.name != "sqlite":
                raise ValueError(f"the database returned the naive timestamp {value.isoformat()}: the column is not "
                                 "TIMESTAMP WITH TIME ZONE")
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
