"""What every kind of dose report shares once read: consistency checks and DLP subtotals.

Used by the SR reader (:mod:`qa.dicom.rdsr`), the Philips capture reader
(:mod:`qa.dicom.rdsr_philips`) and the merging of a study's reports (:mod:`qa.dicom.rdsr_merge`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from qa.dicom import attributes as attr
from qa.dicom import rdsr_codes as C
from qa.dicom import sr_content as sr
from qa.records.dose import DoseEvent, DoseReport
from qa.records.identity import Pseudonymiser


def finish_report(ctx: sr.Context, events: tuple[DoseEvent, ...], *, header, pseudonymise: Pseudonymiser, **fields_) -> DoseReport:
    """The report record, with the consistency checks every kind of report gets; the
    StudyInstanceUID of ``header`` only as its pseudonym."""
    events_sum = round_dlp(sum(e.dlp_mgycm for e in events if e.dlp_mgycm is not None))
    total, n_reported = fields_["dlp_total_mgycm"], fields_["n_events_reported"]
    if n_reported is not None and n_reported != len(events):
        ctx.warn(f"the report says {n_reported} irradiation events but holds {len(events)}")
    uids = [e.irradiation_event_uid for e in events if e.irradiation_event_uid]
    if len(set(uids)) != len(uids):
        ctx.warn("some Irradiation Event UIDs occur more than once in the report")
    if total is not None and abs(total - events_sum) > 0.05 + 1e-3 * abs(total):
        ctx.warn(f"the report's own DLP total {total:g} mGy.cm differs from the sum of its events' "
                 f"DLP {events_sum:g} mGy.cm; the own total is kept")
    return DoseReport(
        study_key=pseudonymise(attr.raw_text(header, "StudyInstanceUID")),
        source_file=os.path.basename(str(fields_["path"]).split("!")[-1]),
        study_datetime=sr.iso_datetime(date_time(header, "StudyDate", "StudyTime")),
        series_datetime=sr.iso_datetime(date_time(header, "SeriesDate", "SeriesTime")),
        events=events,
        dlp_events_sum_mgycm=events_sum,
        dlp_by_phantom_mgycm=dlp_by_phantom(events),
        warnings=tuple(ctx.warnings),
        **fields_,
    )


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def round_dlp(value: float) -> float:
    """DLP sums rounded to 1e-6 mGy cm (float noise off, nothing a report states lost)."""
    return round(value, 6)


def dlp_by_phantom(events: Iterable[DoseEvent]) -> dict[str, float]:
    """DLP subtotals (mGy.cm) of events measured in the head and body phantoms; 'unknown' for the rest."""
    out = dict.fromkeys(C.PHANTOM_KEYS, 0.0)
    for e in events:
        if e.dlp_mgycm is not None:
            out[e.phantom or "unknown"] += e.dlp_mgycm
    return {k: round_dlp(v) for k, v in out.items()}


def date_time(ds, date_key: str, time_key: str) -> str | None:
    date = attr.raw_text(ds, date_key)
    return date + (attr.raw_text(ds, time_key) or "") if date else None


