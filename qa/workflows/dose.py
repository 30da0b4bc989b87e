"""Dose per exam from dose reports (``qa dose``): events, DLP, effective dose, reference levels.

Cumulative re-sends of a study are merged by Irradiation Event UID; each study is compared with
its reference level by the same rule ``qa check`` uses (:func:`qa.dose.compare_with_level`, with
the protocol's severity when a protocol is given, else a warning above the level): one study's
summary is :func:`qa.workflows.dose_study.summarise_study`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from qa.errors import InputError, UsageError
from qa.records.verdicts import worst_verdict
from qa.records.dose import StudyDose
from qa.records.inputs import FileCounts, SkippedFile, folder_of
from qa.records.plausibility import ImpossibleValue
from qa.records.provenance import DefinitionRef, Provenance
from qa.records.serialize import Record
from qa.records.study import StoredStudies
from qa.workflows.common import now, qa_version
from qa.workflows.dose_study import EventSummary, StudyDoseSummary, summarise_study

__all__ = ["DoseSummary", "EventSummary", "StudyDoseSummary", "summarise_dose", "summarise_study"]


@dataclass(frozen=True)
class DoseSummary(Record):
    """The ``qa.dose/1`` document."""

    reports: tuple[StudyDoseSummary, ...]
    skipped: tuple[str, ...]
    dose_tables: DefinitionRef
    protocol: DefinitionRef | None
    analysis_time: dt.datetime
    provenance: Provenance
    verdict: str
    warnings: tuple[str, ...] = ()  # every study's warnings, prefixed with its report file
    files: FileCounts | None = None  # files read and skipped (each skipped one by name, with the reason)
    stored: StoredStudies | None = None  # where --db stored the studies (None without --db)
    studies: tuple[StudyDose, ...] = field(default=(), repr=False, metadata={"json": False})  # the merged reports, as reports


def summarise_dose(paths: Sequence[str | os.PathLike], *, k_factor: str | None = None, protocol: str | None = None,
                   dose_tables: str = "dose-reference", db: str | None = None) -> DoseSummary:
    """The dose of every study among the dose reports in ``paths`` (files, folders, zips).

    Files that are not dose reports are skipped and listed (a single file that is not is an error).
    ``k_factor``: use this k-factor for body events; ``protocol``: an exam protocol (its k-factor,
    reference level and severities).  ``db``: store each study there (:mod:`qa.workflows.study_store`);
    without it nothing is stored."""
    if db is not None:
        from dataclasses import replace

        from qa.procedures import available_protocols, load_dose_tables, load_protocol
        from qa.workflows.common import WRITE, open_store
        from qa.workflows.study_store import dose_studies, save_studies

        with open_store(db, mode=WRITE) as access:  # a store that cannot keep the result is refused before anything is read
            summary = summarise_dose(paths, k_factor=k_factor, protocol=protocol, dose_tables=dose_tables)
            tables = load_dose_tables(dose_tables)
            protocols = tuple(load_protocol(p) for p in available_protocols())
            chosen = load_protocol(protocol) if protocol is not None else None
            items = dose_studies(summary, tables, protocols, chosen)
            return replace(summary, stored=save_studies(access.for_writing(), items, tables, protocols))
    from qa.dicom import files
    from qa.dicom.rdsr import merge_reports, read_dose_report
    from qa.privacy import site_pseudonymiser
    from qa.procedures import load_dose_tables, load_protocol

    tables = load_dose_tables(dose_tables)
    if k_factor is not None and k_factor not in tables.k_factors:
        raise UsageError(f"--k-factor {k_factor!r} is not in {tables.path}", hint=f"choose one of {', '.join(tables.k_factors)}")
    chosen = load_protocol(protocol) if protocol is not None else None  # a protocol that does not exist is an error
    pseudonymise = site_pseudonymiser()
    found = files.find_inputs(paths)
    sources = found.sources
    reports, skipped, skipped_files, report_labels = [], [f"{s.name}: {s.reason}" for s in found.skipped], list(found.skipped), []
    with files.Reader(headers_only=True) as reader:  # zip members are read from its temporary copies
        for src in sources:
            path = src.path
            if path is None:
                ds = reader.examine(src)
                path = getattr(ds, "filename", None) if not isinstance(ds, SkippedFile) else None
                if not isinstance(path, str):
                    unread = ds if isinstance(ds, SkippedFile) else SkippedFile.of(src.label, "not a DICOM file")
                    skipped.append(f"{unread.name}: {unread.reason}")
                    skipped_files.append(unread)
                    continue
            try:
                reports.append(read_dose_report(path, label=src.label, pseudonymise=pseudonymise))
                report_labels.append(src.label)
            except ImpossibleValue:
                raise  # a dose report with an impossible number refuses the run: never left out quietly
            except InputError as exc:
                if len(sources) == 1 and not found.skipped:
                    raise
                unread = reader.examine(src) if src.path is not None else None  # not DICOM at all: damaged or foreign?
                if not isinstance(unread, SkippedFile):
                    unread = SkippedFile.of(src.label, exc.message)
                skipped.append(f"{unread.name}: {unread.reason}")
                skipped_files.append(unread)
    _refuse_damaged_among(skipped_files, report_labels)
    if not reports:
        raise InputError(str(paths[0]) if len(paths) == 1 else None, None,
                         "no CT dose report among the input" + (":\n  " + "\n  ".join(skipped) if skipped else ""),
                         hint="pass CT Radiation Dose SR files (or a folder holding them)")
    from qa.records.uid_keys import keyed_dose

    merged = tuple(keyed_dose(s, pseudonymise) for s in merge_reports(reports))  # UIDs as pseudonyms (qa.records.uid_keys)
    studies = tuple(summarise_study(s, tables, k_factor=k_factor, protocol=chosen) for s in merged)
    analysed = now()
    refs = (tables.ref,) + ((chosen.ref,) if chosen else ())
    provenance = Provenance(qa_version(), analysed, refs, tuple(u for s in studies for u in s.sop_instance_uids))
    flagged = tuple(f"{s.source_file or 'dose report'}: {w}" for s in studies for w in s.warnings)
    return DoseSummary(studies, tuple(skipped), tables.ref, chosen.ref if chosen else None, analysed, provenance,
                       worst_verdict(s.verdict for s in studies), flagged,
                       FileCounts(len(sources) - len(skipped_files) + len(found.skipped), len(skipped_files), tuple(skipped_files)),
                       studies=merged)


def _refuse_damaged_among(skipped: list[SkippedFile], report_labels: list[str]) -> None:
    """A damaged file (empty, truncated, unreadable) next to the dose reports read may be one of
    them: the totals would be short of its events, so the input is refused."""
    folders = {folder_of(label) for label in report_labels}
    damaged = [s for s in skipped if s.damaged and s.folder in folders]
    if damaged:
        raise InputError(damaged[0].label, None,
                         f"{damaged[0].reason}; it lies among the dose reports read"
                         + (f" (and {len(damaged) - 1} more unreadable file(s))" if len(damaged) > 1 else "")
                         + ": a dose total without it could be short, so the input is refused",
                         hint="copy or export the file again (or remove it if it is not a dose report)")
