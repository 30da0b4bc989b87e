"""What every workflow shares: the clock, provenance, and the results store to read or write.

The store policy, in one place: a workflow that stores opens the store for writing (created or
upgraded on first use; a store it cannot open is an error).  A workflow told not to store
(``--no-store``) still *reads* the store when one exists, read-only, so that its checks are the
same as a stored run's; only when no store can be read does it go on without, saying why.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.errors import UsageError
from qa.store.urls import default_url, display_url, resolve_url, sqlite_path

if TYPE_CHECKING:
    from qa.store import Store
    from qa.store.sqlite_file import SqliteFileStore


def now() -> dt.datetime:
    """The analysis time: UTC, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def one_shot_process() -> None:
    """This process runs one command on one input and exits: what its header scan keeps is frozen
    out of the garbage collector's walks (:func:`qa.dicom.collector.freeze_after_scans`), and so is
    everything at its exit (:func:`qa.dicom.collector.freeze_at_exit`); freed heap is kept for the
    next array (:func:`qa.heap.keep_heap_slack`).  Never for a process that reads input after input
    (``qa ingest``, ``qa serve``, a notebook, the tests)."""
    from qa.dicom.collector import freeze_after_scans, freeze_at_exit
    from qa.heap import keep_heap_slack

    freeze_after_scans()
    freeze_at_exit()
    keep_heap_slack()


def qa_version() -> str:
    from qa import __version__

    return __version__


@dataclass
class StoreAccess:
    """The store a workflow works with: ``store`` is None when none could be read (``reason`` says
    why).  A writable access to a store that does not exist yet creates it on the first write
    (:meth:`for_writing`), so that an input refused before that leaves no trace."""

    store: Store | SqliteFileStore | None
    writable: bool
    reason: str | None = None
    url: str | None = None

    def for_writing(self) -> Store:
        if not self.writable:
            raise RuntimeError("this store access is read-only")
        if self.store is None:
            from qa.store import Store

            self.store = Store(self.url)
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> StoreAccess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# How a workflow uses the store (module doc).
WRITE, READ, NO_WRITE = "write", "read", "no-write"


def open_store(db: str | None, *, mode: str, phantom_runs_only: bool = False) -> StoreAccess:
    """The store at ``db`` (else ``QA_DB_URL``, else the default SQLite file), used in ``mode``:

    * ``write``: an existing store is opened for writing (upgraded in place when an older qa made
      it; one that cannot be opened raises); a SQLite file that does not exist yet is created at
      the first write (:meth:`StoreAccess.for_writing`);
    * ``read`` (``qa trend``, ``qa baseline show``): an existing store is opened as on any first
      use (upgraded when due; one that cannot be opened raises); a missing one gives
      ``StoreAccess(None, False, reason)``;
    * ``no-write`` (``--no-store``): an existing, current store is opened read-only; nothing is
      created, upgraded or written.  A store that does not exist yet (or an empty database) gives
      ``StoreAccess(None, False, reason)``: nothing was stored, so there is nothing to compare
      with.  A store that exists but cannot be read as it is (an older layout that needs its
      upgrade, a newer one, a wrong password) raises: a run must never pass because its baseline
      could not be read.

    ``phantom_runs_only``: the caller uses only scanners, baselines and phantom runs (a daily
    phantom run), so a SQLite file at the current layout is opened through the stdlib ``sqlite3``
    (:class:`qa.store.sqlite_file.SqliteFileStore`, the same queries and rules) instead of
    importing SQLAlchemy; any other store is opened as above.
    """
    if mode not in (WRITE, READ, NO_WRITE):
        raise ValueError(f"unknown store mode {mode!r}")
    url = resolve_url(db)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        if mode == WRITE:
            _refuse_uncreatable(path, url, default=url == default_url() and not db and not os.environ.get("QA_DB_URL"))
        where = "the default store" if url == default_url() and not db and not os.environ.get("QA_DB_URL") else "the store"
        return StoreAccess(None, mode == WRITE, f"{where} {path} does not exist yet: nothing stored to compare with", url)
    if phantom_runs_only and mode != READ:
        from qa.store.sqlite_file import open_sqlite_file

        light = open_sqlite_file(url, read_only=mode == NO_WRITE, probe_write=mode == WRITE)
        if light is not None:
            return StoreAccess(light, mode == WRITE, None, url)
    from qa.store import Store

    if mode != NO_WRITE:
        return StoreAccess(Store(url, probe_write=mode == WRITE), mode == WRITE, None, url)
    from qa.store.layout import EmptyStore

    try:
        return StoreAccess(Store(url, read_only=True), False, None, url)
    except EmptyStore as exc:
        return StoreAccess(None, False, f"{exc.message}: nothing stored to compare with", url)


def _refuse_uncreatable(path, url: str, *, default: bool = False) -> None:
    """A SQLite store that does not exist yet must be creatable where it is asked for: checked
    before any analysis, so that a run is never analysed only to find it cannot be stored.  A new
    store asked for by ``--db`` or ``QA_DB_URL`` must be in a folder that exists (as an output file
    must: a mistyped path never makes folders); only the default store's folder (the user's data
    folder) is created."""
    if not default and not path.parent.is_dir():
        import shlex

        raise UsageError(f"the store {display_url(url)} cannot be created: its folder {path.parent} does not exist",
                         hint=f"create the folder first (mkdir -p {shlex.quote(str(path.parent))}), or give another --db")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"the store {display_url(url)} cannot be created: {folder} is not a folder qa may write in",
                         hint="give a store in a folder you may write with --db, or analyse without storing with --no-store")
