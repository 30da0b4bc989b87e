"""One exam as found on disk: the calcium-score series' headers, the other series, the dose."""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.records.dose import StudyDose
from qa.records.headers import AcquisitionHeaders
from qa.records.identity import ScannerIdentity
from qa.records.inputs import FileCounts
from qa.records.serialize import Record
from qa.records.study import StudyFacts


@dataclass(frozen=True)
class SeriesSummary(Record):
    """A series of an exam, for the listing beside the checked one."""

    series_instance_uid: str
    description: str
    n_images: int
    slice_thickness_mm: float | None
    kernel: str | None
    role: str  # "checked" | "other"


@dataclass(frozen=True)
class Exam(Record):
    """The checked series' headers, the exam's other series and its dose report (when it came
    with the exam).  Identifiers only as pseudonyms (``study_key``, ``patient_key``)."""

    headers: AcquisitionHeaders
    series: tuple[SeriesSummary, ...]
    dose: StudyDose | None = None
    study_key: str | None = None  # pseudonym of the StudyInstanceUID
    patient_key: str | None = None  # pseudonym of the PatientID
    protocol_choice: str = ""
    notes: tuple[str, ...] = ()
    files: FileCounts | None = field(default=None, metadata={"json": False})  # the exam's files read and skipped
    facts: StudyFacts | None = field(default=None, metadata={"json": False})  # the study's date, pseudonymised accession, operator

    __json_properties__ = ("scanner",)

    @property
    def scanner(self) -> ScannerIdentity:
        return self.headers.scanner
