"""Plots as PNG bytes: the located phantom over its images, control charts of stored runs, ECG strips.

The located phantom lives in :mod:`qa.report.phantom_picture`, the control charts in
:mod:`qa.report.trend_chart`, what every figure shares in :mod:`qa.report.figures`; they are
re-exported here under their old names.
"""

from __future__ import annotations

import numpy as np

from qa.outputs import write_file
from qa.report.figures import new_figure, png_bytes
from qa.report.figures import plain_text as _plain_text
from qa.report.phantom_picture import phantom_figure, phantom_overlay_png  # noqa: F401 (re-exported)
from qa.report.trend_chart import trend_figure, trend_figure_png  # noqa: F401 (re-exported)


def _pyplot():
    """pyplot on the Agg backend, for the figures still built through it (qa motion's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    """A figure laid out by tight_layout, cropped to its content, as PNG bytes (110 dpi)."""
    return png_bytes(fig, dpi=110, tight=True)


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
    t = np.asarray(time_s, dtype=float)
    y = np.asarray(ecg_mv, dtype=float)
    r = np.asarray(r_peak_s, dtype=float)
    ranges, left_out = strip_panels(t, list(timings))
    longest = max(b - a for a, b in ranges)
    fig = new_figure(min(20.0, max(8.0, longest * 0.9)), 2.8 * len(ranges), dpi=110)
    axes = fig.subplots(len(ranges), 1, squeeze=False)
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
