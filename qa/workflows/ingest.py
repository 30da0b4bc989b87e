"""``qa ingest``: exams and dose reports into the store, study by study, idempotent and in parallel.

Two passes over the files, headers only (pixels are never read):

1. **Index** (:func:`qa.dicom.study_index.index_source`): each file's opening elements only, up to
   its StudyInstanceUID, which leaves the reader as its keyed pseudonym.  Files that are not DICOM,
   are damaged or unreadable are listed with the reason and never stop the run.  The objects are
   grouped by study; a study whose every object (SOP Instance UID) is stored already is
   ``unchanged`` and not read again.
2. **Studies** (:mod:`qa.workflows.ingest_study`): each new or changed study's files are read in
   full (headers only), its dose (dose reports merged by Irradiation Event UID, else the headers'
   estimate) and, for a calcium-score exam, its ``qa check`` checklist made, and the study is
   stored in ONE transaction (:meth:`qa.store.Store.save_study`) with its objects.  A study stored
   already is merged under its row lock, so a cumulative re-send or the rest of a continued study
   joins the stored events.

``--workers N`` runs both passes in N processes (fork).  **Each worker writes its own studies**:
the transactions are per study and short, the store serialises them (SQLite: one writer at a
time, ``BEGIN IMMEDIATE`` with a busy timeout; PostgreSQL: row locks and retried unique-key
races), results never travel back through the main process, and the concurrency that several
sites ingesting into one PostgreSQL need is the very path every run takes.  Workers die with the
main process (Linux: ``PR_SET_PDEATHSIG``).  Killed midway, a run loses nothing stored (each study
is committed whole, or rolled back) and duplicates nothing when run again (stored objects are
skipped, studies are keyed by ``study_key``, events by Irradiation Event UID).

Exit: 0 when every readable object was stored (or deliberately left out: phantom QA series and
non-CT objects, listed with the reason), 1 when a study was refused (an impossible value, a
damaged file among its series: listed with the reason, the rest stored), 2 when nothing could be
read or the database cannot be used.  Identifiers reach the store only as keyed pseudonyms; the
operator's name in clear only when the site sets ``QA_OPERATOR_NAMES=clear``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.errors import InputError
from qa.records.inputs import FileCounts, SkippedFile
from qa.records.serialize import Record
from qa.records.study import IngestedObject
from qa.workflows.common import WRITE, open_store
from qa.workflows.ingest_study import StudyContext, StudyOutcome, merger, object_kind, operator_in_clear, read_study, refused

ProgressFactory = Callable[[str], Callable[[int, int], None] | None]
# Files per indexing task: large enough that a task outweighs its scheduling, small enough to balance.
_INDEX_CHUNK = 64


@dataclass(frozen=True)
class StudyCounts(Record):
    added: int
    updated: int
    unchanged: int
    not_stored: int
    refused: int


@dataclass(frozen=True)
class StudyNote(Record):
    """A study not stored, or refused, and why (``file``: the file named, without its folders)."""

    study_key: str
    reason: str
    file: str | None = None


@dataclass(frozen=True)
class ObjectCounts(Record):
    found: int  # DICOM objects indexed
    already_stored: int  # skipped: stored by an earlier ingest
    read: int  # read in full this run


@dataclass(frozen=True)
class IngestRun(Record):
    """The ``qa.ingest/1`` document."""

    database: str  # the URL, password hidden
    workers: int
    studies: StudyCounts
    dose_reports: int  # dose reports read with the studies stored
    checklists: int  # calcium-score checklists stored
    objects: ObjectCounts
    not_stored: tuple[StudyNote, ...]
    refused: tuple[StudyNote, ...]
    files: FileCounts
    elapsed_s: float
    warnings: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return 1 if self.refused else 0


def ingest(paths: Sequence[str | os.PathLike], *, db: str | None = None, workers: int = 1,
           progress: ProgressFactory | None = None) -> IngestRun:
    """Ingest the exams and dose reports under ``paths`` (folders, zips, files) into the store at ``db``."""
    from qa.dicom import files
    from qa.privacy import site_pseudonymiser

    started = time.monotonic()
    if workers < 1:
        from qa.errors import UsageError

        raise UsageError(f"--workers {workers}: give at least 1", hint="for example --workers 2")
    stage = progress or (lambda label: None)
    site_pseudonymiser()  # the site secret exists before any worker reads it
    access = open_store(db, mode=WRITE)  # a database that cannot be used is refused before anything is read
    try:
        url = access.url
        found = files.find_inputs(paths, skip_damaged_zips=True)  # one bad zip never stops the run
        skipped: list[SkippedFile] = list(found.skipped)
        with _Pool(workers, url) as pool:
            if access.store is not None:
                access.store.engine.dispose()  # no connection of ours is open while workers fork
            indexed = pool.index(found.sources, stage("indexing"))
            objects = [o for o in indexed if not isinstance(o, SkippedFile)]
            skipped += [o for o in indexed if isinstance(o, SkippedFile)]
            if not objects:
                listing = "\n  ".join(f"{s.name}: {s.reason}" for s in skipped[:20])
                raise InputError(str(paths[0]) if len(paths) == 1 else None, None,
                                 f"no DICOM object could be read among {len(found.sources) + len(found.skipped)} file(s)"
                                 + (":\n  " + listing if listing else ""),
                                 hint="pass folders, zips or files of DICOM exams and dose reports")
            studies, skipped_more = _by_study(objects)
            skipped += skipped_more
            store = access.for_writing()  # a new SQLite file is made only now: an input without DICOM leaves none behind
            stored = store.ingested([o.sop_instance_uid for group in studies.values() for o in group])
            store.engine.dispose()
            todo = {k: g for k, g in studies.items() if not all(o.sop_instance_uid in stored for o in g)}
            damaged = [s for s in skipped if s.damaged]
            tasks = [(key, group, _damaged_near(group, damaged)) for key, group in todo.items()]
            outcomes = pool.studies(tasks, stage("studies"))
    finally:
        access.close()
    unchanged = len(studies) - len(todo)
    return _run(store.display_url, workers, outcomes, unchanged, len(objects), sum(len(g) for g in todo.values()),
                len(stored), skipped, len(found.sources) + len(found.skipped), time.monotonic() - started)


def _run(database, workers, outcomes: list[StudyOutcome], unchanged, n_objects, n_read, n_stored, skipped, n_files,
         elapsed) -> IngestRun:
    by = {s: [o for o in outcomes if o.status == s] for s in ("added", "updated", "unchanged", "not_stored", "refused")}
    stored = by["added"] + by["updated"] + by["unchanged"]
    warnings = tuple(f"study {o.study_key}: {w}" for o in stored for w in o.warnings)
    return IngestRun(
        database=database, workers=workers,
        studies=StudyCounts(len(by["added"]), len(by["updated"]), len(by["unchanged"]) + unchanged, len(by["not_stored"]),
                            len(by["refused"])),
        dose_reports=sum(o.dose_reports for o in stored), checklists=sum(o.checklists for o in stored),
        objects=ObjectCounts(n_objects, n_stored, n_read),
        not_stored=tuple(StudyNote(o.study_key, o.reason, o.file) for o in by["not_stored"]),
        refused=tuple(StudyNote(o.study_key, o.reason, o.file) for o in by["refused"]),
        files=FileCounts(n_files - len(skipped), len(skipped), tuple(skipped)),
        elapsed_s=round(elapsed, 3), warnings=warnings,
    )


def _by_study(objects) -> tuple[dict[str, list], list[SkippedFile]]:
    """The indexed objects by study (the first file of each SOP Instance UID; copies of an image are skipped)."""
    studies: dict[str, list] = {}
    seen: set[str] = set()
    skipped = []
    for o in objects:
        if not o.study_key:
            skipped.append(SkippedFile.of(o.source.label, "no StudyInstanceUID: cannot be grouped into a study"))
        elif not o.sop_instance_uid:
            skipped.append(SkippedFile.of(o.source.label, "no SOPInstanceUID: cannot be told apart from other objects"))
        elif o.sop_instance_uid in seen and object_kind(o.sop_class_uid) == "image":
            skipped.append(SkippedFile.of(o.source.label, "a copy of an image read already (the same SOP Instance UID)"))
        else:
            seen.add(o.sop_instance_uid)
            studies.setdefault(o.study_key, []).append(o)
    return studies, skipped


def _damaged_near(group, damaged: list[SkippedFile]) -> tuple[SkippedFile, ...]:
    """The damaged files in the folders of a study's files: the study's series readers refuse a series beside one."""
    from qa.records.inputs import folder_of

    folders = {folder_of(o.source.label) for o in group}
    return tuple(s for s in damaged if s.folder in folders)


# ------------------------------------------------------------------------------------ the work of one process

_STATE: dict = {}


def _context() -> StudyContext:
    if "context" not in _STATE:
        from qa.privacy import site_pseudonymiser
        from qa.procedures import available_protocols, load_dose_tables, load_protocol

        _STATE["context"] = StudyContext(load_dose_tables("dose-reference"), tuple(load_protocol(p) for p in available_protocols()),
                                         site_pseudonymiser(), operator_in_clear())
    return _STATE["context"]


def _store():
    if "store" not in _STATE:
        from qa.store import Store

        _STATE["store"] = Store(_STATE["url"], probe_write=False)
    return _STATE["store"]


def _index_chunk(sources) -> list:
    """Index some files (in a worker, or in the main process with one worker)."""
    from qa.dicom.study_index import index_source

    pseudonymise = _context().pseudonymise
    out = []
    for src in sources:
        try:
            out.append(index_source(src, pseudonymise))
        except InputError as exc:
            out.append(SkippedFile.of(src.label, exc.message, damaged=True))
    return out


def _ingest_studies(tasks, progress=None) -> list[StudyOutcome]:
    """Read and store some studies (in a worker, or in the main process with one worker), each in
    its own transaction.  The store writes in a thread of its own while the next study is read:
    waiting for the disk (a commit's fsync, another process's write lock) overlaps with reading."""
    from concurrent.futures import ThreadPoolExecutor

    outcomes: list = [None] * len(tasks)
    with ThreadPoolExecutor(1, thread_name_prefix="qa-ingest-store") as writer:
        pending = None  # (index, future) of the study being stored
        for n, task in enumerate(tasks):
            read = _read_one(task)
            if pending is not None:
                outcomes[pending[0]] = pending[1].result()
                if progress is not None:
                    progress(pending[0] + 1, len(tasks))
            if isinstance(read, StudyOutcome):
                outcomes[n] = read
            else:
                pending = n, writer.submit(_store_one, *read)
        if pending is not None:
            outcomes[pending[0]] = pending[1].result()
    if progress is not None:
        progress(len(tasks), len(tasks))
    return outcomes


def _read_one(task):
    """One study read: its outcome when refused, else what :func:`_store_one` stores."""
    from qa.dicom.files import FoundInputs

    study_key, group, damaged = task
    context = _context()
    kinds = {o.sop_instance_uid: object_kind(o.sop_class_uid) for o in group}
    try:
        record, outcome, reports = read_study(study_key, FoundInputs(tuple(o.source for o in group), damaged), kinds, context)
    except InputError as exc:
        return refused(study_key, exc)
    return study_key, kinds, record, outcome, reports


def _store_one(study_key, kinds, record, outcome, reports) -> StudyOutcome:
    """One study stored in ONE transaction (its objects only, when it is not stored)."""
    try:
        store = _store()
        if record is None:
            store.mark_ingested([IngestedObject(uid, kind) for uid, kind in kinds.items()])
            return outcome
        saved = store.save_study(record, merge=merger(reports, _context()))
    except InputError as exc:
        return refused(study_key, exc)
    from dataclasses import replace

    return replace(outcome, status=saved.status)


def _worker_init(url: str) -> None:
    """A worker: its own store connection; it dies with the main process and leaves signals to it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:  # Linux: SIGKILL when the parent dies (a killed ingest leaves no worker behind)
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1 (linux/prctl.h)
    except (OSError, AttributeError):
        pass
    _STATE.pop("store", None)  # the context (tables, protocols, pseudonymiser) came with the fork; the store is its own
    _STATE["url"] = url


def _warm() -> None:
    """Import the readers and load the run's context once, before the workers fork."""
    import pydicom.filereader  # noqa: F401
    import qa.dicom.exam  # noqa: F401
    import qa.dicom.headers  # noqa: F401
    import qa.dicom.rdsr  # noqa: F401
    import qa.dicom.series  # noqa: F401
    import qa.motion  # noqa: F401
    import qa.store.studies  # noqa: F401
    import qa.workflows.dose_study  # noqa: F401
    import qa.workflows.exam_files  # noqa: F401
    import qa.workflows.exam_run  # noqa: F401

    _context()
    import gc

    # What the workers inherit (modules, tables, protocols) is left out of every collection: never
    # traversed again, nor its pages copied by a collection touching it (Python's gc docs on fork).
    gc.freeze()


class _Pool:
    """The passes run in ``workers`` processes, or in this one when ``workers`` is 1."""

    def __init__(self, workers: int, url: str) -> None:
        self.workers, self.url = workers, url
        self.executor = None

    def __enter__(self) -> "_Pool":
        _STATE.clear()  # nothing of an earlier run (another site secret, another store) is reused
        _STATE["url"] = self.url
        if self.workers > 1:
            _warm()  # the workers fork from a process that has imported and loaded what they need
        return self

    def __exit__(self, *exc) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=exc[0] is None, cancel_futures=True)
        if self.workers > 1:
            import gc

            gc.unfreeze()
        store = _STATE.pop("store", None)
        if store is not None:
            store.close()
        _STATE.clear()

    def _map(self, fn, items: list, progress) -> list:
        total = len(items)
        if progress is not None:
            progress(0, total)
        if self.workers == 1:
            out = []
            for n, item in enumerate(items):
                out.append(fn(item))
                if progress is not None:
                    progress(n + 1, total)
            return out
        if self.executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                                initializer=_worker_init, initargs=(self.url,))
        from concurrent.futures import as_completed

        futures = {self.executor.submit(fn, item): n for n, item in enumerate(items)}
        out: list = [None] * total
        for done, future in enumerate(as_completed(futures), 1):
            out[futures[future]] = future.result()
            if progress is not None:
                progress(done, total)
        return out

    def index(self, sources, progress) -> list:
        chunks = [sources[i:i + _INDEX_CHUNK] for i in range(0, len(sources), _INDEX_CHUNK)]
        per_file = _Progress(progress, len(sources), chunks)
        return [o for chunk in self._map(_index_chunk, chunks, per_file) for o in chunk]

    def studies(self, tasks, progress) -> list[StudyOutcome]:
        if self.workers == 1:
            if progress is not None:
                progress(0, len(tasks))
            return _ingest_studies(tasks, progress)
        chunks = _guided_chunks(tasks, self.workers)
        per_study = _Progress(progress, len(tasks), chunks)
        return [o for chunk in self._map(_ingest_studies, chunks, per_study) for o in chunk]


def _guided_chunks(tasks: list, workers: int) -> list[list]:
    """The studies in chunks that shrink as the work left does (guided scheduling): each chunk
    about 1/(2 x workers) of the files left, the last ones one study each, so that the workers end
    together; within a chunk, storing a study overlaps with reading the next."""
    left = sum(len(task[1]) for task in tasks)
    chunks, chunk, size = [], [], 0
    for task in tasks:
        chunk.append(task)
        size += len(task[1])
        if size * 2 * workers >= left:
            chunks.append(chunk)
            left -= size
            chunk, size = [], 0
    if chunk:
        chunks.append(chunk)
    return chunks


class _Progress:
    """Chunk progress shown as files."""

    def __init__(self, progress, total: int, chunks) -> None:
        self.progress, self.total = progress, total
        self.sizes = [len(c) for c in chunks]

    def __call__(self, done_chunks: int, _total: int) -> None:
        if self.progress is not None:
            self.progress(sum(sorted(self.sizes)[:done_chunks]) if done_chunks < len(self.sizes) else self.total, self.total)
