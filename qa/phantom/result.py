"""The result of one phantom analysis: per-insert scores, calibration, totals, checks and verdict (records)."""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.calcium.calibration import Calibration
from qa.calcium.scoring import ScoringSettings
from qa.phantom.baseline import Baseline, Configuration
from qa.phantom.locate import PhantomLocation
from qa.phantom.ring import PhantomRing
from qa.records.checks import Check
from qa.records.identity import ScannerIdentity
from qa.records.provenance import DefinitionRef
from qa.records.serialize import Record
from qa.records.verdicts import VerdictSummary
from qa.records.volume import VolumeSummary


@dataclass(frozen=True)
class InsertResult(Record):
    id: str
    density_mgha_cm3: float
    diameter_mm: float
    detected: bool
    located: bool  # seen by the localiser (else its expected position was used)
    n_lesions: int
    agatston: float
    volume_mm3: float
    mass_mg: float | None
    physical_volume_mm3: float
    physical_mass_mg: float
    mass_error_pct: float | None
    peak_hu: float | None
    centroid_mm: tuple[float, float, float]


@dataclass(frozen=True)
class PhantomAcquisition(Record):
    """The acquisition settings of a phantom run, as the procedure's acquisition rules see them."""

    kvp: float | None
    slice_thickness_mm: float | None
    slice_increment_mm: float
    kernel: str | None
    ctdivol_mgy: float | None
    exposure_mas: float | None
    ring: str  # "none" | "large" | "unspecified": measured from the image, or given (qa phantom --ring)
    acquisition_datetime: str | None  # ISO 8601 as the scanner wrote it
    ring_source: str = "given"  # "measured" | "given" | "unknown" (qa.phantom.ring.PhantomRing)


@dataclass(frozen=True)
class PhantomCalibration(Record):
    """The rods' calibration of a run (all None when the rods were not seen)."""

    water_hu: float | None
    ha200_hu: float | None
    c_ha_mg_per_cm3_hu: float | None
    noise_hu: float | None
    water_center_mm: tuple[float, float, float] | None
    ha200_center_mm: tuple[float, float, float] | None
    detail: Calibration | None = field(default=None, metadata={"json": False})


@dataclass(frozen=True)
class Totals(Record):
    """Totals over the detected inserts, beside the physical truth of all of them."""

    agatston: float
    volume_mm3: float
    mass_mg: float | None
    physical_mass_mg: float
    physical_volume_mm3: float
    n_detected: int


@dataclass(frozen=True)
class OtherLesions(Record):
    """Lesions inside the insert that belong to no calcification (noise)."""

    n_lesions: int
    agatston: float
    volume_mm3: float


@dataclass(frozen=True)
class PhantomResult(Record):
    """The analysis of one phantom scan (the body of the ``qa.phantom/1`` document; the workflow
    adds the analysis time, the toolkit version and where it was stored)."""

    phantom: str
    procedure: DefinitionRef
    scanner: ScannerIdentity
    series: VolumeSummary
    acquisition: PhantomAcquisition
    configuration: Configuration
    calibration: PhantomCalibration
    location: PhantomLocation
    settings: ScoringSettings
    inserts: tuple[InsertResult, ...]
    totals: Totals
    other_lesions: OtherLesions
    metrics: dict[str, float | None]
    checks: tuple[Check, ...]
    verdict: str
    verdict_message: str
    summary: VerdictSummary  # the banner: level, the procedure's action, failed checks first, what could not be run and why
    protocol_ok: bool
    baseline: Baseline | None
    warnings: tuple[str, ...] = ()
    ring: PhantomRing | None = None  # the ring configuration: measured from the image or given, with the evidence
    phantom_ref: DefinitionRef | None = field(default=None, metadata={"json": False})
    sop_instance_uids: tuple[str, ...] = field(default=(), metadata={"json": False})
