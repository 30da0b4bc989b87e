"""Merging the dose reports of one study (see :func:`qa.dicom.rdsr.merge_reports` for the rules).

Pure: records in, a record out.  Events are identified by their Irradiation Event UID (the n-th
event with one UID in a report is the n-th in every other report); an event without one (Philips
dose info) is identified by its report and position.  A contradiction is never resolved by file
order: when the reports give one event different dose values, the larger (the conservative
value) is used and the warnings name both files; of two files with one SOP Instance UID and
different content, the one with the larger dose is used, also flagged.
"""

from __future__ import annotations

from dataclasses import replace

from qa.dicom.rdsr_common import dlp_by_phantom, round_dlp
from qa.records.dose import DoseEvent, DoseReport, StudyDose

# The dose values of an event that must agree between the reports that hold it; the larger is used.
_DOSE_FIELDS = ("dlp_mgycm", "ctdivol_mgy", "ssde_mgy")
# What else decides how an event is dosed and compared (k-factor, phantom, localizer or scan).
_KIND_FIELDS = ("phantom", "acquisition_type", "target_region_code", "target_region_scheme")


def merge_study(reports: list[DoseReport]) -> StudyDose:
    """The reports of one study (same StudyInstanceUID) as one StudyDose.

    The rules are those of :func:`qa.dicom.rdsr.merge_reports`.
    """
    notes: list[str] = []
    reps = _one_per_instance(reports, notes)
    keys = [frozenset(_event_keys(r)) for r in reps]
    kept: list[int] = []
    superseded: list[int] = []
    # the report with the most events first; of equals, the larger dose (never the file order), then the later
    for i in sorted(range(len(reps)), key=lambda i: (-len(keys[i]), tuple(-v for v in _dose_order(reps[i])), -i)):
        (superseded if any(keys[i] <= keys[k] for k in kept) else kept).append(i)
    kept.sort()
    versions: dict[str, list[tuple[DoseReport, DoseEvent]]] = {}
    for report in reports:  # every file, superseded re-sends and copies included: each may contradict
        for key, event in zip(_event_keys(report), report.events):
            versions.setdefault(key, []).append((report, event))
    events, seen = [], set()
    for i in kept:
        for key, event in zip(_event_keys(reps[i]), reps[i].events):
            if key not in seen:
                seen.add(key)
                events.append(_agreed(key, versions[key], notes))
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
    larger = max((reps[i] for i in superseded if reps[i].dlp_total_mgycm is not None and total is not None
                  and reps[i].dlp_total_mgycm > total), key=lambda r: r.dlp_total_mgycm, default=None)
    if larger is not None:
        notes.append(f"report {larger.source_file} states a DLP total {larger.dlp_total_mgycm:g} mGy cm, more than the "
                     f"{total:g} mGy cm of the report(s) that repeat its events: the larger is used")
        total, method = larger.dlp_total_mgycm, f"own total ({larger.dlp_total_source}) of the superseded report {_name(larger)}, larger than the later total"
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
        study_description=next((r.study_description for r in reps if r.study_description), None),
        warnings=tuple(notes) + tuple(w for i in kept for w in reps[i].warnings),
        named_qa=any(r.named_qa for r in reps),
        sop_classes=tuple(r.sop_class for r in reps),
    )


def _event_keys(report: DoseReport) -> list[str]:
    """The identity of each event of ``report``: its UID (with its occurrence number when the
    report repeats the UID: two events are never folded into one), else report and position."""
    keys, counts = [], {}
    for index, event in enumerate(report.events):
        uid = event.irradiation_event_uid
        if uid is None:
            keys.append(f"{report.sop_instance_uid or report.path}#{index}")
            continue
        counts[uid] = counts.get(uid, 0) + 1
        keys.append(uid if counts[uid] == 1 else f"{uid} (occurrence {counts[uid]})")
    return keys


def _dose_order(report_or_event) -> tuple[float, float]:
    """Larger dose first: DLP, then CTDIvol (a missing value counts as none)."""
    if isinstance(report_or_event, DoseReport):
        return (max(report_or_event.dlp_total_mgycm or 0.0, report_or_event.dlp_events_sum_mgycm),
                max((e.ctdivol_mgy or 0.0 for e in report_or_event.events), default=0.0))
    return (report_or_event.dlp_mgycm or 0.0, report_or_event.ctdivol_mgy or 0.0)


def _one_per_instance(reports: list[DoseReport], notes: list[str]) -> list[DoseReport]:
    """One report per SOP Instance UID (the same file read twice counts once).  Two files with one
    SOP Instance UID and different content: the one with the larger dose, flagged."""
    by_uid: dict[str, list[DoseReport]] = {}
    for report in reports:
        by_uid.setdefault(report.sop_instance_uid or report.path, []).append(report)
    out = []
    for uid, same in by_uid.items():
        chosen = max(same, key=_dose_order)  # max keeps the first of equals: identical copies change nothing
        differing = [r for r in same if _content(r) != _content(chosen)]
        if differing:
            notes.append(f"files {chosen.source_file} and {differing[0].source_file} hold one SOP Instance UID ({uid}) "
                         f"with different dose values: the larger dose ({chosen.source_file}) is used")
        out.append(chosen)
    return out


def _content(report: DoseReport) -> tuple:
    return (report.dlp_total_mgycm, tuple(tuple(getattr(e, f) for f in _DOSE_FIELDS + _KIND_FIELDS) for e in report.events))


def _agreed(key: str, versions: list[tuple[DoseReport, DoseEvent]], notes: list[str]) -> DoseEvent:
    """One event as its reports give it: where they disagree, the largest of each dose value (the
    conservative one) and the rest from the version with the largest dose, with a note naming the files."""
    base_report, base = max(versions, key=lambda v: _dose_order(v[1]))
    changes: dict = {}
    sources = dict(base.sources)
    found = []
    for name in _DOSE_FIELDS + _KIND_FIELDS:
        given = [(r, getattr(e, name), e) for r, e in versions if getattr(e, name) is not None]
        if len({v for _, v, _ in given}) <= 1:
            continue
        if name in _DOSE_FIELDS:
            report, value, event = max(given, key=lambda g: g[1])
            changes[name] = value
            if name in event.sources:
                sources[name] = event.sources[name]
            values = sorted({v for _, v, _ in given})
            files = sorted({r.source_file for r, _, _ in given})
            found.append(f"{name} {' vs '.join(f'{v:g}' for v in values)} (files {', '.join(files)}): {value:g} used")
        else:
            files = sorted({r.source_file for r, _, _ in given})
            found.append(f"{name} {' vs '.join(sorted({str(v) for _, v, _ in given}))} (files {', '.join(files)}): "
                         f"{getattr(base, name)} used (from {base_report.source_file}, the larger dose)")
    if not found:
        return base
    notes.append(f"the reports contradict each other on Irradiation Event {key}: {'; '.join(found)}; "
                 "the conservative (larger) dose is used: check which report is right")
    return replace(base, sources=sources, **changes)


def _device(report: DoseReport) -> str:
    return " ".join(v for v in (report.manufacturer, report.model, report.device_serial_number and f"serial {report.device_serial_number}")
                    if v) or "an unnamed device"


def _name(report: DoseReport) -> str:
    """A report as named in a stored or printed text: its file's own name, never its SOP Instance UID
    (scanners derive it from the StudyInstanceUID)."""
    return report.source_file or "(unnamed report)"
