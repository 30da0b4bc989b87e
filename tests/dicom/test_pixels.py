"""Pixel data must match its header exactly; the fast path equals pydicom."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from qa.dicom.series import load_series
from qa.dicom.write import write_ct_series
from qa.errors import InputError


def test_more_pixel_data_than_rows_and_columns_describe_is_refused(tmp_path):
    hu = np.zeros((3, 16, 16))
    hu[:, 4:8, 4:8] = 400.0
    # the header claims 8 x 8, the pixel data holds 16 x 16: a silently wrong image otherwise
    write_ct_series(tmp_path, hu, header={"Rows": 8, "Columns": 8})
    with pytest.raises(InputError) as info:
        load_series(tmp_path)
    assert info.value.field == "PixelData" and "does not match" in str(info.value)


def test_an_odd_padding_byte_is_accepted(tmp_path):
    paths = write_ct_series(tmp_path, np.zeros((2, 8, 8)))
    ds = pydicom.dcmread(paths[0])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.Rows, ds.Columns = 3, 3
    ds.PixelData = bytes(9) + b"\x00"  # 9 bytes of 8-bit pixels, padded to an even length
    ds.save_as(paths[0])
    ds = pydicom.dcmread(paths[1])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.Rows, ds.Columns = 3, 3
    ds.PixelData = bytes(9) + b"\x00"
    ds.save_as(paths[1])
    volume = load_series(tmp_path)
    assert volume.shape == (2, 3, 3)
