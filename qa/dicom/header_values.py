"""Header values with their source: numbers and text from DICOM values, standard attributes.

Every value comes back with its source ("(0018,1088) HeartRate").  The vendors' private tags and
text conventions are rows of the table in :mod:`qa.dicom.private_tags`, read with these helpers.
"""

from __future__ import annotations

import math
from typing import Any

from qa.dicom import attributes as attr


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
