"""The manager's trends (``qa trends``, the ``qa.trends/1`` document): groups of stored studies by
scanner, protocol and month, their dose and compliance aggregates, reference levels and outliers.

A group's ``keys`` hold only the keys it is grouped by (``scanner`` as a :class:`GroupScanner`,
``protocol`` as the scanner wrote it, ``month`` 'YYYY-MM'); they are written at the group's top
level in JSON.  Percentiles are linear interpolation between closest ranks (numpy's default,
PostgreSQL's ``percentile_cont``); see :mod:`qa.store.percentiles`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from qa.records.dose import DoseCheck
from qa.records.provenance import DefinitionRef
from qa.records.serialize import Record

DOSE, COMPLIANCE = "dose", "compliance"
KINDS = (DOSE, COMPLIANCE)
GROUP_KEYS = ("scanner", "protocol", "month")
# The dose quantities of a study, with their display names and units (column heads, exports).
QUANTITY_LABELS = {"ctdivol_mgy": ("CTDIvol", "mGy"), "dlp_total_mgycm": ("DLP", "mGy cm"), "dose_msv": ("Effective dose", "mSv")}
STATUSES = ("pass", "warn", "fail", "not_available", "not_applicable")
# A checklist's verdicts as compliance trends count them (incomplete: nothing failed or warned, but a check could not be run).
CHECKLIST_VERDICTS = ("pass", "incomplete", "warn", "fail")
# What the pass rate of a compliance group means, said wherever it is shown (terminal, CSV, xlsx, --help, schema).
PASS_RATE_MEANS = "pass / checked studies: incomplete, warn and fail count as not passed"


@dataclass(frozen=True)
class GroupScanner(Record):
    """A scanner as the group shows it (the ``scanners`` row): ``serial`` None when the images carry none."""

    manufacturer: str
    model: str
    serial: str | None
    station_name: str | None

    def label(self) -> str:
        return " ".join(p for p in (self.manufacturer, self.model, self.serial or self.station_name or "(no serial)") if p)


@dataclass(frozen=True)
class Distribution(Record):
    """One dose quantity over a group's compared studies: how many have a value, median, 75th percentile, mean."""

    n: int
    median: float | None
    p75: float | None
    mean: float | None


@dataclass(frozen=True)
class LevelResult(Record):
    """A group against one reference level, for one quantity the level gives.

    ``n``: the group's compared studies whose level this is and that have the quantity.
    ``compares`` ``median`` (a diagnostic reference level): ``value`` is their median and
    ``exceeded`` says whether it is above ``limit`` (``n_above`` None).  ``each_exam`` (a per-exam
    alert level): ``value`` is the highest exam and ``n_above`` counts the exams above ``limit``
    (``exceeded`` None)."""

    id: str
    kind: str  # national | site
    compares: str  # median | each_exam
    quantity: str  # the level's quantity: ctdivol_mgy | dlp_mgycm | dose_msv
    limit: float
    unit: str
    n: int
    value: float | None
    exceeded: bool | None
    n_above: int | None


@dataclass(frozen=True)
class DoseCheckCounts(Record):
    """A group's CT Dose Check (NEMA XR 25, TID 10015) over the events of its studies holding a dose
    report (QA studies included): ``n_events``, ``n_checked`` (events whose report gives Dose Check
    details), ``n_alert_exceeded`` / ``n_notification_exceeded`` (events with an alert /
    notification value exceeded) and ``n_studies_exceeded`` (studies with either)."""

    n_events: int
    n_checked: int
    n_alert_exceeded: int
    n_notification_exceeded: int
    n_studies_exceeded: int


@dataclass(frozen=True)
class DoseGroup(Record):
    """One group of the dose trends.  ``n_studies``: studies holding a CT dose report (QA studies
    included; ``n_qa_studies`` of them are QA studies); the quantities are over the others (the
    compared studies); ``n_without_dose_report``: studies kept that hold none.  ``events_per_study``:
    the irradiation events of the compared studies (localizers included); ``dose_check``: see
    :class:`DoseCheckCounts`."""

    keys: dict[str, Any] = field(metadata={"flatten": True})
    n_studies: int
    n_qa_studies: int
    n_without_dose_report: int
    ctdivol_mgy: Distribution
    dlp_total_mgycm: Distribution
    dose_msv: Distribution
    reference_levels: tuple[LevelResult, ...]
    events_per_study: Distribution
    dose_check: DoseCheckCounts


@dataclass(frozen=True)
class CheckCounts(Record):
    """One check id over a group's latest checklists: how many gave each status, and the failure
    rate ``fail / judged`` (judged: pass + warn + fail; None when none was judged)."""

    id: str
    counts: dict[str, int] = field(metadata={"flatten": True})  # status -> count, every status of STATUSES
    judged: int
    failure_rate: float | None


@dataclass(frozen=True)
class ComplianceGroup(Record):
    """One group of the compliance trends: ``n_checked`` studies with a checklist (the latest of
    each), their ``verdicts`` (pass, incomplete, warn, fail: :data:`CHECKLIST_VERDICTS`),
    ``n_incomplete`` of them incomplete (never counted as a pass), the ``pass_rate``
    (:data:`PASS_RATE_MEANS`; None without a checklist) and, per check id, the counts by status,
    checks by failure rate."""

    keys: dict[str, Any] = field(metadata={"flatten": True})
    n_studies: int
    n_qa_studies: int
    n_without_dose_report: int
    n_checked: int
    verdicts: dict[str, int]
    checks: tuple[CheckCounts, ...]
    __json_properties__ = ("n_incomplete", "pass_rate")

    @property
    def n_incomplete(self) -> int:
        return self.verdicts.get("incomplete", 0)

    @property
    def pass_rate(self) -> float | None:
        return self.verdicts.get("pass", 0) / self.n_checked if self.n_checked else None


@dataclass(frozen=True)
class Outlier(Record):
    """A study whose ``quantity`` is far from its scanner + protocol group: robust z = (value -
    median) / (1.4826 MAD) beyond the threshold (:class:`TrendMethods`)."""

    study_key: str
    study_datetime: dt.datetime | None  # aware, UTC
    month: str | None
    scanner: GroupScanner
    protocol: str | None
    quantity: str  # dlp_total_mgycm | ctdivol_mgy
    value: float
    median: float
    mad: float
    n: int  # values in its group
    z: float


@dataclass(frozen=True)
class StudyEvent(Record):
    """One irradiation event of a listed study, numbered in report order (1, 2, ...); never its UID."""

    number: int
    acquisition_type: str | None
    protocol: str | None  # Acquisition Protocol (DCM 125203) as written
    target_region: str | None
    phantom: str | None  # head16 | body32 | None
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    kvp: float | None
    tube_current_ma: float | None
    exposure_time_s: float | None
    pitch: float | None
    total_collimation_mm: float | None
    scanning_length_mm: float | None
    dose_check: DoseCheck | None


@dataclass(frozen=True)
class StudyItem(Record):
    """One study behind the trends (``qa trends dose --studies``): its pseudonym, when, where, what,
    its dose as stored, its events and how many of them passed a Dose Check alert / notification."""

    study_key: str
    study_datetime: dt.datetime | None  # aware, UTC
    month: str | None
    scanner: GroupScanner
    protocol: str | None
    qa_protocol: str | None
    is_calcium_score: bool
    is_qa: bool
    has_dose_report: bool
    n_events: int
    ctdivol_mgy: float | None
    dlp_total_mgycm: float | None
    dose_msv: float | None
    n_dose_check_alerts: int
    n_dose_check_notifications: int
    events: tuple[StudyEvent, ...]


@dataclass(frozen=True)
class TrendFilters(Record):
    """What was asked: the protocol pattern and the scanner as given (and which scanner it named)."""

    protocol: str | None
    scanner: str | None
    scanner_matched: GroupScanner | None


@dataclass(frozen=True)
class TrendMethods(Record):
    """How the numbers were made, in words and constants."""

    percentiles: str
    outliers: str
    outlier_threshold: float
    mad_factor: float
    outlier_min_group: int
    reference_levels: str


@dataclass(frozen=True)
class TrendsReport(Record):
    """The ``qa.trends/1`` document.  ``period``: ``from`` and ``to`` (inclusive dates, None: open)."""

    kind: str  # dose | compliance
    by: tuple[str, ...]
    period: dict[str, str | None] = field(metadata={"flatten": True})
    filters: TrendFilters
    n_studies: int
    groups: tuple[DoseGroup | ComplianceGroup, ...]
    outliers: tuple[Outlier, ...]
    methods: TrendMethods
    dose_tables: DefinitionRef | None
    analysis_time: dt.datetime
    exported: str | None = None  # the --csv / --xlsx file written
    warnings: tuple[str, ...] = ()
    studies: tuple[StudyItem, ...] | None = None  # --studies: every study kept, by date (None: not asked)
