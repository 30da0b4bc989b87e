"""Motion at each stack boundary, measured from the images (pure: arrays in, records out).

For stack k and the next acquired, k + 1 (neighbours in z):

* in-plane shift (``lr``, ``ap``): phase correlation (:mod:`qa.motion.register`) of the edge
  slices, the last of one stack and the first of the next, nearest in z.  Anatomy changes along z,
  so adjacent slices differ even without motion: the shift measured between the edge slice and its
  neighbour inside each stack (the anatomy's own drift per slice) is subtracted.  Where stacks
  overlap, slices at the same z are compared and nothing is subtracted.
* craniocaudal shift (``cc``): only where the stacks overlap in z: the z offset (sub-slice, by
  linear interpolation between slices) at which the later stack's overlapping slices best match
  the earlier stack's; ``None`` without overlap.
* discontinuity: the normalised cross-correlation (NCC) of the two edge slices against the NCCs of
  adjacent slices inside the stacks, as a robust z-score (median and MAD): the stair-step measure
  of Cui et al., J Appl Clin Med Phys 2012.

Signs as the ``qa.motion/1`` contract: the anatomy of stack k + 1 relative to stack k, +x toward
the patient's left, +y posterior, +z toward the head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.motion.register import content, ncc, phase_shift_px
from qa.motion.stacks import StackRun
from qa.numeric import median
from qa.records.serialize import Record

MAD_TO_SD = 1.4826  # the MAD of a normal distribution times this is its SD
# The spread of adjacent-slice NCCs is never taken as less than this share of their decorrelation
# (1 - median NCC), nor less than 0.001: noise-free synthetic stacks would otherwise give huge
# z-scores for tiny anatomical differences (our proposal).
MIN_SPREAD_FRACTION = 0.1
MIN_SPREAD = 1e-3
CC_DOWNSAMPLE = 4  # the craniocaudal search compares slices reduced 4 x in-plane (speed; our choice)


@dataclass(frozen=True)
class Shift(Record):
    """A displacement of the anatomy in mm (``None``: not measurable)."""

    lr: float | None
    ap: float | None
    cc: float | None


@dataclass(frozen=True)
class BoundaryMeasure:
    """What the images say at one boundary (before it is judged)."""

    between: tuple[int, int]
    edge_slices: tuple[int, int] | None  # (slice of stack k, slice of stack k + 1) compared
    z_mm: float | None  # where the boundary lies
    shift_mm: Shift
    ncc: float | None
    robust_z: float | None
    overlap_mm: float  # > 0 where the stacks overlap in z
    note: str | None = None  # why something could not be measured


def _in_plane_mm(d_rows: float, d_cols: float, orientation: Sequence[float], pixel_mm: tuple[float, float]) -> tuple[float, float]:
    """A pixel shift as patient (x, y) mm."""
    row_dir = np.asarray(orientation[:3], dtype=float)  # increasing column index
    col_dir = np.asarray(orientation[3:], dtype=float)  # increasing row index
    d = d_cols * pixel_mm[1] * row_dir + d_rows * pixel_mm[0] * col_dir
    return float(d[0]), float(d[1])


LOCAL_PAIRS = 2  # the expected NCC at a boundary: the median of this many z-neighbour pairs on each side (our choice)


@dataclass(frozen=True)
class PairNcc:
    """The NCC of two z-neighbours inside one stack, and where the pair lies."""

    z_mm: float  # midway between the two slices
    ncc: float


def adjacent_ncc(hu: np.ndarray, stacks: Sequence[StackRun], z_mm: np.ndarray, *,
                 only: frozenset[int] | None = None) -> list[PairNcc]:
    """NCC of every pair of z-neighbours inside one stack (the reference of the discontinuity score);
    ``only``: the pairs of these slices alone (those near the boundaries)."""
    out = []
    for stack in stacks:
        members = sorted(stack.slices, key=lambda k: z_mm[k])
        previous = None  # the content of the z-neighbour just before, when it takes part
        for n, k in enumerate(members):
            if only is not None and k not in only:
                previous = None
                continue
            current = content(hu[k])
            if previous is not None:
                out.append(PairNcc(float(z_mm[members[n - 1]] + z_mm[k]) / 2, ncc(previous, current)))
            previous = current
    return out


def robust_z(value: float, at_z_mm: float, reference: Sequence[PairNcc]) -> float | None:
    """How many robust SDs the edge NCC ``value`` lies below what the anatomy there leads one to
    expect: the median NCC of the nearest pairs inside the stacks (anatomy changes along z, so the
    expectation is local), in units of the spread (MAD) of all pairs' NCCs.  None without pairs."""
    if len(reference) < 3:
        return None
    ref = np.asarray([p.ncc for p in reference], dtype=float)
    dist = np.abs(np.asarray([p.z_mm for p in reference]) - at_z_mm)
    expected = float(median(ref[np.argsort(dist, kind="stable")[:2 * LOCAL_PAIRS]]))
    centre = float(median(ref))
    spread = max(MAD_TO_SD * float(median(np.abs(ref - centre))), MIN_SPREAD_FRACTION * (1.0 - expected), MIN_SPREAD)
    return (expected - value) / spread


# Below this spread of the windowed CT numbers a slice is uniform (water, air): a shift cannot be
# measured on it (our choice: far below the contrast of a body outline, above nothing).
MIN_STRUCTURE_HU = 10.0


def _structure_hu(hu_slice: np.ndarray, block: int = 8) -> float:
    """The SD of a slice's CT numbers in the content window, over 8 x 8 pixel block means (noise
    averaged away): about 0 for a uniform image, however noisy."""
    img = np.clip(np.asarray(hu_slice, dtype=float), -500.0, 500.0)
    r, c = (img.shape[0] // block) * block, (img.shape[1] // block) * block
    if r == 0 or c == 0:
        return float(np.std(img))
    return float(np.std(img[:r, :c].reshape(r // block, block, c // block, block).mean(axis=(1, 3))))


def _shift_px(hu: np.ndarray, a: int, b: int) -> tuple[float, float]:
    rows, cols, _ = phase_shift_px(content(hu[a]), content(hu[b]))
    return rows, cols


def measure_boundary(hu: np.ndarray, z_mm: np.ndarray, earlier: StackRun, later: StackRun, *, orientation: Sequence[float],
                     pixel_mm: tuple[float, float], increment_mm: float, reference_ncc: Sequence[PairNcc]) -> BoundaryMeasure:
    """The motion of ``later`` relative to ``earlier`` (see module doc); ``hu`` the whole volume,
    ``z_mm`` each slice's patient z, ``reference_ncc`` from :func:`adjacent_ncc`."""
    between = (earlier.index, later.index)
    za = sorted(earlier.slices, key=lambda k: z_mm[k])
    zb = sorted(later.slices, key=lambda k: z_mm[k])
    lo, hi = max(z_mm[za[0]], z_mm[zb[0]]), min(z_mm[za[-1]], z_mm[zb[-1]])
    overlap = float(hi - lo)
    if overlap > 0.01:
        return _overlapping(hu, z_mm, za, zb, between, overlap, orientation, pixel_mm, increment_mm, reference_ncc)
    below = z_mm[za[-1]] <= z_mm[zb[0]]  # the later stack lies above (toward the head)
    a_edge, b_edge = (za[-1], zb[0]) if below else (za[0], zb[-1])
    gap = abs(float(z_mm[b_edge] - z_mm[a_edge]))
    middle = float(z_mm[a_edge] + z_mm[b_edge]) / 2
    if gap > 1.5 * increment_mm + 0.01:
        return BoundaryMeasure(between, (a_edge, b_edge), middle, Shift(None, None, None), None, None, 0.0,
                               f"the stacks are not neighbours in z ({gap:.1f} mm apart): nothing to compare")
    if min(_structure_hu(hu[a_edge]), _structure_hu(hu[b_edge])) < MIN_STRUCTURE_HU:
        return BoundaryMeasure(between, (a_edge, b_edge), middle, Shift(None, None, None), None, None, 0.0,
                               "the edge slices hold no structure to register (uniform images)")
    raw = np.array(_shift_px(hu, a_edge, b_edge))
    baselines = []
    a_inner = za[-2] if below and len(za) > 1 else (za[1] if not below and len(za) > 1 else None)
    b_inner = zb[1] if below and len(zb) > 1 else (zb[-2] if not below and len(zb) > 1 else None)
    if a_inner is not None:
        baselines.append(_shift_px(hu, a_inner, a_edge))
    if b_inner is not None:
        baselines.append(_shift_px(hu, b_edge, b_inner))
    motion = raw - (np.mean(baselines, axis=0) if baselines else 0.0)
    lr, ap = _in_plane_mm(float(motion[0]), float(motion[1]), orientation, pixel_mm)
    edge_ncc = ncc(content(hu[a_edge]), content(hu[b_edge]))
    return BoundaryMeasure(between, (a_edge, b_edge), middle, Shift(lr, ap, None), edge_ncc, robust_z(edge_ncc, middle, reference_ncc), 0.0,
                           "no overlap in z: the craniocaudal shift is not measurable")


def _overlapping(hu, z_mm, za, zb, between, overlap, orientation, pixel_mm, increment_mm, reference_ncc) -> BoundaryMeasure:
    za_z = np.array([z_mm[k] for k in za])
    pairs = []
    for b in zb:
        if za_z[0] - 0.01 <= z_mm[b] <= za_z[-1] + 0.01:
            a = za[int(np.argmin(np.abs(za_z - z_mm[b])))]
            pairs.append((abs(float(z_mm[b] - z_mm[a])), a, b))
    pairs.sort()
    close = [p for p in pairs if p[0] <= 0.5 * increment_mm + 0.01][:3] or pairs[:1]
    shifts = np.array([_shift_px(hu, a, b) for _, a, b in close])
    motion = median(shifts, axis=0)
    lr, ap = _in_plane_mm(float(motion[0]), float(motion[1]), orientation, pixel_mm)
    _, a_edge, b_edge = close[0]
    edge_ncc = ncc(content(hu[a_edge]), content(hu[b_edge]))
    cc = _cc_shift(hu, z_mm, za, [b for _, _, b in pairs], motion, increment_mm)
    return BoundaryMeasure(between, (a_edge, b_edge), float(z_mm[b_edge]), Shift(lr, ap, cc), edge_ncc,
                           robust_z(edge_ncc, float(z_mm[b_edge]), reference_ncc), overlap)


def _small(hu_slice: np.ndarray, shift_px: np.ndarray | None = None) -> np.ndarray:
    img = content(hu_slice)
    if shift_px is not None:
        from scipy import ndimage  # only where stacks overlap: the import is not paid on every check

        img = ndimage.shift(img, -shift_px, order=1, mode="nearest")
    f = CC_DOWNSAMPLE
    r, c = (img.shape[0] // f) * f, (img.shape[1] // f) * f
    return img[:r, :c].reshape(r // f, f, c // f, f).mean(axis=(1, 3))


def _cc_shift(hu, z_mm, za, zb_overlap, in_plane_px, increment_mm) -> float | None:
    """The z offset d (mm) with later(z) ~ earlier(z - d), over the overlapping slices of the later stack."""
    if not zb_overlap or len(za) < 2:
        return None
    a_imgs = np.stack([_small(hu[k]) for k in za])
    a_z = np.array([z_mm[k] for k in za], dtype=float)
    b_imgs = [_small(hu[k], in_plane_px) for k in zb_overlap]
    b_z = np.array([z_mm[k] for k in zb_overlap], dtype=float)
    reach = max(2.0 * increment_mm, 5.0)
    candidates = np.arange(-reach, reach + 1e-9, increment_mm / 10)
    costs = []
    for d in candidates:
        src = b_z - d
        valid = (src >= a_z[0]) & (src <= a_z[-1])
        if not valid.any():
            costs.append(np.inf)
            continue
        pos = np.interp(src[valid], a_z, np.arange(len(a_z)))
        k0 = np.clip(np.floor(pos).astype(int), 0, len(a_z) - 1)
        k1 = np.clip(k0 + 1, 0, len(a_z) - 1)
        w = (pos - k0)[:, None, None]
        predicted = a_imgs[k0] * (1 - w) + a_imgs[k1] * w
        observed = np.stack([b_imgs[i] for i in np.flatnonzero(valid)])
        costs.append(float(np.mean((predicted - observed) ** 2)))
    costs = np.array(costs)
    if not np.isfinite(costs).any():
        return None
    i = int(np.argmin(costs))
    best = float(candidates[i])
    if not (0 < i < len(costs) - 1 and np.isfinite(costs[i - 1]) and np.isfinite(costs[i + 1])):
        # The best match lies at the edge of what the overlap (or the search reach) can show: the true
        # offset may lie beyond it, so no number rather than a clipped one.
        return None
    den = costs[i - 1] - 2 * costs[i] + costs[i + 1]
    if den > 0:
        best += 0.5 * (costs[i - 1] - costs[i + 1]) / den * (candidates[1] - candidates[0])
    return best
