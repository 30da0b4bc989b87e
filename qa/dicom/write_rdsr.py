"""A CT Radiation Dose SR writer for synthetic data and tests (DICOM PS3.16 TID 10011).

Writes the content :mod:`qa.dicom.rdsr` reads: the document title, the procedure reported, the
device observer context (TID 1002/1004), the irradiation start and end, the scope of accumulation
(the study), CT Accumulated Dose Data (TID 10012) and one CT Acquisition container (TID 10013) per
event, with its target region, acquisition type, Irradiation Event UID, acquisition parameters,
X-ray source parameters and CT Dose (with the Dose Check details of TID 10015 when configured);
and the SR Document General module, so that dcmtk's ``dsrdump`` reads it without a warning.
Numbers are written as given (a test can write a negative DLP to show that the reader refuses it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.dicom import rdsr_codes as C
from qa.dicom.write_fast import dataset_from_tree, encode_tree, part10
from qa.outputs import write_file

SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"  # X-Ray Radiation Dose SR Storage (PS3.4 B.5)
# PS3.16 CID 10013 CT Acquisition Type: our short names -> (code, meaning) as written
ACQUISITION_TYPE_CODES = {
    "sequenced": ("113804", "DCM", "Sequenced Acquisition"),
    "spiral": ("116152004", "SCT", "Spiral Acquisition"),
    "constant_angle": ("113805", "DCM", "Constant Angle Acquisition"),
    "stationary": ("113806", "DCM", "Stationary Acquisition"),
}
# PS3.16 CID 4052 Phantom Devices
PHANTOM_CODES = {"head16": ("113690", "DCM", "IEC Head Dosimetry Phantom"), "body32": ("113691", "DCM", "IEC Body Dosimetry Phantom")}
_REGION_MEANINGS = {"heart": "Heart", "chest": "Chest"}


@dataclass(frozen=True)
class SyntheticEvent:
    """One irradiation event of a synthetic dose report (times in s, lengths in mm)."""

    ctdivol_mgy: float = 4.0
    dlp_mgycm: float = 60.0
    kvp: float = 120.0
    tube_current_ma: float = 200.0
    exposure_time_s: float = 0.3
    scanning_length_mm: float = 150.0
    total_collimation_mm: float = 40.0
    phantom: str = "body32"  # head16 | body32
    protocol: str = "Calcium Score"
    acquisition_type: str = "sequenced"  # a key of ACQUISITION_TYPE_CODES
    irradiation_event_uid: str | None = None  # None: derived from the report's file name and the event's position
    target_region: str | None = None  # "heart" | "chest" (None: not written)
    region_scheme: str = "SCT"  # SRT (DICOM up to 2019) or SCT
    start_datetime: str | None = None  # DICOM DT of DateTime Started
    single_collimation_mm: float | None = None
    pitch: float | None = None  # spiral only
    exposure_time_per_rotation_s: float | None = None
    max_tube_current_ma: float | None = None
    modulation: str | None = None  # X-Ray Modulation Type text
    ctdivol_alert_mgy: float | None = None  # Dose Check (TID 10015): the configured alert value
    ctdivol_notification_mgy: float | None = None  # ... and notification value
    dlp_notification_mgycm: float | None = None
    dlp_alert_mgycm: float | None = None
    # What the scanner compared with them (written only when given) and, for a value exceeded, the
    # Reason for Proceeding and the Irradiation Authorizing person's name (TID 1020).
    alert_ctdivol_estimate_mgy: float | None = None  # Accumulated CTDIvol Forward Estimate
    alert_dlp_estimate_mgycm: float | None = None  # Accumulated DLP Forward Estimate
    alert_reason: str | None = None
    alert_person: str | None = None  # DICOM PN: FAMILY^GIVEN
    notification_ctdivol_estimate_mgy: float | None = None  # CTDIvol Forward Estimate
    notification_dlp_estimate_mgycm: float | None = None  # DLP Forward Estimate
    notification_reason: str | None = None
    notification_person: str | None = None


@dataclass(frozen=True)
class DoseReportHeader:
    """The identity attributes of a synthetic dose report (DICOM DA/TM/DT text; None: not written)."""

    manufacturer: str = "QA Synthetic"
    model: str = "Dose Report Synthesiser"
    station_name: str | None = "QA-SYNTH-1"
    serial: str | None = "SYN0001"
    software_versions: str = "qa-synth"
    institution_name: str | None = None
    study_uid: str | None = None  # None: derived from the file name
    series_uid: str | None = None
    sop_instance_uid: str | None = None
    device_observer_uid: str | None = None  # None: derived from the manufacturer, model, serial and station
    study_date: str = "20260105"
    study_time: str = "073000"
    content_date: str = "20260105"
    content_time: str = "074000"
    irradiation_start: str | None = None  # DT; None: not written
    irradiation_end: str | None = None
    patient_name: str = "SYNTH^DOSE"  # a patient-like name: "QA" would make the report phantom QA (qa.records.phantom_qa)
    patient_id: str = "DOSE"
    patient_birth_date: str = ""
    patient_sex: str = ""
    accession_number: str = ""
    referring_physician_name: str = ""
    operators_name: str | None = None
    study_id: str = ""
    study_description: str | None = None
    series_number: int = 999
    instance_number: int = 1


# Our unit names -> UCUM code and meaning (PS3.16 CID 82)
_UNITS = {"mGy": ("mGy", "mGy"), "mGy.cm": ("mGy.cm", "mGy.cm"), "kV": ("kV", "kV"), "mA": ("mA", "mA"), "s": ("s", "s"),
          "mm": ("mm", "mm"), "count": ("{events}", "events"), "sources": ("{X-Ray sources}", "X-Ray sources"),
          "ratio": ("{ratio}", "ratio")}


# Content items as plain trees (keyword -> value; a list of trees for a sequence): encoded by
# qa.dicom.write_fast (fast, byte for byte as pydicom) or made a pydicom dataset.

def _code(value: str, scheme: str, meaning: str) -> dict:
    return {"CodeValue": value, "CodingSchemeDesignator": scheme, "CodeMeaning": meaning}


def _item(value_type: str, concept, meaning: str, relationship: str = "CONTAINS") -> dict:
    return {"RelationshipType": relationship, "ValueType": value_type, "ConceptNameCodeSequence": [_code(concept[0], concept[1], meaning)]}


def _num(concept, meaning: str, value: float | str, unit: str) -> dict:
    code, unit_meaning = _UNITS[unit]
    measured = {"NumericValue": value if isinstance(value, str) else f"{value:.10g}"[:16],
                "MeasurementUnitsCodeSequence": [_code(code, "UCUM", unit_meaning)]}
    return _item("NUM", concept, meaning) | {"MeasuredValueSequence": [measured]}


def _container(concept, meaning: str, children: list, relationship: str = "CONTAINS") -> dict:
    return _item("CONTAINER", concept, meaning, relationship) | {"ContinuityOfContent": "SEPARATE", "ContentSequence": children}


def _coded(concept, meaning: str, value, relationship: str = "CONTAINS") -> dict:
    return _item("CODE", concept, meaning, relationship) | {"ConceptCodeSequence": [_code(*value)]}


def _text(concept, meaning: str, value: str, relationship: str = "CONTAINS") -> dict:
    return _item("TEXT", concept, meaning, relationship) | {"TextValue": value}


def _uidref(concept, meaning: str, value: str, relationship: str = "CONTAINS") -> dict:
    return _item("UIDREF", concept, meaning, relationship) | {"UID": value}


def _datetime(concept, meaning: str, value: str, relationship: str = "CONTAINS") -> dict:
    return _item("DATETIME", concept, meaning, relationship) | {"DateTime": value}


_YES, _NO = (*C.YES, "Yes"), (*C.NO, "No")


def _person(name: str) -> dict:
    """TID 1020 Person Participant: the Person Name, with its role (Irradiation Authorizing, as TID 10015 asks)."""
    item = _item("PNAME", C.PERSON_NAME, "Person Name") | {"PersonName": name}
    role = _coded(C.PERSON_ROLE_IN_PROCEDURE, "Person Role in Procedure", (*C.IRRADIATION_AUTHORIZING, "Irradiation Authorizing"),
                  relationship="HAS PROPERTIES")
    return item | {"ContentSequence": [role]}


def _dose_check(e: SyntheticEvent) -> list:
    """TID 10015 CT Dose Check Details: what the scanner's Dose Check had configured (NEMA XR 25),
    its forward estimates, and why and by whom a value exceeded was passed."""
    if all(v is None for v in (e.ctdivol_alert_mgy, e.dlp_alert_mgycm, e.ctdivol_notification_mgy, e.dlp_notification_mgycm)):
        return []

    def details(dlp, ctdivol, dlp_estimate, ctdivol_estimate, reason, person, codes, names) -> list:
        dlp_configured, ctdivol_configured, dlp_value, ctdivol_value, dlp_forward, ctdivol_forward = codes
        out = [_coded(dlp_configured, f"DLP {names[0]} Value Configured", _YES if dlp is not None else _NO),
               _coded(ctdivol_configured, f"CTDIvol {names[0]} Value Configured", _YES if ctdivol is not None else _NO)]
        if dlp is not None:
            out.append(_num(dlp_value, f"DLP {names[0]} Value", dlp, "mGy.cm"))
        if ctdivol is not None:
            out.append(_num(ctdivol_value, f"CTDIvol {names[0]} Value", ctdivol, "mGy"))
        if dlp_estimate is not None:
            out.append(_num(dlp_forward, f"{names[1]}DLP Forward Estimate", dlp_estimate, "mGy.cm"))
        if ctdivol_estimate is not None:
            out.append(_num(ctdivol_forward, f"{names[1]}CTDIvol Forward Estimate", ctdivol_estimate, "mGy"))
        if reason is not None:
            out.append(_text(C.REASON_FOR_PROCEEDING, "Reason for Proceeding", reason))
        if person is not None:
            out.append(_person(person))
        return out

    alert = details(e.dlp_alert_mgycm, e.ctdivol_alert_mgy, e.alert_dlp_estimate_mgycm, e.alert_ctdivol_estimate_mgy, e.alert_reason,
                    e.alert_person, (C.DLP_ALERT_VALUE_CONFIGURED, C.CTDIVOL_ALERT_VALUE_CONFIGURED, C.DLP_ALERT_VALUE,
                                     C.CTDIVOL_ALERT_VALUE, C.ACCUMULATED_DLP_FORWARD_ESTIMATE, C.ACCUMULATED_CTDIVOL_FORWARD_ESTIMATE),
                    ("Alert", "Accumulated "))
    notification = details(e.dlp_notification_mgycm, e.ctdivol_notification_mgy, e.notification_dlp_estimate_mgycm,
                           e.notification_ctdivol_estimate_mgy, e.notification_reason, e.notification_person,
                           (C.DLP_NOTIFICATION_VALUE_CONFIGURED, C.CTDIVOL_NOTIFICATION_VALUE_CONFIGURED, C.DLP_NOTIFICATION_VALUE,
                            C.CTDIVOL_NOTIFICATION_VALUE, C.DLP_FORWARD_ESTIMATE, C.CTDIVOL_FORWARD_ESTIMATE), ("Notification", ""))
    return [_container(C.DOSE_CHECK_ALERT_DETAILS, "Dose Check Alert Details", alert),
            _container(C.DOSE_CHECK_NOTIFICATION_DETAILS, "Dose Check Notification Details", notification)]


def _event(e: SyntheticEvent, uid: str):
    """One CT Acquisition container (TID 10013)."""
    items = [_text(C.ACQUISITION_PROTOCOL, "Acquisition Protocol", e.protocol)]
    if e.target_region is not None:
        value, scheme = C.TARGET_REGIONS[e.target_region][e.region_scheme]
        items.append(_coded(C.TARGET_REGION, "Target Region", (value, scheme, _REGION_MEANINGS[e.target_region])))
    items.append(_coded(C.CT_ACQUISITION_TYPE, "CT Acquisition Type", ACQUISITION_TYPE_CODES[e.acquisition_type]))
    items.append(_uidref(C.IRRADIATION_EVENT_UID, "Irradiation Event UID", uid))
    if e.start_datetime is not None:
        items.append(_datetime(C.DATETIME_STARTED, "DateTime Started", e.start_datetime))
    source = [_text(C.SOURCE_ID, "Identification of the X-Ray Source", "A"), _num(C.KVP, "KVP", e.kvp, "kV")]
    if e.max_tube_current_ma is not None:
        source.append(_num(C.MAX_TUBE_CURRENT, "Maximum X-Ray Tube Current", e.max_tube_current_ma, "mA"))
    source.append(_num(C.TUBE_CURRENT, "X-Ray Tube Current", e.tube_current_ma, "mA"))
    if e.exposure_time_per_rotation_s is not None:
        source.append(_num(C.EXPOSURE_TIME_PER_ROTATION, "Exposure Time per Rotation", e.exposure_time_per_rotation_s, "s"))
    params = [_num(C.EXPOSURE_TIME, "Exposure Time", e.exposure_time_s, "s"),
              _num(C.SCANNING_LENGTH, "Scanning Length", e.scanning_length_mm, "mm")]
    if e.single_collimation_mm is not None:
        params.append(_num(C.SINGLE_COLLIMATION, "Nominal Single Collimation Width", e.single_collimation_mm, "mm"))
    params.append(_num(C.TOTAL_COLLIMATION, "Nominal Total Collimation Width", e.total_collimation_mm, "mm"))
    if e.pitch is not None:
        params.append(_num(C.PITCH_FACTOR, "Pitch Factor", e.pitch, "ratio"))
    if e.single_collimation_mm is not None:  # the complete TID 10013 form: the number of sources too
        params.append(_num(C.NUMBER_OF_SOURCES, "Number of X-Ray Sources", 1, "sources"))
    params.append(_container(C.CT_XRAY_SOURCE_PARAMETERS, "CT X-Ray Source Parameters", source))
    items.append(_container(C.CT_ACQUISITION_PARAMETERS, "CT Acquisition Parameters", params))
    items.append(_container(C.CT_DOSE, "CT Dose", [
        _num(C.MEAN_CTDIVOL, "Mean CTDIvol", e.ctdivol_mgy, "mGy"),
        _coded(C.CTDIW_PHANTOM_TYPE, "CTDIw Phantom Type", PHANTOM_CODES[e.phantom]),
        _num(C.DLP, "DLP", e.dlp_mgycm, "mGy.cm"),
        *_dose_check(e),
    ]))
    if e.modulation is not None:
        items.append(_text(C.XRAY_MODULATION_TYPE, "X-Ray Modulation Type", e.modulation))
    return _container(C.CT_ACQUISITION, "CT Acquisition", items)


class _Tree:
    """Attribute-style building of a tree (``tree.PatientName = ...``), in the order written."""


def dose_report_tree(events: Sequence[SyntheticEvent], header: DoseReportHeader, *, key: str,
                     dlp_total_mgycm: float | None = None) -> dict:
    """An X-Ray Radiation Dose SR holding ``events``, as a tree (keyword -> value; module
    :mod:`qa.dicom.write_fast`); UIDs not given in ``header`` (and events without their own) are
    derived from ``key``; the total defaults to the events' sum."""
    from pydicom.uid import generate_uid

    h = header
    sop_uid = h.sop_instance_uid or generate_uid(entropy_srcs=[key, "sop"])
    study_uid = h.study_uid or generate_uid(entropy_srcs=[key, "study"])
    ds = _Tree()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = SOP_CLASS, sop_uid
    ds.StudyDate, ds.StudyTime = h.study_date, h.study_time
    ds.ContentDate, ds.ContentTime = h.content_date, h.content_time
    ds.SeriesDate, ds.SeriesTime = h.content_date, h.content_time
    ds.AccessionNumber = h.accession_number
    ds.Modality = "SR"
    ds.Manufacturer = h.manufacturer
    if h.institution_name is not None:
        ds.InstitutionName = h.institution_name
    ds.ReferringPhysicianName = h.referring_physician_name
    if h.station_name is not None:
        ds.StationName = h.station_name
    if h.study_description is not None:
        ds.StudyDescription = h.study_description
    ds.SeriesDescription = "Dose Report"
    if h.operators_name is not None:
        ds.OperatorsName = h.operators_name
    ds.ManufacturerModelName = h.model
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.PatientName, ds.PatientID = h.patient_name, h.patient_id
    ds.PatientBirthDate, ds.PatientSex = h.patient_birth_date, h.patient_sex
    if h.serial is not None:
        ds.DeviceSerialNumber = h.serial
    ds.SoftwareVersions = h.software_versions
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = h.series_uid or generate_uid(entropy_srcs=[key, "series"])
    ds.StudyID = h.study_id
    ds.SeriesNumber = h.series_number
    ds.InstanceNumber = h.instance_number
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code(*C.X_RAY_RADIATION_DOSE_REPORT, "X-Ray Radiation Dose Report")]
    ds.ContinuityOfContent = "SEPARATE"
    ds.PerformedProcedureCodeSequence = []
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ContentTemplateSequence = [{"MappingResource": "DCMR", "TemplateIdentifier": "10011"}]
    total = dlp_total_mgycm if dlp_total_mgycm is not None else sum(e.dlp_mgycm for e in events)
    observer_uid = h.device_observer_uid or generate_uid(entropy_srcs=["device", h.manufacturer, h.model, h.serial or "", h.station_name or ""])
    context = [_coded(C.OBSERVER_TYPE, "Observer Type", (*C.DEVICE, "Device"), "HAS OBS CONTEXT"),
               _uidref(C.DEVICE_OBSERVER_UID, "Device Observer UID", observer_uid, "HAS OBS CONTEXT")]
    if h.station_name is not None:
        context.append(_text(C.DEVICE_OBSERVER_NAME, "Device Observer Name", h.station_name, "HAS OBS CONTEXT"))
    context += [_text(C.DEVICE_OBSERVER_MANUFACTURER, "Device Observer Manufacturer", h.manufacturer, "HAS OBS CONTEXT"),
                _text(C.DEVICE_OBSERVER_MODEL, "Device Observer Model Name", h.model, "HAS OBS CONTEXT")]
    if h.serial is not None:
        context.append(_text(C.DEVICE_OBSERVER_SERIAL, "Device Observer Serial Number", h.serial, "HAS OBS CONTEXT"))
    if h.irradiation_start is not None:
        context.append(_datetime(C.START_OF_IRRADIATION, "Start of X-Ray Irradiation", h.irradiation_start, "HAS OBS CONTEXT"))
    if h.irradiation_end is not None:
        context.append(_datetime(C.END_OF_IRRADIATION, "End of X-Ray Irradiation", h.irradiation_end, "HAS OBS CONTEXT"))
    scope = _coded(C.SCOPE_OF_ACCUMULATION, "Scope of Accumulation", (*C.STUDY, "Study"), "HAS OBS CONTEXT")
    scope["ContentSequence"] = [_uidref(C.STUDY_INSTANCE_UID, "Study Instance UID", study_uid, "HAS PROPERTIES")]
    content = [
        _coded(C.PROCEDURE_REPORTED, "Procedure reported", ("P5-08000", "SRT", "Computed Tomography X-Ray"), "HAS CONCEPT MOD"),
        *context,
        scope,
        _container(C.CT_ACCUMULATED_DOSE_DATA, "CT Accumulated Dose Data", [
            _num(C.TOTAL_NUMBER_OF_EVENTS, "Total Number of Irradiation Events", len(events), "count"),
            _num(C.CT_DLP_TOTAL, "CT Dose Length Product Total", total, "mGy.cm"),
        ]),
    ]
    for n, e in enumerate(events, 1):
        content.append(_event(e, e.irradiation_event_uid or generate_uid(entropy_srcs=[key, "event", str(n)])))
    content.append(_coded(C.SOURCE_OF_DOSE_INFORMATION, "Source of Dose Information",
                          (*C.AUTOMATED_DATA_COLLECTION, "Automated Data Collection")))
    ds.ContentSequence = content
    return dict(ds.__dict__)


def dose_report_dataset(events: Sequence[SyntheticEvent], header: DoseReportHeader, *, key: str,
                        dlp_total_mgycm: float | None = None):
    """The report of :func:`dose_report_tree` as a pydicom dataset, with its file meta information."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    tree = dose_report_tree(events, header, key=key, dlp_total_mgycm=dlp_total_mgycm)
    ds = dataset_from_tree(tree)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASS
    meta.MediaStorageSOPInstanceUID = tree["SOPInstanceUID"]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds


def dose_report_bytes(events: Sequence[SyntheticEvent], header: DoseReportHeader, *, key: str,
                      dlp_total_mgycm: float | None = None) -> bytes:
    """The report of :func:`dose_report_tree` as a Part 10 file: the bytes pydicom writes for
    :func:`dose_report_dataset`, about twenty times faster."""
    tree = dose_report_tree(events, header, key=key, dlp_total_mgycm=dlp_total_mgycm)
    return part10(SOP_CLASS, tree["SOPInstanceUID"], encode_tree(tree))


def write_dose_report(path: str | os.PathLike, events: Sequence[SyntheticEvent] = (SyntheticEvent(),), *,
                      dlp_total_mgycm: float | None = None, study_uid: str | None = None,
                      manufacturer: str | None = None, model: str | None = None, station_name: str | None = None,
                      serial: str | None = None, header: DoseReportHeader | None = None, durable: bool = True) -> str:
    """Write an X-Ray Radiation Dose SR with ``events`` (whole or not at all: :mod:`qa.outputs`; an
    earlier report at ``path`` is replaced); the total defaults to the events' sum.  UIDs not given
    are derived from ``path``.  ``study_uid``, ``manufacturer``, ``model`` (Manufacturer's Model
    Name), ``station_name`` and ``serial``, when given, override ``header``'s: a report written for
    images names their scanner, as a scanner's own report does."""
    given = {k: v for k, v in (("study_uid", study_uid), ("manufacturer", manufacturer), ("model", model),
                                ("station_name", station_name), ("serial", serial)) if v is not None}
    data = dose_report_bytes(events, replace(header or DoseReportHeader(), **given), key=os.fspath(path),
                             dlp_total_mgycm=dlp_total_mgycm)
    write_file(path, data, replace=True, durable=durable)
    return os.fspath(path)
