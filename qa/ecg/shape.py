"""Waveform windows around beats and their correlation: the shape measures shared by the R-peak
detector's noise rules (:mod:`qa.ecg.noiserules`) and the beat classifier (:mod:`qa.ecg.morphology`).

Pure functions on arrays; windows are gathered by index (no copy of the whole trace).
"""

from __future__ import annotations

import numpy as np


def windows(y: np.ndarray, pos: np.ndarray, half: int, *, demean: bool = True) -> np.ndarray:
    """Rows ``y[p - half : p + half + 1]`` for each position p (the trace's end samples repeated
    beyond its ends), the row mean removed unless ``demean`` is False.  Gathered straight into the
    result (no index matrix), demeaned in place: one array of the result's size."""
    y = np.asarray(y)
    pos = np.asarray(pos, dtype=np.int64)
    width = 2 * half + 1
    out = np.empty((pos.size, width), dtype=y.dtype)
    inner = (pos - half >= 0) & (pos + half <= y.size - 1) if y.size >= width else np.zeros(pos.size, dtype=bool)
    if inner.any():
        out[inner] = np.lib.stride_tricks.sliding_window_view(y, width)[pos[inner] - half]
    if not inner.all():
        out[~inner] = y[np.clip(pos[~inner, None] + np.arange(-half, half + 1), 0, y.size - 1)]
    if demean:
        out -= out.mean(axis=1, keepdims=True)
    return out


def best_correlation(a: np.ndarray, b: np.ndarray, lag: int) -> np.ndarray:
    """Row-wise Pearson correlation of ``a`` with ``b`` (same shape, rows mean-free), the best over
    shifts of -lag..lag samples (the overlapping parts); 0 where a row is flat."""
    n = a.shape[1]
    best = np.full(a.shape[0], -1.0)
    for k in range(-lag, lag + 1):
        aa = a[:, max(0, k):n + min(0, k)]
        bb = b[:, max(0, -k):n - max(0, k)]
        num = np.einsum("ij,ij->i", aa, bb)
        den = np.sqrt(np.einsum("ij,ij->i", aa, aa) * np.einsum("ij,ij->i", bb, bb))
        best = np.maximum(best, np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))
    return best


def correlation_with(rows: np.ndarray, template: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of each row with one template (same length, both mean-free), the best over shifts
    of -lag..lag samples, and the shift (samples, row later than the template when positive).  Worked
    in blocks of rows, so the shifted slices copied for the products stay small whatever the count."""
    n = rows.shape[1]
    best = np.full(rows.shape[0], -1.0)
    shift = np.zeros(rows.shape[0], dtype=np.int64)
    tt = np.asarray(template, dtype=float)
    for a in range(0, rows.shape[0], ROWS_PER_BLOCK):
        block = rows[a:a + ROWS_PER_BLOCK]
        b_best, b_shift = best[a:a + ROWS_PER_BLOCK], shift[a:a + ROWS_PER_BLOCK]  # views: filled in place
        for k in range(-lag, lag + 1):
            aa = block[:, max(0, k):n + min(0, k)]
            bb = tt[max(0, -k):n - max(0, k)]
            num = aa @ bb
            den = np.sqrt(np.einsum("ij,ij->i", aa, aa) * float(bb @ bb))
            c = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
            better = c > b_best
            b_best[better] = c[better]
            b_shift[better] = k
    return best, shift


# Rows worked at a time by the row-wise functions here and in qa.ecg.morphology: ours (a few MB).
ROWS_PER_BLOCK = 1024


__all__ = ["ROWS_PER_BLOCK", "best_correlation", "correlation_with", "windows"]
