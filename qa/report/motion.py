"""The motion plot: sagittal and coronal reformats with the stack boundaries and their shifts."""

from __future__ import annotations

import numpy as np

from qa.outputs import write_file
from qa.report.plots import _plain_text, _png, _pyplot

_COLOURS = {"pass": "#2e7d32", "warn": "#ef6c00", "fail": "#c62828", "not_available": "#757575"}


def _shift_text(boundary) -> str:
    s = boundary.shift_mm
    fmt = lambda v: "-" if v is None else f"{v:+.1f}"  # noqa: E731
    z = "" if boundary.robust_z is None else f"  robust z {boundary.robust_z:.1f}"
    return f"{boundary.between[0]}|{boundary.between[1]} {boundary.status.upper()}: lr {fmt(s.lr)} ap {fmt(s.ap)} cc {fmt(s.cc)} mm{z}"


@_plain_text
def motion_png(volume, analysis, *, title: str | None = None) -> bytes:
    """PNG bytes: a sagittal and a coronal reformat through the volume's centre, head at the top,
    each stack boundary drawn across both with the measured shifts written beside it."""
    plt = _pyplot()
    hu = volume.hu
    z = np.array([p[2] for p in volume.image_positions_mm], dtype=float)
    order = np.argsort(z)
    z = z[order]
    rows, cols = hu.shape[1], hu.shape[2]
    dr, dc = volume.pixel_spacing_mm
    # Rows on a regular z grid (the nearest slice to each), so that stacks overlapping in z (interleaved
    # or repeated positions) are drawn at their true z, not stretched evenly over the scan.
    steps = np.diff(np.unique(np.round(z, 3)))
    step = float(max(steps.min(), 0.1)) if steps.size else float(volume.slice_increment_mm)
    grid = np.arange(z[0], z[-1] + step / 2, step)
    pick = order[np.abs(z[None, :] - grid[:, None]).argmin(axis=1)]  # only the two reformats are copied, as float32
    extent_z = (grid[0] - step / 2, grid[-1] + step / 2)
    sagittal = np.asarray(hu[pick, :, cols // 2], dtype=np.float32)[::-1]  # z (head at top) x rows (anterior -> posterior)
    coronal = np.asarray(hu[pick, rows // 2, :], dtype=np.float32)[::-1]  # z x columns
    # The figure's height follows the reformats' own aspect (equal mm both ways), so the title sits
    # on the panels whatever the scan length: about 9 inches of image width, plus titles and labels.
    height_in = min(14.0, max(3.5, 9.0 * (extent_z[1] - extent_z[0]) / (rows * dr + cols * dc) + 1.6))
    fig, axes = plt.subplots(1, 2, figsize=(12, height_in), gridspec_kw={"width_ratios": [rows * dr, cols * dc]})
    for ax, image, width, label in ((axes[0], sagittal, rows * dr, "sagittal (anterior left)"),
                                    (axes[1], coronal, cols * dc, "coronal")):
        ax.imshow(image, cmap="gray", vmin=-400, vmax=600, extent=(0, width, extent_z[0], extent_z[1]), aspect="equal",
                  interpolation="nearest")
        ax.set_title(label)
        ax.set_xlabel("mm")
        for b in analysis.boundaries:
            if b.z_mm is None:
                continue
            ax.axhline(b.z_mm, color=_COLOURS.get(b.status, "#1565c0"), lw=1.2, ls="--")
        ax.set_xlim(0, width)
    axes[0].set_ylabel("patient z (mm, head up)")
    for b in analysis.boundaries:
        if b.z_mm is not None:
            axes[1].annotate(_shift_text(b), xy=(1.02, b.z_mm), xycoords=("axes fraction", "data"), fontsize=8,
                             color=_COLOURS.get(b.status, "#1565c0"), va="center", annotation_clip=False)
    heading = title or f"{volume.info.series_description or volume.info.series_instance_uid}"
    flagged = sum(1 for b in analysis.boundaries if b.status in ("warn", "fail"))
    fig.suptitle(f"{heading[:80]}: breath-hold motion {analysis.status.upper()} ({len(analysis.stacks)} stacks, "
                 f"{flagged} of {len(analysis.boundaries)} boundaries flagged; shifts of the later stack, mm)", fontsize=10)
    return _png(fig)


def write_motion_plot(path, volume, analysis) -> str:
    """The motion plot as a PNG file, written whole or not at all."""
    return write_file(path, motion_png(volume, analysis), make_folders=False)
