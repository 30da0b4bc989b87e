"""qa.numeric gives numpy's medians and percentiles exactly (it only avoids importing numpy.ma)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from qa import numeric


def _arrays(seed: int):
    rng = np.random.default_rng(seed)
    for n in (1, 2, 3, 4, 5, 8, 9, 30, 31, 257):
        yield rng.normal(800.0, 120.0, n)
        yield np.round(rng.normal(0.0, 2.0, n))  # ties
        yield rng.integers(-50, 50, n)


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def test_median_equals_numpy():
    for values in _arrays(1):
        assert _same(numeric.median(values), np.median(values)), values
        assert _same(numeric.median(values.astype(np.float32)), np.median(values.astype(np.float32)))
        assert _same(numeric.median(list(values)), np.median(list(values)))
        with_nan = values.astype(float)
        with_nan[len(with_nan) // 2] = np.nan
        assert _same(numeric.median(with_nan), np.median(with_nan))
    rng = np.random.default_rng(2)
    for shape in [(5, 4), (4, 5), (7, 1), (1, 7), (12, 9)]:
        grid = rng.normal(0.0, 10.0, shape)
        grid[rng.random(shape) < 0.1] = np.nan
        for axis in (None, 0, 1, -1):
            assert _same(numeric.median(grid, axis=axis), np.median(grid, axis=axis)), (shape, axis)
    assert np.isnan(numeric.median([]))
    assert _same(numeric.median(np.float32([])), np.float32(np.nan))  # numpy's type, without its warning
    with pytest.raises(np.exceptions.AxisError):
        numeric.median(np.ones((3, 4)), axis=2)  # as numpy: never another axis's median


def test_nanmedian_rows_equals_numpy():
    rng = np.random.default_rng(3)
    for width in (1, 2, 3, 4, 7, 8, 21):
        rows = rng.normal(900.0, 150.0, (400, width))
        rows[rng.random(rows.shape) < 0.3] = np.nan
        rows[:5] = np.nan  # rows of NaN only
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(rows, axis=1)
        assert _same(numeric.nanmedian_rows(rows), expected), width
    assert _same(numeric.nanmedian_rows(np.empty((3, 0))), np.full(3, np.nan))


def test_percentile_equals_numpy():
    for values in _arrays(4):
        for q in (0, 5, 10, 25, 50, 62.5, 75, 90, 95, 99.9, 100, [5.0, 95.0], [0, 50, 100]):
            assert _same(numeric.percentile(values, q), np.percentile(values, q)), (values, q)
    rng = np.random.default_rng(5)
    windows = np.lib.stride_tricks.sliding_window_view(rng.normal(1000.0, 80.0, 300), 9)
    for q in (10, 50, 90, 37.5):
        assert _same(numeric.percentile(windows, q, axis=1), np.percentile(windows, q, axis=1))
    with_nan = rng.normal(0.0, 1.0, 20)
    with_nan[3] = np.nan
    assert _same(numeric.percentile(with_nan, 50), np.percentile(with_nan, 50))
    assert _same(numeric.percentile(np.float32([1, 2, 3]), 40), np.percentile(np.float32([1, 2, 3]), 40))  # numpy's own
    with pytest.raises(ValueError, match="range"):
        numeric.percentile([1.0, 2.0], 101)
    # what numpy computes in another type, or refuses, is left to numpy
    assert _same(numeric.percentile([0.0, 1.0, 2.0, 3.0], np.float32(95)), np.percentile([0.0, 1.0, 2.0, 3.0], np.float32(95)))
    with pytest.raises(ValueError):
        numeric.percentile([1.0, 2.0], np.nan)
    with pytest.raises(TypeError):
        numeric.percentile(np.array([True, False]), 50)


def test_no_masked_arrays_imported():
    code = ("import sys, numpy as np; from qa import numeric; x = np.arange(9.0); "
            "numeric.median(x); numeric.percentile(x, [5, 95]); numeric.nanmedian_rows(x.reshape(3, 3)); "
            "print('numpy.ma' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
