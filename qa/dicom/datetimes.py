"""DICOM date-times as ISO 8601 text (PS3.5 6.2: DT, or a DA followed by a TM).

Its own module, light to import: the slice table of every image series needs it, the dose-report
readers (qa.dicom.sr_content) too.
"""

from __future__ import annotations

import datetime as dt
import re

_DT = re.compile(r"^(\d{4})(\d\d)(\d\d)(?:(\d\d)(\d\d)?(\d\d)?(?:\.(\d{1,6}))?)?([+-]\d{4})?$")


def iso_datetime(value: str | None) -> str | None:
    """A DICOM DT (or DA followed by TM) value as ISO 8601, or None when it is not one."""
    match = _DT.match((value or "").strip().replace(":", ""))
    if not match:
        return None
    y, mo, d, hh, mi, ss, frac, tz = match.groups()
    try:
        stamp = dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                            int((frac or "0").ljust(6, "0")))
    except ValueError:
        return None
    return stamp.isoformat() + (f"{tz[:3]}:{tz[3:]}" if tz else "")
