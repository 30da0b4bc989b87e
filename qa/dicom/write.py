"""Writing CT DICOM files: the synthesiser's slices, and small series for tests and examples.

Everything here produces valid CT Image Storage (or Enhanced CT Image Storage) files with
pydicom.  :class:`CtHeader` holds what goes into the acquisition headers; UIDs are derived
deterministically from a key, so the same input writes the same series.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qa.outputs import output_file

# Header styles: how vendors typically store CT numbers.
PIXEL_STYLES = {
    # name: (PixelRepresentation, BitsStored, RescaleIntercept, RescaleSlope)
    "unsigned-1024": (0, 16, -1024.0, 1.0),
    "unsigned12-1024": (0, 12, -1024.0, 1.0),
    "signed-0": (1, 16, 0.0, 1.0),
    "signed-1024": (1, 16, -1024.0, 1.0),
    "unsigned-slope0.5": (0, 16, -1024.0, 0.5),
    "signed-slope2": (1, 16, 0.0, 2.0),
}

VENDORS = {
    # name: Manufacturer, model, kernel, default pixel style, software version
    "generic": ("QA Synthetic", "Phantom Synthesiser", "STANDARD", "unsigned-1024", "qa-synth"),
    "siemens": ("SIEMENS", "SOMATOM Force", "Qr36d", "unsigned12-1024", "syngo CT VB20A"),
    "ge": ("GE MEDICAL SYSTEMS", "Revolution CT", "STANDARD", "signed-1024", "revo_ct_22"),
    "philips": ("Philips", "iCT 256", "B", "unsigned-1024", "4.1.6"),
    "canon": ("TOSHIBA", "Aquilion ONE", "FC12", "signed-0", "V8.9"),
}


@dataclass(frozen=True)
class CtHeader:
    """The acquisition and identity headers of a written CT series (lengths in mm)."""

    vendor: str = "generic"
    pixel_style: str | None = None  # None: the vendor's usual style
    station_name: str = "QA-SYNTH-1"
    device_serial_number: str = "SYN0001"
    institution_name: str = "qa synthetic hospital"
    patient_position: str = "HFS"
    series_number: int = 3
    series_description: str | None = None
    kvp: float = 120.0
    tube_current_ma: float = 200.0
    rotation_time_s: float = 0.28
    thickness_mm: float = 3.0
    increment_mm: float = 3.0
    pixel_mm: tuple[float, float] = (0.488, 0.488)  # (between rows, between columns)
    fov_mm: float = 250.0
    heart_rate_bpm: float = 60.0
    phase_pct: float = 70.0
    ctdivol_mgy: float = 4.0
    total_collimation_mm: float = 38.4
    single_collimation_mm: float = 0.6
    uid_key: str = ""  # seed of the deterministic UIDs
    study_description: str = "Calcium phantom QA"
    patient_name: str = "QA^PHANTOM"
    patient_id: str | None = None  # None: PHANTOM-<station name>

    @property
    def style(self) -> str:
        return self.pixel_style or VENDORS[self.vendor][3]

    @property
    def kernel(self) -> str:
        return VENDORS[self.vendor][2]


def derived_uid(*parts: object) -> str:
    """A UID derived from ``parts`` alone (a hash of them under pydicom's UID root): the same parts, the same UID."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(p) for p in parts])


class Uids:
    """Deterministic UIDs: the same key gives the same study, series and instances."""

    def __init__(self, key: str):
        from pydicom.uid import generate_uid

        self.study = generate_uid(entropy_srcs=[key, "study"])
        self.series = generate_uid(entropy_srcs=[key, "series"])
        self.frame_of_reference = generate_uid(entropy_srcs=[key, "for"])
        self.scout_series = generate_uid(entropy_srcs=[key, "scout-series"])
        self._key = key

    def instance(self, k: int | str) -> str:
        from pydicom.uid import generate_uid

        return generate_uid(entropy_srcs=[self._key, "instance", str(k)])


def encode_hu(hu: np.ndarray, pixel_style: str) -> np.ndarray:
    """Stored integer values that give ``hu`` back through the style's rescale (clipped to range)."""
    rep, bits_stored, intercept, slope = PIXEL_STYLES[pixel_style]
    lo, hi = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if rep else (0, 2**bits_stored - 1)
    return np.clip(np.rint((np.asarray(hu, dtype=np.float64) - intercept) / slope), lo, hi).astype(
        np.int16 if rep else np.uint16
    )


def dicom_date_time(value: dt.datetime) -> tuple[str, str]:
    return value.strftime("%Y%m%d"), value.strftime("%H%M%S.%f")


def _base_dataset(header: CtHeader, uids: Uids, sop_uid: str, start: dt.datetime):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        PYDICOM_IMPLEMENTATION_UID,
        CTImageStorage,
        ExplicitVRLittleEndian,
    )

    manufacturer, model, _kernel, _style, software = VENDORS[header.vendor]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    date, time = dicom_date_time(start)
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = time
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = manufacturer
    ds.ManufacturerModelName = model
    ds.SoftwareVersions = software
    ds.InstitutionName = header.institution_name
    ds.StationName = header.station_name
    ds.DeviceSerialNumber = header.device_serial_number
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = header.study_description
    ds.PatientName = header.patient_name
    ds.PatientID = header.patient_id if header.patient_id is not None else f"PHANTOM-{header.station_name}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = uids.study
    ds.StudyID = "1"
    ds.FrameOfReferenceUID = uids.frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = "HEART"
    ds.PatientPosition = header.patient_position
    return ds


def ct_image(
    header: CtHeader,
    uids: Uids,
    index: int,
    stored: np.ndarray,
    position_mm: tuple[float, float, float],
    *,
    study_start: dt.datetime,
    acquisition_time: dt.datetime,
    stack: int = 0,
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    content_time: dt.datetime | None = None,
    table_position_mm: float | None = None,
):
    """One CT Image Storage dataset carrying the acquisition headers compliance checks read.

    ``stack`` (0 = first acquired) gives AcquisitionNumber ``stack + 1``; ``content_time`` (default:
    the acquisition time) is when the image was made; ``table_position_mm`` the couch position of
    its acquisition (Table Position, 0018,9327), left out when None."""
    rep, bits_stored, intercept, slope = PIXEL_STYLES[header.style]
    ds = _base_dataset(header, uids, uids.instance(index), study_start)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SeriesInstanceUID = uids.series
    ds.SeriesNumber = header.series_number
    ds.SeriesDescription = header.series_description or f"CaSc {header.thickness_mm:g} {header.kernel}"
    ds.ProtocolName = "Calcium Score"
    ds.AcquisitionNumber = stack + 1
    ds.InstanceNumber = index + 1
    adate, atime = dicom_date_time(acquisition_time)
    ds.AcquisitionDate = adate
    ds.AcquisitionTime = atime
    ds.AcquisitionDateTime = adate + atime
    ds.ContentTime = dicom_date_time(content_time)[1] if content_time is not None else atime
    if table_position_mm is not None:
        ds.TablePosition = float(table_position_mm)
    # Acquisition
    ds.ScanOptions = "AXIAL MODE"
    ds.KVP = f"{header.kvp:g}"
    ds.XRayTubeCurrent = int(round(header.tube_current_ma))
    ds.ExposureTime = int(round(header.rotation_time_s * 1000))
    ds.Exposure = int(round(header.tube_current_ma * header.rotation_time_s))
    ds.SliceThickness = f"{header.thickness_mm:g}"
    ds.SpacingBetweenSlices = f"{header.increment_mm:g}"
    ds.ConvolutionKernel = header.kernel
    ds.ReconstructionDiameter = f"{header.fov_mm:.2f}"
    ds.DataCollectionDiameter = "500.00"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "150"
    ds.RotationDirection = "CW"
    ds.FilterType = "BODY"
    ds.FocalSpots = "1.2"
    ds.AcquisitionType = "SEQUENCED"
    ds.RevolutionTime = float(header.rotation_time_s)
    ds.SingleCollimationWidth = float(header.single_collimation_mm)
    ds.TotalCollimationWidth = float(header.total_collimation_mm)
    ds.CTDIvol = float(header.ctdivol_mgy)
    ds.ExposureModulationType = "NONE"
    ds.ReconstructionAlgorithm = "FILTER_BACK_PROJ"
    # Cardiac synchronisation (prospective ECG triggering at a fixed phase).
    rr_ms = 60000.0 / header.heart_rate_bpm
    ds.CardiacSynchronizationTechnique = "PROSPECTIVE"
    ds.NominalPercentageOfCardiacPhase = float(header.phase_pct)
    ds.HeartRate = int(round(header.heart_rate_bpm))
    ds.TriggerTime = f"{header.phase_pct / 100.0 * rr_ms:.1f}"
    ds.NominalCardiacTriggerDelayTime = float(header.phase_pct / 100.0 * rr_ms)
    ds.CardiacRRIntervalSpecified = float(rr_ms)
    # Geometry
    ds.ImagePositionPatient = [f"{float(v):.4f}" for v in position_mm]
    ds.ImageOrientationPatient = [f"{float(v):.6f}" for v in orientation]
    ds.SliceLocation = f"{float(position_mm[2]):.4f}"
    ds.PixelSpacing = [f"{header.pixel_mm[0]:.6g}", f"{header.pixel_mm[1]:.6g}"]
    ds.ReconstructionTargetCenterPatient = [0.0, 0.0, float(position_mm[2])]
    # Pixels
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = rep
    ds.RescaleIntercept = f"{intercept:g}"
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.PixelData = stored.tobytes()
    return ds


def scout_image(header: CtHeader, uids: Uids, study_start: dt.datetime, top_z_mm: float):
    """A small localizer image (its own series), as scanners write before the axial scan."""
    ds = _base_dataset(header, uids, uids.instance("scout"), study_start)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.SeriesInstanceUID = uids.scout_series
    ds.SeriesNumber = 1
    ds.SeriesDescription = "Topogram"
    ds.InstanceNumber = 1
    ds.AcquisitionNumber = 1
    ds.ContentTime = ds.AcquisitionTime = dicom_date_time(study_start)[1]
    ds.ScanOptions = "SCOUT MODE"
    ds.KVP = "120"
    ds.SliceThickness = "1"
    ds.ImagePositionPatient = ["-250", "0", f"{top_z_mm:.1f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]
    ds.PixelSpacing = ["1", "1"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.PixelData = np.full((64, 64), 1024, dtype=np.uint16).tobytes()
    return ds


def save_dataset(ds, path: str | os.PathLike, *, replace: bool = True, durable: bool = True) -> str:
    """Write ``ds`` as a DICOM file, whole or not at all (:func:`qa.outputs.output_file`);
    ``replace=False``: never over an existing file; ``durable=False``: no fsync (bulk synthetic data)."""
    with output_file(path, replace=replace, durable=durable) as fp:
        ds.save_as(fp, enforce_file_format=True)
    return os.fspath(path)


def write_ct_series(
    out_dir: str | os.PathLike,
    hu: np.ndarray,
    *,
    pixel_mm: float | tuple[float, float] = 1.0,
    increment_mm: float = 3.0,
    thickness_mm: float | None = None,
    positions_mm: list[tuple[float, float, float]] | None = None,
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_style: str = "unsigned-1024",
    kvp: float = 120.0,
    series_number: int = 3,
    series_description: str = "test series",
    seed: int = 0,
    file_names: list[str] | None = None,
    header: dict | None = None,
    per_slice_header: list[dict | None] | None = None,
) -> list[str]:
    """Write ``hu`` (slices, rows, columns) as CT Image Storage files, one per slice.

    Slice ``k`` is placed at ``positions_mm[k]`` (ImagePositionPatient) or, by default, at
    (0, 0, k x increment).  ``header`` sets or (with None) deletes attributes on every file,
    ``per_slice_header[k]`` on file k only: handy for building deliberately broken series.
    Returns the file paths in slice order.
    """
    hu = np.asarray(hu, dtype=np.float64)
    if hu.ndim == 2:
        hu = hu[None]
    n_slices, rows, cols = hu.shape
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spacing = (pixel_mm, pixel_mm) if np.isscalar(pixel_mm) else tuple(pixel_mm)  # type: ignore[arg-type]
    spec = CtHeader(
        pixel_style=pixel_style,
        kvp=kvp,
        pixel_mm=(float(spacing[0]), float(spacing[1])),
        fov_mm=float(spacing[1]) * cols,
        thickness_mm=float(thickness_mm if thickness_mm is not None else increment_mm),
        increment_mm=float(increment_mm),
        series_number=series_number,
        series_description=series_description,
    )
    uids = Uids(json.dumps({"spec": asdict(spec), "out": str(out), "seed": seed}, sort_keys=True))
    start = dt.datetime(2026, 1, 5, 7, 30)
    names = file_names or [f"IMG{k + 1:04d}.dcm" for k in range(n_slices)]
    paths = []
    for k in range(n_slices):
        position = positions_mm[k] if positions_mm is not None else (0.0, 0.0, k * increment_mm)
        ds = ct_image(
            spec, uids, k, encode_hu(hu[k], pixel_style), tuple(float(v) for v in position),  # type: ignore[arg-type]
            study_start=start, acquisition_time=start, orientation=tuple(orientation),
        )
        for overrides in (header, (per_slice_header or [None] * n_slices)[k]):
            for keyword, value in (overrides or {}).items():
                if value is None:
                    if keyword in ds:
                        delattr(ds, keyword)
                else:
                    setattr(ds, keyword, value)
        if "SOPClassUID" in (header or {}) or "SOPClassUID" in ((per_slice_header or [None] * n_slices)[k] or {}):
            ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = out / names[k]
        save_dataset(ds, path)
        paths.append(str(path))
    return paths
