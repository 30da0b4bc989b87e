"""Medians and percentiles with numpy's values, without its masked-array module.

``numpy.median``, ``numpy.percentile`` and ``numpy.nanmedian`` import ``numpy.ma`` on their first
call (10-12 ms: for ``qa gating`` about 8 % of a run whose bare baseline is a numpy read of the
trace).  These give the same numbers with the same floating-point operations (a partition or sort,
then numpy's own mean or its linear interpolation), and are tested equal to numpy's on random
arrays of every size and parity, with NaN, along either axis (``tests/test_numeric.py``).
"""

from __future__ import annotations

import numpy as np


def median(values, axis: int | None = None):
    """``numpy.median(values, axis)``: NaN where a NaN is among the values, NaN for no values."""
    a = np.asarray(values)
    if axis is None:
        a, axis = a.ravel(), 0
    if not -a.ndim <= axis < a.ndim:
        raise np.exceptions.AxisError(axis, a.ndim)
    axis = axis % a.ndim
    n = a.shape[axis]
    if n == 0:  # numpy's NaN (without its warning), in the type its mean would have
        kind = a.dtype if a.dtype.kind in "fc" else np.dtype(np.float64)
        return kind.type(np.nan) if a.ndim == 1 else np.full(np.delete(a.shape, axis), np.nan, dtype=kind)
    half = n // 2
    middle = [half - 1, half] if n % 2 == 0 else [half]
    part = np.partition(a, middle, axis=axis)
    result = np.mean(np.take(part, middle, axis=axis), axis=axis)  # numpy's mean of the middle value(s)
    if a.dtype.kind in "fc":
        has_nan = np.isnan(a).any(axis=axis)
        if np.ndim(result) == 0:
            return result.dtype.type(np.nan) if has_nan else result
        result = np.where(has_nan, np.nan, result).astype(result.dtype, copy=False)
    return result


def nanmedian_rows(values: np.ndarray) -> np.ndarray:
    """``numpy.nanmedian(values, axis=1)`` of a 2-D float array of finite values and NaN: each
    row's median of its non-NaN values (the mean of the middle two for an even count), NaN for a
    row of NaN only (without numpy's warning)."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"nanmedian_rows: a 2-D array is needed, not {a.ndim}-D")
    if a.shape[1] == 0:
        return np.full(a.shape[0], np.nan)
    ordered = np.sort(a, axis=1)  # NaN sort last
    count = a.shape[1] - np.isnan(a).sum(axis=1)
    half = count // 2
    rows = np.arange(a.shape[0])
    low = ordered[rows, np.where(count % 2 == 1, half, np.maximum(half - 1, 0))]
    high = ordered[rows, np.minimum(half, a.shape[1] - 1)]
    out = (low + high) / 2.0  # numpy: the sum of the middle pair (an odd count: twice the middle), halved
    out[count == 0] = np.nan
    return out


def percentile(values, q, axis: int | None = None):
    """``numpy.percentile(values, q, axis)`` (its default, linear interpolation between the two
    nearest ranks) of float64 or integer values; ``q`` in percent, a number or a sequence (other
    types are left to numpy itself)."""
    a, wanted = np.asarray(values), np.asarray(q)
    if (a.dtype.kind not in "fiu" or (a.dtype.kind == "f" and a.dtype != np.float64)
            or wanted.dtype.kind not in "iuf" or (wanted.dtype.kind == "f" and wanted.dtype != np.float64)
            or not np.all(np.isfinite(wanted))):
        return np.percentile(a, q, axis=axis)  # other types, or a NaN q: numpy's own (its type rules and errors)
    a = a.astype(np.float64, copy=False)
    if axis is None:
        a, axis = a.ravel(), 0
    a = np.moveaxis(a, axis, 0)
    n = a.shape[0]
    fractions = np.true_divide(wanted.astype(np.float64), 100)
    if np.any((fractions < 0) | (fractions > 1)):
        raise ValueError("percentiles must be in the range [0, 100]")
    rank = (n - 1) * fractions  # Hyndman & Fan's 7th definition (numpy's "linear"), as numpy computes it
    below = np.floor(rank)
    above = below + 1
    below_i, above_i = below.astype(np.intp), above.astype(np.intp)
    at_end = rank >= n - 1
    below_i = np.where(at_end, n - 1, below_i)
    above_i = np.where(at_end, n - 1, above_i)
    weight = rank - below
    ordered = np.sort(a, axis=0)
    low, high = ordered[below_i], ordered[above_i]
    if np.ndim(weight):
        weight = weight.reshape(weight.shape + (1,) * (a.ndim - 1))
    difference = high - low
    # numpy's interpolation: from the lower value, or back from the upper one for a weight >= 0.5.
    result = np.where(weight >= 0.5, high - difference * (1 - weight), low + difference * weight)
    has_nan = np.isnan(a).any(axis=0)
    if np.any(has_nan):
        result = np.where(has_nan, np.nan, result)
    return result[()] if result.ndim == 0 else result
