"""qa.phantom.filters gives what scipy.ndimage gives (bit for bit), on random images of many sizes,
dtypes and parameters, and on the slices of a synthesised phantom scan."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from qa.phantom import filters

SHAPES = [(1, 1), (1, 7), (7, 1), (2, 3), (5, 5), (17, 31), (64, 48), (120, 97)]


def _images(seed: int, dtype):
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        yield rng.normal(0.0, 400.0, shape).astype(dtype)
        yield np.round(rng.normal(0.0, 3.0, shape)).astype(dtype)  # ties and plateaus
        yield (rng.random(shape) < 0.3).astype(dtype) * 1000.0 - 800.0


def _masks(seed: int):
    rng = np.random.default_rng(seed)
    for shape in SHAPES + [(200, 160)]:
        for density in (0.05, 0.3, 0.5, 0.7, 0.95):
            yield rng.random(shape) < density
    yield np.zeros((9, 9), dtype=bool)
    yield np.ones((9, 9), dtype=bool)
    ring = np.hypot(*np.mgrid[-20:21, -20:21]) <= 15
    ring[np.hypot(*np.mgrid[-20:21, -20:21]) <= 8] = False  # a hole
    yield ring


# (ours, scipy's, the parameter each is called with, its values)
FILTERS = {
    "gaussian": (lambda im, p, mode: filters.gaussian_2d(im, p, mode=mode),
                 lambda im, p, mode: ndimage.gaussian_filter(im, p, mode=mode), (0.5, 0.7, 1.0, 1.3, 2.5, 6.0)),
    "uniform": (lambda im, p, mode: filters.uniform_2d(im, p, mode=mode),
                lambda im, p, mode: ndimage.uniform_filter(im, size=p, mode=mode), (1, 2, 3, 4, 7, 12)),
    "maximum": (lambda im, p, mode: filters.maximum_2d(im, p, mode=mode),
                lambda im, p, mode: ndimage.maximum_filter(im, size=p, mode=mode), (1, 2, 3, 5, 9, 15)),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["reflect", "nearest"])
def test_filters_equal_scipy(name, dtype, mode):
    ours, theirs, parameters = FILTERS[name]
    for image in _images(sorted(FILTERS).index(name) + 1, dtype):
        for p in parameters:
            mine, expected = ours(image, p, mode), theirs(image, p, mode)
            assert mine.dtype == expected.dtype
            assert np.array_equal(mine, expected), (name, image.shape, p, mode)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_sampling_equals_scipy(dtype):
    rng = np.random.default_rng(4)
    for image in _images(4, dtype):
        n_rows, n_cols = image.shape
        if min(image.shape) < 2:
            with pytest.raises(ValueError, match="at least 2 x 2"):
                filters.sample_linear(image, [0.0], [0.0])
            continue
        rows = rng.uniform(-3.0, n_rows + 2.0, 3000)
        cols = rng.uniform(-3.0, n_cols + 2.0, 3000)
        rows[:300] = np.round(rows[:300])  # on the grid
        cols[300:600] = np.round(cols[300:600] * 2) / 2  # halfway
        rows[600:650], cols[650:700] = -1e-12, n_cols - 1 + 1e-12  # just beyond the edges
        theirs = ndimage.map_coordinates(image, [rows, cols], order=1, mode="nearest")
        ours = filters.sample_linear(image, rows, cols)
        assert ours.dtype == theirs.dtype
        assert np.array_equal(ours, theirs), image.shape


@pytest.mark.parametrize("outside", [0.0, 1.0])
def test_nearest_sampling_equals_scipy(outside):
    rng = np.random.default_rng(5)
    for mask in _masks(5):
        image = mask.astype(np.float32)
        n_rows, n_cols = image.shape
        rows = rng.uniform(-2.0, n_rows + 1.0, 3000)
        cols = rng.uniform(-2.0, n_cols + 1.0, 3000)
        rows[:500] = np.round(rows[:500] * 2) / 2  # halves: rounded up by both
        cols[500:1000] = np.round(cols[500:1000] * 2) / 2
        rows[1000:1050], cols[1050:1100] = -1e-12, n_cols - 1 + 1e-12
        rows[1100:1150], cols[1150:1200] = 0.0, float(n_cols - 1)
        theirs = ndimage.map_coordinates(image, [rows, cols], order=0, mode="constant", cval=outside)
        assert np.array_equal(filters.sample_nearest(image, rows, cols, outside=outside), theirs), mask.shape


def test_distance_equals_scipy():
    for mask in _masks(6):
        padded = np.pad(mask, 1)  # as the locator measures: the image's border counts as outside
        assert np.array_equal(filters.distance_to_zero(padded), ndimage.distance_transform_edt(padded))
    with pytest.raises(ValueError, match="no unset pixel"):
        filters.distance_to_zero(np.ones((3, 3), dtype=bool))


def test_distance_in_chunks(monkeypatch):
    monkeypatch.setattr(filters, "_EDT_CHUNK_ELEMENTS", 50)  # several row blocks on a small mask
    mask = np.pad(np.random.default_rng(7).random((40, 30)) < 0.8, 1)
    assert np.array_equal(filters.distance_to_zero(mask), ndimage.distance_transform_edt(mask))


def test_morphology_equals_scipy():
    for mask in _masks(8):
        for iterations in (1, 2, 5):
            assert np.array_equal(filters.dilate_cross(mask, iterations), ndimage.binary_dilation(mask, iterations=iterations))
        assert np.array_equal(filters.fill_holes(mask), ndimage.binary_fill_holes(mask))
        for radius in (1, 2, 3, 6):
            yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
            disk = xx**2 + yy**2 <= radius**2
            assert np.array_equal(filters.open_disk(mask, radius), ndimage.binary_opening(mask, structure=disk)), (mask.shape, radius)
        labels, count = filters.label_4(mask)
        expected, expected_count = ndimage.label(mask)
        assert count == expected_count and np.array_equal(labels, expected)


def test_on_a_synthesised_phantom_slice(tmp_path):
    """The filters on the kind of image the locator sees: a synthesised phantom's slices."""
    from qa.dicom.series import load_series
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    synthesize_phantom(tmp_path, SynthOptions(matrix=256, pixel_mm=250.0 / 256, z_start_mm=-6.0, z_end_mm=6.0))
    hu = load_series(tmp_path).hu
    mip = hu.max(axis=0).astype(np.float64)
    mean = hu.mean(axis=0).astype(np.float32)
    assert np.array_equal(filters.uniform_2d(mip, 5, mode="nearest"), ndimage.uniform_filter(mip, size=5, mode="nearest"))
    assert np.array_equal(filters.maximum_2d(mip, 7), ndimage.maximum_filter(mip, size=7))
    assert np.array_equal(filters.gaussian_2d(mip, 1.7), ndimage.gaussian_filter(mip, 1.7))
    assert np.array_equal(filters.gaussian_2d(mean, 1.0, mode="nearest"), ndimage.gaussian_filter(mean, 1.0, mode="nearest"))
    tissue = np.pad(hu[len(hu) // 2, ::3, ::3] > -300, 1)
    assert np.array_equal(filters.distance_to_zero(tissue), ndimage.distance_transform_edt(tissue))
    body = filters.fill_holes(mean > -500)
    assert np.array_equal(body, ndimage.binary_fill_holes(mean > -500))


def test_refuses_what_it_does_not_do():
    with pytest.raises(ValueError, match="2-D"):
        filters.gaussian_2d(np.zeros((2, 2, 2)), 1.0)
    with pytest.raises(ValueError, match="float32 or float64"):
        filters.uniform_2d(np.zeros((4, 4), dtype=np.int16), 3)
    with pytest.raises(ValueError, match="boundary mode"):
        filters.maximum_2d(np.zeros((4, 4)), 3, mode="wrap")
    with pytest.raises(ValueError, match="NaN"):
        filters.maximum_2d(np.array([[0.0, np.nan], [1.0, 2.0]]), 3)
    with pytest.raises(ValueError, match="positive"):
        filters.gaussian_2d(np.zeros((4, 4)), 0.0)
