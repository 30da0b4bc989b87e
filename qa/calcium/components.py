"""Lesion candidates: 2-D connected components above a threshold, and their measurements.

Arrays in, arrays out; used by :mod:`qa.calcium.scoring`.  A component is 4- or 8-connected
within one slice (:func:`qa.calcium.labels.label_2d`).  ``find_components`` labels each slice's bounding box of above-threshold pixels
and measures every component (pixel count, sum and peak of HU, centroid); ``isotropic_volumes``
gives per-lesion volumes of the data interpolated linearly along z.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from qa.calcium.labels import label_2d


@dataclass(frozen=True, eq=False)
class Components:
    """Kept 2-D components of a volume, in (slice, label) order; arrays are indexed by lesion."""

    slices: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    peaks: np.ndarray
    row_mean: np.ndarray
    col_mean: np.ndarray
    n_small: int
    # Per slice with kept lesions: (slice, label image of its bounding box, box origin, map from
    # the box's label ids to lesion numbers + 1 (0 = not kept)).
    boxes: tuple[tuple[int, np.ndarray, tuple[int, int], np.ndarray], ...]

    @property
    def n_kept(self) -> int:
        return int(self.slices.size)


def find_components(
    hu: np.ndarray, mask: np.ndarray | None, threshold: float, connectivity: int, min_count: int
) -> Components:
    """Label every slice's above-threshold pixels (2-D) and measure the kept components.

    Slices are independent; the work is numpy (which releases the GIL in its loops), so two threads
    share it.  Results are assembled in slice order, so the outcome does not depend on threading.
    """
    n_slices = hu.shape[0]
    if hu.dtype.kind in "iu":
        # An integer volume (int16 HU, qa.dicom.decode) is compared with the threshold as the float32
        # volume it stands for was: the threshold rounded to float32, every CT number exact.
        threshold = np.float32(threshold)

    def run(ks):
        buffer = np.empty(hu.shape[1:], dtype=bool)  # reused: no fresh pages per slice
        return [_slice_components(hu, mask, k, threshold, connectivity, min_count, buffer) for k in ks]

    if n_slices >= 16 and (os.cpu_count() or 1) > 1:
        from concurrent.futures import ThreadPoolExecutor

        half = n_slices // 2
        with ThreadPoolExecutor(max_workers=2) as pool:
            parts = list(pool.map(run, (range(0, half), range(half, n_slices))))
        results = parts[0] + parts[1]
    else:
        results = run(range(n_slices))
    found = [r for r in results if r is not None]
    n_small = sum(r[-1] for r in found)
    with_lesions = [r for r in found if r[3].size]
    empty = np.empty(0)
    if not with_lesions:
        return Components(empty.astype(np.intp), empty, empty, empty, empty, empty, n_small, ())
    boxes = []
    first = 1
    for k, labels, origin, kept, *_ in with_lesions:
        to_lesion = np.zeros(int(labels.max()) + 1, dtype=np.intp)
        to_lesion[kept] = np.arange(first, first + kept.size)
        first += kept.size
        boxes.append((k, labels, origin, to_lesion))
    return Components(
        slices=np.concatenate([np.full(r[3].size, r[0], dtype=np.intp) for r in with_lesions]),
        counts=np.concatenate([r[4] for r in with_lesions]).astype(float),
        sums=np.concatenate([r[5] for r in with_lesions]),
        peaks=np.concatenate([r[6] for r in with_lesions]),
        row_mean=np.concatenate([r[7] for r in with_lesions]),
        col_mean=np.concatenate([r[8] for r in with_lesions]),
        n_small=n_small,
        boxes=tuple(boxes),
    )


def _slice_components(hu, mask, k, threshold, connectivity, min_count, buffer):
    """Components of slice ``k``: (k, box labels, box origin, kept ids, counts, sums, peaks,
    mean row, mean column, number below the minimum), or None when nothing reaches the threshold."""
    above = np.greater_equal(hu[k], threshold, out=buffer)
    if mask is not None:
        above &= mask[k]
    row_any = above.any(axis=1)
    if not row_any.any():
        return None
    # Label only the bounding box of this slice's above-threshold pixels.
    rows_hit = np.flatnonzero(row_any)
    cols_hit = np.flatnonzero(above.any(axis=0))
    r0, c0 = int(rows_hit[0]), int(cols_hit[0])
    r1, c1 = int(rows_hit[-1]) + 1, int(cols_hit[-1]) + 1
    labels, n = label_2d(above[r0:r1, c0:c1], connectivity)  # scipy.ndimage.label's labels, without importing scipy
    flat = labels.ravel()
    index = np.flatnonzero(flat)
    lab = flat[index]
    rows, cols = np.divmod(index, labels.shape[1])
    counts = np.bincount(lab, minlength=n + 1)
    keep = counts >= min_count
    keep[0] = False
    kept = np.flatnonzero(keep)
    if kept.size == 0:
        return (k, labels, (r0, c0), kept, None, None, None, None, None, n)
    values = hu[k, r0:r1, c0:c1].ravel()[index].astype(np.float64)
    sums = np.bincount(lab, weights=values, minlength=n + 1)
    peaks = np.full(n + 1, -np.inf)
    np.maximum.at(peaks, lab, values)
    kept_counts = counts[kept]
    row_mean = np.bincount(lab, weights=rows, minlength=n + 1)[kept] / kept_counts + r0
    col_mean = np.bincount(lab, weights=cols, minlength=n + 1)[kept] / kept_counts + c0
    return (k, labels, (r0, c0), kept, kept_counts, sums[kept], peaks[kept], row_mean, col_mean, int(n - kept.size))


def isotropic_volumes(
    hu: np.ndarray,
    comps: Components,
    threshold_hu: float,
    increment: float,
    row_mm: float,
    col_mm: float,
) -> np.ndarray:
    """Per-lesion volume of the data interpolated linearly along z (the isotropic limit).

    Along each pixel column the CT number is interpolated linearly between slice centres and the
    length where it is >= the threshold is computed exactly (no sub-slice sampling, so a lesion
    whose peak barely passes the threshold still gets its small volume).  Each slice owns the slab
    from half an increment below to half above its centre; an above-threshold stretch belongs to
    the lesion of the slice whose pixel is a kept lesion pixel (split at the mid-point when both
    ends are).  Beyond the first and last slice the nearest slice is used.
    """
    n_slices = hu.shape[0]
    # Lesion number + 1 of every pixel of the slices that hold kept lesions (0 = none).
    lesion_maps: dict[int, np.ndarray] = {}
    for k, labels, (r0, c0), to_lesion in comps.boxes:
        full = np.zeros(hu.shape[1:], dtype=np.intp)
        full[r0 : r0 + labels.shape[0], c0 : c0 + labels.shape[1]] = to_lesion[labels]
        lesion_maps[k] = full
    footprint = np.zeros(hu.shape[1:], dtype=bool)
    for full in lesion_maps.values():
        footprint |= full > 0
    rr, cc = np.nonzero(footprint)
    profiles = hu[:, rr, cc].astype(np.float64)  # (slices, pixels)
    ids = np.zeros(profiles.shape, dtype=np.intp)
    for k, full in lesion_maps.items():
        ids[k] = full[rr, cc]
    owned = np.where(profiles >= threshold_hu, ids, 0)  # lesion owning each slice-centre sample
    lengths = np.zeros(comps.n_kept + 1)  # in units of the increment
    # The outer half slabs below the first and above the last slice: nearest neighbour.
    lengths += 0.5 * np.bincount(owned[0], minlength=comps.n_kept + 1)
    lengths += 0.5 * np.bincount(owned[-1], minlength=comps.n_kept + 1)
    for k in range(n_slices - 1):
        va, vb = profiles[k], profiles[k + 1]
        oa, ob = owned[k], owned[k + 1]
        if not (oa.any() or ob.any()):
            continue
        first_half, second_half = _above_lengths(va, vb, threshold_hu)
        both = (oa > 0) & (ob > 0)
        only_a = (oa > 0) & ~both
        only_b = (ob > 0) & ~both
        lengths += np.bincount(oa[both], weights=first_half[both], minlength=comps.n_kept + 1)
        lengths += np.bincount(ob[both], weights=second_half[both], minlength=comps.n_kept + 1)
        total = first_half + second_half
        lengths += np.bincount(oa[only_a], weights=total[only_a], minlength=comps.n_kept + 1)
        lengths += np.bincount(ob[only_b], weights=total[only_b], minlength=comps.n_kept + 1)
    return lengths[1:] * increment * row_mm * col_mm


def _above_lengths(va: np.ndarray, vb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Lengths (fractions of the interval) of [0, 1/2] and [1/2, 1] where a + (b - a) f >= threshold."""
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(va != vb, (threshold - va) / (vb - va), 0.0)
    rising = vb > va  # above threshold for f >= crossing
    lo = np.where(rising, np.clip(crossing, 0.0, 1.0), 0.0)
    hi = np.where(rising, 1.0, np.clip(crossing, 0.0, 1.0))
    flat = va == vb
    lo = np.where(flat, np.where(va >= threshold, 0.0, 1.0), lo)
    hi = np.where(flat, 1.0, hi)
    # The interval [lo, hi] where the interpolated value is >= threshold, cut at the mid-point.
    first = np.clip(np.minimum(hi, 0.5) - lo, 0.0, None)
    second = np.clip(hi - np.maximum(lo, 0.5), 0.0, None)
    return first, second
