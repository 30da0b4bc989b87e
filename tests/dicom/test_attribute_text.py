"""``qa.dicom.attributes.text``: an attribute as DICOM writes it.  A multi-valued PN or CS is its
values joined by a backslash; a single person name is its text, never its characters joined
(pydicom's PersonName iterates over characters).  Real files: ../shared/data's dose reports."""

from __future__ import annotations

import pydicom

from qa.dicom.attributes import text


def test_a_real_multi_valued_person_name_is_its_names_joined_by_a_backslash(shared_data):
    ds = pydicom.dcmread(shared_data / "dicom" / "rdsr" / "CT-RDSR-GEPixelMed.dcm", stop_before_pixels=True)
    names = [str(n) for n in ds.OperatorsName]
    assert len(names) == 2 and all(len(n) > 1 for n in names)
    assert text(ds, "OperatorsName") == "\\".join(names)
    ds = pydicom.dcmread(shared_data / "dicom" / "rdsr" / "CT-RDSR-Siemens_Flash-QA-DS.dcm", stop_before_pixels=True)
    assert text(ds, "ReferringPhysicianName").split("\\") == [str(n) for n in ds.ReferringPhysicianName]


def test_a_single_person_name_is_its_text_and_a_multi_valued_code_string_its_values(shared_data):
    ds = pydicom.dcmread(shared_data / "dicom" / "rdsr" / "CT-RDSR-GEPixelMed.dcm", stop_before_pixels=True)
    assert isinstance(ds.PatientName, pydicom.valuerep.PersonName) and len(str(ds.PatientName)) > 1
    assert text(ds, "PatientName") == str(ds.PatientName).strip()  # never "Q\\A\\^..."
    image = next(p for p in sorted((shared_data / "dicom" / "ct").rglob("*.dcm")))
    ct = pydicom.dcmread(image, stop_before_pixels=True)
    assert len(ct.ImageType) > 1 and text(ct, "ImageType") == "\\".join(ct.ImageType)
    ct.ImageType = ["ORIGINAL", "", "AXIAL"]  # an empty value in between is left out, as no value
    assert text(ct, "ImageType") == "ORIGINAL\\AXIAL"
    del ct.ImageType
    assert text(ct, "ImageType") is None
