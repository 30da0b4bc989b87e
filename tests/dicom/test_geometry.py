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
