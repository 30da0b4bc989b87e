"""The image model of a synthetic thorax: analytic shapes, rendered with partial volume in-plane and along z.

Anatomy frame: DICOM patient axes (+x toward the patient's left, +y posterior, +z toward the head)
in mm, ``z = 0`` at the first stack's cranial edge (the scan runs down to negative z).  The shapes
are illustrative, sized like an adult thorax (about 330 x 230 mm); not a physiological model:

* z-invariant in-plane: skin and subcutaneous fat, the chest-wall muscle, the thoracic cavity, the
  mediastinal fat, the sternum, the descending aorta, the spinal canal and the posterior elements;
* changing along z: the lungs above the diaphragm dome (the right hemidiaphragm higher than the
  left), the heart and its pericardial fat (ellipsoids), the ascending aorta down to the aortic
  root, vertebral bodies between intervertebral discs, ribs sloping down anteriorly, and coronary
  calcifications (short cylinders along z).

Partial volume: in-plane, every edge is a one-pixel linear ramp of an (approximate) signed distance,
the exact coverage of a straight edge by a square pixel, so that sub-pixel displacements move
every edge continuously; along z, each slice integrates its rectangular slice profile exactly
for the shapes that start or end along z (dome, ellipsoids, discs, ribs, cylinders).  Nothing is
ever shifted by resampling an image: a displaced stack is the model evaluated at displaced
coordinates.  A Gaussian in-plane blur (system resolution) follows, then noise (the writer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

AIR_HU = -1000.0
FAT_HU = -95.0
LUNG_HU = -850.0
SOFT_HU = 40.0  # muscle, blood and myocardium without contrast, liver (illustrative)


@dataclass(frozen=True)
class Calcification:
    """A coronary calcification: a short cylinder along z (anatomy frame, mm) of a peak HU."""

    id: str
    artery: str
    center_mm: tuple[float, float, float]
    diameter_mm: float
    length_mm: float
    hu: float


# Illustrative placements along the arteries, from the left main (in the mediastinal fat) down to
# the posterior descending artery; all but the left main lie a few mm inside the heart's outline
# (uniform surroundings, so that a landmark is measured without the heart's edge).
CALCIFICATIONS = (
    Calcification("LM", "left main", (15.0, -55.0, -20.0), 3.0, 4.0, 600.0),
    Calcification("LCX", "left circumflex", (62.0, -5.0, -42.0), 3.0, 6.0, 700.0),
    Calcification("LAD-mid", "left anterior descending", (25.0, -52.0, -57.0), 2.5, 5.0, 450.0),
    Calcification("RCA-dist", "right coronary", (-30.0, -20.0, -92.0), 3.5, 6.0, 800.0),
    Calcification("PDA", "posterior descending", (5.0, 15.0, -100.0), 3.0, 4.0, 550.0),
    Calcification("LAD-apex", "left anterior descending", (40.0, -30.0, -118.0), 2.5, 4.0, 400.0),
)

# Ellipses (centre x, y; half-axes a, b) and HU of the z-invariant structures, painted in order.
BASE_SHAPES = (
    ("skin and subcutaneous fat", (0.0, 5.0, 165.0, 115.0), FAT_HU),
    ("chest-wall muscle", (0.0, 5.0, 153.0, 104.0), SOFT_HU),
    ("thoracic cavity", (0.0, 5.0, 134.0, 86.0), 35.0),
    ("mediastinal fat", (5.0, -10.0, 40.0, 70.0), FAT_HU + 5.0),
)
LUNGS = ((85.0, 5.0, 52.0, 80.0), (-82.0, 5.0, 55.0, 82.0))  # left, right
DOMES = ((-70.0, 10.0, -95.0), (72.0, 10.0, -110.0))  # apex (x, y, z) of the right and left hemidiaphragm
DOME_RADIUS_MM = 110.0  # curvature of the domes (paraboloids)
HEART = ((20.0, -15.0, -70.0), (60.0, 48.0, 62.0))  # centre, half-axes
PERICARDIAL_FAT_MM = 6.0  # the fat layer around the heart
ASCENDING_AORTA = (-15.0, -20.0, 15.0, -35.0)  # x, y, radius, lowest z (the root)
LATE_SHAPES = (  # painted over lungs and heart: (name, disc or ellipse, HU)
    ("descending aorta", (22.0, 55.0, 12.0, 12.0), SOFT_HU),
    ("sternum", (0.0, -96.0, 13.0, 6.0), 450.0),
    ("spinal canal", (0.0, 96.0, 7.0, 7.0), 15.0),
    ("posterior vertebral elements", (0.0, 108.0, 12.0, 6.0), 500.0),
)
VERTEBRA = (0.0, 70.0, 18.0, 15.5)  # x, y, outer (cortical) and inner (cancellous) radius
VERTEBRA_HU = (650.0, 230.0, 90.0)  # cortex, cancellous bone, intervertebral disc
VERTEBRA_PERIOD_MM, DISC_MM = 27.0, 6.0
RIB_RING = ((0.0, 5.0, 146.0, 97.0), (0.0, 5.0, 136.0, 88.0))  # outer and inner ellipse of the rib ring
RIB_HU, RIB_PERIOD_MM, RIB_HEIGHT_MM, RIB_SLOPE = 600.0, 26.0, 9.0, 0.3  # slope: mm of z per mm toward posterior


class Plane:
    """The pixel grid of a slice (centred on the isocentre) seen in the anatomy frame of one stack."""

    def __init__(self, n: int, ps: float, shift_xy: tuple[float, float] = (0.0, 0.0)):
        self.n, self.ps = n, ps
        self.x0 = -ps * (n - 1) / 2.0
        self.sx, self.sy = shift_xy

    def box(self, cx: float, cy: float, rx: float, ry: float, pad: int = 2):
        """Rows, columns and the anatomy coordinates (Y column, X row vectors) of a bounding box."""
        px, py = cx + self.sx, cy + self.sy  # where the anatomy point lies in this stack's images
        j0 = max(0, int(math.floor((px - rx - self.x0) / self.ps)) - pad)
        j1 = min(self.n, int(math.ceil((px + rx - self.x0) / self.ps)) + pad + 1)
        i0 = max(0, int(math.floor((py - ry - self.x0) / self.ps)) - pad)
        i1 = min(self.n, int(math.ceil((py + ry - self.x0) / self.ps)) + pad + 1)
        if j1 <= j0 or i1 <= i0:
            return None
        xs = self.x0 + np.arange(j0, j1) * self.ps - self.sx
        ys = self.x0 + np.arange(i0, i1) * self.ps - self.sy
        return slice(i0, i1), slice(j0, j1), xs[None, :], ys[:, None]


def ramp(distance_mm: np.ndarray, ps: float) -> np.ndarray:
    """Coverage of a pixel by the inside of an edge at a signed distance (negative inside)."""
    return np.clip(0.5 - distance_mm / ps, 0.0, 1.0)


def ellipse_distance(x, y, cx, cy, a, b) -> np.ndarray:
    """Approximate signed distance (mm, negative inside) from the ellipse's edge: first order in (s - 1)."""
    u, v = (x - cx) / a, (y - cy) / b
    s = np.sqrt(u * u + v * v)
    grad = np.sqrt((u / a) ** 2 + (v / b) ** 2)  # |grad s| x s
    per_s = np.where(s > 1e-9, grad / np.maximum(s, 1e-9), 1.0 / min(a, b))
    return (s - 1.0) / per_s


def ellipse(plane: Plane, shape, pad: int = 2):
    """(rows, cols, coverage) of an ellipse (cx, cy, a, b)."""
    cx, cy, a, b = shape
    found = plane.box(cx, cy, a, b, pad)
    if found is None:
        return None
    rs, cs, x, y = found
    return rs, cs, ramp(ellipse_distance(x, y, cx, cy, a, b), plane.ps)


def slab_overlap(lo: np.ndarray | float, hi: np.ndarray | float, z: float, t: float):
    """Fraction of the slice profile [z - t/2, z + t/2] inside [lo, hi] (arrays allowed)."""
    return np.clip(np.minimum(hi, z + t / 2) - np.maximum(lo, z - t / 2), 0.0, None) / t


def periodic_fraction(u, period: float, width: float, t: float):
    """Fraction of [u - t/2, u + t/2] covered by the boxes [k P, k P + width] (exact, vectorised)."""
    def cumulative(v):
        return np.floor(v / period) * width + np.clip(np.mod(v, period), 0.0, width)
    return (cumulative(u + t / 2) - cumulative(u - t / 2)) / t


def paint(image: np.ndarray, rs: slice, cs: slice, coverage, hu: float) -> None:
    """Mix ``hu`` into ``image[rs, cs]`` by ``coverage`` (partial volume), in place."""
    sub = image[rs, cs]
    sub += coverage * (hu - sub)


@dataclass(eq=False)
class StackModel:
    """The parts of the anatomy that do not depend on z, evaluated once in a stack's displaced frame."""

    plane: Plane
    base: np.ndarray
    late: list
    lungs: list
    heart: list
    aorta: tuple | None
    vertebra: list
    ribs: tuple | None
    calcifications: list


def stack_model(n: int, ps: float, shift_xy: tuple[float, float]) -> StackModel:
    plane = Plane(n, ps, shift_xy)
    base = np.full((n, n), AIR_HU)
    for _name, shape, hu in BASE_SHAPES:
        found = ellipse(plane, shape)
        if found is not None:
            paint(base, *found, hu)
    late = [(found, hu) for _name, shape, hu in LATE_SHAPES if (found := ellipse(plane, shape)) is not None]
    lungs = []
    for shape in LUNGS:
        found = ellipse(plane, shape)
        if found is not None:
            rs, cs, cov = found
            _, _, x, y = plane.box(*shape)
            dome = np.maximum.reduce([az - ((x - ax) ** 2 + (y - ay) ** 2) / (2 * DOME_RADIUS_MM) for ax, ay, az in DOMES])
            lungs.append((rs, cs, cov, dome))
    heart = []
    (hx, hy, hz), (ha, hb, hc) = HEART
    for grow, hu in ((PERICARDIAL_FAT_MM, FAT_HU), (0.0, SOFT_HU)):
        a, b, c = ha + grow, hb + grow, hc + grow
        found = plane.box(hx, hy, a, b)
        if found is not None:
            rs, cs, x, y = found
            q = ((x - hx) / a) ** 2 + ((y - hy) / b) ** 2
            half = c * np.sqrt(np.clip(1.0 - q, 0.0, None))  # half its z extent through each pixel: continuous in x, y
            heart.append((rs, cs, half, hz, hu))
    ax, ay, ar, _ = ASCENDING_AORTA
    aorta = ellipse(plane, (ax, ay, ar, ar))
    vx, vy, r_out, r_in = VERTEBRA
    vertebra = [found for r in (r_out, r_in) if (found := ellipse(plane, (vx, vy, r, r))) is not None]
    ribs = None
    outer, inner = ellipse(plane, RIB_RING[0]), ellipse(plane, RIB_RING[1], pad=2)
    if outer is not None:
        rs, cs, cov = outer
        _, _, x, y = plane.box(*RIB_RING[0])
        ring = cov.copy()
        if inner is not None:
            irs, ics, icov = inner
            ring[irs.start - rs.start:irs.stop - rs.start, ics.start - cs.start:ics.stop - cs.start] -= icov
        cartilage = (np.abs(x) < 30.0) & (y < -40.0)  # beside the sternum: costal cartilage, no bone
        ring = np.clip(ring, 0.0, 1.0) * ~cartilage
        phase = RIB_SLOPE * np.broadcast_to(y, ring.shape)
        keep = ring > 0
        ribs = (rs, cs, keep, ring[keep], phase[keep])
    calcs = []
    for calc in CALCIFICATIONS:
        cx, cy, cz = calc.center_mm
        r = calc.diameter_mm / 2
        found = ellipse(plane, (cx, cy, r, r), pad=3)
        if found is not None:
            calcs.append((found, cz - calc.length_mm / 2, cz + calc.length_mm / 2, calc.hu))
    return StackModel(plane, base, late, lungs, heart, aorta, vertebra, ribs, calcs)


def render_slice(model: StackModel, z_mm: float, thickness_mm: float) -> np.ndarray:
    """HU of the slice centred at anatomy ``z_mm`` (the stack's CC displacement already taken out)."""
    t = thickness_mm
    image = model.base.copy()
    for rs, cs, cov, dome in model.lungs:
        above = np.clip((z_mm + t / 2 - dome) / t, 0.0, 1.0)  # the part of the slice profile above the dome
        paint(image, rs, cs, cov * above, LUNG_HU)
    for rs, cs, half, hz, hu in model.heart:
        paint(image, rs, cs, slab_overlap(hz - half, hz + half, z_mm, t), hu)
    if model.aorta is not None:
        weight = float(slab_overlap(ASCENDING_AORTA[3], math.inf, z_mm, t))
        if weight > 0:
            rs, cs, cov = model.aorta
            paint(image, rs, cs, cov * weight, SOFT_HU)
    for (rs, cs, cov), hu in model.late:
        paint(image, rs, cs, cov, hu)
    bone = 1.0 - float(periodic_fraction(z_mm, VERTEBRA_PERIOD_MM, DISC_MM, t))
    cortex, cancellous, disc = VERTEBRA_HU
    for (rs, cs, cov), hu in zip(model.vertebra, (cortex, cancellous)):
        paint(image, rs, cs, cov, disc + bone * (hu - disc))
    if model.ribs is not None:
        rs, cs, keep, ring, phase = model.ribs
        sub = image[rs, cs]
        cover = ring * periodic_fraction(z_mm + phase, RIB_PERIOD_MM, RIB_HEIGHT_MM, t)
        sub[keep] += cover * (RIB_HU - sub[keep])
    for (rs, cs, cov), z0, z1, hu in model.calcifications:
        weight = float(slab_overlap(z0, z1, z_mm, t))
        if weight > 0:
            paint(image, rs, cs, cov * weight, hu)
    return image
