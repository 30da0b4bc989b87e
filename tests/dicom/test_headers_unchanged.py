"""What ``read_headers`` says about known series must not change when its code is reorganised.

Two kinds of evidence, both on real DICOM files:

* named values read off the headers themselves (the SOURCES.md notes of ../shared/data, and the
  values the synthesiser writes), each with the tag it must be reported from;
* a record of everything ``read_headers`` produced for the same series (every field and every
  ``sources`` text, in order) *before* the vendor private tags moved into a declarative table.
  ``tests/fixtures/headers-before-private-tags.json`` was GENERATED with the code of commit 5b16fe4
  (``qa/dicom/header_values.py`` if-branches) by calling :func:`_snapshot` on :func:`_synthetic_cases`
  and :func:`_real_cases`; it is a regression record, not a statement of truth.  Regenerate it only
  for a reviewed, intended behaviour change.

The synthetic cases are the series ``qa synth phantom --vendor V`` writes (default options), and
small series of each vendor whose standard cardiac attributes are replaced by the vendor's private
elements or text conventions (the same conventions the private-tag table describes), so that every
vendor convention is covered by the record and not only GE's (the only vendor with private cardiac
tags among the public files).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pydicom
import pytest
from pydicom.sequence import Sequence

from qa.dicom.headers import headers_of
from qa.dicom.series import scan_inputs
from qa.dicom.headers import read_headers
from qa.records.serialize import to_jsonable
from qa.workflows.synth import SynthOptions, synthesize_phantom

RECORD = Path(__file__).resolve().parents[1] / "fixtures" / "headers-before-private-tags.json"

_CARDIAC_STANDARD = ("CardiacSynchronizationTechnique", "NominalPercentageOfCardiacPhase", "HeartRate",
                     "TriggerTime", "NominalCardiacTriggerDelayTime")


def _snapshot(h) -> dict:
    """Every field of an AcquisitionHeaders as JSON data, plus the order of its sources."""
    out = {f.name: to_jsonable(getattr(h, f.name)) for f in dataclasses.fields(h)}
    out["sources_order"] = list(h.sources)
    return out


def _rewrite(folder: Path, edit) -> None:
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        for keyword in _CARDIAC_STANDARD:
            if keyword in ds:
                delattr(ds, keyword)
        edit(ds)
        ds.save_as(path)


def _ge(ds):
    helios = ds.private_block(0x0045, "GEMS_HELIOS_01", create=True)
    helios.add_new(0x31, "CS", "64")  # AvgHeartRateForImage
    helios.add_new(0x33, "CS", "75")  # PctRpeakDelay
    helios.add_new(0x3F, "IS", "612")  # RPeakTimeDelay
    item = pydicom.Dataset()
    item.private_block(0x0049, "GEMS_CT_CARDIAC_001", create=True).add_new(0x02, "CS", "61")  # HeartRateAtConfirm
    ds.private_block(0x0049, "GEMS_CT_CARDIAC_001", create=True).add_new(0x01, "SQ", Sequence([item]))


def _siemens_comments(ds):
    ds.ImageComments = "72 bpm, 55 %, 153 ms"


def _siemens_scan_options(ds):
    ds.ImageComments = "Calcium Score 55 %"  # no 'bpm': not the cardiac convention, its '%' is not a phase
    ds.ScanOptions = "TP55PC0842"


def _canon(ds):
    block = ds.private_block(0x7005, "TOSHIBA_MEC_CT3", create=True)
    block.add_new(0x03, "SH", "923")  # Cardiac R-R Mean Time (ms)
    block.add_new(0x04, "SH", "75%")  # gating phase in percent
    block.add_new(0x05, "SH", "692ms")  # gating phase in ms
    block.add_new(0x23, "DS", "0.2")  # pitch factor


def _philips_percent(ds):
    block = ds.private_block(0x01F1, "ELSCINT1", create=True)
    block.add_new(0x26, "DS", "0.18")  # pitch
    block.add_new(0x41, "LO", "78%")  # gating delay as a phase
    block.add_new(0x45, "IS", "61")  # initial heart rate


def _philips_ms(ds):
    ds.private_block(0x01F1, "ELSCINT1", create=True).add_new(0x41, "LO", "350 ms")  # gating delay in ms


_VARIANTS = {
    "ge-private": ("ge", _ge),
    "siemens-image-comments": ("siemens", _siemens_comments),
    "siemens-scan-options": ("siemens", _siemens_scan_options),
    "canon-private": ("canon", _canon),
    "philips-private-percent": ("philips", _philips_percent),
    "philips-private-ms": ("philips", _philips_ms),
}


def _synthetic_cases(root: Path) -> dict:
    """name -> AcquisitionHeaders of the synthetic series (written under ``root``)."""
    out = {}
    for vendor in ("generic", "ge", "siemens", "canon", "philips"):
        folder = root / f"synth-{vendor}"
        synthesize_phantom(folder, SynthOptions(vendor=vendor))  # what `qa synth phantom --vendor V` writes
        out[f"synth-{vendor}"] = headers_of(folder)
    for name, (vendor, edit) in _VARIANTS.items():
        folder = root / name
        synthesize_phantom(folder, SynthOptions(vendor=vendor, matrix=32, pixel_mm=8.0, z_start_mm=-6, z_end_mm=6,
                                                noise_hu=0.0))
        _rewrite(folder, edit)
        out[name] = headers_of(folder)
    return out


def _real_cases(shared_data: Path) -> dict:
    """name -> AcquisitionHeaders of every image series among the public files."""
    out = {}
    for folder in (shared_data / "dicom" / "ct", shared_data / "phantom" / "qrm-cci-canon-aquilion-one-large"):
        for group in scan_inputs([folder], headers_only=True).series:
            out[f"{folder.name}:{group.info.series_instance_uid}"] = read_headers(group)
    return out


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads(RECORD.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict:
    return _synthetic_cases(tmp_path_factory.mktemp("unchanged"))


@pytest.fixture(scope="module")
def real(shared_data) -> dict:
    return _real_cases(shared_data)


# ------------------------------------------------------------------------- named values


def test_real_ge_smartscore_named_values(real):
    h = real["ct:1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.6"]
    # SOURCES.md: (0045,1031) AvgHeartRateForImage 76/76/76/68/68, (0045,1033) PctRpeakDelay 70, HeartRateAtConfirm 58
    assert h.trigger_phase_pct == 70.0 and h.sources["trigger_phase_pct"] == "(0045,1033) GEMS_HELIOS_01 PctRpeakDelay"
    assert h.heart_rate_bpm == pytest.approx((3 * 76 + 2 * 68) / 5)
    assert h.sources["heart_rate_bpm"] == "(0045,1031) GEMS_HELIOS_01 AvgHeartRateForImage (mean over 5 images)"
    assert h.heart_rate_prescan_bpm == 58.0
    assert h.sources["heart_rate_prescan_bpm"] == ("(0049,1001) GEMS_CT_CARDIAC_001 CT Cardiac Sequence > "
                                                   "(0049,1002) GEMS_CT_CARDIAC_001 HeartRateAtConfirm")
    assert h.trigger_delay_ms is None and h.pitch is None  # no RPeakTimeDelay, no pitch in these headers


def test_real_canon_phantom_has_no_cardiac_values(real):
    (h,) = [h for name, h in real.items() if name.startswith("qrm-cci-canon-aquilion-one-large:")]
    # TOSHIBA Aquilion ONE, no TOSHIBA_MEC_CT3 block (its ELSCINT1 blocks are another vendor's: ignored)
    assert (h.manufacturer, h.n_images, h.kvp, h.slice_thickness_mm, h.kernel) == ("TOSHIBA", 47, 120.0, 3.0, "FC12")
    assert (h.trigger_phase_pct, h.trigger_delay_ms, h.heart_rate_bpm, h.pitch, h.heart_rate_prescan_bpm) == (
        None, None, None, None, None)


@pytest.mark.parametrize("vendor", ["generic", "ge", "siemens", "canon", "philips"])
def test_synthetic_series_named_values(synthetic, vendor):
    h = synthetic[f"synth-{vendor}"]
    # qa.dicom.write.ct_image: 60 bpm, 70 % phase -> NominalCardiacTriggerDelayTime 0.70 x 1000 ms
    assert (h.heart_rate_bpm, h.trigger_phase_pct, h.trigger_delay_ms) == (60.0, 70.0, 700.0)
    assert h.sources["heart_rate_bpm"] == f"(0018,1088) HeartRate (mean over {h.n_images} images)"
    assert h.sources["trigger_phase_pct"] == "(0020,9241) NominalPercentageOfCardiacPhase"
    assert h.sources["trigger_delay_ms"] == "(0020,9153) NominalCardiacTriggerDelayTime"
    assert h.pitch is None and h.heart_rate_prescan_bpm is None


NAMED_VARIANTS = {
    # name: {field: (value, source)}; None: no value and no source
    "ge-private": {
        "heart_rate_bpm": (64.0, "(0045,1031) GEMS_HELIOS_01 AvgHeartRateForImage (mean over 5 images)"),
        "trigger_phase_pct": (75.0, "(0045,1033) GEMS_HELIOS_01 PctRpeakDelay"),
        "trigger_delay_ms": (612.0, "(0045,103F) GEMS_HELIOS_01 RPeakTimeDelay"),
        "heart_rate_prescan_bpm": (61.0, "(0049,1001) GEMS_CT_CARDIAC_001 CT Cardiac Sequence > "
                                         "(0049,1002) GEMS_CT_CARDIAC_001 HeartRateAtConfirm"),
        "pitch": None,
    },
    "siemens-image-comments": {
        "heart_rate_bpm": (72.0, "(0020,4000) ImageComments (Siemens 'bpm') (mean over 5 images)"),
        "trigger_phase_pct": (55.0, "(0020,4000) ImageComments (Siemens '%')"),
        "trigger_delay_ms": (153.0, "(0020,4000) ImageComments (Siemens 'ms')"),
        "heart_rate_prescan_bpm": None, "pitch": None,
    },
    "siemens-scan-options": {
        "heart_rate_bpm": None,
        "trigger_phase_pct": (55.0, "(0018,0022) ScanOptions 'TP55PC0842' (Siemens 'TP': trigger phase %)"),
        "trigger_delay_ms": None, "heart_rate_prescan_bpm": None, "pitch": None,
    },
    "canon-private": {
        "heart_rate_bpm": (60000 / 923, "(7005,1003) TOSHIBA_MEC_CT3 Cardiac R-R Mean Time (60000 / RR ms) (mean over 5 images)"),
        "trigger_phase_pct": (75.0, "(7005,1004) TOSHIBA_MEC_CT3 Cardiac Reconstruction Gating Phase in Percent"),
        "trigger_delay_ms": (692.0, "(7005,1005) TOSHIBA_MEC_CT3 Cardiac Reconstruction Gating Phase in ms"),
        "pitch": (0.2, "(7005,1023) TOSHIBA_MEC_CT3 Pitch Factor"),
        "heart_rate_prescan_bpm": None,
    },
    "philips-private-percent": {
        "heart_rate_bpm": (61.0, "(01F1,1045) ELSCINT1 Initial Heart Rate (mean over 5 images)"),
        "trigger_phase_pct": (78.0, "(01F1,1041) ELSCINT1 Gating Delay"),
        "trigger_delay_ms": None,
        "pitch": (0.18, "(01F1,1026) ELSCINT1 Pitch"),
        "heart_rate_prescan_bpm": None,
    },
    "philips-private-ms": {
        "trigger_phase_pct": None,
        "trigger_delay_ms": (350.0, "(01F1,1041) ELSCINT1 Gating Delay"),
        "heart_rate_bpm": None, "pitch": None, "heart_rate_prescan_bpm": None,
    },
}


@pytest.mark.parametrize("name", sorted(NAMED_VARIANTS))
def test_vendor_conventions_named_values(synthetic, name):
    h = synthetic[name]
    assert h.n_images == 5
    for field, expected in NAMED_VARIANTS[name].items():
        if expected is None:
            assert getattr(h, field) is None and field not in h.sources, field
        else:
            assert getattr(h, field) == pytest.approx(expected[0]) and h.sources[field] == expected[1], field


# ------------------------------------------------------------------------- the record


# Fields added to AcquisitionHeaders after the record was made (each a new reading, not a change of
# an old one): the scanner's Device UID and institution, which identify it without a serial number;
# the body part and protocol name, which choose the k of a dose estimated from the headers.
ADDED_SINCE_THE_RECORD = {"device_uid", "institution_name", "body_part_examined", "protocol_name"}


def _compare(name: str, h, record: dict) -> None:
    assert name in record, f"{name} is not in {RECORD.name}"
    now, before = _snapshot(h), record[name]
    assert sorted(set(now) - ADDED_SINCE_THE_RECORD) == sorted(before)
    changed = {k: (before[k], now[k]) for k in before if now[k] != before[k]}
    assert not changed, f"{name}: read_headers output changed (before, now): {changed}"


def test_synthetic_series_unchanged(synthetic, record):
    assert {k for k in record if k.startswith("synth-") or k in _VARIANTS} == set(synthetic)
    for name, h in synthetic.items():
        _compare(name, h, record)


def test_real_series_unchanged(real, record):
    assert {k for k in record if ":" in k} == set(real)
    for name, h in real.items():
        _compare(name, h, record)
