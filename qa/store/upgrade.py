"""Upgrading a database to the current layout: Alembic migrations in one transaction, on first use.

Imported only when a database is not at :data:`~qa.store.schema.HEAD_REVISION` (Alembic is not
loaded to open an up-to-date store).  What happens, all inside ONE transaction that is rolled
back on any failure, so that a database is either upgraded completely or left exactly as it was:

1. Concurrent first uses are serialised: PostgreSQL takes a transaction-level advisory lock (the
   key qa 0.1.0 took too, so a 0.1.0 starting meanwhile waits and then refuses the new layout);
   SQLite starts with ``BEGIN IMMEDIATE`` (one writer).  The state is read again under the lock,
   so the second of two processes starting together finds the work done and migrates nothing.
2. The state decides: an empty database runs every migration from scratch; a qa 0.1.0 database
   (``qa_meta.schema_version`` "2", no ``alembic_version``) is stamped ``0001`` and upgraded; a
   revision this code does not know (a newer qa upgraded it) and any other layout are refused
   with a :class:`~qa.errors.UsageError` naming the database and what to do.
3. SQLite: foreign keys are off for the whole migration (the pragma cannot change inside a
   transaction, so the migration has its own engine): rebuilding ``phantom_runs`` must not
   cascade-delete its metrics and checks.  ``PRAGMA foreign_key_check`` must come back empty
   before the commit.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from qa.errors import UsageError
from qa.store.engine import SQLITE_BEGIN, current_revisions, display_url, make_engine
from qa.store.schema import HEAD_REVISION, QA_TABLES, SCHEMA_VERSION_0_1_0, TABLES_0_1_0, qa_meta

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# The advisory lock qa has always taken on PostgreSQL around creating or changing its tables.
POSTGRES_LOCK_KEY = 7281001

# Alembic keeps its running migration context in module-level proxies (alembic.op, alembic.context),
# so two threads of one process must not run migrations at the same time.  This lock is taken
# before any database lock (never inside one), so it cannot deadlock with them.
_ALEMBIC_IN_USE = threading.Lock()

# Waiting for another process that is migrating may take longer than an ordinary write.
_MIGRATION_BUSY_TIMEOUT_MS = 120_000


def alembic_config(connection: sa.Connection | None = None):
    """The Alembic configuration of the qa migrations, built in code (no alembic.ini).

    ``connection``: the connection (inside its transaction) the migrations run on; ``env.py``
    refuses to run without one.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(url: str) -> None:
    """Bring the database at ``url`` to the head revision (see the module docstring)."""
    shown = display_url(url)
    with _ALEMBIC_IN_USE:
        engine = make_engine(url, foreign_keys=False, busy_timeout_ms=_MIGRATION_BUSY_TIMEOUT_MS, poolclass=sa.pool.NullPool)
        try:
            with engine.connect().execution_options(**{SQLITE_BEGIN: "BEGIN IMMEDIATE"}) as connection:
                with connection.begin():
                    _upgrade_locked(connection, shown)
        except UsageError:
            raise
        except sa.exc.DBAPIError as exc:
            explained = _explain(exc, shown)
            if explained is None:
                exc.add_note(f"the upgrade of {shown} was rolled back: the database is as it was before")
                raise
            raise explained from exc
        except Exception as exc:
            exc.add_note(f"the upgrade of {shown} was rolled back: the database is as it was before")
            raise
        finally:
            engine.dispose()


def _explain(exc: sa.exc.DBAPIError, shown: str) -> UsageError | None:
    """A database error during the upgrade that the user can act on, as a UsageError (else None)."""
    text = str(exc.orig)
    unchanged = "nothing was changed (the upgrade is one transaction, rolled back)"
    if getattr(exc.orig, "sqlstate", None) == "42501" or "readonly" in text.lower():
        return UsageError(f"cannot upgrade the database {shown}: {text.strip()}; {unchanged}",
                          hint="run qa once with a database user (or file permissions) that may change its tables, "
                               "for example the owner of the database")
    if "locked" in text.lower():
        return UsageError(f"cannot upgrade the database {shown}: another program has kept it locked for "
                          f"{_MIGRATION_BUSY_TIMEOUT_MS // 1000} s; {unchanged}",
                          hint="close the other program (or wait for it to finish), then run qa again")
    return None


def _upgrade_locked(connection: sa.Connection, shown: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY})
    config = alembic_config(connection)
    script = ScriptDirectory.from_config(config)
    revisions = current_revisions(connection) or []
    if revisions == [HEAD_REVISION]:
        return  # another process upgraded it while we waited for the lock
    if len(revisions) > 1:
        raise UsageError(f"the database {shown} records several layout revisions ({', '.join(revisions)}); qa makes only one",
                         hint="use another database with --db, and report how this one came about")
    if revisions:
        known = {s.revision for s in script.walk_revisions()}
        if revisions[0] not in known:
            raise UsageError(
                f"the database {shown} has layout revision {revisions[0]}, newer than this qa knows (it knows up to "
                f"{HEAD_REVISION}): a newer qa upgraded it",
                hint="use the newer qa that upgraded it, or another database with --db",
            )
        before = revisions[0]
    else:
        before = _legacy_revision(connection, shown)
        if before is not None:
            command.stamp(config, before)
    try:
        command.upgrade(config, "head")
    except ValueError as exc:  # a stored value the migration cannot convert
        raise UsageError(
            f"cannot upgrade the database {shown} from layout revision {before or 'none'} to {HEAD_REVISION}: {exc}; "
            "nothing was changed (the upgrade is one transaction, rolled back)",
            hint="correct or remove that value with the database's own tool (sqlite3, psql), or restore a backup; then run qa again",
        ) from exc
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            listing = ", ".join(f"{row[0]} row {row[1]} -> {row[2]}" for row in broken[:10])
            raise UsageError(
                f"cannot upgrade the database {shown}: {len(broken)} row(s) refer to rows that do not exist ({listing}); "
                "nothing was changed (the upgrade is one transaction, rolled back)",
                hint="remove those rows (or restore a backup) with sqlite3, then run qa again",
            )
    after = current_revisions(connection)
    if after != [HEAD_REVISION]:
        raise AssertionError(f"the migrations ended at {after}, not at {HEAD_REVISION}")


def _legacy_revision(connection: sa.Connection, shown: str) -> str | None:
    """The revision of a database without ``alembic_version``: None when it holds no qa table
    (run every migration), "0001" for a qa 0.1.0 database; any other layout is refused."""
    inspector = sa.inspect(connection)
    present = QA_TABLES & set(inspector.get_table_names())
    if not present:
        return None
    if "qa_meta" not in present:
        raise UsageError(
            f"the database {shown} was created by an earlier development version of qa (no layout version)",
            hint="move that database aside (or give another with --db); qa never alters a database it did not create",
        )
    version = connection.execute(sa.select(qa_meta.c.value).where(qa_meta.c.key == "schema_version")).scalar()
    if version != SCHEMA_VERSION_0_1_0:
        raise UsageError(f"the database {shown} has table layout {version or 'unknown'}, which this qa cannot upgrade",
                         hint="use the qa version that created it, or another database (--db)")
    missing = sorted(TABLES_0_1_0 - present)
    if missing:
        raise UsageError(f"the database {shown} says it has the qa 0.1.0 layout but lacks the table(s) {', '.join(missing)}",
                         hint="restore it from a backup, or use another database (--db)")
    return "0001"
