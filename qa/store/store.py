""":class:`Store`: a connection to the results database, brought to the current layout on opening.

Each method is one short transaction; writes are retried after losing a race with another
process (a scanner or run stored meanwhile, SQLite busy), so concurrent runs never lose a result.
The queries themselves live in :mod:`qa.store.scanners`, :mod:`qa.store.phantom_runs`,
:mod:`qa.store.baselines` and :mod:`qa.store.studies`.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from typing import TYPE_CHECKING

import sqlalchemy as sa

from qa.errors import UsageError
from qa.phantom.baseline import Baseline
from qa.records.identity import ScannerIdentity
from qa.records.provenance import Provenance
from qa.store import baselines as baseline_rows
from qa.store import phantom_runs as run_rows
from qa.store import scanners as scanner_rows
from qa.store.engine import display_url, make_engine, read_only_engine, resolve_url, retry, sqlite_path, writer
from qa.store.layout import check_current, ensure_current
from qa.store.phantom_runs import RunRow
from qa.store.problems import is_write_denied, write_denied_error
from qa.store.scanners import ScannerRow
from qa.store.schema import qa_meta
from qa.store.sqlite_file import refuse_unusable

if TYPE_CHECKING:
    from qa.phantom.analysis import PhantomResult
    from qa.records.study import IngestedObject, SavedStudy, StoredStudy, StudyRecord
    from qa.store.studies import Merge


class Store:
    """A connection to the results database (created, or upgraded in place, on first use).

    ``read_only``: the database must exist and be current; nothing is created, upgraded or written
    (SQLite is opened read-only, PostgreSQL transactions are read-only): what ``--no-store`` reads.
    ``probe_write`` (not read-only): make sure on opening that the database may be written (a
    rolled-back change), so that a store that cannot keep a result is refused before any analysis.
    Refused on opening (:class:`~qa.errors.UsageError`, the URL shown without its password): an
    in-memory SQLite database, a file that is not a SQLite database or is truncated, a driver that
    is not installed, a server that cannot be reached.
    """

    def __init__(self, url: str | None = None, *, read_only: bool = False, probe_write: bool = True):
        self.url = resolve_url(url)
        self.read_only = read_only
        self.engine = None
        refuse_unusable(self.url)
        path = sqlite_path(self.url)
        if path is not None and not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if read_only:
                self.engine = read_only_engine(self.url)
                self._writer = self.engine
                check_current(self.engine, self.url)
                return
            self.engine = make_engine(self.url)
            self._writer = writer(self.engine)
            retry(lambda: ensure_current(self.engine, self.url))
            if probe_write:
                self._writing(lambda: retry(self._probe_write))
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            self.close()
            raise UsageError(f"cannot use the database URL {self.display_url}: {exc}",
                             hint="give a URL like sqlite:////path/qa.sqlite or postgresql+psycopg://user@host/qa") from exc
        except ImportError as exc:
            self.close()
            raise UsageError(f"cannot use the database URL {self.display_url}: its database driver ({exc.name or exc}) is not "
                             "installed", hint="use a SQLite file (sqlite:////path/qa.sqlite) or PostgreSQL "
                             "(postgresql+psycopg://user@host/qa), whose drivers come with qa; or install that driver in "
                             "qa's environment") from exc
        except sa.exc.OperationalError as exc:
            self.close()
            raise UsageError(f"cannot open the database {self.display_url}: {str(exc.orig).strip()}",
                             hint="check that the server runs and the URL, user and password are right; a SQLite file "
                                  "must be in a folder you may read and write") from exc
        except sa.exc.DatabaseError as exc:  # "file is not a database", "database disk image is malformed", ...
            self.close()
            raise UsageError(f"cannot use the database {self.display_url}: {str(exc.orig).strip()}",
                             hint="restore it from a backup, or move it aside and give another with --db; nothing was "
                                  "analysed or stored") from exc
        except BaseException:
            self.close()
            raise

    def _probe_write(self) -> None:
        """Make sure the store can be written before any analysis runs: change a row in a
        transaction that is rolled back (a read-only file or server, a user without the right fails here)."""
        with self._writer.connect() as c:
            transaction = c.begin()
            try:
                c.execute(qa_meta.update().where(qa_meta.c.key == "schema_version").values(value=qa_meta.c.value))
            finally:
                transaction.rollback()

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return display_url(self.url)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    # ---------------------------------------------------------------------------- scanners

    def find_scanner_id(self, scanner: ScannerIdentity) -> int | None:
        """The id of a known scanner (manufacturer + model + serial), else None; never writes."""
        with self.engine.connect() as c:
            return scanner_rows.find_id(c, scanner)

    def scanner_id(self, scanner: ScannerIdentity, conn=None) -> int:
        """The id of the scanner (manufacturer + model + serial), created on first sight."""
        if conn is not None:
            return scanner_rows.get_or_create_id(conn, scanner)
        with self._writer.begin() as c:
            return scanner_rows.get_or_create_id(c, scanner)

    def scanners(self) -> list[ScannerRow]:
        with self.engine.connect() as c:
            return scanner_rows.all_rows(c)

    def find_scanner(self, query: str) -> ScannerRow:
        """A scanner by id (``3`` or ``#3``), station name, serial number or model (case-insensitive)."""
        return scanner_rows.match(self.scanners(), query)

    # ---------------------------------------------------------------------------- phantom runs

    def save_phantom_run(self, result: PhantomResult, provenance: Provenance) -> tuple[int, bool]:
        """Store one phantom-QA result with its provenance in one transaction; (run id, replaced).

        ``provenance.analysis_time`` must be aware (naive ones raise ``ValueError``); the
        acquisition time without an offset is local time.  Safe when several processes store at
        once: a lost race on a new scanner or run is retried.
        """
        def save() -> tuple[int, bool]:
            with self._writer.begin() as c:
                return run_rows.save(c, result, provenance)

        return self._writing(lambda: retry(save))

    def phantom_runs(self, scanner_id: int, *, configuration_key: str | None = None, protocol_ok_only: bool = False) -> list[RunRow]:
        """Runs of a scanner in acquisition order, with their metrics (timestamps aware, UTC)."""
        with self.engine.connect() as c:
            return run_rows.runs(c, scanner_id, configuration_key=configuration_key, protocol_ok_only=protocol_ok_only)

    def run_document(self, run_id: int) -> dict:
        with self.engine.connect() as c:
            return run_rows.document(c, run_id)

    def run_checks(self, run_id: int) -> list[dict]:
        with self.engine.connect() as c:
            return run_rows.checks(c, run_id)

    # ---------------------------------------------------------------------------- studies

    def save_study(self, record: StudyRecord, *, merge: Merge | None = None) -> SavedStudy:
        """Store one study (its row, dose events, checklists and objects) in ONE transaction;
        :class:`~qa.records.study.SavedStudy` (row id, ``added`` | ``updated`` | ``unchanged``).

        Idempotent: saving the same record again changes nothing (``unchanged``).  A study stored
        already is merged under its row lock: ``merge(stored, record)`` returns the record to keep
        (the workflow recomputes the dose of the merged events); events are kept once per
        Irradiation Event UID, and a checklist replaces the stored one of its series and protocol
        (see :mod:`qa.store.studies`).  Safe when several processes save at once: a lost race (the
        study inserted meanwhile, SQLite busy, a PostgreSQL unique violation) runs the transaction again.
        """
        def save() -> SavedStudy:
            with self._writer.begin() as c:
                return _study_rows().save(c, record, merge=merge)

        return self._writing(lambda: retry(save, attempts=8))

    def mark_ingested(self, objects: list[IngestedObject]) -> int:
        """Record objects that belong to no stored study (nothing in them to store) as ingested, so a
        second ingest skips them; returns how many were new."""
        def mark() -> int:
            with self._writer.begin() as c:
                return _study_rows().mark_objects(c, objects, None)

        return self._writing(lambda: retry(mark, attempts=8))

    def ingested(self, sop_instance_uids) -> set[str]:
        """Which of these SOP Instance UIDs are stored (``ingested_objects``)."""
        with self.engine.connect() as c:
            return _study_rows().stored_objects(c, sop_instance_uids)

    def study(self, study_key: str) -> StoredStudy | None:
        """The stored study with this key (the pseudonym of its StudyInstanceUID), or None."""
        with self.engine.connect() as c:
            return _study_rows().find(c, study_key)

    def studies(self) -> list[StoredStudy]:
        """Every stored study with its events and checklists, by study date."""
        with self.engine.connect() as c:
            return _study_rows().all_studies(c)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sa.Connection]:
        """A connection in ONE read transaction, for several queries that must see the same data
        (the trends, :mod:`qa.store.trends`): PostgreSQL ``REPEATABLE READ`` (a snapshot, whatever
        is committed meanwhile); SQLite holds its read lock until the end.  Nothing is written.

        On PostgreSQL the transaction sorts in memory up to 64 MB (``work_mem``: the trends sort a
        period's studies once per query) and does not JIT-compile (``jit``: compiling costs more
        than these queries take)."""
        connection = self.engine.connect()
        try:
            postgresql = self.engine.dialect.name == "postgresql"
            if postgresql:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin() as transaction:
                if postgresql:
                    connection.exec_driver_sql("SET LOCAL work_mem = '64MB'")
                    connection.exec_driver_sql("SET LOCAL jit = off")
                yield connection
                transaction.rollback()
        finally:
            connection.close()

    def study_counts(self) -> dict[str, int]:
        """Rows in each table of the manager's view (studies, dose_events, exam_checks, ...)."""
        with self.engine.connect() as c:
            return _study_rows().counts(c)

    # ---------------------------------------------------------------------------- baselines

    def active_baseline(self, scanner_id: int, configuration_key: str | None = None) -> Baseline | None:
        """The active baseline of a scanner, as a :class:`~qa.phantom.analysis.Baseline`.

        For ``configuration_key`` when given; else (or when that configuration has none) the one
        set most recently, so that a run in another configuration is reported as a configuration
        change against it rather than as "no baseline yet".  ``created_at`` is aware, UTC.
        """
        with self.engine.connect() as c:
            return baseline_rows.active(c, scanner_id, configuration_key)

    def baselines(self, scanner_id: int) -> list:
        """(Baseline, active, created_by, reason) for every version, oldest first."""
        with self.engine.connect() as c:
            return baseline_rows.history(c, scanner_id)

    def set_baseline(self, scanner_id: int, baseline: Baseline, *, reason: str | None = None) -> int:
        """Store ``baseline`` as the new active version for its configuration; audited.  Two
        concurrent calls never take the same version: the loser counts again.

        ``baseline.created_at``: ISO 8601 with a UTC offset, or an aware datetime.
        """
        actor = _actor()

        def store() -> int:
            with self._writer.begin() as c:
                return baseline_rows.set_active(c, scanner_id, baseline, reason=reason, actor=actor)

        return self._writing(lambda: retry(store))

    def _writing(self, action):
        """Run a write; a database that may not be written (a read-only file, a user without the
        right) is a clear error saying nothing was stored, not an internal error."""
        try:
            return action()
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.InternalError) as exc:
            text = str(exc.orig).strip() if getattr(exc, "orig", None) is not None else str(exc)
            if not is_write_denied(text, getattr(getattr(exc, "orig", None), "sqlstate", None)):
                raise
            raise write_denied_error(self.display_url, text) from exc

    def audit_trail(self, scanner_id: int | None = None) -> list[dict]:
        """Audit events, oldest first: {at (aware, UTC), actor, event, scanner_id, details}."""
        with self.engine.connect() as c:
            return baseline_rows.audit_trail(c, scanner_id)


def _actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def _study_rows():
    """:mod:`qa.store.studies`, imported when a study is read or written: a phantom run needs none
    of it (nor its records), and importing them costs about 10 ms of every stored run."""
    from qa.store import studies

    return studies
