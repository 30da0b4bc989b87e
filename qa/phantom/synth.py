"""Synthetic calcium-phantom CT series with known truth (demo data and test fixtures).

The image model, slice by slice:

* the phantom (thorax, lungs, spine, the insert, nine HA calcifications and two calibration rods)
  is described in the phantom frame by a definition in ``phantoms/``;
* each object's in-plane coverage of a pixel is computed by supersampling (partial volume),
  its coverage along z by the overlap of the object with a rectangular slice profile of the slice
  thickness;
* HU = background + coverage x (object HU - background), object HU = water-equivalent HU + k x HA
  density (k per kVp from the definition's synthetic HU model);
* a Gaussian in-plane blur (the system resolution), then Gaussian noise, spatially correlated by a
  small Gaussian kernel and scaled to the requested standard deviation;
* values are quantised to the stored integers of the chosen vendor header style.

The files are valid CT Image Storage objects that carry the acquisition headers the compliance
checks read (kVp, mAs, thickness, kernel, FOV, CTDIvol, collimation, ECG-triggering, phase, heart
rate, per-stack acquisition times).  A ``truth.json`` sidecar records the ground truth.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from qa.dicom.write import (
    PIXEL_STYLES,
    VENDORS,
    CtHeader,
    Uids,
    ct_image,
    encode_hu,
    save_dataset,
    scout_image,
)
from qa.errors import InputError, UsageError
from qa.outputs import write_file
from qa.phantom.definition import PhantomDefinition
from qa.records.plausibility import is_possible, plausible
from qa.records.serialize import Record

AIR_HU = -1000.0
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

# Options -> plausibility quantity (qa.records.plausibility.RANGES).
_PLAUSIBLE_OPTIONS = {
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
            dt.datetime.fromisoformat(self.acquisition_datetime)
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
        for name, quantity in _PLAUSIBLE_OPTIONS.items():
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
            if not is_possible("volume_voxels", n_slices * self.matrix * self.matrix):
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


class _Frame:
    """Maps the phantom frame (u, v, w) to DICOM patient coordinates (x, y, z)."""

    def __init__(self, opts: SynthOptions):
        self.sigma = 1.0 if opts.patient_position == "HFS" else -1.0
        self.shift = opts.shift_mm
        self.table_z = opts.table_z_mm
        self.rot = math.radians(opts.rotation_deg)

    def insert_xy(self, radius: float, angle_deg: float) -> tuple[float, float]:
        a = math.radians(angle_deg) + self.rot
        u, v = radius * math.cos(a), radius * math.sin(a)
        return self.xy(u, v)

    def xy(self, u: float, v: float) -> tuple[float, float]:
        return (self.sigma * u + self.shift[0], v + self.shift[1])

    def z(self, w: float) -> float:
        return self.table_z + self.sigma * w


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _ellipse_coverage(
    x0: float, y0: float, ps: float, n: int, cx: float, cy: float, a: float, b: float, ss: int
) -> tuple[slice, slice, np.ndarray]:
    """Fraction of each pixel inside the ellipse, computed on an ss x ss subgrid, in its bbox."""
    j0 = max(0, int(math.floor((cx - a - x0) / ps)) - 1)
    j1 = min(n, int(math.ceil((cx + a - x0) / ps)) + 2)
    i0 = max(0, int(math.floor((cy - b - y0) / ps)) - 1)
    i1 = min(n, int(math.ceil((cy + b - y0) / ps)) + 2)
    if j1 <= j0 or i1 <= i0:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0))
    offs = ((np.arange(ss) + 0.5) / ss - 0.5) * ps
    xs = x0 + np.arange(j0, j1)[:, None] * ps + offs[None, :]  # (cols, ss)
    ys = y0 + np.arange(i0, i1)[:, None] * ps + offs[None, :]  # (rows, ss)
    fx = ((xs - cx) / a) ** 2
    fy = ((ys - cy) / b) ** 2
    inside = fy[:, None, :, None] + fx[None, :, None, :] <= 1.0  # (rows, cols, ss, ss)
    return slice(i0, i1), slice(j0, j1), inside.mean(axis=(2, 3))


@dataclass
class _Blob:
    """A z-limited object (calcification or rod): blurred in-plane coverage and its z range."""

    rows: slice
    cols: slice
    coverage: np.ndarray
    delta_hu: float
    w0: float
    w1: float


# --------------------------------------------------------------------------------------------
# Synthesis
# --------------------------------------------------------------------------------------------


def synthesize_phantom(
    out_dir: str | os.PathLike,
    options: SynthOptions | None = None,
    *,
    definition: PhantomDefinition,
    progress: Callable[[int, int], None] | None = None,
) -> SynthResult:
    """Write a synthetic phantom series (and ``truth.json``) of ``definition`` into ``out_dir``.

    (:func:`qa.workflows.synth.synthesize_phantom` loads the definition ``options.phantom`` names.)"""
    opts = (options or SynthOptions()).validated()
    _insert_fits(opts, definition)  # before anything is written
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), None, "is a file, not a folder", hint="pass a folder for OUT_DIR")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    existing = [p for p in out.iterdir() if p.suffix.lower() == ".dcm" or p.name == "truth.json"]
    if existing:
        raise InputError(
            str(out), None, f"already holds a series ({len(existing)} files); choose an empty folder",
            hint="pass a new OUT_DIR, or delete the old files first",
        )
    created: list[Path] = []  # every file is new (never over another file); a failed run removes them all
    try:
        return _synthesize(out, opts, definition, progress, created)
    except BaseException:
        for path in created:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _synthesize(out: Path, opts: SynthOptions, phantom: PhantomDefinition, progress, created: list[Path]) -> SynthResult:
    def save(ds, path: Path) -> None:
        save_dataset(ds, path, replace=False)
        created.append(path)

    rng = np.random.default_rng(opts.seed)
    frame = _Frame(opts)
    n = opts.matrix
    ps = opts.pixel_mm
    fov = opts.fov_mm if opts.fov_mm is not None else ps * n
    # Image grid centred on the isocentre: pixel centres at x0 + j * ps.
    x0 = -ps * (n - 1) / 2.0
    y0 = -ps * (n - 1) / 2.0
    sigma_px = opts.blur_fwhm_mm / FWHM_PER_SIGMA / ps
    header = opts.header(fov)
    style = header.style

    # z-invariant body image (thorax, lungs, spine, insert), blurred once.
    body = np.full((n, n), AIR_HU, dtype=np.float64)
    for part in phantom.body:
        if part.only_with_ring and not opts.ring:
            continue
        cx, cy = frame.xy(*part.center_mm)
        rs, cs, cov = _ellipse_coverage(x0, y0, ps, n, cx, cy, part.size_mm[0] / 2, part.size_mm[1] / 2, 4)
        body[rs, cs] = body[rs, cs] * (1 - cov) + cov * part.hu
    icx, icy = frame.xy(0.0, 0.0)
    r_ins = phantom.insert_diameter_mm / 2
    rs, cs, cov = _ellipse_coverage(x0, y0, ps, n, icx, icy, r_ins, r_ins, 4)
    body[rs, cs] = body[rs, cs] * (1 - cov) + cov * phantom.insert_hu
    body = ndimage.gaussian_filter(body, sigma_px, mode="nearest")

    hu_model = phantom.hu_model
    blobs: list[_Blob] = []
    truth_objects = []
    pad = int(math.ceil(4 * sigma_px)) + 2
    for cyl in phantom.calcifications + phantom.rods:
        cx, cy = frame.insert_xy(cyl.radius_mm, cyl.angle_deg)
        r = cyl.diameter_mm / 2
        ss = 16 if cyl.diameter_mm <= 6 else 8
        rs, cs, disk = _disk_in_box(x0, y0, ps, n, cx, cy, r, pad, ss)
        blurred = ndimage.gaussian_filter(disk, sigma_px, mode="constant")
        hu = hu_model.hu(cyl.density_mgha_cm3, opts.kvp)
        if cyl.kind == "calcification":
            # A drifting scanner: the calcifications' contrast scales, the rods' does not.
            hu = hu_model.water_equivalent_hu + (hu - hu_model.water_equivalent_hu) * opts.calcification_scale
        w0, w1 = cyl.z_mm - cyl.length_mm / 2, cyl.z_mm + cyl.length_mm / 2
        blobs.append(_Blob(rs, cs, blurred, hu - phantom.insert_hu, w0, w1))
        truth_objects.append(
            {
                **cyl.to_dict(),
                "hu_true": hu,
                "center_mm": [cx, cy, frame.z(cyl.z_mm)],
                "z_range_mm": sorted([frame.z(w0), frame.z(w1)]),
            }
        )

    increment = opts.increment
    t = opts.thickness_mm
    n_slices = int(math.floor((opts.z_end_mm - opts.z_start_mm) / increment + 1e-9)) + 1
    ws = opts.z_start_mm + increment * np.arange(n_slices)
    z_min, z_max = phantom.insert_z_range_mm
    ids = Uids(json.dumps(opts.to_dict(), sort_keys=True))
    if opts.study_key is not None:
        # Another reconstruction of one exam: the study (and frame of reference) of that key.
        shared = Uids(f"study:{opts.study_key}")
        ids.study, ids.frame_of_reference = shared.study, shared.frame_of_reference
    start = dt.datetime.fromisoformat(opts.acquisition_datetime)
    rr_s = 60.0 / opts.heart_rate_bpm
    stack_period_s = 2 * rr_s  # step-and-shoot: one stack every second beat
    files: list[str] = []
    names = _file_names(n_slices, opts, rng)
    noise_sigma_px = opts.noise_correlation_mm / ps
    for k, w in enumerate(ws):
        if progress is not None:
            progress(k, n_slices)
        lo_w, hi_w = w - t / 2, w + t / 2
        body_weight = _overlap(lo_w, hi_w, z_min, z_max) / t
        image = AIR_HU + body_weight * (body - AIR_HU)
        for blob in blobs:
            weight = _overlap(lo_w, hi_w, blob.w0, blob.w1) / t
            if weight > 0:
                image[blob.rows, blob.cols] += weight * blob.delta_hu * blob.coverage
        if opts.noise_hu > 0:
            noise = rng.standard_normal((n, n))
            if noise_sigma_px > 0.05:
                noise = ndimage.gaussian_filter(noise, noise_sigma_px, mode="wrap")
                noise /= _correlated_noise_sd(noise_sigma_px)
            image = image + opts.noise_hu * noise
        stack = int(math.floor((w - opts.z_start_mm) / opts.total_collimation_mm + 1e-9))
        # The exposure (one rotation, from AcquisitionTime on) is centred on the target phase of the RR.
        acq_time = start + dt.timedelta(seconds=stack * stack_period_s + opts.phase_pct / 100.0 * rr_s - opts.rotation_time_s / 2.0)
        ds = ct_image(
            header, ids, k, encode_hu(image, style), (x0, y0, frame.z(float(w))),
            study_start=start, acquisition_time=acq_time, stack=stack,
        )
        path = out / names[k]
        save(ds, path)
        files.append(str(path))
    written = [Path(f).name for f in files]
    if opts.scout:
        scout_path = out / ("scout.dcm" if not opts.shuffle else f"S{int(rng.integers(16**7)):07X}.dcm")
        save(scout_image(header, ids, start, opts.table_z_mm + 150.0), scout_path)
        written.append(scout_path.name)
    if progress is not None:
        progress(n_slices, n_slices)

    k_hu = hu_model.hu_per_density(opts.kvp)
    truth = {
        "schema": "qa.synth-phantom/1",
        "phantom": phantom.id,
        "phantom_sha256": phantom.sha256,
        "options": opts.to_dict(),
        "pixel_style": style,
        "series_instance_uid": ids.series,
        "n_slices": n_slices,
        "slice_z_mm": [frame.z(float(w)) for w in ws],
        "insert_center_mm": [icx, icy],
        "insert_rotation_deg": opts.rotation_deg,
        "mirrored": frame.sigma < 0,
        "hu_per_mgha_cm3": k_hu,
        "water_hu_true": hu_model.water_equivalent_hu,
        "ha200_hu_true": hu_model.hu(200.0, opts.kvp),
        "insert_hu_true": phantom.insert_hu,
        "c_ha_true_mg_per_cm3_hu": 1.0 / k_hu,
        "calcifications": [o for o in truth_objects if o["kind"] == "calcification"],
        "rods": [o for o in truth_objects if o["kind"] == "rod"],
        "files": written,
    }
    truth_path = out / "truth.json"
    write_file(truth_path, json.dumps(truth, indent=2), replace=False)
    created.append(truth_path)
    return SynthResult(
        out_dir=str(out),
        files=tuple(files),
        series_instance_uid=ids.series,
        truth_path=str(truth_path),
        truth=truth,
    )


def _insert_fits(opts: SynthOptions, phantom: PhantomDefinition) -> None:
    """Refuse an image too small for the phantom's insert (its calcifications would fall outside it)."""
    icx, icy = _Frame(opts).xy(0.0, 0.0)
    half = opts.pixel_mm * opts.matrix / 2  # the image's half width, in mm from the isocentre
    if max(abs(icx), abs(icy)) + phantom.insert_diameter_mm / 2 > half:
        raise UsageError(f"the phantom's insert ({phantom.insert_diameter_mm:g} mm at ({icx:g}, {icy:g}) mm) does not fit in "
                         f"the image ({opts.matrix} x {opts.pixel_mm:g} mm = {2 * half:g} mm)",
                         hint="use a larger --matrix or --pixel-mm (or a smaller shift)")


def _disk_in_box(x0, y0, ps, n, cx, cy, r, pad, ss):
    """Supersampled disk coverage in a box padded by ``pad`` pixels (room for the blur)."""
    j0 = max(0, int(math.floor((cx - r - x0) / ps)) - pad)
    j1 = min(n, int(math.ceil((cx + r - x0) / ps)) + pad + 1)
    i0 = max(0, int(math.floor((cy - r - y0) / ps)) - pad)
    i1 = min(n, int(math.ceil((cy + r - y0) / ps)) + pad + 1)
    offs = ((np.arange(ss) + 0.5) / ss - 0.5) * ps
    xs = x0 + np.arange(j0, j1)[:, None] * ps + offs[None, :]
    ys = y0 + np.arange(i0, i1)[:, None] * ps + offs[None, :]
    inside = ((ys - cy) ** 2)[:, None, :, None] + ((xs - cx) ** 2)[None, :, None, :] <= r * r
    return slice(i0, i1), slice(j0, j1), inside.mean(axis=(2, 3))


def _correlated_noise_sd(sigma_px: float) -> float:
    """SD of unit white noise after a Gaussian filter of ``sigma_px`` (discrete kernel)."""
    radius = int(4.0 * sigma_px + 0.5)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sigma_px) ** 2)
    kernel /= kernel.sum()
    # Separable 2-D filter: variance = (sum k^2)^2, so the standard deviation is sum k^2.
    return float(np.sum(kernel**2))


def _file_names(n_slices: int, opts: SynthOptions, rng: np.random.Generator) -> list[str]:
    if not opts.shuffle:
        return [f"IMG{k + 1:04d}.dcm" for k in range(n_slices)]
    names = set()
    while len(names) < n_slices:
        names.add(f"{int(rng.integers(0, 16**8)):08X}.dcm")
    out = sorted(names)
    rng.shuffle(out)
    return out
