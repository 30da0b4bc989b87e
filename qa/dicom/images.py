"""Image headers: one record per 2-D image (a file, or a frame of an Enhanced CT), and series facts.

Classic single-frame images are read from their top-level attributes; Enhanced (multi-frame)
images through their shared and per-frame functional groups.  Localizers are counted, not kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa.dicom import attributes as attr
from qa.errors import InputError
from qa.records.identity import Pseudonymiser
from qa.records.plausibility import is_possible
from qa.records.volume import SeriesInfo

__all__ = ["ImageRef", "SeriesInfo", "images_of", "series_info"]


@dataclass(frozen=True)
class ImageRef:
    """One 2-D image: a single-frame file or one frame of a multi-frame file (header facts only)."""

    label: str  # file path, or archive.zip!member, plus " (frame n)" for multi-frame images
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


def series_info(ds, label: str, n_images: int, n_files: int, pseudonymise: Pseudonymiser) -> SeriesInfo:
    """The series facts of a series' first dataset (its first instance: ``qa.dicom.series.scan_inputs`` orders the
    files by InstanceNumber); the StudyInstanceUID only as its pseudonym."""
    number = attr.raw_text(ds, "SeriesNumber")
    try:
        number = int(number) if number is not None else None
    except ValueError:
        number = None
    kvp_value = attr.lookup(ds, "KVP")
    try:
        kvp = float(kvp_value) if kvp_value not in (None, "") else None
    except (TypeError, ValueError):
        kvp = None
    if kvp is not None and not (math.isfinite(kvp) and kvp > 0):
        kvp = None  # an unusable value is an unknown value: scoring then says so
    kernel = attr.text(ds, "ConvolutionKernel")
    if kernel is None:
        looked_up = attr.lookup(ds, "ConvolutionKernel")
        kernel = str(looked_up) if looked_up else None
    sop = attr.raw_text(ds, "SOPClassUID") or ""
    return SeriesInfo(
        series_instance_uid=attr.raw_text(ds, "SeriesInstanceUID") or "",
        study_key=pseudonymise(attr.raw_text(ds, "StudyInstanceUID")),
        series_description=attr.text(ds, "SeriesDescription") or "",
        series_number=number,
        modality=attr.raw_text(ds, "Modality") or "?",
        sop_class_uid=sop,
        sop_class_name=attr.sop_class_name(sop),
        manufacturer=attr.text(ds, "Manufacturer"),
        model=attr.text(ds, "ManufacturerModelName"),
        station_name=attr.text(ds, "StationName"),
        device_serial_number=attr.text(ds, "DeviceSerialNumber"),
        kvp=kvp,
        convolution_kernel=kernel,
        acquisition_datetime=_acquisition_datetime(ds),
        ctdivol_mgy=_positive_number(attr.lookup(ds, "CTDIvol")),
        exposure_mas=_possible_exposure(_positive_number(attr.lookup(ds, "Exposure"))),
        n_images=n_images,
        n_files=n_files,
        first_file=label,
        device_uid=attr.raw_text(ds, "DeviceUID"),
        institution_name=attr.text(ds, "InstitutionName"),
    )


def images_of(ds, label: str, dataset_index: int) -> tuple[list[ImageRef], int]:
    """The 2-D images of one dataset, and how many of its frames are localizers."""
    n_frames_value = attr.raw_text(ds, "NumberOfFrames")
    try:
        n_frames = int(n_frames_value) if n_frames_value is not None else 1
    except ValueError as exc:
        raise InputError(label, "NumberOfFrames", f"value {n_frames_value!r} is not an integer",
                         hint="re-export the series from the scanner or PACS") from exc
    if n_frames < 1:
        raise InputError(label, "NumberOfFrames", f"is {n_frames}", hint="re-export the series from the scanner or PACS")
    sop_uid = attr.raw_text(ds, "SOPInstanceUID") or ""
    rows = attr.raw_us(ds, "Rows")
    cols = attr.raw_us(ds, "Columns")
    if "PerFrameFunctionalGroupsSequence" not in ds:
        if "LOCALIZER" in attr.image_type(ds):
            return [], n_frames
        if n_frames != 1:
            raise InputError(
                label, "NumberOfFrames",
                f"multi-frame image with {n_frames} frames but no per-frame functional groups; "
                "the position of each frame is unknown",
                hint="export the series as single-frame CT images or as Enhanced CT",
            )
        image = ImageRef(
            label=label,
            dataset_index=dataset_index,
            frame=None,
            sop_instance_uid=sop_uid,
            position=attr.raw_floats(ds, "ImagePositionPatient", 3, label),  # type: ignore[arg-type]
            orientation=attr.raw_floats(ds, "ImageOrientationPatient", 6, label),
            rows=rows,
            columns=cols,
            pixel_spacing=attr.raw_floats(ds, "PixelSpacing", 2, label),  # type: ignore[arg-type]
            slice_thickness=attr.raw_float(ds, "SliceThickness", label),
            rescale_slope=attr.raw_float(ds, "RescaleSlope", label),
            rescale_intercept=attr.raw_float(ds, "RescaleIntercept", label),
            rescale_type=attr.raw_text(ds, "RescaleType"),
            gantry_tilt_deg=attr.raw_float(ds, "GantryDetectorTilt", label),
        )
        return [image], 0
    return _enhanced_images_of(ds, label, dataset_index, n_frames, sop_uid, rows, cols)


def _enhanced_images_of(ds, label, dataset_index, n_frames, sop_uid, rows, cols) -> tuple[list[ImageRef], int]:
    """Frames of an Enhanced (multi-frame) image: geometry and rescale from the functional groups."""
    fg = attr.functional_group_value
    per_frame = ds.PerFrameFunctionalGroupsSequence
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    if len(per_frame) != n_frames:
        raise InputError(
            label, "PerFrameFunctionalGroupsSequence",
            f"has {len(per_frame)} items but NumberOfFrames is {n_frames}",
            hint="re-export the series from the scanner or PACS",
        )
    top_type = attr.image_type(ds)
    tilt = attr.to_float(attr.lookup(ds, "GantryDetectorTilt"), label, "GantryDetectorTilt")
    images = []
    localizers = 0
    for f, item in enumerate(per_frame):
        frame_type = fg(item, shared, "CTImageFrameTypeSequence", "FrameType")
        if frame_type is None:
            types = top_type
        elif isinstance(frame_type, str):
            types = tuple(frame_type.upper().split("\\"))
        else:
            types = tuple(str(v).upper() for v in frame_type)
        if "LOCALIZER" in types:
            localizers += 1
            continue
        where = f"{label} (frame {f + 1})"
        rescale_type = fg(item, shared, "PixelValueTransformationSequence", "RescaleType")
        images.append(
            ImageRef(
                label=where,
                dataset_index=dataset_index,
                frame=f,
                sop_instance_uid=f"{sop_uid}#{f + 1}",
                position=attr.to_floats(  # type: ignore[arg-type]
                    fg(item, shared, "PlanePositionSequence", "ImagePositionPatient"),
                    3, where, "PlanePositionSequence/ImagePositionPatient",
                ),
                orientation=attr.to_floats(
                    fg(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient"),
                    6, where, "PlaneOrientationSequence/ImageOrientationPatient",
                ),
                rows=rows,
                columns=cols,
                pixel_spacing=attr.to_floats(  # type: ignore[arg-type]
                    fg(item, shared, "PixelMeasuresSequence", "PixelSpacing"),
                    2, where, "PixelMeasuresSequence/PixelSpacing",
                ),
                slice_thickness=attr.to_float(
                    fg(item, shared, "PixelMeasuresSequence", "SliceThickness"),
                    where, "PixelMeasuresSequence/SliceThickness",
                ),
                rescale_slope=attr.to_float(
                    fg(item, shared, "PixelValueTransformationSequence", "RescaleSlope"),
                    where, "PixelValueTransformationSequence/RescaleSlope",
                ),
                rescale_intercept=attr.to_float(
                    fg(item, shared, "PixelValueTransformationSequence", "RescaleIntercept"),
                    where, "PixelValueTransformationSequence/RescaleIntercept",
                ),
                rescale_type=str(rescale_type).strip() if rescale_type else None,
                gantry_tilt_deg=tilt,
            )
        )
    return images, localizers


def _positive_number(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) and out >= 0 else None


def _possible_exposure(mas: float | None) -> float | None:
    """An exposure beyond its limit is missing (qa.dicom.plausible.acquisition_values says so in a warning)."""
    return mas if mas is not None and is_possible("exposure_mas", mas) else None


def _acquisition_datetime(ds) -> str | None:
    """ISO 8601 date and time of the acquisition (else the series, else the study), or None."""
    import datetime as dt

    combined = attr.raw_text(ds, "AcquisitionDateTime")
    candidates = []
    if combined:
        candidates.append((combined[:8], combined[8:]))
    for date_key, time_key in (("AcquisitionDate", "AcquisitionTime"), ("SeriesDate", "SeriesTime"), ("StudyDate", "StudyTime")):
        date = attr.raw_text(ds, date_key)
        if date:
            candidates.append((date, attr.raw_text(ds, time_key) or ""))
    for date, time in candidates:
        try:
            day = dt.datetime.strptime(date.strip()[:8], "%Y%m%d")
        except ValueError:
            continue
        digits = time.strip().split("+")[0].split("-")[0]
        hh, mm, ss = digits[0:2], digits[2:4], digits[4:6]
        try:
            stamp = day.replace(hour=int(hh or 0), minute=int(mm or 0), second=int(float(ss or 0)))
        except ValueError:
            stamp = day
        return stamp.isoformat()
    return None
