"""The image steps locating a phantom needs, in numpy: the values ``scipy.ndimage`` gives, without
importing it (about 0.2-0.3 s of a ``qa phantom`` process whose image work takes less).

Each function names the ``scipy.ndimage`` call it stands for, with the same boundary handling and
the same order of floating-point operations, so that the results are equal bit for bit (filters,
interpolation) or exactly (distances, morphology); ``tests/phantom/test_image_filters.py`` compares them
with scipy on random images of many sizes, dtypes and parameters.  All work on 2-D images, the only
kind the locator filters.
"""

from __future__ import annotations

import math

import numpy as np

from qa.calcium.labels import label_2d

# Rows of distances computed at once by distance_to_zero (bounds its temporary to ~32 MiB).
_EDT_CHUNK_ELEMENTS = 4_000_000


def _require_2d(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"{what}: a 2-D image is needed, not {image.ndim}-D")
    return image


def _require_float(image: np.ndarray, what: str) -> np.ndarray:
    image = _require_2d(image, what)
    if image.dtype not in (np.float32, np.float64):
        raise ValueError(f"{what}: a float32 or float64 image is needed, not {image.dtype}")
    return image


# ---------------------------------------------------------------------------------------- filters
def gaussian_2d(image: np.ndarray, sigma: float, *, mode: str = "reflect", truncate: float = 4.0) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(image, sigma, mode=mode, truncate=truncate)`` of a float image:
    the same 1-D kernel on rows then columns, in the image's dtype between the passes."""
    image = _require_float(image, "gaussian_2d")
    if not float(sigma) > 0:
        raise ValueError(f"gaussian_2d: sigma must be positive, not {sigma!r}")
    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 / (float(sigma) * float(sigma)) * offsets**2)
    kernel = kernel / kernel.sum()
    out = image
    for axis in (0, 1):
        out = _symmetric_correlate(out, kernel, axis, mode).astype(image.dtype, copy=False)
    return out


def _symmetric_correlate(image: np.ndarray, kernel: np.ndarray, axis: int, mode: str) -> np.ndarray:
    """Correlation with a symmetric odd kernel along ``axis``, summed as centre x w0 then each pair
    of mirror samples added before weighting, nearest pair last (scipy's order for such kernels)."""
    radius = len(kernel) // 2
    line = np.moveaxis(image, axis, -1).astype(np.float64)
    length = line.shape[-1]
    padded = np.pad(line, [(0, 0), (radius, radius)], mode=_numpy_pad_mode(mode))
    out = padded[:, radius : radius + length] * kernel[radius]
    for offset in range(radius, 0, -1):  # the farthest pair first
        out += (padded[:, radius - offset : radius - offset + length]
                + padded[:, radius + offset : radius + offset + length]) * kernel[radius - offset]
    return np.moveaxis(out, -1, axis)


def uniform_2d(image: np.ndarray, size: int, *, mode: str = "reflect") -> np.ndarray:
    """``scipy.ndimage.uniform_filter(image, size, mode=mode)`` of a float image: a running sum
    along rows then columns, in the image's dtype between the passes."""
    image = _require_float(image, "uniform_2d")
    size = int(size)
    if size < 1:
        raise ValueError(f"uniform_2d: the size must be at least 1, not {size}")
    out = image.copy()
    if size == 1:
        return out
    before, after = size // 2, size - size // 2 - 1
    for axis in (0, 1):
        line = np.moveaxis(out, axis, 0).astype(np.float64)  # one running sum per line, all lines at once
        padded = np.pad(line, [(before, after), (0, 0)], mode=_numpy_pad_mode(mode))
        result = np.empty_like(line)
        total = np.zeros(line.shape[1])
        for k in range(size):
            total += padded[k]
        result[0] = total / size
        for k in range(1, line.shape[0]):
            total += padded[k + size - 1] - padded[k - 1]
            result[k] = total / size
        out = np.moveaxis(result, 0, axis).astype(image.dtype, copy=False)
    return out


def maximum_2d(image: np.ndarray, size: int, *, mode: str = "reflect") -> np.ndarray:
    """``scipy.ndimage.maximum_filter(image, size, mode=mode)``: the maximum over a ``size`` x
    ``size`` square, along rows then columns (exact: a maximum does not round).  NaN is refused
    (scipy and numpy spread it differently)."""
    image = _require_2d(image, "maximum_2d")
    if image.dtype.kind in "fc" and np.isnan(image).any():
        raise ValueError("maximum_2d: the image holds NaN")
    size = int(size)
    if size < 1:
        raise ValueError(f"maximum_2d: the size must be at least 1, not {size}")
    before, after = size // 2, size - size // 2 - 1
    out = image
    for axis in (0, 1):
        widths = [(0, 0), (0, 0)]
        widths[axis] = (before, after)
        padded = np.pad(out, widths, mode=_numpy_pad_mode(mode))
        out = np.lib.stride_tricks.sliding_window_view(padded, size, axis=axis).max(axis=-1)
    return out.astype(image.dtype, copy=False)


def _numpy_pad_mode(mode: str) -> str:
    """numpy's name of a scipy.ndimage boundary mode (only the modes the locator uses)."""
    names = {"reflect": "symmetric", "nearest": "edge"}
    if mode not in names:
        raise ValueError(f"boundary mode {mode!r} is not supported (one of {', '.join(names)})")
    return names[mode]


# ---------------------------------------------------------------------------------- interpolation
def sample_linear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.map_coordinates(image, [rows, cols], order=1, mode="nearest")``: bilinear
    samples at fractional (row, col); neighbours beyond the edge take the edge's value.  The image
    must be at least 2 x 2 (along a one-pixel axis scipy's last bit can differ from this sum)."""
    image = _require_float(image, "sample_linear")
    if min(image.shape) < 2:
        raise ValueError(f"sample_linear: an image of at least 2 x 2 pixels is needed, not {image.shape}")
    rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    n_rows, n_cols = image.shape
    r0, c0 = np.floor(rows), np.floor(cols)
    tr, tc = rows - r0, cols - c0
    r0, c0 = r0.astype(np.intp), c0.astype(np.intp)
    ra, rb = np.clip(r0, 0, n_rows - 1) * n_cols, np.clip(r0 + 1, 0, n_rows - 1) * n_cols  # flat offsets
    ca, cb = np.clip(c0, 0, n_cols - 1), np.clip(c0 + 1, 0, n_cols - 1)
    values = image.astype(np.float64, copy=False).ravel()
    ur, uc = 1.0 - tr, 1.0 - tc
    # Corner by corner, each value weighted by its row weight then its column weight, as scipy sums.
    out = values.take(ra + ca) * ur * uc
    out += values.take(ra + cb) * ur * tc
    out += values.take(rb + ca) * tr * uc
    out += values.take(rb + cb) * tr * tc
    return out.astype(image.dtype, copy=False)


def sample_nearest(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, *, outside: float) -> np.ndarray:
    """``scipy.ndimage.map_coordinates(image, [rows, cols], order=0, mode="constant", cval=outside)``:
    the nearest pixel (halves rounded up), ``outside`` for a point beyond the first or last pixel."""
    image = _require_2d(image, "sample_nearest")
    rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    n_rows, n_cols = image.shape
    inside = (rows >= 0) & (rows <= n_rows - 1) & (cols >= 0) & (cols <= n_cols - 1)
    out = np.full(rows.shape, outside, dtype=image.dtype)
    ri = np.floor(rows[inside] + 0.5).astype(np.intp)
    ci = np.floor(cols[inside] + 0.5).astype(np.intp)
    out[inside] = image[np.minimum(ri, n_rows - 1), np.minimum(ci, n_cols - 1)]
    return out


# ------------------------------------------------------------------------------------- distances
def distance_to_zero(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.distance_transform_edt(mask)``: the Euclidean distance (pixels) of each set
    pixel to the nearest unset one, exact (0 on unset pixels); the mask must hold an unset pixel.

    Separable: the distance along each column to its nearest unset pixel, then per row the minimum
    over columns of (column distance² + offset²), which is the exact squared distance.  O(rows x
    cols²): a few ms on the locator's ~3 mm grids (under ~260 pixels across), 0.14 s at 512²."""
    mask = _require_2d(mask, "distance_to_zero") != 0
    if mask.all():
        raise ValueError("distance_to_zero: the mask has no unset pixel to measure from")
    n_rows, n_cols = mask.shape
    index = np.arange(n_rows)[:, None]
    big = n_rows + n_cols  # farther than any pixel: a column with no unset pixel
    last_zero = np.maximum.accumulate(np.where(mask, -big, index), axis=0)
    next_zero = np.flip(np.minimum.accumulate(np.flip(np.where(mask, 2 * big, index), axis=0), axis=0), axis=0)
    column = np.minimum(index - last_zero, next_zero - index).astype(np.int64)
    column_sq = column * column
    offsets_sq = (np.arange(n_cols)[:, None] - np.arange(n_cols)[None, :]) ** 2  # [target col, source col]
    squared = np.empty((n_rows, n_cols), dtype=np.int64)
    chunk = max(1, _EDT_CHUNK_ELEMENTS // max(1, n_cols * n_cols))
    for start in range(0, n_rows, chunk):
        block = column_sq[start : start + chunk]
        squared[start : start + chunk] = (block[:, None, :] + offsets_sq[None, :, :]).min(axis=2)
    return np.sqrt(squared.astype(np.float64))


# ------------------------------------------------------------------------------------ morphology
def dilate_cross(mask: np.ndarray, iterations: int) -> np.ndarray:
    """``scipy.ndimage.binary_dilation(mask, iterations=iterations)`` (4-neighbour cross, outside
    the image unset): the set pixels grown by ``iterations`` steps."""
    out = _require_2d(mask, "dilate_cross") != 0
    for _ in range(int(iterations)):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        if np.array_equal(grown, out):
            break
        out = grown
    return out


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes(mask)``: unset regions not joined to the image border by
    4-neighbour steps become set."""
    mask = _require_2d(mask, "fill_holes") != 0
    labels, count = label_2d(~mask, connectivity=4)
    if count == 0:
        return mask.copy()
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    reaches_border = np.zeros(count + 1, dtype=bool)
    reaches_border[border] = True
    return ~reaches_border[labels] | mask


def open_disk(mask: np.ndarray, radius: int) -> np.ndarray:
    """``scipy.ndimage.binary_opening(mask, structure=disk)`` with the disk x² + y² <= radius²:
    erosion (outside the image unset) then dilation, each as one horizontal segment per disk row."""
    mask = _require_2d(mask, "open_disk") != 0
    radius = int(radius)
    half_widths = [math.isqrt(radius * radius - dy * dy) for dy in range(-radius, radius + 1)]
    return _disk_pass(_disk_pass(mask, radius, half_widths, erode=True), radius, half_widths, erode=False)


def _disk_pass(mask: np.ndarray, radius: int, half_widths: list[int], *, erode: bool) -> np.ndarray:
    n_rows, n_cols = mask.shape
    # Count of set pixels in each row's window [col - w, col + w], from a running sum padded with unset.
    cumulative = np.zeros((n_rows, n_cols + 1), dtype=np.int64)
    np.cumsum(mask, axis=1, out=cumulative[:, 1:])
    cols = np.arange(n_cols)
    out = np.ones_like(mask) if erode else np.zeros_like(mask)
    for dy, w in zip(range(-radius, radius + 1), half_widths):
        lo, hi = np.clip(cols - w, 0, n_cols), np.clip(cols + w + 1, 0, n_cols)
        counts = cumulative[:, hi] - cumulative[:, lo]
        segment = counts == 2 * w + 1 if erode else counts > 0  # erosion: the whole segment inside and set
        shifted = np.zeros_like(mask)  # rows beyond the image are unset
        if abs(dy) >= n_rows:
            pass
        elif dy >= 0:
            shifted[: n_rows - dy] = segment[dy:]
        else:
            shifted[-dy:] = segment[: n_rows + dy]
        if erode:
            out &= shifted
        else:
            out |= shifted
    return out


def label_4(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """``scipy.ndimage.label(mask)`` (default 4-neighbour structure) of a 2-D mask."""
    return label_2d(_require_2d(mask, "label_4"), connectivity=4)
