"""Steps 4-5 of the locator: calcifications along the spokes, and the calibration rods."""

from __future__ import annotations

import math

import numpy as np

from qa.numeric import median
from qa.phantom.definition import Cylinder
from qa.phantom.filters import gaussian_2d, label_4, maximum_2d, uniform_2d
from qa.phantom.locate.common import (
    MIN_CONTRAST_HU, SEARCH_RADIUS_MM, SMALL_SEARCH_RADIUS_MM, SPOKE_SPACING_TOLERANCE_DEG,
    angle_diff, located, refuse,
)


def find_calcifications(mip, plane, axis, definition, insert_hu, calc_z, r_map):
    """The calcifications from a MIP of their slab: spokes by brightness, then along them."""
    cx, cy = axis
    sizes = sorted({c.diameter_mm for c in definition.calcifications}, reverse=True)
    largest = [c for c in definition.calcifications if c.diameter_mm == sizes[0]]
    r_large = float(np.mean([c.radius_mm for c in largest]))
    kernel_r = max(1, int(round(sizes[0] / 2 / plane.pixel_mm)))
    # Matched filter for the large inserts: the mean over a square of their cross-section's area.
    side = max(1, int(round(math.sqrt(math.pi) * kernel_r)))
    smooth = uniform_2d(mip, side, mode="nearest")
    ring = (r_map > r_large - 10.0) & (r_map < r_large + 10.0)
    local_max = (smooth == maximum_2d(smooth, 2 * kernel_r + 1)) & ring
    candidates = sorted(
        ((float(smooth[i, j]), float(plane.x[i, j]), float(plane.y[i, j])) for i, j in zip(*np.nonzero(local_max))),
        reverse=True,
    )
    picked: list[tuple[float, float, float]] = []
    for value, x, y in candidates:
        if value - insert_hu < MIN_CONTRAST_HU:
            break
        angle = math.degrees(math.atan2(y - cy, x - cx))
        if all(abs(angle_diff(angle, math.degrees(math.atan2(py - cy, qx - cx)))) > 60.0 for _, qx, py in picked):
            picked.append((value, x, y))
        if len(picked) == len(largest):
            break
    if len(picked) < len(largest):
        raise refuse(
            f"not a {definition.name}: found {len(picked)} of the {len(largest)} large calcifications on a ring of "
            f"radius about {r_large:g} mm around the insert axis",
        )
    angles = [math.degrees(math.atan2(y - cy, x - cx)) for _, x, y in picked]
    expected_spacing = 360.0 / len(largest)
    for a in range(len(angles)):
        closest = min(abs(angle_diff(angles[a], angles[b])) for b in range(len(angles)) if b != a)
        if abs(closest - expected_spacing) > SPOKE_SPACING_TOLERANCE_DEG:
            raise refuse(
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
    rotation = angle_diff(spoke_angle[densest.density_mgha_cm3], densest.angle_deg)
    second = by_density[1]
    nominal = angle_diff(second.angle_deg, densest.angle_deg)
    measured = angle_diff(spoke_angle[second.density_mgha_cm3], spoke_angle[densest.density_mgha_cm3])
    mirrored = (nominal > 0) != (measured > 0)

    objects = []
    for cyl in definition.calcifications:
        angle = spoke_angle.get(cyl.density_mgha_cm3)
        if angle is None:  # a density without a large insert: place it by the layout
            angle = expected_angle(cyl, densest, spoke_angle[densest.density_mgha_cm3], mirrored)
        radius = cyl.radius_mm + radial_offset.get(cyl.density_mgha_cm3, 0.0)
        ex = cx + radius * math.cos(math.radians(angle))
        ey = cy + radius * math.sin(math.radians(angle))
        found, x, y, contrast = refine_blob(mip, plane, (ex, ey), cyl.diameter_mm, bright=True)
        objects.append(located(cyl.id, "calcification", found, (x, y) if found else (ex, ey), calc_z, axis, contrast))
    return objects, rotation, mirrored


def expected_angle(cyl: Cylinder, reference: Cylinder, reference_angle: float, mirrored: bool) -> float:
    sign = -1.0 if mirrored else 1.0
    return reference_angle + sign * angle_diff(cyl.angle_deg, reference.angle_deg)


def refine_blob(image, plane, expected_xy, diameter_mm, *, bright: bool, sigmas: float = 5.0):
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
    smooth = gaussian_2d(img, sigma_px)
    search = dist <= radius + diameter_mm / 2
    annulus = (dist > radius + diameter_mm) & (dist <= reach)
    if not search.any() or annulus.sum() < 10:
        return False, ex, ey, None
    background = float(median(smooth[annulus]))
    # Robust noise (median absolute deviation): neighbouring rods in the annulus do not inflate it.
    noise = 1.4826 * float(median(np.abs(smooth[annulus] - background)))
    peak_index = np.unravel_index(int(np.argmax(np.where(search, smooth, -np.inf))), smooth.shape)
    contrast = float(smooth[peak_index]) - background
    if contrast < max(MIN_CONTRAST_HU if bright else 10.0, sigmas * noise):
        return False, ex, ey, None
    threshold = background + contrast / 2
    labels, _ = label_4((smooth >= threshold) & (dist <= reach))
    member = labels == labels[peak_index]
    w = smooth[member] - threshold + 1e-9
    x = float(np.average(plane.x[window][member], weights=w))
    y = float(np.average(plane.y[window][member], weights=w))
    return True, x, y, contrast if bright else -contrast


def find_rods(mean_image, plane, axis, definition, insert_hu, rotation, mirrored, rod_z):
    cx, cy = axis
    densest = max(definition.calcifications, key=lambda c: (c.density_mgha_cm3, c.diameter_mm))
    densest_angle = densest.angle_deg + rotation  # measured angle of the densest spoke
    out = []
    for rod in sorted(definition.rods, key=lambda r: -r.density_mgha_cm3):
        angle = expected_angle(rod, densest, densest_angle, mirrored) if rod.radius_mm > 0 else 0.0
        ex = cx + rod.radius_mm * math.cos(math.radians(angle))
        ey = cy + rod.radius_mm * math.sin(math.radians(angle))
        bright = rod.density_mgha_cm3 > 0
        # Rods are large and averaged over the slab: 3 noise SDs of the smoothed image suffice.
        found, x, y, contrast = refine_blob(mean_image, plane, (ex, ey), rod.diameter_mm * 0.6, bright=bright, sigmas=3.0)
        if found:
            # contrast against the insert material (the refinement measured it against its surroundings)
            window = plane.box(x, y, rod.diameter_mm / 2)
            r = np.hypot(plane.x[window] - x, plane.y[window] - y) < rod.diameter_mm / 2 * 0.6
            contrast = float(mean_image[window][r].mean()) - insert_hu
            found = contrast > MIN_CONTRAST_HU if bright else contrast < -10.0
        out.append(located(rod.id, "rod", found, (x, y) if found else (ex, ey), rod_z, axis, contrast))
    return out
