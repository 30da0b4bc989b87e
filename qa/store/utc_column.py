"""The column type of every point in time in the store: aware, stored as UTC (the rule: :mod:`qa.store.timestamps`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from qa.store.sql import SQLITE_UTC_PATTERN, bind_instant, read_instant


class UtcDateTime(sa.types.TypeDecorator):
    """An aware point in time, stored as UTC; naive values are never bound (they raise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.DATETIME(regexp=SQLITE_UTC_PATTERN))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        aware_utc = bind_instant(value, "any")  # refuses naive values and non-datetimes
        # SQLite has no time-zone type: the text holds UTC (SQLAlchemy's DATETIME formats it), marked as such when read back.
        return aware_utc.replace(tzinfo=None) if aware_utc is not None and dialect.name == "sqlite" else aware_utc

    def process_result_value(self, value, dialect):
        return read_instant(value, dialect.name)
