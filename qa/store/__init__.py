"""The results database: SQLite by default, PostgreSQL by URL (SQLAlchemy Core, Alembic migrations).

Works unconfigured: the default is a SQLite file created on first use in the user's data folder
(``default_url()``; on Linux ``~/.local/share/qa/qa.sqlite``).  ``--db URL`` or ``QA_DB_URL``
choose another database, e.g. ``postgresql+psycopg://user:password@host/qa``.

What is kept: scanners (manufacturer + model + serial number, station name as a label), phantom
runs with their provenance (toolkit version, procedure and its SHA-256, settings, SOP Instance
UIDs inside the stored document), their metrics and checks (with the reference and the limits that
applied that day), versioned baselines, an audit trail of baseline changes, and (revision 0004)
the manager's view: studies with their dose events and exam checklists, and the objects ingested
(:mod:`~qa.store.studies`, written by ``qa ingest``, ``qa check --db`` and ``qa dose --db``; aggregated
in SQL for ``qa trends`` by :mod:`~qa.store.trends`).  A series is kept once per
acquisition configuration: re-analysing it replaces the earlier result instead of adding a second
one.  Saves are safe when several processes store at once.  No patient identifier is stored.

Layout and upgrades: the tables are made and changed only by the Alembic migrations in
``qa/store/migrations`` (an empty database runs them all).  Opening a :class:`Store` on an older
database (one written by qa 0.1.0 included) upgrades it in place, in one transaction, losing
nothing: a failure leaves it exactly as it was.  Concurrent first uses wait for each other.  A
database upgraded by a newer qa (a revision this code does not know) is refused, never altered.
Checking that a database is current does not import Alembic.

Time: every timestamp is time-zone aware and stored as UTC (``TIMESTAMP WITH TIME ZONE`` on
PostgreSQL); the store returns aware ``datetime`` objects with ``tzinfo=UTC`` and refuses naive
ones.  A DICOM acquisition date-time without an offset (how scanners write it, and how qa 0.1.0
stored it) is the site's local time: it is read in the local time zone of the computer that
stores it, or that upgrades a qa 0.1.0 database (Python's ``datetime.astimezone()`` on the naive
value).  Upgrade a 0.1.0 database from a computer set to the site's time zone.

Modules: :mod:`~qa.store.engine` (URL, engine, the current-layout check), :mod:`~qa.store.upgrade`
(the migrations, run on first use), :mod:`~qa.store.schema` (tables) with :mod:`~qa.store.revision`
(the head revision) and :mod:`~qa.store.utc_column` (the timestamp column type),
:mod:`~qa.store.timestamps` (the time rule), :mod:`~qa.store.scanners`,
:mod:`~qa.store.phantom_runs`, :mod:`~qa.store.baselines` (plain SQL on either driver: :mod:`~qa.store.sql`),
:mod:`~qa.store.studies`, :mod:`~qa.store.trends` with :mod:`~qa.store.percentiles` (the queries),
:mod:`~qa.store.problems` (what a database error means for the user), :mod:`~qa.store.store`
(the :class:`Store` API), and :mod:`~qa.store.sqlite_file` (a current SQLite store through the
standard library's ``sqlite3``: what a daily phantom run opens, without SQLAlchemy's import).
"""

from __future__ import annotations

__all__ = ["HEAD_REVISION", "SCHEMA_VERSION", "RunRow", "ScannerRow", "Store", "default_url", "metadata", "resolve_url"]


def __getattr__(name: str):
    """The names above, imported on first use (PEP 562): importing a light module of the package
    (qa.store.urls: is there a store file?) does not import SQLAlchemy.  Plain imports, so that the
    import contracts see them."""
    if name in ("default_url", "resolve_url"):
        from qa.store import urls as module
    elif name == "RunRow":
        from qa.store import phantom_runs as module
    elif name == "ScannerRow":
        from qa.store import scanners as module
    elif name in ("HEAD_REVISION", "SCHEMA_VERSION", "metadata"):
        from qa.store import schema as module
    elif name == "Store":
        from qa.store import store as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
