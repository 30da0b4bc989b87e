"""Series loading: finding, grouping, sorting, HU conversion, and the refusals."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from qa.dicom.series import load_series, load_volume, scan_inputs, select_series
from qa.dicom.write import write_ct_series
from qa.errors import InputError, UsageError


def _ramp_volume(n_slices=5, rows=12, cols=10):
    """A small volume whose every voxel is different, so sorting errors show."""
    k, i, j = np.meshgrid(np.arange(n_slices), np.arange(rows), np.arange(cols), indexing="ij")
    return (k * 100 + i * 10 + j - 500).astype(float)


# ---------------------------------------------------------------------------------- loading


def test_slices_are_sorted_by_position_along_the_normal_not_by_file_name(tmp_path):
    hu = _ramp_volume()
    # File names and instance numbers run against the positions.
    names = [f"IMG{n}.dcm" for n in (5, 4, 3, 2, 1)]
    write_ct_series(
        tmp_path, hu, increment_mm=2.0, file_names=names,
        per_slice_header=[{"InstanceNumber": 5 - k} for k in range(5)],
    )
    volume = load_series(tmp_path)
    assert volume.slice_positions_mm == (0.0, 2.0, 4.0, 6.0, 8.0)
    np.testing.assert_array_equal(volume.hu, hu.astype(np.float32))
    assert volume.slice_increment_mm == pytest.approx(2.0)
    assert volume.increment_source == "ImagePositionPatient"


def test_increment_comes_from_positions_not_spacing_between_slices(tmp_path):
    write_ct_series(tmp_path, _ramp_volume(), increment_mm=1.25, header={"SpacingBetweenSlices": "5"})
    assert load_series(tmp_path).slice_increment_mm == pytest.approx(1.25)


def test_sorting_follows_the_normal_for_flipped_orientation(tmp_path):
    # Row direction -x (normal -z): ascending position along the normal is descending z.
    hu = _ramp_volume()
    positions = [(0.0, 0.0, 10.0 - 3.0 * k) for k in range(5)]
    write_ct_series(tmp_path, hu, positions_mm=positions, orientation=(-1, 0, 0, 0, 1, 0))
    volume = load_series(tmp_path)
    assert [p[2] for p in volume.image_positions_mm] == [10.0, 7.0, 4.0, 1.0, -2.0]
    np.testing.assert_array_equal(volume.hu, hu.astype(np.float32))
    assert volume.slice_increment_mm == pytest.approx(3.0)


@pytest.mark.parametrize(
    "style", ["unsigned-1024", "unsigned12-1024", "signed-0", "signed-1024", "unsigned-slope0.5", "signed-slope2"]
)
def test_hu_is_stored_value_times_slope_plus_intercept_for_every_pixel_style(tmp_path, style):
    hu = np.array([[[-1000.0, -500.0, 0.0, 130.0], [200.0, 400.0, 1000.0, 2000.0]]] * 3)
    write_ct_series(tmp_path, hu, pixel_style=style)
    volume = load_series(tmp_path)
    # the smallest exact type: int16 for a whole slope and intercept (the usual CT case), else float32
    assert volume.hu.dtype == (np.float32 if style == "unsigned-slope0.5" else np.int16)
    np.testing.assert_array_equal(volume.hu, hu.astype(np.float32))
    # and the raw files really use that encoding
    ds = pydicom.dcmread(next(tmp_path.glob("*.dcm")))
    from qa.dicom.write import PIXEL_STYLES

    rep, bits, intercept, slope = PIXEL_STYLES[style]
    assert (ds.PixelRepresentation, ds.BitsStored, float(ds.RescaleIntercept), float(ds.RescaleSlope)) == (
        rep, bits, intercept, slope,
    )


def test_ct_numbers_beyond_int16_are_kept_exactly_as_float32(tmp_path):
    # the extended CT scale's top (30710 HU) and beyond: possible, but not int16 after the intercept
    hu = np.array([[[-1024.0, 0.0], [32767.0, 40000.0]]] * 2)
    write_ct_series(tmp_path, hu, pixel_style="unsigned-1024")
    volume = load_series(tmp_path)
    assert volume.hu.dtype == np.float32
    np.testing.assert_array_equal(volume.hu, hu.astype(np.float32))


def test_an_int16_volume_scores_and_reads_as_its_float32_twin(tmp_path):
    """int16 storage changes no number: the score of the volume equals that of its float32 copy."""
    from dataclasses import replace

    from qa.calcium.scoring import score_volume, scoring_settings

    rng = np.random.default_rng(7)
    hu = np.rint(rng.normal(40.0, 60.0, (4, 32, 32)))
    hu[1:3, 10:16, 12:20] = rng.uniform(120.0, 700.0, (2, 6, 8)).round()
    hu[1:3, 11:13, 12:20] = 130.0  # exactly at the threshold: the float32 comparison decides
    write_ct_series(tmp_path, hu, pixel_style="signed-1024")
    volume = load_series(tmp_path)
    assert volume.hu.dtype == np.int16
    twin = replace(volume, hu=volume.hu.astype(np.float32))
    for settings in (scoring_settings("standard"), scoring_settings("standard", threshold_hu=130.000004),
                     scoring_settings("standard", volume_method="isotropic")):
        assert score_volume(volume, settings, c_ha_mg_per_cm3_hu=0.8) == score_volume(twin, settings, c_ha_mg_per_cm3_hu=0.8)


@pytest.mark.parametrize("style", ["unsigned-1024", "unsigned12-1024", "signed-1024"])
def test_fast_native_path_equals_pydicom_decoding(tmp_path, style):
    from pydicom.pixels import pixel_array

    from qa.dicom import pixels

    rng = np.random.default_rng(1)
    write_ct_series(tmp_path, rng.uniform(-1024, 3000, (2, 16, 16)), pixel_style=style)
    for path in sorted(tmp_path.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        if style == "unsigned12-1024":  # garbage in the unused high bits must be ignored
            raw = np.frombuffer(ds.PixelData, "<u2") | 0xF000
            ds.PixelData = raw.astype("<u2").tobytes()
        fast = pixels.native_pixels(ds, str(path), 1)
        assert fast is not None
        np.testing.assert_array_equal(fast, pixel_array(ds, correct_unused_bits=True))


def test_real_canon_native_pixels_equal_pydicom(canon_phantom_dir):
    from qa.dicom import pixels

    for path in sorted(canon_phantom_dir.iterdir())[:5]:
        ds = pydicom.dcmread(path)
        np.testing.assert_array_equal(pixels.native_pixels(ds, str(path), 1), ds.pixel_array)


def test_slope_and_intercept_may_differ_per_slice(tmp_path):
    hu = np.stack([np.full((4, 4), v) for v in (100.0, 200.0, 300.0)])
    paths = write_ct_series(tmp_path, hu)
    # Re-encode slice 1 with its own slope/intercept (stored values change, HU must not).
    ds = pydicom.dcmread(paths[1])
    stored = ((200.0 - (-100.0)) / 0.25) * np.ones((4, 4))
    ds.RescaleSlope, ds.RescaleIntercept = "0.25", "-100"
    ds.PixelData = stored.astype(np.uint16).tobytes()
    ds.save_as(paths[1])
    volume = load_series(tmp_path)
    np.testing.assert_array_equal(volume.hu[:, 0, 0], [100.0, 200.0, 300.0])


def test_the_volume_record_is_read_only_and_carries_provenance(small_phantom):
    volume = load_series(small_phantom.out_dir)
    with pytest.raises(ValueError):
        volume.hu[0, 0, 0] = 1.0
    truth = small_phantom.truth
    assert volume.n_slices == truth["n_slices"]
    assert len(set(volume.sop_instance_uids)) == volume.n_slices
    assert all(Path(f).exists() for f in volume.source_files)
    assert volume.info.series_instance_uid == truth["series_instance_uid"]
    assert volume.info.kvp == 120.0
    assert volume.pixel_spacing_mm == (0.9, 0.9)
    np.testing.assert_allclose([p[2] for p in volume.image_positions_mm], sorted(truth["slice_z_mm"]))


def test_localizers_are_left_out_and_counted(small_phantom):
    scan = scan_inputs(small_phantom.out_dir)
    assert len(scan.series) == 1
    assert scan.n_localizers == 1
    assert scan.n_non_dicom == 1  # truth.json
    assert "1 localizer" in scan.summary()


def test_each_header_is_read_once_and_each_pixel_array_decoded_once(small_phantom, monkeypatch):
    """Spy (not replace) on pydicom's reader and on qa's pixel decoding."""
    from qa.dicom import pixels

    import pydicom.filereader

    reads, decodes = [], []
    real_read, real_pixels = pydicom.filereader.read_partial, pixels.pixels

    def spy_read(f, *a, **k):
        ds = real_read(f, *a, **k)
        reads.append(ds.SOPInstanceUID)
        return ds

    monkeypatch.setattr(pydicom.filereader, "read_partial", spy_read)
    monkeypatch.setattr(pydicom, "dcmread", lambda *a, **k: pytest.fail("headers are read through read_partial, once"))
    monkeypatch.setattr(pixels, "pixels", lambda ds, *a: decodes.append(ds.SOPInstanceUID) or real_pixels(ds, *a))
    volume = load_series(small_phantom.out_dir)
    assert len(reads) == len(set(reads)) == volume.n_slices + 1  # + the localizer; truth.json is sniffed only
    assert set(volume.sop_instance_uids) <= set(reads)
    assert len(decodes) == len(set(decodes)) == volume.n_slices


def test_zip_and_file_list_inputs_give_the_same_volume(small_phantom, tmp_path):
    folder = load_series(small_phantom.out_dir)
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in Path(small_phantom.out_dir).iterdir():
            zf.write(f, arcname=f"exam/{f.name}")
    zipped = load_series(archive)
    listed = load_series(list(small_phantom.files))
    for other in (zipped, listed):
        np.testing.assert_array_equal(other.hu, folder.hu)
        assert other.sop_instance_uids == folder.sop_instance_uids
    assert zipped.source_files[0].startswith(f"{archive}!exam/")


def test_folders_are_searched_recursively_and_non_dicom_files_counted(tmp_path):
    write_ct_series(tmp_path / "a" / "b", _ramp_volume())
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "a" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    scan = scan_inputs(tmp_path)
    assert (len(scan.series), scan.n_non_dicom, scan.n_files) == (1, 2, 7)
    assert load_volume(select_series(scan)).n_slices == 5


def test_enhanced_ct_is_read_through_its_functional_groups(ct_dir):
    path = ct_dir / "pydicom-data-eCT_Supplemental.dcm"
    volume = load_series(path)
    assert volume.n_slices == 2
    assert volume.shape == (2, 512, 512)
    assert volume.slice_increment_mm == pytest.approx(10.0)
    assert volume.pixel_spacing_mm == pytest.approx((0.388672, 0.388672))
    assert volume.orientation == (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    # frames sorted along the normal (-z): the frame at z = -149 comes first
    assert [p[2] for p in volume.image_positions_mm] == [-149.0, -159.0]
    assert volume.slice_thickness_mm == 10.0
    # the frames are an rCBF perfusion map: values are not HU, and say so
    assert volume.value_unit == "US"
    ds = pydicom.dcmread(path)
    frame_for_first = [i for i, f in enumerate(ds.PerFrameFunctionalGroupsSequence)
                       if float(f.PlanePositionSequence[0].ImagePositionPatient[2]) == -149.0][0]
    np.testing.assert_array_equal(volume.hu[0], ds.pixel_array[frame_for_first].astype(np.float32) - 1024.0)


def test_real_canon_derived_mpr_series_loads_sorted(canon_phantom_dir):
    volume = load_series(canon_phantom_dir)
    assert volume.shape == (47, 512, 512)
    assert volume.slice_increment_mm == pytest.approx(3.0)
    assert volume.slice_thickness_mm == 3.0
    assert volume.pixel_spacing_mm == (0.488, 0.488)
    z = [p[2] for p in volume.image_positions_mm]
    assert z == sorted(z) and z[0] == pytest.approx(534.875) and z[-1] == pytest.approx(672.875)
    assert volume.info.manufacturer == "TOSHIBA" and volume.info.kvp == 120.0
    # the HA-200 calibration rod at the insert centre reads ~300 HU in its slab
    k = int(np.argmin(np.abs(np.array(z) - 630.875)))
    rod = volume.hu[k, 212:222, 250:260]
    assert 250 < rod.mean() < 350


def test_real_ge_smartscore_files_with_their_scouts(ct_dir):
    files = sorted(ct_dir.glob("pydicom-dicomdirtests-98892001-*.dcm"))
    scan = scan_inputs(files)
    assert scan.n_localizers == 2
    assert len(scan.series) == 1
    volume = load_volume(select_series(scan))
    assert volume.n_slices == 5
    assert volume.slice_increment_mm == pytest.approx(2.5)
    assert volume.info.series_description == "SmartScore - Gated 0.5 sec"


@pytest.mark.parametrize("name, shape", [("pydicom-data-693_J2KR.dcm", (1, 512, 512)), ("WG04-CT2_RLE.dcm", (1, 512, 512))])
def test_compressed_transfer_syntaxes_decode(ct_dir, name, shape):
    volume = load_series(ct_dir / name)
    assert volume.shape == shape
    assert "single slice" in volume.increment_source
    ds = pydicom.dcmread(ct_dir / name)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(volume.hu[0], expected.astype(np.float32))
    assert -1100 < float(np.median(volume.hu)) < 3000


def test_series_uid_picks_one_of_several(tmp_path):
    write_ct_series(tmp_path / "one", _ramp_volume(), series_description="first")
    write_ct_series(tmp_path / "two", _ramp_volume(n_slices=3), series_description="second", series_number=4)
    scan = scan_inputs(tmp_path)
    second = [g for g in scan.series if g.info.series_description == "second"][0]
    volume = load_volume(select_series(scan, second.info.series_instance_uid))
    assert volume.n_slices == 3


# ---------------------------------------------------------------------------------- refusals


def _refusal(inputs, **kw) -> InputError:
    with pytest.raises(InputError) as info:
        load_series(inputs, **kw)
    return info.value


def test_refuses_an_empty_folder(tmp_path):
    err = _refusal(tmp_path)
    assert "no files found" in str(err) and str(tmp_path) in str(err)


def test_refuses_a_folder_without_dicom(tmp_path):
    (tmp_path / "a.txt").write_text("not dicom")
    (tmp_path / "b.bin").write_bytes(bytes(1000))
    err = _refusal(tmp_path)
    assert "no CT image series" in str(err) and "2 non-DICOM" in str(err)
    assert "DICM" in err.hint


def test_refuses_a_missing_path(tmp_path):
    err = _refusal(tmp_path / "nowhere")
    assert "no such file" in str(err)


def test_refuses_a_non_ct_modality(tmp_path):
    write_ct_series(tmp_path, _ramp_volume(), header={"Modality": "MR", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.4"})
    err = _refusal(tmp_path)
    assert err.field == "Modality" and "MR" in str(err) and "IMG0001.dcm" in str(err)


def test_refuses_only_localizers(ct_dir):
    err = _refusal(sorted(ct_dir.glob("*CT2N*.dcm")))
    assert "2 localizer" in str(err)


def test_refuses_several_series_and_lists_them(tmp_path):
    write_ct_series(tmp_path / "one", _ramp_volume(), series_description="CaSc 3.0")
    write_ct_series(tmp_path / "two", _ramp_volume(n_slices=3), series_description="CaSc 1.5", series_number=4)
    err = _refusal(tmp_path)
    text = str(err)
    assert "2 image series found" in text
    assert "'CaSc 3.0'" in text and "5 images" in text
    assert "'CaSc 1.5'" in text and "3 images" in text
    assert "--series-uid" in err.hint


def test_refuses_an_unknown_series_uid(tmp_path):
    write_ct_series(tmp_path, _ramp_volume())
    err = _refusal(tmp_path, series_uid="1.2.3.4")
    assert "no image series with UID 1.2.3.4" in str(err)


def test_refuses_gantry_tilt_from_the_tilt_attribute(tmp_path):
    write_ct_series(tmp_path, _ramp_volume(), header={"GantryDetectorTilt": "15"})
    err = _refusal(tmp_path)
    assert err.field == "GantryDetectorTilt" and "15" in str(err)


def test_refuses_gantry_tilt_from_the_orientation(tmp_path):
    t = np.radians(12)
    write_ct_series(
        tmp_path, _ramp_volume(), orientation=(1, 0, 0, 0, np.cos(t), np.sin(t)),
        positions_mm=[(0, -3 * k * np.sin(t), 3 * k * np.cos(t)) for k in range(5)],
        header={"GantryDetectorTilt": None},
    )
    err = _refusal(tmp_path)
    assert err.field == "ImageOrientationPatient" and "12.0 degrees" in str(err)


def test_refuses_gantry_tilt_hidden_in_drifting_positions(tmp_path):
    # axial direction cosines, but each slice origin steps 0.6 mm in y: an 11 degree tilt
    write_ct_series(tmp_path, _ramp_volume(), positions_mm=[(0, 0.6 * k, 3.0 * k) for k in range(5)],
                    header={"GantryDetectorTilt": None})
    err = _refusal(tmp_path)
    assert "gantry tilt" in str(err) and err.field == "ImagePositionPatient"


def test_refuses_a_sagittal_series(tmp_path):
    write_ct_series(tmp_path, _ramp_volume(), orientation=(0, 1, 0, 0, 0, -1),
                    positions_mm=[(3.0 * k, 0, 0) for k in range(5)])
    err = _refusal(tmp_path)
    assert "not axial" in str(err) and "90.0 degrees" in str(err)


def test_refuses_mixed_orientations(tmp_path):
    write_ct_series(tmp_path, _ramp_volume(), per_slice_header=[None, None, {"ImageOrientationPatient": [0, 1, 0, 0, 0, -1]}, None, None])
    err = _refusal(tmp_path)
    assert "mixes orientations" in str(err) and "IMG0003.dcm" in str(err)


def test_refuses_a_missing_slice_and_names_the_gap(tmp_path):
    paths = write_ct_series(tmp_path, _ramp_volume(n_slices=8), increment_mm=2.5)
    Path(paths[4]).unlink()
    err = _refusal(tmp_path)
    text = str(err)
    assert "missing slice" in text and "5.00 mm" in text and "7.50 and 12.50" in text
    assert "IMG0004.dcm" in text and "IMG0006.dcm" in text


def test_refuses_duplicate_positions(tmp_path):
    paths = write_ct_series(tmp_path, _ramp_volume())
    ds = pydicom.dcmread(paths[2])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5.6"
    ds.save_as(tmp_path / "copy.dcm")
    err = _refusal(tmp_path)
    assert "duplicate slice position" in str(err)
    assert "IMG0003.dcm" in str(err) and "copy.dcm" in str(err)


def test_refuses_the_same_image_twice_in_two_files(tmp_path):
    paths = write_ct_series(tmp_path, _ramp_volume())
    shutil.copy(paths[1], tmp_path / "again.dcm")
    err = _refusal(tmp_path)
    assert "the same SOP Instance UID" in str(err)


def test_refuses_irregular_spacing(tmp_path):
    write_ct_series(tmp_path, _ramp_volume(), positions_mm=[(0, 0, z) for z in (0, 3, 6, 8, 11)])
    err = _refusal(tmp_path)
    assert "irregular slice spacing" in str(err)


@pytest.mark.parametrize(
    "override, field",
    [
        ({"Rows": 11, "PixelData": np.zeros((11, 10), np.uint16).tobytes()}, "Rows/Columns"),
        ({"PixelSpacing": ["0.8", "0.8"]}, "PixelSpacing"),
    ],
)
def test_refuses_inconsistent_matrix_or_pixel_spacing(tmp_path, override, field):
    per_slice = [None] * 5
    per_slice[3] = override
    write_ct_series(tmp_path, _ramp_volume(), per_slice_header=per_slice)
    err = _refusal(tmp_path)
    assert err.field == field and "IMG0004.dcm" in str(err)


@pytest.mark.parametrize("fraction", [0.02, 0.2, 0.5, 0.9, 0.999])
def test_refuses_a_truncated_file(tmp_path, fraction):
    paths = write_ct_series(tmp_path, np.zeros((4, 64, 64)))
    data = Path(paths[2]).read_bytes()
    Path(paths[2]).write_bytes(data[: int(len(data) * fraction)])
    err = _refusal(tmp_path)
    assert "IMG0003.dcm" in str(err)
    assert "truncated" in str(err) or "corrupt" in str(err) or "missing" in str(err)


def test_refuses_garbage_after_the_dicom_marker(tmp_path):
    paths = write_ct_series(tmp_path, np.zeros((3, 8, 8)))
    Path(paths[1]).write_bytes(bytes(128) + b"DICM" + bytes(range(256)) * 4)
    err = _refusal(tmp_path)
    assert "IMG0002.dcm" in str(err)


def test_refuses_a_transfer_syntax_it_cannot_decode(tmp_path):
    from pydicom.encaps import encapsulate

    paths = write_ct_series(tmp_path, np.zeros((3, 8, 8)))
    ds = pydicom.dcmread(paths[1])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264: no decoder here
    ds.PixelData = encapsulate([b"\x00\x00\x00\x01" + bytes(60)])
    ds["PixelData"].VR = "OB"
    ds.save_as(paths[1], enforce_file_format=True)
    err = _refusal(tmp_path)
    assert err.field == "TransferSyntaxUID" and "IMG0002.dcm" in str(err)
    assert "MPEG-4" in str(err) or "1.2.840.10008.1.2.4.102" in str(err)
    assert "uncompressed" in err.hint


def test_refuses_missing_rescale(tmp_path):
    write_ct_series(tmp_path, _ramp_volume(), per_slice_header=[None, {"RescaleIntercept": None}, None, None, None])
    err = _refusal(tmp_path)
    assert err.field == "RescaleIntercept" and "IMG0002.dcm" in str(err)


def test_refuses_a_non_numeric_position(tmp_path):
    paths = write_ct_series(tmp_path, _ramp_volume())
    raw = Path(paths[0]).read_bytes()
    good = b"0.0000\\0.0000\\0.0000"
    assert raw.count(good) == 1
    Path(paths[0]).write_bytes(raw.replace(good, b"0.0000\\abcdef\\0.0000"))
    err = _refusal(tmp_path)
    assert err.field == "ImagePositionPatient" and "IMG0001.dcm" in str(err) and "abcdef" in str(err)


def test_no_input_is_a_usage_error():
    with pytest.raises(UsageError):
        load_series([])


def test_synthetic_phantom_truth_sidecar_is_not_mistaken_for_dicom(small_phantom):
    truth = json.loads(Path(small_phantom.truth_path).read_text())
    assert truth["schema"] == "qa.synth-phantom/1"
    assert scan_inputs(small_phantom.out_dir).n_non_dicom == 1


def test_an_enhanced_ct_in_hu_scores_like_the_same_classic_series(tmp_path):
    from qa.calcium.scoring import score_volume, scoring_settings
    from qa.dicom.write_enhanced import write_enhanced_ct

    rng = np.random.default_rng(5)
    hu = rng.normal(40, 20, (6, 32, 32))
    hu[2:4, 10:14, 10:15] = 450.0
    hu[3, 20:22, 5:9] = 250.0
    write_ct_series(tmp_path / "classic", hu, pixel_mm=0.5, increment_mm=2.5, positions_mm=[(0, 0, 2.5 * k) for k in range(6)])
    enhanced = write_enhanced_ct(tmp_path / "enhanced.dcm", hu, pixel_mm=0.5, increment_mm=2.5, frame_order=[3, 0, 5, 1, 4, 2])
    classic_volume = load_series(tmp_path / "classic")
    enhanced_volume = load_series(enhanced)
    np.testing.assert_array_equal(enhanced_volume.hu, classic_volume.hu)
    assert enhanced_volume.value_unit == "HU" and enhanced_volume.info.kvp == 120.0
    assert enhanced_volume.slice_increment_mm == pytest.approx(2.5)
    a = score_volume(classic_volume, scoring_settings())
    b = score_volume(enhanced_volume, scoring_settings())
    assert a.agatston == b.agatston > 0 and a.volume_mm3 == b.volume_mm3 and a.n_lesions == b.n_lesions


def test_localizer_frames_of_an_enhanced_ct_are_left_out(tmp_path):
    from qa.dicom.write_enhanced import write_enhanced_ct

    hu = np.zeros((4, 8, 8))
    path = write_enhanced_ct(tmp_path / "e.dcm", hu, localizer_frames=(0,))
    scan = scan_inputs(path)
    assert scan.n_localizers == 1 and scan.series[0].info.n_images == 3


def test_a_series_facts_come_from_its_first_instance_whatever_the_files_are_called(tmp_path):
    """A receiver's inbox names files by SOP Instance UID (and scanners' names need not follow the
    instance order either): the series facts (acquisition time, exposure) come from instance 1, the
    same as when the files are named in order, and the images are listed in instance order."""
    import numpy as np

    from qa.dicom.write import write_ct_series

    per_slice = [{"AcquisitionDateTime": f"20260302073{105 + k}", "Exposure": 80 + 10 * k}
                 for k in range(6)]
    hu = np.zeros((6, 16, 16))
    in_order = write_ct_series(tmp_path / "in-order", hu, per_slice_header=per_slice)
    shuffled_names = [f"{name}.dcm" for name in ("9.1", "2.7", "5.5", "1.3", "7.2", "3.9")]  # no order of the slices
    shuffled = write_ct_series(tmp_path / "inbox", hu, per_slice_header=per_slice, file_names=shuffled_names, seed=0)
    a = scan_inputs(tmp_path / "in-order", headers_only=True).series[0]
    b = scan_inputs(tmp_path / "inbox", headers_only=True).series[0]
    assert b.info.first_file == shuffled[0] and a.info.first_file == in_order[0]  # instance 1's file
    assert b.info.exposure_mas == a.info.exposure_mas == 80
    assert b.info.acquisition_datetime == a.info.acquisition_datetime and "07:31:05" in str(b.info.acquisition_datetime)
    assert [img.sop_instance_uid for img in b.images] == [str(pydicom.dcmread(f).SOPInstanceUID) for f in shuffled]
    assert [b.datasets[img.dataset_index].InstanceNumber for img in b.images] == [1, 2, 3, 4, 5, 6]
