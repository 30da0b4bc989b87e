"""Step 1 of the locator: the insert axis, its radius, its slices and material (a circle fit to the tissue edge)."""

from __future__ import annotations

import math

import numpy as np

from qa.numeric import median
from qa.phantom.definition import PhantomDefinition
from qa.phantom.filters import distance_to_zero, sample_linear
from qa.phantom.locate.common import INSERT_RADIUS_TOLERANCE, TISSUE_HU, Plane, box, refuse


def find_insert(hu: np.ndarray, geometry, definition: PhantomDefinition, increment: float):
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
        depth = distance_to_zero(np.pad(small > TISSUE_HU, 1))[1:-1, 1:-1] * pixel_mm * factor
        i, j = np.unravel_index(int(np.argmax(depth)), depth.shape)
        if 0.8 * target_radius <= depth[i, j] <= 1.35 * target_radius:
            p = geometry.to_patient(0.0, i * factor, j * factor)
            hits.append((k, float(p[0]), float(p[1])))
    if not hits:
        raise refuse(
            f"no {definition.name} found: no slice holds a tissue cylinder of about "
            f"{definition.insert_diameter_mm:g} mm diameter surrounded by lung-equivalent material",
        )
    xy = np.array([(x, y) for _, x, y in hits])
    cx, cy = (float(v) for v in median(xy, axis=0))
    consistent = [k for (k, x, y) in hits if math.hypot(x - cx, y - cy) < 10.0]
    # The insert's slices: the core of the cylinder is tissue (a cheap test on every slice, on a
    # sparse sample of the core's pixels).
    core_box = box(geometry, cx, cy, 0.6 * target_radius, whole)
    core_plane = Plane(geometry, *core_box)
    sparse = (slice(core_box[0].start, core_box[0].stop, 2), slice(core_box[1].start, core_box[1].stop, 2))
    core = (core_plane.distance(cx, cy) < 0.6 * target_radius)[::2, ::2]
    fraction = (hu[:, sparse[0], sparse[1]][:, core] > TISSUE_HU).mean(axis=1)
    present = [int(k) for k in np.flatnonzero(fraction > 0.95)]
    if not present:
        raise refuse(f"no {definition.name} found: the insert cylinder is not filled with tissue in any slice")
    first, last = min(present), max(present)
    middle = [k for k in present if first + (last - first) * 0.2 <= k <= last - (last - first) * 0.2] or consistent
    sample = middle[:: max(1, len(middle) // 8)]
    # Refine the axis: circle fit to the tissue edge along rays, outliers (connections) removed.
    fit_box = box(geometry, cx, cy, 1.7 * target_radius, whole)
    fit_plane = Plane(geometry, *fit_box)
    mean_image = np.mean([hu[k, fit_box[0], fit_box[1]] for k in sample], axis=0, dtype=np.float64)
    cx, cy, radius = fit_edge_circle(mean_image, fit_plane, (cx, cy), target_radius)
    if abs(radius - target_radius) > INSERT_RADIUS_TOLERANCE * target_radius:
        raise refuse(
            f"no {definition.name} found: the tissue cylinder in lung-equivalent material has a diameter of "
            f"{2 * radius:.0f} mm, the insert's is {definition.insert_diameter_mm:g} mm "
            f"(+-{100 * INSERT_RADIUS_TOLERANCE:g} %)",
        )
    # Crop around the insert for everything that follows.
    crop = box(geometry, cx, cy, target_radius * 1.25, whole)
    plane = Plane(geometry, *crop)
    material = plane.distance(cx, cy) < 0.95 * target_radius
    # Median over a sparse sample of the insert material (every third pixel of a few slices).
    insert_hu = float(median(np.stack([hu[k, crop[0], crop[1]][::3, ::3] for k in sample])[:, material[::3, ::3]]))
    if not -100.0 <= insert_hu <= 250.0:
        raise refuse(f"the cylinder found reads {insert_hu:.0f} HU: not the tissue-equivalent insert of {definition.name}")
    return (cx, cy), radius, (first, last), insert_hu, crop


def fit_edge_circle(image: np.ndarray, plane: Plane, start: tuple[float, float], radius: float):
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
        profile = sample_linear(image, i.ravel(), j.ravel()).reshape(px.shape)
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
        fit = circle_fit(ex, ey)
        residual = np.abs(np.hypot(ex - fit[0], ey - fit[1]) - fit[2])
        good = residual < max(2.0, 2.0 * median(residual))
        if good.sum() >= 15:
            fit = circle_fit(ex[good], ey[good])
        cx, cy, fitted_radius = fit
    return float(cx), float(cy), float(fitted_radius)


def circle_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Algebraic least-squares circle (Kasa fit)."""
    a = np.column_stack([x, y, np.ones_like(x)])
    b = x**2 + y**2
    sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = sol[0] / 2, sol[1] / 2
    return float(cx), float(cy), float(math.sqrt(max(sol[2] + cx**2 + cy**2, 0.0)))
