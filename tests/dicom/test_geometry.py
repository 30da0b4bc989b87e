"""Geometry refusals that need care: gaps in short series, empty images, bad direction cosines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.dicom.series import load_series
from qa.dicom.write import write_ct_series
from qa.errors import InputError


def _ramp(n=5):
    return np.arange(n * 8 * 8, dtype=float).reshape(n, 8, 8)


def test_a_missing_slice_in_a_short_series_is_called_a_missing_slice(tmp_path):
    paths = write_ct_series(tmp_path, _ramp(4))
    Path(paths[2]).unlink()  # steps 3, 6: the median would be 4.5
    with pytest.raises(InputError) as info:
        load_series(tmp_path)
    assert "missing slice" in str(info.value)
    assert "IMG0002.dcm" in str(info.value) and "IMG0004.dcm" in str(info.value)


def test_every_other_slice_missing_is_a_missing_slice(tmp_path):
    write_ct_series(tmp_path, _ramp(5), positions_mm=[(0, 0, z) for z in (0, 3, 9, 12, 18)])
    with pytest.raises(InputError, match="missing slice"):
        load_series(tmp_path)


def test_an_empty_image_is_refused(tmp_path):
    write_ct_series(tmp_path, _ramp(3), per_slice_header=[{"Rows": 0, "Columns": 0, "PixelData": b""}, None, None])
    with pytest.raises(InputError) as info:
        load_series(tmp_path)
    assert info.value.field in ("Rows/Columns",) and "IMG0001.dcm" in str(info.value)
    assert info.value.hint


def test_direction_cosines_that_are_not_orthonormal_are_refused(tmp_path):
    write_ct_series(tmp_path, _ramp(3), orientation=(1, 0, 0, 0.5, 1, 0))
    with pytest.raises(InputError) as info:
        load_series(tmp_path)
    assert "orthonormal" in str(info.value) and info.value.hint


def _image(k: int, z: float):
    from qa.dicom.images import ImageRef

    return ImageRef(f"IMG{k:04d}.dcm", k, None, f"1.2.3.{k}", (0.0, 0.0, z), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), 4, 4, (1.0, 1.0),
                    3.0, 1.0, -1024.0, "HU", None)


def test_overlapping_stacks_are_sorted_and_a_gap_between_them_is_named_by_its_files():
    """Step-and-shoot stacks (the motion analysis): overlapping in z is allowed, a gap between their
    union is refused with the files on each side of it (each position's first image)."""
    from qa.dicom.geometry import sort_stack

    # two stacks of 3 mm slices overlapping by one position (z = 6 in both)
    zs = [0.0, 3.0, 6.0, 6.0, 9.0, 12.0]
    stack = sort_stack([_image(k, z) for k, z in enumerate(zs)], [0, 0, 0, 1, 1, 1])
    assert stack.increment_mm == pytest.approx(3.0) and list(stack.along_normal_mm) == sorted(zs)
    # the second stack 9 mm further on: positions 6 and 15 with nothing in between
    zs = [0.0, 3.0, 6.0, 15.0, 18.0, 21.0]
    with pytest.raises(InputError, match="missing slice") as refused:
        sort_stack([_image(k, z) for k, z in enumerate(zs)], [0, 0, 0, 1, 1, 1])
    assert "IMG0002.dcm .. IMG0003.dcm" in str(refused.value.path)
