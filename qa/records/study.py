"""One study as the results store keeps it (``qa ingest``, ``qa check --db``, ``qa dose --db``).

A :class:`StudyRecord` is what a workflow hands to :meth:`qa.store.Store.save_study`: the study's
scanner, date, protocol, flags, dose (with its k provenance), its irradiation events
(:class:`DoseEventRecord`, one per Irradiation Event UID) and its checklists
(:class:`ExamCheckRecord`).  No identifier in clear: the study, patient, accession and operator
are keyed pseudonyms made when the files were read (:mod:`qa.records.identity`); the documents
held are ``qa.dose/1`` / ``qa.check/1`` items that carry pseudonyms only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from qa.records.checks import Check
from qa.records.identity import ScannerIdentity
from qa.records.serialize import Record

# Where a study's dose values come from (``StudyRecord.dose_source``).
# Where a study's dose values come from: a CT dose report (RDSR / Enhanced SR), a scanner's dose screen
# capture whose header carries the doses (Philips "Dose Info" secondary capture), or the image headers.
DOSE_SOURCES = ("rdsr", "dose_screen", "headers")
REPORT_DOSE_SOURCES = ("rdsr", "dose_screen")
# What an ingested DICOM object was (``IngestedObject.kind``).
OBJECT_KINDS = ("image", "dose_report", "other")
# Saving a study: what happened to it.
ADDED, UPDATED, UNCHANGED = "added", "updated", "unchanged"


@dataclass(frozen=True)
class DoseEventRecord(Record):
    """One irradiation event of a study (TID 10013 "CT Acquisition"), as stored.

    ``irradiation_event_uid`` identifies it across re-sent reports (an event without one, from a
    Philips dose info capture, is named ``<report SOP Instance UID>#<position>``).  ``kvp`` and
    ``tube_current_ma`` are the first X-ray source's; ``xray_sources`` holds every source's values
    (dual source) and is None for a single source.  ``dose_check``: the CT Dose Check Details
    (TID 10015) when the report has them."""

    irradiation_event_uid: str
    acquisition_type: str | None = None
    protocol: str | None = None
    target_region: str | None = None
    target_region_code: str | None = None
    target_region_scheme: str | None = None
    phantom: str | None = None  # head16 | body32 | None
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    kvp: float | None = None
    tube_current_ma: float | None = None
    exposure_time_s: float | None = None
    pitch: float | None = None
    total_collimation_mm: float | None = None
    scanning_length_mm: float | None = None
    xray_sources: dict[str, Any] | None = field(default=None, hash=False)
    dose_check: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class ExamCheckRecord(Record):
    """One checklist of a study's series against a qa exam protocol (``qa.check/1`` without identifiers).

    ``series_key``: the pseudonym of the checked series' SeriesInstanceUID (scanners derive it from
    the StudyInstanceUID: :mod:`qa.records.uid_keys`).  Saving a study replaces its checklist of the same series and protocol."""

    series_key: str
    protocol_id: str
    protocol_sha256: str
    verdict: str
    qa_version: str
    analysed_at: dt.datetime  # aware
    checks: tuple[Check, ...]
    document: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class IngestedObject(Record):
    """A DICOM object read by ``qa ingest``: its SOP Instance UID (stored as its pseudonym:
    :mod:`qa.records.uid_keys`) and what it was."""

    sop_instance_uid: str
    kind: str  # image | dose_report | other


@dataclass(frozen=True)
class StudyRecord(Record):
    """One study for the store (see module doc).

    ``study_datetime``: ISO 8601 as the scanner wrote it (local wall-clock time without an offset,
    read in this computer's time zone) or an aware datetime; ``study_month`` is 'YYYY-MM' of the
    date as written.  ``ctdivol_mgy``: the calcium-score event's CTDIvol, else the largest of the
    scan events'.  ``dlp_total_mgycm``: the study's total DLP over all its events (head and body phantoms alike).
    ``dose_msv`` = k x DLP event by event; ``k_msv_per_mgycm`` when one k served every event.
    ``document``: the study's ``qa.dose/1`` report item (or the checklist's dose), no identifiers."""

    study_key: str
    scanner: ScannerIdentity
    study_datetime: str | dt.datetime | None = None
    study_month: str | None = None
    protocol: str | None = None
    qa_protocol: str | None = None
    patient_key: str | None = None
    accession_key: str | None = None
    operator_key: str | None = None
    is_calcium_score: bool = False
    is_qa: bool = False
    has_dose_report: bool = False
    dose_source: str | None = None  # rdsr | dose_screen | headers | None
    ctdivol_mgy: float | None = None
    dlp_total_mgycm: float | None = None
    dose_msv: float | None = None
    k_msv_per_mgycm: float | None = None
    k_source: str | None = None
    qa_version: str = ""
    document: dict[str, Any] | None = field(default=None, hash=False)
    events: tuple[DoseEventRecord, ...] = ()
    exam_checks: tuple[ExamCheckRecord, ...] = ()
    objects: tuple[IngestedObject, ...] = ()  # the DICOM objects this study was read from

    def __post_init__(self) -> None:
        if not self.study_key:
            raise ValueError("a study needs its study_key (the pseudonym of its StudyInstanceUID)")
        if self.dose_source not in (None, *DOSE_SOURCES):
            raise ValueError(f"dose_source must be one of {DOSE_SOURCES} or None, got {self.dose_source!r}")
        if self.study_month is not None and not (len(self.study_month) == 7 and self.study_month[4] == "-"
                                                 and self.study_month.replace("-", "").isdigit()):
            raise ValueError(f"study_month must be 'YYYY-MM', got {self.study_month!r}")
        uids = [e.irradiation_event_uid for e in self.events]
        if len(set(uids)) != len(uids):
            raise ValueError("a study's events must have distinct Irradiation Event UIDs")
        for o in self.objects:
            if o.kind not in OBJECT_KINDS:
                raise ValueError(f"object kind must be one of {OBJECT_KINDS}, got {o.kind!r}")


@dataclass(frozen=True)
class StudyFacts(Record):
    """What a study's objects say about the study (:func:`qa.dicom.study_index.study_facts`).

    ``study_datetime``: StudyDate + StudyTime as ISO 8601 without an offset (the scanner's wall
    clock); ``study_month``: 'YYYY-MM' of the date as written.  Identifiers only as pseudonyms."""

    study_datetime: str | None
    study_month: str | None
    study_description: str | None
    protocol_name: str | None
    body_part: str | None
    patient_key: str | None
    accession_key: str | None
    operator_key: str | None
    # The objects' descriptions or patient name name phantom QA (qa.records.phantom_qa); not in JSON.
    named_qa: bool = field(default=False, metadata={"json": False})


@dataclass(frozen=True)
class StoredStudy(Record):
    """A study as read back from the store: its row id, the record, when it was written."""

    id: int
    scanner_id: int
    record: StudyRecord
    ingested_at: dt.datetime  # aware, UTC
    study_datetime: dt.datetime | None  # aware, UTC


@dataclass(frozen=True)
class SavedStudy(Record):
    """What :meth:`qa.store.Store.save_study` did: the study's row id and ``added`` | ``updated`` | ``unchanged``."""

    study_id: int
    status: str


@dataclass(frozen=True)
class StoredStudyRef(Record):
    study_key: str  # pseudonym of the StudyInstanceUID
    study_id: int
    status: str  # added | updated | unchanged


@dataclass(frozen=True)
class StoredStudies(Record):
    """Where ``qa check --db`` / ``qa dose --db`` stored their studies (the ``stored`` block of their JSON)."""

    database: str  # the URL, password hidden
    studies: tuple[StoredStudyRef, ...]
