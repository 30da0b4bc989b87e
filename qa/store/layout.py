"""Is a database's layout current?  Upgrade it (a writing store) or refuse it (a read-only one).

The fast path reads ``alembic_version`` with plain SQLAlchemy; only when an upgrade is due is
:mod:`qa.store.upgrade` (and with it Alembic) imported.
"""

from __future__ import annotations

import sqlalchemy as sa

from qa.errors import UsageError
from qa.store.engine import current_revisions, display_url
from qa.store.schema import HEAD_REVISION


class EmptyStore(UsageError):
    """The database exists but holds no qa results store yet (nothing stored to read)."""


def ensure_current(engine: sa.Engine, url: str) -> None:
    """Bring the database at ``url`` to :data:`HEAD_REVISION` unless it is there already.

    The check is plain SQLAlchemy; the upgrade (Alembic, one transaction, serialised between
    processes) lives in :mod:`qa.store.upgrade` and is imported only when due.
    """
    with engine.connect() as c:
        revisions = current_revisions(c)
    if revisions == [HEAD_REVISION]:
        return
    from qa.store.upgrade import upgrade_to_head

    upgrade_to_head(url)


def check_current(engine: sa.Engine, url: str) -> None:
    """Refuse (``UsageError``) a database that is not at :data:`HEAD_REVISION`, without changing it:
    an older one needs the upgrade a writing command makes, a newer one a newer qa."""
    with engine.connect() as c:
        revisions = current_revisions(c)
        has_tables = bool(sa.inspect(c).get_table_names())
    if revisions == [HEAD_REVISION]:
        return
    shown = display_url(url)
    if revisions is None and not has_tables:
        raise EmptyStore(f"{shown} holds no qa results store yet",
                         hint="store results first: qa ingest (exams and dose reports) or qa phantom (without --no-store)")
    if revisions is None or revisions[0] < HEAD_REVISION:
        raise UsageError(f"the store {shown} was written by an earlier qa and must be upgraded before it can be read",
                         hint="open it once with a command that may write (qa ingest, qa trend --scanner ID, or qa phantom "
                              "without --no-store): it upgrades the store in place; --no-store never writes")
    raise UsageError(f"the store {shown} has layout revision {', '.join(revisions)}, newer than this qa knows ({HEAD_REVISION})",
                     hint="use the newer qa that upgraded it, or another database with --db")
