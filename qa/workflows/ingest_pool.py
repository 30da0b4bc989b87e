"""The processes of ``qa ingest`` (:mod:`qa.workflows.ingest`): the index and the studies in
``workers`` processes (fork), or in this one when ``workers`` is 1.

Each process loads the run's context once (dose tables, protocols, pseudonymiser: the workers
inherit it, forked from a process that has imported and loaded what they need and whose heap is
then frozen for the garbage collector) and opens its own store.  The index goes to the workers
in chunks of files, the studies one by one; a worker stores each study it reads in ONE transaction.
"""

from __future__ import annotations

from qa.errors import InputError
from qa.records.inputs import SkippedFile
from qa.records.study import IngestedObject
from qa.workflows.ingest_study import StudyContext, StudyOutcome, object_kind, operator_in_clear, read_study, refused

# Files per indexing task: large enough that a task outweighs its scheduling, small enough to balance.
INDEX_CHUNK = 64

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
    """Index some files (in a worker, or in the main process with one worker); pydicom's warnings
    about their values come back as :class:`~qa.dicom.value_warnings.ValueWarning` items."""
    from qa.dicom.study_index import index_source
    from qa.dicom.value_warnings import collected, reading

    pseudonymise = _context().pseudonymise
    out: list = []
    caught: list = []
    with collected(caught):
        for src in sources:
            try:
                with reading(src.label):
                    out.append(index_source(src, pseudonymise))
            except InputError as exc:
                out.append(SkippedFile.of(src.label, exc.message, damaged=True))
    return out + caught


def _ingest_study(task) -> StudyOutcome:
    """Read and store one study (in a worker, or in the main process with one worker), in ONE transaction."""
    from dataclasses import replace

    from qa.dicom.files import FoundInputs
    from qa.dicom.value_warnings import collected, summary_lines
    from qa.workflows.study_merge import merger
    from qa.records.uid_keys import keyed_dose, keyed_record, uid_key

    study_key, group, damaged = task
    context = _context()
    kinds = {o.sop_instance_uid: object_kind(o.sop_class_uid) for o in group}
    found = FoundInputs(tuple(o.source for o in group), damaged)
    caught: list = []  # pydicom's warnings about the study's values: in its warnings, never on the terminal
    try:
        with collected(caught):
            record, outcome, dose = read_study(study_key, found, kinds, context)
        store = _store()
        if record is None:
            store.mark_ingested([IngestedObject(uid_key(context.pseudonymise, uid), kind) for uid, kind in kinds.items()])
            return replace(outcome, warnings=outcome.warnings + summary_lines(caught))
        record, dose = keyed_record(record, context.pseudonymise), keyed_dose(dose, context.pseudonymise)  # UIDs only as pseudonyms
        saved = store.save_study(record, merge=merger(dose, tables=context.tables, protocols=context.protocols))
    except InputError as exc:
        return replace(refused(study_key, exc), warnings=summary_lines(caught))
    return replace(outcome, status=saved.status, warnings=outcome.warnings + summary_lines(caught))


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
    import _strptime  # noqa: F401  (datetime.strptime imports it on first use)

    import numpy.ma  # noqa: F401  (numpy.median imports it on first use)
    import pydicom.filereader  # noqa: F401
    import qa.dicom.exam  # noqa: F401
    import qa.dicom.headers  # noqa: F401
    import qa.dicom.rdsr  # noqa: F401
    import qa.dicom.series  # noqa: F401
    import qa.dicom.study_index  # noqa: F401
    import qa.dicom.value_warnings  # noqa: F401
    import qa.motion.analysis  # noqa: F401
    import qa.store.studies  # noqa: F401
    import qa.workflows.dose_study  # noqa: F401
    import qa.workflows.exam_files  # noqa: F401
    import qa.workflows.exam_run  # noqa: F401
    import qa.workflows.study_merge  # noqa: F401

    _context()
    import gc

    # What the workers inherit (modules, tables, protocols) is left out of every collection: never
    # traversed again, nor its pages copied by a collection touching it (Python's gc docs on fork).
    gc.freeze()


class Pool:
    """The passes run in ``workers`` processes, or in this one when ``workers`` is 1."""

    def __init__(self, workers: int, url: str) -> None:
        self.workers, self.url = workers, url
        self.executor = None

    def __enter__(self) -> "Pool":
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
        chunks = [sources[i:i + INDEX_CHUNK] for i in range(0, len(sources), INDEX_CHUNK)]
        per_file = _Progress(progress, len(sources), chunks)
        return [o for chunk in self._map(_index_chunk, chunks, per_file) for o in chunk]

    def studies(self, tasks, progress) -> list[StudyOutcome]:
        """The studies' outcomes, in the order of ``tasks``; the largest studies are started first,
        so that the workers end together (a long study last would leave the others idle)."""
        order = sorted(range(len(tasks)), key=lambda n: -len(tasks[n][1]))
        outcomes: list = [None] * len(tasks)
        for n, outcome in zip(order, self._map(_ingest_study, [tasks[n] for n in order], progress)):
            outcomes[n] = outcome
        return outcomes


class _Progress:
    """Chunk progress shown as files."""

    def __init__(self, progress, total: int, chunks) -> None:
        self.progress, self.total = progress, total
        self.sizes = [len(c) for c in chunks]

    def __call__(self, done_chunks: int, _total: int) -> None:
        if self.progress is not None:
            self.progress(sum(sorted(self.sizes)[:done_chunks]) if done_chunks < len(self.sizes) else self.total, self.total)
