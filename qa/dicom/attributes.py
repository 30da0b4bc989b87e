"""Reading attribute values from pydicom datasets, quickly and with clear errors.

Headers of hundreds of files are read per series, so the common ASCII-valued attributes (CS, UI,
DS, IS) and unsigned shorts are taken from the raw element bytes instead of through pydicom's
value conversion, which is much slower.  Every failure names the file and the attribute.
"""

from __future__ import annotations

import math
from typing import Any

from collections.abc import MutableSequence

from qa.errors import InputError

_TAG_CACHE: dict[str, int] = {}

_HINT_REEXPORT = "re-export the series from the scanner or PACS; the file does not follow the DICOM standard"


def tag(keyword: str) -> int:
    """The tag of a DICOM keyword (cached; a pydicom ``BaseTag``, which datasets look up without converting it)."""
    value = _TAG_CACHE.get(keyword)
    if value is None:
        from pydicom.datadict import tag_for_keyword
        from pydicom.tag import BaseTag

        found = tag_for_keyword(keyword)
        if found is None:
            raise KeyError(keyword)
        value = _TAG_CACHE[keyword] = BaseTag(found)
    return value


def raw_text(ds, keyword: str) -> str | None:
    """An ASCII-valued attribute (CS, UI, DS, IS) as text, multiple values joined by a backslash.

    Only for VRs whose character repertoire is ASCII by definition: the raw bytes are decoded
    without pydicom's conversion.
    """
    elem = ds.get_item(tag(keyword), keep_deferred=True)
    if elem is None:
        return None
    if getattr(elem, "is_raw", False) and elem.value is not None:
        text = elem.value.decode("latin-1").strip(" \x00")
        return text or None
    value = ds[keyword].value if getattr(elem, "is_raw", False) else elem.value
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, (str, bytes))):
        return "\\".join(str(v) for v in value)
    return str(value).strip() or None


def raw_us(ds, keyword: str) -> int | None:
    """An unsigned short (US) attribute without pydicom's value conversion."""
    elem = ds.get_item(tag(keyword), keep_deferred=True)
    if elem is None:
        return None
    if getattr(elem, "is_raw", False) and elem.value is not None:
        if len(elem.value) < 2:
            return None
        return int.from_bytes(elem.value[:2], "little" if elem.is_little_endian else "big")
    value = ds[keyword].value if getattr(elem, "is_raw", False) else elem.value
    return int(value) if value not in (None, "") else None


def raw_floats(ds, keyword: str, n: int, label: str) -> tuple[float, ...] | None:
    """``n`` finite numbers from a DS attribute, or None when it is absent or empty."""
    text = raw_text(ds, keyword)
    return None if text is None else to_floats(text, n, label, keyword)


def raw_float(ds, keyword: str, label: str) -> float | None:
    """One finite number from a DS or IS attribute, or None when it is absent or empty."""
    text = raw_text(ds, keyword)
    return None if text is None else to_float(text, label, keyword)


def text(ds, keyword: str) -> str | None:
    """Any attribute as text through pydicom (character sets honoured); None when absent or empty.

    A multi-valued attribute (pydicom's MultiValue, or a list) is its non-empty values joined with
    a backslash, as DICOM writes them; a single value is its text: a PN (pydicom's PersonName
    iterates over its characters) is never taken for a list."""
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, MutableSequence)):  # pydicom's MultiValue is a MutableSequence
        return "\\".join(t for t in (str(v).strip() for v in value) if t) or None
    return str(value).strip() or None


def to_float(value: Any, label: str, keyword: str) -> float | None:
    """A finite number, None for an empty value, or an InputError naming the file and attribute."""
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(label, keyword, f"value {value!r} is not a number", hint=_HINT_REEXPORT) from exc
    if not math.isfinite(out):
        raise InputError(label, keyword, f"value {value!r} is not a finite number", hint=_HINT_REEXPORT)
    return out


def to_floats(value: Any, n: int, label: str, keyword: str) -> tuple[float, ...] | None:
    """``n`` finite numbers (a backslash-separated text or a sequence)."""
    if value is None or value == "":
        return None
    try:
        items = list(value) if not isinstance(value, (str, bytes)) else str(value).split("\\")
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError) as exc:
        raise InputError(label, keyword, f"value {value!r} is not {n} numbers", hint=_HINT_REEXPORT) from exc
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise InputError(label, keyword, f"value {value!r} is not {n} finite numbers", hint=_HINT_REEXPORT)
    return out


def image_type(ds) -> tuple[str, ...]:
    """ImageType values, upper case."""
    value = raw_text(ds, "ImageType")
    if value is None:
        return ()
    return tuple(v.strip().upper() for v in value.split("\\"))


def functional_group_value(frame_item, shared_item, sequence: str, keyword: str):
    """``keyword`` inside functional group ``sequence``: the per-frame item first, then the shared one."""
    for container in (frame_item, shared_item):
        if container is None:
            continue
        seq = container.get(sequence)
        if seq:
            item = seq[0]
            if keyword in item:
                return item[keyword].value
    return None


def lookup(ds, keyword: str):
    """An attribute from the top level or, for enhanced objects, from the shared or first-frame
    functional groups (one or two sequence levels down)."""
    key = tag(keyword)
    if key in ds:
        try:
            return ds[key].value
        except (OverflowError, ValueError):  # pydicom cannot convert it (an IS of "inf"): the text as written,
            return raw_text(ds, keyword)  # which the readers take for what it is (not a number, so missing)
    if tag("SharedFunctionalGroupsSequence") not in ds and tag("PerFrameFunctionalGroupsSequence") not in ds:
        return None  # not an enhanced object: nothing further down
    groups = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        groups.append(per_frame[0])
    for group in groups:
        for elem in group:
            if elem.VR == "SQ" and elem.value:
                item = elem.value[0]
                if keyword in item:
                    return item[keyword].value
                for sub in item:
                    if sub.VR == "SQ" and sub.value and keyword in sub.value[0]:
                        return sub.value[0][keyword].value
    return None


def sop_class_name(uid: str) -> str:
    """A readable name for a SOP Class UID."""
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else f"SOP class {uid}"
