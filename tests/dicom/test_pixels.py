"""Pixel data must match its header exactly; the fast path equals pydicom."""

from __future__ import annotations

from pathlib import Path

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


# ---------------------------------------------------------------------------------------------
# Pixels of a header scan read where the scan found them (qa.dicom.series.with_pixels, breath-hold motion).

def _headers_only_series(folder):
    from qa.dicom.series import scan_inputs

    scan = scan_inputs(folder, headers_only=True)
    assert len(scan.series) == 1
    return scan.series[0]


@pytest.mark.parametrize("pixel_style", ["unsigned-1024", "unsigned12-1024", "signed-0", "unsigned-slope0.5"])
def test_pixels_read_where_the_header_scan_found_them_equal_a_full_read(tmp_path, pixel_style):
    from qa.dicom.series import load_volume, with_pixels

    rng = np.random.default_rng(3)
    hu = rng.integers(-1000, 2000, size=(5, 24, 20)).astype(float)
    write_ct_series(tmp_path, hu, pixel_style=pixel_style)
    group = _headers_only_series(tmp_path)
    assert all(ds.qa_pixels_at is not None and "PixelData" not in ds for ds in group.datasets)
    assert with_pixels(group) is group  # nothing parsed again
    in_place = load_volume(group)
    full = load_series(tmp_path)
    assert in_place.hu.dtype == full.hu.dtype and np.array_equal(in_place.hu, full.hu)
    assert np.array_equal(np.asarray(in_place.hu, dtype=float), hu)


@pytest.mark.parametrize("change", ["rewritten", "truncated", "a sibling, same time"])
def test_a_file_changed_after_the_header_scan_is_refused_when_its_pixels_are_read(tmp_path, change):
    import os

    from qa.dicom.series import load_volume, with_pixels

    paths = [Path(p) for p in write_ct_series(tmp_path, np.zeros((3, 16, 16)))]
    group = with_pixels(_headers_only_series(tmp_path))
    data = paths[1].read_bytes()
    stamp = os.stat(paths[1]).st_mtime_ns
    if change == "a sibling, same time":  # another slice of the series copied over it, its time kept (cp -p, rsync -t)
        paths[1].write_bytes(paths[2].read_bytes())
        os.utime(paths[1], ns=(stamp, stamp))
    else:
        paths[1].write_bytes(data[:-100] if change == "truncated" else data)
        os.utime(paths[1], ns=(stamp + 10**9, stamp + 10**9))  # a later modification time, whatever the clock's resolution
    with pytest.raises(InputError) as info:
        load_volume(group)
    assert info.value.field == "PixelData" and "changed" in str(info.value) and paths[1].name in info.value.path


def test_compressed_pixels_are_read_again_through_pydicom(tmp_path):
    """An encapsulated (compressed) Pixel Data element has no length to read in place: the file is read again."""
    import shutil

    from pydicom.data import get_testdata_file

    from qa.dicom import files, pixels

    shutil.copy(get_testdata_file("MR_small_RLE.dcm"), tmp_path / "rle.dcm")
    ds = files._read_file(str(tmp_path / "rle.dcm"), "rle.dcm", headers_only=True)
    assert ds.qa_pixels_at is None and not pixels.readable_in_place(ds)
    native = files._read_file(str(get_testdata_file("MR_small.dcm")), "mr.dcm", headers_only=True)
    assert native.qa_pixels_at is not None and pixels.readable_in_place(native)


def test_a_pixel_data_element_with_a_short_vr_is_read_by_its_2_byte_length_and_parsed_again(tmp_path):
    """A malformed file writing Pixel Data with a short explicit VR ('US', a 2-byte length): its length is
    read as pydicom reads it (no false 'truncated'), and its pixels are not read in place."""
    from qa.dicom import files, pixels

    (path,) = [Path(p) for p in write_ct_series(tmp_path, np.zeros((1, 8, 8)))]
    data = path.read_bytes()
    header = b"\xe0\x7f\x10\x00OW\x00\x00" + (128).to_bytes(4, "little")
    assert data.count(header) == 1
    path.write_bytes(data.replace(header, b"\xe0\x7f\x10\x00US" + (128).to_bytes(2, "little")))
    ds = files._read_file(str(path), path.name, headers_only=True)
    assert ds.qa_pixels_at is None and not pixels.readable_in_place(ds)
