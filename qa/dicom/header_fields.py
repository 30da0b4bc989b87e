"""The header fields an image series' readers use, and header scans that keep only those.

A header-only scan (``qa check``, ``qa ingest``, the receiver: :func:`qa.dicom.series.scan_inputs`
with ``headers_only``) keeps every image's header until the exam has been checked: on a 10,000-file
exam that is most of its memory.  :func:`keep_only_used` drops each image header's other elements
as soon as the image is grouped into its series (dose reports, screen captures and other objects
keep theirs whole: their readers walk them), and marks the header as :class:`UsedFields`.

A reader that asks such a header for a field it does not keep is a programming error, and it is
refused loudly (:class:`FieldNotKept`, never "absent": a silently missing field would make a check
read "not available").  Adding a reader of a new header field is adding its keyword here; the tests
run every reader over real and synthetic headers so that a forgotten one fails there first.

What is kept:

* the standard attributes listed below by what reads them;
* the standard attributes and private groups of the vendor conventions
  (:data:`qa.dicom.private_tags.VENDOR_TAGS`, :data:`qa.dicom.private_tags.STANDARD`): every
  element of those private groups, so that a private creator is found in whichever block the file
  put it;
* nested sequences whole (an enhanced image's functional groups, the vendors' private sequences).
"""

from __future__ import annotations

import functools

from pydicom.dataset import FileDataset

__all__ = ["FieldNotKept", "UsedFields", "is_kept", "keep_only_used", "kept_private_groups", "kept_standard_tags", "refuse_decoding"]

# Standard attributes read from an image header after the scan, by their reader.  Only what a
# reader names (tests/dicom/test_header_fields.py finds every keyword qa's readers name in this table).
_READ_BY = {
    # pydicom itself: the character set decodes text values
    "pydicom": ("SpecificCharacterSet",),
    # what the object is, which series and study, instance order (qa.dicom.series, qa.dicom.images)
    "identity": (
        "SOPClassUID", "SOPInstanceUID", "Modality", "SeriesInstanceUID", "StudyInstanceUID", "InstanceNumber",
        "SeriesNumber", "AcquisitionNumber", "ImageType", "SeriesDescription", "ProtocolName", "StudyDescription",
        "BodyPartExamined", "NumberOfFrames", "IrradiationEventUID",
    ),
    # the patient and the exam: pseudonymised as they are read, never kept in clear (qa.dicom.study_index, qa.dicom.exam)
    "patient": ("PatientID", "PatientName", "AccessionNumber", "OperatorsName", "PerformedProcedureStepDescription"),
    # when (qa.dicom.datetimes, qa.dicom.images.series_info)
    "times": (
        "StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime",
        "AcquisitionDateTime", "ContentDate", "ContentTime",
    ),
    # which scanner (qa.records.identity: vendor, station, serial number)
    "scanner": (
        "Manufacturer", "ManufacturerModelName", "StationName", "DeviceSerialNumber", "DeviceUID", "InstitutionName",
        "SoftwareVersions",
    ),
    # where each slice lies (qa.dicom.geometry, qa.dicom.slice_table); an enhanced image's functional groups
    "geometry": (
        "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "SpacingBetweenSlices",
        "GantryDetectorTilt", "TablePosition", "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence",
    ),
    # the pixel module: reading the pixels in place and into HU (qa.dicom.pixels, qa.dicom.decode); a
    # header scan stops before the pixel data, so those are never held, only asked for
    "pixels": (
        "Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation", "SamplesPerPixel",
        "PhotometricInterpretation", "RescaleSlope", "RescaleIntercept", "RescaleType",
        "PixelData", "FloatPixelData", "DoubleFloatPixelData",
    ),
    # the acquisition protocol checked at the console (qa.dicom.headers, qa.compliance)
    "acquisition": (
        "KVP", "ConvolutionKernel", "ReconstructionDiameter", "DataCollectionDiameter", "ScanOptions",
        "AcquisitionType", "SpiralPitchFactor", "RevolutionTime", "SingleCollimationWidth", "TotalCollimationWidth",
        "ReconstructionAlgorithm", "ImageComments",
    ),
    # exposure and dose (qa.dicom.images.series_info, the technique check against the baseline)
    "exposure": (
        "XRayTubeCurrent", "XRayTubeCurrentInmA", "ExposureTime", "ExposureTimeInms", "Exposure", "ExposureInmAs",
        "CTDIvol",
    ),
    # ECG gating and cardiac phase (qa.dicom.private_tags.STANDARD adds its own, the gating checks)
    "cardiac": ("CardiacSynchronizationTechnique", "HeartRate", "NominalPercentageOfCardiacPhase",
                "NominalCardiacTriggerDelayTime", "TriggerTime"),
}


class FieldNotKept(Exception):
    """A reader asked a slimmed image header for a field the header scan does not keep (a
    programming error in qa: add the field to :mod:`qa.dicom.header_fields`).  Not a KeyError,
    AttributeError or RuntimeError, which readers and pydicom catch as "absent" or "cannot decode"."""


@functools.cache
def kept_standard_tags() -> frozenset[int]:
    """The tags of the standard attributes kept (the readers' above, and the vendor conventions')."""
    from pydicom.datadict import tag_for_keyword

    from qa.dicom import private_tags

    keywords = {k for names in _READ_BY.values() for k in names}
    keywords.update(name for rows in private_tags.STANDARD.values() for name, _ in rows)
    keywords.update(row.keyword for row in private_tags.VENDOR_TAGS if isinstance(row, private_tags.TextConvention))
    tags = set()
    for keyword in keywords:
        found = tag_for_keyword(keyword)
        if found is None:
            raise ValueError(f"qa.dicom.header_fields: {keyword!r} is not a DICOM keyword")
        tags.add(int(found))
    return frozenset(tags)


@functools.cache
def kept_private_groups() -> frozenset[int]:
    """The private groups of the vendor conventions, kept whole (creators and elements)."""
    from qa.dicom import private_tags

    groups = set()
    for row in private_tags.VENDOR_TAGS:
        if isinstance(row, private_tags.PrivateTag):
            groups.add(row.group)
            if row.within is not None:
                groups.add(row.within.group)
    even = sorted(g for g in groups if g % 2 == 0)
    if even:  # a whole standard group would be kept (PS3.5 7.8: private groups are odd)
        raise ValueError(f"qa.dicom.private_tags: group(s) {', '.join(f'{g:04X}' for g in even)} of a vendor row are not private")
    return frozenset(groups)


def is_kept(tag: int) -> bool:
    """Whether a slimmed image header keeps the element ``tag`` (:func:`keep_only_used`'s rule)."""
    return tag in kept_standard_tags() or (tag >> 16) in kept_private_groups()


def keep_only_used(ds, label: str) -> None:
    """Drop the elements of the image header ``ds`` (a headers-only read of the file ``label``) that no
    reader uses, and mark it :class:`UsedFields` (which refuses a read of a field it does not keep)."""
    standard, private = kept_standard_tags(), kept_private_groups()
    kept = {}
    for tag, elem in ds._dict.items():
        number = int(tag)  # a plain int: pydicom's BaseTag compares in Python, the set lookup then does not
        if number in standard or (number >> 16) in private:  # is_kept, inlined: once per element of every header
            kept[tag] = elem
    object.__setattr__(ds, "_dict", kept)
    object.__setattr__(ds, "qa_label", label)  # what messages call the file (a zip member, not its temporary copy)
    ds._private_blocks.clear()
    ds.__class__ = UsedFields


def refuse_decoding(ds) -> None:
    """A slimmed header is never handed to pydicom's pixel decoder, which reads fields (planar
    configuration, offset tables) from the header's dict without asking it."""
    raise FieldNotKept(f"{getattr(ds, 'qa_label', None) or 'a header'}: qa tried to decode the pixels of an image "
                       "header that its header scan slimmed to the fields qa's readers use: read the file again whole "
                       "first (qa.dicom.series.with_pixels)")


def _refuse(ds, tag: int, how: str):
    from pydicom.datadict import keyword_for_tag

    name = keyword_for_tag(tag) or "private"
    raise FieldNotKept(
        f"{getattr(ds, 'qa_label', None) or 'a header'}: qa read ({tag >> 16:04X},{tag & 0xFFFF:04X}) {name} ({how}) "
        "from an image header that its header scan slimmed to the fields qa's readers use: add it to qa.dicom.header_fields"
    )


def _as_tag(key) -> int | None:
    """The tag of a keyword, a tag number, a hex string ("00100010", "0x00100010") or a (group,
    element) pair; None for anything else (another attribute's name)."""
    from pydicom.tag import Tag

    try:
        return int(Tag(key))
    except (ValueError, TypeError, OverflowError):  # not a tag at all: an attribute name, or pydicom's own error follows
        return None


@functools.cache  # the readers ask the same few dozen keys of every header
def _key_is_kept(key) -> bool:
    """Whether a key (keyword, tag, hex string, (group, element) pair) names a kept field; True for
    another attribute's name."""
    tag = _as_tag(key)
    return tag is None or is_kept(tag)


class UsedFields(FileDataset):
    """An image header slimmed by :func:`keep_only_used`: reading an element it does not keep, or
    asking whether it holds one, raises :class:`FieldNotKept`.  Iterating over it gives the fields
    it keeps; it is never decoded (:func:`refuse_decoding`) nor written."""

    qa_slim_header = True

    def _check(self, key, how: str) -> None:
        if isinstance(key, slice):  # a range of elements: only within a kept private group (pydicom's private blocks)
            for end in (key.start, key.stop):
                tag = _as_tag(end) if end is not None else None
                if tag is not None and (tag >> 16) not in kept_private_groups():
                    _refuse(self, tag, how)
            return
        try:
            kept = _key_is_kept(key)
        except TypeError:  # unhashable: not a key at all, pydicom refuses it itself
            return
        if not kept:
            _refuse(self, _as_tag(key), how)

    def __getitem__(self, key):
        self._check(key, "ds[...]")
        return super().__getitem__(key)

    def get_item(self, key, *, keep_deferred: bool = False):
        self._check(key, "get_item")
        return super().get_item(key, keep_deferred=keep_deferred)

    def __contains__(self, name) -> bool:
        self._check(name, "in")
        return super().__contains__(name)

    def __getattr__(self, name: str):
        if name[:1].isupper():
            self._check(name, "attribute")
        return super().__getattr__(name)

    def get(self, key, default=None):
        self._check(key, "get")
        return super().get(key, default)

    def pop(self, key, *args):
        self._check(key, "pop")
        return super().pop(key, *args)
