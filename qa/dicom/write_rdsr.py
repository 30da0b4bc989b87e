"""A CT Radiation Dose SR writer for synthetic data and tests (DICOM PS3.16 TID 10011).

Writes the content :mod:`qa.dicom.rdsr` reads: the document title, CT Accumulated Dose Data
(TID 10012) and one CT Acquisition container (TID 10013) per event, with its acquisition
parameters, X-ray source parameters and CT dose.  Numbers are written as given (a test can write
a negative DLP to show that the reader refuses it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from qa.dicom import rdsr_codes as C


@dataclass(frozen=True)
class SyntheticEvent:
    """One irradiation event of a synthetic dose report."""

    ctdivol_mgy: float = 4.0
    dlp_mgycm: float = 60.0
    kvp: float = 120.0
    tube_current_ma: float = 200.0
    exposure_time_s: float = 0.3
    scanning_length_mm: float = 150.0
    total_collimation_mm: float = 40.0
    phantom: str = "body32"  # head16 | body32
    protocol: str = "Calcium Score"


_UNITS = {"mGy": "mGy", "mGy.cm": "mGy.cm", "kV": "kV", "mA": "mA", "s": "s", "mm": "mm", "count": "{events}"}


def _code(value: str, scheme: str, meaning: str):
    from pydicom.dataset import Dataset

    d = Dataset()
    d.CodeValue, d.CodingSchemeDesignator, d.CodeMeaning = value, scheme, meaning
    return d


def _item(value_type: str, concept, meaning: str, relationship: str = "CONTAINS"):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as Seq

    d = Dataset()
    d.RelationshipType = relationship
    d.ValueType = value_type
    d.ConceptNameCodeSequence = Seq([_code(concept[0], concept[1], meaning)])
    return d


def _num(concept, meaning: str, value: float | str, unit: str):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as Seq

    d = _item("NUM", concept, meaning)
    mv = Dataset()
    mv.NumericValue = value if isinstance(value, str) else f"{value:.10g}"[:16]
    mv.MeasurementUnitsCodeSequence = Seq([_code(_UNITS[unit], "UCUM", unit)])
    d.MeasuredValueSequence = Seq([mv])
    return d


def _container(concept, meaning: str, children: list):
    from pydicom.sequence import Sequence as Seq

    d = _item("CONTAINER", concept, meaning)
    d.ContinuityOfContent = "SEPARATE"
    d.ContentSequence = Seq(children)
    return d


def _coded(concept, meaning: str, value):
    from pydicom.sequence import Sequence as Seq

    d = _item("CODE", concept, meaning)
    d.ConceptCodeSequence = Seq([_code(*value)])
    return d


def write_dose_report(path: str | os.PathLike, events: Sequence[SyntheticEvent] = (SyntheticEvent(),), *,
                      dlp_total_mgycm: float | None = None, study_uid: str | None = None,
                      manufacturer: str = "QA Synthetic", station_name: str = "QA-SYNTH-1",
                      serial: str = "SYN0001") -> str:
    """Write an X-Ray Radiation Dose SR with ``events``; the total defaults to the events' sum."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as Seq
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    key = os.fspath(path)
    sop_class = "1.2.840.10008.5.1.4.1.1.88.67"  # X-Ray Radiation Dose SR Storage (PS3.4 B.5)
    sop_uid = generate_uid(entropy_srcs=[key, "sop"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.StudyInstanceUID = study_uid or generate_uid(entropy_srcs=[key, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[key, "series"])
    ds.Modality = "SR"
    ds.Manufacturer, ds.StationName, ds.DeviceSerialNumber = manufacturer, station_name, serial
    ds.ManufacturerModelName = "Dose Report Synthesiser"
    ds.StudyDate, ds.StudyTime = "20260105", "073000"
    ds.SeriesDate, ds.SeriesTime = "20260105", "074000"
    ds.PatientName, ds.PatientID = "QA^DOSE", "DOSE"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Seq([_code(*C.X_RAY_RADIATION_DOSE_REPORT, "X-Ray Radiation Dose Report")])
    template = Dataset()
    template.MappingResource, template.TemplateIdentifier = "DCMR", "10011"
    ds.ContentTemplateSequence = Seq([template])
    total = dlp_total_mgycm if dlp_total_mgycm is not None else sum(e.dlp_mgycm for e in events)
    phantoms = {"head16": ("113690", "DCM", "IEC Head Dosimetry Phantom"), "body32": ("113691", "DCM", "IEC Body Dosimetry Phantom")}
    content = [
        _coded(C.PROCEDURE_REPORTED, "Procedure reported", ("P5-08000", "SRT", "Computed Tomography X-Ray")),
        _container(C.CT_ACCUMULATED_DOSE_DATA, "CT Accumulated Dose Data", [
            _num(C.TOTAL_NUMBER_OF_EVENTS, "Total Number of Irradiation Events", len(events), "count"),
            _num(C.CT_DLP_TOTAL, "CT Dose Length Product Total", total, "mGy.cm"),
        ]),
    ]
    for n, e in enumerate(events, 1):
        uid = _item("UIDREF", C.IRRADIATION_EVENT_UID, "Irradiation Event UID")
        uid.UID = generate_uid(entropy_srcs=[key, "event", str(n)])
        protocol = _item("TEXT", C.ACQUISITION_PROTOCOL, "Acquisition Protocol")
        protocol.TextValue = e.protocol
        content.append(_container(C.CT_ACQUISITION, "CT Acquisition", [
            protocol,
            _coded(C.CT_ACQUISITION_TYPE, "CT Acquisition Type", ("113804", "DCM", "Sequenced Acquisition")),
            uid,
            _container(C.CT_ACQUISITION_PARAMETERS, "CT Acquisition Parameters", [
                _num(C.EXPOSURE_TIME, "Exposure Time", e.exposure_time_s, "s"),
                _num(C.SCANNING_LENGTH, "Scanning Length", e.scanning_length_mm, "mm"),
                _num(C.TOTAL_COLLIMATION, "Nominal Total Collimation Width", e.total_collimation_mm, "mm"),
                _container(C.CT_XRAY_SOURCE_PARAMETERS, "CT X-Ray Source Parameters", [
                    _num(C.KVP, "KVP", e.kvp, "kV"),
                    _num(C.TUBE_CURRENT, "X-Ray Tube Current", e.tube_current_ma, "mA"),
                ]),
            ]),
            _container(C.CT_DOSE, "CT Dose", [
                _num(C.MEAN_CTDIVOL, "Mean CTDIvol", e.ctdivol_mgy, "mGy"),
                _coded(C.CTDIW_PHANTOM_TYPE, "CTDIw Phantom Type", phantoms[e.phantom]),
                _num(C.DLP, "DLP", e.dlp_mgycm, "mGy.cm"),
            ]),
        ]))
    ds.ContentSequence = Seq(content)
    ds.save_as(path, enforce_file_format=True)
    return key
