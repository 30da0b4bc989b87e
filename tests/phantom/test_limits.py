"""The limits a control chart draws are the limits the verdict uses: one function for both."""

from __future__ import annotations

import datetime as dt

import pytest

from qa.phantom.baseline import Baseline, Configuration, MetricStats
from qa.phantom.checks import metric_check
from qa.phantom.limits import baseline_verdict_limits
from qa.procedures import load_procedure

CONFIGURATION = Configuration("qrm-cci", "none", 120.0, "B35f", 3.0, "standard", 130.0, "fixed", (200.0, 300.0, 400.0), 1.0, 1, 4,
                              "plain")


def _baseline(n: int, sd_fraction: float) -> Baseline:
    means = {"mass_800_5mm": 80.0, "total_mass": 170.0, "c_ha": 0.72, "water_hu": 2.0, "noise_hu": 14.0}
    stats = {k: MetricStats(v, abs(v) * sd_fraction, n) for k, v in means.items()}
    return Baseline("scanner", CONFIGURATION, 1, dt.datetime(2026, 3, 1, tzinfo=dt.UTC), stats)


@pytest.mark.parametrize("n_runs, sd_fraction", [(5, 0.01), (25, 0.001), (25, 0.2)])
def test_chart_limits_equal_the_limits_the_metric_check_applies(n_runs, sd_fraction):
    procedure = load_procedure("daily-phantom-qa")
    baseline = _baseline(n_runs, sd_fraction)
    limits = baseline_verdict_limits(procedure, baseline)
    checked = [r for r in procedure.checks if r.reference == "baseline" and r.metric_key in baseline.stats]
    assert checked and set(limits) == {r.metric_key for r in checked}
    tightened = n_runs >= procedure.tighten_after_runs
    for rule in checked:
        value = baseline.stats[rule.metric_key].mean * 1.01
        check = metric_check(rule, {rule.metric_key: value}, [], baseline, "", tightened, procedure.tighten_sd)
        assert list(limits[rule.metric_key].tolerance) == pytest.approx(check.source["tolerance"])
        assert list(limits[rule.metric_key].action) == pytest.approx(check.source["action"])
        assert limits[rule.metric_key].rule == rule.id


def test_a_long_baseline_with_a_narrow_spread_tightens_the_limits_and_says_so():
    procedure = load_procedure("daily-phantom-qa")
    wide = baseline_verdict_limits(procedure, _baseline(5, 0.001))["mass_800_5mm"]
    narrow = baseline_verdict_limits(procedure, _baseline(procedure.tighten_after_runs, 0.001))["mass_800_5mm"]
    assert not wide.tightened and narrow.tightened
    assert narrow.action[1] - narrow.action[0] < wide.action[1] - wide.action[0]
    assert "tightened" in narrow.describe("mg") and "% of the baseline mean" in wide.describe("mg")
    # a spread wider than the procedure's levels leaves them as they are
    assert not baseline_verdict_limits(procedure, _baseline(procedure.tighten_after_runs, 0.2))["mass_800_5mm"].tightened


def test_without_a_baseline_there_are_no_verdict_limits_to_draw():
    assert baseline_verdict_limits(load_procedure("daily-phantom-qa"), None) == {}
