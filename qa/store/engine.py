"""Which database, how to connect to it, and making sure its layout is current before use.

* :func:`resolve_url`: ``--db URL``, else ``QA_DB_URL``, else a SQLite file in the user's data
  folder (:func:`default_url`, created on first use); these URL rules live in :mod:`qa.store.urls`
  (no SQLAlchemy import) and are re-exported here.
* :func:`make_engine`: SQLite gets foreign keys on, a 10 s busy timeout, and real transactions
  (the pysqlite driver's own BEGIN handling is switched off and SQLAlchemy emits BEGIN itself, so
  that reads and DDL are inside the transaction too); :func:`writer` hands out the same engine
  with ``BEGIN IMMEDIATE`` for write transactions, which take SQLite's write lock at the start
  and so wait for each other instead of failing half-way.
* whether a database's layout is current, and upgrading it: :mod:`qa.store.layout`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import sqlalchemy as sa

from qa.errors import UsageError
from qa.store.urls import default_url, display_url, in_memory, resolve_url, sqlite_path  # noqa: F401 - re-exported

# Execution option naming the statement that opens a SQLite transaction (see make_engine).
SQLITE_BEGIN = "qa_sqlite_begin"
BUSY_TIMEOUT_MS = 10_000
# A server that does not answer is reported after this long, not after the system's TCP timeout.
CONNECT_TIMEOUT_S = 10


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


def make_engine(url: str, *, foreign_keys: bool = True, busy_timeout_ms: int = BUSY_TIMEOUT_MS, **kwargs) -> sa.Engine:
    """An engine for ``url``; on SQLite with the pragmas and the transactional-DDL recipe.

    ``foreign_keys=False`` is for migrations only: SQLite rebuilds a table to change a column,
    and dropping the old ``phantom_runs`` with foreign keys on would cascade-delete every metric
    and check (``ON DELETE CASCADE``).  The pragma can only change outside a transaction, hence
    per engine.
    """
    if sa.engine.make_url(url).get_backend_name() == "postgresql" and "connect_timeout" not in url:
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    engine = sa.create_engine(url, **kwargs)
    sa.event.listen(engine, "handle_error", _damaged_or_lost)
    if engine.dialect.name == "sqlite":
        pragmas = (f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}", f"PRAGMA busy_timeout={int(busy_timeout_ms)}")

        def on_connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        def on_begin(connection) -> None:
            connection.exec_driver_sql(connection.get_execution_options().get(SQLITE_BEGIN, "BEGIN"))

        sa.event.listen(engine, "connect", on_connect)
        sa.event.listen(engine, "begin", on_begin)
    return engine


# What SQLite says of a file damaged past its header (https://www.sqlite.org/rescode.html:
# SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_IOERR): found only when a query reaches the bad page.
_DAMAGE_TEXTS = ("malformed", "not a database", "disk i/o error", "corrupt")
# ... and of a layout changed by hand behind the recorded revision (SQLite; PostgreSQL's
# UndefinedTable / UndefinedColumn say "does not exist"): a table or column is gone.
_LAYOUT_TEXTS = ("no such table", "no such column", "has no column named", "does not exist")


def _damaged_or_lost(context) -> None:
    """A store damaged past its first pages, or a server lost mid-run, is an input problem (exit
    2, the URL named), never an internal error: raised in place of SQLAlchemy's exception.  A
    lost race (locked, unique key) is left to :func:`retry`."""
    exc = context.sqlalchemy_exception
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    where = display_url(str(context.engine.url)) if context.engine is not None else "the database"
    if context.is_disconnect:
        raise UsageError(f"lost the connection to the database {where}: {text}",
                         hint="check the server and the network, then run again; the interrupted transaction was "
                              "rolled back, so nothing of it was stored") from exc
    if isinstance(exc, sa.exc.IntegrityError):
        return
    lowered = text.lower()
    on_statement = context.connection is not None and context.statement is not None  # not while connecting
    if on_statement and isinstance(exc, sa.exc.DatabaseError) and any(t in lowered for t in _LAYOUT_TEXTS):
        raise UsageError(f"the database {where} does not have the layout its version says it has: {text}",
                         hint="a table or column was removed or renamed by hand: restore the database from a backup, or "
                              "give another with --db; the interrupted transaction was rolled back, so nothing of it was "
                              "stored") from exc
    if isinstance(exc, sa.exc.DatabaseError) and any(t in lowered for t in _DAMAGE_TEXTS):
        raise UsageError(f"the database {where} is damaged: {text}",
                         hint="restore it from a backup (a SQLite file can be checked with: sqlite3 FILE \"PRAGMA "
                              "integrity_check\"), or give another with --db; the interrupted transaction was rolled "
                              "back, so nothing of it was stored") from exc


def writer(engine: sa.Engine) -> sa.Engine:
    """``engine`` for write transactions: on SQLite they start with ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{SQLITE_BEGIN: "BEGIN IMMEDIATE"})


def current_revisions(connection: sa.Connection) -> list[str] | None:
    """The revisions in ``alembic_version``, or None when that table does not exist."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return sorted(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def read_only_engine(url: str) -> sa.Engine:
    """An engine that cannot write: SQLite opened with ``mode=ro`` (the file must exist), PostgreSQL
    with read-only transactions (``default_transaction_read_only``)."""
    parsed = sa.engine.make_url(url)
    path = sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise sa.exc.OperationalError("open", {}, FileNotFoundError(f"{path} does not exist"))
        return make_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    if parsed.get_backend_name() == "postgresql":
        return make_engine(url, connect_args={"options": "-c default_transaction_read_only=on"})
    return make_engine(url)


def retry(action, attempts: int = 4):
    """Run ``action``; after losing a race with another process (a unique key or a table that
    appeared meanwhile, a database locked by another writer) run it again, so concurrent runs
    never lose a result."""
    for attempt in range(attempts):
        try:
            return action()
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError) as exc:
            text = str(exc.orig).lower() if getattr(exc, "orig", None) is not None else str(exc).lower()
            # a unique key taken meanwhile (SQLite "UNIQUE constraint failed", PostgreSQL "duplicate key"); any
            # other integrity error (a missing value, a broken reference) is a bug and is raised at once
            unique = isinstance(exc, sa.exc.IntegrityError) and ("unique" in text or "duplicate key" in text)
            # ... or a PostgreSQL deadlock between two writers (one of them is rolled back): run it again
            lost_race = unique or "already exists" in text or "locked" in text or "deadlock detected" in text
            if not lost_race or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
