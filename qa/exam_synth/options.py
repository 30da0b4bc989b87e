"""What ``qa synth exam`` is asked for (options, checked before anything is written) and what it wrote."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from qa.dicom.write import PIXEL_STYLES, VENDORS, CtHeader
from qa.errors import UsageError
from qa.records.plausibility import is_possible, plausible
from qa.records.serialize import Record

# Options -> plausibility quantity (qa.records.plausibility.RANGES): what a real scanner could write.
PLAUSIBLE_OPTIONS = {
    "pixel_mm": "pixel_spacing_mm", "thickness_mm": "slice_thickness_mm", "increment_mm": "slice_increment_mm",
    "stack_mm": "length_mm", "overlap_mm": "length_mm", "table_z_mm": "position_mm", "heart_rate_bpm": "heart_rate_bpm",
    "ctdivol_mgy": "ctdivol_mgy", "tube_current_ma": "tube_current_ma", "rotation_time_s": "duration_s", "noise_hu": "hu",
    "phase_pct": "phase_pct", "lead_in_s": "duration_s", "matrix": "matrix_pixels",
}
# Breathing modes of the respiratory channel: held for the whole scan, never held, or released mid-scan.
RESP_MODES = ("held", "free")
_RELEASED = re.compile(r"^released-at-([0-9]+(?:\.[0-9]*)?)$")
# A rigid displacement larger than this is no breathing motion (the diaphragm moves 10-20 mm in quiet
# breathing, up to about 100 mm in forced breathing; Wade, BMJ 1954): our bound for a synthetic stack shift.
MAX_SHIFT_MM = 100.0


def datetime_errors(text: str) -> list[str]:
    """What is wrong with an acquisition date and time (ISO 8601) a synthetic exam or series starts at."""
    try:
        start = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return [f"acquisition_datetime {text!r} is not an ISO 8601 date and time"]
    if start.year > 9998:  # the acquisition continues after it: the next day must exist (datetime ends with 9999)
        return [f"acquisition_datetime {text!r} is too late (the last year is 9998)"]
    return []


def parse_resp(text: str) -> tuple[str, float | None]:
    """``held`` | ``free`` | ``released-at-S`` -> (mode, release time in s after the first exposure's start)."""
    if text in RESP_MODES:
        return text, None
    match = _RELEASED.match(text)
    if match is None:
        raise UsageError(f"--resp {text!r}: expected held, free or released-at-S (S: seconds after the first exposure, e.g. released-at-3.5)",
                         hint="see qa synth exam --help")
    return "released", float(match.group(1))


@dataclass(frozen=True)
class ExamSynthOptions(Record):
    """Everything that defines one synthetic calcium-score exam.  Lengths in mm, times in s.

    Stack ``k`` (0 = first acquired, the most cranial: the scan runs head to feet) covers
    ``stack_mm`` of the detector; adjacent stacks overlap by ``overlap_mm``, and every slice of the
    (contiguous) series is reconstructed from the stack whose share of the overlap it lies in.
    ``shifts_mm[k]`` is the rigid displacement (LR = +x toward the patient's left, AP = +y posterior,
    CC = +z toward the head) of the anatomy in stack k relative to stack 0 (stack 0 is never shifted)."""

    seed: int = 0
    matrix: int = 512
    pixel_mm: float = 0.5  # a 256 mm cardiac field of view at 512 pixels (the chest wall is cut at the sides)
    thickness_mm: float = 3.0
    increment_mm: float | None = None  # None: equal to the thickness (contiguous)
    stacks: int = 4
    stack_mm: float = 40.0  # the detector's coverage per rotation
    overlap_mm: float = 4.0  # between adjacent stacks
    shifts_mm: tuple[tuple[int, float, float, float], ...] = ()  # (stack, LR, AP, CC)
    noise_hu: float = 20.0
    noise_correlation_mm: float = 0.4
    blur_fwhm_mm: float = 1.0
    table_z_mm: float = 0.0  # patient z of the first stack's cranial edge
    heart_rate_bpm: float = 60.0
    heart_rate_change_bpm: float = 0.0  # change across the breath-hold (reached at the last exposure)
    beats_per_stack: int = 2  # step-and-shoot: an exposure every second beat (the table moves in between)
    phase_pct: float = 70.0
    lead_in_s: float = 12.0  # of ECG before the first exposure's beat (free breathing, then the breath-hold)
    ecg: bool = False  # also write ecg.csv (with a resp column)
    resp: str = "held"  # held | free | released-at-S
    kvp: float = 120.0
    ctdivol_mgy: float = 2.5
    tube_current_ma: float = 80.0
    rotation_time_s: float = 0.28
    vendor: str = "generic"
    pixel_style: str | None = None
    station_name: str = "QA-SYNTH-1"
    device_serial_number: str = "SYN0001"
    acquisition_datetime: str = "2026-01-05T09:15:00"  # the ECG trace's start (and the study's)

    def validated(self) -> "ExamSynthOptions":
        errors = []
        for name, value in self.__dict__.items():
            if isinstance(value, float) and not math.isfinite(value):
                errors.append(f"{name} must be a finite number")
        for name in ("pixel_mm", "thickness_mm", "stack_mm", "heart_rate_bpm", "rotation_time_s", "blur_fwhm_mm"):
            if not getattr(self, name) > 0:
                errors.append(f"{name} must be positive")
        if self.increment_mm is not None and not self.increment_mm > 0:
            errors.append("increment_mm must be positive")
        if not 1 <= self.stacks <= 64:  # our proposal: 64 x 40 mm covers a whole body
            errors.append("stacks must be between 1 and 64")
        if not 1 <= self.beats_per_stack <= 8:
            errors.append("beats_per_stack must be between 1 and 8")
        if not 16 <= self.matrix <= 2048:
            errors.append("matrix must be between 16 and 2048")
        if self.noise_hu < 0 or self.noise_correlation_mm < 0:
            errors.append("noise_hu and noise_correlation_mm must be >= 0")
        if self.overlap_mm < 0 or (self.stack_mm > 0 and self.overlap_mm >= self.stack_mm / 2):
            errors.append(f"overlap_mm must be >= 0 and less than half the stack ({self.stack_mm:g} mm)")
        if self.blur_fwhm_mm > 20.0:  # our proposal, as qa synth phantom: clinical CT resolves 0.3-1.5 mm FWHM
            errors.append("blur_fwhm_mm must be at most 20 mm")
        if not 70.0 <= self.kvp <= 140.0:
            errors.append("kvp must be within 70-140 kVp")
        if self.vendor not in VENDORS:
            errors.append(f"vendor must be one of {', '.join(VENDORS)}")
        if self.pixel_style is not None and self.pixel_style not in PIXEL_STYLES:
            errors.append(f"pixel_style must be one of {', '.join(PIXEL_STYLES)}")
        errors += datetime_errors(self.acquisition_datetime)
        try:
            mode, release = parse_resp(self.resp)
        except UsageError as exc:
            errors.append(exc.message)
        else:
            if mode == "released" and release is not None and release > self.scan_duration_s:
                errors.append(f"resp {self.resp}: the scan lasts {self.scan_duration_s:.1f} s from its first exposure; "
                              "release the breath within it (or use held)")
        seen = set()
        for entry in self.shifts_mm:
            k, *mm = entry
            if not 0 <= k < max(self.stacks, 1):
                errors.append(f"shift of stack {k}: the exam has stacks 0-{self.stacks - 1}")
            elif k == 0 and any(mm):
                errors.append("stack 0 is the reference (shifts are relative to it): shift stacks 1 and later")
            if k in seen:
                errors.append(f"stack {k} is shifted twice")
            seen.add(k)
            if not all(math.isfinite(v) and abs(v) <= MAX_SHIFT_MM for v in mm):
                errors.append(f"shift of stack {k}: each component must be a finite number within +-{MAX_SHIFT_MM:g} mm")
        hr_end = self.heart_rate_bpm + self.heart_rate_change_bpm
        if not is_possible("heart_rate_bpm", hr_end):
            errors.append(f"heart_rate_bpm + heart_rate_change_bpm = {hr_end:g} is impossible "
                          f"({plausible('heart_rate_bpm').describe_limits()})")
        for name, quantity in PLAUSIBLE_OPTIONS.items():
            value = getattr(self, name)
            if value is not None and not is_possible(quantity, value):
                errors.append(f"{name} {value:g} is impossible ({plausible(quantity).describe_limits()})")
        if not errors:
            if not is_possible("length_mm", self.scan_length_mm):
                errors.append(f"the scan ({self.stacks} stacks of {self.stack_mm:g} mm) is {self.scan_length_mm:g} mm long: impossible "
                              f"({plausible('length_mm').describe_limits()})")
            elif not is_possible("position_mm", self.table_z_mm - self.scan_length_mm):
                errors.append(f"the scan would end at z = {self.table_z_mm - self.scan_length_mm:g} mm, an impossible position "
                              f"({plausible('position_mm').describe_limits()})")
            elif not is_possible("series_images", self.n_slices):
                errors.append(f"{self.n_slices} slices are more than a series may hold ({plausible('series_images').describe_limits()})")
        if not errors:
            voxels = self.n_slices * self.matrix * self.matrix
            if not is_possible("volume_voxels", voxels):
                errors.append(f"{self.n_slices} slices of {self.matrix} x {self.matrix} exceed the "
                              f"{plausible('volume_voxels').describe_limits()} a series may hold")
            if self.n_slices < 1 or self.increment > self.stack_mm - self.overlap_mm:
                errors.append("the slice increment must be smaller than a stack's share of the scan (stack_mm - overlap_mm)")
        if errors:
            raise UsageError("invalid exam synthesis options: " + "; ".join(errors), hint="see qa synth exam --help")
        return self

    @property
    def increment(self) -> float:
        return self.increment_mm if self.increment_mm is not None else self.thickness_mm

    @property
    def step_mm(self) -> float:
        """Table travel between two stacks."""
        return self.stack_mm - self.overlap_mm

    @property
    def scan_length_mm(self) -> float:
        return (self.stacks - 1) * self.step_mm + self.stack_mm

    @property
    def n_slices(self) -> int:
        return int(math.floor(self.scan_length_mm / self.increment + 1e-9))

    @property
    def scan_duration_s(self) -> float:
        """From the first exposure's beat to the last's (at the starting heart rate)."""
        return (self.stacks - 1) * self.beats_per_stack * 60.0 / self.heart_rate_bpm + self.rotation_time_s

    def shift_of(self, stack: int) -> tuple[float, float, float]:
        for k, lr, ap, cc in self.shifts_mm:
            if k == stack:
                return (float(lr), float(ap), float(cc))
        return (0.0, 0.0, 0.0)

    def header(self) -> CtHeader:
        return CtHeader(
            vendor=self.vendor, pixel_style=self.pixel_style, station_name=self.station_name,
            device_serial_number=self.device_serial_number, series_number=2,
            series_description=f"CaScore {self.thickness_mm:g} mm", kvp=self.kvp, tube_current_ma=self.tube_current_ma,
            rotation_time_s=self.rotation_time_s, thickness_mm=self.thickness_mm, increment_mm=self.increment,
            pixel_mm=(self.pixel_mm, self.pixel_mm), fov_mm=self.pixel_mm * self.matrix,
            heart_rate_bpm=self.heart_rate_bpm + self.heart_rate_change_bpm / 2.0, phase_pct=self.phase_pct,
            ctdivol_mgy=self.ctdivol_mgy, total_collimation_mm=self.stack_mm, single_collimation_mm=self.stack_mm / 64.0,
            study_description="Cardiac calcium score", patient_name="SYNTH^EXAM", patient_id=f"SYNTH-{self.seed}",
        )


@dataclass(frozen=True)
class ExamSynthResult(Record):
    """What ``qa synth exam`` wrote (its ``qa.synth/1`` document): the files' count, the UIDs, the
    ECG trace (or None) and the truth (the ``qa.synth-exam/1`` content of ``truth.json``)."""

    out_dir: str
    files: tuple[str, ...] = field(metadata={"json": False})
    series_instance_uid: str
    truth_path: str
    ecg_path: str | None
    truth: dict = field(repr=False)
    warnings: tuple[str, ...] = ()

    __json_properties__ = ("n_files",)

    @property
    def n_files(self) -> int:
        return len(self.files)
