"""Automatic localisation on synthetic scans of every kind the issue lists, and on the real Canon scan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qa.dicom.series import load_series
from qa.dicom.write import write_ct_series
from qa.errors import InputError
from qa.procedures import load_phantom
from qa.phantom.locate import locate_phantom
from qa.phantom.synth import synthesize_phantom as synthesize_with
from qa.workflows.synth import SynthOptions, synthesize_phantom

PHANTOM = load_phantom("qrm-cci")


def _locate(path):
    volume = load_series(path)
    return volume, locate_phantom(volume.hu, volume.geometry, PHANTOM, slice_thickness_mm=volume.slice_thickness_mm)


CASES = {
    "rotated-shifted": dict(rotation_deg=137.0, shift_mm=(18.0, -20.0), table_z_mm=-640.0),
    "feet-first": dict(patient_position="FFS", rotation_deg=-75.0, shift_mm=(-20.0, 15.0), table_z_mm=1210.0),
    "fine-pixels-thin": dict(pixel_mm=0.3, matrix=700, thickness_mm=0.5, increment_mm=0.5, rotation_deg=33.0),
    "coarse-pixels-thick-noisy": dict(pixel_mm=0.8, matrix=400, thickness_mm=3.0, noise_hu=30.0, rotation_deg=-160.0),
    "large-ring-overlap": dict(ring=True, thickness_mm=2.5, increment_mm=1.25, noise_hu=30.0, rotation_deg=95.0, vendor="ge"),
    "small-thorax-ffs-canon": dict(patient_position="FFS", vendor="canon", noise_hu=20.0, rotation_deg=5.0, shift_mm=(20.0, 20.0)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_localisation_matches_the_truth(tmp_path, name):
    opts = SynthOptions(z_start_mm=-15.0, z_end_mm=50.0, seed=len(name), **{"noise_hu": 15.0, **CASES[name]})
    truth = synthesize_phantom(tmp_path, opts).truth
    volume, location = _locate(tmp_path)
    assert math.dist(location.insert_center_mm, truth["insert_center_mm"]) < 0.5
    by_id = {o["id"]: o for o in truth["calcifications"] + truth["rods"]}
    for obj in location.objects:
        expected = by_id[obj.id]["center_mm"]
        error = math.dist(obj.center_mm[:2], expected[:2])
        large_or_medium = obj.kind == "rod" or by_id[obj.id]["diameter_mm"] >= 3
        if large_or_medium:
            # every large and medium insert and both rods are found, at the right place, with the
            # right density (ids come from brightness, so a density mix-up would show as an error)
            assert obj.found, f"{obj.id} not found"
            assert error < 1.0, f"{obj.id} is {error:.2f} mm off"
        else:
            assert error < 2.5, f"{obj.id}: expected position {error:.2f} mm off"
    assert abs(location.calcification_slab_z_mm - by_id["800_5mm"]["center_mm"][2]) < volume.slice_increment_mm / 2 + 0.1
    assert abs(location.rod_slab_z_mm - by_id["ha200"]["center_mm"][2]) < 2.0
    assert location.mirrored == truth["mirrored"]
    # rotation = measured angle of the densest spoke minus its nominal angle (180 degrees); a mirrored
    # (feet-first) scan puts that spoke at -rotation, i.e. 180 degrees off the nominal minus rotation
    expected_rotation = -opts.rotation_deg - 180.0 if truth["mirrored"] else opts.rotation_deg
    assert abs((location.rotation_deg - expected_rotation + 180) % 360 - 180) < 2.0


def test_real_canon_scan(canon_phantom_dir):
    volume, location = _locate(canon_phantom_dir)
    assert location.insert_hu == pytest.approx(73, abs=15)
    assert location.calcification_slab_z_mm == pytest.approx(600.9, abs=1.5)
    assert location.rod_slab_z_mm == pytest.approx(635.0, abs=3.0)
    found = {o.id for o in location.objects if o.found}
    assert {"800_5mm", "800_3mm", "400_5mm", "400_3mm", "200_5mm", "200_3mm", "ha200", "water"} <= found
    # positions read off the images by hand (centroids of the > 130 HU blobs in slice z = 600.9)
    assert location.object("800_5mm").center_mm[:2] == pytest.approx((-40.7, 1.5), abs=1.0)
    assert location.object("400_5mm").center_mm[:2] == pytest.approx((13.7, -32.5), abs=1.0)
    assert location.object("200_5mm").center_mm[:2] == pytest.approx((17.2, 31.4), abs=1.0)
    assert not location.mirrored
    # the bright 'spine' outside the insert is never taken for a calcification or rod
    for obj in location.objects:
        assert obj.radius_from_axis_mm < 45.0


def test_a_scan_without_the_phantom_is_refused(tmp_path):
    # a uniform water cylinder in air: no insert in lung, no rods, no calcifications
    yy, xx = np.mgrid[-64:64, -64:64]
    cylinder = np.where(xx**2 + yy**2 < 60**2, 0.0, -1000.0)
    write_ct_series(tmp_path, np.stack([cylinder] * 10), pixel_mm=1.5, increment_mm=3.0)
    with pytest.raises(InputError, match="no .*found"):
        _locate(tmp_path)


def test_an_insert_without_calcifications_is_refused(tmp_path):
    from dataclasses import replace

    empty = replace(PHANTOM, calcifications=tuple(replace(c, density_mgha_cm3=0.0) for c in PHANTOM.calcifications))
    synthesize_with(tmp_path, SynthOptions(z_start_mm=-15.0, z_end_mm=50.0), definition=empty)
    with pytest.raises(InputError, match="calcifications"):
        _locate(tmp_path)


def _decoy(tmp_path, **changes):
    """A synthetic scan of a phantom that looks like the QRM insert but is not (changed calcifications)."""
    from dataclasses import replace

    decoy = replace(PHANTOM, calcifications=tuple(replace(c, **changes) for c in PHANTOM.calcifications))
    synthesize_with(tmp_path, SynthOptions(z_start_mm=-15.0, z_end_mm=50.0, noise_hu=10.0), definition=decoy)


def test_bright_spots_of_equal_density_are_not_this_phantom(tmp_path):
    # three spokes of one density: no density order to tell them apart -> refused, not guessed
    _decoy(tmp_path, density_mgha_cm3=400.0)
    with pytest.raises(InputError, match="do not rise with their density"):
        _locate(tmp_path)


def test_vessels_running_along_z_are_not_calcifications(tmp_path):
    # contrast-filled vessels (long cylinders) where the calcifications would be
    _decoy(tmp_path, length_mm=60.0)
    with pytest.raises(InputError, match="does not end along z"):
        _locate(tmp_path)


def test_a_contrast_enhanced_chest_is_refused(tmp_path):
    # a heart-sized tissue cylinder in lung, an aorta full of contrast and three enhanced vessels
    yy, xx = np.mgrid[-256:256, -256:256] * 0.7
    image = np.full(xx.shape, -1000.0)
    image[(xx / 160) ** 2 + (yy / 110) ** 2 < 1] = 40.0
    image[((xx + 80) / 60) ** 2 + (yy / 80) ** 2 < 1] = -820.0
    image[((xx - 80) / 60) ** 2 + (yy / 80) ** 2 < 1] = -820.0
    image[xx**2 + yy**2 < 50**2] = 45.0
    image[(xx - 10) ** 2 + (yy + 15) ** 2 < 12**2] = 320.0
    for angle, hu in ((0.0, 600.0), (120.0, 400.0), (240.0, 250.0)):
        ax, ay = 32 * math.cos(math.radians(angle)), 32 * math.sin(math.radians(angle))
        image[(xx - ax) ** 2 + (yy - ay) ** 2 < 2.5**2] = hu
    rng = np.random.default_rng(1)
    volume = np.stack([image + rng.normal(0, 10, image.shape) for _ in range(40)])
    write_ct_series(tmp_path, volume, pixel_mm=0.7, increment_mm=2.0)
    with pytest.raises(InputError, match="not a"):
        _locate(tmp_path)


def test_a_scan_that_clips_the_calcification_slab_is_refused(tmp_path):
    # the calcifications sit at z = 0 mm: a scan starting at z = 1 mm cuts them in half
    synthesize_phantom(tmp_path, SynthOptions(z_start_mm=1.0, z_end_mm=50.0, noise_hu=10.0))
    with pytest.raises(InputError, match="cut off") as info:
        _locate(tmp_path)
    assert "scan range" in info.value.hint
