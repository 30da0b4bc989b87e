"""Decoding a series' pixel data into one read-only HU volume (threads overlap the reads).

The volume is kept in the smallest type that holds its values exactly: int16 when every slice's
Rescale Slope and Intercept are whole numbers and the CT numbers fit (the usual CT case: half the
memory of float32), float32 otherwise.  Both hold the same numbers: the int16 values are computed
exactly (in int64) and are what the float32 conversion gives.  Consumers that compute with the
values (means, thresholds against fractional HU) take float32 views of the parts they use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from qa.dicom import attributes as attr
from qa.dicom import pixels
from qa.dicom import plausible as plausible_values
from qa.dicom.images import ImageRef
from qa.errors import InputError

# Decoding threads: file reads, decompression and the HU conversion release the GIL.
DECODE_WORKERS = 4
_INT16 = np.iinfo(np.int16)
# A whole Rescale Slope up to this keeps stored (16-bit) x slope exact in float32 (< 2**24), as the int16 values are.
_MAX_WHOLE_SLOPE = 256


class _DoesNotFitInt16(Exception):
    """A slice's CT numbers lie outside int16: the volume is decoded again as float32."""


def volume_dtype(images: Sequence[ImageRef]) -> np.dtype:
    """int16 when every image's Rescale Slope and Intercept are whole numbers (the usual CT case),
    float32 otherwise (a fractional slope or intercept gives fractional CT numbers)."""
    for img in images:
        slope, intercept = img.rescale_slope, img.rescale_intercept
        if not (float(slope).is_integer() and float(intercept).is_integer() and abs(slope) <= _MAX_WHOLE_SLOPE
                and abs(intercept) <= 2 * _INT16.max):
            return np.dtype(np.float32)
    return np.dtype(np.int16)


def decode_volume(datasets: Sequence, labels: Sequence[str], images: list[ImageRef], rows: int, cols: int,
                  progress: Callable[[int, int], None] | None, check_hu: bool = True) -> np.ndarray:
    """Decode each dataset once into a read-only HU volume (slices in ``images`` order), int16 or
    float32 (:func:`volume_dtype`; a slice whose CT numbers do not fit int16 makes it float32).

    ``labels``: the file of each dataset (for errors).  ``check_hu``: refuse a slice whose values after rescale are impossible CT numbers (a corrupt
    Rescale Slope or Intercept; :mod:`qa.records.plausibility`)."""
    dtype = volume_dtype(images)
    if dtype == np.int16:
        try:
            return _decode(datasets, labels, images, rows, cols, progress, check_hu, dtype)
        except _DoesNotFitInt16:
            pass
    return _decode(datasets, labels, images, rows, cols, progress, check_hu, np.dtype(np.float32))


def _decode(datasets, labels, images, rows, cols, progress, check_hu: bool, dtype: np.dtype) -> np.ndarray:
    hu = np.empty((len(images), rows, cols), dtype=dtype)
    by_dataset: dict[int, list[tuple[int, ImageRef]]] = {}
    for k, img in enumerate(images):
        by_dataset.setdefault(img.dataset_index, []).append((k, img))
    total = len(by_dataset)

    def fill(index: int, members: list[tuple[int, ImageRef]]) -> None:
        ds = datasets[index]
        label = labels[index]
        n_frames = int(attr.raw_text(ds, "NumberOfFrames") or 1)
        stored = pixels.pixels(ds, label, n_frames)
        if n_frames > 1 and stored.ndim == 2:
            stored = stored[None]
        for k, img in members:
            frame = stored[img.frame] if n_frames > 1 else stored
            if frame.shape != (rows, cols):
                raise InputError(
                    img.label, "PixelData", f"decoded to shape {frame.shape}, expected {rows} x {cols} from Rows/Columns",
                    hint="re-export the series from the scanner or PACS",
                )
            out = hu[k]
            if dtype == np.int16:
                _whole_numbers(frame, img, out, check_hu)
                continue
            if img.rescale_slope != 1.0:
                np.multiply(frame, np.float32(img.rescale_slope), out=out, dtype=np.float32)
                np.add(out, np.float32(img.rescale_intercept), out=out)
            else:
                np.add(frame, np.float32(img.rescale_intercept), out=out, dtype=np.float32)
            if check_hu:
                plausible_values.require_ct_numbers(out, img)

    # File reads, decompression and the HU conversion release the GIL: workers overlap them.
    # Each task writes its own slices; the first error (in slice order) is raised.
    workers = min(DECODE_WORKERS, os.cpu_count() or 1, total)
    if workers <= 1:
        for n, (index, members) in enumerate(by_dataset.items()):
            if progress is not None:
                progress(n, total)
            fill(index, members)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(fill, index, members) for index, members in by_dataset.items()]
            try:
                for n, future in enumerate(futures):
                    if progress is not None:
                        progress(n, total)
                    future.result()
            except BaseException:
                for other in futures:
                    other.cancel()
                raise
    if progress is not None:
        progress(total, total)
    hu.flags.writeable = False
    return hu


def _whole_numbers(frame: np.ndarray, img: ImageRef, out: np.ndarray, check_hu: bool) -> None:
    """stored x slope + intercept, exact in int64, checked, then into the int16 slice ``out``."""
    if frame.dtype.kind not in "iu" or frame.dtype.itemsize > 4:
        raise _DoesNotFitInt16  # not integer stored values (or wider than 32 bits): float32
    values = np.multiply(frame, np.int64(img.rescale_slope), dtype=np.int64)
    np.add(values, np.int64(img.rescale_intercept), out=values)
    if check_hu:
        plausible_values.require_ct_numbers(values, img)
    if values.size and (int(values.min()) < _INT16.min or int(values.max()) > _INT16.max):
        raise _DoesNotFitInt16
    out[...] = values
