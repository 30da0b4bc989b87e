"""Header values with their source: standard attributes, then the vendors' private tags.

Private elements are found by their private creator (never by a fixed block number); every value
comes back with its source ("(0045,1033) GEMS_HELIOS_01 PctRpeakDelay").  Tag meanings are those
of pydicom's private dictionary; Siemens' ImageComments convention ("72 bpm, 55 %, 153 ms") is read
off Siemens cardiac headers.
"""

from __future__ import annotations

import math
import re
from typing import Any

from qa.dicom import attributes as attr
from qa.records.identity import vendor_of  # noqa: F401  (re-exported for the header readers)


def _number(value: Any) -> float | None:
    """A finite number from a DICOM value (DS/IS text, bytes of a UN element, a number), else None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1").strip("\x00 ")
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, str)):
        value = list(value)
        if not value:
            return None
        value = value[0]
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, str)):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip("\x00 ")
    return text or None


def _tag_name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _standard(ds, keyword: str) -> tuple[Any, str | None]:
    """A standard attribute, top level or inside the enhanced functional groups, with its source."""
    value = attr.lookup(ds, keyword)
    if value is None or value == "":
        return None, None
    return value, f"{_tag_name(attr.tag(keyword))} {keyword}"


def _first(candidates) -> tuple[float | None, str | None]:
    for value, source in candidates:
        number = _number(value)
        if number is not None:
            return number, source
    return None, None


def _private(ds, group: int, creator: str, offset: int, name: str) -> tuple[Any, str | None]:
    """A private element by its creator (never by a fixed block number), with its source."""
    try:
        block = ds.private_block(group, creator)
        elem = block[offset]
    except (KeyError, ValueError):
        return None, None
    if elem.value in (None, "", b""):
        return None, None
    return elem.value, f"{_tag_name(int(elem.tag))} {creator} {name}"


# Siemens ImageComments on gated series, e.g. "72 bpm, 55 %, 153 ms" (the OsiriX sample headers).
_SIEMENS_BPM = re.compile(r"(\d+(?:\.\d+)?)\s*bpm", re.I)


_SIEMENS_PCT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


_SIEMENS_TP = re.compile(r"^TP(\d{1,3})(?:PC\d+)?$")
_SIEMENS_MS = re.compile(r"(-?\d+(?:\.\d+)?)\s*ms\b", re.I)


def _image_heart_rate(ds, vendor: str | None) -> tuple[float | None, str | None]:
    candidates = [_standard(ds, "HeartRate")]
    if vendor == "ge":
        candidates.append(_private(ds, 0x0045, "GEMS_HELIOS_01", 0x31, "AvgHeartRateForImage"))
    if vendor == "siemens":
        comments = _text(attr.lookup(ds, "ImageComments")) or ""
        match = _SIEMENS_BPM.search(comments)
        if match:
            candidates.append((match.group(1), "(0020,4000) ImageComments (Siemens 'bpm')"))
    if vendor == "canon":
        rr, source = _private(ds, 0x7005, "TOSHIBA_MEC_CT3", 0x03, "Cardiac R-R Mean Time")
        rr_ms = _number(rr)
        if rr_ms and rr_ms > 0:
            candidates.append((60000.0 / rr_ms, f"{source} (60000 / RR ms)"))
    if vendor == "philips":
        candidates.append(_private(ds, 0x01F1, "ELSCINT1", 0x45, "Initial Heart Rate"))
    return _first(candidates)


def _ge_cardiac_item(ds, offset: int, name: str) -> tuple[Any, str | None]:
    """An element of the GE cardiac sequence (0049,xx01) GEMS_CT_CARDIAC_001."""
    seq, source = _private(ds, 0x0049, "GEMS_CT_CARDIAC_001", 0x01, "CT Cardiac Sequence")
    if not seq:
        return None, None
    value, inner = _private(seq[0], 0x0049, "GEMS_CT_CARDIAC_001", offset, name)
    return value, (f"{source} > {inner}" if inner else None)


def _trigger(ds, vendor, sources) -> tuple[float | None, float | None]:
    phase_candidates = [_standard(ds, "NominalPercentageOfCardiacPhase")]
    # TriggerTime alone is no proof of ECG gating (other modalities and tools write 0 there): a
    # delay counts only when positive.
    trigger_time, trigger_source = _standard(ds, "TriggerTime")
    delay_candidates = [_standard(ds, "NominalCardiacTriggerDelayTime")]
    if (_number(trigger_time) or 0.0) > 0:
        delay_candidates.append((trigger_time, trigger_source))
    if vendor == "ge":
        phase_candidates.append(_private(ds, 0x0045, "GEMS_HELIOS_01", 0x33, "PctRpeakDelay"))
        delay_candidates.append(_private(ds, 0x0045, "GEMS_HELIOS_01", 0x3F, "RPeakTimeDelay"))
    if vendor == "siemens":
        comments = _text(attr.lookup(ds, "ImageComments")) or ""
        if _SIEMENS_BPM.search(comments):  # only the cardiac convention "72 bpm, 55 %, 153 ms"
            pct, ms = _SIEMENS_PCT.search(comments), _SIEMENS_MS.search(comments)
            if pct:
                phase_candidates.append((pct.group(1), "(0020,4000) ImageComments (Siemens '%')"))
            if ms:
                delay_candidates.append((ms.group(1), "(0020,4000) ImageComments (Siemens 'ms')"))
        # Siemens cardiac ScanOptions such as "TP55PC0842": TP = trigger phase in % (it matches the
        # "55 %" of ImageComments in Siemens cardiac headers); the rest is not interpreted.
        options = _text(attr.lookup(ds, "ScanOptions")) or ""
        match = _SIEMENS_TP.match(options.strip().upper())
        if match:
            phase_candidates.append((match.group(1), f"(0018,0022) ScanOptions '{options.strip()}' (Siemens 'TP': trigger phase %)"))
    if vendor == "canon":
        pct, pct_source = _private(ds, 0x7005, "TOSHIBA_MEC_CT3", 0x04, "Cardiac Reconstruction Gating Phase in Percent")
        ms, ms_source = _private(ds, 0x7005, "TOSHIBA_MEC_CT3", 0x05, "Cardiac Reconstruction Gating Phase in ms")
        phase_candidates.append(((_text(pct) or "").replace("%", ""), pct_source))
        delay_candidates.append(((_text(ms) or "").lower().replace("ms", ""), ms_source))
    if vendor == "philips":
        gating, source = _private(ds, 0x01F1, "ELSCINT1", 0x41, "Gating Delay")
        text = _text(gating) or ""
        if "%" in text:
            phase_candidates.append((text.replace("%", ""), source))
        elif text:
            delay_candidates.append((text.lower().replace("ms", ""), source))
    phase, phase_source = _first(phase_candidates)
    delay, delay_source = _first(delay_candidates)
    if phase is not None:
        sources["trigger_phase_pct"] = phase_source
    if delay is not None:
        sources["trigger_delay_ms"] = delay_source
    return phase, delay
