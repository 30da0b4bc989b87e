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

import sqlalchemy as sa

from qa.errors import UsageError
from qa.store.problems import damage_error, is_damage, is_layout_problem, layout_error, run_again_after_lost_races
from qa.store.sqlite_file import BUSY_TIMEOUT_MS
from qa.store.urls import default_url, display_url, in_memory, resolve_url, sqlite_path  # noqa: F401 - re-exported

# Execution option naming the statement that opens a SQLite transaction (see make_engine).
SQLITE_BEGIN = "qa_sqlite_begin"
# A server that does not answer is reported after this long, not after the system's TCP timeout.
CONNECT_TIMEOUT_S = 10


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
    on_statement = context.connection is not None and context.statement is not None  # not while connecting
    if on_statement and isinstance(exc, sa.exc.DatabaseError) and is_layout_problem(text):
        raise layout_error(where, text) from exc
    if isinstance(exc, sa.exc.DatabaseError) and is_damage(text):
        raise damage_error(where, text) from exc


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
    never lose a result (:func:`qa.store.problems.run_again_after_lost_races`)."""
    return run_again_after_lost_races(
        action, attempts=attempts, errors=(sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError),
        integrity=sa.exc.IntegrityError, text=lambda exc: str(exc.orig) if getattr(exc, "orig", None) is not None else str(exc))
