"""Merging the dose reports of one study (see :func:`qa.dicom.rdsr.merge_reports` for the rules).

Pure: records in, a record out.  Events are identified by their Irradiation Event UID; an event
without one (Philips dose info) is identified by its report and position.
"""

from __future__ import annotations

from qa.dicom.rdsr_common import dlp_by_phantom, round_dlp
from qa.records.dose import DoseEvent, DoseReport, StudyDose


def merge_study(reports: list[DoseReport]) -> StudyDose:
    """The reports of one study (same StudyInstanceUID) as one StudyDose.

    The rules are those of :func:`qa.dicom.rdsr.merge_reports`.
    """
    unique: dict[str, DoseReport] = {}
    for report in reports:
        unique.setdefault(report.sop_instance_uid or report.path, report)
    reps = list(unique.values())
    keys = [frozenset(_event_key(r, i, e) for i, e in enumerate(r.events)) for r in reps]
    kept: list[int] = []
    superseded: list[int] = []
    for i in sorted(range(len(reps)), key=lambda i: (-len(keys[i]), -i)):
        (superseded if any(keys[i] <= keys[k] for k in kept) else kept).append(i)
    kept.sort()
    events, seen = [], set()
    for i in kept:
        for n, event in enumerate(reps[i].events):
            key = _event_key(reps[i], n, event)
            if key not in seen:
                seen.add(key)
                events.append(event)
    notes: list[str] = []
    own = [reps[i].dlp_total_mgycm for i in kept]
    disjoint = sum(len(keys[i]) for i in kept) == len(seen)
    re_sends = f"; {len(superseded)} cumulative re-send(s) superseded" if superseded else ""
    if len(kept) == 1 and own[0] is not None:
        only = reps[kept[0]]
        total, method = own[0], f"own total ({only.dlp_total_source}) of report {_name(only)}{re_sends}"
    elif disjoint and None not in own:
        total = round_dlp(sum(own))  # type: ignore[arg-type]
        method = f"sum of the own totals of {len(kept)} reports with disjoint events{re_sends}"
    else:
        dlps = [e.dlp_mgycm for e in events if e.dlp_mgycm is not None]
        total = round_dlp(sum(dlps)) if dlps else None
        why = "a report has no own total" if None in own else "the reports share some events"
        method = f"sum of the kept events' DLP ({why}){re_sends}"
        notes.append(f"study DLP total is the sum of event DLPs because {why}")
    devices = sorted({_device(r) for r in reps})
    if len(devices) > 1:
        notes.append(f"reports with one Study Instance UID come from {len(devices)} different scanners ({'; '.join(devices)}): "
                     "check that they really are one study (the study is shown with the first report's scanner)")
    dates = sorted({r.study_datetime[:10] for r in reps if r.study_datetime})
    if len(dates) > 1:
        notes.append(f"reports with one Study Instance UID give different study dates ({', '.join(dates)})")
    first = reps[kept[0]]
    return StudyDose(
        study_key=reps[0].study_key,
        sop_instance_uids=tuple(r.sop_instance_uid or "" for r in reps),
        superseded_sop_instance_uids=tuple(reps[i].sop_instance_uid or "" for i in sorted(superseded)),
        paths=tuple(r.path for r in reps),
        source_files=tuple(r.source_file for r in reps),
        events=tuple(events),
        dlp_total_mgycm=total,
        dlp_total_method=method,
        dlp_by_phantom_mgycm=dlp_by_phantom(events),
        manufacturer=first.manufacturer,
        model=first.model,
        device_serial_number=first.device_serial_number,
        station_name=first.station_name,
        study_datetime=first.study_datetime,
        warnings=tuple(notes) + tuple(w for i in kept for w in reps[i].warnings),
    )


def _event_key(report: DoseReport, index: int, event: DoseEvent) -> str:
    return event.irradiation_event_uid or f"{report.sop_instance_uid or report.path}#{index}"


def _device(report: DoseReport) -> str:
    return " ".join(v for v in (report.manufacturer, report.model, report.device_serial_number and f"serial {report.device_serial_number}")
                    if v) or "an unnamed device"


def _name(report: DoseReport) -> str:
    return report.sop_instance_uid or report.path
