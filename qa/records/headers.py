"""What the headers of one CT series say about its acquisition (read by :mod:`qa.dicom.headers`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.records.identity import ScannerIdentity
from qa.records.serialize import Record


@dataclass(frozen=True)
class Stack(Record):
    """Images acquired together (one table position of a step-and-shoot scan, or one spiral)."""

    index: int
    n_images: int
    z_min_mm: float | None
    z_max_mm: float | None
    acquisition_time: str | None  # ISO 8601 of its earliest image (as the scanner wrote it)
    start_s: float | None  # seconds after the series' first image (None without times)


@dataclass(frozen=True)
class AcquisitionHeaders(Record):
    """What the headers of one CT series say about its acquisition and reconstruction.

    Every value keeps the tag it came from beside it (``sources``), never inside it."""

    series_instance_uid: str
    series_description: str
    manufacturer: str | None
    model: str | None
    device_serial_number: str | None
    station_name: str | None
    software_versions: str | None
    n_images: int
    kvp: float | None
    tube_current_ma: float | None
    exposure_mas: float | None
    exposure_time_ms: float | None
    slice_thickness_mm: float | None
    slice_increment_mm: float | None  # from the image positions, never SpacingBetweenSlices
    kernel: str | None
    reconstruction_algorithm: str | None  # "filtered_back_projection" | "iterative" | vendor text
    iterative_strength: str | None  # the vendor's strength level, when it says (Siemens: Qr36d\3 -> "3")
    reconstruction_diameter_mm: float | None
    data_collection_diameter_mm: float | None
    pitch: float | None
    single_collimation_mm: float | None
    total_collimation_mm: float | None
    revolution_time_s: float | None
    ctdivol_mgy: float | None
    acquisition_type: str | None  # "sequenced" (axial step-and-shoot) | "spiral" | "stationary" | "constant_angle" | "free"
    cardiac_synchronization: str | None  # "prospective" | "retrospective" | "none" | "paced" | "realtime"
    trigger_phase_pct: float | None  # % of the RR interval
    trigger_delay_ms: float | None  # after the R peak
    heart_rate_bpm: float | None  # mean over the images (or the one value the scanner wrote)
    heart_rate_min_bpm: float | None
    heart_rate_max_bpm: float | None
    heart_rate_prescan_bpm: float | None  # measured before the scan (GE: heart rate at confirm)
    scan_range_mm: tuple[float, float] | None  # first and last image position along z
    coverage_mm: float | None  # scan range + one slice thickness
    first_image_time: str | None
    stacks: tuple[Stack, ...]
    # Series-wide settings that differ between the images ({field: sorted distinct values}); the
    # field itself is then None (never the first image's value) except ctdivol_mgy (the highest).
    varying: dict[str, tuple] = field(default_factory=dict)
    irradiation_event_uids: tuple[str, ...] = ()  # (0008,3010) of the images, to match dose-report events
    image_times: tuple[str | None, ...] = ()  # acquisition time of each image, in slice order
    sop_instance_uids: tuple[str, ...] = field(default=(), metadata={"json": False})  # provenance, given apart
    sources: dict[str, str] = field(default_factory=dict)  # field -> the tag (or rule) it came from
    warnings: tuple[str, ...] = ()
    device_uid: str | None = None  # (0018,1002)
    institution_name: str | None = None  # (0008,0080)
    body_part_examined: str | None = None  # (0018,0015) as written (PS3.3 C.7.3.1 defined terms: HEART, CHEST, ...)
    protocol_name: str | None = None  # (0018,1030)

    @property
    def scanner(self) -> ScannerIdentity:
        return ScannerIdentity(self.manufacturer, self.model, self.device_serial_number, self.station_name,
                               self.device_uid, self.institution_name)

    @property
    def image_dose(self) -> ImageDose:
        return ImageDose(self.series_description, self.ctdivol_mgy, self.irradiation_event_uids,
                         {"ctdivol_mgy": self.sources["ctdivol_mgy"]} if "ctdivol_mgy" in self.sources else {})


@dataclass(frozen=True)
class ImageDose(Record):
    """What a dose report is compared by, from the checked series' images (a part of
    :class:`AcquisitionHeaders`): the series description (the reference level's name), CTDIvol
    and the Irradiation Event UIDs the images carry.  Kept in a stored checklist's document, so
    that a dose report stored later re-judges its dose checks as ``qa check`` would have."""

    series_description: str
    ctdivol_mgy: float | None
    irradiation_event_uids: tuple[str, ...]
    sources: dict[str, str] = field(default_factory=dict)  # ctdivol_mgy -> the tag it came from
