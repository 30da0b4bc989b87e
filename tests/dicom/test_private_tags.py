"""The vendor private-tag table: every row, written into a real DICOM file and read back.

Each private element is written under its private creator in block 0x12 (the blocks 0x10 and 0x11
belong to other creators and hold a decoy at the same offset), so a reader that looked at a fixed
block number would get the decoy: the value must come from the creator's own block, and the source
names the tag where it was found.  The files are written by pydicom in Explicit and Implicit VR
Little Endian (where unknown private elements come back as UN bytes) and read by ``headers_of``.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import fields
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.datadict import get_private_entry, tag_for_keyword
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from qa.dicom import private_tags
from qa.dicom.headers import headers_of
from qa.dicom.private_tags import STANDARD, VENDOR_TAGS, PrivateTag, TextConvention
from qa.dicom.write import CtHeader, Uids, ct_image, encode_hu
from qa.records.headers import AcquisitionHeaders

REPO = Path(__file__).resolve().parents[2]
VENDORS = ("ge", "siemens", "canon", "philips")  # what qa.records.identity.vendor_of returns
_CARDIAC_STANDARD = ("CardiacSynchronizationTechnique", "NominalPercentageOfCardiacPhase", "HeartRate",
                     "TriggerTime", "NominalCardiacTriggerDelayTime", "CardiacRRIntervalSpecified")

# row id -> examples (VR or keyword, raw text, value, source) as a scanner would write them, with
# the element in block 0x12 (0x13 inside the GE cardiac sequence item).
EXAMPLES: dict[str, list[tuple[str, str, float, str]]] = {
    "ge:heart_rate_bpm:GEMS_HELIOS_01:0045,31": [
        ("CS", "76", 76.0, "(0045,1231) GEMS_HELIOS_01 AvgHeartRateForImage")],
    "ge:trigger_phase_pct:GEMS_HELIOS_01:0045,33": [
        ("CS", "70", 70.0, "(0045,1233) GEMS_HELIOS_01 PctRpeakDelay")],
    "ge:trigger_delay_ms:GEMS_HELIOS_01:0045,3F": [
        ("IS", "612", 612.0, "(0045,123F) GEMS_HELIOS_01 RPeakTimeDelay")],
    "ge:heart_rate_prescan_bpm:GEMS_CT_CARDIAC_001:0049,01>0049,02": [
        ("CS", "58", 58.0, "(0049,1201) GEMS_CT_CARDIAC_001 CT Cardiac Sequence > "
                           "(0049,1302) GEMS_CT_CARDIAC_001 HeartRateAtConfirm")],
    "siemens:heart_rate_bpm:ImageComments:Siemens 'bpm'": [
        ("ImageComments", "72 bpm, 55 %, 153 ms", 72.0, "(0020,4000) ImageComments (Siemens 'bpm')"),
        ("ImageComments", "HR 64.5 BPM", 64.5, "(0020,4000) ImageComments (Siemens 'bpm')")],
    "siemens:trigger_phase_pct:ImageComments:Siemens '%'": [
        ("ImageComments", "72 bpm, 55 %, 153 ms", 55.0, "(0020,4000) ImageComments (Siemens '%')")],
    "siemens:trigger_phase_pct:ScanOptions:Siemens 'TP': trigger phase %": [
        ("ScanOptions", "TP55PC0842", 55.0, "(0018,0022) ScanOptions 'TP55PC0842' (Siemens 'TP': trigger phase %)"),
        ("ScanOptions", "tp70", 70.0, "(0018,0022) ScanOptions 'tp70' (Siemens 'TP': trigger phase %)")],
    "siemens:trigger_delay_ms:ImageComments:Siemens 'ms'": [
        ("ImageComments", "72 bpm, 55 %, 153 ms", 153.0, "(0020,4000) ImageComments (Siemens 'ms')"),
        ("ImageComments", "58 bpm -250 ms", -250.0, "(0020,4000) ImageComments (Siemens 'ms')")],
    "canon:heart_rate_bpm:TOSHIBA_MEC_CT3:7005,03": [
        ("SH", "923", 60000 / 923, "(7005,1203) TOSHIBA_MEC_CT3 Cardiac R-R Mean Time (60000 / RR ms)")],
    "canon:trigger_phase_pct:TOSHIBA_MEC_CT3:7005,04": [
        ("SH", "75%", 75.0, "(7005,1204) TOSHIBA_MEC_CT3 Cardiac Reconstruction Gating Phase in Percent"),
        ("SH", "40", 40.0, "(7005,1204) TOSHIBA_MEC_CT3 Cardiac Reconstruction Gating Phase in Percent")],
    "canon:trigger_delay_ms:TOSHIBA_MEC_CT3:7005,05": [
        ("SH", "692ms", 692.0, "(7005,1205) TOSHIBA_MEC_CT3 Cardiac Reconstruction Gating Phase in ms"),
        ("SH", "350 MS", 350.0, "(7005,1205) TOSHIBA_MEC_CT3 Cardiac Reconstruction Gating Phase in ms")],
    "canon:pitch:TOSHIBA_MEC_CT3:7005,23": [
        ("DS", "0.2", 0.2, "(7005,1223) TOSHIBA_MEC_CT3 Pitch Factor")],
    "philips:heart_rate_bpm:ELSCINT1:01F1,45": [
        ("IS", "61", 61.0, "(01F1,1245) ELSCINT1 Initial Heart Rate")],
    "philips:trigger_phase_pct:ELSCINT1:01F1,41": [
        ("LO", "78%", 78.0, "(01F1,1241) ELSCINT1 Gating Delay")],
    "philips:trigger_delay_ms:ELSCINT1:01F1,41": [
        ("LO", "350 ms", 350.0, "(01F1,1241) ELSCINT1 Gating Delay"),
        ("LO", "410", 410.0, "(01F1,1241) ELSCINT1 Gating Delay")],
    "philips:pitch:ELSCINT1:01F1,26": [
        ("DS", "0.18", 0.18, "(01F1,1226) ELSCINT1 Pitch")],
}

# Values that are not usable for a row: no value, and no source (never a guess).
GARBAGE = {
    "canon:heart_rate_bpm:TOSHIBA_MEC_CT3:7005,03": ["0", "-800", "n/a"],  # 60000 / RR needs RR > 0
    "philips:trigger_phase_pct:ELSCINT1:01F1,41": ["350 ms", "fast%"],  # a delay is not a phase
    "philips:trigger_delay_ms:ELSCINT1:01F1,41": ["78%", "n/a"],  # a phase is not a delay
    "siemens:trigger_phase_pct:ImageComments:Siemens '%'": ["Calcium Score 55 %", "72 bpm, 55 pct"],
    "siemens:trigger_delay_ms:ImageComments:Siemens 'ms'": ["Calcium Score 153 ms", "72 bpm, 153 msec"],
    "siemens:trigger_phase_pct:ScanOptions:Siemens 'TP': trigger phase %": ["TPXXPC0842", "TP1234", "HELICAL TP55"],
}
DEFAULT_GARBAGE = ["n/a", "?"]

ROWS = {row.id: row for row in VENDOR_TAGS}
START = dt.datetime(2026, 1, 5, 7, 30)


# ------------------------------------------------------------------------- writing real files


def _raw(ds, tag: int, vr: str, text: str, implicit: bool) -> None:
    """Put ``text`` into ``ds`` byte for byte (garbage included), as a scanner would have written it."""
    data = text.encode("latin-1")
    data += b" " * (len(data) % 2)
    ds[tag] = RawDataElement(Tag(tag), vr, len(data), data, 0, implicit, True)


def _put_private(ds, group: int, creator: str, element: int, block: int, put_value, put_decoy) -> None:
    """The creator in ``block``; other creators before it, each with a decoy at the same element."""
    for other in range(0x10, block):
        ds.add_new(Tag(group, other), "LO", f"QA DECOY {other:02X}")
        put_decoy(Tag(group, (other << 8) | element))
    ds.add_new(Tag(group, block), "LO", creator)
    put_value(Tag(group, (block << 8) | element))


def _put_row(ds, row, vr: str, text: str, implicit: bool) -> None:
    if isinstance(row, TextConvention):
        setattr(ds, row.keyword, text)  # (the "VR" of a text row's example is its keyword)
        return
    if row.within is None:
        _put_private(ds, row.group, row.creator, row.element, 0x12,
                     lambda tag: _raw(ds, tag, vr, text, implicit), lambda tag: _raw(ds, tag, vr, "99", implicit))
        return
    seq = row.within

    def item(value: str, block: int) -> pydicom.Dataset:
        d = pydicom.Dataset()
        _put_private(d, row.group, row.creator, row.element, block,
                     lambda tag: _raw(d, tag, vr, value, implicit), lambda tag: _raw(d, tag, vr, "99", implicit))
        return d

    _put_private(ds, seq.group, seq.creator, seq.element, 0x12,
                 lambda tag: ds.add_new(tag, "SQ", Sequence([item(text, 0x13)])),
                 lambda tag: ds.add_new(tag, "SQ", Sequence([item("99", 0x10)])))


def _headers(folder: Path, vendor: str, edit, *, implicit: bool = False) -> AcquisitionHeaders:
    """One real CT image of ``vendor`` without the standard cardiac attributes, edited, written, read."""
    folder.mkdir(parents=True, exist_ok=True)
    header = CtHeader(vendor=vendor)
    ds = ct_image(header, Uids(f"private-tags|{folder}"), 0, encode_hu(np.zeros((8, 8)), header.style),
                  (0.0, 0.0, 0.0), study_start=START, acquisition_time=START)
    for keyword in _CARDIAC_STANDARD:
        delattr(ds, keyword)
    path = folder / "IMG0001.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the garbage we write on purpose
        edit(ds)
        if implicit:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)
        return headers_of([path])


def _row_cases():
    for row_id, examples in EXAMPLES.items():
        for n, example in enumerate(examples):
            for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
                yield pytest.param(row_id, example, syntax is ImplicitVRLittleEndian,
                                   id=f"{row_id}-{n}-{'implicit' if syntax is ImplicitVRLittleEndian else 'explicit'}")


# ------------------------------------------------------------------------- every row


@pytest.mark.parametrize(("row_id", "example", "implicit"), list(_row_cases()))
def test_row_found_by_creator_with_its_source(tmp_path, row_id, example, implicit):
    row = ROWS[row_id]
    vr, text, value, source = example
    h = _headers(tmp_path, row.vendor, lambda ds: _put_row(ds, row, vr, text, implicit), implicit=implicit)
    assert getattr(h, row.field) == pytest.approx(value)
    assert h.sources[row.field] == source


@pytest.mark.parametrize("row_id", sorted(ROWS))
def test_garbage_gives_no_value(tmp_path, row_id):
    row = ROWS[row_id]
    vr = EXAMPLES[row_id][0][0]
    for n, text in enumerate(GARBAGE.get(row_id, DEFAULT_GARBAGE)):
        h = _headers(tmp_path / str(n), row.vendor, lambda ds: _put_row(ds, row, vr, text, False))
        assert getattr(h, row.field) is None, text
        assert row.field not in h.sources, text


@pytest.mark.parametrize("row_id", sorted(ROWS))
def test_row_of_another_vendor_is_never_applied(tmp_path, row_id):
    row = ROWS[row_id]
    vr, text, _, _ = EXAMPLES[row_id][0]
    for other in [v for v in VENDORS if v != row.vendor] + ["generic"]:
        h = _headers(tmp_path / other, other, lambda ds: _put_row(ds, row, vr, text, False))
        assert getattr(h, row.field) is None and row.field not in h.sources, other


# Standard attributes that must win over every vendor row of their field: (VR, text, value, source).
STANDARD_EXAMPLES = {
    "heart_rate_bpm": ("HeartRate", "IS", "55", 55.0, "(0018,1088) HeartRate"),
    "trigger_phase_pct": ("NominalPercentageOfCardiacPhase", "FD", 40.0, 40.0, "(0020,9241) NominalPercentageOfCardiacPhase"),
    "trigger_delay_ms": ("NominalCardiacTriggerDelayTime", "FD", 321.0, 321.0, "(0020,9153) NominalCardiacTriggerDelayTime"),
    "pitch": ("SpiralPitchFactor", "FD", 0.9, 0.9, "(0018,9311) SpiralPitchFactor"),
}


@pytest.mark.parametrize("row_id", sorted(r.id for r in VENDOR_TAGS if STANDARD[r.field]))
def test_standard_attribute_comes_first(tmp_path, row_id):
    row = ROWS[row_id]
    vr, text, _, _ = EXAMPLES[row_id][0]
    keyword, std_vr, std_value, value, source = STANDARD_EXAMPLES[row.field]

    def edit(ds):
        _put_row(ds, row, vr, text, False)
        ds.add_new(Tag(tag_for_keyword(keyword)), std_vr, std_value)

    h = _headers(tmp_path, row.vendor, edit)
    assert getattr(h, row.field) == value and h.sources[row.field] == source


def test_trigger_time_counts_only_when_positive(tmp_path):
    canon_ms = ROWS["canon:trigger_delay_ms:TOSHIBA_MEC_CT3:7005,05"]

    def zero_trigger_time(ds):
        ds.TriggerTime = "0"

    assert _headers(tmp_path / "zero", "canon", zero_trigger_time).trigger_delay_ms is None

    def zero_and_canon(ds):
        zero_trigger_time(ds)
        _put_row(ds, canon_ms, "SH", "692ms", False)

    h = _headers(tmp_path / "canon", "canon", zero_and_canon)
    assert h.trigger_delay_ms == 692.0 and "TOSHIBA_MEC_CT3" in h.sources["trigger_delay_ms"]

    def positive(ds):
        ds.TriggerTime = "480.5"
        _put_row(ds, canon_ms, "SH", "692ms", False)

    h = _headers(tmp_path / "positive", "canon", positive)
    assert h.trigger_delay_ms == 480.5 and h.sources["trigger_delay_ms"] == "(0018,1060) TriggerTime"


def test_table_order_decides_between_rows_of_one_vendor(tmp_path):
    def both(ds):
        ds.ImageComments = "72 bpm, 40 %, 153 ms"
        ds.ScanOptions = "TP55PC0842"

    h = _headers(tmp_path, "siemens", both)
    assert h.trigger_phase_pct == 40.0 and h.sources["trigger_phase_pct"] == "(0020,4000) ImageComments (Siemens '%')"


def test_philips_gating_delay_gives_a_phase_or_a_delay_never_both(tmp_path):
    row = ROWS["philips:trigger_phase_pct:ELSCINT1:01F1,41"]
    h = _headers(tmp_path / "pct", "philips", lambda ds: _put_row(ds, row, "LO", "78%", False))
    assert (h.trigger_phase_pct, h.trigger_delay_ms) == (78.0, None)
    h = _headers(tmp_path / "ms", "philips", lambda ds: _put_row(ds, row, "LO", "350ms", False))
    assert (h.trigger_phase_pct, h.trigger_delay_ms) == (None, 350.0)


def test_an_empty_or_foreign_cardiac_sequence_gives_no_prescan_rate(tmp_path):
    def empty(ds):
        ds.private_block(0x0049, "GEMS_CT_CARDIAC_001", create=True).add_new(0x01, "SQ", Sequence([]))

    assert _headers(tmp_path / "empty", "ge", empty).heart_rate_prescan_bpm is None

    def text_instead(ds):  # a file whose sequence is not a sequence
        _put_private(ds, 0x0049, "GEMS_CT_CARDIAC_001", 0x01, 0x10,
                     lambda tag: _raw(ds, tag, "LO", "58", False), lambda tag: None)

    h = _headers(tmp_path / "text", "ge", text_instead)
    assert h.heart_rate_prescan_bpm is None and "heart_rate_prescan_bpm" not in h.sources


# ------------------------------------------------------------------------- the parsers


@pytest.mark.parametrize(("parser", "raw", "expected"), [
    (private_tags.number, "72", 72.0), (private_tags.number, b"72\x00", 72.0), (private_tags.number, ["61", "62"], 61.0),
    (private_tags.number, "nan", None), (private_tags.number, "inf", None), (private_tags.number, None, None),
    (private_tags.positive_number, "0", None), (private_tags.positive_number, "-1", None), (private_tags.positive_number, "1.5", 1.5),
    (private_tags.percent_text, "75 %", 75.0), (private_tags.percent_text, "%", None), (private_tags.percent_text, None, None),
    (private_tags.ms_text, "692 ms", 692.0), (private_tags.ms_text, "ms", None), (private_tags.ms_text, b"120MS", 120.0),
    (private_tags.rr_ms_to_bpm, "1000", 60.0), (private_tags.rr_ms_to_bpm, "0", None), (private_tags.rr_ms_to_bpm, "-5", None),
    (private_tags.rr_ms_to_bpm, "1e-320", None), (private_tags.rr_ms_to_bpm, "", None),
    (private_tags.philips_gating_phase, "78%", 78.0), (private_tags.philips_gating_phase, "350", None),
    (private_tags.philips_gating_delay, "350", 350.0), (private_tags.philips_gating_delay, "78%", None),
    (private_tags.philips_gating_delay, "", None), (private_tags.philips_gating_delay, None, None),
])
def test_parsers(parser, raw, expected):
    assert parser(raw) == (pytest.approx(expected) if expected is not None else None)


# ------------------------------------------------------------------------- the table itself


def test_every_row_has_examples_and_is_well_formed():
    assert set(EXAMPLES) == set(ROWS), "every row needs an example here (and every example a row)"
    assert len(ROWS) == len(VENDOR_TAGS), "row ids must be unique"
    header_fields = {f.name for f in fields(AcquisitionHeaders)}
    for row in VENDOR_TAGS:
        assert row.field in header_fields and row.field in STANDARD, row.id
        assert row.vendor in VENDORS, row.id
        assert row.note.strip(), row.id
        # a named, documented function of the table module
        assert row.parser.__module__ == private_tags.__name__ and row.parser.__doc__, row.id
        assert getattr(private_tags, row.parser.__name__) is row.parser, row.id
        if isinstance(row, PrivateTag):
            assert row.group % 2 == 1 and 0 <= row.element <= 0xFF and row.creator, row.id
            assert row.within is None or (row.within.group % 2 == 1 and row.within.note.strip()), row.id


def test_rows_said_to_come_from_pydicom_match_its_dictionary():
    places = []
    for row in VENDOR_TAGS:
        if isinstance(row, PrivateTag):
            places.append((row, row.group, row.creator, row.element, row.name))
            if row.within is not None:
                places.append((row.within, row.within.group, row.within.creator, row.within.element, row.within.name))
    for where, group, creator, element, name in places:
        if "pydicom's private dictionary" in where.note:
            vr, _vm, dictionary_name, _retired = get_private_entry(Tag(group, 0x1000 | element), creator)
            assert dictionary_name == name, (where, dictionary_name)


def test_private_elements_are_read_only_through_the_table():
    """No other module of qa reads a private element, except the Philips dose screen's DLP (a dose
    report value, read by qa/dicom/rdsr_philips.py, not an acquisition header).  The synthetic
    fleet's writer (qa/dicom/write_vendor.py) writes them, at the places it takes from the table."""
    allowed = {"qa/dicom/private_tags.py", "qa/dicom/rdsr_philips.py", "qa/dicom/write_vendor.py"}
    pattern = re.compile(r"private_block\(|get_private_item\(|private_creators\(|\b_private\(|PrivateBlock|private_dict")
    offenders = []
    for path in sorted((REPO / "qa").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel not in allowed and pattern.search(path.read_text(encoding="utf-8")):
            offenders.append(rel)
    assert offenders == []
    # and the header readers hold no vendor branch for values the table gives
    headers_src = (REPO / "qa" / "dicom" / "headers.py").read_text(encoding="utf-8")
    values_src = (REPO / "qa" / "dicom" / "header_values.py").read_text(encoding="utf-8")
    for creator in {row.creator for row in VENDOR_TAGS if isinstance(row, PrivateTag)}:
        assert creator not in headers_src and creator not in values_src, creator
    assert 'vendor == "ge"' not in headers_src and 'vendor == "canon"' not in headers_src
    assert 'vendor == "philips"' not in headers_src
