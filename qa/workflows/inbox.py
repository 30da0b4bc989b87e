"""The DICOM receiver's inbox: the received files and their journal (``qa serve``).

Each object the receiver (:mod:`qa.net`) accepts is one file in the inbox folder, named
``<SOP Instance UID>.dcm`` (the UID checked first: :func:`qa.dicom.received.is_uid`), written to
a temporary name, synced and renamed (:meth:`Inbox.store_object`); only then is it recorded in the
journal, ``.qa-journal.sqlite`` in the same folder (SQLite, write-ahead log): one row per object
with its SOP class, modality, the pseudonyms of its study and series, the calling AE title, when it
came, and its state (``pending``, ``routed``, ``failed``), route, result and error.

Objects are grouped for routing (:mod:`qa.workflows.route`): CT images by series, SRs (dose
reports) by study, anything else object by object.  A group is routed once it has been quiet for
the settle time (:meth:`Journal.settled_groups`).  Crash safety: a file is complete under its name
or absent (temporary files, ``.<name>.<random>.qa-tmp``, are never journalled and are removed at
start); a file renamed into place but not yet journalled when the process died is found by
:meth:`Inbox.rescan` at the next start.  Study and series UIDs are kept only as keyed pseudonyms
(the SOP Instance UID names the file, as the issue asks, so the journal adds nothing by holding it).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from qa.records.serialize import Record

JOURNAL_NAME = ".qa-journal.sqlite"
SUFFIX = ".dcm"
TEMP_SUFFIX = ".qa-tmp"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    file TEXT PRIMARY KEY,              -- <SOP Instance UID>.dcm in the inbox
    sop_instance_uid TEXT NOT NULL,
    sop_class_uid TEXT,
    kind TEXT NOT NULL,                 -- ct | sr | ecg | capture | other
    modality TEXT,
    study_key TEXT,                     -- pseudonyms (qa.privacy), never the clear UIDs
    series_key TEXT,
    group_key TEXT NOT NULL,            -- series:<key> (CT), study:<key> (SR), object:<file> (others)
    calling_aet TEXT,
    workflow TEXT,                      -- a site rule's choice (qa.workflows.site_rules), else NULL
    received_at REAL NOT NULL,          -- seconds since the epoch
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | routed | failed | deleted (by the retention, file gone)
    route TEXT, result TEXT, error TEXT, routed_at REAL
);
CREATE INDEX IF NOT EXISTS objects_group ON objects (group_key);
CREATE INDEX IF NOT EXISTS objects_state ON objects (state);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);  -- the running receiver's keep_days
"""


def group_key_of(kind: str, study_key: str | None, series_key: str | None, file: str) -> str:
    if kind == "ct" and series_key:
        return f"series:{series_key}"
    if kind == "sr" and study_key:
        return f"study:{study_key}"
    return f"object:{file}"


@dataclass(frozen=True)
class Group(Record):
    """A settled group: every file of it present in the inbox, and those that were pending."""

    key: str
    kind: str
    study_key: str | None
    series_key: str | None
    files: tuple[str, ...]  # every object of the group (routed before or not), as paths
    members: tuple[str, ...]  # their file names (marked with the outcome)
    n_pending: int  # how many of them are new since the group was last routed
    calling_aets: tuple[str, ...]
    last_received_at: float
    workflow: str | None = None  # a site rule's choice for the group (its first object's that has one)


@dataclass(frozen=True)
class GroupStatus(Record):
    group: str
    kind: str
    objects: int
    calling_aets: tuple[str, ...]
    last_received: str  # ISO 8601, UTC


@dataclass(frozen=True)
class RoutedItem(Record):
    group: str
    kind: str
    objects: int
    state: str
    route: str | None
    result: str | None
    error: str | None
    routed: str | None  # ISO 8601, UTC


@dataclass(frozen=True)
class InboxStatus(Record):
    """The ``qa.serve-status/1`` document."""

    inbox: str
    objects: int
    pending: tuple[GroupStatus, ...]
    routed: tuple[RoutedItem, ...]  # the last routed groups, newest first
    failed: tuple[RoutedItem, ...]
    keep_days: float | None = None  # routed objects are deleted after this many days (None: kept for ever)
    deleted: int = 0  # objects deleted by that retention (their journal rows are kept, marked deleted)
    warnings: tuple[str, ...] = ()


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(microsecond=0).isoformat()


_UPSERT = ("INSERT INTO objects (file, sop_instance_uid, sop_class_uid, kind, modality, study_key, series_key, group_key,"
           " calling_aet, workflow, received_at, state, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
           " ON CONFLICT(file) DO UPDATE SET sop_class_uid=excluded.sop_class_uid, kind=excluded.kind,"
           " modality=excluded.modality, study_key=excluded.study_key, series_key=excluded.series_key,"
           " group_key=excluded.group_key, calling_aet=excluded.calling_aet, workflow=excluded.workflow, received_at=excluded.received_at,"
           " state=excluded.state, route=NULL, result=NULL, error=excluded.error, routed_at=NULL")


def _row(file: str, obj, calling_aet: str | None, received_at: float, state: str, error: str | None) -> tuple:
    kind = obj.kind if obj is not None else "other"
    group = group_key_of(kind, getattr(obj, "study_key", None), getattr(obj, "series_key", None), file)
    return (file, file.removesuffix(SUFFIX), getattr(obj, "sop_class_uid", None), kind, getattr(obj, "modality", None),
            getattr(obj, "study_key", None), getattr(obj, "series_key", None), group, calling_aet, getattr(obj, "workflow", None),
            received_at, state, error)


class Journal:
    """The inbox's journal; one SQLite connection per thread (the receiver's associations and the router)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a lost row after a power cut is found again by rescan
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def known(self, file: str) -> str | None:
        """The state of a journalled file, None when it is not in the journal."""
        row = self._conn().execute("SELECT state FROM objects WHERE file = ?", (file,)).fetchone()
        return None if row is None else row[0]

    def files(self) -> set[str]:
        return {r[0] for r in self._conn().execute("SELECT file FROM objects")}

    def record_received(self, file: str, obj, *, calling_aet: str | None, received_at: float,
                        state: str = "pending", error: str | None = None) -> None:
        """Journal one object (``obj``: :class:`qa.dicom.received.ReceivedObject`); a file journalled
        before (a re-send with other content) is queued again."""
        self._conn().execute(_UPSERT, _row(file, obj, calling_aet, received_at, state, error))

    def settled_groups(self, now: float, settle_seconds: float) -> list[Group]:
        """The groups holding pending objects whose newest object came at least ``settle_seconds`` ago, oldest first."""
        conn = self._conn()
        keys = conn.execute(
            "SELECT group_key, MAX(received_at) AS last FROM objects WHERE group_key IN"
            " (SELECT group_key FROM objects WHERE state = 'pending') GROUP BY group_key HAVING last <= ? ORDER BY last",
            (now - settle_seconds,)).fetchall()
        out = []
        for key, last in keys:
            rows = conn.execute("SELECT file, state, kind, study_key, series_key, calling_aet, workflow FROM objects WHERE group_key = ?"
                                " ORDER BY file", (key,)).fetchall()
            folder = self.path.parent
            out.append(Group(key, rows[0][2], rows[0][3], rows[0][4],
                             tuple(str(folder / r[0]) for r in rows), tuple(r[0] for r in rows),
                             sum(1 for r in rows if r[1] == "pending"),
                             tuple(sorted({r[5] for r in rows if r[5]})), last, next((r[6] for r in rows if r[6]), None)))
        return out

    def study_files(self, study_key: str, kind: str) -> tuple[str, ...]:
        """The files of one kind of a study (a CT exam's dose reports) present in the journal."""
        rows = self._conn().execute("SELECT file FROM objects WHERE study_key = ? AND kind = ? AND state != 'failed' ORDER BY file",
                                    (study_key, kind)).fetchall()
        return tuple(str(self.path.parent / r[0]) for r in rows)

    def mark(self, files: tuple[str, ...], *, state: str, route: str | None, result: str | None, error: str | None,
             received_before: float, at: float) -> None:
        """Mark the objects routed together (only those not re-sent since ``received_before``)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("UPDATE objects SET state=?, route=?, result=?, error=?, routed_at=? WHERE file=? AND received_at <= ?",
                             [(state, route, result, error, at, f, received_before) for f in files])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def requeue(self, group: str | None) -> tuple[int, int]:
        """Make the failed objects of ``group`` (every failed group when None) pending again; (groups, objects)."""
        conn = self._conn()
        where, args = ("state = 'failed'", ()) if group is None else ("state = 'failed' AND group_key = ?", (group,))
        conn.execute("BEGIN IMMEDIATE")
        try:
            groups = conn.execute(f"SELECT COUNT(DISTINCT group_key) FROM objects WHERE {where}", args).fetchone()[0]
            objects = conn.execute(f"UPDATE objects SET state = 'pending', route = NULL, result = NULL, error = NULL, routed_at = NULL"
                                   f" WHERE {where}", args).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return groups, objects

    def status(self, inbox: str, *, last: int = 20) -> InboxStatus:
        conn = self._conn()
        pending = [GroupStatus(k, kind, n, tuple(sorted(a.split(","))) if a else (), _iso(t)) for k, kind, n, a, t in conn.execute(
            "SELECT group_key, MIN(kind), COUNT(*), GROUP_CONCAT(DISTINCT calling_aet), MAX(received_at) FROM objects"
            " WHERE state = 'pending' GROUP BY group_key ORDER BY MAX(received_at)")]
        done = {}
        for state in ("routed", "failed"):
            done[state] = tuple(RoutedItem(k, kind, n, state, route, result, error, _iso(at)) for k, kind, n, route, result, error, at in conn.execute(
                "SELECT group_key, MIN(kind), COUNT(*), MAX(route), MAX(result), MAX(error), MAX(routed_at) FROM objects"
                " WHERE state = ? GROUP BY group_key ORDER BY MAX(routed_at) DESC LIMIT ?", (state, last)))
        total = conn.execute("SELECT COUNT(*) FROM objects").fetchone()[0]
        deleted = conn.execute("SELECT COUNT(*) FROM objects WHERE state = 'deleted'").fetchone()[0]
        keep = conn.execute("SELECT value FROM settings WHERE key = 'keep_days'").fetchone()
        keep_days = float(keep[0]) if keep and keep[0] not in (None, "", "0") else None
        return InboxStatus(inbox, total, tuple(pending), done["routed"], done["failed"], keep_days, deleted)

    def set_keep_days(self, days: float | None) -> None:
        self._conn().execute("INSERT INTO settings (key, value) VALUES ('keep_days', ?) ON CONFLICT(key) DO UPDATE SET"
                             " value = excluded.value", (None if days is None else f"{days:g}",))

    def expire(self, routed_before: float, *, batch: int | None = None) -> int:
        """Delete the files of the objects routed before ``routed_before`` (never a pending or failed
        one, never a file written again since it was routed) and mark their rows ``deleted``; how many.
        In batches of ``batch`` (default :data:`EXPIRE_BATCH`) objects, each its own short transaction, so the receivers journalling
        new objects never wait long on a first clean-up of a large inbox."""
        conn = self._conn()
        folder = self.path.parent
        total, after = 0, -1
        batch = batch or EXPIRE_BATCH
        while True:
            conn.execute("BEGIN IMMEDIATE")  # the receiver cannot journal a re-send of these meanwhile
            try:
                rows = conn.execute("SELECT rowid, file, received_at FROM objects WHERE state = 'routed' AND routed_at < ? AND rowid > ? "
                                    "ORDER BY rowid LIMIT ?", (routed_before, after, batch)).fetchall()
                gone = []
                for _, file, received_at in rows:
                    path = folder / file
                    try:
                        if os.stat(path).st_mtime > received_at + 2.0:  # written again since (a re-send being journalled): kept
                            continue
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
                    gone.append(file)
                conn.executemany("UPDATE objects SET state = 'deleted' WHERE file = ?", [(f,) for f in gone])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            total += len(gone)
            if len(rows) < batch:
                return total
            after = rows[-1][0]


EXPIRE_BATCH = 500  # ours: objects deleted per transaction (a few hundred ms of unlinks at most)


class Inbox:
    """The inbox folder and its journal."""

    def __init__(self, folder: str | os.PathLike, rules=()):
        """``rules``: the site's routing rules (:class:`qa.workflows.site_rules.RouteRule`), matched on receipt."""
        from qa.privacy import site_pseudonymiser

        self.folder = Path(folder)
        self.rules = tuple(rules)
        self.pseudonymise = site_pseudonymiser()
        self.journal = Journal(self.folder / JOURNAL_NAME)
        self._lock = threading.Lock()
        self._durable = None

    @staticmethod
    def file_name(sop_instance_uid: str) -> str | None:
        """``<uid>.dcm`` for a well-formed UID, None for anything else (never a path of the sender's making)."""
        from qa.dicom.received import is_uid

        return f"{sop_instance_uid}{SUFFIX}" if is_uid(sop_instance_uid) else None

    def identify(self, data: bytes | str | os.PathLike, label: str = "received object", *, calling_aet: str | None = None):
        """The object's identity, with the site rule's workflow for it (by ``calling_aet`` and its Patient ID)."""
        from qa.dicom.received import identify_object

        rule = None
        if self.rules:
            from qa.workflows.site_rules import workflow_for

            def rule(patient_id):
                return workflow_for(self.rules, calling_aet, patient_id)
        return identify_object(data, self.pseudonymise, label=label, rule=rule)

    def store_object(self, name: str, data: bytes, *, calling_aet: str | None, obj) -> str:
        """Write one object whole (temporary name, data synced, renamed, folder synced:
        :class:`qa.outputs.DurableFolder`), then journal it.  ``added``, ``replaced`` (a file of that
        name was there with other content: queued again) or ``duplicate`` (the same bytes as the file
        there, journalled: nothing written, not queued again).  The file itself says whether the
        object came before (one ``stat``; the journal is asked only when it did).  OSError when it
        cannot be written."""
        path = self.folder / name
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = None
        if size == len(data) and _same_bytes(path, data):
            if self.journal.known(name) is not None:
                return "duplicate"
            # complete on disk but never journalled (a crash between the rename and the journal): journal it now
        else:
            self._writer().write(name, data)
        self.journal.record_received(name, obj, calling_aet=calling_aet, received_at=time.time())
        return "added" if size is None else "replaced"

    def _writer(self):
        with self._lock:
            if self._durable is None:
                from qa.outputs import DurableFolder

                self._durable = DurableFolder(self.folder)
            return self._durable

    def close(self) -> None:
        with self._lock:
            if self._durable is not None:
                self._durable.close()
                self._durable = None
        self.journal.close()

    def rescan(self) -> tuple[int, int]:
        """At start: remove temporary files left by a crash, and journal the complete files that are
        not journalled yet (renamed into place just before a crash).  (added, temporaries removed)."""
        from qa.dicom.received import is_uid
        from qa.errors import InputError

        removed = 0
        known = self.journal.files()
        added = 0
        for entry in os.scandir(self.folder):
            name = entry.name
            if name.startswith(".") and name.endswith(TEMP_SUFFIX) and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
                continue
            if name in known or not name.endswith(SUFFIX) or not is_uid(name.removesuffix(SUFFIX)):
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            try:
                obj, error, state = self.identify(entry.path, label=name), None, "pending"
            except InputError as exc:
                obj, error, state = None, exc.message, "failed"
            self.journal.record_received(name, obj, calling_aet=None, received_at=entry.stat().st_mtime,
                                         state=state, error=error)
            added += 1
        return added, removed

    def status(self) -> InboxStatus:
        return self.journal.status(str(self.folder))


def _same_bytes(path: Path, data: bytes) -> bool:
    """Does the file at ``path`` hold exactly ``data``?  (A re-send: compared whole, as re-sends are rare.)"""
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as fp:
            return fp.read() == data
    except OSError:
        return False


def inbox_status(inbox: str | os.PathLike | None = None) -> InboxStatus:
    """``qa serve --status``: what is pending, routed and failed in ``inbox`` (default: :func:`default_inbox`)."""
    folder, journal = _existing_journal(inbox)
    try:
        return journal.status(str(folder))
    finally:
        journal.close()


def requeue_failed(inbox: str | os.PathLike | None, group: str) -> tuple[int, int]:
    """``qa serve --requeue GROUP|all``: the failed objects of ``group`` (``all``: of every failed group)
    pending again, routed by the running receiver (or at its next start); (groups, objects)."""
    from qa.errors import UsageError

    folder, journal = _existing_journal(inbox)
    try:
        groups, objects = journal.requeue(None if group == "all" else group)
    finally:
        journal.close()
    if group != "all" and groups == 0:
        raise UsageError(f"no failed group {group!r} in {folder}", hint="qa serve --status lists the failed groups by name")
    return groups, objects


def _existing_journal(inbox: str | os.PathLike | None) -> tuple[Path, Journal]:
    """The folder of ``inbox`` (default: :func:`default_inbox`) and its open journal; a UsageError when
    it is not a qa serve inbox (never creates one)."""
    from qa.errors import UsageError

    folder = Path(inbox) if inbox is not None else default_inbox()
    if not (folder / JOURNAL_NAME).is_file():
        raise UsageError(f"{folder} is not a qa serve inbox (it has no {JOURNAL_NAME})",
                         hint="give the --inbox that qa serve was started with")
    return folder, Journal(folder / JOURNAL_NAME)


def default_inbox() -> Path:
    """The inbox when none is given: ``inbox`` in the user's data folder (beside the default store)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("qa")) / "inbox"
