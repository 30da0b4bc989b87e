"""The scoring definitions, pinned on hand-built arrays whose scores are computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from qa.calcium.scoring import (
    METHOD_PRESETS,
    ScoringSettings,
    agatston_weight,
    kv_adapted_thresholds,
    score_calcium,
    scoring_settings,
)

STANDARD = scoring_settings("standard")


def _blank(n_slices=1, size=20, value=0.0):
    return np.full((n_slices, size, size), value, dtype=np.float32)


def test_standard_method_is_exactly_the_published_definition():
    s = STANDARD
    assert (s.threshold_hu, s.min_area_mm2, s.min_pixels, s.connectivity, s.volume_method) == (130.0, 1.0, 1, 4, "plain")
    assert s.weight_breaks_hu == (200.0, 300.0, 400.0)
    assert s.reference_increment_mm == 3.0
    assert ScoringSettings() == s.__class__(**{**s.__dict__, "source": ""})


@pytest.mark.parametrize(
    "peak, weight",
    [(130.0, 1), (199.9, 1), (200.0, 2), (299.99, 2), (300.0, 3), (399.0, 3), (400.0, 4), (1500.0, 4)],
)
def test_agatston_weight_is_set_by_peak_hu(peak, weight):
    assert agatston_weight(peak) == weight
    hu = _blank()
    hu[0, 5:7, 5:7] = 150.0  # 4 pixels, all weight-1 values ...
    hu[0, 5, 5] = peak  # ... but the peak decides
    score = score_calcium(hu, (3.0, 1.0, 1.0), STANDARD)
    assert score.lesions[0].weight == weight
    assert score.agatston == pytest.approx(4.0 * weight)


def test_threshold_is_inclusive_at_exactly_130_hu():
    hu = _blank()
    hu[0, 2:4, 2:4] = 130.0  # counts
    hu[0, 10:12, 10:12] = 129.99  # does not
    score = score_calcium(hu, (3.0, 1.0, 1.0), STANDARD)
    assert score.n_lesions == 1
    assert score.lesions[0].area_mm2 == 4.0
    assert score.agatston == pytest.approx(4.0)


def test_min_area_is_inclusive_at_exactly_1_mm2():
    hu = _blank()
    hu[0, 2:4, 2:4] = 300.0  # 4 pixels x 0.25 mm2 = exactly 1 mm2: kept
    hu[0, 10, 10:13] = 300.0  # 3 pixels = 0.75 mm2: dropped
    score = score_calcium(hu, (3.0, 0.5, 0.5), STANDARD)
    assert score.n_lesions == 1
    assert score.lesions[0].area_mm2 == pytest.approx(1.0)
    assert score.n_components_below_min_area == 1
    assert score.agatston == pytest.approx(1.0 * 3)


def test_min_area_with_spacing_that_is_not_a_binary_fraction():
    # 0.488 mm pixels: 4 pixels = 0.952576 mm2 < 1 (dropped), 5 pixels = 1.19 mm2 (kept)
    hu = _blank()
    hu[0, 2, 2:6] = 400.0
    hu[0, 10, 2:7] = 400.0
    score = score_calcium(hu, (3.0, 0.488, 0.488), STANDARD)
    assert [lesion.n_pixels for lesion in score.lesions] == [5]


def test_connectivity_4_vs_8_on_a_diagonal_pair():
    hu = _blank()
    hu[0, 5, 5] = 450.0  # weight 4
    hu[0, 6, 6] = 150.0  # weight 1, touching only diagonally
    four = score_calcium(hu, (3.0, 1.0, 1.0), scoring_settings(connectivity=4))
    eight = score_calcium(hu, (3.0, 1.0, 1.0), scoring_settings(connectivity=8))
    assert four.n_lesions == 2 and four.agatston == pytest.approx(1 * 4 + 1 * 1)
    assert eight.n_lesions == 1 and eight.agatston == pytest.approx(2 * 4)
    assert four.volume_mm3 == eight.volume_mm3 == pytest.approx(2 * 3.0)


@pytest.mark.parametrize("increment, factor", [(3.0, 1.0), (1.5, 0.5), (2.5, 2.5 / 3.0)])
def test_total_is_scaled_by_increment_over_3_mm(increment, factor):
    hu = _blank(n_slices=2)
    hu[:, 4:8, 4:8] = 350.0  # 16 mm2 per slice, weight 3
    score = score_calcium(hu, (increment, 1.0, 1.0), STANDARD)
    assert score.agatston == pytest.approx(2 * 16 * 3 * factor)
    assert sum(lesion.agatston_unscaled for lesion in score.lesions) == pytest.approx(2 * 16 * 3)
    assert sum(lesion.agatston for lesion in score.lesions) == pytest.approx(score.agatston)


def test_volume_is_voxels_times_pixel_area_times_increment_not_thickness():
    # 3 slices x 10 pixels of 0.5 x 0.5 mm at a 2 mm increment: 3 * 10 * 0.25 * 2 = 15 mm3
    hu = _blank(n_slices=3)
    hu[:, 3, 2:12] = 500.0
    score = score_calcium(hu, (2.0, 0.5, 0.5), STANDARD)
    assert score.volume_mm3 == pytest.approx(15.0)
    assert score.n_lesions == 3  # a lesion is a 2-D component in one slice
    assert [lesion.slice_index for lesion in score.lesions] == [0, 1, 2]


def test_mass_is_c_ha_times_sum_of_voxel_volume_times_hu_over_1000():
    hu = _blank(n_slices=2)
    hu[0, 2:4, 2:4] = 400.0
    hu[1, 2:4, 2:4] = 600.0
    c_ha = 0.8
    voxel = 0.5 * 0.5 * 3.0
    expected = c_ha * (4 * 400.0 + 4 * 600.0) * voxel / 1000.0
    score = score_calcium(hu, (3.0, 0.5, 0.5), STANDARD, c_ha_mg_per_cm3_hu=c_ha)
    assert score.mass_mg == pytest.approx(expected)
    assert score.lesions[0].mass_mg == pytest.approx(c_ha * 1600.0 * voxel / 1000.0)


def test_mass_is_none_without_calibration():
    hu = _blank()
    hu[0, 2:4, 2:4] = 400.0
    score = score_calcium(hu, (3.0, 1.0, 1.0), STANDARD)
    assert score.mass_mg is None and score.lesions[0].mass_mg is None
    assert score.to_dict()["mass_mg"] is None


def test_isotropic_volume_interpolates_along_z():
    # Three slices at 400 HU between zeros, increment 3 mm.  Interpolated linearly between slice
    # centres, the value is >= 130 HU over the three lesion slabs' inner parts plus a stretch of
    # (400 - 130) / 400 = 0.675 increments into each neighbouring interval: from 0.325 below the
    # first lesion slice centre to 0.325 past the last, i.e. 0.675 + 2 + 0.675 = 3.35 increments.
    hu = _blank(n_slices=7)
    hu[2:5, 5:7, 5:7] = 400.0
    plain = score_calcium(hu, (3.0, 1.0, 1.0), scoring_settings(volume_method="plain"))
    iso = score_calcium(hu, (3.0, 1.0, 1.0), scoring_settings(volume_method="isotropic"))
    assert plain.volume_mm3 == pytest.approx(4 * 9.0)
    assert iso.volume_mm3 == pytest.approx(4 * 3.0 * 3.35)
    # the end slices own their outer stretch plus half of the inner intervals
    assert [lesion.volume_mm3 for lesion in iso.lesions] == pytest.approx([4 * 3.0 * 1.175, 4 * 3.0, 4 * 3.0 * 1.175])
    assert iso.agatston == plain.agatston  # only the volume changes


def test_isotropic_volume_of_a_faint_lesion_is_small_but_not_zero():
    # peak 143 HU at one slice centre, 0 around it: above 130 HU for 13/143 of each half interval
    hu = _blank(n_slices=3)
    hu[1, 5:7, 5:7] = 143.0
    iso = score_calcium(hu, (3.0, 1.0, 1.0), scoring_settings(volume_method="isotropic"))
    assert iso.volume_mm3 == pytest.approx(4 * 3.0 * 2 * (13 / 143))


def test_isotropic_volume_at_the_edge_of_the_volume_uses_the_nearest_slice():
    hu = _blank(n_slices=1)
    hu[0, 5:7, 5:7] = 400.0
    iso = score_calcium(hu, (3.0, 1.0, 1.0), scoring_settings(volume_method="isotropic"))
    assert iso.volume_mm3 == pytest.approx(4 * 3.0)


def test_mask_restricts_the_search():
    hu = _blank()
    hu[0, 2:4, 2:4] = 400.0
    hu[0, 12:14, 12:14] = 400.0
    mask = np.zeros(hu.shape, dtype=bool)
    mask[0, :10, :10] = True
    score = score_calcium(hu, (3.0, 1.0, 1.0), STANDARD, mask=mask)
    assert score.n_lesions == 1 and score.lesions[0].centroid_index == (0.0, 2.5, 2.5)


def test_input_is_not_modified():
    hu = _blank(n_slices=2)
    hu[:, 2:4, 2:4] = 400.0
    before = hu.copy()
    score_calcium(hu, (3.0, 1.0, 1.0), scoring_settings(volume_method="isotropic"), c_ha_mg_per_cm3_hu=0.8)
    np.testing.assert_array_equal(hu, before)


def test_lesion_centroids_in_patient_coordinates():
    from qa.records.volume import SliceGeometry

    hu = _blank(n_slices=2)
    hu[1, 4:6, 10:12] = 400.0  # rows 4-5, columns 10-11: centre (4.5, 10.5)
    geometry = SliceGeometry(
        image_positions_mm=np.array([[-100.0, -50.0, 20.0], [-100.0, -50.0, 22.5]]),
        orientation=(1, 0, 0, 0, 1, 0),
        pixel_spacing_mm=(0.5, 0.8),  # between rows 0.5 mm, between columns 0.8 mm
    )
    score = score_calcium(hu, (2.5, 0.5, 0.8), STANDARD, geometry=geometry)
    x, y, z = score.lesions[0].centroid_mm
    assert (x, y, z) == pytest.approx((-100.0 + 10.5 * 0.8, -50.0 + 4.5 * 0.5, 22.5))
    assert score.lesions[0].z_mm == pytest.approx(22.5)


def test_presets_and_explicit_overrides():
    assert set(METHOD_PRESETS) == {"standard", "siemens", "ge", "philips", "canon"}
    assert scoring_settings("siemens").min_area_mm2 == 0.0 and scoring_settings("siemens").volume_method == "isotropic"
    assert scoring_settings("philips").min_area_mm2 == 0.5
    assert scoring_settings("canon").min_pixels == 3
    s = scoring_settings("canon", min_area_mm2=2.0)  # explicit option overrides the preset
    assert (s.min_area_mm2, s.min_pixels, s.method) == (2.0, 1, "canon")
    s = scoring_settings("siemens", volume_method="plain", threshold_hu=120, connectivity=8)
    assert (s.volume_method, s.threshold_hu, s.connectivity) == ("plain", 120.0, 8)
    for preset in METHOD_PRESETS.values():
        assert preset.source  # every preset says where it comes from
    with pytest.raises(ValueError, match="unknown method"):
        scoring_settings("toshiba")
    with pytest.raises(ValueError):
        scoring_settings(connectivity=6)


def test_canon_preset_keeps_three_connected_pixels_only():
    hu = _blank()
    hu[0, 2, 2:4] = 400.0  # 2 pixels: dropped
    hu[0, 8, 2:5] = 400.0  # 3 pixels: kept
    score = score_calcium(hu, (3.0, 0.3, 0.3), scoring_settings("canon"))
    assert [lesion.n_pixels for lesion in score.lesions] == [3]


def test_siemens_preset_keeps_single_pixels():
    hu = _blank()
    hu[0, 2, 2] = 400.0
    assert score_calcium(hu, (3.0, 0.5, 0.5), scoring_settings("siemens")).n_lesions == 1
    assert score_calcium(hu, (3.0, 0.5, 0.5), STANDARD).n_lesions == 0


def test_a_series_not_at_120_kvp_scored_at_130_hu_gets_a_warning():
    hu = _blank()
    hu[0, 2:4, 2:4] = 400.0
    assert any("100 kVp" in w for w in score_calcium(hu, (3.0, 1.0, 1.0), STANDARD, kvp=100.0).warnings)
    assert not score_calcium(hu, (3.0, 1.0, 1.0), STANDARD, kvp=120.0).warnings
    assert any("unknown" in w for w in score_calcium(hu, (3.0, 1.0, 1.0), STANDARD).warnings)


def test_kv_adapted_thresholds_change_threshold_and_weights():
    s = scoring_settings(kv_adapted=True, kvp=100.0)
    assert (s.threshold_hu, s.weight_breaks_hu) == kv_adapted_thresholds(100.0) == (145.0, (222.0, 334.0, 446.0))
    hu = _blank()
    hu[0, 2:4, 2:4] = 144.0  # below the 100 kV threshold
    hu[0, 8:10, 8:10] = 221.0  # weight 1 at 100 kV (would be 2 at 120 kV)
    score = score_calcium(hu, (3.0, 1.0, 1.0), s, kvp=100.0)
    assert score.n_lesions == 1 and score.lesions[0].weight == 1
    assert not score.warnings
    with pytest.raises(ValueError, match="140 kVp"):
        scoring_settings(kv_adapted=True, kvp=140.0)
    extrapolated = scoring_settings(kv_adapted=True, kvp=135.0)
    assert extrapolated.threshold_hu == 119.0 and "extrapolated" in extrapolated.threshold_rule
    with pytest.raises(ValueError, match="unknown"):
        scoring_settings(kv_adapted=True, kvp=None)
    with pytest.raises(ValueError, match="not both"):
        scoring_settings(kv_adapted=True, kvp=100.0, threshold_hu=150)


def test_invalid_arguments_are_refused():
    hu = _blank()
    with pytest.raises(ValueError):
        score_calcium(hu, (0.0, 1.0, 1.0))
    with pytest.raises(ValueError):
        score_calcium(hu, (3.0, 1.0, 1.0), mask=np.ones((2, 2), bool))
    with pytest.raises(ValueError):
        score_calcium(hu, (3.0, 1.0, 1.0), c_ha_mg_per_cm3_hu=-1.0)


def test_to_dict_has_the_contract_fields():
    hu = _blank()
    hu[0, 2:4, 2:4] = 400.0
    d = score_calcium(hu, (2.5, 1.0, 1.0), STANDARD, kvp=120.0).to_dict()
    assert {"agatston", "volume_mm3", "mass_mg", "settings", "lesions"} <= set(d)
    assert {"method", "threshold_hu", "min_area_mm2", "connectivity", "volume_method", "increment_mm"} <= set(d["settings"])
    assert d["settings"]["increment_mm"] == 2.5
    assert {"slice_index", "z_mm", "area_mm2", "peak_hu", "mean_hu", "weight", "agatston", "volume_mm3", "centroid_mm"} <= set(d["lesions"][0])
