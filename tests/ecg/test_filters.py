"""qa.ecg.filters gives what scipy.signal / scipy.ndimage give, without importing them in use (issue 17).

scipy is the reference here (a dependency of qa, imported by the test only): the filter coefficients,
the peaks and the running medians are the same to the bit; the zero-phase filtering agrees with
scipy's to rounding (scipy's own transfer-function and second-order-section results differ by as much).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, signal

from qa.ecg.filters import ONE_BLOCK_MAX, butter2, fast_fft_length, filtfilt, median_filter_reflect, peaks_apart

RATES_HZ = (50.0, 128.0, 250.0, 256.0, 360.0, 500.0, 1000.0, 1024.0, 2000.0, 97.3)
# the detector's QRS and fiducial bands, the beat classifier's, and the quality's baseline low-pass
BANDS_HZ = ((5.0, 15.0), (0.5, 40.0), (1.0, 35.0))


def _edges(band, fs):
    return (band[0], min(band[1], 0.45 * fs))


@pytest.mark.parametrize("fs", RATES_HZ)
def test_butterworth_coefficients_are_scipys_to_the_bit(fs):
    for band in BANDS_HZ:
        edges = _edges(band, fs)
        b, a = signal.butter(2, list(edges), btype="bandpass", fs=fs)
        ours = butter2(edges, fs)
        assert np.array_equal(ours.b, b) and np.array_equal(ours.a, a)
    for cut in (0.5, 0.7, 3.0):
        b, a = signal.butter(2, cut, btype="lowpass", fs=fs)
        ours = butter2(cut, fs)
        assert np.array_equal(ours.b, b) and np.array_equal(ours.a, a)


def test_filter_edges_outside_the_band_are_refused():
    for edges in ((0.0, 15.0), (5.0, 60.0), (15.0, 5.0), 0.0, 50.0):
        with pytest.raises(ValueError, match="must lie in"):
            butter2(edges, 100.0)


def _signals(rng, n):
    """A wandering noisy signal and an ECG-like one (spikes on a drifting baseline)."""
    wander = np.cumsum(rng.normal(size=n)) * 0.01 + rng.normal(size=n)
    spikes = np.zeros(n)
    spikes[::300] = 1.5
    ecg = np.convolve(spikes, np.hanning(25), mode="same") + 0.3 * np.sin(np.arange(n) / 900.0) + 0.02 * rng.normal(size=n)
    return wander, ecg


@pytest.mark.parametrize("fs", (128.0, 360.0, 500.0, 1000.0))
def test_zero_phase_filtering_agrees_with_scipy_to_rounding(fs):
    rng = np.random.default_rng(int(fs))
    for x in _signals(rng, 60_000) + _signals(rng, 700):
        scale = np.max(np.abs(x))
        pad = min(x.size - 1, int(fs))
        for edges in [_edges(b, fs) for b in BANDS_HZ] + [0.7]:
            band = np.ndim(edges) == 1
            b, a = signal.butter(2, list(edges) if band else edges, btype="bandpass" if band else "lowpass", fs=fs)
            sos = signal.butter(2, list(edges) if band else edges, btype="bandpass" if band else "lowpass", fs=fs, output="sos")
            ours = filtfilt(butter2(edges, fs), x, pad)
            tf = signal.filtfilt(b, a, x, padtype="even", padlen=pad)
            sections = signal.sosfiltfilt(sos, x, padtype="even", padlen=pad)
            assert ours.shape == x.shape
            # as close to scipy's transfer-function result as that is to scipy's second-order sections, or closer
            assert np.max(np.abs(ours - tf)) <= max(1e-11 * scale, 2 * np.max(np.abs(tf - sections)))
            assert np.max(np.abs(ours - sections)) <= 1e-11 * scale


def test_a_trace_longer_than_one_block_agrees_with_scipy_to_rounding():
    """Past ONE_BLOCK_MAX samples the passes run in overlap-added blocks: the same agreement."""
    fs = 1000.0
    x = _signals(np.random.default_rng(7), 3 * ONE_BLOCK_MAX)[1]
    for edges in ((0.5, 40.0), (5.0, 15.0), 0.7):
        band = np.ndim(edges) == 1
        sos = signal.butter(2, list(edges) if band else edges, btype="bandpass" if band else "lowpass", fs=fs, output="sos")
        ours = filtfilt(butter2(edges, fs), x, int(fs))
        assert np.max(np.abs(ours - signal.sosfiltfilt(sos, x, padtype="even", padlen=int(fs)))) <= 1e-11 * np.max(np.abs(x))


def _five_smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def test_fft_lengths_are_the_smallest_with_factors_2_3_and_5():
    for n in list(range(1, 2500)) + [66_123, 88_250, 131_073, 1_000_003]:
        length = fast_fft_length(n)
        assert length >= n and _five_smooth(length), n
        assert not any(_five_smooth(k) for k in range(n, length)), n
    assert fast_fft_length(88_250) == 90_000  # not 131,072


def test_filtering_a_short_trace_and_no_padding():
    x = np.array([0.1, 0.5, -0.2, 0.3, 0.0, 0.2, 0.4])
    b, a = signal.butter(2, [5.0, 15.0], btype="bandpass", fs=360.0)
    for pad in (0, 3, 6):
        expected = signal.filtfilt(b, a, x, padtype="even", padlen=pad)
        assert np.allclose(filtfilt(butter2((5.0, 15.0), 360.0), x, pad), expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="longer than its padding"):
        filtfilt(butter2((5.0, 15.0), 360.0), x, 7)


def test_peaks_at_least_a_distance_apart_are_scipys():
    rng = np.random.default_rng(5)
    for trial in range(1500):
        n = int(rng.integers(1, 400))
        # plateaus (small integers) and plain noise; the detector's -inf ends
        x = rng.integers(0, 6, n).astype(float) if trial % 2 else rng.normal(size=n)
        if trial % 3 == 0:
            x = np.concatenate([[-np.inf], x, [-np.inf]])
        distance = int(rng.integers(1, 40))
        expected, _ = signal.find_peaks(x, distance=distance)
        np.testing.assert_array_equal(peaks_apart(x, distance), expected)


def test_running_median_is_scipys_with_mirrored_ends():
    rng = np.random.default_rng(6)
    for trial in range(1500):
        n = int(rng.integers(1, 80))
        size = int(rng.integers(1, n + 1))
        x = rng.integers(0, 5, n).astype(float) if trial % 2 else rng.normal(size=n)
        np.testing.assert_array_equal(median_filter_reflect(x, size), ndimage.median_filter(x, size=size, mode="reflect"))
