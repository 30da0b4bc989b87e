"""Find CT image series in folders, zip files or lists of files, and load one as an HU volume.

Two steps, each file touched once:

1. :func:`scan_inputs` reads every file's header once (pixel data deferred, never decoded) and
   groups the images by SeriesInstanceUID.  Localizers are counted and left out, non-DICOM files
   are counted and skipped, other DICOM objects (dose reports, secondary captures, ...) are listed.
2. :func:`load_volume` validates the geometry of one series (orientation, tilt, gaps, duplicates,
   matrix; :mod:`qa.dicom.geometry`), sorts its slices along the slice normal and decodes each
   pixel array exactly once (:mod:`qa.dicom.pixels`) into an HU volume: int16 when the rescale is in
   whole numbers (the usual CT case), else float32 (:mod:`qa.dicom.decode`).

:func:`load_series` does both and picks the series (``series_uid``, or the only one there is).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from qa.dicom import attributes as attr
from qa.dicom import files, geometry, pixels
from qa.dicom import plausible as plausible_values
from qa.dicom.collector import collector_paused
from qa.dicom.decode import decode_volume
from qa.dicom.images import ImageRef, images_of, series_info
from qa.dicom.slice_table import slice_table
from qa.dicom.value_warnings import reading
from qa.errors import InputError
from qa.numeric import median
from qa.records.plausibility import require_possible
from qa.records.stacks import find_stacks
from qa.records.identity import Pseudonymiser
from qa.records.inputs import FileCounts, SkippedFile, folder_of
from qa.records.volume import CTVolume, SeriesInfo, SliceGeometry

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "CTVolume", "ImageRef", "InputScan", "OtherObject", "SeriesGroup", "SeriesInfo", "SliceGeometry",
    "load_series", "load_volume", "scan_inputs", "select_series",
]

Progress = Callable[[int, int], None]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.2"
CT_SOP_CLASSES = frozenset(
    {CT_IMAGE_STORAGE, ENHANCED_CT_IMAGE_STORAGE, LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE}
)
_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
_SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SeriesGroup:
    """The images of one series found by :func:`scan_inputs` (headers read, pixels not)."""

    info: SeriesInfo
    images: tuple[ImageRef, ...]
    datasets: tuple[Dataset, ...] = field(repr=False)
    keepalive: tempfile.TemporaryDirectory | None = field(default=None, repr=False)  # temporary folder of files taken from zips


@dataclass(frozen=True)
class OtherObject:
    """A DICOM object that is not part of an image series (dose report, screen capture, ...)."""

    path: str  # what messages show: a path, or archive.zip!member
    sop_class_name: str
    modality: str | None
    reason: str
    file: str | None = field(default=None, repr=False)  # a readable copy on disk (a zip member's is temporary)
    keepalive: tempfile.TemporaryDirectory | None = field(default=None, repr=False, compare=False)  # the temporary folder of that copy
    dataset: Dataset | None = field(default=None, repr=False, compare=False)  # its header as read (a report is not read twice)


@dataclass(frozen=True, eq=False)
class InputScan:
    """What :func:`scan_inputs` found."""

    inputs: tuple[str, ...]
    series: tuple[SeriesGroup, ...]
    n_files: int
    n_non_dicom: int
    n_localizers: int
    localizer_series_uids: tuple[str, ...]
    other_objects: tuple[OtherObject, ...]
    skipped: tuple[SkippedFile, ...] = ()  # every file not read, with the reason (non-DICOM, damaged, special)

    @property
    def files(self) -> FileCounts:
        """The ``files`` block: files read as DICOM, files skipped and which."""
        return FileCounts(self.n_files - self.n_non_dicom, len(self.skipped), self.skipped)

    def summary(self) -> str:
        parts = [f"{self.n_files} file{'s' if self.n_files != 1 else ''} examined"]
        parts.append(f"{len(self.series)} image series")
        if self.n_localizers:
            parts.append(f"{self.n_localizers} localizer image(s) left out")
        if self.other_objects:
            parts.append(f"{len(self.other_objects)} other DICOM object(s) left out")
        damaged = sum(1 for s in self.skipped if s.damaged)
        if len(self.skipped) - damaged:
            parts.append(f"{len(self.skipped) - damaged} non-DICOM or special file(s) skipped")
        if damaged:
            parts.append(f"{damaged} unreadable file(s)")
        return ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Scanning and choosing
# --------------------------------------------------------------------------------------------


def scan_inputs(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    progress: Progress | None = None,
    headers_only: bool = False,
    pseudonymise: Pseudonymiser | None = None,
) -> InputScan:
    """Read the header of every file under ``inputs`` once and group the images by series.

    ``inputs`` is a folder (searched recursively), a zip file, a file, or a list of them (or the
    files already found: a :class:`~qa.dicom.files.FoundInputs`).
    ``headers_only`` reads with ``stop_before_pixels`` (for header checks; the volume cannot be
    loaded from such a scan): an object is then an image by its SOP class or its Rows, and each
    image header keeps only the fields qa's readers use (:mod:`qa.dicom.header_fields`; other
    objects keep their whole header).
    ``pseudonymise`` turns the StudyInstanceUID into ``SeriesInfo.study_key`` as it is read (an
    ephemeral one, good for telling studies apart within this call, when none is given).
    """
    pseudonymise = pseudonymise or Pseudonymiser.ephemeral()
    if headers_only:
        from qa.dicom.header_fields import keep_only_used
    found = inputs if isinstance(inputs, files.FoundInputs) else files.find_inputs(inputs)
    sources = found.sources
    skipped: list[SkippedFile] = list(found.skipped)
    groups: dict[str, dict] = {}
    n_non_dicom = 0
    n_localizers = 0
    localizer_series: list[str] = []
    others: list[OtherObject] = []
    total = len(sources)
    # the cyclic collector off while the headers pile up (qa.dicom.collector: a third of a scan's time otherwise)
    with collector_paused(), files.Reader(headers_only=headers_only) as reader:
        for n, src in enumerate(sources):
            if progress is not None:
                progress(n, total)
            ds = reader.examine(src)
            if isinstance(ds, SkippedFile):
                n_non_dicom += 1
                skipped.append(ds)
                continue
            sop = attr.raw_text(ds, "SOPClassUID") or ""
            if not sop:
                meta = getattr(ds, "file_meta", None)
                sop = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta is not None else ""
            if not sop:
                raise InputError(src.label, "SOPClassUID", "is missing: cannot tell what this DICOM object is",
                                 hint="remove the file from the input, or re-export it")
            modality = attr.raw_text(ds, "Modality")
            has_pixels = any(k in ds for k in _PIXEL_KEYWORDS)
            if headers_only:
                has_pixels = sop in CT_SOP_CLASSES or ("Rows" in ds and not sop.startswith(_SR_PREFIX))
                if sop in CT_SOP_CLASSES and getattr(ds, "qa_pixels_absent", False):
                    has_pixels = False  # the file ends before its pixel data: refused below, as when pixels are read
            if not has_pixels:
                if sop in CT_SOP_CLASSES:
                    raise InputError(
                        src.label, "PixelData", "is missing from a CT image: the file is truncated or incomplete",
                        hint="re-export the series from the scanner or PACS",
                    )
                reason = "structured report" if sop.startswith(_SR_PREFIX) else "not an image"
                others.append(OtherObject(src.label, attr.sop_class_name(sop), modality, reason, *_on_disk(ds, reader), ds))
                continue
            if sop.startswith(_SECONDARY_CAPTURE_PREFIX):
                others.append(OtherObject(src.label, attr.sop_class_name(sop), modality, "secondary capture", *_on_disk(ds, reader), ds))
                continue
            uid = attr.raw_text(ds, "SeriesInstanceUID") or ""
            if not uid:
                raise InputError(src.label, "SeriesInstanceUID", "is missing: the image cannot be grouped into a series",
                                 hint="re-export the series from the scanner or PACS")
            entry = groups.setdefault(uid, {"datasets": [], "labels": [], "images": []})
            images, localizers = images_of(ds, src.label, len(entry["datasets"]))
            if localizers:
                n_localizers += localizers
                if uid not in localizer_series:
                    localizer_series.append(uid)
            if not images:
                if not entry["datasets"]:
                    del groups[uid]
                continue
            if headers_only:
                keep_only_used(ds, src.label)  # a header-only scan keeps of each image header what the readers use
            entry["datasets"].append(ds)
            entry["labels"].append(src.label)
            entry["images"].extend(images)
        workdir = reader.workdir
    if progress is not None:
        progress(total, total)

    series = []
    for entry in groups.values():
        _in_instance_order(entry)
        with reading(entry["labels"][0]):  # pydicom's warnings about its values name it (qa.dicom.value_warnings)
            info = series_info(entry["datasets"][0], entry["labels"][0], len(entry["images"]), len(entry["datasets"]), pseudonymise)
        series.append(
            SeriesGroup(info=info, images=tuple(entry["images"]), datasets=tuple(entry["datasets"]), keepalive=workdir)
        )
    series.sort(key=lambda g: (g.info.series_number if g.info.series_number is not None else 1 << 30, g.info.series_instance_uid))
    return InputScan(
        inputs=_input_names(inputs),
        series=tuple(series),
        n_files=total + len(found.skipped),
        n_non_dicom=n_non_dicom + len(found.skipped),
        n_localizers=n_localizers,
        localizer_series_uids=tuple(u for u in localizer_series if u not in groups),
        other_objects=tuple(others),
        skipped=tuple(skipped),
    )


def _in_instance_order(entry: dict) -> None:
    """A series' files in the order of their InstanceNumber (read order among equal or missing ones),
    so that its first dataset, whose header gives the series facts (:func:`series_info`: acquisition
    time, CTDIvol, exposure) and the values read once per series, is its first image whatever the
    files are called: a receiver's inbox names them by SOP Instance UID, and scanners' own names need
    not follow the instance order either."""
    datasets = entry["datasets"]
    if len(datasets) < 2:
        return
    numbers = []
    for ds in datasets:
        try:
            numbers.append(int(attr.raw_text(ds, "InstanceNumber") or ""))
        except ValueError:
            numbers.append(None)
    order = sorted(range(len(datasets)), key=lambda i: (numbers[i] is None, numbers[i] or 0, i))
    if order == list(range(len(datasets))):
        return
    moved_to = {old: new for new, old in enumerate(order)}
    entry["datasets"] = [datasets[i] for i in order]
    entry["labels"] = [entry["labels"][i] for i in order]
    entry["images"] = sorted((replace(img, dataset_index=moved_to[img.dataset_index]) for img in entry["images"]),
                             key=lambda img: (img.dataset_index, img.frame or 0))


def _input_names(inputs) -> tuple[str, ...]:
    """What the input was called, for messages: the paths given, or the folders of the files found."""
    if isinstance(inputs, files.FoundInputs):
        return tuple(dict.fromkeys(folder_of(s.label) for s in inputs.sources))
    return tuple(str(i) for i in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs))


def require_complete(scan: InputScan, group: SeriesGroup) -> None:
    """Refuse ``group`` when a damaged file (empty, truncated, unreadable) sits among its files
    (in a folder, or a zip's folder, holding its files): the series would be read without it."""
    folders = {folder_of(label) for label in dataset_labels(group)}
    damaged = [s for s in scan.skipped if s.damaged and s.folder in folders]
    if not damaged:
        return
    first = damaged[0]
    more = f" (and {len(damaged) - 1} more: " + ", ".join(s.name for s in damaged[1:6]) + (", ..." if len(damaged) > 6 else "") + ")"
    raise InputError(
        first.label, None,
        f"{first.reason}; it lies among the {group.info.n_files} file(s) of series {group.info.series_instance_uid}"
        + (more if len(damaged) > 1 else "")
        + ": the series is refused rather than read without it",
        hint="copy or export the series again from the scanner or PACS (or remove the file if it is not part of the series)",
    )


def with_pixels(group: SeriesGroup) -> SeriesGroup:
    """``group`` with its pixel data: the files of a group found headers-only are read again (only
    this series' files, so an exam's other series are not read twice), unless every file's pixels
    are uncompressed and can be read where the header scan found them (``qa_pixels_at``; a file
    modified since is refused when they are read: :func:`qa.dicom.pixels.pixel_bytes`).  A file that changed
    between the two reads (another object, or no longer DICOM) is refused, never mixed in."""
    if not any(getattr(ds, "qa_pixels_absent", None) is not None for ds in group.datasets):
        return group  # read with pixels already
    if all(pixels.readable_in_place(ds) for ds in group.datasets):
        return group  # uncompressed: read from where the header scan found them, the file unchanged since (no second parse)
    datasets = []
    for ds, label in zip(group.datasets, dataset_labels(group)):
        full = files.read_image(ds.filename, label)
        uid = attr.raw_text(full, "SOPInstanceUID") if full is not None else None
        if uid != attr.raw_text(ds, "SOPInstanceUID") or not any(k in full for k in _PIXEL_KEYWORDS):
            raise InputError(label, "SOPInstanceUID", "changed between the header read and the pixel read: the file was replaced "
                             "or is still being written", hint="run again once the series is completely copied")
        datasets.append(full)
    return SeriesGroup(group.info, group.images, tuple(datasets), group.keepalive)


def dataset_labels(group: SeriesGroup) -> list[str]:
    """The label (file) of each of ``group.datasets``, in their order."""
    labels = [group.info.first_file] * len(group.datasets)
    for img in group.images:
        labels[img.dataset_index] = img.label.split(" (frame")[0]
    return labels


def select_series(scan: InputScan, series_uid: str | None = None) -> SeriesGroup:
    """The one CT image series of ``scan`` (or the one named ``series_uid``), or a clear error."""
    where = ", ".join(scan.inputs)
    if series_uid is not None:
        for g in scan.series:
            if g.info.series_instance_uid == series_uid:
                _require_ct(g)
                require_complete(scan, g)
                return g
        listing = "\n".join("  " + g.info.describe() for g in scan.series) or "  (none)"
        raise InputError(
            where, "SeriesInstanceUID",
            f"no image series with UID {series_uid}; the input holds:\n{listing}",
            hint="copy one of the UIDs above into --series-uid",
        )
    if not scan.series:
        raise InputError(where, None, _nothing_found_message(scan), hint=_nothing_found_hint(scan))
    if len(scan.series) > 1:
        listing = "\n".join("  " + g.info.describe() for g in scan.series)
        raise InputError(
            where, "SeriesInstanceUID",
            f"{len(scan.series)} image series found; choose one:\n{listing}",
            hint="add --series-uid UID with one of the UIDs above, or pass only that series' folder",
        )
    group = scan.series[0]
    _require_ct(group)
    require_complete(scan, group)
    return group


def _nothing_found_message(scan: InputScan) -> str:
    if scan.n_files == 0:
        return "no files found (the folder is empty)"
    bits = []
    if scan.n_localizers:
        bits.append(f"{scan.n_localizers} localizer image(s), which are never scored")
    if scan.other_objects:
        kinds = Counter(o.sop_class_name for o in scan.other_objects)
        bits.append(", ".join(f"{n} {k}" for k, n in kinds.items()))
    reasons = Counter(s.reason for s in scan.skipped)
    bits.extend(f"{n} non-DICOM file(s)" if reason == "not a DICOM file" else f"{n} skipped: {reason}"
                for reason, n in reasons.most_common(5))
    if len(reasons) > 5:
        bits.append(f"{sum(reasons.values()) - sum(n for _, n in reasons.most_common(5))} skipped for other reasons")
    return "no CT image series found among " + f"{scan.n_files} file(s): " + "; ".join(bits)


def _nothing_found_hint(scan: InputScan) -> str:
    if scan.n_files and scan.n_non_dicom == scan.n_files:
        return "point at a folder or zip holding DICOM files (Part 10, with the 'DICM' marker)"
    return "point at the folder of the axial CT series"


def _require_ct(group: SeriesGroup) -> None:
    info = group.info
    if info.sop_class_uid not in CT_SOP_CLASSES or info.modality.upper() != "CT":
        raise InputError(
            info.first_file, "Modality",
            f"is {info.modality} ({info.sop_class_name}); qa reads CT images only",
            hint="pass a CT series",
        )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_series(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    series_uid: str | None = None,
    progress: Progress | None = None,
) -> CTVolume:
    """Scan ``inputs``, pick the CT series (or ``series_uid``) and load it as an HU volume."""
    scan = scan_inputs(inputs, progress=progress)
    return load_volume(select_series(scan, series_uid))


def load_volume(group: SeriesGroup, *, progress: Progress | None = None, overlapping_stacks: bool = False) -> CTVolume:
    """Validate and decode one series found by :func:`scan_inputs` into a :class:`CTVolume`.

    ``overlapping_stacks`` (the breath-hold motion analysis): the step-and-shoot stacks of the series
    (:func:`qa.records.stacks.find_stacks`) may overlap in z; each stack must be regular on its own
    (:func:`qa.dicom.geometry.sort_stack`).  Calcium scoring never sets it: one position, one slice."""
    _require_ct(group)
    stack_of = _stack_labels(group) if overlapping_stacks else None
    stack = geometry.sort_stack(group.images, stack_of)
    images = [group.images[i] for i in stack.order]
    notes: list[str] = []
    thicknesses = [i.slice_thickness for i in images if i.slice_thickness is not None]
    thickness = float(median(thicknesses)) if thicknesses else None
    if thicknesses and (max(thicknesses) - min(thicknesses)) > 0.01:
        notes.append(
            f"slice thickness varies within the series ({min(thicknesses):g}-{max(thicknesses):g} mm); "
            f"the median {thickness:g} mm is reported"
        )
    increment, increment_source = stack.increment_mm, "ImagePositionPatient"
    if increment is None:
        increment, increment_source = _single_slice_increment(group, images[0], thickness)
        notes.append(f"single slice: the increment is taken from {increment_source.split(' ')[0]}")
    units = {(i.rescale_type or "HU").upper() for i in images}
    value_unit = "HU" if units == {"HU"} else "/".join(sorted(units))
    plausible_values.require_budget(images, stack.rows, stack.columns)
    labels = dataset_labels(group)
    plausible_values.require_uniform(group.datasets, labels)
    warnings = plausible_values.unusual_geometry(images[0], stack.increment_mm) + plausible_values.acquisition_values(
        group.datasets, labels)
    hu = decode_volume(group.datasets, labels, images, stack.rows, stack.columns, progress, check_hu=value_unit == "HU")
    if value_unit == "HU" and hu.size:
        warnings += [n for n in plausible_values.unusual_ct_numbers(hu) if n not in warnings]
    return CTVolume(
        hu=hu,
        pixel_spacing_mm=stack.pixel_spacing_mm,
        slice_increment_mm=float(increment),
        slice_thickness_mm=thickness,
        slice_positions_mm=tuple(float(a) for a in stack.along_normal_mm),
        image_positions_mm=tuple((float(p[0]), float(p[1]), float(p[2])) for p in stack.positions_mm),
        orientation=tuple(float(v) for v in images[0].orientation),  # type: ignore[arg-type, union-attr]
        sop_instance_uids=tuple(i.sop_instance_uid for i in images),
        source_files=tuple(i.label for i in images),
        info=group.info,
        value_unit=value_unit,
        increment_source=increment_source,
        notes=tuple(notes),
        warnings=tuple(warnings),
        slices=slice_table(group.datasets, images, [float(p[2]) for p in stack.positions_mm]),
    )


def _stack_labels(group: SeriesGroup) -> list[int]:
    """The step-and-shoot stack of each of ``group.images`` (all 0 when the stacks cannot be told apart)."""
    z = [float(img.position[2]) if img.position is not None else None for img in group.images]
    table = slice_table(group.datasets, group.images, [v if v is not None else 0.0 for v in z])
    labels = [0] * len(group.images)
    for stack in find_stacks(table.acquisition_numbers, table.acquisition_times, z).stacks:
        for k in stack.slices:
            labels[k] = stack.index
    return labels


def _single_slice_increment(group: SeriesGroup, image: ImageRef, thickness: float | None) -> tuple[float, str]:
    ds = group.datasets[image.dataset_index]
    spacing = attr.to_float(attr.lookup(ds, "SpacingBetweenSlices"), image.label, "SpacingBetweenSlices")
    if spacing:  # 0 is a common "not given": the thickness is used then
        require_possible("slice_increment_mm", spacing, path=image.label, field="SpacingBetweenSlices")
        return spacing, "SpacingBetweenSlices (single slice)"
    if thickness and thickness > 0:
        return thickness, "SliceThickness (single slice)"
    raise InputError(
        image.label, "SliceThickness",
        "a single slice without SliceThickness or SpacingBetweenSlices: the slice increment is unknown",
        hint="pass the whole series",
    )


def _on_disk(ds, reader: files.Reader) -> tuple[str | None, tempfile.TemporaryDirectory | None]:
    """(the file a dataset was read from, what keeps a zip member's temporary copy alive)."""
    name = getattr(ds, "filename", None)
    return (name if isinstance(name, str) and os.path.isfile(name) else None), reader.workdir
