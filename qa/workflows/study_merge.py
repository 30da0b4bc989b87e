"""A study stored already, merged with what a later run read of it (``qa ingest``, ``qa check --db``,
``qa dose --db``): one code path, so that the order of the runs never changes what is stored.

* **The study's scanner, date and month** are the images': a run without them (a dose report
  alone) keeps the stored ones (a first run without images gave the report's).
* **Which protocol judges the study's dose**: its checklist's protocol (the images chose it), else
  the one the new run named, else the stored one (:func:`qa.workflows.ingest_study.dose_protocol`
  chooses it for a dose report without images, as ``qa check`` would).
* **Its dose**: the merged dose report of the study, computed by
  :func:`qa.workflows.ingest_study.study_dose_fields` with that protocol: the new run's reports
  when they hold every stored event (a cumulative re-send, or the same report again), else the
  stored events and the new ones merged by Irradiation Event UID; a run without a report keeps the
  stored report's dose (made again from the stored events when the protocol changed).  Without
  any report, the headers' estimate.
* **Its checklists** (the stored ones and the new run's, the new one replacing the stored one of
  its series and protocol; a headers-only checklist of ``qa ingest`` never replaces a full ``qa
  check``): when the study has a dose report, each checklist's dose checks are judged on it, as
  ``qa check`` judges them with the report (:func:`qa.compliance.rejudge_dose`), so that a report
  that came in another run than its images updates the checklist, and the verdict with it.
"""

from __future__ import annotations

from dataclasses import replace

from qa.compliance import rejudge_dose
from qa.records.checks import NOT_APPLICABLE, NOT_AVAILABLE, Check
from qa.records.dose import DoseCheck, DoseEvent, DoseReport, StudyDose
from qa.records.headers import ImageDose
from qa.records.identity import ScannerIdentity
from qa.records.study import REPORT_DOSE_SOURCES, ExamCheckRecord, StoredStudy, StudyRecord
from qa.workflows.ingest_study import MOTION_AT_INGEST, event_record, main_protocol, study_dose_fields

# The study's dose fields, kept together (from one dose report, or from the headers).
DOSE_FIELDS = ("ctdivol_mgy", "dlp_total_mgycm", "dose_msv", "k_msv_per_mgycm", "k_source", "dose_source", "document")


def merger(dose: StudyDose | None, *, tables, protocols):
    """The merge :meth:`qa.store.Store.save_study` calls when the study is stored already (module
    doc).  ``dose``: the new run's merged dose report of the study (None: it read none)."""
    protocols = tuple(protocols)

    def merge(stored: StoredStudy, new: StudyRecord) -> StudyRecord:
        old = stored.record
        full = {(c.series_key, c.protocol_id) for c in old.exam_checks if not _at_ingest(c)}
        if any(_at_ingest(c) for c in new.exam_checks):  # a headers-only checklist never replaces a full qa check of that series
            new = replace(new, exam_checks=tuple(c for c in new.exam_checks if (c.series_key, c.protocol_id) not in full or not _at_ingest(c)))
        replaced = {(c.series_key, c.protocol_id) for c in new.exam_checks}
        checks = tuple(c for c in old.exam_checks if (c.series_key, c.protocol_id) not in replaced) + new.exam_checks
        qa_protocol = ((new.qa_protocol if new.exam_checks else None) or (old.qa_protocol if old.exam_checks else None)
                       or new.qa_protocol or old.qa_protocol)
        protocol = next((p for p in protocols if p.id == qa_protocol), None)
        if not _from_images(new):  # a run without the images (a dose report alone) never changes what the images said
            facts = {k: getattr(old, k) for k in ("scanner", "study_datetime", "study_month") if getattr(old, k) is not None}
            new = replace(new, **facts)
        joined = dict(is_calcium_score=old.is_calcium_score or new.is_calcium_score, is_qa=old.is_qa or new.is_qa,
                      qa_protocol=qa_protocol, has_dose_report=old.has_dose_report or new.has_dose_report,
                      patient_key=new.patient_key or old.patient_key, accession_key=new.accession_key or old.accession_key,
                      operator_key=new.operator_key or old.operator_key, exam_checks=checks)
        study = _merged_dose(stored, dose)
        if study is None:  # no dose report in either: the new run's estimate from the headers (else the stored one)
            keep = {} if new.dose_source is not None or old.dose_source is None else {k: getattr(old, k) for k in DOSE_FIELDS}
            return replace(new, **joined, **keep)
        if dose is None and old.dose_source in REPORT_DOSE_SOURCES and qa_protocol == old.qa_protocol:
            values = {k: getattr(old, k) for k in DOSE_FIELDS}  # the stored report's dose, judged by the same protocol
        else:
            values = study_dose_fields(study, tables, protocols, protocol)
        events = tuple(event_record(e, new.study_key, n) for n, e in enumerate(study.events)) if dose is not None else old.events
        merged = replace(new, **joined, **values, events=events,
                         protocol=main_protocol(study, protocols) or new.protocol or old.protocol)
        return replace(merged, exam_checks=tuple(rejudged(c, study, tables, protocols) for c in merged.exam_checks))

    return merge


def _merged_dose(stored: StoredStudy, dose: StudyDose | None) -> StudyDose | None:
    """The study's dose report after the merge: the new run's when it holds every stored event, else
    the stored events and the new ones merged by Irradiation Event UID (None: no report at all)."""
    old = stored.record
    if not old.events:
        return dose
    if dose is not None and {e.irradiation_event_uid for e in old.events} <= {e.irradiation_event_uid for e in dose.events}:
        return dose
    from qa.dicom.rdsr import merge_reports

    return merge_reports([stored_report(stored)] + ([study_report(dose)] if dose is not None else []))[0]


def rejudged(check: ExamCheckRecord, study: StudyDose, tables, protocols) -> ExamCheckRecord:
    """``check`` with its dose checks judged on the study's dose report ``study`` (module doc); kept
    as it is when its protocol is not loaded in this version (another sha256) or its document does
    not say what its images gave."""
    protocol = next((p for p in protocols if p.id == check.protocol_id and p.sha256 == check.protocol_sha256), None)
    images = image_dose_of(check.document)
    if protocol is None or images is None:
        return check
    checks = tuple(_ingest_motion_not_applicable(c) for c in check.checks)
    again = rejudge_dose(checks, study, images, protocol, tables)
    if again.checks == check.checks and again.verdict == check.verdict:
        return check
    document = dict(check.document)
    old_dose = document.get("dose") if isinstance(document.get("dose"), dict) else {}
    dropped = set(old_dose.get("warnings") or ())
    warnings = [w for w in document.get("warnings") or [] if w not in dropped and not str(w).startswith("dose report: ")]
    warnings += [f"dose report: {w}" for w in study.warnings] + list(again.dose.warnings)
    document.update(checks=[c.to_dict() for c in again.checks], verdict=again.verdict, verdict_message=again.verdict_message,
                    summary=again.summary.to_dict(),
                    dose=again.dose.to_dict(), reference_level=again.reference_level.to_dict() if again.reference_level else None,
                    reference_level_choice=again.reference_level_choice, warnings=warnings)
    if isinstance(document.get("exam"), dict):
        document["exam"] = dict(document["exam"], dose=study.to_dict())
    return replace(check, verdict=again.verdict, checks=again.checks, document=document)


def image_dose_of(document: dict) -> ImageDose | None:
    """What the checked series' images said about the dose (:class:`ImageDose`), from a stored
    ``qa.check/1`` document (its ``exam.headers``); None when it does not hold them."""
    headers = (document.get("exam") or {}).get("headers") if isinstance(document, dict) else None
    if not isinstance(headers, dict):
        return None
    source = (headers.get("sources") or {}).get("ctdivol_mgy")
    return ImageDose(headers.get("series_description") or "", headers.get("ctdivol_mgy"),
                     tuple(headers.get("irradiation_event_uids") or ()), {"ctdivol_mgy": source} if source else {})


def _from_images(record: StudyRecord) -> bool:
    """Did the run that made ``record`` read the study's images (its scanner, date and month are theirs)?"""
    return bool(record.exam_checks) or record.dose_source == "headers" or any(o.kind == "image" for o in record.objects)


def _ingest_motion_not_applicable(check: Check) -> Check:
    """An ingest's motion check as this version makes it (``not_applicable``: ingest reads headers
    only); earlier versions stored it ``not_available``, which would make a re-judged checklist incomplete."""
    if check.id == "breath_hold_motion" and check.message == MOTION_AT_INGEST and check.status == NOT_AVAILABLE:
        return replace(check, status=NOT_APPLICABLE)
    return check


def _at_ingest(check: ExamCheckRecord) -> bool:
    """Was this checklist made at ingest (headers only: motion not analysed)?"""
    return any(c.id == "breath_hold_motion" and c.message == MOTION_AT_INGEST for c in check.checks)


def stored_report(stored: StoredStudy) -> DoseReport:
    """The stored events of a study as one dose report, to merge with newly read reports by Irradiation Event UID."""
    events = []
    for r in stored.record.events:
        per = r.xray_sources or {}
        kvp = tuple(per.get("kvp") or [r.kvp])
        events.append(DoseEvent(
            r.irradiation_event_uid, r.acquisition_type, r.protocol, r.target_region, r.target_region_code, r.target_region_scheme,
            tuple(per.get("ids") or [None] * len(kvp)), kvp, tuple(per.get("tube_current_ma") or [r.tube_current_ma]),
            tuple(per.get("max_tube_current_ma") or [None] * len(kvp)), tuple(per.get("exposure_time_per_rotation_s") or [None] * len(kvp)),
            len(kvp), r.exposure_time_s, r.scanning_length_mm, None, r.total_collimation_mm, r.pitch, r.ctdivol_mgy, r.dlp_mgycm,
            r.phantom, None, None, None, {}, DoseCheck.from_stored(r.dose_check) if r.dose_check else None))
    document = stored.record.document or {}
    own = document.get("dlp_total_mgycm") if isinstance(document, dict) else None
    kind = "philips_dose_info" if stored.record.dose_source == "dose_screen" else "xray_dose_sr"
    return as_report(stored.record.study_key, tuple(events), own, stored.record.scanner, f"stored:{stored.record.study_key}", kind)


def study_report(dose: StudyDose) -> DoseReport:
    """A study's merged dose (:class:`~qa.records.dose.StudyDose`) as one dose report, to merge with the stored events."""
    scanner = ScannerIdentity(dose.manufacturer, dose.model, dose.device_serial_number, dose.station_name)
    kind = "philips_dose_info" if set(dose.sop_classes) == {"philips_dose_info"} else "xray_dose_sr"
    return as_report(dose.study_key, dose.events, dose.dlp_total_mgycm, scanner, "read:" + ",".join(dose.sop_instance_uids), kind)


def as_report(study_key, events: tuple, own_total, scanner: ScannerIdentity, name: str, kind: str = "xray_dose_sr") -> DoseReport:
    from qa.dicom.rdsr_common import dlp_by_phantom

    return DoseReport(name, name, name, kind, study_key, scanner.manufacturer, scanner.model, scanner.device_serial_number,
                      scanner.station_name, None, None, None, None, tuple(events), own_total,
                      "stored study" if own_total is not None else None, None, sum(e.dlp_mgycm or 0.0 for e in events),
                      dlp_by_phantom(events))
