"""Slice geometry: consistency checks, ordering along the slice normal, patient coordinates.

Functions take image records with ``label``, ``position``, ``orientation``, ``rows``,
``columns``, ``pixel_spacing``, ``rescale_slope``, ``rescale_intercept``, ``gantry_tilt_deg`` and
``sop_instance_uid`` (see :class:`qa.dicom.series.ImageRef`).  Every refusal names the file.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.errors import InputError
from qa.numeric import median
from qa.records.plausibility import require_possible

if TYPE_CHECKING:
    from qa.dicom.images import ImageRef

# Tolerances (our choices, not from a standard; each errs on the side of refusing).
ORIENTATION_ATOL = 1e-3  # direction cosines of the images of one series must agree this well
MAX_AXIAL_DEVIATION_DEG = 0.5  # slice normal vs patient z axis; more is tilt or an oblique plane
MAX_IN_PLANE_DRIFT_DEG = 0.5  # drift of slice origins across the stack (tilt with axial cosines)
GAP_FACTOR = 1.5  # a step larger than 1.5 x the increment is a missing slice
IRREGULAR_FRACTION = 0.10  # a step differing from the increment by more than 10 % is irregular
SPACING_ATOL_MM = 1e-3  # pixel spacings of one series must agree this well

_HINT_CONSISTENT = "pass one complete, consistent axial series (re-export it from the scanner or PACS)"


@dataclass(frozen=True)
class StackGeometry:
    """The validated, sorted stack."""

    order: tuple[int, ...]  # indices of the input images, ascending along the normal
    positions_mm: np.ndarray  # (n, 3) ImagePositionPatient, in that order
    along_normal_mm: np.ndarray  # (n,) position along the slice normal
    increment_mm: float | None  # None for a single slice
    rows: int
    columns: int
    pixel_spacing_mm: tuple[float, float]


def _majority(values: list) -> Any:
    return Counter(values).most_common(1)[0][0]


def check_matrix(images: Sequence[ImageRef]) -> tuple[int, int, tuple[float, float]]:
    """Every image has a usable matrix, spacing, position, orientation and rescale, all alike."""
    for img in images:
        for keyword, value in (
            ("Rows", img.rows),
            ("Columns", img.columns),
            ("PixelSpacing", img.pixel_spacing),
            ("ImagePositionPatient", img.position),
            ("ImageOrientationPatient", img.orientation),
        ):
            if value is None:
                raise InputError(img.label, keyword, "is missing: the image cannot be placed in the volume", hint=_HINT_CONSISTENT)
        if img.rows < 1 or img.columns < 1:
            raise InputError(img.label, "Rows/Columns", f"is {img.rows} x {img.columns}: an empty image", hint=_HINT_CONSISTENT)
        if min(img.pixel_spacing) <= 0:
            raise InputError(img.label, "PixelSpacing", f"must be positive, is {list(img.pixel_spacing)}", hint=_HINT_CONSISTENT)
        # Impossible values are refused here, before any pixel is decoded or memory allocated.
        require_possible("matrix_pixels", img.rows, path=img.label, field="Rows")
        require_possible("matrix_pixels", img.columns, path=img.label, field="Columns")
        for value in img.pixel_spacing:
            require_possible("pixel_spacing_mm", value, path=img.label, field="PixelSpacing")
        if img.slice_thickness is not None:
            require_possible("slice_thickness_mm", img.slice_thickness, path=img.label, field="SliceThickness")
        if img.rescale_slope is not None and img.rescale_slope != 0:
            require_possible("rescale_slope", img.rescale_slope, path=img.label, field="RescaleSlope")
        if img.rescale_slope is None:
            raise InputError(img.label, "RescaleSlope", "is missing: stored values cannot be converted to HU", hint=_HINT_CONSISTENT)
        if img.rescale_intercept is None:
            raise InputError(img.label, "RescaleIntercept", "is missing: stored values cannot be converted to HU", hint=_HINT_CONSISTENT)
        if img.rescale_slope == 0:
            raise InputError(img.label, "RescaleSlope", "is 0: stored values cannot be converted to HU", hint=_HINT_CONSISTENT)
    rows = _majority([i.rows for i in images])
    cols = _majority([i.columns for i in images])
    for img in images:
        if img.rows != rows or img.columns != cols:
            raise InputError(
                img.label, "Rows/Columns",
                f"image is {img.rows} x {img.columns} but the rest of the series is {rows} x {cols}",
                hint="the series mixes matrices; " + _HINT_CONSISTENT,
            )
    ref = np.array(_majority([i.pixel_spacing for i in images]))
    for img in images:
        if np.max(np.abs(np.array(img.pixel_spacing) - ref)) > SPACING_ATOL_MM:
            raise InputError(
                img.label, "PixelSpacing",
                f"is {list(img.pixel_spacing)} mm but the rest of the series is {ref.tolist()} mm",
                hint="the series mixes fields of view; " + _HINT_CONSISTENT,
            )
    return int(rows), int(cols), (float(ref[0]), float(ref[1]))


def slice_normal(images: Sequence[ImageRef]) -> np.ndarray:
    """The common slice normal; refuses mixed, non-orthonormal, tilted or non-axial orientations."""
    first = images[0]
    iop = np.array(first.orientation, dtype=float)
    for img in images:
        if np.max(np.abs(np.array(img.orientation) - iop)) > ORIENTATION_ATOL:
            raise InputError(
                img.label, "ImageOrientationPatient",
                f"is {list(img.orientation)} but {first.label} has {iop.tolist()}: the series mixes orientations",
                hint="pass a single axial reconstruction",
            )
    row_dir, col_dir = iop[:3], iop[3:]
    if (
        abs(np.linalg.norm(row_dir) - 1) > 1e-2
        or abs(np.linalg.norm(col_dir) - 1) > 1e-2
        or abs(row_dir @ col_dir) > 1e-2
    ):
        raise InputError(
            first.label, "ImageOrientationPatient", f"{iop.tolist()} is not two orthonormal directions",
            hint="the file does not follow the DICOM standard; re-export the series",
        )
    normal = np.cross(row_dir / np.linalg.norm(row_dir), col_dir / np.linalg.norm(col_dir))
    for img in images:
        if img.gantry_tilt_deg is not None and abs(img.gantry_tilt_deg) > 0.01:
            raise InputError(
                img.label, "GantryDetectorTilt",
                f"is {img.gantry_tilt_deg:g} degrees: calcium scores are defined on untilted axial slices",
                hint="rescan without gantry tilt, or reconstruct untilted axial images",
            )
    deviation = math.degrees(math.acos(min(1.0, abs(float(normal[2])))))
    if deviation > MAX_AXIAL_DEVIATION_DEG:
        raise InputError(
            first.label, "ImageOrientationPatient",
            f"{iop.round(4).tolist()} is not axial: the slice normal is {deviation:.1f} degrees from the "
            "patient z axis (gantry tilt, or an oblique / sagittal / coronal reconstruction)",
            hint="score an axial reconstruction acquired without gantry tilt",
        )
    return normal


def sort_stack(images: Sequence[ImageRef], stack_of: Sequence[int] | None = None) -> StackGeometry:
    """Validate the stack and sort it along the slice normal (never by file name or number).

    The increment is the median of the regular steps between positions (steps up to 1.5 x the
    smallest one), so that a missing slice cannot hide in the median of a short series.

    ``stack_of`` (the step-and-shoot stack of each image, for the breath-hold motion analysis): the
    stacks may overlap in z (one position in two stacks, or interleaved positions); duplicates,
    gaps and irregular steps are then refused within each stack, and a gap between the stacks'
    union.  Without it a series is one regular stack (what calcium scoring needs).
    """
    rows, cols, spacing = check_matrix(images)
    normal = slice_normal(images)
    for img in images:
        for value in img.position:
            require_possible("position_mm", value, path=img.label, field="ImagePositionPatient")
    positions = np.array([img.position for img in images], dtype=float)
    along = positions @ normal
    groups = np.asarray(stack_of if stack_of is not None else [0] * len(images))
    order = np.lexsort((groups, along))  # along the normal; within one position, by stack
    positions, along, groups = positions[order], along[order], groups[order]
    ordered = [images[i] for i in order]
    if len(ordered) == 1:
        return StackGeometry(tuple(int(i) for i in order), positions, along, None, rows, cols, spacing)
    if len(set(groups.tolist())) > 1:
        increments = []
        for g in sorted(set(groups.tolist())):
            members = np.flatnonzero(groups == g)
            if members.size > 1:
                increments.append(_regular_steps([ordered[k] for k in members], along[members]))
        increment = float(median(increments)) if increments else None
        if increment is not None:
            rounded = np.round(along, 3)  # ascending, as ``along`` is
            first = np.flatnonzero(np.concatenate(([True], rounded[1:] != rounded[:-1])))  # each position's first image
            _no_gap([ordered[int(k)] for k in first], rounded[first], increment)
    else:
        increment = _regular_steps(ordered, along)
    # In-plane drift of the slice origins (a tilted acquisition stored with axial cosines).
    in_plane = positions - along[:, None] * normal[None, :]
    drift = np.linalg.norm(in_plane - in_plane[0], axis=1)
    span = float(along[-1] - along[0])
    slope_deg = math.degrees(math.atan2(float(drift.max()), span))
    if slope_deg > MAX_IN_PLANE_DRIFT_DEG and drift.max() > 0.5:
        raise InputError(
            ordered[int(np.argmax(drift))].label, "ImagePositionPatient",
            f"slice origins drift {drift.max():.2f} mm in-plane over {span:.1f} mm "
            f"({slope_deg:.1f} degrees): the series was acquired with gantry tilt",
            hint="rescan without gantry tilt, or reconstruct untilted axial images",
        )
    return StackGeometry(tuple(int(i) for i in order), positions, along, increment, rows, cols, spacing)


def _regular_steps(ordered: Sequence[ImageRef], along: np.ndarray) -> float:
    """The increment of images sorted along the normal; refuses duplicates, gaps and irregular steps."""
    steps = np.diff(along)
    smallest_positive = float(steps[steps > 1e-6].min()) if np.any(steps > 1e-6) else 0.0
    dup_tol = max(1e-3, 0.01 * smallest_positive)
    for k, step in enumerate(steps):
        if step <= dup_tol:
            a, b = ordered[k], ordered[k + 1]
            same = " (the same SOP Instance UID)" if a.sop_instance_uid == b.sop_instance_uid else ""
            raise InputError(
                b.label, "ImagePositionPatient",
                f"duplicate slice position {along[k + 1]:.3f} mm along the normal, shared with {a.label}{same}",
                hint="the input holds two images at one position (a duplicate file, or two phases or "
                "reconstructions in one series); remove the duplicates or pick one reconstruction",
            )
    regular = steps[steps <= GAP_FACTOR * smallest_positive]
    increment = float(median(regular))
    require_possible("slice_increment_mm", increment, path=ordered[1].label, field="ImagePositionPatient (slice increment)")
    _no_gap(ordered, along, increment)
    irregular = np.abs(steps - increment) > max(IRREGULAR_FRACTION * increment, 0.01)
    if np.any(irregular):
        k = int(np.argmax(irregular))
        raise InputError(
            ordered[k + 1].label, "ImagePositionPatient",
            f"irregular slice spacing: steps range from {steps.min():.3f} to {steps.max():.3f} mm "
            f"(increment {increment:.3f} mm)",
            hint="pass a series reconstructed at a constant increment",
        )
    return increment


def _no_gap(ordered: Sequence[ImageRef], along: np.ndarray, increment: float) -> None:
    """Refuse a step longer than GAP_FACTOR increments (a missing slice)."""
    for k, step in enumerate(np.diff(along)):
        if step > GAP_FACTOR * increment:
            a, b = ordered[k], ordered[k + 1]
            missing = max(1, round(step / increment) - 1)
            raise InputError(
                f"{a.label} .. {b.label}", "ImagePositionPatient",
                f"missing slice: a gap of {step:.2f} mm between positions {along[k]:.2f} and "
                f"{along[k + 1]:.2f} mm (increment {increment:.2f} mm; about {missing} slice(s) missing)",
                hint="re-export the complete series; scores on an incomplete series would be wrong",
            )
