"""The acquisitions of a synthetic study: each scan's image series and irradiation event (pure).

A scan's DLP follows from its CTDIvol and geometry the way scanners compute it: an axial
(step-and-shoot or volume) scan irradiates ``rotations x total collimation``, with as many
rotations as it takes to hold the slice centres (the estimate ``qa check`` makes from headers, so
a study without its dose report is judged on the same DLP); a spiral irradiates its scanning
length (the reconstructed range plus one collimation of over-ranging).  DLP = CTDIvol x irradiated
length (IEC 60601-2-44).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from qa.dicom.write_vendor import heart_rate_as_read
from qa.exam_synth.fleet.catalogue import ScannerModel
from qa.exam_synth.fleet.records import PlannedEvent, PlannedSeries

# CTDIvol (32 cm body phantom) per mAs at each tube voltage: our proposal, of the order of the
# tabulated CTDIw of 64-slice scanners (about 7-9 mGy per 100 mAs at 120 kV); it only sets the
# tube currents written beside the CTDIvol, which is what the fleet plans.
MGY_PER_MAS = {80: 0.025, 100: 0.05, 120: 0.075, 140: 0.1}
MAX_TUBE_CURRENT_MA = 1300.0  # the plausibility table's typical top (qa.records.plausibility)
MATRIX = 32  # header-only images: 32 x 32 pixels (the pixel spacing follows the field of view)
MAX_PIXEL_MM = 10.0  # the largest pixel spacing qa accepts (qa.records.plausibility): wider fields of view get more pixels


def matrix_for(fov_mm: float) -> int:
    """The image matrix of a header-only series with this field of view: :data:`MATRIX`, doubled until
    the pixel spacing is at most :data:`MAX_PIXEL_MM` (a 500 mm chest field of view: 64 pixels)."""
    n = MATRIX
    while fov_mm / n > MAX_PIXEL_MM:
        n *= 2
    return n


@dataclass(frozen=True)
class Technique:
    """How one scan is acquired and reconstructed (lengths in mm, CTDIvol in mGy)."""

    role: str  # calcium_score | cta | chest | phantom
    protocol: str  # the dose report's Acquisition Protocol
    description: str  # the image series' description
    folder: str
    acquisition_type: str  # sequenced | spiral
    kvp: float
    ctdivol_mgy: float
    thickness_mm: float
    n_images: int
    kernel: str
    fov_mm: float
    collimation_mm: float
    gating: str  # prospective | retrospective | none
    pitch: float | None = None  # spiral only
    heart_rate_bpm: float | None = None
    phase_pct: float | None = None
    iterative: bool = False
    region: str | None = None  # heart | chest | None
    z_top_mm: float = 0.0

    @property
    def span_mm(self) -> float:
        """From the first slice centre to the last."""
        return (self.n_images - 1) * self.thickness_mm

    @property
    def rotations(self) -> int:
        """Axial rotations needed to hold the slice centres (the rule of qa.dose.estimated_dlp)."""
        return max(1, math.ceil(self.span_mm / self.collimation_mm - 1e-6))

    @property
    def irradiated_mm(self) -> float:
        if self.acquisition_type == "spiral":
            return self.n_images * self.thickness_mm + self.collimation_mm
        return self.rotations * self.collimation_mm

    @property
    def dlp_mgycm(self) -> float:
        return round(self.ctdivol_mgy * self.irradiated_mm / 10.0, 2)


def tube_current_ma(ctdivol_mgy: float, kvp: float, rotation_s: float, pitch: float | None = None) -> float:
    """The tube current that gives ``ctdivol_mgy`` (MGY_PER_MAS; a spiral's CTDIvol is per mAs / pitch)."""
    per_mas = MGY_PER_MAS.get(int(round(kvp)), MGY_PER_MAS[120])
    return float(min(MAX_TUBE_CURRENT_MA, max(10.0, round(ctdivol_mgy * (pitch or 1.0) / per_mas / rotation_s))))


def scan(t: Technique, model: ScannerModel, start: dt.datetime, *, uid: str, event: int, series_number: int,
         cardiac_style: str) -> tuple[PlannedSeries, PlannedEvent]:
    """The image series and the irradiation event of one scan."""
    spiral = t.acquisition_type == "spiral"
    if spiral:
        table_mm_s = (t.pitch or 1.0) * t.collimation_mm / model.rotation_s
        exposure_s = round(t.irradiated_mm / table_mm_s, 2)
        per_stack = exposure_s / t.n_images
        stacks = 1
    else:
        stacks = t.rotations
        exposure_s = round(stacks * model.rotation_s, 3)
        beat_s = 60.0 / t.heart_rate_bpm if t.heart_rate_bpm else 1.0
        per_stack = 2.0 * beat_s if t.gating == "prospective" else 1.5  # an exposure every second beat; table moves
    ma = tube_current_ma(t.ctdivol_mgy, t.kvp, model.rotation_s, t.pitch if spiral else None)
    hr = t.heart_rate_bpm
    series = PlannedSeries(
        role=t.role, folder=t.folder, series_number=series_number, description=t.description, event=event,
        n_images=t.n_images, thickness_mm=t.thickness_mm, increment_mm=t.thickness_mm, kernel=t.kernel, fov_mm=t.fov_mm,
        z_top_mm=t.z_top_mm, kvp=t.kvp, tube_current_ma=ma, ctdivol_mgy=t.ctdivol_mgy, acquisition_type=t.acquisition_type,
        gating=t.gating, pitch=t.pitch if spiral else None, stacks=stacks, heart_rate_bpm=hr,
        heart_rate_read_bpm=heart_rate_as_read(cardiac_style, hr) if hr is not None else None, phase_pct=t.phase_pct,
        iterative=t.iterative, start=start.isoformat(), seconds_per_stack=round(per_stack, 4))
    event_record = PlannedEvent(
        role=t.role, protocol=t.protocol, acquisition_type=t.acquisition_type, irradiation_event_uid=uid, start=start.isoformat(),
        kvp=t.kvp, tube_current_ma=ma, exposure_time_s=exposure_s, scanning_length_mm=round(t.irradiated_mm, 2),
        total_collimation_mm=t.collimation_mm, single_collimation_mm=model.single_collimation_mm, pitch=t.pitch if spiral else None,
        ctdivol_mgy=t.ctdivol_mgy, dlp_mgycm=t.dlp_mgycm, target_region=t.region)
    return series, event_record


def localizer(model: ScannerModel, name: str, start: dt.datetime, rng: random.Random, *, uid: str, event: int, folder: str,
              series_number: int, region: str | None, z_top_mm: float) -> tuple[PlannedSeries, PlannedEvent]:
    """A localizer (constant-angle acquisition) and its one image; vendors report its small dose too."""
    length = float(rng.randrange(250, 360, 10))
    ctdivol = round(rng.uniform(0.05, 0.15), 2)
    ma = float(rng.randrange(20, 60, 5))
    series = PlannedSeries(
        role="localizer", folder=folder, series_number=series_number, description=name, event=event, n_images=1,
        thickness_mm=1.0, increment_mm=1.0, kernel=model.cac_kernel, fov_mm=500.0, z_top_mm=z_top_mm + 60.0, kvp=120.0,
        tube_current_ma=ma, ctdivol_mgy=ctdivol, acquisition_type="constant_angle", gating="none", pitch=None, stacks=1,
        heart_rate_bpm=None, heart_rate_read_bpm=None, phase_pct=None, iterative=False, start=start.isoformat(), seconds_per_stack=0.0)
    event_record = PlannedEvent(
        role="localizer", protocol=name, acquisition_type="constant_angle", irradiation_event_uid=uid, start=start.isoformat(),
        kvp=120.0, tube_current_ma=ma, exposure_time_s=round(length / 100.0, 2), scanning_length_mm=length,
        total_collimation_mm=2 * model.single_collimation_mm, single_collimation_mm=model.single_collimation_mm, pitch=None,
        ctdivol_mgy=ctdivol, dlp_mgycm=round(ctdivol * length / 10.0, 2), target_region=region)
    return series, event_record


def monitoring(model: ScannerModel, start: dt.datetime, rng: random.Random, *, uid: str) -> PlannedEvent:
    """Bolus tracking before an angiography: low-dose rotations at one table position (no images kept)."""
    repeats = rng.randrange(6, 16)
    ctdivol = round(repeats * rng.uniform(0.8, 1.4), 2)
    width = min(model.collimation_mm, 10.0)
    return PlannedEvent(
        role="monitoring", protocol="Bolus Tracking", acquisition_type="stationary", irradiation_event_uid=uid, start=start.isoformat(),
        kvp=100.0, tube_current_ma=float(rng.randrange(20, 45, 5)), exposure_time_s=round(repeats * model.rotation_s, 3),
        scanning_length_mm=width, total_collimation_mm=width, single_collimation_mm=model.single_collimation_mm, pitch=None,
        ctdivol_mgy=ctdivol, dlp_mgycm=round(ctdivol * width / 10.0, 2), target_region="heart")
