"""What a database's error means for the user, said once for both drivers (SQLAlchemy's and the stdlib ``sqlite3``).

A damaged store, a layout changed by hand, a store that may not be written: each is an input
problem (:class:`~qa.errors.UsageError`, exit 2, the URL named, what to do next), never an
internal error.  A lost race with another writer (a unique key taken meanwhile, a locked SQLite
file, a PostgreSQL deadlock) is neither: the transaction is run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from qa.errors import UsageError

# What SQLite says of a file damaged past its header (https://www.sqlite.org/rescode.html:
# SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_IOERR): found only when a query reaches the bad page.
DAMAGE_TEXTS = ("malformed", "not a database", "disk i/o error", "corrupt")
# ... and of a layout changed by hand behind the recorded revision (SQLite; PostgreSQL's
# UndefinedTable / UndefinedColumn say "does not exist"): a table or column is gone.
LAYOUT_TEXTS = ("no such table", "no such column", "has no column named", "does not exist")
# PostgreSQL's SQLSTATEs of a write refused: insufficient_privilege, read_only_sql_transaction.
DENIED_SQLSTATES = ("42501", "25006")


def is_layout_problem(text: str) -> bool:
    lowered = text.lower()
    return any(t in lowered for t in LAYOUT_TEXTS)


def is_damage(text: str) -> bool:
    lowered = text.lower()
    return any(t in lowered for t in DAMAGE_TEXTS)


def layout_error(where: str, text: str) -> UsageError:
    return UsageError(f"the database {where} does not have the layout its version says it has: {text}",
                      hint="a table or column was removed or renamed by hand: restore the database from a backup, or "
                           "give another with --db; the interrupted transaction was rolled back, so nothing of it was "
                           "stored")


def damage_error(where: str, text: str) -> UsageError:
    return UsageError(f"the database {where} is damaged: {text}",
                      hint="restore it from a backup (a SQLite file can be checked with: sqlite3 FILE \"PRAGMA "
                           "integrity_check\"), or give another with --db; the interrupted transaction was rolled "
                           "back, so nothing of it was stored")


def is_write_denied(text: str, sqlstate: str | None = None) -> bool:
    """Does this error say the database may not be written (a read-only file or server, a user without the right)?"""
    return sqlstate in DENIED_SQLSTATES or any(word in text.lower() for word in ("readonly", "read-only", "permission denied"))


def write_denied_error(where: str, text: str) -> UsageError:
    return UsageError(f"the store {where} cannot be written ({text}): nothing was stored",
                      hint="give a store you may write with --db, or analyse without storing with --no-store")


def is_lost_race(text: str, *, integrity: bool) -> bool:
    """Did a transaction lose a race with another process (run it again), rather than fail?  ``integrity``:
    the error is an integrity error (only a unique key taken meanwhile is a race; any other is a bug)."""
    lowered = text.lower()
    # a unique key taken meanwhile (SQLite "UNIQUE constraint failed", PostgreSQL "duplicate key")
    unique = integrity and ("unique" in lowered or "duplicate key" in lowered)
    # ... a table that appeared meanwhile, a database locked by another writer, a PostgreSQL deadlock
    return unique or "already exists" in lowered or "locked" in lowered or "deadlock detected" in lowered


def run_again_after_lost_races(action, *, attempts: int, errors: tuple[type[BaseException], ...],
                               integrity: type[BaseException], text: Callable[[BaseException], str] = str):
    """Run ``action``; after losing a race with another process (:func:`is_lost_race`: a unique key or
    a table that appeared meanwhile, a database locked by another writer, a deadlock) run it again a
    little later, so concurrent runs never lose a result.  ``errors``: the driver's exceptions to look
    at (any other is raised at once), ``integrity`` its integrity error, ``text`` its message."""
    for attempt in range(attempts):
        try:
            return action()
        except errors as exc:
            if not is_lost_race(text(exc), integrity=isinstance(exc, integrity)) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
