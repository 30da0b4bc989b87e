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

``--workers N`` runs both passes in N processes (fork; :mod:`qa.workflows.ingest_pool`).  **Each
worker writes its own studies**:
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
from qa.workflows.common import WRITE, open_store
from qa.workflows.ingest_pool import Pool
from qa.workflows.ingest_study import StudyOutcome, object_kind

ProgressFactory = Callable[[str], Callable[[int, int], None] | None]


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
    pseudonymise = site_pseudonymiser()  # the site secret exists before any worker reads it
    access = open_store(db, mode=WRITE)  # a database that cannot be used is refused before anything is read
    try:
        url = access.url
        found = files.find_inputs(paths, skip_damaged_zips=True)  # one bad zip never stops the run
        skipped: list[SkippedFile] = list(found.skipped)
        with Pool(workers, url) as pool:
            if access.store is not None:
                access.store.engine.dispose()  # no connection of ours is open while workers fork
            indexed = pool.index(found.sources, stage("indexing"))
            from qa.dicom.value_warnings import ValueWarning, summary_lines

            index_warnings = summary_lines([o for o in indexed if isinstance(o, ValueWarning)])
            indexed = [o for o in indexed if not isinstance(o, ValueWarning)]
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
            from qa.records.uid_keys import uid_key

            keyed = {o.sop_instance_uid: uid_key(pseudonymise, o.sop_instance_uid) for group in studies.values() for o in group}
            stored = store.ingested(list(keyed.values()))  # stored as pseudonyms (qa.records.uid_keys)
            store.engine.dispose()
            todo = {k: g for k, g in studies.items() if not all(keyed[o.sop_instance_uid] in stored for o in g)}
            damaged = [s for s in skipped if s.damaged]
            tasks = [(key, group, _damaged_near(group, damaged)) for key, group in todo.items()]
            outcomes = pool.studies(tasks, stage("studies"))
    finally:
        access.close()
    unchanged = len(studies) - len(todo)
    run = _run(store.display_url, workers, outcomes, unchanged, len(objects), sum(len(g) for g in todo.values()),
               len(stored), skipped, len(found.sources) + len(found.skipped), time.monotonic() - started)
    from dataclasses import replace

    return replace(run, warnings=index_warnings + run.warnings) if index_warnings else run


def _run(database, workers, outcomes: list[StudyOutcome], unchanged, n_objects, n_read, n_stored, skipped, n_files,
         elapsed) -> IngestRun:
    by = {s: [o for o in outcomes if o.status == s] for s in ("added", "updated", "unchanged", "not_stored", "refused")}
    stored = by["added"] + by["updated"] + by["unchanged"]
    warnings = tuple(f"study {o.study_key}: {w}" for o in outcomes for w in o.warnings)  # a study not stored or refused too
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
