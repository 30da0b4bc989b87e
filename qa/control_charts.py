"""Control charts of stored phantom runs: baseline mean +- 3 SD, Western Electric rules, CUSUM.

Pure functions on numbers (and pandas tables built from stored runs).  A metric's values are
standardised against its baseline (z = (value - mean) / SD) and then:

* Western Electric rules (Western Electric Statistical Quality Control Handbook, 1956):
  1: one point beyond 3 SD; 2: two of three successive points beyond 2 SD on the same side;
  3: four of five successive points beyond 1 SD on the same side; 4: eight successive points on
  the same side of the mean.
* A tabular CUSUM (Page 1954; Montgomery, Introduction to Statistical Quality Control) with
  reference value k = 0.5 SD and decision interval h = 5 SD: it detects small sustained shifts
  (about 1 SD, in about 10 runs) well before a single run breaches a wide tolerance, with a false
  alarm about once in 465 stable runs.

A short baseline underestimates the spread, so the SD used is never below a floor (the
procedure's ``min_sd_pct`` of the mean, 2 % by default).  Which metrics are charted by default is
the phantom definition's choice (:func:`qa.phantom.metrics.default_chart_metrics`).

A run is *flagged* by any rule; flags point at drift before any run fails its tolerance.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from qa.records.checks import VerdictLimits
from qa.records.serialize import Record

# Western Electric handbook (1956): zones at 1, 2 and 3 SD; run length 8.
WE_RULES = {
    "we1": "one point beyond 3 SD",
    "we2": "2 of 3 points beyond 2 SD, same side",
    "we3": "4 of 5 points beyond 1 SD, same side",
    "we4": "8 points in a row on one side of the mean",
}
# Tabular CUSUM (Montgomery, Introduction to SQC, 6th ed., sec. 9.1): k = 0.5 SD, h = 5 SD.
CUSUM_K = 0.5
CUSUM_H = 5.0


@dataclass(frozen=True)
class ChartPoint(Record):
    index: int
    value: float | None
    z: float | None
    cusum_high: float
    cusum_low: float
    flags: tuple[str, ...]


def western_electric(z: Sequence[float | None]) -> list[set[str]]:
    """The Western Electric rules each point (in order) completes; None values are skipped."""
    flags: list[set[str]] = [set() for _ in z]
    valid = [(i, float(v)) for i, v in enumerate(z) if v is not None and math.isfinite(v)]
    for n, (i, v) in enumerate(valid):
        window = [w for _, w in valid[max(0, n - 7) : n + 1]]
        if abs(v) > 3:
            flags[i].add("we1")
        last3, last5 = window[-3:], window[-5:]
        for sign in (1, -1):
            if len(last3) == 3 and sum(1 for w in last3 if sign * w > 2) >= 2 and sign * v > 2:
                flags[i].add("we2")
            if len(last5) == 5 and sum(1 for w in last5 if sign * w > 1) >= 4 and sign * v > 1:
                flags[i].add("we3")
            if len(window) == 8 and all(sign * w > 0 for w in window):
                flags[i].add("we4")
    return flags


def cusum(z: Sequence[float | None], k: float = CUSUM_K, h: float = CUSUM_H) -> tuple[list[float], list[float], list[bool]]:
    """Tabular CUSUM of standardised values: upper and lower sums, and where either exceeds h."""
    high, low = 0.0, 0.0
    highs, lows, alarms = [], [], []
    for v in z:
        if v is not None and math.isfinite(v):
            high = max(0.0, high + v - k)
            low = max(0.0, low - v - k)
        highs.append(high)
        lows.append(low)
        alarms.append(high > h or low > h)
    return highs, lows, alarms


# What the flags of a run mean (the terminal's legend, the figures' key): the rules above and the CUSUM.
FLAG_MEANINGS = WE_RULES | {"cusum": f"CUSUM beyond {CUSUM_H:g} SD (k = {CUSUM_K:g} SD): a small sustained shift"}


def chart_sd(mean: float, sd: float, min_sd_pct: float = 2.0) -> float:
    """The SD a control chart uses: the baseline SD, but never below ``min_sd_pct`` % of the mean."""
    return max(sd, abs(mean) * min_sd_pct / 100.0)


def control_chart(values: Sequence[float | None], mean: float, sd: float) -> list[ChartPoint]:
    """Standardise ``values`` against (mean, SD) and apply the rules; SD must be positive."""
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise ValueError("a control chart needs a finite mean and a positive SD")
    z = [None if v is None or not math.isfinite(v) else (v - mean) / sd for v in values]
    we = western_electric(z)
    highs, lows, alarms = cusum(z)
    points = []
    for i, v in enumerate(values):
        flags = sorted(we[i]) + (["cusum"] if alarms[i] else [])
        points.append(ChartPoint(i, v, z[i], highs[i], lows[i], tuple(flags)))
    return points


def first_flag(points: Sequence[ChartPoint]) -> int | None:
    """Index of the first flagged point, or None."""
    for p in points:
        if p.flags:
            return p.index
    return None


@dataclass(frozen=True)
class MonthSummary(Record):
    """One calendar month of runs: how many, how many failed, and each metric's mean."""

    month: str  # YYYY-MM
    n_runs: int
    n_fail: int
    means: dict[str, float | None]


def monthly_summary(months: Sequence[str], verdicts: Sequence[str], values: dict[str, Sequence[float | None]]) -> list[MonthSummary]:
    """Per month (runs in order; ``months`` as YYYY-MM), the run count, the failures and the mean of
    every metric's values (None values left out; None when a month has none)."""
    out: dict[str, dict] = {}
    for i, month in enumerate(months):
        entry = out.setdefault(month, {"n": 0, "fail": 0, "values": {m: [] for m in values}})
        entry["n"] += 1
        entry["fail"] += verdicts[i] == "fail"
        for metric, series in values.items():
            v = series[i]
            if v is not None and math.isfinite(v):
                entry["values"][metric].append(float(v))
    return [MonthSummary(month, e["n"], e["fail"], {m: (sum(v) / len(v) if v else None) for m, v in e["values"].items()})
            for month, e in sorted(out.items())]


@dataclass(frozen=True)
class ChartBaseline(Record):
    """A metric's baseline as a chart uses it: the statistical control limits are mean +- 2 and
    +- 3 ``chart_sd``, the baseline SD floored at ``min_sd_pct`` % of the mean (``sd_floored``)."""

    mean: float
    sd: float
    n: int
    chart_sd: float  # the SD the limits use: the baseline's, floored at the procedure's min_sd_pct of the mean
    min_sd_pct: float = 2.0
    sd_floored: bool = False  # the floor, not the baseline's own SD, set chart_sd

    __json_properties__ = ("control_limits",)

    @property
    def control_limits(self) -> dict[str, tuple[float, float]]:
        """The statistical limits: ``{"2sd": [low, high], "3sd": [low, high]}``."""
        return {f"{k}sd": (self.mean - k * self.chart_sd, self.mean + k * self.chart_sd) for k in (2, 3)}


@dataclass(frozen=True)
class ChartRun(Record):
    run_id: int
    acquired_at: dt.datetime  # of the acquisition (else of the analysis), aware
    value: float | None
    z: float | None
    flags: tuple[str, ...]
    verdict: str


@dataclass(frozen=True)
class MetricChart(Record):
    """One metric's control chart: its runs against the baseline's statistical limits, and the
    limits the verdict judges a run by (``verdict_limits``: the procedure's tolerance and action
    level; None when the procedure does not check the metric against the baseline).

    ``scale_band`` (only without verdict limits, e.g. before a baseline is set): the procedure's
    tolerance around the mean of the charted runs, [low, high].  A chart's y axis spans at least
    this, so that run-to-run noise does not look like drift; it is no limit and judges nothing."""

    baseline: ChartBaseline | None
    runs: tuple[ChartRun, ...]
    name: str = ""
    unit: str = ""
    verdict_limits: VerdictLimits | None = None
    scale_band: tuple[float, float] | None = None

    @property
    def title(self) -> str:
        """``Mass, 800 mg/cm3 5 mm insert (mg)``."""
        return f"{self.name} ({self.unit})" if self.unit else self.name


def metric_chart(runs: Sequence[tuple[int, dt.datetime, float | None, str]], baseline: tuple[float, float, int] | None, *,
                 min_sd_pct: float, name: str = "", unit: str = "", verdict_limits: VerdictLimits | None = None,
                 scale_band: tuple[float, float] | None = None) -> MetricChart:
    """The chart of one metric: ``runs`` as (run id, acquired at, value, verdict) in order,
    ``baseline`` as (mean, SD, n) or None; z-scores and flags against the floored SD."""
    chart_baseline, points = None, None
    if baseline is not None:
        mean, sd, n = baseline
        used = chart_sd(mean, sd, min_sd_pct)
        chart_baseline = ChartBaseline(mean, sd, n, used, min_sd_pct, used > sd)
        if used > 0:
            points = control_chart([r[2] for r in runs], mean, used)
    chart_runs = tuple(ChartRun(run_id, when, value, p.z if p else None, tuple(p.flags) if p else (), verdict)
                       for (run_id, when, value, verdict), p in zip(runs, points or [None] * len(runs)))
    return MetricChart(chart_baseline, chart_runs, name, unit, verdict_limits, scale_band)
