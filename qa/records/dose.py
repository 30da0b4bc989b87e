"""Dose records: irradiation events, one dose report, and the dose of a study.

Read by :mod:`qa.dicom.rdsr` (CT Radiation Dose SR, TID 10011; Philips dose info captures),
merged per study by :mod:`qa.dicom.rdsr_merge`, judged by :mod:`qa.dose`.  No patient
identifier: the study is named by ``study_key``, the pseudonym of its StudyInstanceUID.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from qa.records.serialize import Record

# The CTDI phantom of an event: "head16" (16 cm, IEC head), "body32" (32 cm, IEC body), or unknown.
PHANTOM_KEYS = ("head16", "body32", "unknown")
# The acquisition type of a localizer (CID 10013 "Constant Angle Acquisition"): vendors report no DLP for it.
LOCALIZER = "constant_angle"


def dlp_totals_disagree(a_mgycm: float, b_mgycm: float) -> bool:
    """Do two DLPs of one report (its own total and the sum of its events) disagree by more than
    the rounding of the values a report states (0.05 mGy cm, plus 0.1 % for rounded totals)?"""
    return abs(a_mgycm - b_mgycm) > 0.05 + 1e-3 * max(abs(a_mgycm), abs(b_mgycm))


@dataclass(frozen=True)
class DoseCheck(Record):
    """An event's CT Dose Check Details (PS3.16 TID 10015; NEMA XR 25): whether the scanner had an
    alert and a notification value configured for DLP and CTDIvol, those values, the forward
    estimates the scanner compared with them, and, when a value was exceeded, the reason the
    operator gave for proceeding and the person who authorised it (``*_person_key``: the keyed
    pseudonym of the Person Name, never the name).  None: not reported, or not configured.

    ``alert_exceeded`` / ``notification_exceeded``: whether the report says the alert (the
    accumulated estimate) or the notification (the scan's estimate) value was exceeded (see
    :func:`dose_check_exceeded`); None when the report has no such container."""

    alert_dlp_configured: bool | None = None
    alert_ctdivol_configured: bool | None = None
    alert_dlp_mgycm: float | None = None
    alert_ctdivol_mgy: float | None = None
    notification_dlp_configured: bool | None = None
    notification_ctdivol_configured: bool | None = None
    notification_dlp_mgycm: float | None = None
    notification_ctdivol_mgy: float | None = None
    alert_accumulated_dlp_forward_estimate_mgycm: float | None = None  # DCM 113905
    alert_accumulated_ctdivol_forward_estimate_mgy: float | None = None  # DCM 113906
    alert_reason: str | None = None  # Reason for Proceeding (DCM 113907), as typed at the console
    alert_person_key: str | None = None  # pseudonym of the Irradiation Authorizing person (TID 1020)
    alert_exceeded: bool | None = None
    notification_dlp_forward_estimate_mgycm: float | None = None  # DCM 113913
    notification_ctdivol_forward_estimate_mgy: float | None = None  # DCM 113914
    notification_reason: str | None = None
    notification_person_key: str | None = None
    notification_exceeded: bool | None = None

    @property
    def exceeded(self) -> bool:
        """An alert or a notification value was exceeded."""
        return bool(self.alert_exceeded or self.notification_exceeded)

    @classmethod
    def from_stored(cls, values: dict) -> DoseCheck:
        """A dose check from its stored JSON (keys this version does not know are left out)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def dose_check_exceeded(present: bool, estimates: tuple[tuple[float | None, float | None], ...], reason: str | None,
                        person_key: str | None) -> bool | None:
    """Was a Dose Check value exceeded, by the report's own account?  ``estimates``: (forward
    estimate, configured value) pairs.  PS3.16 TID 10015 requires the forward estimate where it
    exceeds the value, and the Reason for Proceeding and the Irradiation Authorizing person only
    then: any of them shows it.  None when the container is absent (nothing reported)."""
    if not present:
        return None
    above = any(e is not None and v is not None and e > v for e, v in estimates)
    return above or reason is not None or person_key is not None


@dataclass(frozen=True)
class DoseEvent(Record):
    """One irradiation event (TID 10013 "CT Acquisition").  Per-source tuples have one value per
    X-ray source (two for dual source), in the order of the report.  ``sources`` maps a field name
    to where its value came from ("DCM 113830", a header tag)."""

    irradiation_event_uid: str | None
    acquisition_type: str | None  # spiral | sequenced | constant_angle | stationary | free | cone_beam
    acquisition_protocol: str | None
    target_region: str | None  # code meaning, for display
    target_region_code: str | None
    target_region_scheme: str | None
    xray_source_ids: tuple[str | None, ...]
    kvp: tuple[float | None, ...]
    tube_current_ma: tuple[float | None, ...]
    max_tube_current_ma: tuple[float | None, ...]
    exposure_time_per_rotation_s: tuple[float | None, ...]
    n_xray_sources_reported: int | None
    exposure_time_s: float | None
    scanning_length_mm: float | None
    single_collimation_mm: float | None
    total_collimation_mm: float | None
    pitch: float | None
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    phantom: str | None  # head16 | body32 | None
    ssde_mgy: float | None
    comment: str | None
    start_datetime: str | None  # ISO 8601
    sources: dict[str, str] = field(default_factory=dict, hash=False)  # field -> where its value came from
    dose_check: DoseCheck | None = None  # the CT Dose Check Details, when the report has them

    @property
    def region_code(self) -> tuple[str, str] | None:
        """(CodeValue, CodingSchemeDesignator) of the target region, when the report gives one."""
        if self.target_region_code and self.target_region_scheme:
            return (self.target_region_code, self.target_region_scheme)
        return None


@dataclass(frozen=True)
class DoseReport(Record):
    """One dose report file.  ``dlp_total_mgycm`` is the report's own total (DCM 113813, or the
    Philips header total), never replaced by ``dlp_events_sum_mgycm``.  ``path`` is for messages
    only (folder names may name the patient); JSON carries ``source_file``, the file's own name."""

    path: str = field(metadata={"json": False})
    source_file: str
    sop_instance_uid: str | None
    sop_class: str  # xray_dose_sr | enhanced_sr | comprehensive_sr | philips_dose_info
    study_key: str | None  # pseudonym of the StudyInstanceUID
    manufacturer: str | None
    model: str | None
    device_serial_number: str | None
    station_name: str | None
    study_datetime: str | None
    series_datetime: str | None
    irradiation_start_datetime: str | None
    irradiation_end_datetime: str | None
    events: tuple[DoseEvent, ...]
    dlp_total_mgycm: float | None
    dlp_total_source: str | None
    n_events_reported: int | None
    dlp_events_sum_mgycm: float
    dlp_by_phantom_mgycm: dict[str, float] = field(hash=False)  # head16 / body32 / unknown
    warnings: tuple[str, ...] = ()
    study_description: str | None = None  # (0008,1030), read to tell phantom QA (qa.records.phantom_qa)
    # Its descriptions, event protocols or patient name name phantom QA (qa.records.phantom_qa); not in JSON.
    named_qa: bool = field(default=False, metadata={"json": False})


@dataclass(frozen=True)
class StudyDose(Record):
    """The dose of one study from all its reports (see :func:`qa.dicom.rdsr.merge_reports`)."""

    study_key: str | None  # pseudonym of the StudyInstanceUID
    sop_instance_uids: tuple[str, ...]  # every report of the study, in input order
    superseded_sop_instance_uids: tuple[str, ...]  # cumulative re-sends repeated by a later report
    paths: tuple[str, ...] = field(metadata={"json": False})  # for messages only
    source_files: tuple[str, ...]  # the reports' own file names
    events: tuple[DoseEvent, ...]
    dlp_total_mgycm: float | None
    dlp_total_method: str
    dlp_by_phantom_mgycm: dict[str, float] = field(hash=False)  # head16 / body32 / unknown
    manufacturer: str | None = None
    model: str | None = None
    device_serial_number: str | None = None
    station_name: str | None = None
    study_datetime: str | None = None
    warnings: tuple[str, ...] = ()
    study_description: str | None = None  # the first report's that gives one (qa.records.phantom_qa)
    # One of its reports names phantom QA (DoseReport.named_qa); not in JSON.
    named_qa: bool = field(default=False, metadata={"json": False})
    # The kinds (DoseReport.sop_class) of its reports; not in JSON.
    sop_classes: tuple[str, ...] = field(default=(), metadata={"json": False})
