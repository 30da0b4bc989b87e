"""Dose per exam from dose reports (``qa dose``): events, DLP, effective dose, reference levels.

Cumulative re-sends of a study are merged by Irradiation Event UID; each study is compared with
its reference level by the same rule ``qa check`` uses (:func:`qa.dose.compare_with_level`, with
the protocol's severity when a protocol is given, else a warning above the level).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from qa.dose import (
    LEVEL_QUANTITIES,
    DoseEstimate,
    DoseValues,
    ReferenceLevel,
    dose_values_from_report,
    reference_level_for,
)
from qa.compliance import dose_checks, dose_not_judged_message, unjudged_dose
from qa.compliance.registry import reference_level_check
from qa.errors import InputError, UsageError
from qa.records.checks import FAIL, PASS, WARN, Check, verdict, worst
from qa.records.plausibility import ImpossibleValue
from qa.records.dose import StudyDose
from qa.records.inputs import FileCounts, SkippedFile, folder_of
from qa.records.provenance import DefinitionRef, Provenance
from qa.records.serialize import Record
from qa.workflows.common import now, qa_version
from qa.workflows.study_store import StoredStudies

# Check ids of the level comparisons: the same ids as qa check's.
_CHECK_IDS = {"ctdivol_mgy": "ctdivol", "dlp_mgycm": "dlp", "dose_msv": "effective_dose"}


@dataclass(frozen=True)
class EventSummary(Record):
    """One irradiation event with its effective dose."""

    irradiation_event_uid: str | None
    acquisition_type: str | None
    protocol: str | None
    target_region: str | None
    target_region_code: tuple[str, str] | None
    kvp: tuple[float | None, ...]
    tube_current_ma: tuple[float | None, ...]
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    phantom: str | None
    k_msv_per_mgycm: float | None
    k_source: str
    icrp_basis: int | None
    dose_msv: float | None
    sources: dict[str, str]


@dataclass(frozen=True)
class StudyDoseSummary(Record):
    """One study's dose (merged from all its reports), compared with its reference level."""

    source_file: str | None
    source_files: tuple[str, ...]
    study_key: str | None
    sop_instance_uids: tuple[str, ...]
    superseded_sop_instance_uids: tuple[str, ...]
    manufacturer: str | None
    model: str | None
    device_serial_number: str | None
    station_name: str | None
    study_datetime: str | None
    events: tuple[EventSummary, ...]
    dlp_total_mgycm: float | None  # the report's own total
    dlp_total_method: str
    dlp_by_phantom_mgycm: dict[str, float]
    effective_dose_msv: float | None
    k_msv_per_mgycm: float | None
    k_source: str
    icrp_basis: int | None
    effective_dose: DoseEstimate
    compared: DoseValues
    reference_level: ReferenceLevel | None
    reference_level_choice: str
    checks: tuple[Check, ...]
    verdict: str
    warnings: tuple[str, ...]
    verdict_message: str = ""


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


def summarise_study(study: StudyDose, tables, *, k_factor: str | None = None, protocol=None) -> StudyDoseSummary:
    """One study's dose and its comparison with the reference level (pure)."""
    k_origin = "--k-factor" if k_factor is not None else "protocol"
    protocol_k = k_factor if k_factor is not None else (protocol.k_factor if protocol is not None else None)
    values = dose_values_from_report(study, tables, protocol_k=protocol_k, k_origin=k_origin)
    estimate = values.effective
    level, why = reference_level_for(tables, protocol_id=protocol.id if protocol else None,
                                     names=[e.acquisition_protocol for e in study.events],
                                     region_codes=[e.region_code for e in study.events],
                                     named_level=protocol.reference_level if protocol else None)
    if protocol is not None:
        checks = list(dose_checks(values, level, protocol))  # the protocol's own rules, exactly as qa check runs them
    else:
        checks = [_level_check(values, level, quantity) for quantity in LEVEL_QUANTITIES]
    final, message = _study_verdict(checks, values)
    events = tuple(
        EventSummary(e.irradiation_event_uid, e.acquisition_type, e.acquisition_protocol, e.target_region, e.region_code, e.kvp,
                     e.tube_current_ma, e.ctdivol_mgy, e.dlp_mgycm, e.phantom, ev.k_msv_per_mgycm, ev.k_source, ev.icrp_basis,
                     ev.dose_msv, dict(e.sources))
        for e, ev in zip(study.events, estimate.events)
    )
    return StudyDoseSummary(
        source_file=study.source_files[-1] if study.source_files else None,
        source_files=study.source_files,
        study_key=study.study_key,
        sop_instance_uids=study.sop_instance_uids,
        superseded_sop_instance_uids=study.superseded_sop_instance_uids,
        manufacturer=study.manufacturer,
        model=study.model,
        device_serial_number=study.device_serial_number,
        station_name=study.station_name,
        study_datetime=study.study_datetime,
        events=events,
        dlp_total_mgycm=study.dlp_total_mgycm,
        dlp_total_method=study.dlp_total_method,
        dlp_by_phantom_mgycm=dict(study.dlp_by_phantom_mgycm),
        effective_dose_msv=estimate.dose_msv,
        k_msv_per_mgycm=estimate.k_msv_per_mgycm,
        k_source=estimate.k_source,
        icrp_basis=estimate.icrp_basis,
        effective_dose=estimate,
        compared=values,
        reference_level=level,
        reference_level_choice=why,
        checks=tuple(checks),
        verdict=final,
        warnings=tuple(study.warnings) + tuple(values.warnings),
        verdict_message=message,
    )


def _study_verdict(checks: list[Check], values: DoseValues) -> tuple[str, str]:
    """The study's verdict and why: never a pass when the report gives no usable value, or only a
    lower bound, for a dose check (the check is ``not_available`` and the verdict at least ``warn``)."""
    final = verdict(checks)
    unjudged = unjudged_dose(checks, values)
    if unjudged and final == PASS:
        final = WARN
    judged = [f"{c.id} {c.status.upper()}" for c in checks if c.status in (FAIL, WARN)]
    parts = [final.upper() + (f": {', '.join(judged)}" if judged else "")]
    if unjudged:
        parts.append(dose_not_judged_message(unjudged))
    return final, "; ".join(parts)


def _level_check(values: DoseValues, level: ReferenceLevel | None, quantity: str) -> Check:
    """Without a protocol: the study's reference level, a warning above it (a reference level is not a dose limit)."""
    return reference_level_check(_CHECK_IDS[quantity], values, level, quantity, "warn",
                                 {"rule": "reference level (a warning above it; give --protocol for its rules)", "severity": "warn"})


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
    merged = tuple(merge_reports(reports))
    studies = tuple(summarise_study(s, tables, k_factor=k_factor, protocol=chosen) for s in merged)
    analysed = now()
    refs = (tables.ref,) + ((chosen.ref,) if chosen else ())
    provenance = Provenance(qa_version(), analysed, refs, tuple(u for s in studies for u in s.sop_instance_uids))
    flagged = tuple(f"{s.source_file or 'dose report'}: {w}" for s in studies for w in s.warnings)
    return DoseSummary(studies, tuple(skipped), tables.ref, chosen.ref if chosen else None, analysed, provenance,
                       worst(s.verdict for s in studies), flagged,
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
