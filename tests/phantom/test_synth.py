"""The synthetic phantom writer: valid files, the headers compliance needs, and truth that holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from qa.calcium.scoring import score_volume, scoring_settings
from qa.dicom.series import load_series
from qa.errors import InputError, UsageError
from qa.procedures import load_phantom
from qa.workflows.synth import SynthOptions, synthesize_phantom

COMPLIANCE_HEADERS = [
    "KVP", "XRayTubeCurrent", "Exposure", "ExposureTime", "SliceThickness", "ConvolutionKernel",
    "ReconstructionDiameter", "DataCollectionDiameter", "CTDIvol", "AcquisitionType",
    "SingleCollimationWidth", "TotalCollimationWidth", "RevolutionTime",
    "CardiacSynchronizationTechnique", "NominalPercentageOfCardiacPhase", "HeartRate", "TriggerTime",
    "AcquisitionTime", "AcquisitionDateTime", "Manufacturer", "ManufacturerModelName", "StationName",
    "DeviceSerialNumber", "PatientPosition", "ReconstructionAlgorithm",
]


def _lesions_near(score, center_mm, radius_mm=4.0, half_length_mm=4.0):
    return [
        lesion for lesion in score.lesions
        if np.hypot(lesion.centroid_mm[0] - center_mm[0], lesion.centroid_mm[1] - center_mm[1]) < radius_mm
        and abs(lesion.centroid_mm[2] - center_mm[2]) < half_length_mm
    ]


def test_writes_valid_ct_image_storage_with_the_acquisition_headers(small_phantom):
    ds = pydicom.dcmread(small_phantom.files[0])
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    missing = [k for k in COMPLIANCE_HEADERS if k not in ds]
    assert not missing
    assert ds.CardiacSynchronizationTechnique == "PROSPECTIVE"
    assert float(ds.NominalPercentageOfCardiacPhase) == 70.0
    assert ds.ImageType == ["ORIGINAL", "PRIMARY", "AXIAL"]


def test_stacks_have_their_own_acquisition_times(tmp_path):
    result = synthesize_phantom(tmp_path, SynthOptions(matrix=64, pixel_mm=4.0, noise_hu=0, z_start_mm=-40, z_end_mm=40))
    times = {}
    for f in result.files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        times.setdefault(int(ds.AcquisitionNumber), set()).add(ds.AcquisitionTime)
    assert len(times) == 3  # 81 mm of slices at 38.4 mm per rotation
    assert all(len(t) == 1 for t in times.values())
    assert len({next(iter(t)) for t in times.values()}) == 3


def test_the_same_options_give_the_same_series(tmp_path):
    opts = SynthOptions(matrix=64, pixel_mm=4.0, z_start_mm=-3, z_end_mm=3, seed=11)
    a = synthesize_phantom(tmp_path / "a", opts)
    b = synthesize_phantom(tmp_path / "b", opts)
    for fa, fb in zip(a.files, b.files):
        da, db = pydicom.dcmread(fa), pydicom.dcmread(fb)
        assert da.SOPInstanceUID == db.SOPInstanceUID
        assert da.PixelData == db.PixelData
    c = synthesize_phantom(tmp_path / "c", SynthOptions(matrix=64, pixel_mm=4.0, z_start_mm=-3, z_end_mm=3, seed=12))
    assert pydicom.dcmread(c.files[0]).PixelData != pydicom.dcmread(a.files[0]).PixelData


def test_refuses_to_write_over_an_existing_series(small_phantom):
    with pytest.raises(InputError, match="already holds a series") as info:
        synthesize_phantom(small_phantom.out_dir, SynthOptions())
    assert info.value.path == str(small_phantom.out_dir)


@pytest.mark.parametrize(
    "changes",
    [
        dict(rotation_deg=37.0, shift_mm=(15.0, -12.0)),
        dict(patient_position="FFS", table_z_mm=640.0, rotation_deg=-100.0),
        dict(pixel_mm=0.35, matrix=512, thickness_mm=0.5, increment_mm=0.5, z_start_mm=-6, z_end_mm=6),
        dict(pixel_mm=0.8, matrix=384, thickness_mm=3.0, increment_mm=1.5, vendor="siemens", ring=True),
    ],
)
def test_inserts_are_where_the_truth_says(tmp_path, changes):
    opts = SynthOptions(**{**dict(noise_hu=0.0, z_start_mm=-9.0, z_end_mm=9.0, pixel_mm=0.5), **changes})
    result = synthesize_phantom(tmp_path, opts)
    volume = load_series(tmp_path)
    score = score_volume(volume, scoring_settings())
    for insert in result.truth["calcifications"]:
        if insert["diameter_mm"] < 5:
            continue
        lesions = _lesions_near(score, insert["center_mm"])
        assert lesions, f"{insert['id']} not found at {insert['center_mm']}"
        area = sum(lesion.area_mm2 for lesion in lesions)
        centroid = sum(np.array(lesion.centroid_mm) * lesion.area_mm2 for lesion in lesions) / area
        assert centroid[:2] == pytest.approx(insert["center_mm"][:2], abs=0.3)
        assert centroid[2] == pytest.approx(insert["center_mm"][2], abs=opts.increment / 2 + 0.01)


def test_ffs_mirrors_the_phantom(tmp_path):
    hfs = synthesize_phantom(tmp_path / "hfs", SynthOptions(matrix=64, pixel_mm=4.0, z_start_mm=-3, z_end_mm=3))
    ffs = synthesize_phantom(tmp_path / "ffs", SynthOptions(matrix=64, pixel_mm=4.0, z_start_mm=-3, z_end_mm=3, patient_position="FFS"))
    a = {c["id"]: c["center_mm"] for c in hfs.truth["calcifications"]}
    b = {c["id"]: c["center_mm"] for c in ffs.truth["calcifications"]}
    for key in a:
        assert b[key][0] == pytest.approx(-a[key][0]) and b[key][1] == pytest.approx(a[key][1])
    assert pydicom.dcmread(ffs.files[0]).PatientPosition == "FFS"


def test_noise_has_the_requested_standard_deviation(tmp_path):
    synthesize_phantom(tmp_path, SynthOptions(noise_hu=25.0, z_start_mm=-30, z_end_mm=-24, matrix=256, pixel_mm=0.9))
    volume = load_series(tmp_path)
    # a uniform patch of the insert, away from the inserts and rods
    patch = volume.hu[:, 128 - 60 // 2: 128 - 20 // 2, 128 - 10: 128 + 10]
    assert patch.std() == pytest.approx(25.0, rel=0.1)
    assert patch.mean() == pytest.approx(50.0, abs=2.0)


def test_noise_free_scores_approach_the_physical_truth(tmp_path):
    result = synthesize_phantom(
        tmp_path, SynthOptions(noise_hu=0.0, pixel_mm=0.3, matrix=400, thickness_mm=0.5, z_start_mm=-5, z_end_mm=5, blur_fwhm_mm=0.4)
    )
    volume = load_series(tmp_path)
    truth = result.truth
    c_ha = truth["c_ha_true_mg_per_cm3_hu"]
    score = score_volume(volume, scoring_settings(), c_ha_mg_per_cm3_hu=c_ha)
    by_id = {c["id"]: c for c in truth["calcifications"]}
    for key in ("800_5mm", "400_5mm", "800_3mm", "200_5mm"):
        insert = by_id[key]
        mass = sum(lesion.mass_mg for lesion in _lesions_near(score, insert["center_mm"]))
        # the insert sits in 50 HU material: the mass includes a little of it
        assert mass == pytest.approx(insert["physical_mass_mg"], rel=0.12), key
        # thresholded half-way between the insert material and the calcification, the partial-volume
        # edges cancel and the volume is the physical one
        half = truth["insert_hu_true"] + (insert["hu_true"] - truth["insert_hu_true"]) / 2
        at_half = score_volume(volume, scoring_settings(threshold_hu=half, min_area_mm2=0.0))
        volume_mm3 = sum(lesion.volume_mm3 for lesion in _lesions_near(at_half, insert["center_mm"]))
        assert volume_mm3 == pytest.approx(insert["physical_volume_mm3"], rel=0.06), key


def test_truth_sidecar_records_geometry_and_physical_truth(small_phantom):
    truth = json.loads(Path(small_phantom.truth_path).read_text())
    phantom = load_phantom("qrm-cci")
    assert len(truth["calcifications"]) == 9 and len(truth["rods"]) == 2
    by_id = {c["id"]: c for c in truth["calcifications"]}
    assert by_id["800_5mm"]["physical_mass_mg"] == 78.5
    assert by_id["200_1mm"]["physical_volume_mm3"] == 0.79
    assert truth["phantom_sha256"] == phantom.sha256
    assert truth["c_ha_true_mg_per_cm3_hu"] == pytest.approx(1 / 1.4)
    assert truth["ha200_hu_true"] == pytest.approx(300.0)


def test_vendor_styles_change_the_headers(tmp_path):
    for vendor, manufacturer, intercept, rep in (("ge", "GE MEDICAL SYSTEMS", -1024, 1), ("canon", "TOSHIBA", 0, 1), ("siemens", "SIEMENS", -1024, 0)):
        result = synthesize_phantom(tmp_path / vendor, SynthOptions(vendor=vendor, matrix=32, pixel_mm=8, z_start_mm=0, z_end_mm=0))
        ds = pydicom.dcmread(result.files[0])
        assert (ds.Manufacturer, float(ds.RescaleIntercept), ds.PixelRepresentation) == (manufacturer, intercept, rep)


def test_invalid_options_are_refused(tmp_path):
    with pytest.raises(UsageError, match="vendor"):
        synthesize_phantom(tmp_path, SynthOptions(vendor="acme"))
    with pytest.raises(UsageError, match="thickness_mm"):
        synthesize_phantom(tmp_path, SynthOptions(thickness_mm=0))
