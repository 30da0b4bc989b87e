"""Vendor conventions for acquisition headers, as data: one table row per private element or text.

A CT series' cardiac and pitch values are read by :func:`read_field`: the standard attributes of
the field first (:data:`STANDARD`), then the rows of :data:`VENDOR_TAGS` of the series' vendor
(``qa.records.identity.vendor_of``) in table order; the first usable value wins, and its source
text ("(0045,1033) GEMS_HELIOS_01 PctRpeakDelay") is derived from the row.  Adding a vendor tag is
adding a row here (and its example in ``tests/dicom/test_private_tags.py``).

Two kinds of rows:

* :class:`PrivateTag`: a private element, found by its private creator in whichever block the
  file put it (never by a fixed block number); ``within`` names the private sequence whose first
  item holds it (:class:`PrivateSequence`).
* :class:`TextConvention`: a number written into the text of a standard attribute (Siemens
  ImageComments "72 bpm, 55 %, 153 ms", ScanOptions "TP55PC0842"), taken by a regular expression.

Every row has a parser: a small pure function from the raw value to a number in the field's unit
(``heart_rate_bpm`` in beats/min, ``trigger_phase_pct`` in % of the RR interval,
``trigger_delay_ms`` in ms after the R peak, ``pitch`` dimensionless) or None when the value is
not usable: never a guess.  Every row's ``note`` says where our knowledge of it comes from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qa.dicom import attributes as attr
from qa.dicom.header_values import _number, _standard, _tag_name, _text
from qa.records.plausibility import is_possible

Parser = Callable[[Any], "float | None"]

# ------------------------------------------------------------------------------------ parsers


def number(value: Any) -> float | None:
    """A finite number (DS/IS/CS text, bytes of a UN element, a binary number; the first of several)."""
    return _number(value)


def positive_number(value: Any) -> float | None:
    """A finite number > 0, else None (TriggerTime: 0 is written by tools that do not gate)."""
    n = _number(value)
    return n if n is not None and n > 0 else None


def percent_text(value: Any) -> float | None:
    """A number written with or without a '%' sign ("75%", "75 %", "75") -> 75.0."""
    return _number((_text(value) or "").replace("%", ""))


def ms_text(value: Any) -> float | None:
    """A number written with or without 'ms' ("692ms", "692 MS", "692") -> 692.0."""
    return _number((_text(value) or "").lower().replace("ms", ""))


def rr_ms_to_bpm(value: Any) -> float | None:
    """A mean RR interval in ms -> heart rate in beats/min (60000 / RR); None unless RR > 0."""
    rr_ms = _number(value)
    if not rr_ms or rr_ms <= 0:
        return None
    bpm = 60000.0 / rr_ms
    return bpm if math.isfinite(bpm) else None


def philips_gating_phase(value: Any) -> float | None:
    """Philips Gating Delay written as a phase ("78%") -> 78.0 (% RR); a delay in ms gives None."""
    text = _text(value) or ""
    return _number(text.replace("%", "")) if "%" in text else None


def philips_gating_delay(value: Any) -> float | None:
    """Philips Gating Delay written as a time ("350 ms", "350") -> 350.0 ms; a phase ("78%") gives None."""
    text = _text(value) or ""
    if not text or "%" in text:
        return None
    return _number(text.lower().replace("ms", ""))


# ------------------------------------------------------------------------------------ rows


@dataclass(frozen=True)
class PrivateSequence:
    """A private sequence; rows ``within`` it are read from its first item."""

    group: int
    creator: str
    element: int  # the low byte: (gggg,xxEE) in the creator's block xx
    name: str
    note: str


@dataclass(frozen=True)
class PrivateTag:
    """A private element giving ``field`` for images of ``vendor``."""

    field: str
    vendor: str
    group: int
    creator: str
    element: int  # the low byte: (gggg,xxEE) in the creator's block xx
    name: str  # the element's name in the source text
    parser: Parser
    note: str
    within: PrivateSequence | None = None
    conversion: str | None = None  # how the parser computes the value, shown in the source

    @property
    def id(self) -> str:
        inner = f"{self.within.group:04X},{self.within.element:02X}>" if self.within else ""
        return f"{self.vendor}:{self.field}:{self.creator}:{inner}{self.group:04X},{self.element:02X}"

    def locate(self, ds) -> tuple[Any, str | None]:
        """The raw value and its source text, or (None, None) when the element is absent or empty."""
        prefix = ""
        if self.within is not None:
            seq = self.within
            sequence, seq_source = _private_element(ds, seq.group, seq.creator, seq.element, seq.name)
            try:
                item = sequence[0]  # a pydicom Sequence; not for text or bytes (a UN element)
            except (TypeError, IndexError, KeyError):
                return None, None
            if not hasattr(item, "private_block"):
                return None, None
            ds, prefix = item, f"{seq_source} > "
        value, source = _private_element(ds, self.group, self.creator, self.element, self.name)
        if source is None:
            return None, None
        return value, prefix + source + (f" ({self.conversion})" if self.conversion else "")


@dataclass(frozen=True)
class TextConvention:
    """A number in the text of a standard attribute, giving ``field`` for images of ``vendor``."""

    field: str
    vendor: str
    keyword: str  # the standard attribute holding the text
    pattern: re.Pattern  # searched in the text; its first group is the raw value
    label: str  # what the pattern stands for, in the source text
    note: str
    parser: Parser = number
    only_if: re.Pattern | None = None  # the text must also hold this (e.g. "bpm": the cardiac convention)
    quote_text: bool = False  # the source quotes the attribute's text

    @property
    def id(self) -> str:
        return f"{self.vendor}:{self.field}:{self.keyword}:{self.label}"

    def locate(self, ds) -> tuple[Any, str | None]:
        """The matched text and its source, or (None, None) when the attribute does not follow the convention."""
        text = (_text(attr.lookup(ds, self.keyword)) or "").strip()
        if self.only_if is not None and not self.only_if.search(text):
            return None, None
        match = self.pattern.search(text)
        if not match:
            return None, None
        quoted = f" '{text}'" if self.quote_text else ""
        return match.group(1), f"{_tag_name(attr.tag(self.keyword))} {self.keyword}{quoted} ({self.label})"


def _private_element(ds, group: int, creator: str, element: int, name: str) -> tuple[Any, str | None]:
    """A private element by its creator (never by a fixed block number): (value, source) or (None, None)."""
    try:
        elem = ds.private_block(group, creator)[element]
    except (KeyError, ValueError):
        return None, None
    if elem.value is None or (isinstance(elem.value, (str, bytes)) and elem.value in ("", b"")):
        return None, None
    return elem.value, f"{_tag_name(int(elem.tag))} {creator} {name}"


# ------------------------------------------------------------------------------------ the table

# Where our knowledge comes from (the notes below refer to these):
_PYDICOM = "pydicom's private dictionary (pydicom/_private_dict.py)"
_GE_SMARTSCORE = ("the GE LightSpeed Ultra 'SmartScore - Gated' headers of pydicom's test files "
                  "(dicomdirtests/98892001/CT5N, in ../shared/data/dicom/ct)")
_SIEMENS_OSIRIX = ("the Siemens Sensation 64/16 cardiac CTA headers of the OsiriX sample library "
                   "(dwv tests/data osirix-toutatix-100.dcm; facts only, see ../shared/data/dicom/SOURCES.md)")

GE_CARDIAC_SEQUENCE = PrivateSequence(
    0x0049, "GEMS_CT_CARDIAC_001", 0x01, "CT Cardiac Sequence",
    note=f"{_PYDICOM} (0049,xx01) SQ; one item in {_GE_SMARTSCORE}",
)

_BPM = re.compile(r"(\d+(?:\.\d+)?)\s*bpm", re.I)

VENDOR_TAGS: tuple[PrivateTag | TextConvention, ...] = (
    # ---- GE
    PrivateTag("heart_rate_bpm", "ge", 0x0045, "GEMS_HELIOS_01", 0x31, "AvgHeartRateForImage", number,
               note=f"{_PYDICOM} (0045,xx31) CS; 76 and 68 bpm in {_GE_SMARTSCORE}"),
    PrivateTag("trigger_phase_pct", "ge", 0x0045, "GEMS_HELIOS_01", 0x33, "PctRpeakDelay", number,
               note=f"{_PYDICOM} (0045,xx33) CS; 70 (%) in {_GE_SMARTSCORE}"),
    PrivateTag("trigger_delay_ms", "ge", 0x0045, "GEMS_HELIOS_01", 0x3F, "RPeakTimeDelay", number,
               note=f"{_PYDICOM} (0045,xx3F) IS; not in the sample headers: the unit (ms) is our reading of its name"),
    PrivateTag("heart_rate_prescan_bpm", "ge", 0x0049, "GEMS_CT_CARDIAC_001", 0x02, "HeartRateAtConfirm", number,
               within=GE_CARDIAC_SEQUENCE,
               note=f"{_PYDICOM} (0049,xx02) CS, inside (0049,xx01); 58 bpm in {_GE_SMARTSCORE}"),
    # ---- Siemens: no private element; numbers in standard text attributes
    TextConvention("heart_rate_bpm", "siemens", "ImageComments", _BPM, "Siemens 'bpm'",
                   note=f"ImageComments '72 bpm, 55 %, 153 ms' in {_SIEMENS_OSIRIX}"),
    TextConvention("trigger_phase_pct", "siemens", "ImageComments", re.compile(r"(\d+(?:\.\d+)?)\s*%"),
                   "Siemens '%'", only_if=_BPM,
                   note=f"the '55 %' of ImageComments '72 bpm, 55 %, 153 ms' in {_SIEMENS_OSIRIX}; "
                        "read only with a 'bpm' value (the cardiac convention)"),
    TextConvention("trigger_phase_pct", "siemens", "ScanOptions", re.compile(r"^TP(\d{1,3})(?:PC\d+)?$", re.I),
                   "Siemens 'TP': trigger phase %", quote_text=True,
                   note=f"ScanOptions 'TP55PC0842' in {_SIEMENS_OSIRIX}: TP 55 matches their '55 %'; "
                        "the rest (PC...) is not interpreted"),
    TextConvention("trigger_delay_ms", "siemens", "ImageComments", re.compile(r"(-?\d+(?:\.\d+)?)\s*ms\b", re.I),
                   "Siemens 'ms'", only_if=_BPM,
                   note=f"the '153 ms' of ImageComments '72 bpm, 55 %, 153 ms' in {_SIEMENS_OSIRIX}; "
                        "read only with a 'bpm' value (the cardiac convention)"),
    # ---- Toshiba / Canon
    PrivateTag("heart_rate_bpm", "canon", 0x7005, "TOSHIBA_MEC_CT3", 0x03, "Cardiac R-R Mean Time", rr_ms_to_bpm,
               conversion="60000 / RR ms",
               note=f"{_PYDICOM} (7005,xx03) SH; not in the public sample headers: the unit (ms) is our reading"),
    PrivateTag("trigger_phase_pct", "canon", 0x7005, "TOSHIBA_MEC_CT3", 0x04,
               "Cardiac Reconstruction Gating Phase in Percent", percent_text,
               note=f"{_PYDICOM} (7005,xx04) SH; a '%' sign is allowed (SH text)"),
    PrivateTag("trigger_delay_ms", "canon", 0x7005, "TOSHIBA_MEC_CT3", 0x05,
               "Cardiac Reconstruction Gating Phase in ms", ms_text,
               note=f"{_PYDICOM} (7005,xx05) SH; an 'ms' suffix is allowed (SH text)"),
    PrivateTag("pitch", "canon", 0x7005, "TOSHIBA_MEC_CT3", 0x23, "Pitch Factor", number,
               note=f"{_PYDICOM} (7005,xx23) DS"),
    # ---- Philips (Elscint heritage)
    PrivateTag("heart_rate_bpm", "philips", 0x01F1, "ELSCINT1", 0x45, "Initial Heart Rate", number,
               note=f"{_PYDICOM} (01F1,1045) IS 'Initial Heart Rate' (its generic (01F1,xx45) entry says 'Unknown')"),
    PrivateTag("trigger_phase_pct", "philips", 0x01F1, "ELSCINT1", 0x41, "Gating Delay", philips_gating_phase,
               note=f"{_PYDICOM} (01F1,1041) LO 'Gating Delay'; a phase when written with '%' (our reading)"),
    PrivateTag("trigger_delay_ms", "philips", 0x01F1, "ELSCINT1", 0x41, "Gating Delay", philips_gating_delay,
               note=f"{_PYDICOM} (01F1,1041) LO 'Gating Delay'; a time in ms when written without '%' (our reading)"),
    PrivateTag("pitch", "philips", 0x01F1, "ELSCINT1", 0x26, "Pitch", number,
               note=f"{_PYDICOM} (01F1,xx26) DS 'Pitch'"),
)

# The standard attributes of each field, read before any vendor row (PS3.3 C.7.6.16.2.7 Cardiac
# Synchronization, C.8.15.3.8 CT Acquisition Details); a field that is not here has none.
STANDARD: dict[str, tuple[tuple[str, Parser], ...]] = {
    "heart_rate_bpm": (("HeartRate", number),),
    "trigger_phase_pct": (("NominalPercentageOfCardiacPhase", number),),
    # TriggerTime alone is no proof of ECG gating (other modalities and tools write 0 there)
    "trigger_delay_ms": (("NominalCardiacTriggerDelayTime", number), ("TriggerTime", positive_number)),
    "pitch": (("SpiralPitchFactor", number),),
    "heart_rate_prescan_bpm": (),
}


# Fields -> plausibility quantity (qa.records.plausibility): an impossible value (a heart rate of
# 0 bpm, which some scanners write when no ECG was recorded) is not usable, so the next candidate
# is tried and, when none is left, the field is missing (its check then says not available).
_QUANTITIES = {"heart_rate_bpm": "heart_rate_bpm", "heart_rate_prescan_bpm": "heart_rate_bpm",
               "trigger_phase_pct": "phase_pct", "trigger_delay_ms": "trigger_delay_ms", "pitch": "pitch"}


def read_field(ds, field: str, vendor: str | None,
               rejected: list[tuple[float, str]] | None = None) -> tuple[float | None, str | None]:
    """``field`` of one image: the standard attributes, then ``vendor``'s rows; the first usable value wins.

    Returns (value in the field's unit, source text) or (None, None).  Impossible values are
    skipped and appended to ``rejected`` as (value, source), for the caller's warning.
    """
    quantity = _QUANTITIES.get(field)

    def usable(value, source) -> bool:
        if value is None:
            return False
        if quantity is not None and not is_possible(quantity, value):
            if rejected is not None:
                rejected.append((value, source))
            return False
        return True

    for keyword, parser in STANDARD.get(field, ()):
        raw, source = _standard(ds, keyword)
        value = parser(raw)
        if usable(value, source):
            return value, source
    for row in VENDOR_TAGS:
        if row.field != field or row.vendor != vendor:
            continue
        raw, source = row.locate(ds)
        value = row.parser(raw) if source is not None else None
        if usable(value, source):
            return value, source
    return None, None
