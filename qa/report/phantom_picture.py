"""The located phantom over its images (the report's "Located phantom" figure).

Two panels: the calcification slab (maximum over the slab) and the calibration-rod slab (mean),
in one stated grey-scale window.  Each calcification is circled: solid where it was detected (the
table's "detected: yes"), dashed at its expected position where it was not; each rod likewise
(solid: found, dashed: expected position).  Detected and not detected differ by line style (which
survives greyscale printing) and by colour from the Okabe-Ito palette (told apart with colour-
vision deficiencies); every circle has a black outline and every label a white box, readable over
dark tissue and bright calcium alike, on screen and on paper.  Labels (the insert ids of the
table) are placed where they overlap no other label and no other object's circle, measured by
the text renderer.  Drawn on :class:`qa.report.raster.Canvas` (no matplotlib).
"""

from __future__ import annotations

import math

import numpy as np

from qa.report.figures import OKABE_ITO
from qa.report.raster import Canvas, Mark, Picture

# Grey-scale window of both panels (HU): from soft tissue to dense calcium (ours).
WINDOW_LOW_HU, WINDOW_HIGH_HU = -200.0, 500.0
C_DETECTED, C_MISSED, C_ROD, C_AXIS = OKABE_ITO["sky_blue"], OKABE_ITO["orange"], OKABE_ITO["yellow"], OKABE_ITO["reddish_purple"]
HALO = ("#000000", 1.6)
# Layout in pixels (ours): two square panels side by side, a legend and the window below.
WIDTH, PANEL, TOP, LEFT, GAP = 800, 334, 30, 58, 64
LABEL_PX, TICK_PX = 10.5, 10
AXIS_PX = 7.0  # half the insert axis' cross
# A label is tried this many pixels beyond its object's circle, in 8 directions (outward first): ours.
LABEL_GAPS_PX = (3.0, 10.0, 20.0, 34.0)


def _slab_image(volume, z_mm: float, half_mm: float, kind: str) -> np.ndarray:
    z = np.array([p[2] for p in volume.image_positions_mm])
    slices = np.flatnonzero(np.abs(z - z_mm) <= max(half_mm, volume.slice_increment_mm / 2 + 0.01))
    if slices.size == 0:
        slices = np.array([int(np.argmin(np.abs(z - z_mm)))])
    stack = np.asarray(volume.hu[slices], dtype=np.float32)  # an int16 volume drawn as the float32 one
    return stack.max(axis=0) if kind == "max" else stack.mean(axis=0)


def phantom_figure(volume, location, inserts, definition) -> Picture:
    """The located phantom as a picture (see the module doc)."""
    geometry = volume.geometry
    rows, cols = np.mgrid[0 : volume.shape[1], 0 : volume.shape[2]]
    xyz = geometry.to_patient(0.0, rows.astype(float), cols.astype(float))
    x, y = xyz[..., 0], xyz[..., 1]
    cx, cy = location.insert_center_mm
    half = definition.insert_diameter_mm / 2 + 12.0
    region = (np.abs(x - cx) <= half) & (np.abs(y - cy) <= half)
    rr, cc = np.nonzero(region)
    window = (slice(rr.min(), rr.max() + 1), slice(cc.min(), cc.max() + 1))
    # the picture's edges in mm: x grows to the right (the patient's left on the right, as
    # radiologists expect), y downwards (anterior at the top); stored images running the other way are flipped
    x_left, x_right = float(x[window].min()), float(x[window].max())
    y_top, y_bottom = float(y[window].min()), float(y[window].max())
    flip_x, flip_y = bool(x[0, 0] > x[0, -1]), bool(y[0, 0] > y[-1, 0])
    calc_half = max(c.length_mm for c in definition.calcifications) / 2 + 1.0
    rod_half = max(r.length_mm for r in definition.rods) / 2 - 2.0
    panels = [
        ("Calcifications (maximum over the slab)", _slab_image(volume, location.calcification_slab_z_mm, calc_half, "max"),
         "calcification"),
        ("Calibration rods (mean over the slab)", _slab_image(volume, location.rod_slab_z_mm, rod_half, "mean"), "rod"),
    ]
    rod_missing = any(obj.kind == "rod" and not obj.found for obj in location.objects)
    height = TOP + PANEL + 46 + 20 * (2 + rod_missing) + 22
    canvas = Canvas(WIDTH, height)
    detected = {i.id: i.detected for i in inserts}
    sizes = {c.id: c.diameter_mm for c in definition.calcifications + definition.rods}
    for index, (title, image, kind) in enumerate(panels):
        x0, y0 = LEFT + index * (PANEL + GAP), TOP
        box = (x0, y0, x0 + PANEL, y0 + PANEL)

        def to_px(xm: float, ym: float, x0=x0, y0=y0) -> tuple[float, float]:
            return (x0 + (xm - x_left) / (x_right - x_left) * PANEL, y0 + (ym - y_top) / (y_bottom - y_top) * PANEL)

        grey = np.clip((image[window] - WINDOW_LOW_HU) / (WINDOW_HIGH_HU - WINDOW_LOW_HU) * 255.0, 0, 255).astype(np.uint8)
        grey = grey[::-1 if flip_y else 1, ::-1 if flip_x else 1]
        canvas.image(np.ascontiguousarray(grey), box)
        canvas.rect(*box, outline="#000000")
        canvas.text(x0 + PANEL / 2, y0 - 8, title, size=12, anchor="mb")
        _mm_axes(canvas, box, x_left, x_right, y_top, y_bottom, to_px)
        mm_to_px = PANEL / abs(x_right - x_left)
        items = []
        for obj in location.objects:
            if obj.kind != kind:
                continue
            if kind == "calcification":
                solid = detected.get(obj.id, False)
                colour, radius = (C_DETECTED if solid else C_MISSED), sizes[obj.id] / 2 + 3.0
            else:
                solid, colour, radius = obj.found, C_ROD, sizes[obj.id] / 2 * 0.6
            px, py = to_px(obj.center_mm[0], obj.center_mm[1])
            r_px = radius * mm_to_px
            canvas.circle(px, py, r_px, colour, 1.5, dashed=not solid, halo=HALO)
            canvas.marks.append(Mark("circle", obj.id, (px - r_px, py - r_px, px + r_px, py + r_px), (obj.center_mm[0], obj.center_mm[1]),
                                     "solid" if solid else "dashed"))
            items.append((obj.id, px, py, r_px))
        ax_px, ay_px = to_px(cx, cy)
        for w, c in ((4.0, "#000000"), (1.8, C_AXIS)):
            canvas.line([(ax_px - AXIS_PX, ay_px), (ax_px + AXIS_PX, ay_px)], c, w)
            canvas.line([(ax_px, ay_px - AXIS_PX), (ax_px, ay_px + AXIS_PX)], c, w)
        _place_labels(canvas, items, (ax_px, ay_px), box)
    _legend(canvas, rod_missing)
    caption = (f"Grey scale: window {WINDOW_HIGH_HU - WINDOW_LOW_HU:g} HU, level {(WINDOW_HIGH_HU + WINDOW_LOW_HU) / 2:g} HU "
               f"(black {WINDOW_LOW_HU:g} HU, white {WINDOW_HIGH_HU:g} HU). Labels: the insert ids of the table.")
    box = canvas.text(WIDTH / 2, height - 8, caption, size=10.5, anchor="md")
    canvas.marks.append(Mark("caption", "window", box, (WINDOW_LOW_HU, WINDOW_HIGH_HU), caption))
    return canvas.picture()


def phantom_overlay_png(volume, location, inserts, definition) -> bytes:
    """:func:`phantom_figure` as PNG bytes."""
    return phantom_figure(volume, location, inserts, definition).png


def _mm_axes(canvas: Canvas, box, x_left, x_right, y_top, y_bottom, to_px) -> None:
    """Ticks every 20 mm along both edges, and the axis names."""
    x0, y0, x1, y1 = box
    for value in range(math.ceil(min(x_left, x_right) / 20) * 20, math.floor(max(x_left, x_right) / 20) * 20 + 1, 20):
        px = to_px(value, y_top)[0]
        canvas.line([(px, y1), (px, y1 + 4)], "#000000", 1.0)
        canvas.text(px, y1 + 6, f"{value:g}", size=TICK_PX, anchor="mt")
    for value in range(math.ceil(min(y_top, y_bottom) / 20) * 20, math.floor(max(y_top, y_bottom) / 20) * 20 + 1, 20):
        py = to_px(x_left, value)[1]
        canvas.line([(x0 - 4, py), (x0, py)], "#000000", 1.0)
        canvas.text(x0 - 6, py, f"{value:g}", size=TICK_PX, anchor="rm")
    canvas.text((x0 + x1) / 2, y1 + 21, "x (mm)", size=TICK_PX, anchor="mt")
    canvas.text(x0 - 42, (y0 + y1) / 2, "y (mm)", size=TICK_PX, vertical=True)


def _legend(canvas: Canvas, rod_missing: bool) -> None:
    entries = [("circle", C_DETECTED, False, "insert detected (solid circle)"),
               ("circle", C_MISSED, True, "insert not detected (dashed, at its expected position)"),
               ("circle", C_ROD, False, "calibration rod found (solid circle)")]
    if rod_missing:
        entries.append(("circle", C_ROD, True, "calibration rod not found (dashed, at its expected position)"))
    entries.append(("axis", C_AXIS, False, "insert axis"))
    top = TOP + PANEL + 46
    rows = math.ceil(len(entries) / 2)
    for k, (kind, colour, dashed, label) in enumerate(entries):
        x = LEFT + (k // rows) * (PANEL + GAP)
        y = top + (k % rows) * 20
        if kind == "circle":
            canvas.circle(x + 9, y, 7, colour, 1.5, dashed=dashed, halo=HALO)
        else:
            for w, c in ((4.0, "#000000"), (1.8, colour)):
                canvas.line([(x + 3, y), (x + 15, y)], c, w)
                canvas.line([(x + 9, y - 6), (x + 9, y + 6)], c, w)
        box = canvas.text(x + 24, y, label, size=10.5, anchor="lm")
        canvas.marks.append(Mark("legend", label, box, (), "dashed" if dashed else "solid"))


def _place_labels(canvas: Canvas, items, centre, frame) -> None:
    """Label each object with its id beside its circle, where the label overlaps no other label,
    no other circle and stays inside the panel (the least overlap when nothing is free)."""
    placed: list[tuple[float, float, float, float]] = []
    for index, (label, px, py, r_px) in enumerate(items):
        outward = math.atan2(py - centre[1], px - centre[0]) if (px, py) != centre else -math.pi / 4
        best, best_cost = None, math.inf
        for gap in LABEL_GAPS_PX:
            for turn in (0, 1, -1, 2, -2, 3, -3, 4):
                angle = outward + turn * math.pi / 4
                dx, dy = math.cos(angle), math.sin(angle)
                anchor = ("l" if dx > 0.38 else "r" if dx < -0.38 else "m") + ("t" if dy > 0.38 else "b" if dy < -0.38 else "m")
                at = (px + dx * (r_px + gap), py + dy * (r_px + gap))
                box = canvas.text_box(*at, label, size=LABEL_PX, anchor=anchor, pad=2.0)
                cost = sum(_overlap(box, other) for other in placed)
                cost += sum(_circle_overlap(box, (qx, qy, qr)) for k, (_, qx, qy, qr) in enumerate(items) if k != index)
                cost += _circle_overlap(box, (*centre, AXIS_PX))
                cost += _outside(box, frame)
                if cost < best_cost:
                    best, best_cost = (at, anchor), cost
                if cost == 0:
                    break
            if best_cost == 0:
                break
        (lx, ly), anchor = best
        box = canvas.text(lx, ly, label, size=LABEL_PX, anchor=anchor, box="#ffffff", pad=2.0)
        canvas.marks.append(Mark("label", label, box, (px, py)))
        placed.append(box)


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _circle_overlap(box, circle) -> float:
    """How deep the box reaches into the circle (centre and radius in pixels, its outline included), squared."""
    px, py, r = circle
    nx, ny = min(max(px, box[0]), box[2]), min(max(py, box[1]), box[3])
    depth = r + 2.5 - math.hypot(nx - px, ny - py)
    return depth * depth if depth > 0 else 0.0


def _outside(box, frame) -> float:
    """How far the box reaches beyond the panel (pixels), squared and weighted."""
    out = max(0.0, frame[0] - box[0]) + max(0.0, box[2] - frame[2]) + max(0.0, frame[1] - box[1]) + max(0.0, box[3] - frame[3])
    return 100.0 * out * out
