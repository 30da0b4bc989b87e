"""Per-slice acquisition facts of a loaded series: acquisition number, time and table position.

What :func:`qa.dicom.series.load_volume` attaches to a volume as :class:`qa.records.volume.SliceTable`
(the stacks of a step-and-shoot scan and their order come from it: :mod:`qa.motion`).  Enhanced CT
frames carry them in their Frame Content and CT Position functional groups.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from qa.dicom import attributes as attr
from qa.dicom.datetimes import iso_datetime
from qa.records.volume import SliceTable

__all__ = ["image_time", "slice_table"]

def parse_datetime(text: str | None) -> dt.datetime | None:
    """A DICOM DT (or DA + TM joined) as a naive datetime, or None when it is not one
    (:func:`qa.dicom.datetimes.iso_datetime`; a time-zone offset is dropped: local scanner time)."""
    iso = iso_datetime(text)
    return dt.datetime.fromisoformat(iso).replace(tzinfo=None) if iso else None


def image_time(ds) -> tuple[dt.datetime | None, str | None]:
    """When the image was acquired: AcquisitionDateTime, else AcquisitionDate + Time, else Content."""
    when, _ = image_time_and_source(ds)
    return when, (when.isoformat() if when else None)


def image_time_and_source(ds) -> tuple[dt.datetime | None, str | None]:
    text = attr.raw_text(ds, "AcquisitionDateTime")
    if text:
        return parse_datetime(text), "AcquisitionDateTime"
    date = attr.raw_text(ds, "AcquisitionDate") or attr.raw_text(ds, "ContentDate") or attr.raw_text(ds, "SeriesDate")
    for key in ("AcquisitionTime", "ContentTime"):
        time = attr.raw_text(ds, key)
        if date and time:
            return parse_datetime(date + time), key if key == "ContentTime" else "AcquisitionDate + AcquisitionTime"
    return None, None


def _integer(value) -> int | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number == int(number) else None


def _frame_values(ds, frame: int | None) -> tuple[int | None, dt.datetime | None, str | None, float | None]:
    """(acquisition number, time, its source, table position) of one image or frame."""
    if frame is not None and "PerFrameFunctionalGroupsSequence" in ds:
        item = ds.PerFrameFunctionalGroupsSequence[frame]
        shared_seq = ds.get("SharedFunctionalGroupsSequence")
        shared = shared_seq[0] if shared_seq else None
        fg = attr.functional_group_value
        number = _integer(fg(item, shared, "FrameContentSequence", "FrameAcquisitionNumber"))
        when = parse_datetime(fg(item, shared, "FrameContentSequence", "FrameAcquisitionDateTime"))
        source = "FrameAcquisitionDateTime" if when else None
        if when is None:
            when, source = image_time_and_source(ds)
        table = fg(item, shared, "CTPositionSequence", "TablePosition")
        return number, when, source, _finite(table)
    number = _integer(attr.raw_text(ds, "AcquisitionNumber"))
    when, source = image_time_and_source(ds)
    return number, when, source, _finite(attr.raw_text(ds, "TablePosition"))


def _finite(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def slice_table(datasets: Sequence, images: Sequence, z_mm: Sequence[float]) -> SliceTable:
    """The per-slice table of ``images`` (in slice order; ``z_mm`` their patient z)."""
    numbers, times, sources, tables = [], [], set(), []
    for image in images:
        number, when, source, table = _frame_values(datasets[image.dataset_index], image.frame)
        numbers.append(number)
        times.append(when)
        tables.append(table)
        if source:
            sources.add(source)
    have_table = all(t is not None for t in tables)
    return SliceTable(
        acquisition_numbers=tuple(numbers),
        acquisition_times=tuple(times),
        table_positions_mm=tuple(float(t) for t in tables) if have_table else tuple(float(z) for z in z_mm),
        time_source=" / ".join(sorted(sources)) or None,
        table_position_source="TablePosition (0018,9327)" if have_table else "ImagePositionPatient z",
    )
