"""Find the calcium insert, its calibration rods and its nine calcifications in a CT volume.

No clicks, no fixed angles.  Arrays in, a record out.  The steps:

1. **The insert**: on a ~3 mm grid, the deepest point of the non-lung tissue (HU > -400; distance
   to the nearest lung or air pixel) is the insert axis when that depth matches the insert's
   radius.  The axis is refined by fitting a circle to the tissue/lung edge found along rays from
   the axis (rays that run into the thorax wall or the spine are discarded as outliers).
2. **The rod slab**: slices with a large bright area (the 20 mm HA-200 rod) inside the insert.
3. **The calcification slab**: at the definition's distance from the rod slab (either side), the
   slices with the most calcium-like excess HU.
4. **The spokes**: in a maximum-intensity projection of that slab, the large inserts are the
   brightest blob-sized maxima on the outer ring; their measured brightness tells the densities
   apart (never the angle), their angles give the rotation and whether the phantom is mirrored
   (feet-first).  Medium and small inserts are searched near their expected positions on the
   spokes; one that is not seen keeps its expected position and is marked not found.
5. **The rods**: the HA-200 rod as the bright disk of the rod slab, the water rod as the dark
   rod-sized spot near its expected position in the slab's mean image.

Everything works on a crop around the insert.  Lengths in mm, positions in DICOM patient
coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from qa.errors import InputError
from qa.records.serialize import Record
from qa.phantom.definition import Cylinder, PhantomDefinition

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


@dataclass(frozen=True)
class PhantomLocation(Record):
    """Where the phantom is in a volume."""

    phantom_id: str
    insert_center_mm: tuple[float, float]  # the insert axis, in-plane
    insert_radius_mm: float  # radius of the fitted tissue cylinder (the insert with its holder)
    insert_hu: float  # median HU of the insert material
    insert_slices: tuple[int, int]  # first and last slice index holding the insert
    calcification_slab_z_mm: float
    rod_slab_z_mm: float
    rod_slices: tuple[int, ...]  # slices fully inside the rods, used for the calibration
    rotation_deg: float  # angle of the densest spoke minus its nominal angle
    mirrored: bool  # spokes run the other way round (e.g. feet-first)
    objects: tuple[LocatedObject, ...]
    notes: tuple[str, ...] = field(default=())

    def object(self, object_id: str) -> LocatedObject:
        for obj in self.objects:
            if obj.id == object_id:
                return obj
        raise KeyError(object_id)


class _Plane:
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
        return _box(self.geometry, cx, cy, half_mm, (self.rows, self.cols))


def _box(geometry, cx: float, cy: float, half_mm: float, within: tuple[slice, slice]) -> tuple[slice, slice]:
    """Rows and columns (relative to ``within``) covering a square around (cx, cy)."""
    i, j = geometry.index_of(cx, cy)
    dr, dc = geometry.pixel_spacing_mm
    r0, r1 = within[0].start or 0, within[0].stop
    c0, c1 = within[1].start or 0, within[1].stop
    rows = (max(r0, int(math.floor(i - half_mm / dr))), min(r1, int(math.ceil(i + half_mm / dr)) + 1))
    cols = (max(c0, int(math.floor(j - half_mm / dc))), min(c1, int(math.ceil(j + half_mm / dc)) + 1))
    return slice(rows[0] - r0, max(rows[0], rows[1]) - r0), slice(cols[0] - c0, max(cols[0], cols[1]) - c0)


def _refuse(message: str, hint: str = "pass a scan of the phantom the procedure names (see qa phantom --help)") -> InputError:
    return InputError(None, None, message, hint=hint)


def _angle_diff(a: float, b: float) -> float:
    """a - b wrapped to (-180, 180]."""
    d = (a - b + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


def locate_phantom(
    hu: np.ndarray,
    geometry,
    definition: PhantomDefinition,
    *,
    slice_thickness_mm: float,
) -> PhantomLocation:
    """Locate ``definition``'s insert, rods and calcifications in ``hu`` (slices, rows, columns).

    ``geometry`` maps indices to patient coordinates (:class:`qa.records.volume.SliceGeometry`).
    Raises :class:`qa.errors.InputError` when the volume does not hold this phantom.
    """
    hu = np.asarray(hu)
    n_slices = hu.shape[0]
    z = np.asarray(geometry.image_positions_mm, dtype=float)[:, 2]
    increment = float(abs(np.median(np.diff(z)))) if n_slices > 1 else slice_thickness_mm
    notes: list[str] = []

    # 1. The insert axis, then a crop around it.
    (cx, cy), radius, insert_slices, insert_hu, crop = _find_insert(hu, geometry, definition, increment)
    plane = _Plane(geometry, *crop)
    sub = hu[:, crop[0], crop[1]]
    r_map = plane.distance(cx, cy)
    inner = r_map < definition.insert_diameter_mm / 2 - 3.0

    # 2. The rod slab: a large bright disk (the HA rod) inside the insert.
    ha_rod = max(definition.rods, key=lambda r: r.density_mgha_cm3)
    rod_contrast = definition.hu_model.hu(ha_rod.density_mgha_cm3, 120.0) - definition.hu_model.water_equivalent_hu
    bright_threshold = insert_hu + 0.5 * rod_contrast
    first, last = insert_slices
    # Every second pixel in each direction: areas of rods and calcifications are still well sampled.
    inside = sub[first : last + 1, ::2, ::2][:, inner[::2, ::2]]  # (slices, sampled pixels inside the insert)
    bright_area = np.zeros(n_slices)
    bright_area[first : last + 1] = np.count_nonzero(inside > bright_threshold, axis=1) * 4 * plane.pixel_mm**2
    rod_area = math.pi * (ha_rod.diameter_mm / 2) ** 2
    rod_candidates = np.flatnonzero(bright_area > 0.4 * rod_area)
    if rod_candidates.size == 0:
        raise _refuse(
            f"no calibration rod found: no slice of the insert holds a {ha_rod.diameter_mm:g} mm disk brighter "
            f"than {bright_threshold:.0f} HU (the {ha_rod.density_mgha_cm3:g} mg HA/cm3 rod)",
            hint="the scan must cover the rod section of the insert; check the scan range",
        )
    runs = np.split(rod_candidates, np.flatnonzero(np.diff(rod_candidates) > 1) + 1)
    rod_run = max(runs, key=lambda run: bright_area[run].sum())
    rod_z = float(np.average(z[rod_run], weights=bright_area[rod_run]))
    # Slices fully inside the rods (partial-volume ends excluded) for the calibration ROIs.
    half_inside = ha_rod.length_mm / 2 - slice_thickness_mm / 2 - 1.0
    rod_slices = tuple(int(k) for k in rod_run if abs(z[k] - rod_z) <= max(half_inside, 0.0))
    if not rod_slices:
        rod_slices = (int(rod_run[np.argmax(bright_area[rod_run])]),)
        notes.append("the rods are shorter than a slice is thick: the calibration uses the brightest rod slice")

    # 3. The calcification slab, at the definition's distance from the rod slab.
    sizes = sorted({c.diameter_mm for c in definition.calcifications}, reverse=True)
    calc_def_z = float(np.mean([c.z_mm for c in definition.calcifications]))
    rod_gap = abs(ha_rod.z_mm - calc_def_z)
    excess = np.zeros(n_slices)
    calc_threshold = insert_hu + 80.0
    over = np.clip(inside - calc_threshold, 0.0, None).sum(axis=1)
    for k in range(first, last + 1):
        if abs(abs(z[k] - rod_z) - rod_gap) <= 12.0:
            excess[k] = float(over[k - first])
    if not np.any(excess > 0):
        raise _refuse(
            f"no calcifications found about {rod_gap:g} mm from the calibration rods",
            hint="the scan must cover the calcification section of the insert; check the scan range",
        )
    k_peak = int(np.argmax(excess))
    reach = max(sizes[0] / 2 + slice_thickness_mm / 2, increment)
    near = [k for k in range(n_slices) if abs(z[k] - z[k_peak]) <= reach and excess[k] > 0]
    calc_z = float(np.average(z[near], weights=excess[near]))
    _require_coverage(z, calc_z, max(c.length_mm for c in definition.calcifications), slice_thickness_mm, increment)

    # 4. The spokes, from a maximum-intensity projection of the calcification slab.
    half_slab = sizes[0] / 2 + slice_thickness_mm / 2 + 0.5
    slab = [k for k in range(n_slices) if abs(z[k] - calc_z) <= max(half_slab, increment / 2 + 0.01)]
    mip = sub[slab].max(axis=0).astype(np.float64)
    objects, rotation, mirrored = _find_calcifications(mip, plane, (cx, cy), definition, insert_hu, calc_z, r_map)
    _confirm_calcifications(objects, definition, sub, z, calc_z, plane, insert_hu, slice_thickness_mm, insert_slices)

    # 5. The rods.
    mean_image = np.mean(sub[list(rod_slices)], axis=0, dtype=np.float64)
    rod_objects = _find_rods(mean_image, plane, (cx, cy), definition, insert_hu, rotation, mirrored, rod_z)
    ha_found = next(o for o in rod_objects if o.id == ha_rod.id)
    if not ha_found.found or ha_found.contrast_hu < MIN_ROD_CONTRAST_FRACTION * rod_contrast:
        measured = "not seen" if not ha_found.found else f"{ha_found.contrast_hu:.0f} HU above the insert"
        raise _refuse(
            f"not a {definition.name}: the {ha_rod.id} rod ({ha_rod.density_mgha_cm3:g} mg HA/cm3) is {measured} "
            f"where the calcifications put it; at least {MIN_ROD_CONTRAST_FRACTION * rod_contrast:.0f} HU expected",
        )

    return PhantomLocation(
        phantom_id=definition.id,
        insert_center_mm=(cx, cy),
        insert_radius_mm=radius,
        insert_hu=insert_hu,
        insert_slices=insert_slices,
        calcification_slab_z_mm=calc_z,
        rod_slab_z_mm=rod_z,
        rod_slices=rod_slices,
        rotation_deg=rotation,
        mirrored=mirrored,
        objects=tuple(objects + rod_objects),
        notes=tuple(notes),
    )


def _require_coverage(z: np.ndarray, calc_z: float, length_mm: float, thickness_mm: float, increment_mm: float) -> None:
    """Refuse a scan that clips the calcification slab: the inserts would be scored in part."""
    needed = length_mm / 2 + thickness_mm / 2 - increment_mm / 2
    below, above = calc_z - float(z.min()), float(z.max()) - calc_z
    if min(below, above) < needed - 1e-6:
        side = "starts" if below < above else "ends"
        raise _refuse(
            f"the scan {side} {min(below, above):.1f} mm from the centre of the calcification slab (z {calc_z:.1f} mm): "
            f"the {length_mm:g} mm inserts are cut off (at least {needed:.1f} mm either side is needed)",
            hint="scan the whole calcification section of the insert (extend the scan range) and run again",
        )


def _confirm_calcifications(objects, definition, sub, z, calc_z, plane, insert_hu, thickness_mm, insert_slices) -> None:
    """Refuse a volume whose 'large calcifications' do not behave like this phantom's.

    They must all be seen, their contrasts must rise with their density roughly in proportion,
    and they must end along z (short cylinders, not vessels or wires running through the scan).
    """
    sizes = sorted({c.diameter_mm for c in definition.calcifications}, reverse=True)
    largest = sorted((c for c in definition.calcifications if c.diameter_mm == sizes[0]), key=lambda c: c.density_mgha_cm3)
    by_id = {o.id: o for o in objects}
    unseen = [c.id for c in largest if not by_id[c.id].found]
    if unseen:
        raise _refuse(f"not a {definition.name}: the large calcification(s) {', '.join(unseen)} are not seen where the spokes put them")
    contrasts = [by_id[c.id].contrast_hu for c in largest]
    if len(largest) >= 2 and largest[0].density_mgha_cm3 > 0:
        density_ratio = largest[-1].density_mgha_cm3 / largest[0].density_mgha_cm3
        ratio = contrasts[-1] / contrasts[0]
        rising = all(b > a for a, b in zip(contrasts, contrasts[1:]))
        if not rising or ratio < MIN_CONTRAST_RATIO_FRACTION * density_ratio:
            listing = ", ".join(f"{c.id} {v:.0f} HU" for c, v in zip(largest, contrasts))
            raise _refuse(
                f"not a {definition.name}: the contrasts of the large calcifications ({listing}) do not rise with their "
                f"density ({density_ratio:g}:1 nominal; at least {MIN_CONTRAST_RATIO_FRACTION * density_ratio:g}:1 needed)",
            )
    first, last = insert_slices
    for cyl in largest:
        obj = by_id[cyl.id]
        lo = cyl.length_mm / 2 + thickness_mm / 2 + 1.5
        window = plane.box(obj.center_mm[0], obj.center_mm[1], cyl.diameter_mm / 2)
        disk = np.hypot(plane.x[window] - obj.center_mm[0], plane.y[window] - obj.center_mm[1]) <= 0.3 * cyl.diameter_mm
        if not disk.any():
            continue
        sides = []
        for sign in (-1.0, 1.0):
            ks = [k for k in range(first, last + 1) if lo <= sign * (z[k] - calc_z) <= lo + 5.0]
            if ks:
                sides.append(float(np.mean([sub[k][window][disk].mean() for k in ks])) - insert_hu)
        if sides and min(sides) > MAX_END_CONTRAST_FRACTION * obj.contrast_hu:
            raise _refuse(
                f"not a {definition.name}: the bright object taken for the {cyl.id} calcification does not end along z "
                f"({min(sides):.0f} HU above the insert {lo:.1f} mm beyond its centre): a vessel or rod, not a calcification",
            )


def _find_insert(hu: np.ndarray, geometry, definition: PhantomDefinition, increment: float):
    """Insert axis (x, y), fitted radius, first/last slice, median HU of its material, and crop."""
    n_slices, rows, cols = hu.shape
    pixel_mm = math.sqrt(geometry.pixel_spacing_mm[0] * geometry.pixel_spacing_mm[1])
    whole = (slice(0, rows), slice(0, cols))
    target_radius = definition.insert_diameter_mm / 2
    factor = max(1, int(round(3.0 / pixel_mm)))  # a ~3 mm grid is plenty to find a 100 mm cylinder
    # The deepest-point search on about four slices spread over the volume (every >= 6 mm).
    step = max(1, int(round(6.0 / increment)), n_slices // 4)
    hits: list[tuple[int, float, float]] = []
    for k in range(step // 2, n_slices, step):
        # Every factor-th pixel: tissue (~0-100 HU) and lung (~-800 HU) differ by far more than noise.
        small = hu[k, ::factor, ::factor]
        depth = ndimage.distance_transform_edt(np.pad(small > TISSUE_HU, 1))[1:-1, 1:-1] * pixel_mm * factor
        i, j = np.unravel_index(int(np.argmax(depth)), depth.shape)
        if 0.8 * target_radius <= depth[i, j] <= 1.35 * target_radius:
            p = geometry.to_patient(0.0, i * factor, j * factor)
            hits.append((k, float(p[0]), float(p[1])))
    if not hits:
        raise _refuse(
            f"no {definition.name} found: no slice holds a tissue cylinder of about "
            f"{definition.insert_diameter_mm:g} mm diameter surrounded by lung-equivalent material",
        )
    xy = np.array([(x, y) for _, x, y in hits])
    cx, cy = (float(v) for v in np.median(xy, axis=0))
    consistent = [k for (k, x, y) in hits if math.hypot(x - cx, y - cy) < 10.0]
    # The insert's slices: the core of the cylinder is tissue (a cheap test on every slice, on a
    # sparse sample of the core's pixels).
    core_box = _box(geometry, cx, cy, 0.6 * target_radius, whole)
    core_plane = _Plane(geometry, *core_box)
    sparse = (slice(core_box[0].start, core_box[0].stop, 2), slice(core_box[1].start, core_box[1].stop, 2))
    core = (core_plane.distance(cx, cy) < 0.6 * target_radius)[::2, ::2]
    fraction = (hu[:, sparse[0], sparse[1]][:, core] > TISSUE_HU).mean(axis=1)
    present = [int(k) for k in np.flatnonzero(fraction > 0.95)]
    if not present:
        raise _refuse(f"no {definition.name} found: the insert cylinder is not filled with tissue in any slice")
    first, last = min(present), max(present)
    middle = [k for k in present if first + (last - first) * 0.2 <= k <= last - (last - first) * 0.2] or consistent
    sample = middle[:: max(1, len(middle) // 8)]
    # Refine the axis: circle fit to the tissue edge along rays, outliers (connections) removed.
    fit_box = _box(geometry, cx, cy, 1.7 * target_radius, whole)
    fit_plane = _Plane(geometry, *fit_box)
    mean_image = np.mean([hu[k, fit_box[0], fit_box[1]] for k in sample], axis=0, dtype=np.float64)
    cx, cy, radius = _fit_edge_circle(mean_image, fit_plane, (cx, cy), target_radius)
    if abs(radius - target_radius) > INSERT_RADIUS_TOLERANCE * target_radius:
        raise _refuse(
            f"no {definition.name} found: the tissue cylinder in lung-equivalent material has a diameter of "
            f"{2 * radius:.0f} mm, the insert's is {definition.insert_diameter_mm:g} mm "
            f"(+-{100 * INSERT_RADIUS_TOLERANCE:g} %)",
        )
    # Crop around the insert for everything that follows.
    crop = _box(geometry, cx, cy, target_radius * 1.25, whole)
    plane = _Plane(geometry, *crop)
    material = plane.distance(cx, cy) < 0.95 * target_radius
    # Median over a sparse sample of the insert material (every third pixel of a few slices).
    insert_hu = float(np.median(np.stack([hu[k, crop[0], crop[1]][::3, ::3] for k in sample])[:, material[::3, ::3]]))
    if not -100.0 <= insert_hu <= 250.0:
        raise _refuse(f"the cylinder found reads {insert_hu:.0f} HU: not the tissue-equivalent insert of {definition.name}")
    return (cx, cy), radius, (first, last), insert_hu, crop


def _fit_edge_circle(image: np.ndarray, plane: _Plane, start: tuple[float, float], radius: float):
    """Circle through the tissue/lung edge along 120 rays from ``start``; outlier rays dropped."""
    cx, cy = start
    step = plane.pixel_mm * 0.75
    radii = np.arange(0.5 * radius, 1.6 * radius, step)
    angles = np.radians(np.arange(0.0, 360.0, 3.0))
    # Sample along the rays (bilinear): rows/cols from patient x, y through the pixel grid.
    x0, y0 = plane.x[0, 0], plane.y[0, 0]
    dx_col = plane.x[0, 1] - x0 if plane.x.shape[1] > 1 else plane.pixel_mm
    dy_col = plane.y[0, 1] - y0 if plane.x.shape[1] > 1 else 0.0
    dx_row = plane.x[1, 0] - x0 if plane.x.shape[0] > 1 else 0.0
    dy_row = plane.y[1, 0] - y0 if plane.x.shape[0] > 1 else plane.pixel_mm
    det = dx_col * dy_row - dx_row * dy_col
    for _ in range(2):
        px = cx + np.outer(np.cos(angles), radii)
        py = cy + np.outer(np.sin(angles), radii)
        # Solve [dx_col dx_row; dy_col dy_row] [j; i] = [px - x0; py - y0]
        j = ((px - x0) * dy_row - (py - y0) * dx_row) / det
        i = ((py - y0) * dx_col - (px - x0) * dy_col) / det
        profile = ndimage.map_coordinates(image, [i.ravel(), j.ravel()], order=1, mode="nearest").reshape(px.shape)
        below = profile < TISSUE_HU
        has_edge = below.any(axis=1)
        first_below = np.argmax(below, axis=1)
        r_edge = radii[first_below]
        keep = has_edge & (first_below > 0)
        if keep.sum() < 15:
            return cx, cy, radius
        ex = cx + r_edge[keep] * np.cos(angles[keep])
        ey = cy + r_edge[keep] * np.sin(angles[keep])
        # Robust circle fit: least squares, drop rays more than 2 mm off, fit again.
        fit = _circle_fit(ex, ey)
        residual = np.abs(np.hypot(ex - fit[0], ey - fit[1]) - fit[2])
        good = residual < max(2.0, 2.0 * np.median(residual))
        if good.sum() >= 15:
            fit = _circle_fit(ex[good], ey[good])
        cx, cy, fitted_radius = fit
    return float(cx), float(cy), float(fitted_radius)


def _circle_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Algebraic least-squares circle (Kasa fit)."""
    a = np.column_stack([x, y, np.ones_like(x)])
    b = x**2 + y**2
    sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = sol[0] / 2, sol[1] / 2
    return float(cx), float(cy), float(math.sqrt(max(sol[2] + cx**2 + cy**2, 0.0)))


def _find_calcifications(mip, plane, axis, definition, insert_hu, calc_z, r_map):
    """The calcifications from a MIP of their slab: spokes by brightness, then along them."""
    cx, cy = axis
    sizes = sorted({c.diameter_mm for c in definition.calcifications}, reverse=True)
    largest = [c for c in definition.calcifications if c.diameter_mm == sizes[0]]
    r_large = float(np.mean([c.radius_mm for c in largest]))
    kernel_r = max(1, int(round(sizes[0] / 2 / plane.pixel_mm)))
    # Matched filter for the large inserts: the mean over a square of their cross-section's area.
    side = max(1, int(round(math.sqrt(math.pi) * kernel_r)))
    smooth = ndimage.uniform_filter(mip, size=side, mode="nearest")
    ring = (r_map > r_large - 10.0) & (r_map < r_large + 10.0)
    local_max = (smooth == ndimage.maximum_filter(smooth, size=2 * kernel_r + 1)) & ring
    candidates = sorted(
        ((float(smooth[i, j]), float(plane.x[i, j]), float(plane.y[i, j])) for i, j in zip(*np.nonzero(local_max))),
        reverse=True,
    )
    picked: list[tuple[float, float, float]] = []
    for value, x, y in candidates:
        if value - insert_hu < MIN_CONTRAST_HU:
            break
        angle = math.degrees(math.atan2(y - cy, x - cx))
        if all(abs(_angle_diff(angle, math.degrees(math.atan2(py - cy, qx - cx)))) > 60.0 for _, qx, py in picked):
            picked.append((value, x, y))
        if len(picked) == len(largest):
            break
    if len(picked) < len(largest):
        raise _refuse(
            f"not a {definition.name}: found {len(picked)} of the {len(largest)} large calcifications on a ring of "
            f"radius about {r_large:g} mm around the insert axis",
        )
    angles = [math.degrees(math.atan2(y - cy, x - cx)) for _, x, y in picked]
    expected_spacing = 360.0 / len(largest)
    for a in range(len(angles)):
        closest = min(abs(_angle_diff(angles[a], angles[b])) for b in range(len(angles)) if b != a)
        if abs(closest - expected_spacing) > SPOKE_SPACING_TOLERANCE_DEG:
            raise _refuse(
                f"not a {definition.name}: the large calcifications are not {expected_spacing:g} degrees apart "
                f"(angles {', '.join(f'{v:.0f}' for v in angles)})",
            )
    # Densities by measured brightness: the brightest is the densest.
    ranked = sorted(zip(picked, angles), key=lambda pa: pa[0][0], reverse=True)
    by_density = sorted(largest, key=lambda c: c.density_mgha_cm3, reverse=True)
    spoke_angle = {c.density_mgha_cm3: a for c, (_, a) in zip(by_density, ranked)}
    radial_offset = {
        c.density_mgha_cm3: math.hypot(p[1] - cx, p[2] - cy) - c.radius_mm for c, (p, _) in zip(by_density, ranked)
    }
    densest = by_density[0]
    rotation = _angle_diff(spoke_angle[densest.density_mgha_cm3], densest.angle_deg)
    second = by_density[1]
    nominal = _angle_diff(second.angle_deg, densest.angle_deg)
    measured = _angle_diff(spoke_angle[second.density_mgha_cm3], spoke_angle[densest.density_mgha_cm3])
    mirrored = (nominal > 0) != (measured > 0)

    objects = []
    for cyl in definition.calcifications:
        angle = spoke_angle.get(cyl.density_mgha_cm3)
        if angle is None:  # a density without a large insert: place it by the layout
            angle = _expected_angle(cyl, densest, spoke_angle[densest.density_mgha_cm3], mirrored)
        radius = cyl.radius_mm + radial_offset.get(cyl.density_mgha_cm3, 0.0)
        ex = cx + radius * math.cos(math.radians(angle))
        ey = cy + radius * math.sin(math.radians(angle))
        found, x, y, contrast = _refine_blob(mip, plane, (ex, ey), cyl.diameter_mm, bright=True)
        objects.append(_located(cyl.id, "calcification", found, (x, y) if found else (ex, ey), calc_z, axis, contrast))
    return objects, rotation, mirrored


def _located(obj_id, kind, found, xy, z_mm, axis, contrast) -> LocatedObject:
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


def _expected_angle(cyl: Cylinder, reference: Cylinder, reference_angle: float, mirrored: bool) -> float:
    sign = -1.0 if mirrored else 1.0
    return reference_angle + sign * _angle_diff(cyl.angle_deg, reference.angle_deg)


def _refine_blob(image, plane, expected_xy, diameter_mm, *, bright: bool, sigmas: float = 5.0):
    """The object nearest the expected position (within a few mm): (found, x, y, contrast HU).

    Works on a small window: the image is smoothed to the object's size, the extreme inside the
    search radius is compared with the surrounding annulus and its noise, and the centre is the
    weighted centroid of the half-contrast blob around that extreme.
    """
    ex, ey = expected_xy
    # Small objects are searched closer to their expected place: noise specks are their size.
    radius = SEARCH_RADIUS_MM if diameter_mm > 1.5 else SMALL_SEARCH_RADIUS_MM
    reach = radius + diameter_mm + 4.0
    window = plane.box(ex, ey, reach + 2.0)
    if window[0].stop - window[0].start < 3 or window[1].stop - window[1].start < 3:
        return False, ex, ey, None
    img = image[window] if bright else -image[window]
    dist = np.hypot(plane.x[window] - ex, plane.y[window] - ey)
    sigma_px = max(0.5, diameter_mm / 4 / plane.pixel_mm)
    smooth = ndimage.gaussian_filter(img, sigma=sigma_px)
    search = dist <= radius + diameter_mm / 2
    annulus = (dist > radius + diameter_mm) & (dist <= reach)
    if not search.any() or annulus.sum() < 10:
        return False, ex, ey, None
    background = float(np.median(smooth[annulus]))
    # Robust noise (median absolute deviation): neighbouring rods in the annulus do not inflate it.
    noise = 1.4826 * float(np.median(np.abs(smooth[annulus] - background)))
    peak_index = np.unravel_index(int(np.argmax(np.where(search, smooth, -np.inf))), smooth.shape)
    contrast = float(smooth[peak_index]) - background
    if contrast < max(MIN_CONTRAST_HU if bright else 10.0, sigmas * noise):
        return False, ex, ey, None
    threshold = background + contrast / 2
    labels, _ = ndimage.label((smooth >= threshold) & (dist <= reach))
    member = labels == labels[peak_index]
    w = smooth[member] - threshold + 1e-9
    x = float(np.average(plane.x[window][member], weights=w))
    y = float(np.average(plane.y[window][member], weights=w))
    return True, x, y, contrast if bright else -contrast


def _find_rods(mean_image, plane, axis, definition, insert_hu, rotation, mirrored, rod_z):
    cx, cy = axis
    densest = max(definition.calcifications, key=lambda c: (c.density_mgha_cm3, c.diameter_mm))
    densest_angle = densest.angle_deg + rotation  # measured angle of the densest spoke
    out = []
    for rod in sorted(definition.rods, key=lambda r: -r.density_mgha_cm3):
        angle = _expected_angle(rod, densest, densest_angle, mirrored) if rod.radius_mm > 0 else 0.0
        ex = cx + rod.radius_mm * math.cos(math.radians(angle))
        ey = cy + rod.radius_mm * math.sin(math.radians(angle))
        bright = rod.density_mgha_cm3 > 0
        # Rods are large and averaged over the slab: 3 noise SDs of the smoothed image suffice.
        found, x, y, contrast = _refine_blob(mean_image, plane, (ex, ey), rod.diameter_mm * 0.6, bright=bright, sigmas=3.0)
        if found:
            # contrast against the insert material (the refinement measured it against its surroundings)
            window = plane.box(x, y, rod.diameter_mm / 2)
            r = np.hypot(plane.x[window] - x, plane.y[window] - y) < rod.diameter_mm / 2 * 0.6
            contrast = float(mean_image[window][r].mean()) - insert_hu
            found = contrast > MIN_CONTRAST_HU if bright else contrast < -10.0
        out.append(_located(rod.id, "rod", found, (x, y) if found else (ex, ey), rod_z, axis, contrast))
    return out
