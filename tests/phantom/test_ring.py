"""The extension ring measured from the image: the body outline against the definition's ellipses.

Real DICOM written by the synthesiser with and without the ring, in fields of view that show the
whole outline, cut its sides, or cut it everywhere; with noise, a couch under the phantom, and the
real Canon scan of the QRM thorax with its large ring.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qa.dicom.series import load_series
from qa.phantom.analysis import analyze_phantom
from qa.phantom.ring import RingMeasurement, determine_ring, expected_outlines, measure_ring, resolve_ring
from qa.procedures import load_phantom, load_procedure
from qa.records.checks import NOT_AVAILABLE, PASS, WARN
from qa.workflows.synth import SynthOptions, synthesize_phantom

PHANTOM = load_phantom("qrm-cci")
PROCEDURE = load_procedure("daily-phantom-qa")
SHORT = dict(z_start_mm=-10.0, z_end_mm=45.0)  # the calcifications and the rods: enough for the locator

SCANS = {
    # 410 mm field of view: the whole outline without the ring, its sides cut with it
    "no ring, wide view": dict(pixel_mm=0.8),
    "ring, wide view": dict(pixel_mm=0.8, ring=True),
    # 480 mm: the whole ringed outline; feet first, off-centre, rotated, noisy
    "ring, whole, noisy, feet first": dict(pixel_mm=0.94, ring=True, noise_hu=60.0, patient_position="FFS",
                                           shift_mm=(15.0, -10.0), rotation_deg=40.0),
    # the synthesiser's default 250 mm (a cardiac field of view): sides cut without the ring, everything with it
    "no ring, cardiac view": dict(),
    "ring, cardiac view": dict(ring=True),
    # 200 mm: the outline is cut on three sides without the ring
    "no ring, narrow view": dict(pixel_mm=0.39),
}


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    root = tmp_path_factory.mktemp("rings")
    out = {}
    for k, (name, options) in enumerate(SCANS.items()):
        synthesize_phantom(root / f"scan{k}", SynthOptions(**SHORT, seed=40 + k, **options))
        out[name] = load_series(root / f"scan{k}")
    return out


def _ring(volume, hu=None, given="unspecified"):
    return determine_ring(volume.hu if hu is None else hu, volume.geometry, PHANTOM, given=given,
                          slice_thickness_mm=volume.slice_thickness_mm)


def test_each_configuration_s_outline_comes_from_the_definition_s_body_ellipses():
    assert [(o.ring, o.size_mm) for o in expected_outlines(PHANTOM)] == [("none", (300.0, 200.0)), ("large", (400.0, 300.0))]
    ringless = replace(PHANTOM, body=tuple(p for p in PHANTOM.body if not p.only_with_ring))
    assert [o.ring for o in expected_outlines(ringless)] == ["none"]


def test_the_whole_outline_in_view_is_measured_to_within_a_few_millimetres(scans):
    bare = _ring(scans["no ring, wide view"]).measurement
    assert bare.ring == "none" and bare.cut_sides == () and bare.consistent == ("none",)
    assert bare.size_mm == (pytest.approx(300.0, abs=4.0), pytest.approx(200.0, abs=4.0))
    ringed = _ring(scans["ring, whole, noisy, feet first"]).measurement
    assert ringed.ring == "large" and ringed.cut_sides == ()
    assert ringed.size_mm == (pytest.approx(400.0, abs=4.0), pytest.approx(300.0, abs=4.0))
    assert "matches large" in ringed.evidence


def test_an_axis_cut_by_the_field_of_view_is_not_sized_but_bounded(scans):
    ringed = _ring(scans["ring, wide view"]).measurement
    assert set(ringed.cut_sides) == {"right", "left"} and ringed.size_mm[0] is None
    assert ringed.at_least_mm[0] >= 395.0 and ringed.size_mm[1] == pytest.approx(300.0, abs=4.0)
    assert ringed.ring == "large" and "cut by the field of view on the right and left sides" in ringed.evidence
    # a cardiac field of view cuts the sides of the bare thorax; front and back are seen: 200 mm, no ring
    bare = _ring(scans["no ring, cardiac view"])
    assert bare.measurement.size_mm[0] is None and bare.measurement.size_mm[1] == pytest.approx(200.0, abs=4.0)
    assert (bare.ring, bare.source) == ("none", "measured")


def test_a_ringed_phantom_filling_the_field_of_view_is_bounded_into_the_large_configuration(scans):
    """Cut on every side: no size, but at least 250 mm from front to back, which the bare thorax
    (200 mm) cannot be: only the large ring is consistent."""
    m = _ring(scans["ring, cardiac view"]).measurement
    assert m.size_mm == (None, None) and len(m.cut_sides) == 4 and m.at_least_mm[1] >= 245.0
    assert m.consistent == ("large",) and m.ring == "large"
    assert "cut by the field of view on every side: consistent only with large" in m.evidence


def test_an_outline_cut_too_much_to_tell_cannot_be_measured_and_says_so(scans):
    ring = _ring(scans["no ring, narrow view"])
    m = ring.measurement
    assert m.ring is None and m.consistent == ("none", "large") and "cannot tell none from large apart" in m.evidence
    assert (ring.ring, ring.source) == ("unspecified", "unknown")
    check = ring.check()
    assert check.status == NOT_AVAILABLE and "cannot be measured" in check.message and "give --ring" in check.message
    # given, it is used as given (nothing to contradict it)
    given = resolve_ring("none", m)
    assert (given.ring, given.source, given.contradiction) == ("none", "given", None)
    assert given.check().status == NOT_AVAILABLE and "--ring none is used" in given.check().message


def test_noise_does_not_move_the_outline(scans):
    volume = scans["no ring, wide view"]
    noisy = volume.hu + np.random.default_rng(5).normal(0.0, 120.0, volume.hu.shape).astype(volume.hu.dtype)
    m = _ring(volume, noisy).measurement
    assert m.ring == "none" and m.size_mm == (pytest.approx(300.0, abs=4.0), pytest.approx(200.0, abs=4.0))


def _with_couch(volume, top_mm: float, *, skin_mm: float, core_mm: float, skin_hu: float, core_hu: float, curve_mm: float = 0.0):
    """A couch under the phantom (patient +y is posterior), touching it: two skins around a core."""
    x, y = volume.geometry.plane_xy(slice(0, volume.shape[1]), slice(0, volume.shape[2]))
    depth = y - top_mm - curve_mm * (x / 100.0) ** 2  # a cradle rises at the sides
    hu = volume.hu.copy()
    wide = np.abs(x) <= 225.0
    hu[:, wide & (depth >= 0) & (depth < skin_mm)] = skin_hu
    hu[:, wide & (depth >= skin_mm) & (depth < skin_mm + core_mm)] = core_hu
    hu[:, wide & (depth >= skin_mm + core_mm) & (depth < 2 * skin_mm + core_mm)] = skin_hu
    return hu


@pytest.mark.parametrize("couch", [
    dict(skin_mm=2.0, core_mm=30.0, skin_hu=300.0, core_hu=-950.0),  # carbon-fibre skins around a foam core
    dict(skin_mm=2.0, core_mm=30.0, skin_hu=300.0, core_hu=-950.0, curve_mm=20.0),  # a curved cradle
    dict(skin_mm=10.0, core_mm=30.0, skin_hu=-100.0, core_hu=-950.0),  # a 10 mm pad on it
])
def test_a_couch_under_the_phantom_does_not_change_the_ring(scans, couch):
    bare = scans["no ring, wide view"]
    m = _ring(bare, _with_couch(bare, 110.0, **couch)).measurement  # the bare thorax ends 110 mm behind the insert axis
    assert m.ring == "none" and m.size_mm[1] == pytest.approx(200.0, abs=12.0)
    ringed = scans["ring, whole, noisy, feet first"]
    assert _ring(ringed, _with_couch(ringed, 150.0, **couch)).ring == "large"  # the ring ends 150 mm behind (shifted 10 mm)


def test_a_solid_block_under_the_phantom_makes_the_ring_unmeasurable_not_wrong(scans):
    bare = scans["no ring, wide view"]
    m = _ring(bare, _with_couch(bare, 110.0, skin_mm=20.0, core_mm=20.0, skin_hu=-100.0, core_hu=-100.0)).measurement
    assert m.ring is None and m.consistent == () and "matches no configuration" in m.evidence


def test_a_given_ring_confirmed_by_the_image_passes_and_one_contradicted_warns(scans):
    volume = scans["ring, cardiac view"]
    confirmed = _ring(volume, given="large")
    assert (confirmed.ring, confirmed.source, confirmed.contradiction) == ("large", "given", None)
    assert confirmed.check().status == PASS and "confirms --ring large" in confirmed.check().message
    contradicted = _ring(volume, given="none")
    assert (contradicted.ring, contradicted.source) == ("none", "given")  # the given ring is used: an override
    assert contradicted.check().status == WARN and contradicted.check().measured == "large"
    assert "--ring none contradicts the image, which shows the phantom with the large ring" in contradicted.contradiction


def test_a_phantom_defined_without_a_ring_does_not_take_a_ringed_scan_for_one_without(scans):
    ringless = replace(PHANTOM, body=tuple(p for p in PHANTOM.body if not p.only_with_ring))
    volume = scans["ring, whole, noisy, feet first"]
    m = determine_ring(volume.hu, volume.geometry, ringless, given="unspecified", slice_thickness_mm=3.0).measurement
    assert m.ring is None and m.consistent == () and "matches no configuration (none: 300 x 200 mm" in m.evidence


def test_a_definition_without_a_body_cannot_measure_the_ring(scans):
    volume = scans["no ring, wide view"]
    m = measure_ring(volume.hu, volume.geometry, replace(PHANTOM, body=()), center_mm=(0.0, 0.0), slices=(2, 15))
    assert isinstance(m, RingMeasurement) and m.ring is None and "describes no body outline" in m.evidence


def test_the_analysis_measures_the_ring_without_changing_a_score(scans):
    volume = scans["no ring, cardiac view"]
    measured = analyze_phantom(volume, PHANTOM, PROCEDURE)
    given = analyze_phantom(volume, PHANTOM, PROCEDURE, ring="none")
    assert (measured.acquisition.ring_source, given.acquisition.ring_source) == ("measured", "given")
    assert measured.configuration == given.configuration and measured.configuration.ring == "none"
    assert measured.inserts == given.inserts and measured.calibration == given.calibration and measured.metrics == given.metrics
    assert measured.ring.to_dict()["measurement"] == given.ring.to_dict()["measurement"]
    # the workflow's early measurement (it picks the baseline) is the analysis' own
    assert analyze_phantom(volume, PHANTOM, PROCEDURE, ring=_ring(volume)).ring == measured.ring


def test_the_real_canon_scan_wears_the_large_ring(canon_phantom_dir):
    """The Canon Aquilion ONE scan of the QRM thorax with its large ring (../shared/data/phantom,
    SOURCES.md): the 250 mm field of view is filled on every side, so the outline is at least
    250 x 250 mm; without the ring it would be 300 x 200 mm: measured large."""
    volume = load_series(canon_phantom_dir)
    ring = _ring(volume)
    m = ring.measurement
    assert (ring.ring, ring.source) == ("large", "measured")
    assert m.size_mm == (None, None) and len(m.cut_sides) == 4
    assert m.at_least_mm == (pytest.approx(250.0, abs=3.0), pytest.approx(250.0, abs=3.0))
