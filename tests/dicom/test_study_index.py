"""The ingest's first pass: which study each file belongs to, read from raw bytes, always as pydicom reads it."""

from __future__ import annotations

import numpy as np
import pytest

from qa.dicom import attributes as attr
from qa.dicom.files import Source, peek
from qa.dicom.study_index import STUDY_INSTANCE_UID_TAG, _quick_index, index_source
from qa.records.identity import Pseudonymiser


def _by_pydicom(path) -> tuple:
    ds = peek(Source(str(path), str(path)), STUDY_INSTANCE_UID_TAG)
    return (attr.raw_text(ds, "SOPClassUID"), attr.raw_text(ds, "SOPInstanceUID"), attr.raw_text(ds, "Modality"),
            attr.raw_text(ds, "StudyInstanceUID"))


@pytest.fixture
def ct_file(tmp_path):
    from qa.dicom.write import write_ct_series

    return write_ct_series(tmp_path / "ct", np.zeros((1, 16, 16)))[0]


def test_the_raw_index_agrees_with_pydicom_on_our_ct_images_and_dose_reports(tmp_path, ct_file):
    from qa.dicom.write_rdsr import write_dose_report

    report = write_dose_report(tmp_path / "rdsr.dcm")
    for path in (ct_file, report):
        quick = _quick_index(str(path))
        assert quick is not None and quick == _by_pydicom(path)


@pytest.mark.parametrize("implicit", [False, True])
def test_sequences_of_undefined_length_and_implicit_vr_are_walked(tmp_path, ct_file, implicit):
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.uid import ImplicitVRLittleEndian

    ds = pydicom.dcmread(ct_file)
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4"
    inner = Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator = "X", "DCM"
    item.PurposeOfReferenceCodeSequence = [inner]
    ds.ReferencedImageSequence = [item, item]  # (0008,1140), before the Study Instance UID; pydicom writes undefined lengths
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = tmp_path / "with-sequences.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _quick_index(str(path)) == _by_pydicom(path)


def test_files_the_raw_walk_cannot_vouch_for_are_left_to_pydicom(tmp_path, ct_file):
    data = open(ct_file, "rb").read()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:200])  # cut inside the header
    assert _quick_index(str(cut)) is None
    garbled = bytearray(data)
    garbled[132:136] = b"\x08\x00\x05\x00"  # the file meta starts with an element of another group
    bad = tmp_path / "garbled.dcm"
    bad.write_bytes(bytes(garbled))
    assert _quick_index(str(bad)) is None
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(data[132:])  # no preamble: pydicom reads it
    assert _quick_index(str(bare)) is None
    pseudonymise = Pseudonymiser.ephemeral()
    indexed = index_source(Source(str(ct_file), str(ct_file)), pseudonymise)
    assert indexed.study_key == pseudonymise(_by_pydicom(ct_file)[3]) and indexed.modality == "CT"


def test_a_file_that_ends_before_its_study_instance_uid_is_damaged_never_a_file_without_one(tmp_path, ct_file):
    import pydicom

    from qa.errors import InputError

    data = open(ct_file, "rb").read()
    pseudonymise = Pseudonymiser.ephemeral()
    for at in (200, data.find(b"\x20\x00\x0d\x00UI") - 3):  # inside the file meta; inside the element before (0020,000D)
        cut = tmp_path / f"cut{at}.dcm"
        cut.write_bytes(data[:at])
        with pytest.raises(InputError) as raised:
            index_source(Source(str(cut), str(cut)), pseudonymise)
        assert raised.value.field == "StudyInstanceUID" and "truncated" in raised.value.message
    ds = pydicom.dcmread(ct_file)
    del ds.StudyInstanceUID  # a whole file that has none: an object without a study, not a damaged file
    whole = tmp_path / "no-study.dcm"
    ds.save_as(whole, enforce_file_format=True)
    indexed = index_source(Source(str(whole), str(whole)), pseudonymise)
    assert indexed.study_key is None and indexed.sop_instance_uid == ds.SOPInstanceUID


def test_a_study_uid_beyond_the_first_bytes_read_is_found_by_reading_further(tmp_path, ct_file):
    import pydicom

    from qa.dicom.study_index import _FIRST_BYTES, _HEAD_BYTES

    ds = pydicom.dcmread(ct_file)
    ds.add_new(0x00091010, "LO", "QA TEST")  # a private creator and a long private value before the Study Instance UID
    ds.add_new(0x00091100, "OB", b"\x00" * (_FIRST_BYTES + 1000))
    path = tmp_path / "long-private.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _quick_index(str(path)) == _by_pydicom(path)
    ds[0x00091100].value = b"\x00" * _HEAD_BYTES  # beyond every read of the raw walk: left to pydicom
    ds.save_as(path, enforce_file_format=True)
    assert _quick_index(str(path)) is None
