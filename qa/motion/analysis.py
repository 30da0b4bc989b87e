"""Breath-hold motion between the stacks of a prospective sequential (step-and-shoot) scan (pure).

``analyse_motion(volume, settings)`` finds the stacks from the volume's per-slice table
(:mod:`qa.motion.stacks`), measures each boundary between a stack and the next acquired from the
images (:mod:`qa.motion.boundaries`) and judges it by the protocol's ``[motion]`` table
(:class:`MotionSettings`).  One stack (a volume scan, a spiral) has no boundary: the result is
``not_applicable`` with the reason, never a pass.

No published pass/fail threshold exists for stair-step motion: the defaults are the qa
developers' proposal (warn when a shift exceeds half the slice thickness or the discontinuity's
robust z-score exceeds 3; fail above one slice thickness).  For scale: the left ventricle drifts
2.7-4.9 mm on average during a 35-58 s breath-hold (Magn Reson Med 2014;72:850), the diaphragm up
to 5.6 mm after 24 s (Khot et al., BJR 2020).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.motion.boundaries import BoundaryMeasure, Shift, adjacent_ncc, measure_boundary
from qa.motion.respiration import Respiration, analyse_respiration, respiration_unavailable
from qa.motion.stacks import StackRun, StackSplit, find_stacks
from qa.records.checks import FAIL, NOT_APPLICABLE, NOT_AVAILABLE, PASS, WARN
from qa.records.serialize import Record
from qa.motion.settings import PROPOSAL, MotionSettings
from qa.records.volume import CTVolume

__all__ = ["PROPOSAL", "MotionAnalysis", "MotionBoundary", "MotionSettings", "Respiration", "Shift", "StackRun", "analyse_motion",
           "analyse_respiration", "find_stacks", "judge_boundary", "not_analysed", "not_available", "respiration_unavailable", "with_respiration"]

@dataclass(frozen=True)
class MotionBoundary(Record):
    """One boundary between stack k and the next acquired (the ``boundaries`` items of ``qa.motion/1``)."""

    between: tuple[int, int]
    shift_mm: Shift
    ncc: float | None
    robust_z: float | None
    status: str
    message: str
    z_mm: float | None = None  # where the boundary lies (patient z)
    edge_slices: tuple[int, int] | None = None  # the slices compared (volume slice order)
    overlap_mm: float = 0.0


@dataclass(frozen=True)
class MotionAnalysis(Record):
    """The motion analysis of one series (the body of ``qa.motion/1``)."""

    stacks: tuple[StackRun, ...]
    boundaries: tuple[MotionBoundary, ...]
    status: str
    message: str
    stack_basis: str  # what told the stacks apart: AcquisitionNumber, acquisition time, or none
    slice_thickness_mm: float | None  # None: the images could not be read
    settings: MotionSettings
    respiration: Respiration | None = None  # the breathing trace's analysis (None: no trace given)

    @property
    def largest_shift_mm(self) -> float | None:
        sizes = [_size(b.shift_mm) for b in self.boundaries]
        sizes = [s for s in sizes if s is not None]
        return max(sizes) if sizes else None


# Said of a boundary without overlap; left out where the boundaries are summed up.
_CC_NOTE = "cc not measurable"  # the start of the note; the reason follows

def _size(shift: Shift) -> float | None:
    """The in-plane magnitude or the craniocaudal shift, whichever is larger."""
    parts = []
    if shift.lr is not None and shift.ap is not None:
        parts.append(math.hypot(shift.lr, shift.ap))
    if shift.cc is not None:
        parts.append(abs(shift.cc))
    return max(parts) if parts else None


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def judge_boundary(m: BoundaryMeasure, thickness_mm: float, settings: MotionSettings) -> MotionBoundary:
    """A boundary's status from its shifts and discontinuity score (see :class:`MotionSettings`)."""
    shift = Shift(_r(m.shift_mm.lr), _r(m.shift_mm.ap), _r(m.shift_mm.cc))
    size = _size(m.shift_mm)
    common = dict(between=m.between, shift_mm=shift, ncc=_r(m.ncc, 4), robust_z=_r(m.robust_z), z_mm=_r(m.z_mm),
                  edge_slices=m.edge_slices, overlap_mm=round(m.overlap_mm, 2))
    if size is None:
        return MotionBoundary(status=NOT_AVAILABLE, message=m.note or "not measurable", **common)
    warn_mm, fail_mm = settings.warn_shift_fraction * thickness_mm, settings.fail_shift_fraction * thickness_mm
    parts = []
    if size > fail_mm:
        status = FAIL
        parts.append(f"shift {size:.1f} mm > {fail_mm:g} mm ({settings.fail_shift_fraction:g} x the slice thickness): stair-step artefact")
    elif size > warn_mm:
        status = WARN
        parts.append(f"shift {size:.1f} mm > {warn_mm:g} mm ({settings.warn_shift_fraction:g} x the slice thickness)")
    else:
        status = PASS
    z = _r(m.robust_z)
    if z is not None and z > settings.warn_robust_z:
        status = WARN if status == PASS else status
        parts.append(f"discontinuity z {z:.1f} > {settings.warn_robust_z:g}")
    if not parts:
        parts.append(f"shift {size:.1f} mm within {warn_mm:g} mm")
    if shift.cc is None:
        parts.append(f"{_CC_NOTE} (" + (f"the {m.overlap_mm:.1f} mm overlap of the stacks is too short to show it)" if m.overlap_mm > 0.01
                                        else "the stacks do not overlap)"))
    return MotionBoundary(status=status, message="; ".join(parts), **common)


_RANK = {PASS: 0, NOT_AVAILABLE: 1, WARN: 2, FAIL: 3}


def with_respiration(analysis: MotionAnalysis, respiration: Respiration) -> MotionAnalysis:
    """``analysis`` with the trace's verdict added: breathing during the scan makes a passing (or
    single-stack) result a warning, with the trace's message."""
    status, message = analysis.status, analysis.message
    if respiration.status == WARN and status in (PASS, NOT_APPLICABLE, NOT_AVAILABLE):
        status = WARN
    message = f"{message}; from the trace ({respiration.source}): {respiration.message}"
    return replace(analysis, respiration=respiration, status=status, message=message)


def not_available(reason: str, settings: MotionSettings | None = None, thickness_mm: float | None = None) -> MotionAnalysis:
    """The result when the images could not be analysed (``reason`` says why): never a pass."""
    return MotionAnalysis((), (), NOT_AVAILABLE, reason, "none", thickness_mm, settings or MotionSettings())


def not_analysed(reason: str, settings: MotionSettings | None = None) -> MotionAnalysis:
    """The result of a run that does not look at pixels by design (``qa ingest``: headers only;
    ``reason`` says so): not applicable to that run, so its checklist's verdict judges the headers
    (never a pass of the motion, and never "incomplete" for a check the run is not meant to make)."""
    return MotionAnalysis((), (), NOT_APPLICABLE, reason, "none", None, settings or MotionSettings())


def analyse_motion(volume: CTVolume, settings: MotionSettings | None = None) -> MotionAnalysis:
    """The stacks of ``volume``, each boundary's motion and the overall status (see module doc)."""
    settings = settings or MotionSettings()
    z = np.array([p[2] for p in volume.image_positions_mm], dtype=float)
    table = volume.slices
    numbers = table.acquisition_numbers if table is not None else (None,) * volume.n_slices
    times = table.acquisition_times if table is not None else (None,) * volume.n_slices
    split = find_stacks(numbers, times, z)
    thickness = float(volume.slice_thickness_mm or volume.slice_increment_mm)
    if len(split.stacks) < 2:
        return MotionAnalysis(split.stacks, (), NOT_APPLICABLE, f"one stack: {split.reason}", split.basis, thickness, settings)
    return _judged(volume, split, z, thickness, settings)


# The images are analysed at pixels of up to 1 mm (block means of whole pixels, at least 128 x 128):
# phase correlation measures to about 1/20 pixel, and a 512 x 512 matrix costs 4 x a 256 x 256 one
# (our choice; the accuracy tests in tests/test_motion.py run at 1.6 mm pixels).
ANALYSIS_PIXEL_MM = 1.0
MIN_ANALYSIS_MATRIX = 128


def reduction_factor(shape: tuple[int, int], pixel_mm: tuple[float, float]) -> int:
    """The in-plane block size the images are averaged over before the analysis (1: none)."""
    f = 1
    while ((f + 1) * max(pixel_mm) <= ANALYSIS_PIXEL_MM and min(shape) // (f + 1) >= MIN_ANALYSIS_MATRIX):
        f += 1
    return f


def reduced(hu: np.ndarray, f: int, slices: Sequence[int]) -> np.ndarray:
    """``hu`` averaged over f x f pixel blocks (the last rows and columns that do not fill a block are
    left out), for ``slices`` only: the others stay 0 (they are never looked at)."""
    r, c = (hu.shape[1] // f) * f, (hu.shape[2] // f) * f
    out = np.zeros((hu.shape[0], r // f, c // f), dtype=np.float32)
    index = np.asarray(sorted(slices), dtype=np.int64)
    if index.size == 0:
        return out
    chosen = hu[index]  # gathered once (at most one copy of the slices near a boundary); summed in the same order as ever
    sums = chosen[:, 0:r:f, 0:c:f].astype(np.float32)  # the first block (0 + x is x; a -0.0 stays -0.0: the same numbers)
    for i in range(f):
        for j in range(f):
            if i or j:
                sums += chosen[:, i:r:f, j:c:f]
    sums /= f * f
    out[index] = sums
    return out


NEAR_SLICES = 4.5  # slices within this many increments of another stack take part (the edges, their neighbours, overlaps)


def near_other_stacks(stacks: Sequence[StackRun], z: np.ndarray, reach_mm: float) -> list[int]:
    """The slices lying within ``reach_mm`` of a slice of another stack: all the boundary measures
    look at (edge slices, their neighbours inside the stacks, overlaps), so the rest is never read."""
    label = np.empty(z.size, dtype=np.int64)
    for stack in stacks:
        label[list(stack.slices)] = stack.index
    keep = []
    for stack in stacks:
        others = np.sort(z[label != stack.index])
        if others.size == 0:
            continue
        mine = z[list(stack.slices)]
        i = np.clip(np.searchsorted(others, mine), 1, others.size - 1) if others.size > 1 else np.zeros(mine.size, dtype=np.int64)
        gap = np.minimum(np.abs(others[i] - mine), np.abs(others[np.maximum(i - 1, 0)] - mine))
        keep += [k for k, d in zip(stack.slices, gap, strict=True) if d <= reach_mm]
    return sorted(keep)


def _judged(volume: CTVolume, split: StackSplit, z: np.ndarray, thickness: float, settings: MotionSettings) -> MotionAnalysis:
    f = reduction_factor(volume.hu.shape[1:], volume.pixel_spacing_mm)
    near = near_other_stacks(split.stacks, z, NEAR_SLICES * volume.slice_increment_mm)
    hu = reduced(volume.hu, f, near)
    pixel_mm = (volume.pixel_spacing_mm[0] * f, volume.pixel_spacing_mm[1] * f)
    reference = adjacent_ncc(hu, split.stacks, z, only=frozenset(near))
    boundaries = []
    for earlier, later in zip(split.stacks, split.stacks[1:], strict=False):
        measure = measure_boundary(hu, z, earlier, later, orientation=volume.orientation,
                                   pixel_mm=pixel_mm, increment_mm=volume.slice_increment_mm, reference_ncc=reference)
        boundaries.append(judge_boundary(measure, thickness, settings))
    worst = max(boundaries, key=lambda b: _RANK[b.status])
    status = worst.status
    flagged = [b for b in boundaries if b.status in (WARN, FAIL)]
    if flagged:
        message = "; ".join(f"stacks {b.between[0]}-{b.between[1]} {b.status.upper()}: {b.message.split('; ' + _CC_NOTE)[0]}"
                            for b in flagged)
    elif status == NOT_AVAILABLE:
        missing = [b for b in boundaries if b.status == NOT_AVAILABLE]
        message = (f"{len(missing)} of {len(boundaries)} boundaries could not be measured: "
                   + "; ".join(f"stacks {b.between[0]}-{b.between[1]}: {b.message}" for b in missing))
    else:
        largest = max((_size(b.shift_mm) or 0.0) for b in boundaries)
        message = f"{len(boundaries)} boundaries, largest shift {largest:.1f} mm (within {settings.warn_shift_fraction * thickness:g} mm)"
    return MotionAnalysis(split.stacks, tuple(boundaries), status, message, split.basis, thickness, settings)
