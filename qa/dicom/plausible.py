"""Plausibility of the values read from CT images and headers (issue 11: impossible values never pass).

The limits are the one table :mod:`qa.records.plausibility`; this module applies them to what the
DICOM readers find: impossible values raise :class:`~qa.records.plausibility.ImpossibleValue`
(exit 2, the file and the field named), unusual ones become warning texts that name the field
(never the file path: folder names may name patients), for the document's ``warnings``.
"""

from __future__ import annotations

import math
import struct

from typing import TYPE_CHECKING

import numpy as np

from qa.dicom import attributes as attr
from qa.dicom.header_values import _text
from qa.errors import InputError
from qa.records.plausibility import ImpossibleValue, is_possible, plausible, require_possible, unusual

if TYPE_CHECKING:
    from qa.dicom.images import ImageRef

# The decoded float32 volume may take at most this much memory (qa.records.plausibility
# "volume_voxels": 2 GiB).  A series that would need more is refused before anything is decoded.
VOLUME_BUDGET_BYTES = int(plausible("volume_voxels").limits[1]) * 4


# ------------------------------------------------------------------------------------ images


def unusual_geometry(first: ImageRef, increment_mm: float | None) -> list[str]:
    """Flagged warnings for a series whose (possible) matrix, spacing, thickness, increment or
    rescale slope is outside the usual range (:mod:`qa.records.plausibility`)."""
    notes = [
        unusual("matrix_pixels", first.rows, field="Rows")
        or unusual("matrix_pixels", first.columns, field="Columns"),
        unusual("pixel_spacing_mm", min(first.pixel_spacing), field="PixelSpacing")
        or unusual("pixel_spacing_mm", max(first.pixel_spacing), field="PixelSpacing"),
        unusual("rescale_slope", first.rescale_slope, field="RescaleSlope"),
    ]
    if first.slice_thickness is not None:
        notes.append(unusual("slice_thickness_mm", first.slice_thickness, field="SliceThickness"))
    if increment_mm is not None:
        notes.append(unusual("slice_increment_mm", increment_mm, field="ImagePositionPatient (slice increment)"))
    return list(dict.fromkeys(n for n in notes if n))


# Acquisition values read from every image of a series: keyword -> (plausibility quantity, factor to
# its unit, refused when outside the limits?).  Negative or non-finite is refused for each of them
# (issue 11: no negative or non-finite dose, time or size); KVP and CTDIvol drive verdicts, so any
# impossible one is refused; a descriptive value above its limit is treated as missing (a warning).
_PER_IMAGE: tuple[tuple[str, str, float, bool], ...] = (
    ("KVP", "kvp", 1.0, True),
    ("CTDIvol", "ctdivol_mgy", 1.0, True),
    ("Exposure", "exposure_mas", 1.0, False),
    ("ExposureInmAs", "exposure_mas", 1.0, False),
    ("XRayTubeCurrent", "tube_current_ma", 1.0, False),
    ("XRayTubeCurrentInmA", "tube_current_ma", 1.0, False),
    ("ExposureTime", "duration_s", 1e-3, False),  # ms
    ("ExposureTimeInms", "duration_s", 1e-3, False),
)


def _single_number(raw) -> float | None:
    """A DICOM value as one number (NaN and inf kept: they are refused), None when absent, empty,
    not a number or several values (dual energy: unknown, said where it is used)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1").strip("\x00 ")
    if isinstance(raw, str) and "\\" in raw:
        return None
    if not isinstance(raw, (str, int, float)):
        try:
            items = list(raw)
        except TypeError:
            items = [raw]
        if len(items) != 1:
            return None
        raw = items[0]
    try:
        return float(raw)
    except (TypeError, ValueError, OverflowError):
        return None


def single_number(ds, keyword: str) -> float | None:
    """:func:`_single_number` of an attribute's value.  A DS or IS value not yet decoded is read from
    its text, an FD value from its 8 bytes, without pydicom's conversion (the same number: the
    conversion of a malformed text keeps the text, which fails here as there); anything else
    (another VR than the dictionary's, enhanced functional groups) through pydicom."""
    elem = ds.get_item(attr.tag(keyword), keep_deferred=True)
    if elem is not None and getattr(elem, "is_raw", False) and elem.value:
        vr = elem.VR
        if vr in ("DS", "IS") and vr == _TEXT_NUMBER_VRS.get(keyword):
            return _single_number(elem.value)
        if vr == "FD" and len(elem.value) == 8 and _TEXT_NUMBER_VRS.get(keyword) == "FD":
            return struct.unpack("<d" if elem.is_little_endian else ">d", elem.value)[0]
    return _single_number(attr.lookup(ds, keyword))


# The dictionary VRs of the numbers read by single_number (PS3.6).
_TEXT_NUMBER_VRS = {"KVP": "DS", "Exposure": "IS", "XRayTubeCurrent": "IS", "ExposureTime": "IS", "CTDIvol": "FD",
                    "ExposureInmAs": "FD", "XRayTubeCurrentInmA": "FD", "ExposureTimeInms": "FD"}


def acquisition_values(datasets, labels, *, flag_unusual: bool = True) -> list[str]:
    """Check the acquisition values of every image of a series (``labels[i]`` names ``datasets[i]``).

    Refuses (ImpossibleValue, the image's file and field named) a negative or non-finite KVP,
    CTDIvol, exposure, tube current or exposure time anywhere in the series, and a KVP or CTDIvol
    beyond its limits; returns flagged warnings for unusual kVp and CTDIvol and for a descriptive
    value above its limits (treated as missing).  One pass of dictionary look-ups per image: the
    headers are already read.
    """
    notes: list[str] = []
    for keyword, quantity, factor, strict in _PER_IMAGE:
        numbers = [single_number(ds, keyword) for ds in datasets]
        present = np.array([v is not None for v in numbers])
        if not present.any():
            continue
        values = np.array([np.nan if v is None else v for v in numbers], dtype=float) * factor
        low, high = plausible(quantity).limits
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(values)
            bad = present & ~(finite & (values >= low) & ((values <= high) | (not strict)))
        if bad.any():
            first = int(np.argmax(bad))
            others = int(bad.sum()) - 1
            field = keyword + (f" (and {others} more image(s))" if others else "")
            require_possible(quantity, float(values[first]), path=labels[first], field=field)
        over = present & finite & (values > high)
        if over.any():
            first = int(np.argmax(over))
            notes.append(f"{keyword} = {numbers[first]:g} is impossible for {plausible(quantity).quantity} "
                         f"({plausible(quantity).describe_limits()}): treated as missing")
        if strict and flag_unusual:
            for value in dict.fromkeys(values[present].tolist()):
                note = unusual(quantity, value, field=keyword)
                if note:
                    notes.append(note)
    return list(dict.fromkeys(notes))


# Settings that must be the same on every image of a series that is scored: a calcium score or a
# phantom verdict from slices at different tube voltages or kernels is not one measurement.
_UNIFORM = (("KVP", "kVp"), ("ConvolutionKernel", "convolution kernel"))


def require_uniform(datasets, labels) -> None:
    """InputError naming the first image whose KVP or ConvolutionKernel differs from the first image's."""
    for keyword, what in _UNIFORM:
        first_value = None
        for ds, label in zip(datasets, labels):
            raw = attr.lookup(ds, keyword)
            value = _text(raw)
            if value is None:
                continue
            number = _single_number(raw) if keyword == "KVP" else None
            key = round(number, 3) if number is not None else value.upper()
            if first_value is None:
                first_value = (key, value, label)
            elif key != first_value[0]:
                raise InputError(
                    label, keyword,
                    f"is {value} but {first_value[1]} in {first_value[2]}: the images of one series disagree on the "
                    f"{what}, and a score over them would mix two measurements",
                    hint="pass one reconstruction only (its own folder, or --series-uid); re-export the series if it "
                         "should be uniform",
                )


def require_budget(images, rows: int, cols: int) -> None:
    """Refuse a series whose decoded volume would exceed :data:`VOLUME_BUDGET_BYTES`."""
    needed = len(images) * rows * cols * 4
    if needed > VOLUME_BUDGET_BYTES:
        raise ImpossibleValue(
            images[0].label, "Rows/Columns",
            f"{len(images)} images of {rows} x {cols} pixels would need {needed / 1024**3:.1f} GiB decoded, "
            f"more than the {VOLUME_BUDGET_BYTES / 1024**3:g} GiB qa allows for one series",
            hint="pass one calcium-score reconstruction (a few dozen 512 x 512 slices), not a whole-body or thin-slice series",
        )


def require_ct_numbers(out: np.ndarray, img) -> None:
    """Refuse a decoded slice whose values after rescale are impossible CT numbers (a corrupt
    Rescale Slope or Intercept)."""
    limits = plausible("hu").limits
    low, high = float(out.min()), float(out.max())
    if not (limits[0] <= low and high <= limits[1]):  # NaN fails too
        bad = low if not limits[0] <= low else high
        raise ImpossibleValue(
            img.label, "RescaleSlope/RescaleIntercept",
            f"give a CT number of {bad:g} HU (slope {img.rescale_slope:g}, intercept "
            f"{img.rescale_intercept:g}); possible CT numbers lie within {plausible('hu').describe_limits()}",
            hint="the file is corrupt or was edited; re-export the series from the scanner or PACS",
        )


def unusual_ct_numbers(hu: np.ndarray) -> list[str]:
    """Warnings when the volume's lowest or highest CT number is outside the usual scale."""
    notes = [unusual("hu", float(v), field="CT number after rescale") for v in (hu.min(), hu.max())]
    return list(dict.fromkeys(n for n in notes if n))


# ------------------------------------------------------------------------------------ acquisition headers (qa check)

# Header numbers -> (plausibility quantity, factor to its unit, what an impossible value does).
# "refuse": the value drives a verdict directly (protocol kVp and thickness, the dose) and a
# corrupt one must not be judged or replaced: the exam is refused with the file and field named.
# "missing": descriptive values; an impossible one is treated as absent (its check says not
# available) and a warning names the field.  Heart rate, trigger phase and delay are "missing"
# too (read_field skips them): some scanners write 0 bpm when no ECG was recorded.
_HEADER_RULES: dict[str, tuple[str, float, str]] = {
    "kvp": ("kvp", 1.0, "refuse"),
    "slice_thickness_mm": ("slice_thickness_mm", 1.0, "refuse"),
    "ctdivol_mgy": ("ctdivol_mgy", 1.0, "refuse"),
    "total_collimation_mm": ("length_mm", 1.0, "refuse"),  # it scales the DLP estimated from headers
    "single_collimation_mm": ("length_mm", 1.0, "missing"),
    "tube_current_ma": ("tube_current_ma", 1.0, "missing"),
    "exposure_mas": ("exposure_mas", 1.0, "missing"),  # the same limits as the per-image check (_PER_IMAGE)
    "exposure_time_ms": ("duration_s", 1e-3, "missing"),
    "revolution_time_s": ("duration_s", 1.0, "missing"),
    "reconstruction_diameter_mm": ("length_mm", 1.0, "missing"),
    "data_collection_diameter_mm": ("length_mm", 1.0, "missing"),
}
_FLAGGED_HEADERS = ("kvp", "ctdivol_mgy", "slice_thickness_mm")


def plausible_numbers(group, values: dict[str, float | None], sources: dict[str, str], warnings: list[str]) -> dict:
    """``values`` with impossible "missing" ones set to None (and a warning); ImpossibleValue for
    an impossible "refuse" one; unusual kVp, CTDIvol and thickness flagged in ``warnings``."""
    label = group.info.first_file
    out = dict(values)
    for name, value in values.items():
        quantity, factor, action = _HEADER_RULES[name]
        field = sources.get(name, name)
        if value is None:
            continue
        if not is_possible(quantity, value * factor):
            if action == "refuse" or value * factor < plausible(quantity).limits[0]:  # never negative (issue 11)
                require_possible(quantity, value * factor, path=label, field=field)
            warnings.append(f"{field} = {value:g} is impossible for {plausible(quantity).quantity} "
                            f"({plausible(quantity).describe_limits()}): treated as missing")
            out[name] = None
            sources.pop(name, None)
        elif name in _FLAGGED_HEADERS:
            note = unusual(quantity, value, field=field)
            if note:
                warnings.append(note)
    return out


def refuse_impossible_raw(ds0, varying: dict[str, tuple], label: str) -> None:
    """The numbers that never reach :func:`plausible_numbers`: a non-finite value (read as absent;
    refused for every size and time, issue 11) and every image's value of a setting that differs
    between images."""
    for name, keyword in (("kvp", "KVP"), ("slice_thickness_mm", "SliceThickness"), ("ctdivol_mgy", "CTDIvol"),
                          ("total_collimation_mm", "TotalCollimationWidth"),
                          ("single_collimation_mm", "SingleCollimationWidth"), ("revolution_time_s", "RevolutionTime"),
                          ("reconstruction_diameter_mm", "ReconstructionDiameter"),
                          ("data_collection_diameter_mm", "DataCollectionDiameter")):
        quantity = _HEADER_RULES[name][0]
        number = _single_number(attr.lookup(ds0, keyword))
        if number is not None and not math.isfinite(number):
            require_possible(quantity, number, path=label, field=keyword)
        for value in varying.get(name, ()):
            if isinstance(value, (int, float)):
                require_possible(quantity, value, path=label, field=f"{keyword} (differs between images)")


def rejected_warnings(rejected: dict[str, list[tuple[float, str]]]) -> list[str]:
    out = []
    for name, found in rejected.items():
        if found:
            value, source = found[0]
            more = f" (and {len(found) - 1} more image(s))" if len(found) > 1 else ""
            out.append(f"{source} = {value:g} is not a possible {name.replace('_', ' ')}{more}: treated as missing")
    return out


