"""The plan of a synthetic fleet as records: every study, its series, irradiation events and dose
reports, decided before a file is written (:func:`qa.exam_synth.fleet.plan.plan_fleet`).

Times are ISO 8601 local times without a zone (as scanners write them); lengths in mm, doses in
mGy and mGy cm.  A study's events are in acquisition order; its dose reports name the events they
hold by position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qa.compliance.protocol import ExamProtocol
from qa.dose import ReferenceLevel
from qa.records.serialize import Record

KINDS = ("cac", "ccta", "chest", "phantom_qa")
# The study protocol each kind is grouped by (its Study Description).
KIND_PROTOCOLS = {"cac": "Calcium score", "ccta": "Coronary CTA", "chest": "Chest CT", "phantom_qa": "QA phantom"}


@dataclass(frozen=True)
class Patient(Record):
    """The identifiers a study's files carry in clear (synthetic; for testing that they are pseudonymised)."""

    patient_id: str
    name: str  # DICOM PN: FAMILY^GIVEN
    birth_date: str  # YYYYMMDD
    sex: str  # F | M | O


@dataclass(frozen=True)
class PlannedEvent(Record):
    """One irradiation event (TID 10013 CT Acquisition) of a study."""

    role: str  # localizer | calcium_score | cta | monitoring | chest | phantom
    protocol: str  # the dose report's Acquisition Protocol
    acquisition_type: str  # sequenced | spiral | constant_angle | stationary
    irradiation_event_uid: str
    start: str  # ISO 8601
    kvp: float
    tube_current_ma: float
    exposure_time_s: float
    scanning_length_mm: float
    total_collimation_mm: float
    single_collimation_mm: float
    pitch: float | None
    ctdivol_mgy: float
    dlp_mgycm: float
    target_region: str | None  # heart | chest | None


@dataclass(frozen=True)
class PlannedSeries(Record):
    """One image series of a study (``n_images`` images of ``matrix`` x ``matrix`` pixels)."""

    role: str  # localizer | calcium_score | cta | chest | phantom
    folder: str  # inside the study folder
    series_number: int
    description: str
    event: int  # the index of its irradiation event in the study
    n_images: int
    thickness_mm: float
    increment_mm: float
    kernel: str
    fov_mm: float
    z_top_mm: float  # patient z of the first (most cranial) image
    kvp: float
    tube_current_ma: float
    ctdivol_mgy: float
    acquisition_type: str  # sequenced | spiral | constant_angle
    gating: str  # prospective | retrospective | none
    pitch: float | None
    stacks: int  # axial rotations (step-and-shoot stacks); 1 for a spiral or a volume scan
    heart_rate_bpm: float | None  # as written (whole bpm)
    heart_rate_read_bpm: float | None  # as the header reader gets it back (Canon writes an RR interval)
    phase_pct: float | None
    iterative: bool
    start: str  # ISO 8601: the series' first exposure
    seconds_per_stack: float  # time between the stacks' exposures (one beat pair), or per image of a spiral

    @property
    def coverage_mm(self) -> float:
        """From the first image's edge to the last's (first to last position, plus one thickness)."""
        return (self.n_images - 1) * self.increment_mm + self.thickness_mm


@dataclass(frozen=True)
class PlannedReport(Record):
    """One dose report file of a study: the events it holds (a cumulative re-send repeats the
    earlier report's events with their Irradiation Event UIDs, and adds the later ones)."""

    file: str  # inside the study folder
    sop_instance_uid: str
    events: tuple[int, ...]
    dlp_total_mgycm: float
    content: str  # ISO 8601: when the scanner made it


@dataclass(frozen=True)
class PlannedExam(Record):
    """One study of the fleet, decided in full (see module doc)."""

    number: int  # 1, 2, ... in the order of the plan (by date and time)
    folder: str  # relative to OUT_DIR
    kind: str  # one of KINDS
    scanner: int  # index into the fleet's scanners
    start: str  # ISO 8601: StudyDate + StudyTime
    patient: Patient
    accession_number: str
    operators_name: str
    referring_physician_name: str
    study_instance_uid: str
    key: str  # the seed of the study's other UIDs
    series: tuple[PlannedSeries, ...]
    events: tuple[PlannedEvent, ...]
    reports: tuple[PlannedReport, ...]
    planted: tuple[str, ...] = ()  # deviations planted on purpose (options.ANOMALY_SHARES keys, "dose_drift")
    drift_factor: float = 1.0  # the planted dose drift's factor on this study's CTDIvol
    outlier_factor: float | None = None  # dose_outlier: DLP / the scanner's median calcium-score DLP
    group_median_dlp_mgycm: float | None = None  # that median (the scanner's calcium scores without outliers)

    @property
    def protocol(self) -> str:
        return KIND_PROTOCOLS[self.kind]

    @property
    def ctdivol_mgy(self) -> float:
        """The highest CTDIvol of the study's scans (localizers left out), as ``qa dose`` compares it."""
        return max(e.ctdivol_mgy for e in self.events if e.role != "localizer")

    @property
    def dlp_total_mgycm(self) -> float:
        """The study's DLP as its (last, cumulative) dose report totals it: every event, localizers included."""
        return round(sum(e.dlp_mgycm for e in self.events), 2)


@dataclass(frozen=True)
class FleetRules:
    """What the fleet is judged by (from ``procedures/``, loaded by the workflow): the calcium-score
    protocol of each vendor, the reference levels, the k-factors by target region."""

    protocols: Mapping[str, ExamProtocol]  # vendor key -> the protocol qa check chooses for it
    cac_level: ReferenceLevel
    ccta_level: ReferenceLevel | None
    k_by_region: Mapping[str, float]  # heart | chest -> mSv/(mGy cm)
    k_default_body: float  # an event without a target region (the body phantom's default)
    k_cardiac_protocol: float  # the calcium-score protocols' k
    sources: Mapping[str, str] = field(default_factory=dict)  # where each came from (file, sha256)
