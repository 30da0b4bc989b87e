"""Find CT image series in folders, zip files or lists of files, and load one as an HU volume.

Two steps, each file touched once:

1. :func:`scan_inputs` reads every file's header once (pixel data deferred, never decoded) and
   groups the images by SeriesInstanceUID.  Localizers are counted and left out, non-DICOM files
   are counted and skipped, other DICOM objects (dose reports, secondary captures, ...) are listed.
2. :func:`load_volume` validates the geometry of one series (orientation, tilt, gaps, duplicates,
   matrix), sorts its slices along the slice normal and decodes each pixel array exactly once into
   a float32 HU volume.

:func:`load_series` does both and picks the series (``series_uid`` or the only one there is).
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import InputError, UsageError

Progress = Callable[[int, int], None]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.2"
CT_SOP_CLASSES = frozenset(
    {CT_IMAGE_STORAGE, ENHANCED_CT_IMAGE_STORAGE, LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE}
)
_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
_SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."

# Elements larger than this are read only when used (pixel data, big private blocks).
_DEFER_BYTES = 16 * 1024
# A zip member larger than this is refused rather than read into memory.
_MAX_ZIP_MEMBER_BYTES = 4 * 1024**3

# Geometry tolerances.
_ORIENTATION_ATOL = 1e-3  # direction cosines of images in one series must agree this well
_MAX_AXIAL_DEVIATION_DEG = 0.5  # slice normal vs patient z axis; more is tilt or oblique
_MAX_IN_PLANE_DRIFT_DEG = 0.5  # drift of positions across slices (tilt with axial cosines)
_GAP_FACTOR = 1.5  # a step larger than 1.5 x the median increment is a missing slice
_IRREGULAR_FRACTION = 0.10  # steps differing from the median by more than 10 % are irregular
_SPACING_ATOL_MM = 1e-3
_DECODE_WORKERS = 4


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesInfo:
    """Header facts about one series (from its first image), for listings and provenance."""

    series_instance_uid: str
    study_instance_uid: str | None
    series_description: str
    series_number: int | None
    modality: str
    sop_class_uid: str
    sop_class_name: str
    manufacturer: str | None
    model: str | None
    station_name: str | None
    device_serial_number: str | None
    kvp: float | None
    convolution_kernel: str | None
    study_date: str | None
    n_images: int
    n_files: int
    first_file: str

    def to_dict(self) -> dict:
        return {
            "series_instance_uid": self.series_instance_uid,
            "study_instance_uid": self.study_instance_uid,
            "series_description": self.series_description,
            "series_number": self.series_number,
            "modality": self.modality,
            "sop_class": self.sop_class_name,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "station_name": self.station_name,
            "device_serial_number": self.device_serial_number,
            "kvp": self.kvp,
            "convolution_kernel": self.convolution_kernel,
            "study_date": self.study_date,
            "n_images": self.n_images,
            "n_files": self.n_files,
        }

    def describe(self) -> str:
        desc = self.series_description or "(no description)"
        num = f"#{self.series_number} " if self.series_number is not None else ""
        return (
            f"{self.series_instance_uid}  {num}'{desc}'  {self.modality}  "
            f"{self.n_images} image{'s' if self.n_images != 1 else ''}"
        )


@dataclass(frozen=True)
class _Image:
    """One 2-D image: a single-frame file or one frame of a multi-frame file."""

    label: str  # file path, or archive.zip!member
    dataset_index: int  # index into SeriesGroup.datasets
    frame: int | None  # 0-based frame number in a multi-frame file
    sop_instance_uid: str
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    rows: int | None
    columns: int | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    rescale_slope: float | None
    rescale_intercept: float | None
    rescale_type: str | None
    gantry_tilt_deg: float | None


@dataclass(frozen=True, eq=False)
class SeriesGroup:
    """The images of one series found by :func:`scan_inputs` (headers read, pixels not)."""

    info: SeriesInfo
    images: tuple[_Image, ...]
    datasets: tuple[Any, ...] = field(repr=False)


@dataclass(frozen=True)
class OtherObject:
    """A DICOM object that is not part of an image series (dose report, screen capture, ...)."""

    path: str
    sop_class_name: str
    modality: str | None
    reason: str


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

    def summary(self) -> str:
        parts = [f"{self.n_files} file{'s' if self.n_files != 1 else ''} examined"]
        parts.append(f"{len(self.series)} image series")
        if self.n_localizers:
            parts.append(f"{self.n_localizers} localizer image(s) left out")
        if self.other_objects:
            parts.append(f"{len(self.other_objects)} other DICOM object(s) left out")
        if self.n_non_dicom:
            parts.append(f"{self.n_non_dicom} non-DICOM file(s) skipped")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {
            "n_files": self.n_files,
            "n_non_dicom": self.n_non_dicom,
            "n_localizers": self.n_localizers,
            "series": [g.info.to_dict() for g in self.series],
            "other_objects": [
                {"path": o.path, "sop_class": o.sop_class_name, "reason": o.reason}
                for o in self.other_objects
            ],
        }


@dataclass(frozen=True, eq=False)
class CTVolume:
    """A CT series as a float32 volume in Hounsfield units, slices sorted along the normal.

    ``hu[k, i, j]`` is slice ``k`` (ascending position along the slice normal), row ``i``,
    column ``j``.  The array is read-only.
    """

    hu: np.ndarray
    pixel_spacing_mm: tuple[float, float]  # (between rows, between columns)
    slice_increment_mm: float
    slice_thickness_mm: float | None
    slice_positions_mm: tuple[float, ...]  # position of each slice along the normal
    image_positions_mm: tuple[tuple[float, float, float], ...]  # ImagePositionPatient per slice
    orientation: tuple[float, float, float, float, float, float]  # ImageOrientationPatient
    sop_instance_uids: tuple[str, ...]
    source_files: tuple[str, ...]
    info: SeriesInfo
    value_unit: str = "HU"
    increment_source: str = "ImagePositionPatient"
    notes: tuple[str, ...] = ()

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """(slice increment, row spacing, column spacing) in mm."""
        return (self.slice_increment_mm, self.pixel_spacing_mm[0], self.pixel_spacing_mm[1])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.hu.shape)  # type: ignore[return-value]

    @property
    def n_slices(self) -> int:
        return int(self.hu.shape[0])

    @property
    def geometry(self) -> "SliceGeometry":
        return SliceGeometry(
            image_positions_mm=np.asarray(self.image_positions_mm, dtype=float),
            orientation=self.orientation,
            pixel_spacing_mm=self.pixel_spacing_mm,
        )

    def summary_dict(self) -> dict:
        """The ``series`` block of the JSON contract."""
        return {
            "series_instance_uid": self.info.series_instance_uid,
            "series_description": self.info.series_description,
            "n_slices": self.n_slices,
            "rows": int(self.hu.shape[1]),
            "columns": int(self.hu.shape[2]),
            "pixel_spacing_mm": [self.pixel_spacing_mm[0], self.pixel_spacing_mm[1]],
            "slice_thickness_mm": self.slice_thickness_mm,
            "slice_increment_mm": self.slice_increment_mm,
            "increment_source": self.increment_source,
            "kvp": self.info.kvp,
            "manufacturer": self.info.manufacturer,
            "model": self.info.model,
            "convolution_kernel": self.info.convolution_kernel,
            "z_range_mm": [self.slice_positions_mm[0], self.slice_positions_mm[-1]],
        }


@dataclass(frozen=True, eq=False)
class SliceGeometry:
    """Maps (slice, row, column) indices to DICOM patient coordinates in mm."""

    image_positions_mm: np.ndarray  # (n_slices, 3)
    orientation: tuple[float, ...]
    pixel_spacing_mm: tuple[float, float]

    def to_patient(self, k: np.ndarray | float, i: np.ndarray | float, j: np.ndarray | float) -> np.ndarray:
        """Patient coordinates (…, 3) of fractional indices; ``k`` is interpolated linearly."""
        k = np.asarray(k, dtype=float)
        i = np.asarray(i, dtype=float)
        j = np.asarray(j, dtype=float)
        row_dir = np.asarray(self.orientation[:3], dtype=float)
        col_dir = np.asarray(self.orientation[3:], dtype=float)
        n = self.image_positions_mm.shape[0]
        k0 = np.clip(np.floor(k), 0, max(n - 1, 0)).astype(int)
        k1 = np.clip(k0 + 1, 0, n - 1)
        frac = (k - k0)[..., None]
        origin = self.image_positions_mm[k0] * (1 - frac) + self.image_positions_mm[k1] * frac
        return (
            origin
            + j[..., None] * self.pixel_spacing_mm[1] * row_dir
            + i[..., None] * self.pixel_spacing_mm[0] * col_dir
        )


# --------------------------------------------------------------------------------------------
# Finding files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    label: str
    path: str | None = None  # a file on disk
    archive: str | None = None  # a zip file ...
    member: str | None = None  # ... and the member in it


def _expand_inputs(inputs: Sequence[str | os.PathLike] | str | os.PathLike) -> list[_Source]:
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not inputs:
        raise UsageError("no input given", hint="pass a folder, a zip file or DICOM files")
    sources: list[_Source] = []
    seen: set[str] = set()

    def add(src: _Source, key: str) -> None:
        if key not in seen:
            seen.add(key)
            sources.append(src)

    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise InputError(str(item), None, "no such file or folder", hint="check the path")
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    fp = os.path.join(root, name)
                    if name.lower().endswith(".zip") and zipfile.is_zipfile(fp):
                        for s in _zip_sources(Path(fp)):
                            add(s, s.label)
                    else:
                        add(_Source(label=fp, path=fp), os.path.abspath(fp))
        elif p.suffix.lower() == ".zip" and zipfile.is_zipfile(p):
            for s in _zip_sources(p):
                add(s, s.label)
        else:
            add(_Source(label=str(p), path=str(p)), os.path.abspath(p))
    return sources


def _zip_sources(archive: Path) -> list[_Source]:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(str(archive), None, f"cannot open zip file ({exc})") from exc
    out = []
    for info in sorted(infos, key=lambda i: i.filename):
        if info.file_size > _MAX_ZIP_MEMBER_BYTES:
            raise InputError(
                f"{archive}!{info.filename}", None,
                f"zip member is {info.file_size / 1e9:.1f} GB, too large to read",
                hint="unzip the archive and pass the folder",
            )
        out.append(
            _Source(label=f"{archive}!{info.filename}", archive=str(archive), member=info.filename)
        )
    return out


def _read_dataset(src: _Source, archives: dict[str, zipfile.ZipFile]):
    """Read one file's header (pixel data deferred).  None when the file is not DICOM.

    ``archives`` keeps the zip files open across members (opened on first use).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        if src.path is not None:
            with open(src.path, "rb") as fp:
                head = fp.read(132)
                if len(head) < 132 or head[128:132] != b"DICM":
                    return None  # not a DICOM Part 10 file
                fp.seek(0)
                return pydicom.dcmread(fp, defer_size=_DEFER_BYTES)
        archive = archives.get(src.archive)  # type: ignore[arg-type]
        if archive is None:
            archive = archives[src.archive] = zipfile.ZipFile(src.archive)  # type: ignore[index, arg-type]
        with archive.open(src.member) as member:  # type: ignore[arg-type]
            # Never trust the declared size: read at most the limit (+1 to notice more).
            data = member.read(_MAX_ZIP_MEMBER_BYTES + 1)
        if len(data) > _MAX_ZIP_MEMBER_BYTES:
            raise InputError(src.label, None, "zip member is too large to read", hint="unzip the archive and pass the folder")
        if len(data) < 132 or data[128:132] != b"DICM":
            return None
        return pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        return None
    except InputError:
        raise
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(src.label, None, f"cannot be read ({exc})") from exc
    except Exception as exc:  # pydicom raises many kinds of errors on corrupt files
        raise InputError(
            src.label, None,
            f"is not a readable DICOM file ({type(exc).__name__}: {exc}); it may be truncated or corrupt",
            hint="re-export the file from the scanner or PACS, or remove it from the input",
        ) from exc


# --------------------------------------------------------------------------------------------
# Header helpers
# --------------------------------------------------------------------------------------------


_TAG_CACHE: dict[str, int] = {}


def _tag(keyword: str) -> int:
    tag = _TAG_CACHE.get(keyword)
    if tag is None:
        from pydicom.datadict import tag_for_keyword

        tag = tag_for_keyword(keyword)
        if tag is None:
            raise KeyError(keyword)
        _TAG_CACHE[keyword] = tag
    return tag


def _raw_text(ds, keyword: str) -> str | None:
    """An ASCII-valued attribute (CS, UI, DS, IS) as text, without pydicom's value conversion.

    Reading the raw bytes is much faster than converting every value; only used for VRs whose
    character repertoire is ASCII by definition.
    """
    elem = ds.get_item(_tag(keyword), keep_deferred=True)
    if elem is None:
        return None
    if getattr(elem, "is_raw", False) and elem.value is not None:
        text = elem.value.decode("latin-1").strip(" \x00")
        return text or None
    value = ds[keyword].value if getattr(elem, "is_raw", False) else elem.value
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, (str, bytes))):
        return "\\".join(str(v) for v in value)
    return str(value).strip() or None


def _raw_us(ds, keyword: str) -> int | None:
    """An unsigned short (US) attribute without pydicom's value conversion."""
    elem = ds.get_item(_tag(keyword), keep_deferred=True)
    if elem is None:
        return None
    if getattr(elem, "is_raw", False) and elem.value is not None:
        if len(elem.value) < 2:
            return None
        return int.from_bytes(elem.value[:2], "little" if elem.is_little_endian else "big")
    value = ds[keyword].value if getattr(elem, "is_raw", False) else elem.value
    return int(value) if value not in (None, "") else None


def _raw_floats(ds, keyword: str, n: int, label: str) -> tuple[float, ...] | None:
    text = _raw_text(ds, keyword)
    if text is None:
        return None
    return _to_floats(text, n, label, keyword)


def _raw_float(ds, keyword: str, label: str) -> float | None:
    text = _raw_text(ds, keyword)
    if text is None:
        return None
    return _to_float(text, label, keyword)


def _text(ds, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, str):
        try:
            return "\\".join(str(v) for v in value)
        except TypeError:
            return str(value)
    return str(value).strip() or None


def _to_float(value: Any, label: str, keyword: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(label, keyword, f"value {value!r} is not a number") from exc
    if not math.isfinite(out):
        raise InputError(label, keyword, f"value {value!r} is not a finite number")
    return out


def _to_floats(value: Any, n: int, label: str, keyword: str) -> tuple[float, ...] | None:
    if value is None or value == "":
        return None
    try:
        items = list(value) if not isinstance(value, (str, bytes)) else str(value).split("\\")
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError) as exc:
        raise InputError(label, keyword, f"value {value!r} is not {n} numbers") from exc
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise InputError(label, keyword, f"value {value!r} is not {n} finite numbers")
    return out


def _image_type(ds) -> tuple[str, ...]:
    value = _raw_text(ds, "ImageType")
    if value is None:
        return ()
    return tuple(v.strip().upper() for v in value.split("\\"))


def _fg_value(frame_item, shared_item, sequence: str, keyword: str):
    """Look up ``keyword`` inside functional group ``sequence``: per-frame first, then shared."""
    for container in (frame_item, shared_item):
        if container is None:
            continue
        seq = container.get(sequence)
        if seq:
            item = seq[0]
            if keyword in item:
                return item[keyword].value
    return None


def _lookup(ds, keyword: str):
    """An attribute from the top level, or (Enhanced CT) from the shared / first-frame groups."""
    if keyword in ds:
        return ds[keyword].value
    groups = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        groups.append(per_frame[0])
    for group in groups:
        for elem in group:
            if elem.VR == "SQ" and elem.value:
                item = elem.value[0]
                if keyword in item:
                    return item[keyword].value
                for sub in item:
                    if sub.VR == "SQ" and sub.value and keyword in sub.value[0]:
                        return sub.value[0][keyword].value
    return None


def _sop_class_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else f"SOP class {uid}"


def _series_info(ds, label: str, n_images: int, n_files: int) -> SeriesInfo:
    number = ds.get("SeriesNumber")
    try:
        number = int(number) if number not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    kvp = _lookup(ds, "KVP")
    try:
        kvp = float(kvp) if kvp not in (None, "") else None
    except (TypeError, ValueError):
        kvp = None
    sop = str(ds.get("SOPClassUID", ""))
    return SeriesInfo(
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_description=str(ds.get("SeriesDescription", "") or ""),
        series_number=number,
        modality=str(ds.get("Modality", "") or "?"),
        sop_class_uid=sop,
        sop_class_name=_sop_class_name(sop),
        manufacturer=_text(ds, "Manufacturer"),
        model=_text(ds, "ManufacturerModelName"),
        station_name=_text(ds, "StationName"),
        device_serial_number=_text(ds, "DeviceSerialNumber"),
        kvp=kvp,
        convolution_kernel=_text(ds, "ConvolutionKernel")
        or (str(_lookup(ds, "ConvolutionKernel")) if _lookup(ds, "ConvolutionKernel") else None),
        study_date=_text(ds, "StudyDate"),
        n_images=n_images,
        n_files=n_files,
        first_file=label,
    )


def _images_of(ds, label: str, dataset_index: int) -> tuple[list[_Image], int]:
    """The 2-D images of one dataset, and how many of its frames are localizers."""
    n_frames_value = _raw_text(ds, "NumberOfFrames")
    try:
        n_frames = int(n_frames_value) if n_frames_value not in (None, "") else 1
    except (TypeError, ValueError) as exc:
        raise InputError(label, "NumberOfFrames", f"value {n_frames_value!r} is not an integer") from exc
    sop_uid = _raw_text(ds, "SOPInstanceUID") or ""
    rows = _raw_us(ds, "Rows")
    cols = _raw_us(ds, "Columns")
    if "PerFrameFunctionalGroupsSequence" not in ds:
        if "LOCALIZER" in _image_type(ds):
            return [], n_frames
        image = _Image(
            label=label,
            dataset_index=dataset_index,
            frame=None if n_frames == 1 else 0,
            sop_instance_uid=sop_uid,
            position=_raw_floats(ds, "ImagePositionPatient", 3, label),  # type: ignore[arg-type]
            orientation=_raw_floats(ds, "ImageOrientationPatient", 6, label),
            rows=rows,
            columns=cols,
            pixel_spacing=_raw_floats(ds, "PixelSpacing", 2, label),  # type: ignore[arg-type]
            slice_thickness=_raw_float(ds, "SliceThickness", label),
            rescale_slope=_raw_float(ds, "RescaleSlope", label),
            rescale_intercept=_raw_float(ds, "RescaleIntercept", label),
            rescale_type=_raw_text(ds, "RescaleType"),
            gantry_tilt_deg=_raw_float(ds, "GantryDetectorTilt", label),
        )
        if n_frames != 1:
            raise InputError(
                label, "NumberOfFrames",
                f"multi-frame image with {n_frames} frames but no per-frame functional groups; "
                "the position of each frame is unknown",
            )
        return [image], 0

    # Enhanced (multi-frame) image: geometry and rescale from the functional groups.
    per_frame = ds.PerFrameFunctionalGroupsSequence
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    if len(per_frame) != n_frames:
        raise InputError(
            label, "PerFrameFunctionalGroupsSequence",
            f"has {len(per_frame)} items but NumberOfFrames is {n_frames}",
        )
    top_type = _image_type(ds)
    images = []
    localizers = 0
    for f, item in enumerate(per_frame):
        frame_type = _fg_value(item, shared, "CTImageFrameTypeSequence", "FrameType")
        types = (
            tuple(str(v).upper() for v in frame_type)
            if frame_type is not None and not isinstance(frame_type, str)
            else (tuple(str(frame_type).upper().split("\\")) if frame_type else top_type)
        )
        if "LOCALIZER" in types:
            localizers += 1
            continue
        where = f"{label} (frame {f + 1})"
        images.append(
            _Image(
                label=where,
                dataset_index=dataset_index,
                frame=f,
                sop_instance_uid=f"{sop_uid}#{f + 1}",
                position=_to_floats(  # type: ignore[arg-type]
                    _fg_value(item, shared, "PlanePositionSequence", "ImagePositionPatient"),
                    3, where, "PlanePositionSequence/ImagePositionPatient",
                ),
                orientation=_to_floats(
                    _fg_value(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient"),
                    6, where, "PlaneOrientationSequence/ImageOrientationPatient",
                ),
                rows=int(rows) if rows is not None else None,
                columns=int(cols) if cols is not None else None,
                pixel_spacing=_to_floats(  # type: ignore[arg-type]
                    _fg_value(item, shared, "PixelMeasuresSequence", "PixelSpacing"),
                    2, where, "PixelMeasuresSequence/PixelSpacing",
                ),
                slice_thickness=_to_float(
                    _fg_value(item, shared, "PixelMeasuresSequence", "SliceThickness"),
                    where, "PixelMeasuresSequence/SliceThickness",
                ),
                rescale_slope=_to_float(
                    _fg_value(item, shared, "PixelValueTransformationSequence", "RescaleSlope"),
                    where, "PixelValueTransformationSequence/RescaleSlope",
                ),
                rescale_intercept=_to_float(
                    _fg_value(item, shared, "PixelValueTransformationSequence", "RescaleIntercept"),
                    where, "PixelValueTransformationSequence/RescaleIntercept",
                ),
                rescale_type=(
                    str(_fg_value(item, shared, "PixelValueTransformationSequence", "RescaleType")).strip()
                    if _fg_value(item, shared, "PixelValueTransformationSequence", "RescaleType")
                    else None
                ),
                gantry_tilt_deg=_to_float(
                    _lookup(ds, "GantryDetectorTilt"), where, "GantryDetectorTilt"
                ),
            )
        )
    return images, localizers


# --------------------------------------------------------------------------------------------
# Scanning
# --------------------------------------------------------------------------------------------


def scan_inputs(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    progress: Progress | None = None,
) -> InputScan:
    """Read the header of every file under ``inputs`` once and group the images by series.

    ``inputs`` is a folder (searched recursively), a zip file, a file, or a list of them.
    """
    sources = _expand_inputs(inputs)
    groups: dict[str, dict] = {}
    n_non_dicom = 0
    n_localizers = 0
    localizer_series: list[str] = []
    others: list[OtherObject] = []
    total = len(sources)
    archives: dict[str, zipfile.ZipFile] = {}
    try:
        for n, src in enumerate(sources):
            if progress is not None:
                progress(n, total)
            ds = _read_dataset(src, archives)
            if ds is None:
                n_non_dicom += 1
                continue
            sop = _raw_text(ds, "SOPClassUID") or ""
            if not sop:
                sop = str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "") or "")
            if not sop:
                raise InputError(src.label, "SOPClassUID", "is missing: cannot tell what this DICOM object is")
            modality = _raw_text(ds, "Modality")
            if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
                if sop in CT_SOP_CLASSES:
                    raise InputError(
                        src.label, "PixelData",
                        "is missing from a CT image: the file is truncated or incomplete",
                        hint="re-export the series from the scanner or PACS",
                    )
                reason = "structured report" if sop.startswith(_SR_PREFIX) else "not an image"
                others.append(OtherObject(src.label, _sop_class_name(sop), modality, reason))
                continue
            if sop.startswith(_SECONDARY_CAPTURE_PREFIX):
                others.append(OtherObject(src.label, _sop_class_name(sop), modality, "secondary capture"))
                continue
            uid = _raw_text(ds, "SeriesInstanceUID") or ""
            if not uid:
                raise InputError(src.label, "SeriesInstanceUID", "is missing: the image cannot be grouped into a series")
            entry = groups.setdefault(uid, {"datasets": [], "labels": [], "images": []})
            images, localizers = _images_of(ds, src.label, len(entry["datasets"]))
            if localizers:
                n_localizers += localizers
                if uid not in localizer_series:
                    localizer_series.append(uid)
            if not images:
                if not entry["datasets"]:
                    del groups[uid]
                continue
            entry["datasets"].append(ds)
            entry["labels"].append(src.label)
            entry["images"].extend(images)
    finally:
        for archive in archives.values():
            archive.close()
    if progress is not None:
        progress(total, total)

    series = []
    for uid, entry in groups.items():
        info = _series_info(entry["datasets"][0], entry["labels"][0], len(entry["images"]), len(entry["datasets"]))
        series.append(SeriesGroup(info=info, images=tuple(entry["images"]), datasets=tuple(entry["datasets"])))
    series.sort(key=lambda g: (g.info.series_number if g.info.series_number is not None else 1 << 30, g.info.series_instance_uid))
    return InputScan(
        inputs=tuple(str(i) for i in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)),
        series=tuple(series),
        n_files=total,
        n_non_dicom=n_non_dicom,
        n_localizers=n_localizers,
        localizer_series_uids=tuple(u for u in localizer_series if u not in groups),
        other_objects=tuple(others),
    )


def select_series(scan: InputScan, series_uid: str | None = None) -> SeriesGroup:
    """The one CT image series of ``scan`` (or the one named ``series_uid``), or a clear error."""
    where = ", ".join(scan.inputs)
    if series_uid is not None:
        for g in scan.series:
            if g.info.series_instance_uid == series_uid:
                _require_ct(g)
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
    if scan.n_non_dicom:
        bits.append(f"{scan.n_non_dicom} non-DICOM file(s)")
    return "no CT image series found among " + f"{scan.n_files} file(s): " + "; ".join(bits)


def _nothing_found_hint(scan: InputScan) -> str:
    if scan.n_files and scan.n_non_dicom == scan.n_files:
        return "point at a folder or zip holding DICOM Part 10 files (with the 'DICM' marker)"
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


def _majority(values: list, what: str) -> Any:
    return Counter(values).most_common(1)[0][0]


def _check_consistent(images: Sequence[_Image]) -> tuple[int, int, tuple[float, float]]:
    for img in images:
        for keyword, value in (
            ("Rows", img.rows),
            ("Columns", img.columns),
            ("PixelSpacing", img.pixel_spacing),
            ("ImagePositionPatient", img.position),
            ("ImageOrientationPatient", img.orientation),
        ):
            if value is None:
                raise InputError(img.label, keyword, "is missing: the image cannot be placed in the volume")
        if img.rescale_slope is None:
            raise InputError(img.label, "RescaleSlope", "is missing: stored values cannot be converted to HU")
        if img.rescale_intercept is None:
            raise InputError(img.label, "RescaleIntercept", "is missing: stored values cannot be converted to HU")
        if img.rescale_slope == 0:
            raise InputError(img.label, "RescaleSlope", "is 0: stored values cannot be converted to HU")
    rows = _majority([i.rows for i in images], "rows")
    cols = _majority([i.columns for i in images], "columns")
    for img in images:
        if img.rows != rows or img.columns != cols:
            raise InputError(
                img.label, "Rows/Columns",
                f"image is {img.rows} x {img.columns} but the rest of the series is {rows} x {cols}",
                hint="the series mixes matrices; pass a consistent series",
            )
    ref = np.array(_majority([i.pixel_spacing for i in images], "spacing"))
    for img in images:
        if np.max(np.abs(np.array(img.pixel_spacing) - ref)) > _SPACING_ATOL_MM:
            raise InputError(
                img.label, "PixelSpacing",
                f"is {list(img.pixel_spacing)} mm but the rest of the series is {ref.tolist()} mm",
                hint="the series mixes fields of view; pass a consistent series",
            )
        if min(img.pixel_spacing) <= 0:
            raise InputError(img.label, "PixelSpacing", f"must be positive, is {list(img.pixel_spacing)}")
    return int(rows), int(cols), (float(ref[0]), float(ref[1]))


def _sorted_geometry(images: Sequence[_Image]) -> tuple[list[_Image], np.ndarray, np.ndarray, str, float, list[str]]:
    """Validate orientation and positions; return images sorted along the normal."""
    notes: list[str] = []
    first = images[0]
    iop = np.array(first.orientation, dtype=float)
    for img in images:
        if np.max(np.abs(np.array(img.orientation) - iop)) > _ORIENTATION_ATOL:
            raise InputError(
                img.label, "ImageOrientationPatient",
                f"is {list(img.orientation)} but {first.label} has {iop.tolist()}: "
                "the series mixes orientations",
                hint="pass a single axial reconstruction",
            )
    row_dir, col_dir = iop[:3], iop[3:]
    if abs(np.linalg.norm(row_dir) - 1) > 1e-2 or abs(np.linalg.norm(col_dir) - 1) > 1e-2 or abs(row_dir @ col_dir) > 1e-2:
        raise InputError(first.label, "ImageOrientationPatient", f"{iop.tolist()} is not two orthonormal directions")
    row_dir = row_dir / np.linalg.norm(row_dir)
    col_dir = col_dir / np.linalg.norm(col_dir)
    normal = np.cross(row_dir, col_dir)
    for img in images:
        if img.gantry_tilt_deg is not None and abs(img.gantry_tilt_deg) > 0.01:
            raise InputError(
                img.label, "GantryDetectorTilt",
                f"is {img.gantry_tilt_deg:g} degrees: calcium scores are defined on untilted axial slices",
                hint="rescan without gantry tilt, or reconstruct untilted axial images",
            )
    deviation = math.degrees(math.acos(min(1.0, abs(float(normal[2])))))
    if deviation > _MAX_AXIAL_DEVIATION_DEG:
        raise InputError(
            first.label, "ImageOrientationPatient",
            f"{iop.round(4).tolist()} is not axial: the slice normal is {deviation:.1f} degrees from the "
            "patient z axis (gantry tilt, or an oblique / sagittal / coronal reconstruction)",
            hint="score an axial reconstruction acquired without gantry tilt",
        )
    positions = np.array([img.position for img in images], dtype=float)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    images = [images[i] for i in order]
    positions = positions[order]
    along = along[order]
    if len(images) == 1:
        return images, positions, along, "", float("nan"), notes
    steps = np.diff(along)
    positive = steps[steps > 1e-6]
    median = float(np.median(positive)) if positive.size else 0.0
    dup_tol = max(1e-3, 0.01 * median)
    for k, step in enumerate(steps):
        if step <= dup_tol:
            a, b = images[k], images[k + 1]
            same = " (the same SOP Instance UID)" if a.sop_instance_uid == b.sop_instance_uid else ""
            raise InputError(
                b.label, "ImagePositionPatient",
                f"duplicate slice position {along[k + 1]:.3f} mm along the normal, shared with {a.label}{same}",
                hint="the input holds two images at one position (a duplicate file, or two phases or "
                "reconstructions in one series); remove the duplicates or pick one reconstruction",
            )
    for k, step in enumerate(steps):
        if step > _GAP_FACTOR * median:
            a, b = images[k], images[k + 1]
            missing = max(1, round(step / median) - 1)
            raise InputError(
                f"{a.label} .. {b.label}", "ImagePositionPatient",
                f"missing slice: a gap of {step:.2f} mm between positions {along[k]:.2f} and "
                f"{along[k + 1]:.2f} mm (median increment {median:.2f} mm; about {missing} slice(s) missing)",
                hint="re-export the complete series; scores on an incomplete series would be wrong",
            )
    irregular = np.abs(steps - median) > max(_IRREGULAR_FRACTION * median, 0.01)
    if np.any(irregular):
        k = int(np.argmax(irregular))
        raise InputError(
            images[k + 1].label, "ImagePositionPatient",
            f"irregular slice spacing: steps range from {steps.min():.3f} to {steps.max():.3f} mm "
            f"(median {median:.3f} mm)",
            hint="pass a series reconstructed at a constant increment",
        )
    # In-plane drift of the positions (a tilted acquisition stored with axial cosines).
    in_plane = positions - along[:, None] * normal[None, :]
    drift = np.linalg.norm(in_plane - in_plane[0], axis=1)
    span = along[-1] - along[0]
    if span > 0:
        slope_deg = math.degrees(math.atan2(float(drift.max()), float(span)))
        if slope_deg > _MAX_IN_PLANE_DRIFT_DEG and drift.max() > 0.5:
            raise InputError(
                images[int(np.argmax(drift))].label, "ImagePositionPatient",
                f"slice origins drift {drift.max():.2f} mm in-plane over {span:.1f} mm "
                f"({slope_deg:.1f} degrees): the series was acquired with gantry tilt",
                hint="rescan without gantry tilt, or reconstruct untilted axial images",
            )
    return images, positions, along, "ImagePositionPatient", median, notes


def load_volume(group: SeriesGroup, *, progress: Progress | None = None) -> CTVolume:
    """Validate and decode one series found by :func:`scan_inputs` into a :class:`CTVolume`."""
    _require_ct(group)
    images = list(group.images)
    rows, cols, spacing = _check_consistent(images)
    images, positions, along, increment_source, increment, notes = _sorted_geometry(images)
    thicknesses = [i.slice_thickness for i in images if i.slice_thickness is not None]
    thickness = float(np.median(thicknesses)) if thicknesses else None
    if thicknesses and (max(thicknesses) - min(thicknesses)) > 0.01:
        notes.append(
            f"slice thickness varies within the series ({min(thicknesses):g}-{max(thicknesses):g} mm); "
            f"the median {thickness:g} mm is reported"
        )
    if len(images) == 1:
        ds0 = group.datasets[images[0].dataset_index]
        sbs = _to_float(_lookup(ds0, "SpacingBetweenSlices"), images[0].label, "SpacingBetweenSlices")
        if sbs and sbs > 0:
            increment, increment_source = sbs, "SpacingBetweenSlices (single slice)"
        elif thickness and thickness > 0:
            increment, increment_source = thickness, "SliceThickness (single slice)"
        else:
            raise InputError(
                images[0].label, "SliceThickness",
                "a single slice without SliceThickness or SpacingBetweenSlices: the slice increment is unknown",
            )
        notes.append(f"single slice: increment taken from {increment_source.split(' ')[0]}")

    units = {(i.rescale_type or "HU").upper() for i in images}
    value_unit = "HU" if units == {"HU"} else "/".join(sorted(units))

    hu = np.empty((len(images), rows, cols), dtype=np.float32)
    # Decode each dataset once; multi-frame datasets feed several slices.
    by_dataset: dict[int, list[tuple[int, _Image]]] = {}
    for k, img in enumerate(images):
        by_dataset.setdefault(img.dataset_index, []).append((k, img))
    total = len(by_dataset)

    def fill(index: int, members: list[tuple[int, _Image]]) -> None:
        ds = group.datasets[index]
        label = members[0][1].label.split(" (frame")[0]
        n_frames = int(_raw_text(ds, "NumberOfFrames") or 1)
        pixels = _native_pixels(ds, label, n_frames)
        if pixels is None:
            pixels = _decode(ds, label)
        if n_frames > 1 and pixels.ndim == 2:
            pixels = pixels[None]
        for k, img in members:
            frame = pixels[img.frame] if n_frames > 1 else pixels
            if frame.shape != (rows, cols):
                raise InputError(
                    img.label, "PixelData",
                    f"decoded to shape {frame.shape}, expected {rows} x {cols} from Rows/Columns",
                )
            out = hu[k]
            if img.rescale_slope != 1.0:
                np.multiply(frame, np.float32(img.rescale_slope), out=out, dtype=np.float32)
                np.add(out, np.float32(img.rescale_intercept), out=out)
            else:
                np.add(frame, np.float32(img.rescale_intercept), out=out, dtype=np.float32)

    # File reads, decompression and the HU conversion release the GIL: two workers overlap them.
    # Each task writes its own slices; the first error (in slice order) is raised.
    workers = min(_DECODE_WORKERS, os.cpu_count() or 1, total)
    if workers <= 1:
        for n, (index, members) in enumerate(by_dataset.items()):
            if progress is not None:
                progress(n, total)
            fill(index, members)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(fill, index, members) for index, members in by_dataset.items()]
            for n, future in enumerate(futures):
                if progress is not None:
                    progress(n, total)
                try:
                    future.result()
                except BaseException:
                    for other in futures:
                        other.cancel()
                    raise
    if progress is not None:
        progress(total, total)
    hu.flags.writeable = False
    return CTVolume(
        hu=hu,
        pixel_spacing_mm=spacing,
        slice_increment_mm=float(increment),
        slice_thickness_mm=thickness,
        slice_positions_mm=tuple(float(a) for a in along),
        image_positions_mm=tuple((float(p[0]), float(p[1]), float(p[2])) for p in positions),
        orientation=tuple(float(v) for v in images[0].orientation),  # type: ignore[arg-type]
        sop_instance_uids=tuple(i.sop_instance_uid for i in images),
        source_files=tuple(i.label for i in images),
        info=group.info,
        value_unit=value_unit,
        increment_source=increment_source,
        notes=tuple(notes),
    )


_NATIVE_LITTLE_ENDIAN = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})


def _native_pixels(ds, label: str, n_frames: int) -> np.ndarray | None:
    """Uncompressed little-endian 16-bit grey pixels straight from the buffer; None otherwise.

    The result equals pydicom's ``pixel_array(ds, correct_unused_bits=True)`` (bits above Bits
    Stored are ignored, as DICOM requires); tests compare the two.  Anything else (compressed,
    big endian, 8 or 32 bits, colour) goes through pydicom.
    """
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts is None or str(ts) not in _NATIVE_LITTLE_ENDIAN:
        return None
    if (
        _raw_us(ds, "BitsAllocated") != 16
        or (_raw_us(ds, "SamplesPerPixel") or 1) != 1
        or not (_raw_text(ds, "PhotometricInterpretation") or "").startswith("MONOCHROME")
    ):
        return None
    rows, cols = _raw_us(ds, "Rows"), _raw_us(ds, "Columns")
    stored, rep = _raw_us(ds, "BitsStored"), _raw_us(ds, "PixelRepresentation")
    if rows is None or cols is None or stored is None or not 1 <= stored <= 16 or rep not in (0, 1):
        return None
    expected = rows * cols * n_frames * 2
    data = _pixel_bytes(ds, label)
    if len(data) < expected:
        raise InputError(
            label, "PixelData",
            f"pixel data is incomplete ({len(data)} of {expected} bytes); the file is truncated",
            hint="re-export the series from the scanner or PACS",
        )
    arr = np.frombuffer(data, dtype="<i2" if rep else "<u2", count=rows * cols * n_frames)
    shape = (n_frames, rows, cols) if n_frames > 1 else (rows, cols)
    arr = arr.reshape(shape)
    if stored < 16:
        shift = 16 - stored
        arr = np.right_shift(np.left_shift(arr, shift), shift)
    return arr


def _pixel_bytes(ds, label: str) -> bytes:
    """The Pixel Data bytes; a deferred element is read straight from its file offset."""
    elem = ds.get_item(0x7FE00010, keep_deferred=True)
    if elem is None:
        raise InputError(label, "PixelData", "is missing")
    value = elem.value
    if value is not None:
        return value
    path = getattr(ds, "filename", None)
    length = getattr(elem, "length", None)
    offset = getattr(elem, "value_tell", None)
    if not isinstance(path, str) or offset is None or length in (None, 0xFFFFFFFF):
        return ds.PixelData  # let pydicom do the deferred read
    try:
        stamp = getattr(ds, "timestamp", None)
        if stamp is not None and os.stat(path).st_mtime != stamp:
            raise InputError(label, "PixelData", "the file changed while it was being read", hint="run again")
        with open(path, "rb") as fp:
            fp.seek(offset)
            return fp.read(length)
    except OSError as exc:
        raise InputError(label, "PixelData", f"cannot be read ({exc})") from exc


def _decode(ds, label: str) -> np.ndarray:
    from pydicom.pixels import pixel_array

    ts = getattr(getattr(ds, "file_meta", None), "get", lambda *_: None)("TransferSyntaxUID")
    ts_name = f"{ts.name} ({ts})" if ts is not None else "unknown transfer syntax"
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if not photometric.startswith("MONOCHROME") or int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise InputError(
            label, "PhotometricInterpretation",
            f"is {photometric} with {ds.get('SamplesPerPixel')} samples per pixel: not a CT grey-scale image",
        )
    try:
        arr = pixel_array(ds, correct_unused_bits=True)
    except NotImplementedError as exc:
        raise InputError(
            label, "TransferSyntaxUID",
            f"pixel data in {ts_name} cannot be decoded here ({exc})",
            hint="export the series uncompressed (or convert it, e.g. gdcmconv --raw); JPEG, JPEG-LS, "
            "JPEG 2000 and RLE decode when the pylibjpeg plugins that qa installs are present",
        ) from exc
    except (RuntimeError, ValueError, EOFError, OSError, TypeError, AttributeError, KeyError) as exc:
        text = str(exc)
        if "less than expected" in text or "truncat" in text.lower() or isinstance(exc, EOFError):
            raise InputError(
                label, "PixelData",
                f"pixel data is incomplete ({text}); the file is truncated",
                hint="re-export the series from the scanner or PACS",
            ) from exc
        raise InputError(
            label, "PixelData",
            f"cannot decode pixel data in {ts_name} ({type(exc).__name__}: {text})",
            hint="check that the file is intact; for compressed files install the pylibjpeg plugins "
            "or decompress them first (dcmdjpeg / gdcmconv --raw)",
        ) from exc
    return arr


def iter_series_files(scan: InputScan) -> Iterable[str]:
    """Every file label that belongs to an image series of ``scan``."""
    for g in scan.series:
        yield from dict.fromkeys(i.label.split(" (frame")[0] for i in g.images)
