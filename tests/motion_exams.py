"""A small generator of step-and-shoot exams with known motion, for the motion tests.

An analytic thorax whose anatomy changes along z (body outline, lungs above a diaphragm dome, a
heart that shrinks toward its apex, aorta, spine, sternum, one coronary calcification) is rendered
with partial volume (sub-pixel and through-thickness sampling), split into stacks acquired one
after the other, each with its own rigid shift (lr, ap, cc in mm, patient axes as qa.motion/1:
+x left, +y posterior, +z head) applied analytically, plus Gaussian noise.  Written as real CT
DICOM files with qa.dicom.write (per-stack AcquisitionNumber and AcquisitionTime).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.dicom.write import CtHeader, Uids, ct_image, encode_hu, save_dataset


@dataclass(frozen=True)
class ExamSpec:
    n_stacks: int = 4
    slices_per_stack: int = 8
    thickness_mm: float = 3.0
    matrix: int = 160
    pixel_mm: float = 1.6
    noise_hu: float = 20.0
    shifts_mm: tuple[tuple[float, float, float], ...] = ()  # per stack (lr, ap, cc); default none
    seed: int = 0
    head_to_feet: bool = True  # the first stack acquired is the highest in z (the usual cranio-caudal scan)
    overlap_slices: int = 0  # slices each stack shares in z with the next
    overlap_offset: float = 0.5  # of a slice: odd stacks' positions offset by this (0: the overlap repeats positions)
    z_start_mm: float = 30.0  # the lowest slice's z within the modelled thorax
    uniform_hu: float | None = None  # a uniform object (a water phantom) instead of the thorax
    stack_order: tuple[int, ...] | None = None  # acquisition order of the stacks by z position (default: in z order)
    feet_first: bool = False  # FFS orientation: the image x axis points to the patient's right


def _ellipse(x, y, cx, cy, ax, ay):
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


ANATOMY_MM = 150.0  # the thorax modelled: from below the heart's apex (z = 0) to above its base


def thorax_hu(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """HU of the analytic thorax at patient (x, y, z) mm; z from 0 (below the heart) to ANATOMY_MM."""
    length_mm = ANATOMY_MM
    t = np.clip(z / length_mm, 0.0, 1.0)
    hu = np.full(np.broadcast(x, y, z).shape, -1000.0)
    body = _ellipse(x, y, 0.0, 5.0, 150.0 + 12.0 * t, 108.0 + 6.0 * t)
    hu = np.where(body, 30.0, hu)
    dome = 0.35 * length_mm - 0.006 * (x * x + (y - 10.0) ** 2) + np.where(x < 0, 6.0, 0.0)  # right dome higher
    for side in (-1.0, 1.0):
        lung = _ellipse(x, y, side * (72.0 + 4.0 * t), 0.0, 52.0 + 12.0 * t, 68.0 + 8.0 * t) & (z >= dome)
        hu = np.where(lung, -840.0, hu)
    heart_ax, heart_ay = 62.0 - 34.0 * t, 50.0 - 26.0 * t
    heart = _ellipse(x, y, 18.0 - 10.0 * t, -18.0 + 12.0 * t, heart_ax, heart_ay) & (t < 0.92)
    hu = np.where(heart, 42.0, hu)
    hu = np.where(_ellipse(x, y, -16.0 + 6.0 * t, 42.0 - 16.0 * t, 13.0, 13.0), 45.0, hu)  # descending aorta
    hu = np.where(_ellipse(x, y, 0.0, 78.0, 17.0, 15.0), 650.0, hu)  # vertebral body
    hu = np.where(_ellipse(x, y, 0.0, 100.0, 7.0, 8.0), 20.0, hu)  # spinal canal
    hu = np.where(_ellipse(x, y, 0.0, -98.0 - 6.0 * t, 9.0, 6.0), 480.0, hu)  # sternum
    calc = _ellipse(x, y, 30.0 - 8.0 * t, -34.0 + 4.0 * t, 2.5, 2.5) & (np.abs(t - 0.55) < 0.08)
    return np.where(calc, 520.0, hu)


def slice_z(spec: ExamSpec) -> list[list[float]]:
    """Each stack's slice positions (z, mm), stacks in acquisition order."""
    step = spec.thickness_mm
    per = spec.slices_per_stack
    stride = (per - spec.overlap_slices) * step
    stacks = []
    for s in range(spec.n_stacks):
        base = spec.z_start_mm + s * stride + (spec.overlap_offset * step if spec.overlap_slices and s % 2 else 0.0)
        stacks.append([base + k * step for k in range(per)])
    if spec.head_to_feet:
        stacks = stacks[::-1]
    if spec.stack_order is not None:
        stacks = [stacks[k] for k in spec.stack_order]
    return stacks


def render(spec: ExamSpec) -> tuple[list[np.ndarray], list[list[float]], float]:
    """(per-stack HU arrays, per-stack z, length): every slice averaged over 2 x 2 sub-pixels and 3
    sub-slices across its thickness (partial volume), each stack's shift applied analytically."""
    rng = np.random.default_rng(spec.seed)
    zs = slice_z(spec)
    length = max(max(z) for z in zs) + spec.thickness_mm
    n, p = spec.matrix, spec.pixel_mm
    sub = (np.arange(2) + 0.5) / 2 - 0.5
    centres = (np.arange(n) - (n - 1) / 2) * p
    xx = (centres[None, :, None, None] + sub[None, None, None, :] * p)
    yy = (centres[:, None, None, None] + sub[None, None, :, None] * p)
    sign_x = -1.0 if spec.feet_first else 1.0
    shifts = spec.shifts_mm or ((0.0, 0.0, 0.0),) * spec.n_stacks
    out = []
    for s, z_list in enumerate(zs):
        lr, ap, cc = shifts[s]
        slices = []
        for z in z_list:
            acc = np.zeros((n, n))
            for dz in (-spec.thickness_mm / 3, 0.0, spec.thickness_mm / 3):
                values = (np.full((n, n, 2, 2), spec.uniform_hu) if spec.uniform_hu is not None
                          else thorax_hu(sign_x * xx - lr, yy - ap, np.full((1, 1, 1, 1), z + dz - cc)))
                acc += values.mean(axis=(2, 3))
            slices.append(acc / 3 + rng.normal(0.0, spec.noise_hu, (n, n)))
        out.append(np.stack(slices))
    return out, zs, length


def write_exam(spec: ExamSpec, out_dir: Path | str, edit=None) -> Path:
    """The exam as CT DICOM files in ``out_dir`` (one file per slice); returns the folder.
    ``edit(ds, stack, index)``, when given, changes each dataset before it is written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = CtHeader(thickness_mm=spec.thickness_mm, increment_mm=spec.thickness_mm, pixel_mm=(spec.pixel_mm, spec.pixel_mm),
                      fov_mm=spec.pixel_mm * spec.matrix, uid_key=f"motion-{spec}")
    uids = Uids(header.uid_key)
    start = dt.datetime(2026, 3, 2, 9, 15, 0)
    volumes, zs, _ = render(spec)
    half = (spec.matrix - 1) / 2 * spec.pixel_mm
    orientation = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0) if spec.feet_first else (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    x0 = half if spec.feet_first else -half
    index = 0
    for s, (hu, z_list) in enumerate(zip(volumes, zs, strict=True)):
        when = start + dt.timedelta(seconds=1.2 * s)
        for k, z in enumerate(z_list):
            ds = ct_image(header, uids, index, encode_hu(hu[k], header.style), (x0, -half, float(z)), study_start=start,
                          acquisition_time=when, stack=s, orientation=orientation)
            if edit is not None:
                edit(ds, s, index)
            save_dataset(ds, out / f"IM{index:04d}.dcm")
            index += 1
    return out
