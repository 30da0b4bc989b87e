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

from qa.numeric import median
from qa.records.serialize import Record
from qa.phantom.definition import PhantomDefinition
from qa.phantom.locate.common import (
    MAX_END_CONTRAST_FRACTION, MIN_CONTRAST_RATIO_FRACTION, MIN_ROD_CONTRAST_FRACTION, LocatedObject, Plane, refuse,
)
from qa.phantom.locate.insert import find_insert
from qa.phantom.locate.objects import find_calcifications, find_rods

__all__ = ["LocatedObject", "PhantomLocation", "locate_phantom"]


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
    increment = float(abs(median(np.diff(z)))) if n_slices > 1 else slice_thickness_mm
    notes: list[str] = []

    # 1. The insert axis, then a crop around it.
    (cx, cy), radius, insert_slices, insert_hu, crop = find_insert(hu, geometry, definition, increment)
    plane = Plane(geometry, *crop)
    sub = hu[:, crop[0], crop[1]]
    r_map = plane.distance(cx, cy)
    inner = r_map < definition.insert_diameter_mm / 2 - 3.0

    # 2. The rod slab: a large bright disk (the HA rod) inside the insert.
    ha_rod = max(definition.rods, key=lambda r: r.density_mgha_cm3)
    rod_contrast = definition.hu_model.hu(ha_rod.density_mgha_cm3, 120.0) - definition.hu_model.water_equivalent_hu
    bright_threshold = insert_hu + 0.5 * rod_contrast
    first, last = insert_slices
    # Every second pixel in each direction: areas of rods and calcifications are still well sampled.
    # (slices, sampled pixels inside the insert); float32 whatever the volume's type (qa.dicom.decode)
    inside = np.asarray(sub[first : last + 1, ::2, ::2][:, inner[::2, ::2]], dtype=np.float32)
    bright_area = np.zeros(n_slices)
    bright_area[first : last + 1] = np.count_nonzero(inside > bright_threshold, axis=1) * 4 * plane.pixel_mm**2
    rod_area = math.pi * (ha_rod.diameter_mm / 2) ** 2
    rod_candidates = np.flatnonzero(bright_area > 0.4 * rod_area)
    if rod_candidates.size == 0:
        raise refuse(
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
    # in place: ``inside`` is a copy (boolean indexing) and not used after this
    over = np.subtract(inside, calc_threshold, out=inside, dtype=np.float32)
    over = np.clip(over, 0.0, None, out=over).sum(axis=1)
    for k in range(first, last + 1):
        if abs(abs(z[k] - rod_z) - rod_gap) <= 12.0:
            excess[k] = float(over[k - first])
    if not np.any(excess > 0):
        raise refuse(
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
    objects, rotation, mirrored = find_calcifications(mip, plane, (cx, cy), definition, insert_hu, calc_z, r_map)
    _confirm_calcifications(objects, definition, sub, z, calc_z, plane, insert_hu, slice_thickness_mm, insert_slices)

    # 5. The rods.
    mean_image = np.mean(sub[list(rod_slices)], axis=0, dtype=np.float64)
    rod_objects = find_rods(mean_image, plane, (cx, cy), definition, insert_hu, rotation, mirrored, rod_z)
    ha_found = next(o for o in rod_objects if o.id == ha_rod.id)
    if not ha_found.found or ha_found.contrast_hu < MIN_ROD_CONTRAST_FRACTION * rod_contrast:
        measured = "not seen" if not ha_found.found else f"{ha_found.contrast_hu:.0f} HU above the insert"
        raise refuse(
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
        raise refuse(
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
        raise refuse(f"not a {definition.name}: the large calcification(s) {', '.join(unseen)} are not seen where the spokes put them")
    contrasts = [by_id[c.id].contrast_hu for c in largest]
    if len(largest) >= 2 and largest[0].density_mgha_cm3 > 0:
        density_ratio = largest[-1].density_mgha_cm3 / largest[0].density_mgha_cm3
        ratio = contrasts[-1] / contrasts[0]
        rising = all(b > a for a, b in zip(contrasts, contrasts[1:]))
        if not rising or ratio < MIN_CONTRAST_RATIO_FRACTION * density_ratio:
            listing = ", ".join(f"{c.id} {v:.0f} HU" for c, v in zip(largest, contrasts))
            raise refuse(
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
                sides.append(float(np.mean([np.asarray(sub[k][window][disk], dtype=np.float32).mean() for k in ks])) - insert_hu)
        if sides and min(sides) > MAX_END_CONTRAST_FRACTION * obj.contrast_hu:
            raise refuse(
                f"not a {definition.name}: the bright object taken for the {cyl.id} calcification does not end along z "
                f"({min(sides):.0f} HU above the insert {lo:.1f} mm beyond its centre): a vessel or rod, not a calcification",
            )
