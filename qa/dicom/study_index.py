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
from qa.dicom.quick_header import quick_elements, text
from qa.dicom.rdsr_common import names_phantom_qa
from qa.dicom.value_warnings import reading
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
    only as its pseudonym.

    A Part 10 file in little-endian encoding is indexed from its raw bytes (:func:`_quick_index`: the
    element headers walked, four values taken); anything else, or anything unexpected on the way,
    is read by pydicom (:func:`qa.dicom.files.peek`).  A file that ends before its StudyInstanceUID
    (cut in its file meta or its first elements) is damaged: :class:`~qa.errors.InputError`, never
    an object without a study.  The full read that follows for a new study parses every file with
    pydicom anyway."""
    if src.path is not None:
        quick = _quick_index(src.path)
        if quick is not None:
            sop_class, sop_uid, modality, study_uid = quick
            return IndexedObject(src, pseudonymise(study_uid), sop_uid, sop_class, modality)
    ds = peek(src, STUDY_INSTANCE_UID_TAG)
    if isinstance(ds, SkippedFile):
        return ds
    if attr.raw_text(ds, "StudyInstanceUID") is None and _ended_before_study(ds):
        from qa.errors import InputError

        raise InputError(src.label, "StudyInstanceUID",
                         "the file ends before its StudyInstanceUID (0020,000D): truncated, so it cannot be grouped "
                         "into a study", hint="copy or export the file again from the scanner or PACS")
    sop_class = attr.raw_text(ds, "SOPClassUID")
    sop_uid = attr.raw_text(ds, "SOPInstanceUID")
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        sop_class = sop_class or (str(meta.get("MediaStorageSOPClassUID", "") or "") or None)
        sop_uid = sop_uid or (str(meta.get("MediaStorageSOPInstanceUID", "") or "") or None)
    return IndexedObject(src, pseudonymise(attr.raw_text(ds, "StudyInstanceUID")), sop_uid, sop_class,
                         attr.raw_text(ds, "Modality"))


def _ended_before_study(ds) -> bool:
    """Did the file end before its StudyInstanceUID could come (cut short), rather than go on past
    (0020,000D) without one?  A file read up to the UID says so itself (``qa_ended_before`` of
    :func:`qa.dicom.files.peek`); a zip member is read whole: no element beyond (0020,000D)."""
    ended = getattr(ds, "qa_ended_before", None)
    if ended is not None:
        return bool(ended)
    return not any(int(tag) > STUDY_INSTANCE_UID_TAG for tag in ds.keys())


# The elements the index takes: (0008,0016) SOP Class UID, (0008,0018) SOP Instance UID, (0008,0060) Modality,
# (0020,000D) Study Instance UID; and from the file meta (0002,0002), (0002,0003), (0002,0010) Transfer Syntax UID.
_WANTED = frozenset((0x00080016, 0x00080018, 0x00080060, STUDY_INSTANCE_UID_TAG))
# Bytes read for the index: the elements before the Study Instance UID usually fit in the first
# (a whole header is a few kB); the second is read only when they do not (long private blocks, icons).
_FIRST_BYTES, _HEAD_BYTES = 8 * 1024, 64 * 1024


def _quick_index(path: str) -> tuple[str | None, str | None, str | None, str | None] | None:
    """(SOP Class UID, SOP Instance UID, Modality, Study Instance UID) of a little-endian Part 10
    file, from its raw bytes; None when the file is anything else or not as expected (pydicom reads it then)."""
    try:
        with open(path, "rb") as fp:
            buf = fp.read(_FIRST_BYTES)
            found = _index_bytes(buf)
            if found is None and len(buf) == _FIRST_BYTES:  # the elements wanted may lie further in: read more
                buf += fp.read(_HEAD_BYTES - _FIRST_BYTES)
                found = _index_bytes(buf)
    except OSError:
        return None
    return found


def _index_bytes(buf: bytes) -> tuple[str | None, str | None, str | None, str | None] | None:
    """:func:`_quick_index` of a file's first bytes (None: not as expected, or not enough bytes)."""
    quick = quick_elements(buf, stop=STUDY_INSTANCE_UID_TAG, wanted=_WANTED)
    if quick is None:
        return None
    meta, found = quick
    return (text(found.get(0x00080016)) or text(meta.get(0x00020002)), text(found.get(0x00080018)) or text(meta.get(0x00020003)),
            text(found.get(0x00080060)), text(found.get(STUDY_INSTANCE_UID_TAG)))


def study_facts(datasets, pseudonymise: Pseudonymiser, *, operator_in_clear: bool = False) -> StudyFacts:
    """What the datasets of one study (images first, then dose reports) say about the study: the
    first value present of each attribute.  Patient ID, Accession Number and Operators' Name only as
    pseudonyms (the operator's name in clear when ``operator_in_clear``: a site's choice)."""
    def first(keyword: str, raw: bool = False) -> str | None:
        for ds in datasets:
            with reading(getattr(ds, "filename", None)):  # pydicom's warnings about the value name the file
                value = attr.raw_text(ds, keyword) if raw else attr.text(ds, keyword)
            if value:
                return value
        return None

    date = first("StudyDate", raw=True)
    time = first("StudyTime", raw=True) if date else None
    operator = next((name for ds in datasets if (name := attr.text(ds, "OperatorsName"))), None)
    return StudyFacts(
        study_datetime=_iso(date, time),
        study_month=f"{date[:4]}-{date[4:6]}" if date and len(date) >= 6 and date[:6].isdigit() else None,
        study_description=first("StudyDescription"),
        protocol_name=first("ProtocolName"),
        body_part=first("BodyPartExamined"),
        patient_key=pseudonymise(first("PatientID")),
        accession_key=pseudonymise(first("AccessionNumber")),
        operator_key=(" ".join(operator.replace("^", " ").split()) or None) if operator and operator_in_clear else pseudonymise(operator),
        named_qa=names_phantom_qa(datasets),
    )


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
