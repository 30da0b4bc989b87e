"""The few signal-processing steps the ECG analysis needs, in numpy (importing ``scipy.signal`` costs
0.7-1.1 s, more than the whole analysis of a minute of ECG; issue 17).

* :func:`butter2`: a 2nd-order Butterworth low-pass or band-pass, digital: the analog prototype
  (poles on the unit circle), the low-pass to band-pass transformation and the bilinear transform
  with pre-warped edges, computed step by step as ``scipy.signal.butter(2, edges, btype, fs=fs)``
  does (the same transfer-function coefficients, to the bit; tested), with its zeros and poles.
* :func:`filtfilt`: zero-phase filtering, forward then backward, the trace mirrored at both ends
  (``padtype="even"``), each pass started in the steady state of a step of its first sample (as
  ``scipy.signal.filtfilt``).  Each pass is the steady output plus the response from rest, computed
  by FFT from the zeros and poles (overlap-add blocks on long traces).  It agrees with scipy's to
  rounding: within 1e-11 of the signal's range of scipy's second-order-section result, and no
  further from scipy's transfer-function result than that is from the sections (2e-11 at 1 kHz,
  3e-9 at 4 kHz; tested).  On MIT-BIH 100, 105, 118, 118e12, 208
  and SVDB 800 the R-peaks, beat classes and signal quality are those of the scipy filters.
* :func:`peaks_apart`: the local maxima of a signal at least ``distance`` samples apart, the tallest
  kept first (``scipy.signal.find_peaks(x, distance=...)``: the same indices, tested).
* :func:`median_filter_reflect`: a running median, the signal mirrored at its ends
  (``scipy.ndimage.median_filter(x, size, mode="reflect")`` on 1-D: the same values, tested).

Pure functions: arrays in, new arrays out.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Signals up to this many samples (mirrored ends and the filter's tail included) are filtered in one
# FFT block; longer ones in overlap-added blocks (ours: a 60-s stretch at 1 kHz is one block, a long
# one costs blocks of a few MB each).
ONE_BLOCK_MAX = 1 << 17


def butter2(edges_hz: float | tuple[float, float], fs_hz: float) -> Filter:
    """A 2nd-order digital Butterworth filter: low-pass at ``edges_hz`` (a number) or
    band-pass between ``edges_hz`` (low, high), for a sampling rate ``fs_hz``.  Edges must lie in
    (0, fs/2)."""
    band = np.ndim(edges_hz) == 1
    wn = np.asarray(edges_hz, dtype=np.float64) / (float(fs_hz) / 2)
    if np.any(wn <= 0) or np.any(wn >= 1) or (band and not wn[0] < wn[1]):
        raise ValueError(f"filter edges {edges_hz!r} Hz must lie in (0, {fs_hz / 2:g}) Hz, increasing")
    fs = 2.0  # normalised frequencies: the bilinear transform at fs = 2
    warped = 2 * fs * np.tan(np.pi * wn / fs)
    # analog prototype: poles -exp(i pi m / 4), m = -1, 1 (order 2, unit cut-off), no zeros, gain 1
    poles = -np.exp(1j * np.pi * np.arange(-1, 2, 2, dtype=np.float64) / (2 * 2))
    if band:
        bw = float(warped[1] - warped[0])
        wo = float(np.sqrt(warped[0] * warped[1]))
        p = (poles * bw / 2).astype(np.complex128)
        root = np.sqrt(p**2 - wo**2)
        poles = np.concatenate((p + root, p - root))
        zeros = np.zeros(2, dtype=np.complex128)  # two at the origin (and two at infinity)
        gain = 1.0 * bw**2
    else:
        wo = float(warped)
        zeros = np.empty(0, dtype=np.float64)
        poles = wo * poles
        gain = 1.0 * wo**2
    degree = poles.size - zeros.size
    fs2 = 2.0 * fs
    z_d = np.concatenate(((fs2 + zeros) / (fs2 - zeros), -np.ones(degree)))  # zeros at infinity go to Nyquist
    p_d = (fs2 + poles) / (fs2 - poles)
    k_d = gain * np.real(np.prod(fs2 - zeros) / np.prod(fs2 - poles))
    return Filter(k_d * _poly(z_d), _poly(p_d), z_d, p_d, float(k_d))


class Filter(NamedTuple):
    """A digital filter: transfer function ``b``, ``a`` and its ``zeros``, ``poles`` and ``gain``."""

    b: np.ndarray
    a: np.ndarray
    zeros: np.ndarray
    poles: np.ndarray
    gain: float


def _poly(roots: np.ndarray) -> np.ndarray:
    """Coefficients of the polynomial with these roots (real when they come in conjugate pairs)."""
    c = np.ones(1, dtype=roots.dtype)
    one = np.ones_like(roots[0])
    for r in roots:
        c = np.convolve(c, np.stack((one, -r)), mode="full")
    if np.iscomplexobj(c):
        conj = np.asarray(roots, dtype=np.complex128)
        if np.all(np.sort(conj.imag) == np.sort(np.conj(conj).imag)):
            c = np.real(c).copy()
    return c


def filtfilt(f: Filter, x: np.ndarray, padlen: int) -> np.ndarray:
    """Zero-phase filtering of the 1-D ``x`` by ``f``, mirrored by ``padlen`` samples at each end
    (the end samples not repeated), each pass started in the steady state of a step of its first
    sample (as ``scipy.signal.filtfilt(b, a, x, padtype="even", padlen=padlen)``)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or not 0 <= padlen < x.size:
        raise ValueError(f"filtfilt needs a 1-D signal longer than its padding ({padlen} samples)")
    ext = np.concatenate((x[padlen:0:-1], x, x[-2:-(padlen + 2):-1])) if padlen else x
    tail = _tail(f)
    # one block (a trace of a minute or two), or blocks 3/4 of their FFT long
    nfft = fast_fft_length(min(ext.size + tail, max(4 * tail, ONE_BLOCK_MAX)))
    response = _response(f, nfft)
    y = _settled_pass(ext, tail, nfft, response)
    y = _settled_pass(y[::-1], tail, nfft, response)[::-1]
    return y[padlen:y.size - padlen].copy() if padlen else y.copy()


def fast_fft_length(n: int) -> int:
    """The smallest length at least ``n`` whose only prime factors are 2, 3 and 5 (numpy's FFT is
    fastest on those: 90,000 points take 0.7 times the 131,072 of the next power of two)."""
    n = max(1, int(n))
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _tail(f: Filter) -> int:
    """Samples after which the impulse response has died out: below 1e-20 of the input, the gain of
    residues near a double pole (1 / (1 - |p|) each) included."""
    r = float(np.max(np.abs(f.poles))) if f.poles.size else 0.0
    return max(16, int(np.ceil(np.log(1e-20 * (1.0 - r) ** 2) / np.log(r)))) if r > 0 else 16


def _response(f: Filter, nfft: int) -> np.ndarray:
    """The frequency response on the FFT grid, evaluated factor by factor from the zeros and poles
    (accurate near poles close to the unit circle, where the polynomials are not).  A zero at the
    origin is the factor 1 and is skipped; each factor is built in one scratch array (fewer fresh
    pages for the operating system to hand out on a long grid)."""
    w = _unit_circle(nfft)  # z^-1 on the grid
    h = np.full(w.size, f.gain, dtype=np.complex128)
    factor = np.empty_like(h)
    for z in f.zeros:
        if z == 0:
            continue
        np.multiply(z, w, out=factor)
        np.subtract(1.0, factor, out=factor)
        h *= factor
    for p in f.poles:
        np.multiply(p, w, out=factor)
        np.subtract(1.0, factor, out=factor)
        h /= factor
    return h


@functools.lru_cache(maxsize=8)
def _unit_circle(nfft: int) -> np.ndarray:
    """exp(-2 pi i k / nfft) for k = 0 .. nfft / 2, read-only (the analysis filters several signals
    of one length: the grid is computed once per length)."""
    angle = np.arange(nfft // 2 + 1) * (-2.0 * np.pi / nfft)
    w = np.empty(angle.size, dtype=np.complex128)
    np.cos(angle, out=w.real)  # cos and sin of the real angle: cheaper than exp of a complex one
    np.sin(angle, out=w.imag)
    w.flags.writeable = False
    return w


def _settled_pass(x: np.ndarray, tail: int, nfft: int, response: np.ndarray) -> np.ndarray:
    """One pass of the filter over ``x``, settled beforehand on the constant input ``x[0]``: its
    steady output (DC gain times ``x[0]``) plus the response, from rest, to ``x - x[0]``, by FFT in
    blocks of ``nfft - tail`` samples whose responses overlap by ``tail`` (overlap-add)."""
    first = float(x[0])
    block = nfft - tail
    n_blocks = -(-x.size // block)
    u = np.zeros(n_blocks * block)
    np.subtract(x, first, out=u[:x.size])
    spectrum = np.fft.rfft(u.reshape(n_blocks, block), nfft, axis=1)
    spectrum *= response
    parts = np.fft.irfft(spectrum, nfft, axis=1)
    del spectrum, u
    if n_blocks == 1:  # a short signal: one block (its FFT long enough for the whole response)
        y = parts[0, :x.size]
    else:  # blocks of at least 3 tails: each block's response runs ``tail`` samples into the next only
        y = np.zeros((n_blocks + 1, block))
        y[:n_blocks] = parts[:, :block]
        y[1:, :tail] += parts[:, block:]
        y = y.reshape(-1)[:x.size]
    y += response[0].real * first
    return y


def peaks_apart(x: np.ndarray, distance: int) -> np.ndarray:
    """Indices of the local maxima of ``x`` (a flat top counts once, at its middle; the first and last
    samples never), keeping the tallest first and dropping any closer than ``distance`` samples to a
    kept one (ties in height in numpy's ``argsort`` order)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 3:
        return np.empty(0, dtype=np.intp)
    # runs of equal values: a run is a peak when both neighbouring runs are lower
    start = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    end = np.r_[start[1:], x.size] - 1
    v = x[start]
    inner = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:])) + 1
    peaks = (start[inner] + end[inner]) // 2
    distance = int(np.ceil(distance))
    if distance <= 1 or peaks.size < 2:
        return peaks
    keep = np.ones(peaks.size, dtype=bool)
    pos = peaks.tolist()
    for j in np.argsort(x[peaks])[::-1].tolist():
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and pos[j] - pos[k] < distance:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < len(pos) and pos[k] - pos[j] < distance:
            keep[k] = False
            k += 1
    return peaks[keep]


def median_filter_reflect(x: np.ndarray, size: int) -> np.ndarray:
    """Median of each ``size``-sample window (centred; for an even size the upper middle value), the
    signal mirrored at both ends (edge samples repeated: d c b a | a b c d | d c b a)."""
    x = np.asarray(x, dtype=np.float64)
    size = int(size)
    if size < 1 or x.size == 0:
        raise ValueError("median filter needs a window of at least one sample and a signal")
    left = size // 2
    padded = np.pad(x, (left, size - 1 - left), mode="symmetric")
    return np.partition(sliding_window_view(padded, size), size // 2, axis=1)[:, size // 2].copy()


__all__ = ["Filter", "butter2", "filtfilt", "median_filter_reflect", "peaks_apart"]
