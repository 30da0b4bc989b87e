"""Control charts of stored phantom runs as one PNG: per metric, the limits the verdict uses and,
distinctly, the statistical control limits.

Each panel draws what :class:`qa.control_charts.MetricChart` holds, nothing computed here:

* the procedure's limits (what makes a run pass, warn or fail): the tolerance band filled, the
  zone between tolerance and action level filled and hatched, the action level as solid lines;
* the statistical control limits: baseline mean (solid), +-2 SD (dotted) and +-3 SD (dashed) of
  the chart SD (the baseline SD floored at the procedure's ``min_sd_pct`` of the mean);
* the runs; those flagged by a Western Electric rule or the CUSUM as larger diamonds (told apart
  by shape in greyscale, not only by colour).

The figure says which scanner, which dates, which baseline and which SD; its legend is inside the
image.  Drawn on :class:`qa.report.raster.Canvas` (no matplotlib: a tenth of the time).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from qa.report.figures import OKABE_ITO
from qa.report.raster import Canvas, Mark, Picture, shown

C_RUN, C_FLAG, C_ACTION, C_LINE = OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["vermillion"], "#222222"
C_TOLERANCE, C_WARN, C_HATCH, C_JOIN = "#dcebf7", "#fbe3c4", "#eeaa50", "#9a9a9a"
DOTTED, DASHED = (1.5, 2.5), (6.0, 4.0)
# Layout in pixels (ours): figure width, header, panel height, margins and gaps.
WIDTH, HEADER, PANEL_H, LEFT, RIGHT, COL_GAP, ROW_GAP, BOTTOM = 900, 160, 150, 72, 16, 84, 92, 46
TITLE_PX, SUB_PX, TICK_PX, LEGEND_PX = 13, 10, 10, 10.5
# The x axis reaches this far beyond the first and last run: at least half a day (one or two runs
# span a day, not years), else 3 % of the span (ours).
X_PAD_MIN_DAYS, X_PAD_FRACTION = 0.5, 0.03
# Two runs: this fraction of their span beyond each, at least two hours; ticks at the runs (ours).
X_PAD_TWO_RUNS, X_PAD_TWO_RUNS_MIN_DAYS = 0.15, 2.0 / 24.0
# Without a baseline and without a procedure tolerance for the metric, the y axis spans at least
# +- this % of the runs' mean (ours; the procedure's usual tolerance for masses is 10 %).
NO_BASELINE_SPAN_PCT = 10.0
MAX_X_TICKS = 7
_EPOCH = dt.datetime(1970, 1, 1)


def trend_figure(charts: Mapping[str, object], *, scanner: str, baseline_version: int | None = None) -> Picture:
    """The control charts of ``charts`` (metric id -> :class:`~qa.control_charts.MetricChart`) as one
    picture; ``scanner`` is printed on it with the dates and the baseline version."""
    items = list(charts.items())
    n = max(1, len(items))
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    height = HEADER + nrows * PANEL_H + (nrows - 1) * ROW_GAP + BOTTOM
    canvas = Canvas(WIDTH, height)
    panel_w = (WIDTH - LEFT - RIGHT - (ncols - 1) * COL_GAP) / ncols
    times = sorted({r.acquired_at for _, chart in items for r in chart.runs})
    x_of = {t: _days(t) for t in times}
    x_range = _x_range([x_of[t] for t in times])
    ticks = _run_ticks(times, x_of) if 0 < len(times) <= 2 else _date_ticks(*x_range)
    for index, (metric, chart) in enumerate(items):
        row, col = divmod(index, ncols)
        frame = (LEFT + col * (panel_w + COL_GAP), HEADER + row * (PANEL_H + ROW_GAP))
        _panel(canvas, metric, chart, x_of, x_range, ticks, frame, panel_w, bottom=index + ncols >= len(items))
    _header(canvas, items, times, scanner, baseline_version)
    return canvas.picture()


def trend_figure_png(charts: Mapping[str, object], *, scanner: str, baseline_version: int | None = None) -> bytes:
    """:func:`trend_figure` as PNG bytes."""
    return trend_figure(charts, scanner=scanner, baseline_version=baseline_version).png


def _header(canvas: Canvas, items, times, scanner: str, baseline_version: int | None) -> None:
    first, last = (min(times).astimezone(), max(times).astimezone()) if times else (None, None)
    n_runs = len({r.run_id for _, chart in items for r in chart.runs})
    dates = f"{first:%Y-%m-%d} to {last:%Y-%m-%d}" if first else "no runs"
    floors = sorted({chart.baseline.min_sd_pct for _, chart in items if chart.baseline is not None})
    sd_text = (f"SD used: the baseline SD, never below {floors[0]:g} % of the mean (procedure's min_sd_pct)"
               if floors else "no baseline: no limits")
    title = f"Control charts: {scanner}"
    canvas.marks.append(Mark("header", "title", canvas.text(LEFT, 10, title, size=14, bold=True, anchor="lt"), (), shown(title)))
    info = f"{n_runs} run(s), {dates}; baseline {'v' + str(baseline_version) if baseline_version else 'none'}; {sd_text}"
    canvas.marks.append(Mark("header", "info", canvas.text(LEFT, 32, info, size=LEGEND_PX, anchor="lt"), (), shown(info)))
    entries = [
        ("tolerance", "within tolerance: pass"), ("warn", "beyond tolerance: warn"), ("action", "action level: fail beyond"),
        ("mean", "baseline mean"), ("sd2", "\u00b12 SD (control limit)"), ("sd3", "\u00b13 SD (control limit)"),
        ("run", "run"), ("flagged", "run flagged (Western Electric rule or CUSUM)"),
    ]
    if not any(chart.baseline is not None or chart.verdict_limits is not None for _, chart in items):
        entries = entries[6:]  # nothing drawn but the runs: no legend entry for a limit that is not there
        warning = "NO BASELINE SET: the runs are shown without limits (set one: qa baseline set --scanner ...)"
        box = canvas.text(LEFT, 72, warning, size=LEGEND_PX + 0.5, bold=True, colour=C_FLAG, anchor="lt")
        canvas.marks.append(Mark("header", "no_baseline", box, (), shown(warning)))
    x, y, column = LEFT, 56.0, 0
    widths = [28 + canvas.text_box(0, 0, label, size=LEGEND_PX)[2] + 18 for _, label in entries[:4]]
    for index, (kind, label) in enumerate(entries):
        if index == 4 and len(entries) > 4:
            x, y, column = LEFT, y + 18, 0
        sx, sy = x, y + 6
        if kind in ("tolerance", "warn"):
            canvas.rect(sx, sy - 5, sx + 22, sy + 5, fill=C_TOLERANCE if kind == "tolerance" else C_WARN, outline="#8aa9c8"
                        if kind == "tolerance" else C_HATCH, hatch=(C_HATCH, 4, 0.8) if kind == "warn" else None)
        elif kind in ("action", "mean", "sd2", "sd3"):
            canvas.line([(sx, sy), (sx + 22, sy)], C_ACTION if kind == "action" else C_LINE, 1.6 if kind == "action" else 1.0,
                        dash={"sd2": DOTTED, "sd3": DASHED}.get(kind))
        else:
            canvas.marker(sx + 11, sy, "D" if kind == "flagged" else "o", 9 if kind == "flagged" else 7,
                          C_FLAG if kind == "flagged" else C_RUN, "#000000" if kind == "flagged" else None)
        box = canvas.text(x + 28, sy, label, size=LEGEND_PX, anchor="lm")
        canvas.marks.append(Mark("legend", kind, box, (), label))
        x += widths[column]
        column += 1


def _panel(canvas: Canvas, metric: str, chart, x_of, x_range, ticks, frame, width: float, *, bottom: bool) -> None:
    x0, y0 = frame
    x1, y1 = x0 + width, y0 + PANEL_H
    b, limits = chart.baseline, chart.verdict_limits
    values = [None if r.value is None or not math.isfinite(r.value) else float(r.value) for r in chart.runs]
    span = [v for v in values if v is not None]
    if limits is not None:
        span += list(limits.action)
    if b is not None and b.chart_sd > 0:
        span += [b.mean - 3 * b.chart_sd, b.mean + 3 * b.chart_sd]
    if limits is None and b is None and span:  # no limits: never autoscaled to noise
        span += list(_min_span(chart, span))
    low, high = (min(span), max(span)) if span else (0.0, 1.0)
    pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
    y_range = (low - pad, high + pad)

    def px(x: float) -> float:
        return x0 + (x - x_range[0]) / (x_range[1] - x_range[0]) * width

    def py(v: float) -> float:
        return y1 - (v - y_range[0]) / (y_range[1] - y_range[0]) * PANEL_H

    if limits is not None:
        (t0, t1), (a0, a1) = limits.tolerance, limits.action
        canvas.rect(x0, py(t1), x1, py(t0), fill=C_TOLERANCE)
        canvas.marks.append(Mark("tolerance", metric, (x0, py(t1), x1, py(t0)), (t0, t1)))
        for lo, hi in ((a0, t0), (t1, a1)):
            canvas.rect(x0, py(hi), x1, py(lo), fill=C_WARN, hatch=(C_HATCH, 6, 0.8))
            canvas.marks.append(Mark("warn", metric, (x0, py(hi), x1, py(lo)), (lo, hi)))
        for level in (a0, a1):
            canvas.line([(x0, py(level)), (x1, py(level))], C_ACTION, 1.6)
        canvas.marks.append(Mark("action", metric, (x0, py(a1), x1, py(a0)), (a0, a1)))
    if b is not None and b.chart_sd > 0:
        canvas.line([(x0, py(b.mean)), (x1, py(b.mean))], C_LINE, 1.0)
        canvas.marks.append(Mark("mean", metric, (x0, py(b.mean), x1, py(b.mean)), (b.mean,)))
        for k, dash in ((2, DOTTED), (3, DASHED)):
            lo, hi = b.mean - k * b.chart_sd, b.mean + k * b.chart_sd
            for level in (lo, hi):
                canvas.line([(x0, py(level)), (x1, py(level))], C_LINE, 1.0, dash=dash)
            canvas.marks.append(Mark(f"sd{k}", metric, (x0, py(hi), x1, py(lo)), (lo, hi), "dotted" if k == 2 else "dashed"))
    points = [(px(x_of[r.acquired_at]), py(v), r, v) for r, v in zip(chart.runs, values) if v is not None]
    run_line: list[tuple[float, float]] = []
    for r, v in zip(chart.runs, values):  # a run without a value breaks the line
        if v is None:
            if len(run_line) > 1:
                canvas.line(run_line, C_JOIN, 1.0)
            run_line = []
        else:
            run_line.append((px(x_of[r.acquired_at]), py(v)))
    if len(run_line) > 1:
        canvas.line(run_line, C_JOIN, 1.0)
    crowded = len(points) > width / 8  # smaller markers when runs are closer than 8 px apart
    for x, y, r, v in points:
        shape, kind = ("D", "flagged") if r.flags else ("o", "run")
        size = (8 if crowded else 10) if r.flags else (4.5 if crowded else 6.5)
        box = canvas.marker(x, y, shape, size, C_FLAG if r.flags else C_RUN, "#000000" if r.flags else None)
        canvas.marks.append(Mark(kind, metric, box, (x_of[r.acquired_at], v, r.run_id), shape))
    canvas.rect(x0, y0, x1, y1, outline="#000000", width=1.0)
    canvas.marks.append(Mark("panel", metric, (x0, y0, x1, y1), (*x_range, *y_range)))
    _axes(canvas, metric, chart, (x0, y0, x1, y1), ticks, y_range, px, py, bottom=bottom)


def _axes(canvas: Canvas, metric: str, chart, box, x_ticks, y_range, px, py, *, bottom: bool) -> None:
    x0, y0, x1, y1 = box
    left = x0 - 10.0
    for value, label in zip(*_nice_ticks(*y_range)):
        y = py(value)
        canvas.line([(x0 - 4, y), (x0, y)], "#000000", 1.0)
        left = min(left, canvas.text(x0 - 6, y, label, size=TICK_PX, anchor="rm")[0])
    positions, labels, years = x_ticks
    for x, label in zip(positions, labels):
        canvas.line([(px(x), y1), (px(x), y1 + 4)], "#000000", 1.0)
        if bottom:
            box = canvas.text(px(x), y1 + 6, label, size=TICK_PX, anchor="mt")
            canvas.marks.append(Mark("xtick", metric, box, (x,), label))
    if bottom:
        canvas.text((x0 + x1) / 2, y1 + 24, f"acquisition date ({years})", size=TICK_PX, anchor="mt")
    canvas.text(left - 10, (y0 + y1) / 2, chart.unit or "score (no unit)", size=TICK_PX + 0.5, vertical=True)
    lines = [part for line in _subtitle(chart) for part in _wrap(canvas, line, x1 - x0)][:4]
    for k, line in enumerate(reversed(lines)):
        canvas.text(x0, y0 - 6 - 14 * k, line, size=SUB_PX, colour="#333333", anchor="ld")
    title = canvas.text(x0, y0 - 10 - 14 * len(lines), chart.title or metric, size=TITLE_PX, anchor="ld")
    canvas.marks.append(Mark("title", metric, title, (), shown(chart.title or metric)))


def _wrap(canvas: Canvas, text: str, width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels (broken between words)."""
    lines, current = [], ""
    for word in text.split(" "):
        trial = f"{current} {word}" if current else word
        if current and canvas.text_box(0, 0, trial, size=SUB_PX)[2] > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return lines + [current]


def _subtitle(chart) -> tuple[str, str]:
    """Two lines under a panel's title: the verdict's limits, then the SD of the control limits."""
    b, limits = chart.baseline, chart.verdict_limits
    if b is None:
        unit = f" {chart.unit}" if chart.unit else ""
        values = [float(r.value) for r in chart.runs if r.value is not None and math.isfinite(r.value)]
        if chart.verdict_limits is None and values:
            lo, hi = _min_span(chart, values)
            why = "the procedure's tolerance" if chart.scale_band else f"\u00b1{NO_BASELINE_SPAN_PCT:g} %"
            return ("no baseline for this metric: no limits (qa baseline set --scanner ...)",
                    f"y axis spans at least {lo:.4g}-{hi:.4g}{unit}: {why} around the runs' mean")
        return "no baseline for this metric: no limits", "(qa baseline set --scanner ...)"
    unit = f" {chart.unit}" if chart.unit else ""
    if limits is None:
        verdict = "not checked against the baseline by the procedure"
    elif limits.tightened:
        half_t, half_a = (limits.tolerance[1] - limits.tolerance[0]) / 2, (limits.action[1] - limits.action[0]) / 2
        verdict = (f"warn beyond \u00b1{half_t:.3g}, fail beyond \u00b1{half_a:.3g}{unit} of the baseline mean "
                   "(tightened to the baseline SD)")
    elif limits.relative:
        verdict = f"warn beyond \u00b1{limits.tolerance_level:g} %, fail beyond \u00b1{limits.action_level:g} % of the baseline mean"
    else:
        verdict = f"warn beyond \u00b1{limits.tolerance_level:g}, fail beyond \u00b1{limits.action_level:g}{unit} of the baseline mean"
    floor = f"{b.min_sd_pct:g} % floor; baseline SD {b.sd:.2g}" if b.sd_floored else "the baseline's own"
    return verdict, f"control limits: SD {b.chart_sd:.3g}{unit} ({floor}, n={b.n})"


def _min_span(chart, values: list[float]) -> tuple[float, float]:
    """The least a chart without limits spans: its ``scale_band`` (the procedure's tolerance around the
    runs' mean), else +- NO_BASELINE_SPAN_PCT % of that mean."""
    if chart.scale_band is not None:
        return tuple(chart.scale_band)
    mean = sum(values) / len(values)
    half = abs(mean) * NO_BASELINE_SPAN_PCT / 100.0 or 1.0
    return mean - half, mean + half


def _nice_ticks(low: float, high: float, target: int = 5) -> tuple[list[float], list[str]]:
    """About ``target`` round values (1, 2, 2.5 or 5 x 10^k apart) within [low, high], and their labels."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [], []
    raw = (high - low) / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if round(step / power, 6) == 2.5 else 0))
    first = math.ceil(low / step - 1e-9)
    values = [k * step for k in range(first, math.floor(high / step + 1e-9) + 1)]
    return values, [f"{v:.{decimals}f}" for v in values]


def _days(when: dt.datetime) -> float:
    """An aware time as days since 1970 on the site's wall clock (the x coordinate)."""
    return (when.astimezone().replace(tzinfo=None) - _EPOCH).total_seconds() / 86400.0


def _x_range(xs: list[float]) -> tuple[float, float]:
    if not xs:
        now = _days(dt.datetime.now().astimezone())
        return now - 1.0, now + 1.0
    first, last = min(xs), max(xs)
    if len(set(xs)) == 2:  # two runs: the axis spans them, with a little room
        pad = max(X_PAD_TWO_RUNS_MIN_DAYS, (last - first) * X_PAD_TWO_RUNS)
    else:
        pad = max(X_PAD_MIN_DAYS, (last - first) * X_PAD_FRACTION)
    return first - pad, last + pad


def _run_ticks(times: list[dt.datetime], x_of) -> tuple[list[float], list[str], str]:
    """One or two runs: a tick at each, labelled with its date and time on the site's clock (the
    second without the date when both are on the same day)."""
    local = [t.astimezone() for t in times]
    labels = [f"{t.day} {t:%b %H:%M}" for t in local]
    if len(local) == 2 and local[0].date() == local[1].date():
        labels[1] = f"{local[1]:%H:%M}"
    years = sorted({t.year for t in local})
    return [x_of[t] for t in times], labels, " to ".join(str(y) for y in years)


def _date_ticks(lo: float, hi: float) -> tuple[list[float], list[str], str]:
    """At most MAX_X_TICKS ticks at whole days, weeks or months between ``lo`` and ``hi`` (days since
    1970), their labels, and the year(s) for the axis label."""
    start, end = _EPOCH + dt.timedelta(days=lo), _EPOCH + dt.timedelta(days=hi)
    years = f"{start.year}" if start.year == end.year else f"{start.year} to {end.year}"
    midnight = dt.datetime(start.year, start.month, start.day)
    first_day = midnight if midnight >= start else midnight + dt.timedelta(days=1)
    for step in (1, 2, 7, 14):
        t = first_day + dt.timedelta(days=(7 - first_day.weekday()) % 7 if step == 7 else 0)  # weeks start on Mondays
        ticks = []
        while t <= end and len(ticks) <= MAX_X_TICKS:
            ticks.append(t)
            t += dt.timedelta(days=step)
        if len(ticks) <= MAX_X_TICKS:
            return [_days_naive(t) for t in ticks], [f"{t.day} {t:%b}" for t in ticks], years
    first_month = start.year * 12 + start.month - 1 + (start != dt.datetime(start.year, start.month, 1))
    for months in (1, 2, 3, 6, 12, 24, 60, 120):
        m = -(-first_month // months) * months  # the first month on or after the start that is a multiple of the step
        ticks = []
        while (t := dt.datetime(m // 12, m % 12 + 1, 1)) <= end:
            ticks.append(t)
            m += months
        if len(ticks) <= MAX_X_TICKS:
            many_years = start.year != end.year
            return [_days_naive(t) for t in ticks], [f"{t:%b %Y}" if many_years else f"{t:%b}" for t in ticks], years
    return [], [], years


def _days_naive(when: dt.datetime) -> float:
    return (when - _EPOCH).total_seconds() / 86400.0
