"""Per-insert results and checks: against physical truth, detection, baseline, protocol changes."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from qa.records.checks import FAIL, NOT_AVAILABLE, PASS, WARN
from qa.records.verdicts import INCOMPLETE
from qa.dicom.series import load_series
from qa.phantom.analysis import Baseline, MetricStats, analyze_phantom, baseline_from_results, configuration_of
from qa.procedures import load_phantom
from qa.phantom.synth import synthesize_phantom as synthesize_with
from qa.workflows.synth import SynthOptions, synthesize_phantom
from qa.procedures import load_procedure

PHANTOM = load_phantom("qrm-cci")
PROCEDURE = load_procedure("daily-phantom-qa")


@pytest.fixture(scope="module")
def clean_scan(tmp_path_factory):
    """Little noise: scores close to the physical truth (3 mm slices, as the procedure expects)."""
    folder = tmp_path_factory.mktemp("clean")
    truth = synthesize_phantom(folder, SynthOptions(z_start_mm=-10, z_end_mm=45, noise_hu=5.0, rotation_deg=20.0)).truth
    return load_series(folder), truth


def _checks(result):
    return {c.id: c for c in result.checks}


def test_per_insert_results_against_the_truth(clean_scan):
    volume, truth = clean_scan
    result = analyze_phantom(volume, PHANTOM, PROCEDURE)
    by_id = {i.id: i for i in result.inserts}
    truth_by_id = {c["id"]: c for c in truth["calcifications"]}
    assert result.calibration.c_ha_mg_per_cm3_hu == pytest.approx(truth["c_ha_true_mg_per_cm3_hu"], rel=0.02)
    assert result.calibration.noise_hu == pytest.approx(5.0, rel=0.3)
    for insert_id in ("800_5mm", "400_5mm", "200_5mm", "800_3mm", "400_3mm", "200_3mm"):
        insert = by_id[insert_id]
        assert insert.detected and insert.n_lesions >= 1
        expected = truth_by_id[insert_id]["center_mm"]
        assert math.dist(insert.centroid_mm[:2], expected[:2]) < 1.0
        assert abs(insert.centroid_mm[2] - expected[2]) <= volume.slice_increment_mm / 2 + 0.01
        # the mass score also sums the insert material (~50 HU) under the calcification
        assert insert.mass_mg == pytest.approx(insert.physical_mass_mg, rel=0.6 if insert.density_mgha_cm3 == 200 else 0.35)
        assert insert.mass_error_pct == pytest.approx(100 * (insert.mass_mg - insert.physical_mass_mg) / insert.physical_mass_mg)
    assert result.totals.agatston == pytest.approx(sum(i.agatston for i in result.inserts))
    assert result.totals.physical_mass_mg == pytest.approx(sum(c.physical_mass_mg for c in PHANTOM.calcifications))
    # the bone-like spine outside the insert is never scored
    assert result.other_lesions.n_lesions == 0


def test_an_undetected_insert_keeps_its_expected_position(clean_scan):
    volume, truth = clean_scan
    result = analyze_phantom(volume, PHANTOM, PROCEDURE)
    small = {i.id: i for i in result.inserts}["200_1mm"]
    assert not small.detected and small.n_lesions == 0 and small.agatston == 0
    # nothing was measured: no mass and no mass error (null), never 0 mg / -100 %
    assert small.mass_mg is None and small.mass_error_pct is None
    assert result.metrics["mass_200_1mm"] is None
    # the total is over the detected inserts
    assert result.totals.mass_mg == pytest.approx(sum(i.mass_mg for i in result.inserts if i.detected))
    expected = {c["id"]: c for c in truth["calcifications"]}["200_1mm"]["center_mm"]
    assert math.dist(small.centroid_mm[:2], expected[:2]) < 2.5


def test_before_a_baseline_exists_baseline_checks_are_not_available(clean_scan):
    volume, _ = clean_scan
    result = analyze_phantom(volume, PHANTOM, PROCEDURE)
    checks = _checks(result)
    for check_id in ("mass_800_5mm", "total_mass", "c_ha", "water_hu", "noise_hu"):
        assert checks[check_id].status == NOT_AVAILABLE
    assert checks["detected_800_5mm"].status == PASS
    assert checks["mass_800_5mm_vs_physical"].status == PASS
    assert "baseline checks not available" in result.verdict_message
    # what the banner says: a first run without a baseline is incomplete, never a pass
    assert result.verdict == INCOMPLETE == result.summary.level


def test_checks_against_a_baseline_pass_warn_and_fail(clean_scan):
    volume, _ = clean_scan
    settings_result = analyze_phantom(volume, PHANTOM, PROCEDURE)
    config = settings_result.configuration
    metrics = settings_result.metrics
    stats = {k: MetricStats(v, 0.01 * abs(v), 5) for k, v in metrics.items() if v is not None}
    same = Baseline("x|y|z", config, 1, "2026-01-01", stats)
    result = analyze_phantom(volume, PHANTOM, PROCEDURE, same)
    checks = _checks(result)
    assert checks["mass_800_5mm"].status == PASS and checks["mass_800_5mm"].source["baseline_version"] == 1
    # a baseline 12 % lower puts today 13.6 % above it: beyond tolerance (10 %), within action (15 %)
    low = replace(same, stats={**stats, "mass_800_5mm": MetricStats(metrics["mass_800_5mm"] / 1.12, 0.5, 5)})
    assert _checks(analyze_phantom(volume, PHANTOM, PROCEDURE, low))["mass_800_5mm"].status == WARN
    lower = replace(same, stats={**stats, "mass_800_5mm": MetricStats(metrics["mass_800_5mm"] / 1.2, 0.5, 5)})
    failing = analyze_phantom(volume, PHANTOM, PROCEDURE, lower)
    assert _checks(failing)["mass_800_5mm"].status == FAIL and failing.verdict == FAIL
    # after 20 runs the limits tighten to 3 SD when narrower
    tight = replace(same, stats={**stats, "mass_800_5mm": MetricStats(metrics["mass_800_5mm"] * 0.95, 0.5, 20)})
    check = _checks(analyze_phantom(volume, PHANTOM, PROCEDURE, tight))["mass_800_5mm"]
    assert check.status == FAIL and check.source["tightened_to_sd"]


def test_a_protocol_change_is_reported_as_such_and_never_compared_with_the_baseline(tmp_path):
    synthesize_phantom(tmp_path, SynthOptions(z_start_mm=-10, z_end_mm=45, noise_hu=5.0, kvp=100.0))
    volume = load_series(tmp_path)
    from qa.calcium.scoring import scoring_settings

    configuration = configuration_of(volume, PROCEDURE, scoring_settings("standard"), "unspecified")
    baseline = Baseline("x|y|z", configuration, 1, "2026-01-01", {"mass_800_5mm": MetricStats(80.0, 1.0, 10)})
    result = analyze_phantom(volume, PHANTOM, PROCEDURE, baseline)
    checks = _checks(result)
    assert checks["acquisition_kvp"].status == FAIL and "protocol change" in checks["acquisition_kvp"].message
    assert checks["mass_800_5mm"].status == NOT_AVAILABLE
    assert not result.protocol_ok and result.verdict == FAIL and result.verdict_message.startswith("PROTOCOL CHANGE")


def test_a_baseline_of_another_configuration_is_not_used(clean_scan):
    volume, _ = clean_scan
    result = analyze_phantom(volume, PHANTOM, PROCEDURE)
    other = replace(result.configuration, kernel="FC13")
    baseline = Baseline("x|y|z", other, 1, "2026-01-01", {"mass_800_5mm": MetricStats(80.0, 1.0, 10)})
    changed = analyze_phantom(volume, PHANTOM, PROCEDURE, baseline)
    check = _checks(changed)["mass_800_5mm"]
    assert check.status == NOT_AVAILABLE and "kernel" in check.message
    # the change itself is a visible check: a configuration change, not drift, naming what changed
    config = _checks(changed)["configuration"]
    assert config.status == WARN and config.measured == "kernel" and "FC13" in config.message
    assert changed.protocol_ok and "configuration differs" in changed.verdict_message
    # the same configuration passes
    same = Baseline("x|y|z", result.configuration, 1, "2026-01-01", {"mass_800_5mm": MetricStats(80.0, 1.0, 10)})
    assert _checks(analyze_phantom(volume, PHANTOM, PROCEDURE, same))["configuration"].status == PASS


def test_a_technique_change_is_a_protocol_change_not_drift(clean_scan):
    volume, _ = clean_scan
    first = analyze_phantom(volume, PHANTOM, PROCEDURE)
    assert first.metrics["ctdivol_mgy"] == 4.0
    stats = {k: MetricStats(v, 0.01 * abs(v), 5) for k, v in first.metrics.items() if v is not None}
    # the baseline was acquired at 30 % more CTDIvol (another mAs): today's noise is not comparable
    stats["ctdivol_mgy"] = MetricStats(5.2, 0.0, 5)
    result = analyze_phantom(volume, PHANTOM, PROCEDURE, Baseline("x|y|z", first.configuration, 1, "t", stats))
    checks = _checks(result)
    check = checks["acquisition_ctdivol_mgy_vs_baseline"]
    assert check.status == FAIL and "protocol change, not drift" in check.message
    assert check.expected == pytest.approx([5.2 * 0.9, 5.2 * 1.1])
    assert not result.protocol_ok and checks["noise_hu"].status == NOT_AVAILABLE
    # within 10 % it passes and the baseline checks run
    stats["ctdivol_mgy"] = MetricStats(4.2, 0.0, 5)
    result = analyze_phantom(volume, PHANTOM, PROCEDURE, Baseline("x|y|z", first.configuration, 1, "t", stats))
    assert _checks(result)["acquisition_ctdivol_mgy_vs_baseline"].status == PASS and _checks(result)["noise_hu"].status == PASS


def test_a_missing_water_rod_gives_no_calibration_and_fails(tmp_path):
    # the water rod is not where the phantom definition puts it: never calibrate on a guess
    rods = tuple(replace(r, diameter_mm=2.0) if r.density_mgha_cm3 == 0 else r for r in PHANTOM.rods)
    synthesize_with(tmp_path, SynthOptions(z_start_mm=-10, z_end_mm=45, noise_hu=5.0), definition=replace(PHANTOM, rods=rods))
    result = analyze_phantom(load_series(tmp_path), PHANTOM, PROCEDURE)
    checks = _checks(result)
    assert result.calibration.c_ha_mg_per_cm3_hu is None and result.calibration.detail is None
    assert checks["rod_water_found"].status == FAIL and checks["rod_ha200_found"].status == PASS
    assert checks["mass_800_5mm_vs_physical"].status == NOT_AVAILABLE and result.metrics["c_ha"] is None
    assert result.totals.mass_mg is None and all(i.mass_mg is None for i in result.inserts)
    assert result.verdict == FAIL


def test_the_ring_is_measured_from_the_image_unless_given(clean_scan):
    """The synthetic scan has no ring: measured as none (checked by the procedure); a given ring is
    an override that the image contradicts (a warning, and the given ring is used)."""
    volume, _ = clean_scan
    measured = analyze_phantom(volume, PHANTOM, PROCEDURE)
    assert (measured.acquisition.ring, measured.acquisition.ring_source) == ("none", "measured")
    assert _checks(measured)["acquisition_ring"].status == PASS and _checks(measured)["ring_from_image"].status == PASS
    overridden = analyze_phantom(volume, PHANTOM, PROCEDURE, ring="large")
    assert (overridden.acquisition.ring, overridden.acquisition.ring_source, overridden.configuration.ring) == ("large", "given", "large")
    assert _checks(overridden)["acquisition_ring"].status == PASS
    assert _checks(overridden)["ring_from_image"].status == WARN and "ring_from_image" in overridden.verdict_message
    assert any("--ring large contradicts the image" in w for w in overridden.warnings)


def test_checks_report_plain_values(clean_scan):
    volume, _ = clean_scan
    checks = _checks(analyze_phantom(volume, PHANTOM, PROCEDURE))
    assert checks["acquisition_slice_thickness_mm"].expected == "one of 2.5, 3.0 (+-0.1)"
    assert checks["acquisition_slice_thickness_mm"].source["allowed"] == [2.5, 3.0]
    assert checks["acquisition_kernel"].expected.startswith("one of FC12*, ")
    assert checks["acquisition_ctdivol_mgy"].expected == [0.5, 20.0]
    assert (checks["detected_800_5mm"].measured, checks["detected_800_5mm"].expected) == ("detected", "detected")


def test_baseline_statistics():
    baseline = baseline_from_results([{"a": 1.0, "b": None}, {"a": 3.0, "b": 2.0}], "s", None, 1, "t", (1, 2))
    assert baseline.stats["a"].mean == 2.0 and baseline.stats["a"].sd == pytest.approx(math.sqrt(2)) and baseline.stats["a"].n == 2
    assert baseline.stats["b"].n == 1 and baseline.n_runs == 2


def test_the_configuration_names_what_a_baseline_depends_on(clean_scan):
    volume, _ = clean_scan
    from qa.calcium.scoring import scoring_settings

    config = configuration_of(volume, PROCEDURE, scoring_settings("siemens"), "large")
    assert config.ring == "large" and config.scoring_method == "siemens" and config.kvp == 120.0
    assert set(config.to_dict()) >= {"phantom", "ring", "kvp", "kernel", "slice_thickness_mm", "scoring_method", "threshold_hu",
                           "threshold_rule", "weight_breaks_hu", "min_area_mm2", "connectivity", "volume_method"}


def test_a_technique_change_against_the_baseline_is_named_as_such(clean_scan):
    """Acquired as the procedure allows, but with half the baseline's CTDIvol: a technique change
    against baseline v3 (a protocol change, not drift), not "not acquired as the procedure expects"."""
    volume, _ = clean_scan
    first = analyze_phantom(volume, PHANTOM, PROCEDURE)
    stats = {k: MetricStats(v, 0.01 * abs(v), 5) for k, v in first.metrics.items() if v is not None}
    stats["ctdivol_mgy"] = MetricStats(2.0 * first.metrics["ctdivol_mgy"], 0.0, 5)
    result = analyze_phantom(volume, PHANTOM, PROCEDURE, Baseline("x|y|z", first.configuration, 3, "2026-01-01", stats))
    checks = _checks(result)
    assert checks["acquisition_ctdivol_mgy_vs_baseline"].status == FAIL
    assert all(checks[c].status == PASS for c in checks if c.startswith("acquisition_") and not c.endswith("_vs_baseline")
               and checks[c].status != NOT_AVAILABLE)
    assert result.verdict_message.startswith("TECHNIQUE CHANGE: ctdivol_mgy differs from baseline v3")
    assert "PROTOCOL CHANGE" not in result.verdict_message and not result.protocol_ok
    assert checks["mass_800_5mm"].status == NOT_AVAILABLE and "technique differs" in checks["mass_800_5mm"].message


def _float32_twin(volume):
    return replace(volume, hu=volume.hu.astype("float32"))


def test_the_int16_volume_gives_the_float32_volumes_results(clean_scan):
    """The HU volume is kept as int16 (whole rescale slope and intercept): every number of the
    analysis is the one its float32 twin gives (qa.dicom.decode)."""
    volume, _ = clean_scan
    assert volume.hu.dtype == "int16"
    assert analyze_phantom(volume, PHANTOM, PROCEDURE) == analyze_phantom(_float32_twin(volume), PHANTOM, PROCEDURE)


def test_the_real_canon_scan_gives_the_same_results_as_int16_and_float32(canon_phantom_dir):
    volume = load_series(canon_phantom_dir)
    assert volume.hu.dtype == "int16"
    ours, twin = (analyze_phantom(v, PHANTOM, PROCEDURE, ring="large") for v in (volume, _float32_twin(volume)))
    assert ours == twin and ours.to_dict() == twin.to_dict()
