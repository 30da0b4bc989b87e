"""The limits a phantom run's metric checks judge it by: the procedure's tolerance and action level
around the reference (the baseline mean or the physical truth), tightened to the baseline's own
spread once the baseline holds enough runs.

One function for the verdict (:func:`qa.phantom.checks.metric_check`) and for what a control chart
draws as its tolerance and action bands (:func:`baseline_verdict_limits`): the two cannot differ.
Pure and light to import (no analysis, no scipy).
"""

from __future__ import annotations

from qa.phantom.baseline import Baseline
from qa.phantom.procedure import MetricRule, PhantomProcedure
from qa.records.checks import VerdictLimits


def verdict_limits(rule: MetricRule, reference: float, baseline_sd: float | None, *, tightened: bool,
                   tighten_sd: float) -> VerdictLimits:
    """The limits ``rule`` judges a value by, around ``reference``: the procedure's tolerance and
    action level (in % of the reference or absolute); with ``tightened`` (a baseline of enough runs)
    and a positive ``baseline_sd``, narrowed to the scanner's own spread where that is narrower:
    action +- ``tighten_sd`` SD, tolerance two thirds of it (the procedure's ``[baseline]`` table)."""
    tolerance = rule.tolerance * abs(reference) / 100.0 if rule.relative else rule.tolerance
    action = rule.action * abs(reference) / 100.0 if rule.relative else rule.action
    narrowed = False
    if tightened and rule.reference == "baseline" and baseline_sd is not None and baseline_sd > 0:
        # With enough runs the limits tighten to the scanner's own spread, when that is narrower.
        narrow_action = min(action, tighten_sd * baseline_sd)
        narrow_tolerance = min(tolerance, narrow_action * 2.0 / 3.0)
        narrowed = narrow_action < action or narrow_tolerance < tolerance
        action, tolerance = narrow_action, narrow_tolerance
    return VerdictLimits(rule.id, rule.reference, reference, (reference - tolerance, reference + tolerance),
                         (reference - action, reference + action), rule.tolerance, rule.action, rule.relative, narrowed)


def baseline_verdict_limits(procedure: PhantomProcedure, baseline: Baseline | None) -> dict[str, VerdictLimits]:
    """Per metric id, the limits the procedure's baseline checks judge a run by against ``baseline``
    (as :func:`metric_check` does: what a control chart draws as its tolerance and action bands).
    The first baseline rule of a metric counts; metrics without one (or without baseline values) are left out."""
    if baseline is None:
        return {}
    tightened = baseline.n_runs >= procedure.tighten_after_runs
    out: dict[str, VerdictLimits] = {}
    for rule in procedure.checks:
        stats = baseline.stats.get(rule.metric_key)
        if rule.reference != "baseline" or stats is None or rule.metric_key in out:
            continue
        out[rule.metric_key] = verdict_limits(rule, stats.mean, stats.sd, tightened=tightened, tighten_sd=procedure.tighten_sd)
    return out


def scale_band(procedure: PhantomProcedure, metric: str, values) -> tuple[float, float] | None:
    """The procedure's tolerance for ``metric`` (its first baseline rule) around the mean of ``values``:
    how far a chart's y axis must reach at least when no baseline gives it limits (None without a
    rule or a value).  Drawing only: no run is judged by it."""
    finite = [float(v) for v in values if v is not None and v == v and abs(v) != float("inf")]
    rule = next((r for r in procedure.checks if r.reference == "baseline" and r.metric_key == metric), None)
    if rule is None or not finite:
        return None
    mean = sum(finite) / len(finite)
    return verdict_limits(rule, mean, None, tightened=False, tighten_sd=procedure.tighten_sd).tolerance
