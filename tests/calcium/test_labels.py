"""qa.calcium.labels.label_2d gives scipy.ndimage.label's labels exactly (same numbering, same count,
same dtype): random masks of every size and density, the shapes that trip run-based labelling, views
that are not contiguous, and every slice of a patient-like synthetic scan at 130 HU."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from qa.calcium.labels import label_2d


def _scipy(mask, connectivity):
    return ndimage.label(mask, structure=ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2))


def _same(mask, connectivity):
    ours, n = label_2d(mask, connectivity)
    theirs, m = _scipy(mask, connectivity)
    assert n == m and ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_random_masks_of_every_density(connectivity):
    rng = np.random.default_rng(17)
    for _ in range(1500):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        _same(rng.random((h, w)) < rng.uniform(0.0, 1.0), connectivity)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_shapes_that_trip_run_based_labelling(connectivity):
    spiral = np.zeros((21, 21), bool)
    spiral[0, :] = spiral[:, 20] = spiral[20, :] = spiral[2:, 0] = spiral[2, :19] = spiral[2:19, 18] = spiral[18, 2:19] = True
    comb = np.zeros((9, 30), bool)
    comb[0, :] = True
    comb[:, ::2] = True  # one component reached from the top through many teeth
    u_turn = np.zeros((6, 9), bool)
    u_turn[:, 0] = u_turn[:, 8] = u_turn[5, :] = True  # two arms joined only at the bottom: the first run's label wins
    masks = [np.zeros((5, 7), bool), np.ones((5, 7), bool), np.eye(12, dtype=bool), np.fliplr(np.eye(12, dtype=bool)),
             np.ones((1, 40), bool), np.ones((40, 1), bool), spiral, comb, u_turn, np.indices((16, 16)).sum(0) % 2 == 0]
    for mask in masks:
        _same(mask, connectivity)


def test_views_that_are_not_contiguous_and_a_wrong_call():
    rng = np.random.default_rng(3)
    big = rng.random((60, 80)) < 0.4
    _same(big[5:50:2, 7:70], 4)
    _same(big.T, 8)
    with pytest.raises(ValueError):
        label_2d(big, 6)
    with pytest.raises(ValueError):
        label_2d(big[None], 4)


def test_every_slice_of_a_patient_like_scan_at_130_hu(tmp_path):
    import pydicom

    from qa.workflows.synth import ExamSynthOptions, synthesize_exam

    synthesize_exam(tmp_path / "exam", ExamSynthOptions(seed=4, matrix=256, pixel_mm=1.0, stacks=3, stack_mm=20.0))
    files = sorted((tmp_path / "exam").glob("**/*.dcm"))
    assert len(files) >= 12
    for f in files:
        ds = pydicom.dcmread(f)
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        for connectivity in (4, 8):
            _same(hu >= 130, connectivity)


def test_a_bool_array_whose_bytes_are_not_0_or_1_labels_as_its_truth_values():
    mask = np.array([[0, 2, 2, 0], [1, 2, 0, 0]], dtype=np.uint8).view(bool)
    ours, n = label_2d(mask, 4)
    theirs, m = _scipy(mask != 0, 4)
    assert n == m == 1 and np.array_equal(ours, theirs)
