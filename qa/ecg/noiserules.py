"""The R-peak detector's rules for noise (used by :mod:`qa.ecg.rpeaks`): a running signal and noise
level, and the rejection of "beats" that split an undisturbed cardiac cycle.

1. **Signal and noise peak levels** (Pan & Tompkins 1985).  SPKI is the mean envelope height of
   the beats, NPKI that of the other candidates (T waves, noise), each over the blocks of about
   10 s around a candidate (centred, known from the first sample: no learning period).  A
   candidate is a beat when it passes THRESHOLD I = NPKI + 0.25 (SPKI - NPKI); the search-back
   uses half of it.  Where noise peaks are frequent and tall, the threshold rises with them.
2. **Inserted beats.**  Noise bursts as tall as a QRS pass any threshold; but a heart does not
   insert a beat into its cycle without displacing the rhythm.  A detection whose two neighbours
   are about one local RR apart (the RR taken as the 85th percentile of the neighbouring intervals,
   so that noise detections, which shorten intervals, do not shorten the reference), and which splits
   that cycle into two short intervals, is noise unless it is clearly taller than both neighbours
   or has the shape of one of them (a couplet of ectopic beats, a run).  An ectopic beat with a
   compensatory pause, or one that resets the sinus node, lengthens the span and is never touched.

Pure functions on arrays of candidate positions and heights.

Reference: Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng
32(3):230-236 (1985).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from qa.ecg.shape import best_correlation, windows
from qa.numeric import percentile


def adaptive_threshold(cand: np.ndarray, height: np.ndarray, level: np.ndarray, beats: np.ndarray, n: int, fs: float, *,
                       block_s: float, blocks: int, spki_fraction: float, floor: float) -> np.ndarray:
    """THRESHOLD I = NPKI + spki_fraction (SPKI - NPKI) at each candidate, relative to ``level``
    (never under ``floor``).  ``beats``: indices of the candidates taken for beats so far."""
    nb = max(1, int(round(n / (block_s * fs))))
    edges = np.linspace(0, n, nb + 1)
    block = np.clip(np.searchsorted(edges, cand, side="right") - 1, 0, nb - 1)
    is_beat = np.zeros(cand.size, bool)
    is_beat[beats] = True
    kernel = np.ones(min(blocks, nb))

    def windowed_mean(mask):
        total = np.convolve(np.bincount(block[mask], height[mask], minlength=nb), kernel, mode="same")
        count = np.convolve(np.bincount(block[mask], minlength=nb).astype(float), kernel, mode="same")
        return np.where(count > 0, total / np.maximum(count, 1.0), np.nan)

    npki = np.nan_to_num(windowed_mean(~is_beat), nan=0.0)
    spki = windowed_mean(is_beat)
    thr = np.where(np.isfinite(spki), npki + spki_fraction * (np.nan_to_num(spki) - npki), 0.0)
    return np.maximum(thr[block] / level, floor)


def neighbour_quantile(rr: np.ndarray, k: int, q: float) -> np.ndarray:
    """For each interval, the q-th percentile of itself and the (up to) k intervals on each side."""
    n = rr.size
    out = np.empty(n)
    if n > 2 * k:  # interior windows are complete (np.percentile is far faster than np.nanpercentile)
        out[k:n - k] = percentile(sliding_window_view(rr, 2 * k + 1), q, axis=1)
    for i in [*range(min(k, n)), *range(max(k, n - k), n)]:
        out[i] = percentile(rr[max(0, i - k):i + k + 1], q)
    return out


def not_inserted(pos: np.ndarray, height: np.ndarray, y: np.ndarray, fs: float, *, neighbours: int, rr_quantile: float,
                 span_rr: float, split_rr: float, taller: float, shape_half_s: float, shape_lag_s: float,
                 shape_corr: float, passes: int) -> np.ndarray:
    """Mask of the detections (sorted positions ``pos``, envelope ``height``) to keep: the module's rule 2.

    ``y``: the band-limited ECG the shapes are compared on.  Of two adjacent inserted detections
    only the weaker goes in one pass; ``passes`` passes at most.
    """
    keep = np.ones(pos.size, bool)
    half, lag = int(round(shape_half_s * fs)), int(round(shape_lag_s * fs))
    for _ in range(passes):
        idx = np.flatnonzero(keep)
        if idx.size < 4:
            break
        p = pos[idx].astype(float)
        rr = np.diff(p)
        rr_local = neighbour_quantile(rr, neighbours, rr_quantile)
        ref = 0.5 * (rr_local[:-1] + rr_local[1:])  # around each interior detection
        h = height[idx]
        inserted = ((p[2:] - p[:-2] <= span_rr * ref) & (rr[:-1] < split_rr * ref) & (rr[1:] < split_rr * ref)
                    & (h[1:-1] < taller * np.minimum(h[:-2], h[2:])))
        cand = np.flatnonzero(inserted) + 1
        if cand.size:
            me = windows(y, pos[idx[cand]], half)
            like = np.maximum(best_correlation(me, windows(y, pos[idx[cand - 1]], half), lag),
                              best_correlation(me, windows(y, pos[idx[cand + 1]], half), lag))
            cand = cand[like < shape_corr]
        if cand.size == 0:
            break
        drop: list[int] = []
        for c in cand.tolist():  # never two neighbours at once: of adjacent ones the weaker goes
            if drop and drop[-1] == c - 1:
                if h[c] < h[c - 1]:
                    drop[-1] = c
                continue
            drop.append(c)
        keep[idx[drop]] = False
    return keep


__all__ = ["adaptive_threshold", "neighbour_quantile", "not_inserted"]
