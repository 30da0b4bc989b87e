"""Which database: the URL rules, without importing SQLAlchemy for the common case.

A run that stores nothing (``--no-store`` with no store file yet, ``qa score``) asks only whether the
SQLite file exists; answering that must not cost SQLAlchemy's import (about a quarter of a second).
A plain SQLite URL (``sqlite:///path``, ``sqlite+driver:///path``, no user, host or port) is read
here exactly as SQLAlchemy's ``make_url`` reads it (the database part percent-decoded); any other
URL is handed to SQLAlchemy, imported then.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote

# SQLAlchemy's URL grammar (sqlalchemy.engine.url._parse_url) narrowed to a SQLite URL with an
# empty authority: the backend name, then "///" and the database up to an optional "?query".
_PLAIN_SQLITE = re.compile(r"sqlite(?:\+\w+)?:///(?P<database>[^?]*)(?:\?(?P<query>.*))?")


def default_url() -> str:
    """SQLite file in the user's data folder (created on first use)."""
    from platformdirs import user_data_dir

    return f"sqlite:///{Path(user_data_dir('qa')) / 'qa.sqlite'}"


def resolve_url(url: str | None) -> str:
    """``url``, else ``QA_DB_URL``, else the default SQLite file."""
    return url or os.environ.get("QA_DB_URL") or default_url()


def plain_sqlite(url: str) -> tuple[str, dict[str, str | list[str]]] | None:
    """(database, query) of a plain SQLite URL, as SQLAlchemy reads them (a repeated query key gives
    a list); None for any other URL."""
    m = _PLAIN_SQLITE.fullmatch(url)
    if m is None:
        return None
    query: dict[str, str | list[str]] = {}
    for key, value in parse_qsl(m.group("query") or ""):
        if key in query:
            earlier = query[key]
            query[key] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
        else:
            query[key] = value
    return unquote(m.group("database")), query


def display_url(url: str) -> str:
    """The URL with any password hidden (for messages)."""
    if plain_sqlite(url) is not None:
        return url  # no user, so no password
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except Exception:
        return "<invalid URL>"
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, whatever its driver (``sqlite:///``, ``sqlite+pysqlite:///``); None for
    other databases, in-memory SQLite and ``file:`` URIs."""
    plain = plain_sqlite(url)
    if plain is not None:
        database = plain[0]
    else:
        import sqlalchemy as sa

        try:
            parsed = sa.engine.make_url(url)
        except Exception:  # noqa: BLE001 - not a URL at all: the engine reports it
            return None
        if parsed.get_backend_name() != "sqlite":
            return None
        database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def in_memory(url: str) -> bool:
    """Is ``url`` an in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``, ``mode=memory``)?
    Whatever is stored there is lost when the process ends."""
    plain = plain_sqlite(url)
    if plain is not None:
        database, query = plain
    else:
        import sqlalchemy as sa

        try:
            parsed = sa.engine.make_url(url)
        except Exception:
            return False
        if parsed.get_backend_name() != "sqlite":
            return False
        database, query = parsed.database or "", parsed.query
    return (database in ("", ":memory:") or database.startswith("file::memory:")
            or "mode=memory" in database or query.get("mode") == "memory")
