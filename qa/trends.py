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
procedure's ``min_sd_pct`` of the mean, 2 % by default).

A run is *flagged* by any rule; flags point at drift before any run fails its tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
class ChartPoint:
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


def runs_table(runs, metric_ids: Sequence[str] | None = None):
    """A pandas DataFrame of stored runs (one row per run, one column per metric); ``acquired_at``
    is the run's instant (UTC), the analysis time when the acquisition time is unknown."""
    import pandas as pd

    rows = []
    for r in runs:
        row = {"run_id": r.id, "acquired_at": r.acquired_at or r.analysed_at, "verdict": r.verdict, "protocol_ok": r.protocol_ok}
        for key, value in r.metrics.items():
            if metric_ids is None or key in metric_ids:
                row[key] = value
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table["acquired_at"] = pd.to_datetime(table["acquired_at"], errors="coerce", utc=True)
    return table


def monthly_summary(table):
    """Per month (of local time): number of runs, failures, and the mean of every metric column."""
    import pandas as pd

    if table.empty:
        return table
    metrics = [c for c in table.columns if c not in ("run_id", "acquired_at", "verdict", "protocol_ok")]
    local_month = [None if pd.isna(t) else t.to_pydatetime().astimezone().strftime("%Y-%m") for t in table["acquired_at"]]
    grouped = table.groupby(pd.Series(local_month, index=table.index, name="acquired_at"))
    summary = grouped[metrics].mean(numeric_only=True)
    summary.insert(0, "n_fail", grouped["verdict"].apply(lambda v: int((v == "fail").sum())))
    summary.insert(0, "n_runs", grouped["run_id"].count())
    return pd.DataFrame(summary)


def default_trend_metrics() -> list[str]:
    return ["mass_800_5mm", "mass_400_5mm", "mass_200_5mm", "total_mass", "c_ha", "water_hu", "noise_hu", "total_agatston"]


def values_of(runs, metric: str) -> np.ndarray:
    return np.array([np.nan if r.metrics.get(metric) is None else r.metrics[metric] for r in runs], dtype=float)
