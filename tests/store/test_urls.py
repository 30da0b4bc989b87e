"""The store's URL rules (qa.store.urls) read a SQLite URL without SQLAlchemy, and exactly as SQLAlchemy does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from qa.store.urls import display_url, in_memory, sqlite_path

URLS = [
    "sqlite:///qa.sqlite", "sqlite:////tmp/qa.sqlite", "sqlite+pysqlite:////tmp/qa.sqlite", "sqlite:///~/qa.sqlite",
    "sqlite:////tmp/with%20space/q%3Fa.sqlite", "sqlite:////tmp/a@b:c/qa.sqlite", "sqlite://", "sqlite:///", "sqlite:///:memory:",
    "sqlite:///file:/tmp/qa.sqlite?mode=ro&uri=true", "sqlite:///file::memory:?cache=shared", "sqlite:////tmp/q.sqlite?mode=memory",
    "sqlite:////tmp/q.sqlite?mode=ro&mode=memory", "sqlite:////tmp/q.sqlite?mode=memory&mode=ro", "sqlite:////tmp/q.sqlite?x=1\ny",
    "sqlite://user:pw@host/qa.sqlite", "SQLite:////tmp/qa.sqlite", "postgresql+psycopg://qa:secret@db.example/qa",
    "postgresql://db/qa", "not a url", "", "sqlite+pysqlite+x:////tmp/q.sqlite",
]


def _sqlalchemy_reading(url: str):
    """(sqlite path, in memory, display) as qa computed them with sqlalchemy.engine.make_url before."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:
        return None, False, "<invalid URL>"
    database = parsed.database or ""
    is_sqlite = parsed.get_backend_name() == "sqlite"
    path = None
    if is_sqlite and database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
    memory = is_sqlite and (database in ("", ":memory:") or database.startswith("file::memory:")
                            or "mode=memory" in database or parsed.query.get("mode") == "memory")
    shown = url if parsed.password is None else parsed.render_as_string(hide_password=True)
    return path, memory, shown


@pytest.mark.parametrize("url", URLS)
def test_a_store_url_is_read_as_sqlalchemy_reads_it(url):
    assert (sqlite_path(url), in_memory(url), display_url(url)) == _sqlalchemy_reading(url)


def test_asking_whether_a_sqlite_store_exists_imports_no_sqlalchemy(tmp_path):
    code = (f"import sys; from qa.store.urls import sqlite_path, display_url, in_memory; "
            f"u = 'sqlite:///{tmp_path}/qa.sqlite'; sqlite_path(u).exists(); display_url(u); in_memory(u); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
