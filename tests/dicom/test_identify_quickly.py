"""The receiver identifies each object from its raw bytes (qa.dicom.quick_header) and gets exactly
what pydicom's reader gives for the same object: every pydicom test file, every real file in
../shared/data, and objects whose opening elements are written in unusual ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.dicom.received import _identify_quickly, identify_object


def _pseudonymise(uid: str) -> str:
    return f"p-{uid}"  # a visible stand-in: the test compares which value reached it


def _patient(pid):
    return f"patient {pid!r}"  # the site rule sees the Patient ID as read


def _both(path: Path):
    data = path.read_bytes()
    by_pydicom = identify_object(path, _pseudonymise, rule=_patient)  # a path: always pydicom's reader
    quick = _identify_quickly(data, _pseudonymise, _patient)
    return by_pydicom, quick, identify_object(data, _pseudonymise, rule=_patient)


def _dicom_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in (".dcm", "") and p.stat().st_size < 64 << 20]


def test_pydicoms_test_files_are_identified_as_pydicom_reads_them():
    import pydicom.data

    from qa.errors import InputError

    quick_count = 0
    for path in sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*.dcm")):  # the files pydicom ships (nothing downloaded)
        try:
            by_pydicom, quick, result = _both(path)
        except InputError:
            continue  # not readable by pydicom either (a deliberately broken test file)
        if quick is not None:
            quick_count += 1
            assert quick == by_pydicom, path.name
        assert result == by_pydicom, path.name
    assert quick_count > 50  # most are little-endian Part 10 files: the quick path was really tested


def test_the_real_files_are_identified_as_pydicom_reads_them(shared_data):
    from qa.errors import InputError

    checked = 0
    for path in _dicom_files(shared_data):
        try:
            by_pydicom, quick, result = _both(path)
        except InputError:
            continue
        if quick is not None:
            checked += 1
            assert quick == by_pydicom, path
        assert result == by_pydicom, path
    assert checked > 0


@pytest.mark.parametrize("implicit", [False, True])
def test_sequences_private_blocks_and_a_patient_id_with_accents_read_the_same(tmp_path, implicit):
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
    ds.Modality = "CT "
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator = "113691", "DCM"
    ds.ProcedureCodeSequence = Sequence([item, item])  # (0008,1032): a sequence before the wanted elements end
    ds.PatientID = "Müller 12"
    ds.add_new(0x00191010, "LO", "private")
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    path = tmp_path / "o.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    by_pydicom, quick, _ = _both(path)
    assert quick is not None and quick == by_pydicom
    assert quick.modality == "CT" and quick.workflow == _patient("Müller 12".encode("latin-1").decode("latin-1"))


def test_big_endian_and_deflated_objects_go_to_pydicom():
    from pydicom.data import get_testdata_file

    for name in ("MR_small_bigendian.dcm", "image_dfl.dcm"):
        path = Path(get_testdata_file(name))
        assert _identify_quickly(path.read_bytes(), _pseudonymise, _patient) is None
        by_pydicom, _, result = _both(path)
        assert result == by_pydicom


def _explicit_file(tmp_path):
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
    ds.Modality = "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.BitsAllocated = 16
    ds.PixelData = b"\0" * 2_000_000  # a large object: a misread length lands inside it
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = tmp_path / "explicit.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def test_a_data_set_written_explicit_under_an_implicit_syntax_reads_as_pydicom_reads_it(tmp_path):
    path = _explicit_file(tmp_path)
    raw = path.read_bytes()
    assert raw.count(b"1.2.840.10008.1.2.1\0") == 1
    path.write_bytes(raw.replace(b"1.2.840.10008.1.2.1\0", b"1.2.840.10008.1.2\0\0\0"))  # the meta now says implicit
    by_pydicom, quick, result = _both(path)
    assert result == by_pydicom and by_pydicom.modality == "CT"
    assert quick is None or quick == by_pydicom


def test_a_stray_sequence_delimiter_between_elements_reads_as_pydicom_reads_it(tmp_path):
    import struct

    path = _explicit_file(tmp_path)
    raw = path.read_bytes()
    at = raw.index(b"\x08\x00\x60\x00CS")  # (0008,0060) Modality: put a delimiter item before it
    path.write_bytes(raw[:at] + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0) + raw[at:])
    by_pydicom, quick, result = _both(path)
    assert result == by_pydicom and by_pydicom.modality == "CT"
    assert quick is None or quick == by_pydicom
