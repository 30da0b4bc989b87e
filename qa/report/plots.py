"""Plots as PNG bytes: the located phantom over its images, and control charts of stored runs.

Every text in a figure is drawn as written: names from DICOM headers, file names and site
definitions may hold ``$...$``, which matplotlib would otherwise typeset as mathematics (or fail
on); each figure is built with ``text.parse_math`` off (:func:`_plain_text`).
"""

from __future__ import annotations

import functools
import io
import math

import numpy as np

from qa.control_charts import chart_sd, control_chart
from qa.outputs import write_file


def _plain_text(build):
    """Build the figure with mathtext off: ``$x$`` in a station or file name stays ``$x$``."""

    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return build(*args, **kwargs)

    return wrapper


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def _slab_image(volume, z_mm: float, half_mm: float, kind: str) -> np.ndarray:
    z = np.array([p[2] for p in volume.image_positions_mm])
    slices = np.flatnonzero(np.abs(z - z_mm) <= max(half_mm, volume.slice_increment_mm / 2 + 0.01))
    if slices.size == 0:
        slices = np.array([int(np.argmin(np.abs(z - z_mm)))])
    stack = volume.hu[slices]
    return stack.max(axis=0) if kind == "max" else stack.mean(axis=0)


@_plain_text
def phantom_overlay_png(volume, location, inserts, definition) -> bytes:
    """Two panels: the calcification slab (max projection) and the rod slab (mean), objects drawn."""
    plt = _pyplot()
    from matplotlib.patches import Circle

    geometry = volume.geometry
    rows, cols = np.mgrid[0 : volume.shape[1], 0 : volume.shape[2]]
    xyz = geometry.to_patient(0.0, rows.astype(float), cols.astype(float))
    x, y = xyz[..., 0], xyz[..., 1]
    cx, cy = location.insert_center_mm
    half = definition.insert_diameter_mm / 2 + 12.0
    region = (np.abs(x - cx) <= half) & (np.abs(y - cy) <= half)
    rr, cc = np.nonzero(region)
    window = (slice(rr.min(), rr.max() + 1), slice(cc.min(), cc.max() + 1))
    extent = [float(x[window].min()), float(x[window].max()), float(y[window].max()), float(y[window].min())]
    if x[0, 0] > x[0, -1]:  # flipped row direction: keep patient left on the right as radiologists expect
        extent[0], extent[1] = extent[1], extent[0]
    calc_half = max(c.length_mm for c in definition.calcifications) / 2 + 1.0
    rod_half = max(r.length_mm for r in definition.rods) / 2 - 2.0
    panels = [
        ("calcifications (max over the slab)", _slab_image(volume, location.calcification_slab_z_mm, calc_half, "max"), "calcification"),
        ("calibration rods (mean over the slab)", _slab_image(volume, location.rod_slab_z_mm, rod_half, "mean"), "rod"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    detected = {i.id: i for i in inserts}
    sizes = {c.id: c.diameter_mm for c in definition.calcifications + definition.rods}
    for ax, (title, image, kind) in zip(axes, panels):
        ax.imshow(image[window], cmap="gray", vmin=-200, vmax=500, extent=extent)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        for obj in location.objects:
            if obj.kind != kind:
                continue
            if kind == "calcification":
                colour = "#2ca02c" if detected[obj.id].detected else "#d62728"
                radius = sizes[obj.id] / 2 + 3.0
            else:
                colour = "#1f77b4"
                radius = sizes[obj.id] / 2 * 0.6
            ax.add_patch(Circle(obj.center_mm[:2], radius, fill=False, color=colour, lw=1.2, ls="-" if obj.found else "--"))
            ax.annotate(obj.id, obj.center_mm[:2], xytext=(4, 4), textcoords="offset points", color=colour, fontsize=7)
        ax.plot([cx], [cy], "+", color="#ff7f0e", ms=10)
    fig.suptitle("solid: found in the image; dashed: expected position. green: detected, red: not detected", fontsize=8)
    return _png(fig)


@_plain_text
def trend_figure_png(runs, metrics, baseline, *, min_sd_pct: float = 2.0) -> bytes:
    """Small multiples: each metric against its baseline mean, +-2 SD and +-3 SD; flagged runs marked."""
    plt = _pyplot()
    n = len(metrics)
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(10, 2.6 * nrows), squeeze=False)
    dates = [np.datetime64((r.acquired_at or r.analysed_at).astimezone().replace(tzinfo=None), "s") for r in runs]
    for ax, metric in zip(axes.flat, metrics):
        values = np.array([np.nan if r.metrics.get(metric) is None else r.metrics[metric] for r in runs], dtype=float)
        ax.plot(dates, values, "o-", ms=3, lw=1, color="#1f77b4")
        stats = baseline.stats.get(metric) if baseline is not None else None
        sd = chart_sd(stats.mean, stats.sd, min_sd_pct) if stats is not None else 0.0
        if stats is not None and sd > 0:
            for k, style in ((0, "-"), (2, ":"), (3, "--")):
                for sign in ((1,) if k == 0 else (1, -1)):
                    ax.axhline(stats.mean + sign * k * sd, color="#7f7f7f", ls=style, lw=0.8)
            points = control_chart([None if math.isnan(v) else v for v in values], stats.mean, sd)
            flagged = [p.index for p in points if p.flags]
            if flagged:
                ax.plot([dates[i] for i in flagged], values[flagged], "o", ms=6, mfc="none", mec="#d62728", mew=1.5)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=7)
        for label in ax.get_xticklabels():
            label.set_rotation(30)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


# Seconds of trace shown before the first and after the last exposure of a strip panel: ours.
STRIP_BEFORE_S, STRIP_AFTER_S = 3.0, 2.0
# Exposures less than this far apart share a panel; at most this many panels: ours.
STRIP_JOIN_S, STRIP_MAX_PANELS = 10.0, 6
# Without exposures, the strip shows the first this many seconds: ours.
STRIP_DEFAULT_S = 20.0


def strip_panels(time_s, timings) -> tuple[list[tuple[float, float]], int]:
    """Time ranges to draw: one per group of nearby exposures (those with a problem first), or the start.

    Returns (ranges, number of groups left out).
    """
    t = np.asarray(time_s, dtype=float)
    t0, t1 = float(t[0]), float(t[-1])
    if not timings:
        return [(t0, min(t1, t0 + STRIP_DEFAULT_S))], 0
    order = sorted(timings, key=lambda x: x.start_s)
    groups: list[list] = [[order[0]]]
    for x in order[1:]:
        last = groups[-1][-1]
        if x.start_s - (last.start_s + last.duration_s) <= STRIP_JOIN_S:
            groups[-1].append(x)
        else:
            groups.append([x])
    problem = [g for g in groups if any(x.status != "pass" for x in g)]
    chosen = (problem + [g for g in groups if g not in problem])[:STRIP_MAX_PANELS]
    chosen.sort(key=lambda g: g[0].start_s)
    ranges = [(max(t0, g[0].start_s - STRIP_BEFORE_S), min(t1, max(x.start_s + x.duration_s for x in g) + STRIP_AFTER_S))
              for g in chosen]
    return ranges, len(groups) - len(chosen)


@_plain_text
def ecg_strip_png(time_s, ecg_mv, r_peak_s, premature: set, timings, phase_window_pct, *, title: str = "") -> bytes:
    """An ECG strip: R-peaks, premature beats, exposure windows shaded, the target phase window marked.

    A long trace is cut to the stretches around the exposures (one panel per group of nearby
    exposures, those that warned or failed first); recording gaps are left blank, not bridged.
    """
    plt = _pyplot()
    t = np.asarray(time_s, dtype=float)
    y = np.asarray(ecg_mv, dtype=float)
    r = np.asarray(r_peak_s, dtype=float)
    ranges, left_out = strip_panels(t, list(timings))
    longest = max(b - a for a, b in ranges)
    fig, axes = plt.subplots(len(ranges), 1, figsize=(min(20.0, max(8.0, longest * 0.9)), 2.8 * len(ranges)), squeeze=False)
    colours = {"pass": "#2ca02c", "warn": "#ff7f0e", "fail": "#d62728", "not_available": "#7f7f7f"}
    step = np.median(np.diff(t)) if t.size > 1 else 1.0
    for ax, (a, b) in zip(axes[:, 0], ranges):
        sel = (t >= a) & (t <= b)
        ts, ys = t[sel], y[sel]
        jumps = np.flatnonzero(np.diff(ts) > 1.5 * step)  # a recording gap: break the line
        ax.plot(np.insert(ts, jumps + 1, np.nan), np.insert(ys, jumps + 1, np.nan), lw=0.7, color="#222222")
        inside = np.flatnonzero((r >= a) & (r <= b))
        if inside.size:
            values = np.interp(r[inside], t, y)
            is_prem = np.array([i in premature for i in inside], dtype=bool)
            ax.plot(r[inside][~is_prem], values[~is_prem], "v", ms=5, color="#1f77b4", label="R-peak")
            if is_prem.any():
                ax.plot(r[inside][is_prem], values[is_prem], "v", ms=7, color="#d62728", label="premature beat")
        low, high = ax.get_ylim()
        for timing in timings:
            if timing.start_s + timing.duration_s < a or timing.start_s > b:
                continue
            ax.axvspan(timing.start_s, timing.start_s + timing.duration_s, color=colours.get(timing.status, "#7f7f7f"), alpha=0.3)
            ax.text(timing.start_s + timing.duration_s / 2, high, f"#{timing.index + 1}", ha="center", va="bottom", fontsize=7)
            if phase_window_pct and timing.trigger_r_s is not None and timing.next_r_s is not None:
                rr = timing.next_r_s - timing.trigger_r_s
                lo = timing.trigger_r_s + rr * phase_window_pct[0] / 100.0
                hi = timing.trigger_r_s + rr * phase_window_pct[1] / 100.0
                ax.plot([lo, hi], [low] * 2, lw=4, color="#9467bd", solid_capstyle="butt",
                        label=f"target phase {phase_window_pct[0]:g}-{phase_window_pct[1]:g} %")
        ax.set_xlim(a, b)
        ax.set_ylabel("ECG (mV)")
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        if unique:
            ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("time (s)")
    if title or left_out:
        more = f" ({left_out} more group(s) of exposures not shown)" if left_out else ""
        axes[0, 0].set_title(f"{title}{more}", fontsize=9, pad=14)
    fig.tight_layout()
    return _png(fig)


def write_ecg_strip(path, report, *, title: str | None = None) -> str:
    """The ECG strip of a gating report (qa.ecg.gating.GatingReport) as a PNG file, written whole or not at all."""
    t = report.trace
    # only the samples of the panels drawn: a 24-hour trace is never turned into float64 arrays whole
    ranges, _ = strip_panels(t.time_base.at([0, t.n_samples - 1]), list(report.exposures))
    bounds = [(t.time_base.index_of(a), t.time_base.index_of(b) + 1) for a, b in ranges]
    index = np.unique(np.concatenate([np.arange(a, min(b, t.n_samples)) for a, b in bounds]))
    png = ecg_strip_png(t.time_base.at(index), t.ecg_mv[index], report.r_peak_s, report.premature, report.exposures,
                        report.phase_window_pct, title=title or f"{t.source}, lead {t.lead}")
    return write_whole(path, png)


def write_whole(path, data: bytes | str) -> str:
    """Write a report file whole or not at all (:func:`qa.outputs.write_file`; its folder must exist:
    :mod:`qa.workflows.output_targets`); returns the path."""
    return write_file(path, data, make_folders=False)
