"""The phantom's extension ring, measured from the image instead of assumed.

A phantom that can wear an extension ring (the QRM thorax: 300 x 200 mm, 400 x 300 mm with the
large ring) is told apart by its **body outline**: its size left-right (LR, patient x) by
anterior-posterior (AP, patient y).  The sizes each configuration should show come from the
definition's ``[[body]]`` ellipses: without the ring the parts that are not ``only_with_ring``,
with it all of them (the vocabulary of ``qa phantom --ring``: ``none`` and ``large``).

The measurement, pure (arrays in, a record out):

1. a few slices of the insert's z-range are averaged (noise) and block-averaged to about 1 mm;
   pixels outside the reconstructed field of view (vendors pad them far below air, e.g. -2048 or
   -3024 HU) are marked, so are the image's borders;
2. the phantom is everything denser than halfway between air and its least dense body part (the
   lung-equivalent material counts as phantom); holes are filled, thin attachments (a table top, a
   cable) are cut off by an opening, and the connected part around the insert axis is kept;
3. rays every 2 degrees from the insert axis find the outline (sub-pixel); a ray whose outline
   lies at the edge of the field of view is *cut*: the phantom goes on beyond it;
4. per side (patient right/left, anterior/posterior), the outline's extent is the farthest
   projection of the rays within 60 degrees of that side; it is *seen* when that farthest ray
   and its neighbours are not cut (the outline is convex, so the extreme is the true one), else
   the extent is only a lower bound;
5. each configuration is consistent when every axis seen on both sides matches its size within
   :data:`SIZE_TOLERANCE` and every cut axis is not already larger than it allows.  Exactly one
   consistent configuration is the measured ring; none or several: it cannot be measured.

A cut outline cannot be *sized*, but its lower bounds still decide when they exclude all
configurations but one (a ringed phantom filling a 250 mm field of view is at least 250 mm from
front to back; without the ring it is 200 mm): the evidence says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qa.numeric import median
from qa.phantom.definition import PhantomDefinition
from qa.phantom.filters import dilate_cross, fill_holes, gaussian_2d, label_4, open_disk, sample_linear, sample_nearest
from qa.records.checks import NOT_AVAILABLE, PASS, WARN, Check
from qa.records.serialize import Record

RINGS = ("none", "large")  # what qa phantom --ring names
RING_CHOICES = RINGS + ("unspecified",)  # "unspecified": not given (measured from the image)
# Air reads -1000 HU (by definition of the Hounsfield scale).
AIR_HU = -1000.0
# Below this a pixel is padding outside the reconstructed field of view, not air (vendors pad
# with -2048 (Canon), -3024 (Siemens, GE) or -2000; air itself reads about -1000 HU).  Our choice.
PADDING_BELOW_HU = -1500.0
# The outline's level between air and the phantom is kept within these limits: above air's
# noise (-1000 +- a few tens of HU) and below soft tissue (our choice).
OUTLINE_HU_RANGE = (-925.0, -300.0)
# The configurations' outlines differ by 100 mm (a third of the phantom) on each axis.  A size
# within 10 % of a configuration's nominal one matches it: room for a real phantom's deviation
# from the nominal ellipses and for the edge blur, never enough to mistake one for the other
# (our proposal).
SIZE_TOLERANCE = 0.10
# Rays, the cone of rays that see a side, and the neighbours that must be seen around its extreme.
RAY_STEP_DEG = 2.0
SIDE_CONE_DEG = 60.0
SEEN_NEIGHBOURS = 3
# Thin attachments (a table top, pads, cables) touching the phantom are cut off by an opening of
# this radius; the phantom's outline (radii of curvature >= 50 mm) is unchanged by it.  Our choice.
OPENING_RADIUS_MM = 6.0
# Pixels this close to the field of view's edge count as at its edge (the edge blur of the smoothing).
FOV_EDGE_MM = 3.0
# The edge is searched this far inside the first sample outside the phantom.
EDGE_SEARCH_MM = 8.0
# Slices averaged (spread over the insert's z-range) and the working grid.
N_SLICES = 5
GRID_MM = 1.0

SIDES = (("right", 180.0), ("left", 0.0), ("anterior", -90.0), ("posterior", 90.0))  # +x is the patient's left, +y posterior


@dataclass(frozen=True)
class RingOutline(Record):
    """The outline a configuration should show: its size LR x AP in mm (from the definition)."""

    ring: str  # "none" | "large"
    size_mm: tuple[float, float]  # LR, AP


@dataclass(frozen=True)
class RingMeasurement(Record):
    """The body outline measured in the image and the ring configuration it matches.

    ``size_mm`` is null on an axis the field of view cuts (the outline leaves the image there);
    ``at_least_mm`` holds the extent seen (equal to the size where measured, a lower bound where
    cut).  ``ring`` is the one configuration consistent with both, else None (cannot be measured)."""

    ring: str | None
    size_mm: tuple[float | None, float | None]  # LR, AP
    at_least_mm: tuple[float, float]  # LR, AP seen
    cut_sides: tuple[str, ...]  # where the outline runs out of the field of view: right, left, anterior, posterior
    expected: tuple[RingOutline, ...]
    consistent: tuple[str, ...]  # the configurations the evidence allows
    tolerance_pct: float
    evidence: str  # one sentence: what was seen and why it decides (or does not)


@dataclass(frozen=True)
class PhantomRing(Record):
    """The ring a run is configured with, and where that came from.

    ``source``: ``measured`` (from the image), ``given`` (qa phantom --ring, an override of the
    image when they disagree) or ``unknown`` (not given, and the image cannot tell)."""

    ring: str  # none | large | unspecified: what the configuration and the baseline key on
    source: str  # measured | given | unknown
    given: str  # what --ring said: none | large | unspecified
    measurement: RingMeasurement
    contradiction: str | None = None  # the warning when the given ring contradicts the image

    def check(self) -> Check:
        """The ``ring_from_image`` check: the image agrees, contradicts (warn), or cannot tell."""
        m = self.measurement
        source = {"rule": "ring.measured_from_outline", "tolerance_pct": m.tolerance_pct, "given": self.given}
        if m.ring is None:
            fallback = f"--ring {self.given} is used" if self.source == "given" else "the ring is unknown (give --ring none|large)"
            return Check("ring_from_image", NOT_AVAILABLE, None, self.given if self.source == "given" else None,
                         f"the ring cannot be measured from the image ({m.evidence}): {fallback}", source)
        if self.contradiction:
            return Check("ring_from_image", WARN, m.ring, self.given, self.contradiction, source)
        said = f"confirms --ring {self.given}" if self.source == "given" else "measured"
        return Check("ring_from_image", PASS, m.ring, m.ring, f"ring {m.ring} {said}: {m.evidence}", source)


def expected_outlines(definition: PhantomDefinition) -> tuple[RingOutline, ...]:
    """The outline size of each configuration: the extent of the union of its body ellipses."""
    out = []
    for ring in RINGS:
        parts = [p for p in definition.body if ring == "large" or not p.only_with_ring]
        if ring == "large" and not any(p.only_with_ring for p in definition.body):
            continue  # this phantom has no ring
        if not parts:
            continue
        lr = max(p.center_mm[0] + p.size_mm[0] / 2 for p in parts) - min(p.center_mm[0] - p.size_mm[0] / 2 for p in parts)
        ap = max(p.center_mm[1] + p.size_mm[1] / 2 for p in parts) - min(p.center_mm[1] - p.size_mm[1] / 2 for p in parts)
        out.append(RingOutline(ring, (float(lr), float(ap))))
    return tuple(out)


def measure_ring(hu: np.ndarray, geometry, definition: PhantomDefinition, *, center_mm: tuple[float, float],
                 slices: tuple[int, int]) -> RingMeasurement:
    """The body outline of ``hu`` (slices, rows, columns) around ``center_mm`` (the insert axis,
    patient x, y) over the slice range ``slices`` (first, last), and the configuration it matches."""
    expected = expected_outlines(definition)
    tolerance_pct = 100.0 * SIZE_TOLERANCE
    if not expected:
        return RingMeasurement(None, (None, None), (0.0, 0.0), (), (), (), tolerance_pct,
                               "the phantom definition describes no body outline ([[body]])")
    # Halfway between air and the least dense body part (-900 HU for lung-equivalent -800 HU), kept
    # clear of air's noise below and of tissue above.
    threshold = float(np.clip((AIR_HU + min(p.hu for p in definition.body)) / 2.0, OUTLINE_HU_RANGE[0], OUTLINE_HU_RANGE[1]))
    # The outer wall: the least dense part of the largest outline (30-40 HU for the QRM thorax and ring).
    outer = min(p.hu for p in definition.body if max(p.size_mm) >= 0.9 * max(max(q.size_mm) for q in definition.body))
    sides = _outline_sides(np.asarray(hu), geometry, center_mm, slices, threshold, (AIR_HU + max(outer, threshold)) / 2.0)
    if sides is None:
        return RingMeasurement(None, (None, None), (0.0, 0.0), (), expected, (), tolerance_pct,
                               "no phantom body around the insert axis")
    extent = {name: value for name, (value, _) in sides.items()}
    cut = tuple(name for name, (_, seen) in sides.items() if not seen)
    at_least = (round(extent["right"] + extent["left"], 1), round(extent["anterior"] + extent["posterior"], 1))
    size = (None if {"right", "left"} & set(cut) else at_least[0], None if {"anterior", "posterior"} & set(cut) else at_least[1])
    consistent = tuple(o.ring for o in expected if _consistent(o, size, at_least))
    ring = consistent[0] if len(consistent) == 1 else None
    evidence = _evidence(size, at_least, cut, expected, consistent)
    return RingMeasurement(ring, size, at_least, cut, expected, consistent, tolerance_pct, evidence)


def resolve_ring(given: str, measurement: RingMeasurement) -> PhantomRing:
    """The ring a run uses: the measured one unless ``given`` (then an override, with a warning
    when the image contradicts it); ``unspecified`` when neither tells."""
    measured = measurement.ring
    if given in RINGS:
        contradiction = None
        if measured is not None and measured != given:
            contradiction = (f"--ring {given} contradicts the image, which shows the phantom {_with(measured)} "
                             f"({measurement.evidence}); the given ring is used (an override): check the set-up or the --ring value")
        return PhantomRing(given, "given", given, measurement, contradiction)
    if measured is not None:
        return PhantomRing(measured, "measured", given, measurement)
    return PhantomRing("unspecified", "unknown", given, measurement)


def determine_ring(hu: np.ndarray, geometry, definition: PhantomDefinition, *, given: str, slice_thickness_mm: float) -> PhantomRing:
    """The ring of a phantom scan before its full analysis (the baseline is chosen by it): the
    insert axis and slices from the locator's first step (as :func:`qa.phantom.locate.locate_phantom`
    finds them), then :func:`measure_ring` and :func:`resolve_ring`."""
    from qa.phantom.locate.insert import find_insert

    hu = np.asarray(hu)
    z = np.asarray(geometry.image_positions_mm, dtype=float)[:, 2]
    increment = float(abs(median(np.diff(z)))) if hu.shape[0] > 1 else slice_thickness_mm
    (cx, cy), _, slices, _, _ = find_insert(hu, geometry, definition, increment)
    return resolve_ring(given, measure_ring(hu, geometry, definition, center_mm=(cx, cy), slices=slices))


# --------------------------------------------------------------------------------------------


def _with(ring: str) -> str:
    return "without a ring" if ring == "none" else f"with the {ring} ring"


def _consistent(outline: RingOutline, size, at_least) -> bool:
    for measured, seen, nominal in zip(size, at_least, outline.size_mm):
        allowed = SIZE_TOLERANCE * nominal
        if measured is not None and abs(measured - nominal) > allowed:
            return False
        if measured is None and seen > nominal + allowed:
            return False
    return True


def _evidence(size, at_least, cut, expected, consistent) -> str:
    def axis(i: int) -> str:
        return f"{size[i]:.0f}" if size[i] is not None else f">= {at_least[i]:.0f} (cut)"

    seen = f"outline {axis(0)} x {axis(1)} mm (LR x AP)"
    if len(cut) == len(SIDES):
        seen += ", cut by the field of view on every side"
    elif cut:
        seen += f", cut by the field of view on the {' and '.join(cut)} side{'s' if len(cut) > 1 else ''}"
    nominal = "; ".join(f"{o.ring}: {o.size_mm[0]:.0f} x {o.size_mm[1]:.0f} mm" for o in expected)
    if len(consistent) == 1:
        how = "matches" if all(s is not None for s in size) else "consistent only with"
        return f"{seen}: {how} {consistent[0]} ({nominal})"
    if not consistent:
        return f"{seen}: matches no configuration ({nominal}, +-{100 * SIZE_TOLERANCE:g} %)"
    return f"{seen}: cannot tell {' from '.join(consistent)} apart ({nominal})"


def _outline_sides(hu, geometry, center_mm, slices, threshold, edge_level):
    """Per side: (extent in mm from the centre, seen) — None when no body surrounds the centre."""
    first, last = int(slices[0]), int(slices[1])
    picks = sorted({int(round(v)) for v in np.linspace(first + 0.2 * (last - first), last - 0.2 * (last - first), N_SLICES)})
    stack = hu[picks].astype(np.float32)
    image = stack.mean(axis=0)
    valid = (stack > PADDING_BELOW_HU).all(axis=0)
    image[~valid] = AIR_HU  # padding reads as air (no bright-dark ringing from the smoothing), marked apart
    dr, dc = geometry.pixel_spacing_mm
    f = max(1, int(round(GRID_MM / math.sqrt(dr * dc))))
    rows, cols = (image.shape[0] // f) * f, (image.shape[1] // f) * f
    grid = image[:rows, :cols].reshape(rows // f, f, cols // f, f).mean(axis=(1, 3))
    grid_valid = valid[:rows, :cols].reshape(rows // f, f, cols // f, f).all(axis=(1, 3))
    pixel = math.sqrt(dr * dc) * f
    smooth = gaussian_2d(grid, GRID_MM / pixel, mode="nearest")  # 1 mm
    # The field of view's edge: padding and the image's own border, widened by the smoothing's blur.
    edge = np.pad(~grid_valid, 1, constant_values=True)
    edge = dilate_cross(edge, max(1, int(round(FOV_EDGE_MM / pixel))))[1:-1, 1:-1]
    body = fill_holes(smooth > threshold)
    radius = max(1, int(round(OPENING_RADIUS_MM / pixel)))
    body = open_disk(body, radius)
    # Index of the centre on the grid, and the map from patient mm to grid indices.
    i0, j0 = geometry.index_of(center_mm[0], center_mm[1], picks[0])
    gi, gj = (i0 - (f - 1) / 2) / f, (j0 - (f - 1) / 2) / f
    labels, _ = label_4(body)
    ci, cj = int(round(gi)), int(round(gj))
    if not (0 <= ci < labels.shape[0] and 0 <= cj < labels.shape[1]) or labels[ci, cj] == 0:
        return None
    body = labels == labels[ci, cj]
    ex, ey = geometry.index_of(center_mm[0] + 1.0, center_mm[1], picks[0])
    fx, fy = geometry.index_of(center_mm[0], center_mm[1] + 1.0, picks[0])
    per_mm = np.array([[(ex - i0) / f, (fx - i0) / f], [(ey - j0) / f, (fy - j0) / f]])  # (row, col) per mm of (x, y)
    angles = np.radians(np.arange(0.0, 360.0, RAY_STEP_DEG))
    step = pixel / 2
    radii = np.arange(0.0, math.hypot(*body.shape) * pixel + 2 * pixel, step)
    dx, dy = np.outer(np.cos(angles), radii), np.outer(np.sin(angles), radii)
    ri, rj = gi + per_mm[0, 0] * dx + per_mm[0, 1] * dy, gj + per_mm[1, 0] * dx + per_mm[1, 1] * dy
    inside = sample_nearest(body.astype(np.float32), ri, rj, outside=0.0) > 0.5
    exit_index = np.maximum(np.argmax(~inside, axis=1), 1)  # the first sample outside the phantom on each ray
    rays = np.arange(len(angles))
    beside_exit = exit_index[:, None] - np.array([1, 0])  # the last sample inside and the exit
    at_edge = sample_nearest(edge.astype(np.float32), ri[rays[:, None], beside_exit], rj[rays[:, None], beside_exit], outside=1.0)
    cut = (at_edge > 0.5).any(axis=1)
    # The profile just inside each exit (sampled only there: the rest of each ray is not needed).
    back = max(2, int(round(EDGE_SEARCH_MM / step)))
    first = np.maximum(exit_index - back, 0)
    window = np.minimum(first[:, None] + np.arange(back + 1), ri.shape[1] - 1)
    values = sample_linear(smooth, ri[rays[:, None], window], rj[rays[:, None], window])
    r_edge = np.empty(len(angles))
    for k, e in enumerate(exit_index):
        e = int(e)
        # The edge itself: where the profile crosses halfway between air and the outer wall, just
        # inside the exit (the exit's own level, near air, lies outside the blurred edge).
        profile = values[k, : e + 1 - first[k]]
        above = np.flatnonzero(profile >= edge_level)
        if above.size:
            i = int(above[-1])
            a, b = profile[i], profile[i + 1] if i + 1 < profile.size else profile[i]
            t = (a - edge_level) / (a - b) if a > b else 0.0
            r_edge[k] = radii[first[k] + i] + t * step
        else:
            r_edge[k] = radii[e - 1]
    out = {}
    degrees = np.degrees(angles)
    for name, direction in SIDES:
        offset = (degrees - direction + 180.0) % 360.0 - 180.0
        cone = np.flatnonzero(np.abs(offset) <= SIDE_CONE_DEG)
        projection = r_edge[cone] * np.cos(np.radians(offset[cone]))
        best = int(cone[int(np.argmax(projection))])
        near = [(best + d) % len(angles) for d in range(-SEEN_NEIGHBOURS, SEEN_NEIGHBOURS + 1)]
        out[name] = (float(projection.max()), not cut[near].any())
    return out
