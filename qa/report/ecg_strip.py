"""The ECG strip of a gating analysis: the trace, its R-peaks, the exposure windows and the target phase window.

What a technologist reads off it, on screen and on a greyscale print:

* R-peaks as downward triangles; premature beats (by RR) as larger stars, so shape tells them apart;
* each exposure window shaded by its verdict, the verdicts told apart by colour *and* by hatch and
  edge style (pass: plain, solid edge; warn: diagonal hatch, dashed edge; fail: cross-hatch, thick
  edge; not checked: dots, dotted edge), numbered above the panel as in the table (#1, #2, ...);
* the target phase window of each exposure's beat as a bar in a lane of its own below the trace,
  labelled with its range ("60-80 %");
* one legend for the whole figure, below the panels: never over the trace or its markers.

A long trace is cut to the stretches around the exposures (one panel per group of nearby exposures,
those that warned or failed first); recording gaps are left blank, not bridged.
"""

from __future__ import annotations

import numpy as np

from qa.report.figures import OKABE_ITO, new_figure, plain_text, png_bytes

# Seconds of trace shown before the first and after the last exposure of a strip panel: ours.
STRIP_BEFORE_S, STRIP_AFTER_S = 3.0, 2.0
# Exposures less than this far apart share a panel; at most this many panels: ours.
STRIP_JOIN_S, STRIP_MAX_PANELS = 10.0, 6
# Without exposures, the strip shows the first this many seconds: ours.
STRIP_DEFAULT_S = 20.0
# Exposure windows by verdict: (fill, hatch, edge line style, edge width, legend label).  Colours from
# Okabe & Ito (qa.report.figures); hatch and edge make them distinct in greyscale too (ours).
WINDOW_STYLE = {
    "pass": (OKABE_ITO["bluish_green"], "", "-", 1.0, "exposure: pass"),
    "warn": (OKABE_ITO["orange"], "//", "--", 1.2, "exposure: warn"),
    "fail": (OKABE_ITO["vermillion"], "xx", "-", 2.0, "exposure: fail"),
    "not_available": ("#999999", "...", ":", 1.2, "exposure: not checked"),
}
C_TRACE, C_PEAK, C_PREMATURE, C_PHASE = "#222222", OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["reddish_purple"]
LEGEND_ORDER = ["R-peak", "premature beat", "target phase window", *(style[4] for style in WINDOW_STYLE.values()), "too noisy to judge"]
# Height of one legend row, inches (7.5-pt text and its spacing): ours.
LEGEND_ROW_IN = 0.2
# The phase-window lane below the trace, as fractions of the trace's height: ours.
LANE_BELOW, LANE_BAR = 0.32, 0.12


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


@plain_text
def ecg_strip_figure(time_s, ecg_mv, r_peak_s, premature: set, timings, phase_window_pct, *, title: str = "",
                     noisy_s=()):
    """The strip as a :class:`matplotlib.figure.Figure` (laid out, not yet saved); see the module doc.

    ``noisy_s``: (start_s, end_s) stretches too noisy to judge (:mod:`qa.ecg.quality`), shaded grey and dotted.
    """
    from matplotlib.patches import Patch

    t = np.asarray(time_s, dtype=float)
    y = np.asarray(ecg_mv, dtype=float)
    r = np.asarray(r_peak_s, dtype=float)
    timings = list(timings)
    ranges, left_out = strip_panels(t, timings)
    longest = max(b - a for a, b in ranges)
    fig = new_figure(min(20.0, max(8.0, longest * 0.9)), 2.8 * len(ranges), dpi=110)
    axes = fig.subplots(len(ranges), 1, squeeze=False)[:, 0]
    step = np.median(np.diff(t)) if t.size > 1 else 1.0
    handles: dict[str, object] = {}
    for ax, (a, b) in zip(axes, ranges):
        sel = (t >= a) & (t <= b)
        ts, ys = t[sel], y[sel]
        jumps = np.flatnonzero(np.diff(ts) > 1.5 * step)  # a recording gap: break the line
        for start, end in noisy_s:  # behind the trace: grey with a line pattern (readable in greyscale too)
            if end >= a and start <= b:
                ax.axvspan(max(start, a), min(end, b), facecolor="#d9d9d9", hatch="---", edgecolor="#9a9a9a", linewidth=0.0,
                           zorder=0, gid="noisy")
                handles["too noisy to judge"] = Patch(facecolor="#d9d9d9", hatch="---", edgecolor="#9a9a9a")
        ax.plot(np.insert(ts, jumps + 1, np.nan), np.insert(ys, jumps + 1, np.nan), lw=0.7, color=C_TRACE)
        finite = ys[np.isfinite(ys)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        span = (high - low) or 1.0
        inside = np.flatnonzero((r >= a) & (r <= b))
        if inside.size:
            values = np.interp(r[inside], t, y)
            is_prem = np.array([i in premature for i in inside], dtype=bool)
            if (~is_prem).any():
                handles["R-peak"] = ax.plot(r[inside][~is_prem], values[~is_prem], "v", ms=5, color=C_PEAK, gid="r-peaks")[0]
            if is_prem.any():
                handles["premature beat (by RR)"] = ax.plot(r[inside][is_prem], values[is_prem], "*", ms=10, color=C_PREMATURE,
                                                            markeredgecolor="#000000", markeredgewidth=0.5, gid="premature")[0]
        top = high + 0.12 * span
        lane = low - LANE_BAR * span  # the phase-window bars, below the trace
        numbers = []
        for timing in timings:
            if timing.start_s + timing.duration_s < a or timing.start_s > b:
                continue
            fill, hatch, style, width, label = WINDOW_STYLE.get(timing.status, WINDOW_STYLE["not_available"])
            ax.axvspan(timing.start_s, timing.start_s + timing.duration_s, facecolor=(*_rgb(fill), 0.30), hatch=hatch,
                       edgecolor=fill, linestyle=style, linewidth=width, gid=f"window-{timing.status}")
            handles[label] = Patch(facecolor=(*_rgb(fill), 0.30), hatch=hatch, edgecolor=fill, linestyle=style, linewidth=width)
            numbers.append((timing.start_s + timing.duration_s / 2, f"#{timing.index + 1}"))
            if phase_window_pct and timing.trigger_r_s is not None and timing.next_r_s is not None:
                rr = timing.next_r_s - timing.trigger_r_s
                lo = timing.trigger_r_s + rr * phase_window_pct[0] / 100.0
                hi = timing.trigger_r_s + rr * phase_window_pct[1] / 100.0
                text = f"{phase_window_pct[0]:g}-{phase_window_pct[1]:g} %"
                handles[f"target phase window ({text} of the RR)"] = ax.plot(
                    [lo, hi], [lane] * 2, lw=4, color=C_PHASE, solid_capstyle="butt", gid="phase-window")[0]
                ax.text((lo + hi) / 2, lane - 0.05 * span, text, ha="center", va="top", fontsize=7, color="#000000")
        ax.set_ylim(low - LANE_BELOW * span, top)
        for x, text in numbers:  # above the frame, as numbered in the table
            ax.text(x, top, text, ha="center", va="bottom", fontsize=7)
        ax.set_xlim(a, b)
        ax.set_ylabel("ECG (mV)")
    axes[-1].set_xlabel("time (s)")
    if title or left_out:
        more = f" ({left_out} more group(s) of exposures not shown)" if left_out else ""
        axes[0].set_title(f"{title}{more}", fontsize=9, pad=14)
    ncol = min(4, len(handles)) or 1
    rows = -(-len(handles) // ncol)
    legend_h = (LEGEND_ROW_IN * rows + 0.1) / fig.get_figheight() if handles else 0.0
    fig.tight_layout(rect=(0.0, legend_h, 1.0, 1.0))  # the panels and their labels above the legend's strip
    if handles:  # below the panels and their axis labels, outside every axes: never over the trace or its markers
        order = sorted(handles, key=lambda k: LEGEND_ORDER.index(k.split(" (")[0]) if k.split(" (")[0] in LEGEND_ORDER else 99)
        fig.legend([handles[k] for k in order], order, loc="lower center", ncol=ncol, fontsize=7.5, frameon=False,
                   bbox_to_anchor=(0.5, 0.0), bbox_transform=fig.transFigure)
    return fig


def ecg_strip_png(time_s, ecg_mv, r_peak_s, premature: set, timings, phase_window_pct, *, title: str = "",
                  noisy_s=()) -> bytes:
    """:func:`ecg_strip_figure` as PNG bytes (110 dpi, cropped to its content, the legend included)."""
    fig = ecg_strip_figure(time_s, ecg_mv, r_peak_s, premature, timings, phase_window_pct, title=title, noisy_s=noisy_s)
    return png_bytes(fig, dpi=110, tight=True)


def _rgb(colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)
