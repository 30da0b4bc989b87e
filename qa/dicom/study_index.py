"""Which study each file belongs to, read cheaply; and the facts of a study that its objects share.

``qa ingest`` reads many files twice: first only their opening elements (:func:`index_source`:
SOP Class and Instance UIDs, Modality, StudyInstanceUID; parsing stops after the StudyInstanceUID,
nothing is decoded), to group them by study and to skip objects already stored; then each new
study's files in full (headers only, :func:`qa.dicom.series.scan_inputs`).  :func:`study_facts`
reads what a study's objects say about the study: its date as written, descriptions, and the
patient, accession and operator, each only as its keyed pseudonym.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from qa.dicom import attributes as attr
from qa.dicom.files import Source, peek
from qa.records.identity import Pseudonymiser
from qa.records.inputs import SkippedFile
from qa.records.study import StudyFacts

# (0020,000D) Study Instance UID: the last element the index reads (DICOM elements ascend by tag).
STUDY_INSTANCE_UID_TAG = 0x0020000D


@dataclass(frozen=True)
class IndexedObject:
    """One DICOM object found by the first pass: where it is, which study (pseudonym), what it is."""

    source: Source
    study_key: str | None  # pseudonym of the StudyInstanceUID; None when the object has none
    sop_instance_uid: str | None
    sop_class_uid: str | None
    modality: str | None


def index_source(src: Source, pseudonymise: Pseudonymiser) -> IndexedObject | SkippedFile:
    """The study and identity of the object in ``src`` (a :class:`SkippedFile` when it is not
    DICOM); an unreadable file raises :class:`~qa.errors.InputError`.  The StudyInstanceUID leaves
    only as its pseudonym."""
    ds = peek(src, STUDY_INSTANCE_UID_TAG)
    if isinstance(ds, SkippedFile):
        return ds
    sop_class = attr.raw_text(ds, "SOPClassUID")
    sop_uid = attr.raw_text(ds, "SOPInstanceUID")
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        sop_class = sop_class or (str(meta.get("MediaStorageSOPClassUID", "") or "") or None)
        sop_uid = sop_uid or (str(meta.get("MediaStorageSOPInstanceUID", "") or "") or None)
    return IndexedObject(src, pseudonymise(attr.raw_text(ds, "StudyInstanceUID")), sop_uid, sop_class,
                         attr.raw_text(ds, "Modality"))


def study_facts(datasets, pseudonymise: Pseudonymiser, *, operator_in_clear: bool = False) -> StudyFacts:
    """What the datasets of one study (images first, then dose reports) say about the study: the
    first value present of each attribute.  Patient ID, Accession Number and Operators' Name only as
    pseudonyms (the operator's name in clear when ``operator_in_clear``: a site's choice)."""
    def first(keyword: str, raw: bool = False) -> str | None:
        for ds in datasets:
            value = attr.raw_text(ds, keyword) if raw else attr.text(ds, keyword)
            if value:
                return value
        return None

    date = first("StudyDate", raw=True)
    time = first("StudyTime", raw=True) if date else None
    operator = next((name for ds in datasets if (name := _person_names(ds, "OperatorsName"))), None)
    return StudyFacts(
        study_datetime=_iso(date, time),
        study_month=f"{date[:4]}-{date[4:6]}" if date and len(date) >= 6 and date[:6].isdigit() else None,
        study_description=first("StudyDescription"),
        protocol_name=first("ProtocolName"),
        body_part=first("BodyPartExamined"),
        patient_key=pseudonymise(first("PatientID")),
        accession_key=pseudonymise(first("AccessionNumber")),
        operator_key=(" ".join(operator.replace("^", " ").split()) or None) if operator and operator_in_clear else pseudonymise(operator),
    )


def _person_names(ds, keyword: str) -> str | None:
    """A PN attribute's names as text (several joined by a backslash); None when absent or empty."""
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    names = [str(v) for v in value] if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [str(value)]
    return "\\".join(n.strip() for n in names if n.strip()) or None


def _iso(date: str | None, time: str | None) -> str | None:
    """DICOM DA (+ TM) as ISO 8601 without an offset (the scanner's wall clock); None when not a date."""
    if not date or len(date) != 8 or not date.isdigit():
        return None
    text = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    digits = (time or "").split(".")[0]
    if len(digits) >= 4 and digits.isdigit():
        text += f"T{digits[:2]}:{digits[2:4]}:{digits[4:6] or '00'}"
    else:
        text += "T00:00:00"
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return text
