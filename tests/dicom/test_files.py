"""Finding files: bare datasets without a preamble, zip members, zip bombs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from qa.dicom.series import load_series, scan_inputs
from qa.dicom.write import write_ct_series
from qa.errors import InputError


def _ramp(n=5):
    return np.arange(n * 8 * 8, dtype=float).reshape(n, 8, 8)


def test_a_dataset_without_preamble_is_read_not_dropped(tmp_path):
    paths = write_ct_series(tmp_path, _ramp(6))
    ds = pydicom.dcmread(paths[0])
    del ds.file_meta
    ds.preamble = None
    ds.save_as(paths[0], enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert Path(paths[0]).read_bytes()[128:132] != b"DICM"
    volume = load_series(tmp_path)
    assert volume.n_slices == 6
    np.testing.assert_array_equal(volume.hu, _ramp(6).astype(np.float32))


def test_zip_members_are_read_lazily_from_a_private_copy(tmp_path):
    hu = np.zeros((5, 128, 128))  # 32 kB of pixel data per slice: deferred
    write_ct_series(tmp_path / "s", hu)
    archive = tmp_path / "exam.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((tmp_path / "s").iterdir()):
            zf.write(f, arcname=f"../../evil/{f.name}")  # hostile member names are never used as paths
        zf.writestr("readme.txt", "not dicom")
    scan = scan_inputs(archive)
    assert scan.n_non_dicom == 1 and len(scan.series) == 1
    group = scan.series[0]
    assert all(ds.get_item(0x7FE00010, keep_deferred=True).value is None for ds in group.datasets)  # deferred
    assert not (tmp_path / "evil").exists()
    volume = load_series(archive)
    np.testing.assert_array_equal(volume.hu, hu.astype(np.float32))
    assert volume.source_files[0].startswith(f"{archive}!../../evil/")


def test_a_zip_bomb_is_refused_before_it_is_expanded(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.dcm", bytes(80 * 1024**2))
    with pytest.raises(InputError, match="zip bomb"):
        scan_inputs(archive)


def _with_long_private_block(path: Path, n_bytes: int) -> None:
    ds = pydicom.dcmread(path)
    ds.add_new(0x00091010, "LO", "QA TEST")  # a private block before the pixel data, longer than the first read
    ds.add_new(0x00091100, "OB", bytes(range(256)) * (n_bytes // 256))
    ds.save_as(path, enforce_file_format=True)


def test_a_header_longer_than_the_first_read_is_read_whole(tmp_path):
    from qa.dicom.files import _FIRST_READ_BYTES

    hu = np.arange(3 * 256 * 256, dtype=float).reshape(3, 256, 256) % 1000  # 128 kB of pixels per slice
    paths = write_ct_series(tmp_path, hu)
    for p in paths:
        _with_long_private_block(Path(p), 2 * _FIRST_READ_BYTES)
    scan = scan_inputs(tmp_path, headers_only=True)
    (group,) = scan.series
    assert len(group.datasets) == 3 and not any(ds.qa_pixels_absent for ds in group.datasets)
    expected = pydicom.dcmread(paths[0], stop_before_pixels=True)
    # the fields after the long private block were read (the block itself is not kept: qa.dicom.header_fields)
    for keyword in ("ImagePositionPatient", "RescaleSlope", "RescaleIntercept", "Rows"):
        assert group.datasets[0][keyword].value == expected[keyword].value
    whole = scan_inputs(tmp_path).series[0].datasets[0]
    assert whole[0x00091100].value == expected[0x00091100].value
    np.testing.assert_array_equal(load_series(tmp_path).hu, hu.astype(np.float32))


def test_an_image_cut_inside_a_header_longer_than_the_first_read_is_refused(tmp_path):
    from qa.dicom.files import _FIRST_READ_BYTES

    paths = write_ct_series(tmp_path, np.zeros((3, 64, 64)))
    _with_long_private_block(Path(paths[1]), 2 * _FIRST_READ_BYTES)
    data = Path(paths[1]).read_bytes()
    Path(paths[1]).write_bytes(data[: _FIRST_READ_BYTES + 1000])  # cut inside the private block, past the first read
    with pytest.raises(InputError) as refused:
        scan_inputs(tmp_path, headers_only=True)
    assert "IMG0002.dcm" in str(refused.value.path) and "truncated" in refused.value.message


def test_an_implicit_vr_series_reads_the_same_headers_as_its_explicit_vr_copy(tmp_path):
    from pydicom.uid import ImplicitVRLittleEndian

    from qa.dicom.headers import read_headers
    from qa.dicom.series import select_series

    paths = write_ct_series(tmp_path / "explicit", _ramp(4), header={"KVP": "100", "CTDIvol": 3.5, "HeartRate": "61"})
    (tmp_path / "implicit").mkdir()
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(tmp_path / "implicit" / Path(p).name, enforce_file_format=True)
    explicit, implicit = (read_headers(select_series(scan_inputs(tmp_path / name, headers_only=True)))
                          for name in ("explicit", "implicit"))
    assert implicit.kvp == explicit.kvp == 100 and implicit.ctdivol_mgy == explicit.ctdivol_mgy == 3.5
    assert implicit.to_dict() == explicit.to_dict()
