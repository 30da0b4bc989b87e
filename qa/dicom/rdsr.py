"""CT radiation dose reports -> dose events.

Reads the CT Radiation Dose SR (DICOM PS3.16 TID 10011) carried in the X-Ray Radiation Dose SR,
Enhanced SR or Comprehensive SR SOP classes, and the header of the Philips "Dose Info" screen
capture written by scanners older than RDSR.  Content items are matched on (CodeValue,
CodingSchemeDesignator) pairs (:mod:`qa.dicom.rdsr_codes`), never on their meanings; every number
is converted by its UCUM unit.  A value that cannot be read is None and the report says why in
``warnings``: never a guessed number.  Private (``99...``) content is ignored.

:func:`merge_reports` turns the reports of one study into one :class:`StudyDose`: cumulative
re-sends (a later report repeating the earlier events) are merged by Irradiation Event UID, the
reports of a continued study (different events) are all kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from qa.dicom import attributes as attr
from qa.dicom import files
from qa.dicom import rdsr_codes as C
from qa.dicom import sr_content as sr
from qa.dicom.integrity import check_complete
from qa.dicom.rdsr_common import finish_report
from qa.dicom.rdsr_merge import merge_study
from qa.dicom.rdsr_philips import report_from_philips
from qa.dicom.value_warnings import reading
from qa.errors import InputError
from qa.records.dose import DoseCheck, DoseEvent, DoseReport, StudyDose, dose_check_exceeded
from qa.records.identity import Pseudonymiser, redact_identifiers
from qa.records.plausibility import require_possible

__all__ = ["DoseEvent", "DoseReport", "StudyDose", "is_dose_report", "merge_reports", "read_dose_report", "read_if_dose_report"]

# PS3.4 Annex B.5 Standard SOP Classes: the SR classes that can carry TID 10011
SR_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.67": "xray_dose_sr",
    "1.2.840.10008.5.1.4.1.1.88.22": "enhanced_sr",
    "1.2.840.10008.5.1.4.1.1.88.33": "comprehensive_sr",
}
_SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
_HINT_RDSR = ("pass the exam's CT Radiation Dose SR (RDSR, or Enhanced SR with TID 10011) "
              "or a Philips 'Dose Info' screen capture")
_HINT_REEXPORT = "copy or export the report again from the scanner or PACS"


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def read_dose_report(path: str | os.PathLike, *, pseudonymise: Pseudonymiser, label: str | None = None) -> DoseReport:
    """The dose report in ``path``: a CT RDSR / Enhanced SR (TID 10011) or a Philips dose info
    capture.  Raises :class:`InputError` naming the file (``label``, e.g. archive.zip!member, when
    given) and the field for anything else.  The StudyInstanceUID is kept only as its pseudonym
    (``study_key``): read the reports that are to be merged with one ``pseudonymise``."""
    label = label or str(path)
    if not os.path.isfile(path):
        raise InputError(label, None, "no such file", hint="check the path")
    return _report_of(_read(str(path), label), str(path), label, pseudonymise)


def read_if_dose_report(path: str | os.PathLike, *, pseudonymise: Pseudonymiser, label: str | None = None,
                        dataset=None) -> DoseReport | None:
    """The dose report in ``path`` as :func:`read_dose_report` reads it, or None when the object is
    not a dose report (:func:`is_dose_report`): the file is read once.  ``dataset``: its header read
    already (by :func:`qa.dicom.series.scan_inputs`), which is not read again then."""
    label = label or str(path)
    if dataset is not None:
        ds = dataset
    else:
        try:
            ds = _read(str(path), label)
        except InputError:
            return None
    if not is_dose_report(ds):
        return None
    return _report_of(ds, str(path), label, pseudonymise)


def _report_of(ds, path: str, label: str, pseudonymise: Pseudonymiser) -> DoseReport:
    with reading(label):  # pydicom's warnings about the report's values name it (qa.dicom.value_warnings)
        return _report_read(ds, path, label, pseudonymise)


def _report_read(ds, path: str, label: str, pseudonymise: Pseudonymiser) -> DoseReport:
    if "SOPClassUID" not in ds:  # a file cut short in its first elements says so, not "wrong class"
        check_complete(ds, str(path), hint=_HINT_REEXPORT, label=label)
    kind = _kind(ds, label)
    check_complete(ds, str(path), hint=_HINT_REEXPORT, label=label)
    if kind == "sr":
        return _report_from_sr(ds, label, pseudonymise)
    return report_from_philips(ds, label, pseudonymise)


def is_dose_report(dataset_or_path) -> bool:
    """Cheap check: is this a CT dose report that :func:`read_dose_report` reads (headers only)?"""
    try:
        if isinstance(dataset_or_path, (str, os.PathLike)):
            ds = _read(str(dataset_or_path))
            label = str(dataset_or_path)
        else:
            ds, label = dataset_or_path, "dataset"
        if _kind(ds, label) == "sr":
            _sr_root(ds, label)
        return True
    except Exception:  # noqa: BLE001 - a check: any unreadable or foreign object is simply not a dose report
        return False


def merge_reports(reports: Iterable[DoseReport]) -> list[StudyDose]:
    """One :class:`StudyDose` per study (the same ``study_key``: read with one pseudonymiser), in order of first appearance.

    The same SOP instance read twice counts once (two files with one SOP Instance UID and
    different doses: the larger, flagged).  A report whose events (by Irradiation Event UID) all
    appear in another report of the study is a cumulative re-send and is superseded by the larger
    (on a tie, the one with the larger dose, then the later) report.  The remaining reports'
    events are all kept, each once; where the reports give one event different dose values, the
    larger is used and the warnings name the files (never the file order).  DLP total: with one
    remaining report, its own total; with several whose event sets are disjoint (a continued
    study), the sum of their own totals; otherwise (partial overlap, or a missing own total) the
    sum of the kept events' DLP, with a warning; a superseded report's larger own total wins, flagged.
    """
    groups: dict[str, list[DoseReport]] = {}
    for report in reports:
        key = report.study_key or f"report:{report.sop_instance_uid or report.path}"
        groups.setdefault(key, []).append(report)
    return [merge_study(group) for group in groups.values()]


# --------------------------------------------------------------------------------------------
# Reading and recognising files
# --------------------------------------------------------------------------------------------


def _read(path: str, label: str | None = None):
    label = label or path
    with files.Reader() as reader:
        ds = reader.read(files.Source(label=label, path=path))
    if ds is None:
        raise InputError(label, None, "is not a DICOM file", hint=_HINT_RDSR)
    return ds


def _kind(ds, label: str) -> str:
    """'sr' or 'philips', or an InputError saying what the object is instead."""
    sop = attr.raw_text(ds, "SOPClassUID") or ""
    if sop in SR_SOP_CLASSES:
        return "sr"
    name = attr.sop_class_name(sop) if sop else "an object without SOP Class UID"
    if sop.startswith(_SECONDARY_CAPTURE_PREFIX) and "DOSE_INFO" in attr.image_type(ds):
        if "PHILIPS" in (attr.text(ds, "Manufacturer") or "").upper() and ds.get("ExposureDoseSequence"):
            return "philips"
        raise InputError(label, "ExposureDoseSequence",
                         "a dose info screen capture whose header carries no dose data we can read "
                         "(only Philips 'Dose Info' captures with an Exposure Dose Sequence are read)",
                         hint="export the exam's RDSR from the scanner instead")
    if sop.startswith(_SR_PREFIX):
        raise InputError(label, "SOPClassUID", f"not a CT radiation dose report: it is a {name} document",
                         hint=_HINT_RDSR)
    raise InputError(label, "SOPClassUID", f"is {name}, not a radiation dose report", hint=_HINT_RDSR)


def _sr_root(ds, label: str) -> sr.Children:
    """The document's top-level content items by concept, once it is known to be a CT dose report."""
    title = sr.concept(ds)
    if title != C.X_RAY_RADIATION_DOSE_REPORT:
        seq = ds.get("ConceptNameCodeSequence")
        meaning = (attr.text(seq[0], "CodeMeaning") if seq else None) or "missing"
        code = f" ({title[1]} {title[0]})" if title else ""
        raise InputError(label, "ConceptNameCodeSequence",
                         f"not a CT radiation dose report: its document title is {meaning!r}{code}", hint=_HINT_RDSR)
    root = sr.children(ds)
    templates = ds.get("ContentTemplateSequence")
    template = attr.raw_text(templates[0], "TemplateIdentifier") if templates else None
    procedure = sr.code_value(sr.first(root, C.PROCEDURE_REPORTED))
    has_ct = C.CT_ACQUISITION in root or C.CT_ACCUMULATED_DOSE_DATA in root
    field_name = None
    if template == C.PROJECTION_TEMPLATE:
        field_name = "ContentTemplateSequence"
    elif procedure in C.PROJECTION_PROCEDURES:
        field_name = "Procedure reported (DCM 121058)"
    elif not has_ct and any(code in root for code in C.PROJECTION_CONTAINERS):
        field_name = "ContentSequence"
    if field_name:
        raise InputError(label, field_name,
                         "is a projection X-ray dose report (TID 10001: radiography, fluoroscopy or "
                         "mammography), not a CT radiation dose report (TID 10011)",
                         hint="projection X-ray dose is out of scope here; pass CT dose reports only")
    if not has_ct:
        raise InputError(label, "ContentSequence",
                         "not a CT radiation dose report: it has neither CT Accumulated Dose Data "
                         "(DCM 113811) nor CT Acquisition (DCM 113819) content", hint=_HINT_RDSR)
    return root


# --------------------------------------------------------------------------------------------
# CT Radiation Dose SR
# --------------------------------------------------------------------------------------------


def _event(container, number: int, ctx: sr.Context, pseudonymise: Pseudonymiser) -> DoseEvent:
    """One CT Acquisition container (TID 10013); ``number`` counts them from 1 for messages."""
    idx = sr.children(container)
    where = f"CT Acquisition {number}"
    src: dict[str, str] = {}

    def num(items, code, unit, name):
        value = sr.num(items, code, unit, where, ctx)
        if value is not None:
            src[name] = f"{code[1]} {code[0]}"
        return value

    acq_code = sr.code_value(sr.first(idx, C.CT_ACQUISITION_TYPE))
    acquisition_type = C.ACQUISITION_TYPES.get(acq_code) if acq_code else None
    if acq_code:
        src["acquisition_type"] = f"{acq_code[1]} {acq_code[0]}"
        if acquisition_type is None:
            ctx.warn(f"{where}: CT Acquisition Type {acq_code[1]} {acq_code[0]} is not in CID 10013; left empty")
    region_item = sr.first(idx, C.TARGET_REGION)
    region_seq = region_item.get("ConceptCodeSequence") if region_item is not None else None
    region = region_seq[0] if region_seq else None
    params = sr.first(idx, C.CT_ACQUISITION_PARAMETERS)
    pidx = sr.children(params) if params is not None else {}
    per_source: dict[str, list] = {"ids": [], "kvp": [], "ma": [], "max_ma": [], "rot": []}
    for source in pidx.get(C.CT_XRAY_SOURCE_PARAMETERS, ()):
        sidx = sr.children(source)
        per_source["ids"].append(sr.text(sidx, C.SOURCE_ID, ctx))
        per_source["kvp"].append(num(sidx, C.KVP, "kV", "kvp"))
        per_source["ma"].append(num(sidx, C.TUBE_CURRENT, "mA", "tube_current_ma"))
        per_source["max_ma"].append(num(sidx, C.MAX_TUBE_CURRENT, "mA", "max_tube_current_ma"))
        per_source["rot"].append(num(sidx, C.EXPOSURE_TIME_PER_ROTATION, "s", "exposure_time_per_rotation_s"))
    n_sources = num(pidx, C.NUMBER_OF_SOURCES, "count", "n_xray_sources_reported")
    if n_sources is not None and n_sources != len(per_source["ids"]):
        ctx.warn(f"{where}: Number of X-Ray Sources is {n_sources:g} but {len(per_source['ids'])} "
                 "CT X-Ray Source Parameters containers are present")
    dose = sr.first(idx, C.CT_DOSE)
    didx = sr.children(dose) if dose is not None else {}
    phantom_code = sr.code_value(sr.first(didx, C.CTDIW_PHANTOM_TYPE))
    phantom = C.PHANTOMS.get(phantom_code) if phantom_code else None
    if phantom_code:
        src["phantom"] = f"{phantom_code[1]} {phantom_code[0]}"
        if phantom is None:
            ctx.warn(f"{where}: CTDIw phantom {phantom_code[1]} {phantom_code[0]} is neither the IEC head "
                     "nor the IEC body phantom; its DLP is counted as 'unknown'")
    dlp = num(didx, C.DLP, "mGy.cm", "dlp_mgycm")
    if dlp is not None and phantom_code is None:
        ctx.warn(f"{where}: no CTDIw Phantom Type (DCM 113835); its DLP is counted as 'unknown'")
    return DoseEvent(
        irradiation_event_uid=sr.uid(idx, C.IRRADIATION_EVENT_UID),
        acquisition_type=acquisition_type,
        acquisition_protocol=sr.text(idx, C.ACQUISITION_PROTOCOL, ctx),
        target_region=attr.text(region, "CodeMeaning") if region is not None else None,
        target_region_code=attr.raw_text(region, "CodeValue") if region is not None else None,
        target_region_scheme=attr.raw_text(region, "CodingSchemeDesignator") if region is not None else None,
        xray_source_ids=tuple(per_source["ids"]),
        kvp=tuple(per_source["kvp"]),
        tube_current_ma=tuple(per_source["ma"]),
        max_tube_current_ma=tuple(per_source["max_ma"]),
        exposure_time_per_rotation_s=tuple(per_source["rot"]),
        n_xray_sources_reported=None if n_sources is None else int(n_sources),
        exposure_time_s=num(pidx, C.EXPOSURE_TIME, "s", "exposure_time_s"),
        scanning_length_mm=num(pidx, C.SCANNING_LENGTH, "mm", "scanning_length_mm"),
        single_collimation_mm=num(pidx, C.SINGLE_COLLIMATION, "mm", "single_collimation_mm"),
        total_collimation_mm=num(pidx, C.TOTAL_COLLIMATION, "mm", "total_collimation_mm"),
        pitch=num(pidx, C.PITCH_FACTOR, "1", "pitch"),
        ctdivol_mgy=num(didx, C.MEAN_CTDIVOL, "mGy", "ctdivol_mgy"),
        dlp_mgycm=dlp,
        phantom=phantom,
        ssde_mgy=num(didx, C.SSDE, "mGy", "ssde_mgy"),
        comment=sr.text(idx, C.COMMENT, ctx),
        start_datetime=sr.datetime_value(idx, C.DATETIME_STARTED, where, ctx),
        sources=src,
        dose_check=_dose_check(didx, where, ctx, pseudonymise),
    )


def _dose_check(didx, where: str, ctx, pseudonymise: Pseudonymiser) -> DoseCheck | None:
    """The CT Dose Check Details (TID 10015) of an event's CT Dose container, None when absent.
    The person who authorised proceeding (TID 1020) is kept only as the pseudonym of their name."""
    alert, notification = sr.first(didx, C.DOSE_CHECK_ALERT_DETAILS), sr.first(didx, C.DOSE_CHECK_NOTIFICATION_DETAILS)
    if alert is None and notification is None:
        return None
    aidx = sr.children(alert) if alert is not None else {}
    nidx = sr.children(notification) if notification is not None else {}

    def yes(items, code) -> bool | None:
        value = sr.code_value(sr.first(items, code))
        return True if value in (C.YES, C.YES_SRT) else False if value in (C.NO, C.NO_SRT) else None

    def value(items, code, unit):
        got = sr.num(items, code, unit, f"{where}: CT Dose Check Details", ctx)
        return None if got is None else require_possible("ctdivol_mgy" if unit == "mGy" else "dlp_mgycm", got, path=ctx.label,
                                                         field=f"{where}: CT Dose Check Details ({code[1]} {code[0]})")

    def who(items) -> str | None:
        return pseudonymise(sr.person_name(items, C.PERSON_NAME, ctx))

    def reason(items) -> str | None:  # typed at the console: the patient's own name or IDs never leave in it
        return redact_identifiers(sr.text(items, C.REASON_FOR_PROCEEDING, ctx), ctx.patient_words)

    got = {
        "alert_dlp_configured": yes(aidx, C.DLP_ALERT_VALUE_CONFIGURED),
        "alert_ctdivol_configured": yes(aidx, C.CTDIVOL_ALERT_VALUE_CONFIGURED),
        "alert_dlp_mgycm": value(aidx, C.DLP_ALERT_VALUE, "mGy.cm"),
        "alert_ctdivol_mgy": value(aidx, C.CTDIVOL_ALERT_VALUE, "mGy"),
        "alert_accumulated_dlp_forward_estimate_mgycm": value(aidx, C.ACCUMULATED_DLP_FORWARD_ESTIMATE, "mGy.cm"),
        "alert_accumulated_ctdivol_forward_estimate_mgy": value(aidx, C.ACCUMULATED_CTDIVOL_FORWARD_ESTIMATE, "mGy"),
        "alert_reason": reason(aidx),
        "alert_person_key": who(aidx),
        "notification_dlp_configured": yes(nidx, C.DLP_NOTIFICATION_VALUE_CONFIGURED),
        "notification_ctdivol_configured": yes(nidx, C.CTDIVOL_NOTIFICATION_VALUE_CONFIGURED),
        "notification_dlp_mgycm": value(nidx, C.DLP_NOTIFICATION_VALUE, "mGy.cm"),
        "notification_ctdivol_mgy": value(nidx, C.CTDIVOL_NOTIFICATION_VALUE, "mGy"),
        "notification_dlp_forward_estimate_mgycm": value(nidx, C.DLP_FORWARD_ESTIMATE, "mGy.cm"),
        "notification_ctdivol_forward_estimate_mgy": value(nidx, C.CTDIVOL_FORWARD_ESTIMATE, "mGy"),
        "notification_reason": reason(nidx),
        "notification_person_key": who(nidx),
    }
    alert_exceeded = dose_check_exceeded(
        alert is not None, ((got["alert_accumulated_dlp_forward_estimate_mgycm"], got["alert_dlp_mgycm"]),
                            (got["alert_accumulated_ctdivol_forward_estimate_mgy"], got["alert_ctdivol_mgy"])),
        got["alert_reason"], got["alert_person_key"])
    notification_exceeded = dose_check_exceeded(
        notification is not None, ((got["notification_dlp_forward_estimate_mgycm"], got["notification_dlp_mgycm"]),
                                   (got["notification_ctdivol_forward_estimate_mgy"], got["notification_ctdivol_mgy"])),
        got["notification_reason"], got["notification_person_key"])
    return DoseCheck(**got, alert_exceeded=alert_exceeded, notification_exceeded=notification_exceeded)


def _report_from_sr(ds, label: str, pseudonymise: Pseudonymiser) -> DoseReport:
    root = _sr_root(ds, label)
    ctx = sr.Context(ds, label)
    accumulated = sr.first(root, C.CT_ACCUMULATED_DOSE_DATA)
    aidx = sr.children(accumulated) if accumulated is not None else {}
    where = "CT Accumulated Dose Data"
    total = sr.num(aidx, C.CT_DLP_TOTAL, "mGy.cm", where, ctx)
    n_reported = sr.num(aidx, C.TOTAL_NUMBER_OF_EVENTS, "count", where, ctx)
    events = tuple(_event(item, n, ctx, pseudonymise) for n, item in enumerate(
        (i for i in root.get(C.CT_ACQUISITION, ()) if attr.raw_text(i, "ValueType") == "CONTAINER"), 1))
    if total is None:
        ctx.warn("no usable CT Dose Length Product Total (DCM 113813): the report's own DLP total is unknown")

    def observer(keyword, code):
        return attr.text(ds, keyword) or sr.text(root, code, ctx)

    return finish_report(
        ctx, events,
        path=label,
        sop_instance_uid=attr.raw_text(ds, "SOPInstanceUID"),
        sop_class=SR_SOP_CLASSES[attr.raw_text(ds, "SOPClassUID") or ""],
        manufacturer=observer("Manufacturer", ("121014", "DCM")),  # PS3.16 TID 1004 Device Observer Manufacturer
        model=observer("ManufacturerModelName", ("121015", "DCM")),  # PS3.16 TID 1004 Device Observer Model Name
        device_serial_number=observer("DeviceSerialNumber", ("121016", "DCM")),  # PS3.16 TID 1004
        station_name=observer("StationName", ("121013", "DCM")),  # PS3.16 TID 1004 Device Observer Name
        irradiation_start_datetime=sr.datetime_value(root, C.START_OF_IRRADIATION, "report", ctx),
        irradiation_end_datetime=sr.datetime_value(root, C.END_OF_IRRADIATION, "report", ctx),
        dlp_total_mgycm=total,
        dlp_total_source="DCM 113813" if total is not None else None,
        n_events_reported=None if n_reported is None else int(n_reported),
        header=ds,
        pseudonymise=pseudonymise,
    )


