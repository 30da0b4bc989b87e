"""What ``qa synth phantom`` is asked for (options, checked) and what it wrote (the result)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field


from qa.dicom.write import (
    PIXEL_STYLES,
    VENDORS,
    CtHeader,
)
from qa.errors import UsageError
from qa.records.plausibility import is_possible, plausible
from qa.records.serialize import Record

AIR_HU = -1000.0
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

# Options -> plausibility quantity (qa.records.plausibility.RANGES).
PLAUSIBLE_OPTIONS = {
    "pixel_mm": "pixel_spacing_mm", "thickness_mm": "slice_thickness_mm", "increment_mm": "slice_increment_mm",
    "z_start_mm": "position_mm", "z_end_mm": "position_mm", "table_z_mm": "position_mm", "shift_mm": "position_mm",
    "heart_rate_bpm": "heart_rate_bpm", "ctdivol_mgy": "ctdivol_mgy",
    "tube_current_ma": "tube_current_ma", "rotation_time_s": "duration_s", "total_collimation_mm": "length_mm",
    "single_collimation_mm": "length_mm", "fov_mm": "length_mm", "noise_hu": "hu",
}


@dataclass(frozen=True)
class SynthOptions(Record):
    """Everything that defines one synthetic acquisition.  Lengths in mm, angles in degrees."""

    phantom: str = "qrm-cci"
    kvp: float = 120.0
    pixel_mm: float = 0.488
    matrix: int = 512
    thickness_mm: float = 3.0
    increment_mm: float | None = None  # None: equal to the thickness (contiguous)
    z_start_mm: float = -55.0  # scan range in the phantom frame (0 = calcification slab centre)
    z_end_mm: float = 55.0
    table_z_mm: float = 0.0  # patient z of the phantom-frame origin
    shift_mm: tuple[float, float] = (0.0, 0.0)  # in-plane offset of the phantom from the isocentre
    rotation_deg: float = 0.0  # rotation of the insert about its axis
    noise_hu: float = 15.0
    noise_correlation_mm: float = 0.4
    blur_fwhm_mm: float = 1.5
    ring: bool = False  # the large extension ring (400 x 300 mm)
    patient_position: str = "HFS"  # HFS | FFS (FFS mirrors x and z)
    vendor: str = "generic"
    pixel_style: str | None = None  # None: the vendor's usual style
    shuffle: bool = False  # opaque, unordered file names
    seed: int = 0
    scout: bool = False  # also write a localizer (its own series)
    heart_rate_bpm: float = 60.0
    phase_pct: float = 70.0
    ctdivol_mgy: float = 4.0
    tube_current_ma: float = 200.0
    rotation_time_s: float = 0.28
    total_collimation_mm: float = 38.4
    single_collimation_mm: float = 0.6
    fov_mm: float | None = None  # reconstruction diameter; None: pixel_mm x matrix
    station_name: str = "QA-SYNTH-1"
    device_serial_number: str = "SYN0001"
    institution_name: str = "qa synthetic hospital"
    acquisition_datetime: str = "2026-01-05T07:30:00"
    series_number: int = 3
    series_description: str | None = None
    calcification_scale: float = 1.0  # scales the calcifications' HA contrast (simulated drift)
    study_key: str | None = None  # series written with the same key belong to one study (reconstructions of one exam)

    def validated(self) -> "SynthOptions":
        errors = []
        for name, value in self.__dict__.items():
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if isinstance(v, float) and not math.isfinite(v):
                    errors.append(f"{name} must be a finite number")
        if not 70.0 <= self.kvp <= 140.0:
            errors.append("kvp must be within 70-140 kVp (the range of the synthetic HU model)")
        if not self.heart_rate_bpm > 0:
            errors.append("heart_rate_bpm must be positive")
        if not 0.0 <= self.phase_pct <= 100.0:
            errors.append("phase_pct must be within 0-100 % of the RR interval")
        for name in ("tube_current_ma", "rotation_time_s", "total_collimation_mm", "single_collimation_mm"):
            if not getattr(self, name) > 0:
                errors.append(f"{name} must be positive")
        if not 0.2 <= self.calcification_scale <= 5.0:
            errors.append("calcification_scale must be within 0.2-5")
        if self.ctdivol_mgy < 0:
            errors.append("ctdivol_mgy must not be negative")
        if self.fov_mm is not None and not self.fov_mm > 0:
            errors.append("fov_mm must be positive")
        try:
            if dt.datetime.fromisoformat(self.acquisition_datetime).year > 9998:  # the stacks follow it: the next day must exist
                errors.append(f"acquisition_datetime {self.acquisition_datetime!r} is too late (the last year is 9998)")
        except (TypeError, ValueError):
            errors.append(f"acquisition_datetime {self.acquisition_datetime!r} is not an ISO 8601 date and time")
        if self.vendor not in VENDORS:
            errors.append(f"vendor must be one of {', '.join(VENDORS)}")
        if self.pixel_style is not None and self.pixel_style not in PIXEL_STYLES:
            errors.append(f"pixel_style must be one of {', '.join(PIXEL_STYLES)}")
        if self.patient_position not in ("HFS", "FFS"):
            errors.append("patient_position must be HFS or FFS")
        for name in ("pixel_mm", "thickness_mm", "blur_fwhm_mm"):
            if not getattr(self, name) > 0:
                errors.append(f"{name} must be positive")
        if self.increment_mm is not None and not self.increment_mm > 0:
            errors.append("increment_mm must be positive")
        if self.noise_hu < 0:
            errors.append("noise_hu must be >= 0")
        if not 16 <= self.matrix <= 2048:
            errors.append("matrix must be between 16 and 2048")
        if self.z_end_mm < self.z_start_mm:
            errors.append("z_end_mm must not be smaller than z_start_mm")
        # What a real scanner could write (qa.records.plausibility): the reader would refuse the rest.
        for name, quantity in PLAUSIBLE_OPTIONS.items():
            value = getattr(self, name)
            for v in (value if isinstance(value, tuple) else (value,)):
                if v is not None and isinstance(v, (int, float)) and not is_possible(quantity, v):
                    errors.append(f"{name} {v:g} is impossible ({plausible(quantity).describe_limits()})")
        if self.blur_fwhm_mm > 20.0:  # our proposal: clinical CT resolves 0.3-1.5 mm FWHM in-plane
            errors.append("blur_fwhm_mm must be at most 20 mm")
        if max(abs(v) for v in self.shift_mm) > 1000.0:  # our proposal: the phantom stays within a 2 m bore's reach
            errors.append("shift_mm must be within +-1000 mm")
        if not errors:
            n_slices = int((self.z_end_mm - self.z_start_mm) / self.increment) + 1
            if not is_possible("series_images", n_slices):
                errors.append(f"{n_slices} slices are more than a series may hold ({plausible('series_images').describe_limits()})")
            elif not is_possible("volume_voxels", n_slices * self.matrix * self.matrix):
                errors.append(f"{n_slices} slices of {self.matrix} x {self.matrix} exceed the "
                              f"{plausible('volume_voxels').describe_limits()} a series may hold")
        if errors:
            raise UsageError("invalid synthesis options: " + "; ".join(errors), hint="see qa synth phantom --help")
        return self

    @property
    def increment(self) -> float:
        return self.increment_mm if self.increment_mm is not None else self.thickness_mm

    def header(self, fov_mm: float) -> CtHeader:
        """The DICOM headers these options describe."""
        return CtHeader(
            vendor=self.vendor,
            pixel_style=self.pixel_style,
            station_name=self.station_name,
            device_serial_number=self.device_serial_number,
            institution_name=self.institution_name,
            patient_position=self.patient_position,
            series_number=self.series_number,
            series_description=self.series_description,
            kvp=self.kvp,
            tube_current_ma=self.tube_current_ma,
            rotation_time_s=self.rotation_time_s,
            thickness_mm=self.thickness_mm,
            increment_mm=self.increment,
            pixel_mm=(self.pixel_mm, self.pixel_mm),
            fov_mm=fov_mm,
            heart_rate_bpm=self.heart_rate_bpm,
            phase_pct=self.phase_pct,
            ctdivol_mgy=self.ctdivol_mgy,
            total_collimation_mm=self.total_collimation_mm,
            single_collimation_mm=self.single_collimation_mm,
        )



@dataclass(frozen=True)
class SynthResult(Record):
    """What was written (the ``qa.synth/1`` document of ``qa synth phantom``): the files' count, the
    UIDs and the truth (the ``qa.synth-phantom/1`` content of ``truth.json``)."""

    out_dir: str
    files: tuple[str, ...] = field(metadata={"json": False})  # the image files' paths (their count is n_files)
    series_instance_uid: str
    truth_path: str
    truth: dict = field(repr=False)

    __json_properties__ = ("n_files",)

    @property
    def n_files(self) -> int:
        return len(self.files)


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------
