"""Shared pieces of the phantom locator: tolerances, the in-plane pixel grid, located objects."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qa.errors import InputError
from qa.records.serialize import Record

# Tissue vs lung/air: lung-equivalent material reads about -800 HU, tissue about 0-100 HU.
TISSUE_HU = -400.0
# Search tolerances around the published, approximate layout (the issue asks for +-5 degrees and
# a few mm; these allow a little more).
SPOKE_SPACING_TOLERANCE_DEG = 15.0
SEARCH_RADIUS_MM = 4.0
SMALL_SEARCH_RADIUS_MM = 2.5
# A calcification or HA rod is "seen" when it stands this far above the insert material.
MIN_CONTRAST_HU = 40.0
# Identity checks (a scan that is not this phantom is refused, never scored).  Our own limits,
# read off the real Canon scan and the synthetic sweeps, with margin:
# the fitted insert radius (the real insert with its holder fits 55 mm for a 50 mm radius) ...
INSERT_RADIUS_TOLERANCE = 0.15
# ... the large calcifications' contrasts rise with density: densest / least dense at least this
# fraction of the density ratio (nominally 800/200 = 4; measured 4.6 real, 4.8 synthetic) ...
MIN_CONTRAST_RATIO_FRACTION = 0.5
# ... they are short cylinders: beyond their ends the excess HU at their centre falls below this
# fraction of their contrast (vessels or wires running along z do not) ...
MAX_END_CONTRAST_FRACTION = 0.35
# ... and the HA rod stands out by at least this fraction of its nominal contrast.
MIN_ROD_CONTRAST_FRACTION = 0.4


@dataclass(frozen=True)
class LocatedObject(Record):
    """A calcification or rod: where it is (found in the image, or expected from the layout)."""

    id: str
    kind: str
    center_mm: tuple[float, float, float]
    found: bool
    radius_from_axis_mm: float
    angle_deg: float
    contrast_hu: float | None  # measured excess over the insert material (None when not found)


class Plane:
    """Patient x, y of the pixel centres of a (cropped) axial slice."""

    def __init__(self, geometry, rows: slice, cols: slice):
        self.x, self.y = geometry.plane_xy(rows, cols)
        self.rows, self.cols = rows, cols
        self.geometry = geometry
        self.pixel_mm = math.sqrt(geometry.pixel_spacing_mm[0] * geometry.pixel_spacing_mm[1])

    def distance(self, cx: float, cy: float) -> np.ndarray:
        return np.hypot(self.x - cx, self.y - cy)

    def box(self, cx: float, cy: float, half_mm: float) -> tuple[slice, slice]:
        """Index ranges (within this plane) of the square of half-side ``half_mm`` around (cx, cy)."""
        return box(self.geometry, cx, cy, half_mm, (self.rows, self.cols))


def box(geometry, cx: float, cy: float, half_mm: float, within: tuple[slice, slice]) -> tuple[slice, slice]:
    """Rows and columns (relative to ``within``) covering a square around (cx, cy)."""
    i, j = geometry.index_of(cx, cy)
    dr, dc = geometry.pixel_spacing_mm
    r0, r1 = within[0].start or 0, within[0].stop
    c0, c1 = within[1].start or 0, within[1].stop
    rows = (max(r0, int(math.floor(i - half_mm / dr))), min(r1, int(math.ceil(i + half_mm / dr)) + 1))
    cols = (max(c0, int(math.floor(j - half_mm / dc))), min(c1, int(math.ceil(j + half_mm / dc)) + 1))
    return slice(rows[0] - r0, max(rows[0], rows[1]) - r0), slice(cols[0] - c0, max(cols[0], cols[1]) - c0)


def refuse(message: str, hint: str = "pass a scan of the phantom the procedure names (see qa phantom --help)") -> InputError:
    return InputError(None, None, message, hint=hint)


def angle_diff(a: float, b: float) -> float:
    """a - b wrapped to (-180, 180]."""
    d = (a - b + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


def located(obj_id, kind, found, xy, z_mm, axis, contrast) -> LocatedObject:
    x, y = xy
    return LocatedObject(
        id=obj_id,
        kind=kind,
        center_mm=(float(x), float(y), float(z_mm)),
        found=found,
        radius_from_axis_mm=math.hypot(x - axis[0], y - axis[1]),
        angle_deg=math.degrees(math.atan2(y - axis[1], x - axis[0])),
        contrast_hu=contrast if found else None,
    )
