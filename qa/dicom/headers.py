"""Acquisition parameters of a CT series from its image headers (no pixels needed).

Standard attributes first, then the vendors' private tags and text conventions (GE, Siemens,
Toshiba/Canon, Philips), which are rows of the declarative table in :mod:`qa.dicom.private_tags`
(heart rate, trigger phase and delay, pitch, pre-scan heart rate).  Every value keeps the tag it
came from beside it (``AcquisitionHeaders.sources``), never inside it.

``read_headers(group)`` works on a series found by :func:`qa.dicom.series.scan_inputs` (read with
``headers_only=True`` for speed: ``stop_before_pixels``); each header is read once.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from qa.dicom import attributes as attr
from qa.dicom.header_values import _first, _number, _standard, _text
from qa.dicom.private_tags import read_field
from qa.dicom.rdsr_codes import ACQUISITION_TYPE_TERMS
from qa.dicom.series import dataset_labels
from qa.dicom.slice_table import image_time
from qa.dicom.value_warnings import now_reading, reading
from qa.errors import InputError
from qa.dicom.plausible import acquisition_values, plausible_numbers, refuse_impossible_raw, rejected_warnings
from qa.records.plausibility import ImpossibleValue
from qa.records.headers import AcquisitionHeaders, Stack
from qa.records.stacks import find_stacks
from qa.records.identity import vendor_of

__all__ = ["AcquisitionHeaders", "Stack", "headers_of", "read_headers"]


# ------------------------------------------------------------------------------------ per image


@dataclass(frozen=True)
class _Image:
    z_mm: float | None
    acquisition_number: int | None
    time: dt.datetime | None
    time_text: str | None
    heart_rate_bpm: float | None
    heart_rate_source: str | None


# ------------------------------------------------------------------------------------ series


def read_headers(group) -> AcquisitionHeaders:
    """The acquisition parameters of one series (a :class:`qa.dicom.series.SeriesGroup`)."""
    if not group.datasets:
        raise InputError(None, None, "the series holds no images", hint="pass the folder of the calcium-score series")
    with reading(group.info.first_file):  # pydicom's warnings about the values name the file (qa.dicom.value_warnings)
        return _read_headers(group)


def _read_headers(group) -> AcquisitionHeaders:
    from qa.dicom import geometry

    ds0 = group.datasets[0]
    info = group.info
    vendor = vendor_of(info.manufacturer)
    sources: dict[str, str] = {}
    warnings: list[str] = []

    def take(name: str, value, source):
        if value is not None and source:
            sources[name] = source
        return value

    # Numbers that are the same for the whole series: from the first image.
    def num(name: str, *candidates):
        value, source = _first(candidates)
        return take(name, value, source)

    kvp = num("kvp", _standard(ds0, "KVP"))
    tube_current = num("tube_current_ma", _standard(ds0, "XRayTubeCurrent"), _standard(ds0, "XRayTubeCurrentInmA"))
    exposure = num("exposure_mas", _standard(ds0, "Exposure"), _standard(ds0, "ExposureInmAs"))
    exposure_time = num("exposure_time_ms", _standard(ds0, "ExposureTime"), _standard(ds0, "ExposureTimeInms"))
    thickness = num("slice_thickness_mm", _standard(ds0, "SliceThickness"))
    recon_diameter = num("reconstruction_diameter_mm", _standard(ds0, "ReconstructionDiameter"))
    collection_diameter = num("data_collection_diameter_mm", _standard(ds0, "DataCollectionDiameter"))
    rejected: dict[str, list[tuple[float, str]]] = {}
    pitch = take("pitch", *read_field(ds0, "pitch", vendor, rejected.setdefault("pitch", [])))
    single = num("single_collimation_mm", _standard(ds0, "SingleCollimationWidth"))
    total = num("total_collimation_mm", _standard(ds0, "TotalCollimationWidth"))
    revolution = num("revolution_time_s", _standard(ds0, "RevolutionTime"))
    ctdivol = num("ctdivol_mgy", _standard(ds0, "CTDIvol"))

    kernel_value, kernel_source = _standard(ds0, "ConvolutionKernel")
    kernel = take("kernel", _text(kernel_value), kernel_source)

    # Settings that must be the same on every image: a series that mixes them is reported, and the
    # value is unknown rather than the first image's.
    varying = _varying(group)
    kvp_values = _text(attr.lookup(ds0, "KVP")) or ""
    if "\\" in kvp_values:
        varying["kvp"] = tuple(sorted(kvp_values.split("\\")))
        warnings.append(f"several kVp values in one image ({kvp_values}): a dual-energy acquisition")
    for name in varying:
        warnings.append(f"{name} differs between the images of the series: {', '.join(str(v) for v in varying[name])}")
    kvp = None if "kvp" in varying else kvp
    thickness = None if "slice_thickness_mm" in varying else thickness
    kernel = None if "kernel" in varying else kernel
    recon_diameter = None if "reconstruction_diameter_mm" in varying else recon_diameter
    if "ctdivol_mgy" in varying:
        ctdivol = max(float(v) for v in varying["ctdivol_mgy"])
        sources["ctdivol_mgy"] = "(0018,9345) CTDIvol, the highest over the images"

    acquisition_type = _acquisition_type(ds0, pitch, sources)
    reconstruction, strength = _reconstruction_algorithm(ds0, vendor, kernel, sources)
    phase = take("trigger_phase_pct", *read_field(ds0, "trigger_phase_pct", vendor, rejected.setdefault("trigger_phase_pct", [])))
    delay = take("trigger_delay_ms", *read_field(ds0, "trigger_delay_ms", vendor, rejected.setdefault("trigger_delay_ms", [])))
    synchronization = _synchronization(ds0, vendor, acquisition_type, phase, delay, pitch, sources)

    # Per image: position, time, heart rate.
    images = []
    labels = dataset_labels(group)
    for n, image in enumerate(group.images):
        ds = group.datasets[image.dataset_index]
        now_reading(labels[image.dataset_index])
        when, when_text = image_time(ds)
        number = _number(attr.raw_text(ds, "AcquisitionNumber"))
        hr, hr_source = read_field(ds, "heart_rate_bpm", vendor, rejected.setdefault("heart_rate_bpm", []))
        images.append(_Image(image.position[2] if image.position else None,
                             int(number) if number is not None else None, when, when_text, hr, hr_source))

    increment = None
    try:
        stack = geometry.sort_stack(group.images)
        increment = stack.increment_mm
        if increment is not None:
            sources["slice_increment_mm"] = "ImagePositionPatient along the slice normal (median step)"
        images = [images[i] for i in stack.order]
    except ImpossibleValue:
        raise
    except InputError as exc:
        warnings.append(f"slice increment not available: {exc.message}")

    rates = [i.heart_rate_bpm for i in images if i.heart_rate_bpm is not None]
    heart_rate = heart_min = heart_max = None
    if rates:
        heart_rate, heart_min, heart_max = statistics.fmean(rates), min(rates), max(rates)
        sources["heart_rate_bpm"] = next(i.heart_rate_source for i in images if i.heart_rate_source) + (
            f" (mean over {len(rates)} images)" if len(rates) > 1 else "")
    prescan = take("heart_rate_prescan_bpm", *read_field(ds0, "heart_rate_prescan_bpm", vendor,
                                                         rejected.setdefault("heart_rate_prescan_bpm", [])))
    now_reading(group.info.first_file)
    warnings += rejected_warnings(rejected)
    warnings += acquisition_values(group.datasets, dataset_labels(group), flag_unusual=False)  # every image's values
    refuse_impossible_raw(ds0, varying, info.first_file)
    numbers = plausible_numbers(group, dict(kvp=kvp, tube_current_ma=tube_current, exposure_mas=exposure,
                                              exposure_time_ms=exposure_time, slice_thickness_mm=thickness,
                                              reconstruction_diameter_mm=recon_diameter,
                                              data_collection_diameter_mm=collection_diameter,
                                              single_collimation_mm=single, total_collimation_mm=total,
                                              revolution_time_s=revolution, ctdivol_mgy=ctdivol), sources, warnings)
    kvp, tube_current, exposure = numbers["kvp"], numbers["tube_current_ma"], numbers["exposure_mas"]
    exposure_time, thickness = numbers["exposure_time_ms"], numbers["slice_thickness_mm"]
    recon_diameter, collection_diameter = numbers["reconstruction_diameter_mm"], numbers["data_collection_diameter_mm"]
    single, total, revolution, ctdivol = (numbers["single_collimation_mm"], numbers["total_collimation_mm"],
                                          numbers["revolution_time_s"], numbers["ctdivol_mgy"])

    zs = [i.z_mm for i in images if i.z_mm is not None]
    scan_range = (min(zs), max(zs)) if zs else None
    coverage = (scan_range[1] - scan_range[0] + (thickness or 0.0)) if scan_range else None
    if coverage is not None:
        sources["coverage_mm"] = "image positions (first to last) + slice thickness"
    stacks = _stacks(images)
    event_uids = tuple(sorted({u for ds in group.datasets for u in [attr.raw_text(ds, "IrradiationEventUID")] if u}))
    times = [i.time for i in images if i.time is not None]
    first_time = min(times).isoformat() if times else None

    return AcquisitionHeaders(
        series_instance_uid=info.series_instance_uid,
        series_description=info.series_description,
        manufacturer=info.manufacturer,
        model=info.model,
        device_serial_number=info.device_serial_number,
        station_name=info.station_name,
        device_uid=info.device_uid,
        institution_name=info.institution_name,
        software_versions=_text(attr.lookup(ds0, "SoftwareVersions")),
        n_images=len(group.images),
        kvp=kvp,
        tube_current_ma=tube_current,
        exposure_mas=exposure,
        exposure_time_ms=exposure_time,
        slice_thickness_mm=thickness,
        slice_increment_mm=increment,
        kernel=kernel,
        reconstruction_algorithm=reconstruction,
        iterative_strength=strength,
        reconstruction_diameter_mm=recon_diameter,
        data_collection_diameter_mm=collection_diameter,
        pitch=pitch,
        single_collimation_mm=single,
        total_collimation_mm=total,
        revolution_time_s=revolution,
        ctdivol_mgy=ctdivol,
        acquisition_type=acquisition_type,
        cardiac_synchronization=synchronization,
        trigger_phase_pct=phase,
        trigger_delay_ms=delay,
        heart_rate_bpm=heart_rate,
        heart_rate_min_bpm=heart_min,
        heart_rate_max_bpm=heart_max,
        heart_rate_prescan_bpm=prescan,
        scan_range_mm=scan_range,
        coverage_mm=coverage,
        first_image_time=first_time,
        stacks=stacks,
        varying=varying,
        irradiation_event_uids=event_uids,
        image_times=tuple(i.time_text for i in images),
        sop_instance_uids=tuple(i.sop_instance_uid for i in group.images),
        sources=sources,
        warnings=tuple(warnings),
        body_part_examined=(_text(attr.lookup(ds0, "BodyPartExamined")) or "").upper() or None,  # a defined term
        protocol_name=_text(attr.lookup(ds0, "ProtocolName")),
    )


# DICOM PS3.3 C.8.15.3.8 Acquisition Type (0018,9302) defined terms: the same terms as the dose report's.
_ACQUISITION_TYPES = ACQUISITION_TYPE_TERMS
# GE ScanOptions of CT images (seen in the GE LightSpeed headers of the pydicom test files).
_GE_SCAN_OPTIONS = {"AXIAL MODE": "sequenced", "CINE MODE": "sequenced", "HELICAL MODE": "spiral", "SCOUT MODE": None}


def _acquisition_type(ds, pitch, sources) -> str | None:
    value, source = _standard(ds, "AcquisitionType")
    text = (_text(value) or "").upper()
    if text in _ACQUISITION_TYPES:
        sources["acquisition_type"] = source
        return _ACQUISITION_TYPES[text]
    options, source = _standard(ds, "ScanOptions")
    options_text = (_text(options) or "").upper()
    for key, kind in _GE_SCAN_OPTIONS.items():
        if key in options_text and kind:
            sources["acquisition_type"] = f"{source} '{_text(options)}'"
            return kind
    if pitch is not None and pitch > 0:
        sources["acquisition_type"] = f"inferred: a pitch factor is given ({sources.get('pitch')})"
        return "spiral"
    return None


def _reconstruction_algorithm(ds, vendor, kernel, sources) -> tuple[str | None, str | None]:
    """(algorithm category, iterative strength when the vendor says)."""
    strength = kernel.split("\\")[1] if vendor == "siemens" and kernel and "\\" in kernel else None
    value, source = _standard(ds, "ReconstructionAlgorithm")  # PS3.3 C.8.15.3.6: FILTER_BACK_PROJ | ITERATIVE
    text = (_text(value) or "").upper()
    if text:
        sources["reconstruction_algorithm"] = source
        return {"FILTER_BACK_PROJ": "filtered_back_projection", "ITERATIVE": "iterative"}.get(text, text.lower()), strength
    if strength is not None:
        # Siemens write the iterative strength as the kernel's second value (Qr36d\3: ADMIRE 3).
        sources["reconstruction_algorithm"] = "(0018,1210) ConvolutionKernel second value (Siemens iterative strength)"
        return "iterative", strength
    return None, None


# DICOM PS3.3 C.7.6.18.1 Cardiac Synchronization Technique (0018,9037) defined terms.
_SYNCHRONIZATION = {"NONE": "none", "REALTIME": "realtime", "PROSPECTIVE": "prospective",
                    "RETROSPECTIVE": "retrospective", "PACED": "paced"}


def _synchronization(ds, vendor, acquisition_type, phase, delay, pitch, sources) -> str | None:
    value, source = _standard(ds, "CardiacSynchronizationTechnique")
    text = (_text(value) or "").upper()
    if text in _SYNCHRONIZATION:
        sources["cardiac_synchronization"] = source
        return _SYNCHRONIZATION[text]
    gated = phase is not None or delay is not None
    if not gated:
        return None
    # Without the standard attribute: a gated axial (step-and-shoot) scan is prospectively
    # triggered; a gated low-pitch spiral is retrospectively gated.  Marked as inferred.
    basis = sources.get("trigger_phase_pct") or sources.get("trigger_delay_ms")
    if acquisition_type in ("sequenced", "stationary"):
        sources["cardiac_synchronization"] = f"inferred: gated ({basis}) {acquisition_type} acquisition"
        return "prospective"
    if acquisition_type == "spiral" and pitch is not None and pitch >= 1.5:
        # A gated high-pitch spiral (e.g. Siemens Flash) is triggered prospectively.
        sources["cardiac_synchronization"] = f"inferred: gated ({basis}) high-pitch spiral (pitch {pitch:g} >= 1.5)"
        return "prospective"
    if acquisition_type == "spiral" and pitch is not None and pitch < 1.0:
        sources["cardiac_synchronization"] = f"inferred: gated ({basis}) spiral with pitch {pitch:g} < 1"
        return "retrospective"
    return None


def _stacks(images: list[_Image]) -> tuple[Stack, ...]:
    """Stacks in acquisition order, by the one rule of :func:`qa.records.stacks.find_stacks`."""
    if not images:
        return ()
    split = find_stacks([i.acquisition_number for i in images], [i.time for i in images], [i.z_mm for i in images])
    return tuple(Stack(index=s.index, n_images=s.n_slices, z_min_mm=s.z_range_mm[0] if s.z_range_mm else None,
                       z_max_mm=s.z_range_mm[1] if s.z_range_mm else None, acquisition_time=s.acquisition_time,
                       start_s=s.start_s) for s in split.stacks)


# Settings compared across the images of a series: field -> DICOM keyword.
_SERIES_WIDE = {"kvp": "KVP", "slice_thickness_mm": "SliceThickness", "kernel": "ConvolutionKernel",
                "reconstruction_diameter_mm": "ReconstructionDiameter", "ctdivol_mgy": "CTDIvol"}


def _varying(group) -> dict[str, tuple]:
    """Series-wide settings whose value differs between the images."""
    out = {}
    for name, keyword in _SERIES_WIDE.items():
        values = set()
        # DS attributes from their raw text (fast); CTDIvol (FD) and the kernel through pydicom, each
        # distinct encoded value once (the same bytes in the same character set decode alike).
        ascii_vr = keyword in ("KVP", "SliceThickness", "ReconstructionDiameter")
        decoded: dict[tuple, object] = {}
        for ds in group.datasets:
            value = attr.raw_text(ds, keyword) if ascii_vr else None
            if value is not None:
                item = _series_value(keyword, value)
            else:
                key = None if ascii_vr else _encoded(ds, keyword)
                item = decoded[key] if key in decoded else _series_value(keyword, _text(attr.lookup(ds, keyword)))
                if key is not None:
                    decoded[key] = item
            if item is not None:
                values.add(item)
        if len(values) > 1:
            out[name] = tuple(sorted(values, key=str))
    return out


def _series_value(keyword: str, value):
    """A series-wide setting as compared between images: a number to 3 decimals, else its text."""
    if value is None:
        return None
    number = _number(value) if keyword != "ConvolutionKernel" else None
    return round(number, 3) if number is not None else str(value).strip()


def _encoded(ds, keyword: str) -> tuple | None:
    """What the decoded value of a top-level element not yet decoded depends on; None otherwise."""
    elem = ds.get_item(attr.tag(keyword), keep_deferred=True)
    if elem is None or not getattr(elem, "is_raw", False) or elem.value is None:
        return None
    return elem.value, elem.VR, elem.is_little_endian, attr.raw_text(ds, "SpecificCharacterSet")


def headers_of(inputs, series_uid: str | None = None, *, progress=None) -> AcquisitionHeaders:
    """Convenience: scan ``inputs`` (headers only), pick the series, read its acquisition headers."""
    from qa.dicom.series import scan_inputs, select_series

    return read_headers(select_series(scan_inputs(inputs, progress=progress, headers_only=True), series_uid))
