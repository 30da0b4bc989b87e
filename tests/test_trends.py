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


def test_a_drifting_month_end_to_end(tmp_path):
    """A month of synthetic daily phantom scans through qa phantom, the store, a baseline and the
    control chart: the calcifications read 1 % brighter every day from day 11; the chart flags the
    drift before any run fails (or even warns on) the 800 mg/cm3 5 mm insert's mass tolerance."""
    import json

    from qa.cli.phantom import run_phantom
    from qa.phantom.analysis import baseline_from_results
    from qa.phantom.synth import SynthOptions, synthesize_phantom
    from qa.store import Store
    from qa.trends import chart_sd

    store = Store(f"sqlite:///{tmp_path / 'month.sqlite'}")
    first_flag_day = first_fail_day = first_warn_day = None
    try:
        for day in range(1, 31):
            scale = 1.0 + 0.01 * max(0, day - 10)
            folder = tmp_path / f"day{day:02d}"
            synthesize_phantom(folder, SynthOptions(
                pixel_mm=0.8, matrix=320, z_start_mm=-9.0, z_end_mm=42.0, noise_hu=10.0, seed=day,
                acquisition_datetime=f"2026-04-{day:02d}T07:30:00", calcification_scale=scale,
                rotation_deg=float(day % 3), station_name="CT-M", device_serial_number="M-1",
            ))
            _, result, document, _, _ = run_phantom([folder], store=store, progress=False)
            checks = {c.id: c.status for c in result.checks}
            if day == 10:
                scanner = store.find_scanner("CT-M")
                runs = store.phantom_runs(scanner.id)
                baseline = baseline_from_results([r.metrics for r in runs], scanner.key, json.loads(runs[-1].configuration_key),
                                                 0, "2026-04-10T08:00:00+00:00", tuple(r.id for r in runs))
                store.set_baseline(scanner.id, baseline)
            if day > 10:
                runs = store.phantom_runs(store.find_scanner("CT-M").id)
                stats = store.active_baseline(runs[-1].scanner_id, runs[-1].configuration_key).stats["mass_800_5mm"]
                points = control_chart([r.metrics["mass_800_5mm"] for r in runs[10:]], stats.mean,
                                       chart_sd(stats.mean, stats.sd))
                if points[-1].flags and first_flag_day is None:
                    first_flag_day = day
                if checks["mass_800_5mm"] == "warn" and first_warn_day is None:
                    first_warn_day = day
                if checks["mass_800_5mm"] == "fail" and first_fail_day is None:
                    first_fail_day = day
    finally:
        store.close()
    assert first_flag_day is not None and first_fail_day is not None
    assert first_flag_day < (first_warn_day or first_fail_day) <= first_fail_day
