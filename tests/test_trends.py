"""Control-chart rules, and the issue's drift scenario: a slow drift is flagged before it fails."""

from __future__ import annotations

import numpy as np

from qa.trends import control_chart, cusum, first_flag, western_electric


def test_western_electric_rules():
    assert "we1" in western_electric([0, 0, 3.5])[2]
    assert "we2" in western_electric([2.5, 0.1, 2.2])[2]
    assert "we2" not in western_electric([2.5, 0.1, -2.2])[2]
    assert "we3" in western_electric([1.5, 1.2, 0.2, 1.1, 1.3])[4]
    assert "we4" in western_electric([0.2] * 8)[7]
    assert not any(western_electric([0.2] * 7))
    assert western_electric([None, 3.5])[0] == set()


def test_cusum_accumulates_small_shifts():
    highs, lows, alarms = cusum([1.0] * 12)
    assert highs[:3] == [0.5, 1.0, 1.5] and not any(alarms[:10]) and alarms[10]
    assert not any(cusum([0.4, -0.4] * 20)[2])


def test_a_slow_drift_is_flagged_before_any_run_fails_its_tolerance():
    """A month of daily runs: 10 stable days make the baseline, then the measured mass drifts +1 %/day.

    The procedure's tolerance for a 5 mm insert's mass is +-10 % (warn) and +-15 % (fail) of the
    baseline; the control chart must flag the drift first.
    """
    rng = np.random.default_rng(42)
    true_mass = 78.5
    noise = 0.015  # 1.5 % day-to-day repeatability
    stable = true_mass * (1 + noise * rng.standard_normal(10))
    baseline_mean, baseline_sd = float(stable.mean()), float(stable.std(ddof=1))
    drift_days = np.arange(1, 21)
    drifting = true_mass * (1 + 0.01 * drift_days) * (1 + noise * rng.standard_normal(20))
    values = list(stable) + list(drifting)
    points = control_chart(values, baseline_mean, baseline_sd)
    flagged = first_flag(points)
    fails = [i for i, v in enumerate(values) if abs(v - baseline_mean) > 0.15 * baseline_mean]
    warns = [i for i, v in enumerate(values) if abs(v - baseline_mean) > 0.10 * baseline_mean]
    assert flagged is not None and fails
    assert flagged < warns[0] <= fails[0]
    assert flagged >= 10  # nothing is flagged in the stable baseline period
    assert fails[0] - flagged >= 5  # days of warning before the tolerance is breached
