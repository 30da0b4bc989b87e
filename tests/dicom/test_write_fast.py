"""The fast encoders write exactly the bytes pydicom writes (qa.dicom.write_fast), for CT image
series with vendor private tags and Latin-1 names, and for complete CT dose reports."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pydicom
import pytest

from qa.dicom.write import CtHeader, Uids, ct_image, encode_hu
from qa.dicom.write_fast import SeriesEncoder, encode_tree, encode_value
from qa.dicom.write_rdsr import DoseReportHeader, SyntheticEvent, dose_report_bytes, dose_report_dataset
from qa.dicom.write_vendor import CARDIAC_STYLES, heart_rate_as_read, write_cardiac_tags

VARYING = ("SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation", "ReconstructionTargetCenterPatient",
           "AcquisitionNumber", "AcquisitionTime", "AcquisitionDateTime", "ContentTime", "TablePosition", "PatientName")


def pydicom_bytes(ds) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _image(k: int, style: str, name: str):
    header = CtHeader(vendor="ge", pixel_mm=(7.8, 7.8), fov_mm=250.0, patient_name=name)
    start = dt.datetime(2026, 2, 3, 9, 0)
    ds = ct_image(header, Uids("fast"), k, encode_hu(np.full((32, 32), float(k)), header.style), (0.0, 0.0, -3.0 * k),
                  study_start=start, acquisition_time=start + dt.timedelta(seconds=k // 10), stack=k // 10, table_position_mm=-20.0 * k)
    write_cardiac_tags(ds, style, heart_rate_bpm=72.0, phase_pct=70.0)
    return ds


@pytest.mark.parametrize("style", CARDIAC_STYLES)
def test_a_series_encoded_fast_is_byte_for_byte_what_pydicom_writes(style):
    template = _image(0, style, "MÜLLER^JOSÉ")
    encoder = SeriesEncoder(template, VARYING)
    for k in (0, 7, 23, 40):
        ds = _image(k, style, "MÜLLER^JOSÉ" if k % 2 else "ÅSTRÖM^ÉLISE")
        ds.PixelData = template.PixelData  # the template's pixels: constant over the series
        fast = encoder.encode({keyword: ds[keyword].value for keyword in VARYING})
        assert fast == pydicom_bytes(ds), (style, k)
    assert str(pydicom.dcmread(io.BytesIO(fast)).PatientName) == "ÅSTRÖM^ÉLISE"


def test_the_encoder_refuses_what_it_was_not_told_to_vary_and_leaves_the_template_alone():
    template = _image(0, "standard", "DOE^JANE")
    before = pydicom_bytes(template)
    encoder = SeriesEncoder(template, ("SOPInstanceUID",))
    with pytest.raises(KeyError, match="InstanceNumber"):
        encoder.encode({"InstanceNumber": 2})
    assert pydicom_bytes(template) == before


def test_values_are_padded_as_the_standard_says_and_no_number_is_formatted_by_guess():
    assert encode_value("UI", "1.2.3") == b"1.2.3\x00" and encode_value("CS", "ABC") == b"ABC "
    assert encode_value("DS", ["1.5", "-20"]) == b"1.5\\-20 " and encode_value("IS", 12) == b"12"
    assert encode_value("FD", [1.0, 2.0]) == np.array([1.0, 2.0], "<f8").tobytes()
    with pytest.raises(TypeError):
        encode_value("DS", 0.1)  # a float has no one text form: the caller says which
    with pytest.raises(KeyError):
        encode_tree({"NoSuchKeyword": "x"})


def test_a_complete_dose_report_encoded_fast_is_what_pydicom_writes_and_reads_back():
    events = [SyntheticEvent(acquisition_type="constant_angle", ctdivol_mgy=0.12, dlp_mgycm=3.6, protocol="Topogram", target_region="heart",
                             single_collimation_mm=0.6, max_tube_current_ma=35.0, modulation="NONE"),
              SyntheticEvent(target_region="heart", region_scheme="SRT", single_collimation_mm=0.6, exposure_time_per_rotation_s=0.28,
                             ctdivol_alert_mgy=1000.0, ctdivol_notification_mgy=25.0, dlp_notification_mgycm=500.0,
                             start_datetime="20260203090100", modulation="Z_EC", irradiation_event_uid="1.2.3.4"),
              SyntheticEvent(acquisition_type="spiral", pitch=0.22, protocol="CaScore retro")]
    header = DoseReportHeader(irradiation_start="20260203090000", irradiation_end="20260203090500", operators_name="NÚÑEZ^ANA",
                              accession_number="A1", patient_sex="F", institution_name="Hôpital", study_description="Calcium score",
                              serial=None)
    fast = dose_report_bytes(events, header, key="k", dlp_total_mgycm=123.6)
    assert fast == pydicom_bytes(dose_report_dataset(events, header, key="k", dlp_total_mgycm=123.6))
    ds = pydicom.dcmread(io.BytesIO(fast))
    assert str(ds.OperatorsName) == "NÚÑEZ^ANA" and "DeviceSerialNumber" not in ds


def test_the_heart_rate_read_back_is_what_each_vendor_style_stores():
    assert heart_rate_as_read("standard", 72.4) == 72.0 and heart_rate_as_read("ge", 71.0) == 71.0
    assert heart_rate_as_read("canon", 70.0) == pytest.approx(60000.0 / 857.1)  # an RR interval of 857.1 ms: just above 70 bpm
