"""The File Meta Information qa serve writes before each received data set (qa.net.receive.file_meta_bytes)
is byte for byte what pydicom's own writer writes, and pydicom reads it back."""

from __future__ import annotations

import io

import pytest


@pytest.mark.parametrize(("sop_class", "sop_instance", "syntax"), [
    ("1.2.840.10008.5.1.4.1.1.2", "1.2.3", "1.2.840.10008.1.2.1"),  # odd-length UIDs (padded)
    ("1.2.840.10008.5.1.4.1.1.88.67", "1.2.34", "1.2.840.10008.1.2"),  # even-length ones
    ("1.2.840.10008.5.1.4.1.1.2.1", "2.25." + "9" * 59, "1.2.840.10008.1.2.4.50"),  # a 64-character UID
])
def test_the_file_meta_is_what_pydicoms_own_writer_writes_byte_for_byte(sop_class, sop_instance, syntax):
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    from qa.net.receive import file_meta_bytes
    from qa.net.pdu import IMPLEMENTATION_UID, implementation_version

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, meta.TransferSyntaxUID = sop_class, sop_instance, syntax
    meta.ImplementationClassUID, meta.ImplementationVersionName = IMPLEMENTATION_UID, implementation_version()
    theirs = DicomBytesIO()
    write_file_meta_info(theirs, meta, enforce_standard=True)  # adds the group length and the version, as PS3.10 asks
    assert file_meta_bytes(sop_class, sop_instance, syntax) == b"\0" * 128 + b"DICM" + theirs.getvalue()


def test_a_file_made_of_the_meta_and_a_data_set_reads_back_with_its_uids():
    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    from qa.net.receive import file_meta_bytes

    ds = pydicom.Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", "CT"
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    read = pydicom.dcmread(io.BytesIO(file_meta_bytes("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", "1.2.840.10008.1.2.1") + body.getvalue()))
    assert read.file_meta.MediaStorageSOPInstanceUID == "1.2.3.4" and read.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert read.Modality == "CT" and read.SOPInstanceUID == "1.2.3.4"


def test_a_uid_that_is_not_ascii_is_a_value_error():
    from qa.net.receive import file_meta_bytes

    with pytest.raises(ValueError):
        file_meta_bytes("1.2.840.10008.5.1.4.1.1.2", "1.2.é", "1.2.840.10008.1.2.1")
