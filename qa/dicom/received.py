"""What a received DICOM object is, from its bytes: the identity the DICOM receiver files it under.

``qa serve`` (:mod:`qa.net`) gets each object as the bytes the sender encoded, with their File
Meta Information.  :func:`identify_object` reads its opening elements (never its pixel data) and
returns its SOP Class and Instance UIDs, Modality, and its study and series, the latter two only
as keyed pseudonyms: the clear Study and Series Instance UIDs never leave this module.  Bytes that
pydicom cannot parse as a DICOM file raise :class:`~qa.errors.InputError`.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from qa.errors import InputError
from qa.records.identity import Pseudonymiser

# A UID (PS3.5 sec. 9.1): components of digits separated by dots, at most 64 characters.
UID_MAX_CHARS = 64  # PS3.5 sec. 9.1
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")

# The storage SOP classes the receiver accepts (PS3.4 Annex B.5), by what qa does with them.
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"  # X-Ray Radiation Dose SR Storage
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR Storage
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR Storage
TWELVE_LEAD_ECG = "1.2.840.10008.5.1.4.1.1.9.1.1"  # 12-lead ECG Waveform Storage
GENERAL_ECG = "1.2.840.10008.5.1.4.1.1.9.1.2"  # General ECG Waveform Storage
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage

KIND_OF_CLASS = {
    CT_IMAGE: "ct", ENHANCED_CT: "ct",
    XRAY_DOSE_SR: "sr", ENHANCED_SR: "sr", COMPREHENSIVE_SR: "sr",
    TWELVE_LEAD_ECG: "ecg", GENERAL_ECG: "ecg",
    SECONDARY_CAPTURE: "capture",
}
STORAGE_CLASSES = tuple(KIND_OF_CLASS)


def is_uid(text: str | None) -> bool:
    """Is ``text`` a well-formed UID (digits and dots, no empty component, at most 64 characters)?
    Only such a UID ever names a file (nothing else can reach a path)."""
    return bool(text) and len(text) <= UID_MAX_CHARS and _UID.fullmatch(text) is not None


@dataclass(frozen=True)
class ReceivedObject:
    """A received object's identity: clear SOP UIDs (they name the file), pseudonymised study and series."""

    sop_class_uid: str | None
    sop_instance_uid: str | None
    modality: str | None
    study_key: str | None  # keyed pseudonym of the StudyInstanceUID
    series_key: str | None  # keyed pseudonym of the SeriesInstanceUID
    workflow: str | None = None  # the site rule's choice, from the Patient ID (which is not kept)

    @property
    def kind(self) -> str:
        """``ct``, ``sr`` (a dose report when it carries TID 10011), ``ecg``, ``capture`` or ``other``."""
        return KIND_OF_CLASS.get(self.sop_class_uid or "", "other")


_TAGS = ("SOPClassUID", "SOPInstanceUID", "Modality", "StudyInstanceUID", "SeriesInstanceUID", "PatientID")
# The same by tag, for the raw-bytes reader: (0008,0016), (0008,0018), (0008,0060), (0010,0020),
# (0020,000D), (0020,000E), the last of them (elements ascend by tag: reading stops there).
_SOP_CLASS, _SOP_INSTANCE, _MODALITY, _PATIENT_ID, _STUDY, _SERIES = 0x00080016, 0x00080018, 0x00080060, 0x00100020, 0x0020000D, 0x0020000E
_QUICK = frozenset((_SOP_CLASS, _SOP_INSTANCE, _MODALITY, _PATIENT_ID, _STUDY, _SERIES))


def identify_object(data: bytes | str | os.PathLike, pseudonymise: Pseudonymiser, *, label: str = "received object",
                    rule: Callable[[str | None], str | None] | None = None) -> ReceivedObject:
    """The identity of the DICOM file in ``data`` (its bytes, or a path); its pixels are never read.
    ``rule(patient_id)``: the site rule's workflow for the object's Patient ID (the ID itself is not returned)."""
    if isinstance(data, (bytes, bytearray)):
        quick = _identify_quickly(data, pseudonymise, rule)
        if quick is not None:
            return quick
    import pydicom
    from pydicom.errors import InvalidDicomError

    from qa.dicom import attributes as attr

    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else os.fspath(data)
    try:
        ds = pydicom.dcmread(source, stop_before_pixels=True, specific_tags=list(_TAGS))
    except (InvalidDicomError, EOFError, ValueError, TypeError, KeyError, IndexError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(source, io.BytesIO):
            raise
        raise InputError(label, None, f"not a readable DICOM file: {exc}",
                         hint="send the object again; the sender may have written it wrongly") from exc
    meta = getattr(ds, "file_meta", None)
    sop_class = attr.raw_text(ds, "SOPClassUID") or (str(meta.get("MediaStorageSOPClassUID", "")) or None if meta else None)
    sop_uid = attr.raw_text(ds, "SOPInstanceUID") or (str(meta.get("MediaStorageSOPInstanceUID", "")) or None if meta else None)
    study, series = attr.raw_text(ds, "StudyInstanceUID"), attr.raw_text(ds, "SeriesInstanceUID")
    workflow = rule(attr.raw_text(ds, "PatientID")) if rule is not None else None
    return ReceivedObject(sop_class, sop_uid, attr.raw_text(ds, "Modality"),
                          pseudonymise(study) if study else None, pseudonymise(series) if series else None, workflow)


def _identify_quickly(data: bytes, pseudonymise: Pseudonymiser, rule) -> ReceivedObject | None:
    """:func:`identify_object` from the raw bytes of a little-endian Part 10 object
    (:func:`qa.dicom.quick_header.quick_elements`); None for anything else: pydicom reads it then.
    The same values as pydicom's path (raw text, latin-1, spaces and NULs stripped; tests/net/test_identify.py)."""
    from qa.dicom.quick_header import quick_elements, text

    quick = quick_elements(data, stop=_SERIES, wanted=_QUICK, whole=True)
    if quick is None:
        return None
    meta, found = quick
    sop_class = text(found.get(_SOP_CLASS)) or text(meta.get(0x00020002))
    sop_uid = text(found.get(_SOP_INSTANCE)) or text(meta.get(0x00020003))
    study, series = text(found.get(_STUDY)), text(found.get(_SERIES))
    workflow = rule(text(found.get(_PATIENT_ID))) if rule is not None else None
    return ReceivedObject(sop_class, sop_uid, text(found.get(_MODALITY)),
                          pseudonymise(study) if study else None, pseudonymise(series) if series else None, workflow)
