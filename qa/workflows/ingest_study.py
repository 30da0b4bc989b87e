"""One study of ``qa ingest``: its files read (headers only), its dose and checklist, a :class:`StudyRecord` stored.

What is a study, and what is not (issue 13: "n_studies counts every study holding a CT dose
report, QA studies included and flagged; phantom QA series are phantom runs, never studies"):

* a study with a CT dose report is stored, whatever its protocol or region; when its images or
  descriptions say phantom QA it is flagged ``is_qa`` (and not checked against a patient protocol);
* a study with axial CT images and no dose report is stored with its dose estimated from the
  headers (``dose_source`` "headers", ``has_dose_report`` false), unless it is phantom QA: a
  phantom QA series without a dose report is a phantom run (``qa phantom`` stores it), never a
  study; it is listed as not stored, with that reason;
* anything else (no CT image series, no CT dose report: an MR study, a report of another kind) is
  not stored either, and listed.

Objects not stored for these reasons are remembered as ingested, so a second ingest skips them.
A calcium-score exam (a series or dose event named as one by the qa protocols) gets the full
``qa check`` checklist, from its headers only: ``breath_hold_motion`` is ``not_applicable`` to an
ingest ("not analysed at ingest: headers only"; ``qa check`` judges it), pixels are never decoded, so
the checklist's verdict judges the headers and the dose (``incomplete`` when one of those could not
be checked).  Its dose is the dose report's
(merged by Irradiation Event UID), judged by the chosen protocol, else the headers' estimate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from qa.compliance import ExamProtocol, check_exam, names_calcium_score
from qa.errors import InputError
from qa.records.dose import LOCALIZER, DoseEvent, DoseReport
from qa.records.identity import ScannerIdentity
from qa.records.phantom_qa import PHANTOM_WORDS, dose_report_texts, is_phantom_qa  # noqa: F401  (the one rule; re-exported)
from qa.records.study import DoseEventRecord, ExamCheckRecord, IngestedObject, StudyRecord
from qa.workflows.common import now, qa_version

# Why breath_hold_motion is not judged at ingest (headers only: no pixels are decoded; qa check judges it):
# not applicable to an ingest run (earlier versions stored it as not_available, with the same message).
MOTION_AT_INGEST = "not analysed at ingest: headers only"
# The site's choice to keep the operator's (technologist's) name in clear: QA_OPERATOR_NAMES=clear.
OPERATOR_NAMES_ENV = "QA_OPERATOR_NAMES"
# SOP classes of CT images (PS3.4 B.5): CT, Enhanced CT, Legacy Converted Enhanced CT.
_IMAGE_PREFIX = "1.2.840.10008.5.1.4.1.1."


@dataclass(frozen=True)
class StudyContext:
    """What every study of a run needs, loaded once per process."""

    tables: object  # qa.dose.DoseTables
    protocols: tuple[ExamProtocol, ...]
    pseudonymise: object  # qa.records.identity.Pseudonymiser
    operator_in_clear: bool


@dataclass(frozen=True)
class StudyOutcome:
    """What happened to one study: ``added`` | ``updated`` | ``unchanged`` | ``not_stored`` | ``refused``."""

    study_key: str
    status: str
    reason: str = ""
    file: str | None = None  # the file a refusal names (its name, never its folders)
    dose_reports: int = 0
    checklists: int = 0
    objects: int = 0
    warnings: tuple[str, ...] = ()


def operator_in_clear() -> bool:
    """Has the site chosen to keep the operator's name in clear (``QA_OPERATOR_NAMES=clear``)?"""
    return os.environ.get(OPERATOR_NAMES_ENV, "").strip().lower() == "clear"


def study_is_qa(descriptions, facts, dose) -> bool:
    """Is this study phantom QA (:mod:`qa.records.phantom_qa`, the one rule): its descriptions, its
    objects' patient name (``facts.named_qa``), its dose reports' (``dose.named_qa``) or its dose
    events' acquisition protocols name it."""
    events = dose.events if dose is not None else ()
    return (is_phantom_qa(list(descriptions) + [e.acquisition_protocol for e in events])
            or bool(facts is not None and facts.named_qa) or bool(dose is not None and dose.named_qa))


def read_study(study_key: str, found, kinds: dict[str, str], context: StudyContext) -> tuple[StudyRecord | None, StudyOutcome, list]:
    """Read one study's files (``found``: a :class:`qa.dicom.files.FoundInputs`) and make its record.

    Returns (record or None when not stored, outcome, the study's merged dose report or None).  ``kinds``: SOP
    Instance UID -> object kind from the first pass.  Raises InputError when the study is refused."""
    from qa.dicom.exam import dose_reports_of, exam_of
    from qa.dicom.rdsr import merge_reports
    from qa.dicom.series import scan_inputs
    from qa.dicom.study_index import study_facts

    scan = scan_inputs(found, headers_only=True, pseudonymise=context.pseudonymise)
    exam_scan = exam_of(scan)
    notes: list[str] = []
    reports = [r for r in dose_reports_of(scan, notes, context.pseudonymise) if r.study_key == study_key]
    dose = next(iter(merge_reports(reports)), None)
    datasets = [g.datasets[0] for g in scan.series] + _report_datasets(scan, reports)
    facts = study_facts(datasets, context.pseudonymise, operator_in_clear=context.operator_in_clear)
    descriptions = [facts.study_description, facts.protocol_name] + [g.info.series_description for g in scan.series]
    is_qa = study_is_qa(descriptions, facts, dose)
    objects = tuple(IngestedObject(uid, "dose_report" if uid in {r.sop_instance_uid for r in reports} and kind != "image" else kind)
                    for uid, kind in kinds.items())
    if dose is None and (is_qa or not exam_scan.ct):
        reason = ("phantom QA series without a CT dose report: a phantom run (qa phantom stores it), never a study" if is_qa and
                  exam_scan.ct else "neither axial CT images nor a CT dose report: nothing of a CT study to store")
        return None, StudyOutcome(study_key, "not_stored", reason, objects=len(objects)), dose
    calcium = not is_qa and (any(names_calcium_score(p, c.description) for p in context.protocols for c in exam_scan.candidates)
                             or any(names_cac(e.acquisition_protocol, context.protocols) for e in (dose.events if dose else ())))
    checklist = chosen = None
    if calcium and exam_scan.ct:
        checklist, chosen = _checklist(exam_scan, context, dose)
    elif calcium and dose is not None:
        chosen = dose_protocol(dose, context.protocols)  # a calcium score's report without its images: judged as qa check would
    record = _record(study_key, exam_scan, facts, dose, checklist, chosen, context, is_qa=is_qa, calcium=calcium, objects=objects)
    summary_warnings = tuple(record.document.get("warnings") or ()) if dose is not None and isinstance(record.document, dict) else ()
    warnings = tuple(notes) + summary_warnings + (checklist.checklist.warnings if checklist else ())
    return record, StudyOutcome(study_key, "pending", dose_reports=len(reports), checklists=1 if checklist else 0,
                                objects=len(objects), warnings=warnings), dose


def _checklist(exam_scan, context: StudyContext, dose):
    """The qa check checklist of the exam, from its headers (motion not analysed at ingest)."""
    from qa.motion import not_analysed
    from qa.workflows.exam_run import ExamCheckRun
    from qa.workflows.exam_files import choose_exam
    from qa.records.provenance import Provenance

    exam, chosen = choose_exam(exam_scan, pseudonymise=context.pseudonymise, protocols=context.protocols, dose=dose,
                               operator_in_clear=context.operator_in_clear)
    checklist = check_exam(exam, chosen, context.tables, motion=not_analysed(MOTION_AT_INGEST, chosen.motion))
    analysed = now()
    provenance = Provenance(qa_version(), analysed, (chosen.ref, context.tables.ref), tuple(exam.headers.sop_instance_uids))
    return ExamCheckRun(checklist, analysed, provenance, None, exam.files, chosen), chosen


def check_record(run) -> ExamCheckRecord:
    """A ``qa check`` run as the store keeps it (its ``qa.check/1`` document, identifiers only as pseudonyms)."""
    body = run.to_dict()
    document = {"schema": "qa.check/1", "qa_version": run.provenance.qa_version, "warnings": body.pop("warnings", [])} | body
    checklist = run.checklist
    return ExamCheckRecord(checklist.exam.headers.series_instance_uid, checklist.protocol.id, checklist.protocol.sha256,
                           checklist.verdict, run.provenance.qa_version, run.analysis_time, checklist.checks, document)


def _record(study_key, exam_scan, facts, dose, run, chosen, context, *, is_qa, calcium, objects) -> StudyRecord:
    values = (study_dose_fields(dose, context.tables, context.protocols, chosen) if dose is not None
              else _header_dose(exam_scan, run, context))
    return StudyRecord(
        study_key=study_key, scanner=_scanner(exam_scan, run, dose), study_datetime=facts.study_datetime or (dose.study_datetime if dose else None),
        study_month=facts.study_month or _month(dose.study_datetime if dose else None),
        protocol=main_protocol(dose, context.protocols) or facts.protocol_name or facts.study_description,
        qa_protocol=chosen.id if chosen is not None else None, patient_key=facts.patient_key, accession_key=facts.accession_key,
        operator_key=facts.operator_key, is_calcium_score=calcium, is_qa=is_qa, has_dose_report=dose is not None,
        qa_version=qa_version(), events=tuple(event_record(e, study_key, n) for n, e in enumerate(dose.events if dose else ())),
        exam_checks=(check_record(run),) if run is not None else (), objects=objects, **values)


def main_protocol(dose, protocols) -> str | None:
    """The scanner's protocol name of a study: the calcium-score event's, else the largest scan event's."""
    events = dose.events if dose is not None else ()
    cac = [e for e in events if names_cac(e.acquisition_protocol, protocols)]
    scans = [e for e in events if e.acquisition_type != LOCALIZER]
    largest = max(scans or events, key=lambda e: (e.dlp_mgycm or 0.0, e.ctdivol_mgy or 0.0), default=None)
    main = cac[0] if cac else largest
    return main.acquisition_protocol if main is not None else None


def dose_protocol(dose, protocols, given=None):
    """The protocol a study's dose report is judged by when no checklist chose one: ``given`` (``qa
    dose --protocol``), else, for a report whose events name a calcium score, the protocol ``qa
    check`` would choose (by vendor and name, :func:`qa.compliance.choose_protocol`); else None."""
    if given is not None:
        return given
    names = [e.acquisition_protocol for e in dose.events if e.acquisition_protocol]
    if not protocols or not any(names_cac(n, protocols) for n in names):
        return None
    from qa.compliance import choose_protocol

    return choose_protocol(dose.manufacturer, names, list(protocols))[0]


def study_dose_fields(dose, tables, protocols, protocol) -> dict:
    """A study's stored dose from its merged dose report, judged by ``protocol`` (None: no
    protocol): the one computation ``qa ingest``, ``qa check --db``, ``qa dose --db`` and the merge
    of a study stored already share, so that the stored dose never depends on the path it took."""
    from qa.workflows.dose_study import summarise_study

    return report_dose_fields(dose, summarise_study(dose, tables, protocol=protocol), protocols)


def report_dose_fields(dose, summary, protocols) -> dict:
    """A study's dose from its dose report(s) (``summary``: :func:`qa.workflows.dose.summarise_study`):
    CTDIvol of the calcium-score event, else the largest of the scan events; the study's total DLP
    over all its events (:func:`qa.dose.study_dlp_mgycm`: what ``qa dose`` prints as the total and
    what the effective dose is computed over; a study mixing head and body phantoms keeps its body
    subtotal, the DLP a reference level compares, in the document's ``compared.dlp_mgycm`` and
    ``dlp_by_phantom_mgycm``, never as ``dlp_total_mgycm``); the effective dose with its k and k
    source; the ``qa.dose/1`` report item."""
    from qa.dose import study_dlp_mgycm

    scans = [e for e in dose.events if e.acquisition_type != LOCALIZER and e.ctdivol_mgy is not None]
    cac = [e.ctdivol_mgy for e in scans if names_cac(e.acquisition_protocol, protocols)]
    return dict(ctdivol_mgy=max(cac or [e.ctdivol_mgy for e in scans], default=None), dlp_total_mgycm=study_dlp_mgycm(dose),
                dose_msv=summary.effective_dose_msv, k_msv_per_mgycm=summary.k_msv_per_mgycm, k_source=summary.k_source,
                dose_source=report_dose_source(dose), document=summary.to_dict())


def report_dose_source(dose) -> str:
    """``dose_screen`` when every report of the study is a scanner's dose screen capture (Philips Dose
    Info), else ``rdsr`` (a CT dose report, alone or with captures)."""
    kinds = set(dose.sop_classes)
    return "dose_screen" if kinds and kinds <= {"philips_dose_info"} else "rdsr"


def header_dose_fields(dose) -> dict:
    """A study's dose estimated from image headers (:class:`qa.dose.DoseValues` without a report)."""
    e = dose.effective
    known = dose.ctdivol_mgy is not None or dose.dlp_mgycm is not None
    return dict(ctdivol_mgy=dose.ctdivol_mgy, dlp_total_mgycm=dose.dlp_mgycm, dose_msv=e.dose_msv, k_msv_per_mgycm=e.k_msv_per_mgycm,
                k_source=e.k_source if e.dose_msv is not None else None, dose_source="headers" if known else None,
                document={"dose_values": dose.to_dict()})


def _header_dose(exam_scan, run, context) -> dict:
    """The dose estimated from the headers: the checklist's, else the largest axial series'."""
    if run is not None:
        dose = run.checklist.dose
    elif exam_scan.ct:
        from qa.dicom.headers import read_headers
        from qa.dose import dose_values_from_headers

        group = max(exam_scan.ct, key=lambda g: g.info.n_images)
        dose = dose_values_from_headers(read_headers(group), context.tables)
    else:
        return {}
    return header_dose_fields(dose)


def _scanner(exam_scan, run, dose) -> ScannerIdentity:
    if run is not None:
        return run.checklist.exam.scanner
    if exam_scan.ct:
        return max(exam_scan.ct, key=lambda g: g.info.n_images).info.scanner
    return ScannerIdentity(dose.manufacturer, dose.model, dose.device_serial_number, dose.station_name)


def event_record(e: DoseEvent, study_key: str, n: int) -> DoseEventRecord:
    """A dose event as stored; one without an Irradiation Event UID (Philips dose info) is named by study and position."""
    several = len(e.kvp) > 1 or len(e.tube_current_ma) > 1
    sources = {"ids": list(e.xray_source_ids), "kvp": list(e.kvp), "tube_current_ma": list(e.tube_current_ma),
               "max_tube_current_ma": list(e.max_tube_current_ma),
               "exposure_time_per_rotation_s": list(e.exposure_time_per_rotation_s)} if several else None
    return DoseEventRecord(
        e.irradiation_event_uid or f"{study_key}#event{n + 1}", e.acquisition_type, e.acquisition_protocol, e.target_region,
        e.target_region_code, e.target_region_scheme, e.phantom, e.ctdivol_mgy, e.dlp_mgycm, _first(e.kvp), _first(e.tube_current_ma),
        e.exposure_time_s, e.pitch, e.total_collimation_mm, e.scanning_length_mm, sources,
        e.dose_check.to_dict() if e.dose_check is not None else None)


def object_kind(sop_class: str | None) -> str:
    """What an object is by its SOP class: a dose report is told apart when read (``other`` until then)."""
    if sop_class and sop_class.startswith(_IMAGE_PREFIX) and not sop_class.startswith(_IMAGE_PREFIX + "88."):
        return "image"
    return "other"


def _report_datasets(scan, reports: list[DoseReport]) -> list:
    """The dose reports' headers (for the study's facts when it has no images), as the scan read them."""
    if scan.series or not reports:
        return []
    read = {o.path: o.dataset for o in scan.other_objects if o.dataset is not None}
    return [read[r.path] for r in reports if r.path in read]


def names_cac(name: str | None, protocols) -> bool:
    """Does a protocol or event name say calcium score (by the qa protocols' series patterns)?"""
    return bool(name) and any(names_calcium_score(p, name) for p in protocols)


def _first(values: tuple) -> float | None:
    return next((v for v in values if v is not None), None)


def _month(iso: str | None) -> str | None:
    return iso[:7] if iso and len(iso) >= 7 and iso[4] == "-" else None


def refused(study_key: str, exc: InputError) -> StudyOutcome:
    """A study refused by its input (an impossible value, a damaged file among its series, ...)."""
    from qa.records.inputs import name_of

    name = name_of(str(exc.path)) if exc.path else None
    field = f" ({exc.field})" if exc.field else ""
    return StudyOutcome(study_key, "refused", f"{exc.message}{field}", name)
