"""The image model's geometry: the phantom frame, partial-volume coverage, blurred objects, correlated noise."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qa.phantom.synth.options import SynthOptions


class Frame:
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


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def ellipse_coverage(
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
class Blob:
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


def disk_in_box(x0, y0, ps, n, cx, cy, r, pad, ss):
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


def correlated_noise_sd(sigma_px: float) -> float:
    """SD of unit white noise after a Gaussian filter of ``sigma_px`` (discrete kernel)."""
    radius = int(4.0 * sigma_px + 0.5)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sigma_px) ** 2)
    kernel /= kernel.sum()
    # Separable 2-D filter: variance = (sum k^2)^2, so the standard deviation is sum k^2.
    return float(np.sum(kernel**2))
