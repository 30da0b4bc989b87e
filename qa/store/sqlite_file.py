"""A current SQLite store through the stdlib ``sqlite3``: the phantom run's store without SQLAlchemy.

A daily ``qa phantom`` reads its scanner's baseline and stores its run: on a SQLite file at the
current layout revision that is a few milliseconds of SQL, while importing SQLAlchemy costs about
a sixth of a second, most of what storing adds to a run.  :func:`open_sqlite_file` opens such a
file with ``sqlite3`` as a :class:`SqliteFileStore`: the part of :class:`qa.store.Store` a phantom
run uses, running the very same queries (:mod:`qa.store.scanners`, :mod:`qa.store.phantom_runs`,
:mod:`qa.store.baselines` on a :class:`qa.store.sql.SqliteSession`) under the same rules: foreign
keys on, a 10-s busy timeout, each write one ``BEGIN IMMEDIATE`` transaction run again after a
lost race, a read-only store opened ``mode=ro``, the write probed before any analysis, and the
same errors (:mod:`qa.store.problems`).  Everything else is :class:`qa.store.Store`'s, and
:func:`open_sqlite_file` returns None for it: no file yet or an empty one (created by the
migrations), a layout to upgrade or to refuse (older, newer, none), a URL with options or another
driver, a server.

Also here, for both stores: what is wrong with a SQLite file before SQLite reads it
(:func:`sqlite_file_problem`, :func:`refuse_unusable`).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import UsageError
from qa.store import baselines as baseline_rows
from qa.store import phantom_runs as run_rows
from qa.store import scanners as scanner_rows
from qa.store.problems import (damage_error, is_damage, is_layout_problem, is_write_denied, layout_error,
                               run_again_after_lost_races, write_denied_error)
from qa.store.revision import HEAD_REVISION
from qa.store.sql import SqliteSession
from qa.store.urls import display_url, in_memory, plain_sqlite, sqlite_path

if TYPE_CHECKING:
    from qa.phantom.analysis import PhantomResult
    from qa.phantom.baseline import Baseline
    from qa.records.identity import ScannerIdentity
    from qa.records.provenance import Provenance
    from qa.store.phantom_runs import RunRow
    from qa.store.scanners import ScannerRow

# How long a statement waits for another process's write lock before failing (both drivers).
BUSY_TIMEOUT_MS = 10_000

# The URLs whose file the stdlib sqlite3 opens as SQLAlchemy's default SQLite driver would (pysqlite
# is that driver); another driver (an encrypting one, say) is SQLAlchemy's to open.
_STDLIB_DRIVER = re.compile(r"sqlite(?:\+pysqlite)?:///")


def open_sqlite_file(url: str, *, read_only: bool, probe_write: bool = True,
                     busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> SqliteFileStore | None:
    """A :class:`SqliteFileStore` on the SQLite file of ``url`` when it exists and holds a store at
    :data:`~qa.store.revision.HEAD_REVISION`, else None (:class:`qa.store.Store` opens it).

    A file that is not a SQLite database, or is damaged, is refused (:class:`~qa.errors.UsageError`)
    here as there; ``probe_write`` (not read-only): a store that may not be written is refused now,
    before any analysis.  ``busy_timeout_ms``: how long a statement waits for another process's lock."""
    plain = plain_sqlite(url)
    if plain is None or plain[1] or not _STDLIB_DRIVER.match(url) or in_memory(url):
        return None
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    refuse_unusable(url)
    if path.stat().st_size == 0:
        return None  # a new database: the migrations make it
    store = SqliteFileStore(url, path, read_only=read_only, busy_timeout_ms=busy_timeout_ms)
    try:
        if not store.is_current():
            store.close()
            return None
        if probe_write and not read_only:
            store.probe_write()
    except BaseException:
        store.close()
        raise
    return store


class SqliteFileStore:
    """An open SQLite store file at the current layout (see the module doc): the scanner, baseline
    and phantom-run methods of :class:`qa.store.Store`, with the same arguments and results."""

    def __init__(self, url: str, path: Path, *, read_only: bool, busy_timeout_ms: int = BUSY_TIMEOUT_MS):
        self.url = url
        self.read_only = read_only
        self.display_url = display_url(url)
        target = path.resolve().as_uri() + "?mode=ro" if read_only else os.fspath(path)
        self._connection = None
        try:
            self._connection = sqlite3.connect(target, timeout=busy_timeout_ms / 1000, isolation_level=None, uri=read_only)
            self._connection.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            self.close()
            raise self._cannot_open(exc) from exc
        self._session = SqliteSession(self._connection)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    # ---------------------------------------------------------------------------- opening

    def is_current(self) -> bool:
        """Is the store at :data:`~qa.store.revision.HEAD_REVISION` (and nothing else)?"""
        try:  # a file another process holds locked past the busy timeout is waited for again, as the Store does
            rows = self._run_again_after_lost_races(
                lambda: self._connection.execute("SELECT version_num FROM alembic_version").fetchall())
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc):
                return False  # a qa 0.1.0 store, or tables of another program: the Store upgrades or refuses it
            raise self._problem(exc, writing=False) or self._cannot_open(exc) from exc
        return sorted(version for (version,) in rows) == [HEAD_REVISION]

    def probe_write(self) -> None:
        """Make sure the store may be written before any analysis: a change rolled back."""
        def probe() -> None:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.execute("UPDATE qa_meta SET value = value WHERE key = 'schema_version'")
            finally:
                self._rollback()

        try:
            self._run_again_after_lost_races(probe)
        except sqlite3.Error as exc:
            raise self._problem(exc, writing=True) or self._cannot_open(exc) from exc

    # ---------------------------------------------------------------------------- scanners

    def find_scanner_id(self, scanner: ScannerIdentity) -> int | None:
        return self._read(lambda s: scanner_rows.find_id(s, scanner))

    def scanners(self) -> list[ScannerRow]:
        return self._read(scanner_rows.all_rows)

    def find_scanner(self, query: str) -> ScannerRow:
        return scanner_rows.match(self.scanners(), query)

    # ---------------------------------------------------------------------------- phantom runs and baselines

    def save_phantom_run(self, result: PhantomResult, provenance: Provenance) -> tuple[int, bool]:
        return self._write(lambda s: run_rows.save(s, result, provenance))

    def phantom_runs(self, scanner_id: int, *, configuration_key: str | None = None, protocol_ok_only: bool = False) -> list[RunRow]:
        return self._read(lambda s: run_rows.runs(s, scanner_id, configuration_key=configuration_key,
                                                  protocol_ok_only=protocol_ok_only))

    def active_baseline(self, scanner_id: int, configuration_key: str | None = None) -> Baseline | None:
        return self._read(lambda s: baseline_rows.active(s, scanner_id, configuration_key))

    # ---------------------------------------------------------------------------- transactions

    def _read(self, query):
        """``query(session)`` in one read transaction (its queries see one state of the file)."""
        try:
            self._connection.execute("BEGIN")
            try:
                out = query(self._session)
                self._connection.execute("COMMIT")  # nothing was written: ends the read
            except BaseException:
                self._rollback()
                raise
            return out
        except sqlite3.Error as exc:
            problem = self._problem(exc, writing=False)
            if problem is None:
                raise
            raise problem from exc

    def _write(self, change):
        """``change(session)`` in one ``BEGIN IMMEDIATE`` transaction, committed; rolled back on any
        error, and run again after losing a race with another writer."""
        def attempt():
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                out = change(self._session)
                self._connection.execute("COMMIT")  # a COMMIT that fails (locked, disk full) is rolled back and raised too
            except BaseException:
                self._rollback()
                raise
            return out

        try:
            return self._run_again_after_lost_races(attempt)
        except sqlite3.Error as exc:
            problem = self._problem(exc, writing=True)
            if problem is None:
                raise
            raise problem from exc

    def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not ended it itself (it rolls back on a full
        disk, an I/O error, ...): an error of the ROLLBACK never replaces the error that led to it,
        and a transaction never stays open for the next attempt."""
        if not self._connection.in_transaction:
            return
        try:
            self._connection.execute("ROLLBACK")
        except sqlite3.Error:
            if self._connection.in_transaction:
                raise

    @staticmethod
    def _run_again_after_lost_races(action, attempts: int = 4):
        """As :func:`qa.store.engine.retry`: a unique key taken meanwhile or a file locked past the busy
        timeout runs ``action`` again, a little later; anything else is raised at once."""
        return run_again_after_lost_races(action, attempts=attempts, errors=(sqlite3.IntegrityError, sqlite3.OperationalError),
                                          integrity=sqlite3.IntegrityError)

    def _problem(self, exc: sqlite3.Error, *, writing: bool) -> UsageError | None:
        """The user's error for a SQLite error (a damaged file, a layout changed by hand, a store that
        may not be written), None for any other (a bug: raised as it is)."""
        text = str(exc).strip()
        if writing and is_write_denied(text):
            return write_denied_error(self.display_url, text)
        if isinstance(exc, sqlite3.DatabaseError) and is_layout_problem(text):
            return layout_error(self.display_url, text)
        if isinstance(exc, sqlite3.DatabaseError) and is_damage(text):
            return damage_error(self.display_url, text)
        return None

    def _cannot_open(self, exc: sqlite3.Error) -> UsageError:
        return UsageError(f"cannot open the database {self.display_url}: {str(exc).strip()}",
                          hint="check that the server runs and the URL, user and password are right; a SQLite file "
                               "must be in a folder you may read and write")


def refuse_unusable(url: str) -> None:
    """Refuse, before anything is analysed, a database that could never keep a result: an
    in-memory SQLite database, or a SQLite file that is not one (random bytes, a truncated copy)."""
    shown = display_url(url)
    if in_memory(url):
        raise UsageError(f"the database {shown} is an in-memory database: every result stored there would be lost "
                         "when qa ends", hint="give a database file (--db sqlite:////path/qa.sqlite) or a server; to "
                         "analyse without storing use --no-store")
    path = sqlite_path(url)
    if path is not None and path.exists():
        problem = sqlite_file_problem(path)
        if problem is not None:
            raise UsageError(f"the database {shown} {problem}",
                             hint="restore it from a backup, or move it aside and give another with --db; nothing was "
                                  "analysed or stored")


# The SQLite file header (https://www.sqlite.org/fileformat.html, section 1.3): 100 bytes,
# starting with this text; page size at offset 16, change counter at 24, page count at 28, and
# at 92 the change counter for which that page count is valid.
SQLITE_MAGIC = b"SQLite format 3\x00"


def sqlite_file_problem(path: Path) -> str | None:
    """What is wrong with an existing SQLite file before SQLite reads it (None: nothing seen).

    An empty file is a new database; a file too short for the header, one without the SQLite
    header, or one shorter than the pages its header counts (a truncated copy) is not usable.
    A file that another process is committing to (rollback journal: the first page, which counts
    the pages, is written before the file grows) can look short for a moment: it is judged
    truncated only when it still looks so after a few short waits."""
    for wait_s in _TRUNCATION_RECHECKS_S:
        problem, truncated = _file_problem(path)
        if not truncated:
            return problem
        time.sleep(wait_s)
    return _file_problem(path)[0]


# Waits before looking again at a file that looks truncated (a commit in progress ends within them).
_TRUNCATION_RECHECKS_S = (0.02, 0.05, 0.1, 0.2)


def _file_problem(path: Path) -> tuple[str | None, bool]:
    """(what is wrong with the file, whether it looks truncated)."""
    try:
        with path.open("rb") as fp:
            header = fp.read(100)
            size = os.fstat(fp.fileno()).st_size  # after the header: a file growing meanwhile is not short
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})", False
    if size == 0:
        return None, False
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return "is not a SQLite database (no SQLite file header)", False
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and pages and size < pages * page_size:
        return f"is truncated: its header counts {pages} pages of {page_size} bytes ({pages * page_size} bytes), the file has {size}", True
    return None, False


