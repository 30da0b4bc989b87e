"""A header-only scan keeps of each image header only the fields qa's readers use (qa.dicom.header_fields),
reads from it what a whole header gives, and refuses loudly a field it does not keep."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import tag_for_keyword

from qa.dicom import header_fields, pixels, private_tags
from qa.dicom.header_fields import FieldNotKept, UsedFields
from qa.dicom.headers import read_headers
from qa.dicom.series import scan_inputs
from qa.records.identity import Pseudonymiser, vendor_of

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
CANON = SHARED / "phantom" / "qrm-cci-canon-aquilion-one-large"
SHARED_CT = SHARED / "dicom" / "ct"

# Modules that name DICOM keywords without reading them from a header scan's image headers.
NOT_IMAGE_HEADER_READERS = (
    "qa/dicom/write",  # writers: the synthesiser's and exported objects
    "qa/exam_synth/",  # the exam synthesiser writes headers
    "qa/net/",  # the DICOM network layer (its own command sets)
    "qa/dicom/waveform.py",  # ECG waveform objects, read whole
    "qa/dicom/sr_content.py",  # dose reports, read whole
    "qa/dicom/rdsr.py", "qa/dicom/rdsr_codes.py", "qa/dicom/rdsr_merge.py", "qa/dicom/rdsr_philips.py",  # dose reports, read whole
    "qa/store/",  # column names
    "qa/report/",  # column names
    "qa/dicom/header_fields.py",  # the table itself
)
# Keywords the readers name that a header need not keep at its top level, and why.
NOT_TOP_LEVEL = {
    # read inside an enhanced image's functional groups, which are kept whole
    "CTImageFrameTypeSequence", "CTPositionSequence", "FrameAcquisitionDateTime", "FrameAcquisitionNumber",
    "FrameContentSequence", "FrameType", "PixelMeasuresSequence", "PixelValueTransformationSequence",
    "PlaneOrientationSequence", "PlanePositionSequence",
    "Mass",  # a word in qa.phantom.metrics, not a header read
}


def _named_keywords() -> dict[str, set[str]]:
    """Every DICOM keyword an image header reader names (a string or an attribute), with where."""
    named: dict[str, set[str]] = {}
    for path in sorted((ROOT / "qa").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(NOT_IMAGE_HEADER_READERS):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = node.value
            elif isinstance(node, ast.Attribute):
                name = node.attr
            else:
                continue
            if name[:1].isupper() and tag_for_keyword(name) is not None:
                named.setdefault(name, set()).add(rel)
    return named


def test_every_keyword_a_reader_names_is_kept():
    named = _named_keywords()
    assert {"KVP", "ConvolutionKernel", "ImagePositionPatient", "InstanceNumber"} <= set(named)  # the scan sees the readers
    missing = {
        keyword: sorted(where) for keyword, where in named.items()
        if keyword not in NOT_TOP_LEVEL
        and tag_for_keyword(keyword) >> 16 != 0x0002  # file meta: never in the dataset
        and not header_fields.is_kept(tag_for_keyword(keyword))
    }
    assert not missing, f"add these to qa.dicom.header_fields (or say why not in this test): {missing}"


def test_every_kept_keyword_is_named_by_a_reader():
    """Only what the readers use: a keyword in the table that no reader names is dropped from it."""
    named = set(_named_keywords())
    table = {k for names in header_fields._READ_BY.values() for k in names}
    assert table - named == set()


def test_the_vendor_conventions_are_kept():
    kept = header_fields.kept_standard_tags()
    for row in private_tags.VENDOR_TAGS:
        if isinstance(row, private_tags.PrivateTag):
            assert row.group in header_fields.kept_private_groups()
        else:
            assert tag_for_keyword(row.keyword) in kept
    for rows in private_tags.STANDARD.values():
        assert all(tag_for_keyword(name) in kept for name, _ in rows)


def _shared_ct_files() -> list[Path]:
    if not SHARED_CT.is_dir():
        pytest.skip(f"{SHARED_CT} is absent: the shared real CT files are not next to the repository")
    return sorted(p for p in SHARED_CT.iterdir() if p.suffix == ".dcm")


@pytest.mark.parametrize("source", ["canon", "shared"])
def test_a_header_scan_keeps_only_used_fields_and_reads_the_same(source, tmp_path):
    if source == "canon":
        if not CANON.is_dir():
            pytest.skip(f"{CANON} is absent: the real Canon phantom scan is not next to the repository")
        inputs = [CANON]
    else:
        inputs = _shared_ct_files()
    pseudonymise = Pseudonymiser.ephemeral()
    slim = scan_inputs(inputs, headers_only=True, pseudonymise=pseudonymise)
    whole = scan_inputs(inputs, pseudonymise=pseudonymise)
    assert slim.series and len(slim.series) == len(whole.series)
    dropped = 0
    for slim_group, whole_group in zip(slim.series, whole.series):
        assert slim_group.info == whole_group.info
        for ds, full in zip(slim_group.datasets, whole_group.datasets):
            assert isinstance(ds, UsedFields)
            assert all(header_fields.is_kept(int(t)) for t in ds.keys())
            for tag in ds.keys():  # every field kept is the one in the file
                assert ds[tag].value == full[tag].value
            for tag in full.keys():  # every field the scan keeps is kept
                if header_fields.is_kept(int(tag)) and int(tag) < 0x7FE00000:
                    assert tag in ds._dict
            dropped += len(full) - len(ds)
            vendor = vendor_of(ds.get("Manufacturer"))
            for field in private_tags.STANDARD:
                assert private_tags.read_field(ds, field, vendor) == private_tags.read_field(full, field, vendor)
        assert read_headers(slim_group) == read_headers(whole_group)
    assert dropped > 0  # the scan did drop fields


def test_a_field_not_kept_is_refused_loudly_in_every_form_of_access(tmp_path):
    image = SHARED_CT / "CT_small.dcm"  # a GE CT image
    if not image.is_file():
        pytest.skip(f"{image} is absent: the shared real CT files are not next to the repository")
    shutil.copy(image, tmp_path / "image.dcm")
    (group,) = scan_inputs(tmp_path, headers_only=True).series
    (ds,) = group.datasets
    full = pydicom.dcmread(image, stop_before_pixels=True)
    birth = tag_for_keyword("PatientBirthDate")  # in the file, never read by qa
    assert birth in full and birth not in ds._dict
    accesses = [
        lambda: ds.PatientBirthDate,
        lambda: getattr(ds, "PatientBirthDate", None),
        lambda: hasattr(ds, "PatientBirthDate"),
        lambda: "PatientBirthDate" in ds,
        lambda: birth in ds,
        lambda: ds.get("PatientBirthDate"),
        lambda: ds.get(birth),
        lambda: ds[birth],
        lambda: ds["PatientBirthDate"],
        lambda: ds[0x0010, 0x0030],
        lambda: ds.get_item(birth),
        lambda: ds.data_element("PatientBirthDate"),
        lambda: ds["00100030"],  # pydicom's hex-string keys
        lambda: ds.get("0x00100030"),
        lambda: "00100030" in ds,
        lambda: ds.pop("PatientBirthDate", None),
    ]
    for access in accesses:
        with pytest.raises(FieldNotKept) as caught:
            access()
        assert not isinstance(caught.value, (KeyError, AttributeError, RuntimeError))  # never read as "absent"
        message = str(caught.value)
        assert "(0010,0030) PatientBirthDate" in message and "qa.dicom.header_fields" in message
        assert message.startswith(str(tmp_path / "image.dcm"))  # the file as the input names it
    # pydicom's decoder reads fields from the header's dict without asking it: a slim header is never decoded
    with pytest.raises(FieldNotKept, match="decode the pixels"):
        pixels.decode(ds, "image.dcm", 1)
    # kept fields and the scan's own attributes read as usual, present or absent
    assert ds.Modality == full.Modality and "KVP" in ds
    assert ds.qa_pixels_absent is False and getattr(ds, "no_such_attribute", None) is None


def test_other_objects_keep_their_whole_header(tmp_path):
    rdsr = SHARED / "dicom" / "rdsr"
    if not rdsr.is_dir():
        pytest.skip(f"{rdsr} is absent: the shared dose reports are not next to the repository")
    report = sorted(rdsr.glob("*.dcm"))[0]
    shutil.copy(report, tmp_path / "report.dcm")
    scan = scan_inputs(tmp_path, headers_only=True)
    (other,) = scan.other_objects
    assert not isinstance(other.dataset, UsedFields)
    assert len(other.dataset) == len(pydicom.dcmread(report, stop_before_pixels=True))


def test_a_zip_members_refusal_names_the_member(tmp_path):
    import zipfile

    image = SHARED_CT / "CT_small.dcm"
    if not image.is_file():
        pytest.skip(f"{image} is absent: the shared real CT files are not next to the repository")
    with zipfile.ZipFile(tmp_path / "exam.zip", "w") as archive:
        archive.write(image, "series/one.dcm")
    (group,) = scan_inputs(tmp_path / "exam.zip", headers_only=True).series
    with pytest.raises(FieldNotKept) as caught:
        group.datasets[0].PatientBirthDate
    assert str(caught.value).startswith(str(tmp_path / "exam.zip") + "!series/one.dcm:")
