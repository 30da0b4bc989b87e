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
from qa.records.dose import DoseEvent, DoseReport, dlp_totals_disagree
from qa.records.identity import Pseudonymiser
from qa.records.plausibility import require_possible, unusual


def finish_report(ctx: sr.Context, events: tuple[DoseEvent, ...], *, header, pseudonymise: Pseudonymiser,
                  event_where: str = "CT Acquisition {n}", **fields_) -> DoseReport:
    """The report record, with the consistency checks every kind of report gets; the
    StudyInstanceUID of ``header`` only as its pseudonym.  Impossible values (a negative DLP,
    CTDIvol, time or length; see :mod:`qa.records.plausibility`) refuse the report with the
    field named; unusual ones are kept and flagged in ``warnings``."""
    check_plausible(ctx, events, fields_["dlp_total_mgycm"], fields_.get("dlp_total_source"), event_where)
    events_sum = round_dlp(sum(e.dlp_mgycm for e in events if e.dlp_mgycm is not None))
    total, n_reported = fields_["dlp_total_mgycm"], fields_["n_events_reported"]
    if n_reported is not None and n_reported != len(events):
        ctx.warn(f"the report says {n_reported} irradiation events but holds {len(events)}")
    uids = [e.irradiation_event_uid for e in events if e.irradiation_event_uid]
    if len(set(uids)) != len(uids):
        ctx.warn("some Irradiation Event UIDs occur more than once in the report: each of their events is counted")
    if total is not None and dlp_totals_disagree(total, events_sum):
        ctx.warn(f"the report's own DLP total {total:g} mGy.cm differs from the sum of its events' "
                 f"DLP {events_sum:g} mGy.cm (the larger is judged against the reference level)")
    return DoseReport(
        study_key=pseudonymise(attr.raw_text(header, "StudyInstanceUID")),
        source_file=os.path.basename(str(fields_["path"]).split("!")[-1]),
        study_datetime=sr.iso_datetime(date_time(header, "StudyDate", "StudyTime")),
        study_description=attr.text(header, "StudyDescription"),
        series_datetime=sr.iso_datetime(date_time(header, "SeriesDate", "SeriesTime")),
        events=events,
        dlp_events_sum_mgycm=events_sum,
        dlp_by_phantom_mgycm=dlp_by_phantom(events),
        warnings=tuple(ctx.warnings),
        named_qa=names_phantom_qa([header], events),
        **fields_,
    )


# What a study's objects say that may name phantom QA (qa.records.phantom_qa): PatientName is read for this only.
QA_TEXT_KEYWORDS = ("StudyDescription", "SeriesDescription", "ProtocolName", "PerformedProcedureStepDescription", "PatientName")


def names_phantom_qa(datasets, events=()) -> bool:
    """Do these datasets' descriptions or patient name, or these dose events' acquisition
    protocols, name phantom QA (:func:`qa.records.phantom_qa.is_phantom_qa`)?  The patient name is
    used for this answer only, never kept."""
    from qa.records.phantom_qa import is_phantom_qa

    texts = [attr.text(ds, k) for ds in datasets for k in QA_TEXT_KEYWORDS]
    return is_phantom_qa(texts + [e.acquisition_protocol for e in events])


# Event fields -> plausibility quantity (qa.records.plausibility.RANGES); tuples hold one value per X-ray source.
_EVENT_QUANTITIES = {
    "kvp": "kvp", "tube_current_ma": "tube_current_ma", "max_tube_current_ma": "tube_current_ma",
    "exposure_time_per_rotation_s": "duration_s", "exposure_time_s": "duration_s",
    "scanning_length_mm": "length_mm", "single_collimation_mm": "length_mm", "total_collimation_mm": "length_mm",
    "pitch": "pitch", "ctdivol_mgy": "ctdivol_mgy", "dlp_mgycm": "dlp_mgycm", "ssde_mgy": "ctdivol_mgy",
}
# Flagged when outside the usual range (the others are only refused when impossible).
_FLAGGED = ("kvp", "ctdivol_mgy", "dlp_mgycm")


def check_plausible(ctx: sr.Context, events: Iterable[DoseEvent], total: float | None, total_source: str | None,
                    event_where: str) -> None:
    """Refuse (``ImpossibleValue`` naming the file and field) a report with an impossible number;
    add a warning for each unusual dose, DLP or kVp."""
    for n, event in enumerate(events, 1):
        where = event_where.format(n=n)
        for name, quantity in _EVENT_QUANTITIES.items():
            value = getattr(event, name)
            for v in (value if isinstance(value, tuple) else (value,)):
                if v is None:
                    continue
                source = event.sources.get(name, name)
                field = source if source.startswith(where) else f"{where}: {name} ({source})"
                require_possible(quantity, v, path=ctx.label, field=field)
                if name in _FLAGGED:
                    note = unusual(quantity, v, field=field)
                    if note:
                        ctx.warn(note)
    if total is not None:
        field = f"CT Dose Length Product Total ({total_source or 'DCM 113813'})"
        require_possible("dlp_mgycm", total, path=ctx.label, field=field)
        note = unusual("dlp_mgycm", total, field=field)
        if note:
            ctx.warn(note)


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


