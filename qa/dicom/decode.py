"""Decoding a series' pixel data into one read-only float32 HU volume (threads overlap the reads)."""

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


def decode_volume(datasets: Sequence, labels: Sequence[str], images: list[ImageRef], rows: int, cols: int,
                  progress: Callable[[int, int], None] | None, check_hu: bool = True) -> np.ndarray:
    """Decode each dataset once into a read-only float32 HU volume (slices in ``images`` order).

    ``labels``: the file of each dataset (for errors).  ``check_hu``: refuse a slice whose values after rescale are impossible CT numbers (a corrupt
    Rescale Slope or Intercept; :mod:`qa.records.plausibility`)."""
    hu = np.empty((len(images), rows, cols), dtype=np.float32)
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
