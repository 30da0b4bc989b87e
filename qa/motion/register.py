"""In-plane rigid registration of two CT slices, and their similarity (pure numpy).

* :func:`content` windows a slice to the thorax content (air, lung, soft tissue, bone edges) and
  apodises it, so that the body outline and the heart region drive the match, not noise or the
  field-of-view edge.
* :func:`phase_shift_px` is phase correlation (Kuglin & Hines 1975) refined to sub-pixel by the
  upsampled matrix-multiply DFT of Guizar-Sicairos, Thurman & Fienup (Opt Lett 2008;33:156).
* :func:`ncc` is the normalised cross-correlation of two windowed slices.
"""

from __future__ import annotations

import numpy as np

# The HU window of the thorax content: lung (-500 and below: air and lung alike) to dense bone
# (+500 and above).  Our choice: it keeps the body outline, the lung-heart and spine edges.
CONTENT_WINDOW_HU = (-500.0, 500.0)
TUKEY_ALPHA = 0.25  # the apodising window's tapered fraction at each edge (our choice)
LOWPASS_SIGMA = 0.12  # cycles per pixel: the cross-power spectrum's Gaussian weight (our choice; damps noise)
UPSAMPLE = 20  # sub-pixel refinement: 1/20 pixel


def _tukey(n: int, alpha: float = TUKEY_ALPHA) -> np.ndarray:
    x = np.linspace(0.0, 1.0, n)
    w = np.ones(n)
    edge = alpha / 2
    if edge <= 0 or n < 3:
        return w
    lo, hi = x < edge, x > 1 - edge
    w[lo] = 0.5 * (1 + np.cos(np.pi * (x[lo] / edge - 1)))
    w[hi] = 0.5 * (1 + np.cos(np.pi * ((x[hi] - 1) / edge + 1)))
    return w


def content(hu: np.ndarray) -> np.ndarray:
    """The slice windowed to :data:`CONTENT_WINDOW_HU`, zero-mean, apodised (float64)."""
    img = np.clip(np.asarray(hu, dtype=float), *CONTENT_WINDOW_HU)
    img = img - img.mean()
    return img * np.outer(_tukey(img.shape[0]), _tukey(img.shape[1]))


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two :func:`content` images (1 = identical up to contrast)."""
    a0, b0 = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a0 * a0).sum() * (b0 * b0).sum()))
    return float((a0 * b0).sum() / den) if den > 0 else 0.0


def _upsampled_dft(spectrum: np.ndarray, size: int, factor: int, offsets: tuple[float, float]) -> np.ndarray:
    """The inverse DFT of ``spectrum`` on a ``size`` x ``size`` grid of 1/``factor`` pixel steps,
    starting at ``offsets`` (in upsampled pixels): Guizar-Sicairos et al. 2008, eq. 12."""
    rows, cols = spectrum.shape
    col_kernel = np.exp((2j * np.pi / (cols * factor))
                        * np.fft.fftfreq(cols, 1.0 / cols)[:, None] * (np.arange(size) - offsets[1])[None, :])
    row_kernel = np.exp((2j * np.pi / (rows * factor))
                        * (np.arange(size) - offsets[0])[:, None] * np.fft.fftfreq(rows, 1.0 / rows)[None, :])
    return row_kernel @ spectrum @ col_kernel


def phase_shift_px(earlier: np.ndarray, later: np.ndarray) -> tuple[float, float, float]:
    """(rows, columns, peak): how far the content of ``later`` lies from that of ``earlier``, in
    pixels (``later(r) ~ earlier(r - shift)``), and the correlation peak's height (0-1).

    Both are :func:`content` images of one shape."""
    fa, fb = np.fft.fft2(earlier), np.fft.fft2(later)
    cross = fb * np.conj(fa)
    cross /= np.abs(cross) + 1e-12 * np.abs(cross).max() + 1e-30
    fy = np.fft.fftfreq(cross.shape[0])[:, None]
    fx = np.fft.fftfreq(cross.shape[1])[None, :]
    cross *= np.exp(-(fy * fy + fx * fx) / (2 * LOWPASS_SIGMA**2))
    corr = np.fft.ifft2(cross).real
    peak = np.unravel_index(int(np.argmax(corr)), corr.shape)
    shift = np.array([p if p <= n // 2 else p - n for p, n in zip(peak, corr.shape, strict=True)], dtype=float)
    size = int(np.ceil(UPSAMPLE * 1.5))
    centre = size // 2
    offsets = (centre - shift[0] * UPSAMPLE, centre - shift[1] * UPSAMPLE)
    fine = _upsampled_dft(cross, size, UPSAMPLE, offsets).real
    i, j = np.unravel_index(int(np.argmax(fine)), fine.shape)
    refined = shift + (np.array([i, j], dtype=float) - centre) / UPSAMPLE
    height = float(fine[i, j] / max(float(np.abs(np.exp(-(fy * fy + fx * fx) / (2 * LOWPASS_SIGMA**2))).sum()), 1e-30))
    return float(refined[0]), float(refined[1]), height
