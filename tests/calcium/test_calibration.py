"""HA calibration: c_HA from rods (McCollough 2007), on numbers and on a synthetic phantom's rods."""

from __future__ import annotations

import numpy as np
import pytest

from qa.calcium.calibration import c_ha_from_rods, calibrate, disk_mask, roi_stats
from qa.dicom.series import load_series


def test_c_ha_is_rod_density_over_rod_contrast():
    assert c_ha_from_rods(water_hu=20.0, ha_hu=300.0) == pytest.approx(200.0 / 280.0)
    assert c_ha_from_rods(water_hu=0.0, ha_hu=100.0, ha_density_mgha_cm3=100.0) == pytest.approx(1.0)


def test_swapped_or_missing_rods_are_refused():
    with pytest.raises(ValueError, match="not brighter"):
        c_ha_from_rods(water_hu=300.0, ha_hu=20.0)
    with pytest.raises(ValueError):
        c_ha_from_rods(water_hu=float("nan"), ha_hu=300.0)


def test_roi_stats_mean_and_sample_sd():
    image = np.array([[1.0, 2.0], [3.0, 4.0]])
    stats = roi_stats(image, np.ones((2, 2), bool))
    assert (stats.mean_hu, stats.n_voxels) == (2.5, 4)
    assert stats.sd_hu == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    with pytest.raises(ValueError):
        roi_stats(image, np.zeros((2, 2), bool))


def test_calibration_recovers_the_synthetic_truth(small_phantom):
    truth = small_phantom.truth
    volume = load_series(small_phantom.out_dir)
    rods = {r["id"]: r for r in truth["rods"]}
    z = np.array([p[2] for p in volume.image_positions_mm])
    k = int(np.argmin(np.abs(z - rods["ha200"]["center_mm"][2])))
    x0, y0 = volume.image_positions_mm[k][:2]
    ps = volume.pixel_spacing_mm[0]

    def mask_at(rod):
        cx, cy = rod["center_mm"][:2]
        m = disk_mask(volume.shape[1:], ((cy - y0) / ps, (cx - x0) / ps), 6.0 / ps)
        out = np.zeros(volume.shape, bool)
        out[k] = m
        return out

    cal = calibrate(volume.hu, mask_at(rods["water"]), mask_at(rods["ha200"]))
    assert cal.water_hu == pytest.approx(truth["water_hu_true"], abs=3.0)
    assert cal.ha_hu == pytest.approx(truth["ha200_hu_true"], abs=3.0)
    assert cal.c_ha_mg_per_cm3_hu == pytest.approx(truth["c_ha_true_mg_per_cm3_hu"], rel=0.02)
    assert cal.noise_hu == pytest.approx(truth["options"]["noise_hu"], rel=0.25)
    assert cal.to_dict()["ha_hu"] == cal.ha_hu and cal.to_dict()["noise_hu"] == cal.noise_hu
