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

:class:`UtcDateTime` (:mod:`qa.store.utc_column`, importable from here) is the column type:
``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, on SQLite a text column that holds UTC in one fixed
format (read back strictly: anything else is an error, never a guess).  Values read back are
``datetime`` objects with ``tzinfo=UTC`` on both.  The plain-SQL queries bind and read them with
:func:`qa.store.sql.bind_instant` and :func:`qa.store.sql.read_instant`, the same rule.  This module
imports no SQLAlchemy (a phantom run stored through ``sqlite3`` needs none).
"""

from __future__ import annotations

import datetime as dt

UTC = dt.timezone.utc


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


def __getattr__(name: str):
    """``UtcDateTime``, imported on first use (PEP 562): it is a SQLAlchemy type."""
    if name == "UtcDateTime":
        from qa.store.utc_column import UtcDateTime

        return UtcDateTime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
