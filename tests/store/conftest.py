"""Fixtures of the store tests: qa 0.1.0 databases (copied or loaded from tests/fixtures/store-0.1.0),
a site time zone, and the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from old_store import FIXTURES, SITE_TZ, OldDatabase, load_postgresql_dump


@pytest.fixture
def site_timezone(monkeypatch):
    """This process and its children run in ``SITE_TZ`` (TZ and time.tzset), restored afterwards."""
    monkeypatch.setenv("TZ", SITE_TZ)
    time.tzset()
    yield SITE_TZ
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request, tmp_path) -> OldDatabase:
    """A private copy of the qa 0.1.0 store: the SQLite file, or the PostgreSQL dump loaded into a new database."""
    if request.param == "sqlite":
        path = tmp_path / "qa-0.1.0.sqlite"
        shutil.copyfile(FIXTURES / "qa-0.1.0.sqlite", path)
        return OldDatabase("sqlite", f"sqlite:///{path}", path)
    url = request.getfixturevalue("postgres_database")()
    load_postgresql_dump(url)
    return OldDatabase("postgresql", url, None)


@pytest.fixture
def qa_cli():
    """Run ``python -m qa ARGS...`` in a child process (the environment of this one); (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        out = subprocess.run([sys.executable, "-m", "qa", *map(str, args)], capture_output=True, text=True,
                             env=dict(os.environ), timeout=300)
        return out.returncode, out.stdout, out.stderr

    return run
