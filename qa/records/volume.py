"""A loaded CT series: its header facts (``SeriesInfo``), its geometry and its HU volume.

``CTVolume`` is what :func:`qa.dicom.series.load_volume` returns and what scoring and phantom
analysis take.  Coordinates are DICOM patient coordinates in mm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from qa.records.identity import ScannerIdentity
from qa.records.serialize import Record


@dataclass(frozen=True)
class SeriesInfo(Record):
    """Header facts about one series (from its first image), for listings and provenance.

    ``study_key`` is the pseudonym of the StudyInstanceUID (never the UID itself)."""

    series_instance_uid: str
    study_key: str | None
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
    acquisition_datetime: str | None  # ISO 8601 as the scanner wrote it (acquisition, else series, else study)
    ctdivol_mgy: float | None
    exposure_mas: float | None
    n_images: int
    n_files: int
    first_file: str = field(metadata={"json": False})  # a path: folder names may name the patient
    device_uid: str | None = None  # (0018,1002): identifies the scanner when the serial number was removed
    institution_name: str | None = None  # (0008,0080): the last resort of a scanner's identity

    @property
    def scanner(self) -> ScannerIdentity:
        return ScannerIdentity(self.manufacturer, self.model, self.device_serial_number, self.station_name,
                               self.device_uid, self.institution_name)

    def describe(self) -> str:
        desc = self.series_description or "(no description)"
        num = f"#{self.series_number} " if self.series_number is not None else ""
        return (
            f"{self.series_instance_uid}  {num}'{desc}'  {self.modality}  "
            f"{self.n_images} image{'s' if self.n_images != 1 else ''}"
        )


@dataclass(frozen=True, eq=False)
class SliceGeometry:
    """Maps (slice, row, column) indices to DICOM patient coordinates in mm."""

    image_positions_mm: np.ndarray  # (n_slices, 3)
    orientation: tuple[float, ...]
    pixel_spacing_mm: tuple[float, float]  # (between rows, between columns)

    def plane_xy(self, rows: slice, cols: slice, k: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Patient x and y of the pixel centres of rows x cols of slice ``k``, as 2-D grids.

        Computed as outer sums of the row and column steps: cheap even for a full 512 x 512 slice.
        """
        r = np.arange(rows.start or 0, rows.stop, dtype=float)
        c = np.arange(cols.start or 0, cols.stop, dtype=float)
        origin = self.image_positions_mm[k]
        row_dir = np.asarray(self.orientation[:3], dtype=float)  # direction of increasing column index
        col_dir = np.asarray(self.orientation[3:], dtype=float)  # direction of increasing row index
        dr, dc = self.pixel_spacing_mm
        x = origin[0] + np.add.outer(r * dr * col_dir[0], c * dc * row_dir[0])
        y = origin[1] + np.add.outer(r * dr * col_dir[1], c * dc * row_dir[1])
        return x, y

    def index_of(self, x: float, y: float, k: int = 0) -> tuple[float, float]:
        """Fractional (row, column) of patient (x, y) in axial slice ``k`` (inverse of plane_xy)."""
        origin = self.image_positions_mm[k]
        row_dir = np.asarray(self.orientation[:3], dtype=float)
        col_dir = np.asarray(self.orientation[3:], dtype=float)
        dr, dc = self.pixel_spacing_mm
        a = np.array([[col_dir[0] * dr, row_dir[0] * dc], [col_dir[1] * dr, row_dir[1] * dc]])
        i, j = np.linalg.solve(a, np.array([x - origin[0], y - origin[1]]))
        return float(i), float(j)

    def to_patient(self, k, i, j) -> np.ndarray:
        """Patient coordinates (..., 3) of fractional indices; ``k`` is interpolated linearly."""
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

    def sub_stack(self, first: int, stop: int) -> SliceGeometry:
        """The geometry of slices ``first`` to ``stop - 1``."""
        return SliceGeometry(np.asarray(self.image_positions_mm[first:stop], dtype=float), self.orientation, self.pixel_spacing_mm)


@dataclass(frozen=True)
class SliceTable:
    """When and where each slice of a volume was acquired, in slice order (the volume's ``hu[k]``).

    ``acquisition_numbers``: AcquisitionNumber (0020,0012); ``acquisition_times``: AcquisitionDateTime,
    else AcquisitionDate + AcquisitionTime, else ContentDate + ContentTime (wall-clock, naive);
    ``table_positions_mm``: TablePosition (0018,9327) where present, else the slice's z.
    A value the file does not give is None (``time_source`` says which attribute the times came from)."""

    acquisition_numbers: tuple[int | None, ...]
    acquisition_times: tuple[dt.datetime | None, ...]
    table_positions_mm: tuple[float, ...]
    time_source: str | None = None
    table_position_source: str = "ImagePositionPatient z"


@dataclass(frozen=True)
class VolumeSummary(Record):
    """The ``series`` block of the JSON documents."""

    series_instance_uid: str
    series_description: str
    n_slices: int
    rows: int
    columns: int
    pixel_spacing_mm: tuple[float, float]
    slice_thickness_mm: float | None
    slice_increment_mm: float
    increment_source: str
    kvp: float | None
    manufacturer: str | None
    model: str | None
    convolution_kernel: str | None
    z_range_mm: tuple[float, float]


@dataclass(frozen=True, eq=False)
class CTVolume:
    """A CT series as a volume in Hounsfield units, slices sorted along the normal.

    ``hu[k, i, j]`` is slice ``k`` (ascending position along the slice normal), row ``i``,
    column ``j``.  The array is read-only, in the smallest type that holds the CT numbers exactly:
    int16 when the series' Rescale Slope and Intercept are whole numbers (the usual CT case), float32
    otherwise.  Compute with float32 (or float64) copies of the parts used: int16 arithmetic overflows.
    """

    hu: np.ndarray = field(repr=False)
    pixel_spacing_mm: tuple[float, float]  # (between rows, between columns)
    slice_increment_mm: float
    slice_thickness_mm: float | None
    slice_positions_mm: tuple[float, ...]  # position of each slice along the normal
    image_positions_mm: tuple[tuple[float, float, float], ...]  # ImagePositionPatient per slice
    orientation: tuple[float, float, float, float, float, float]  # ImageOrientationPatient
    sop_instance_uids: tuple[str, ...]
    source_files: tuple[str, ...] = field(repr=False)
    info: SeriesInfo
    value_unit: str = "HU"
    increment_source: str = "ImagePositionPatient"
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # unusual (possible) header values, flagged (qa.records.plausibility)
    slices: SliceTable | None = field(default=None, repr=False)  # per-slice acquisition number, time, table position

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
    def geometry(self) -> SliceGeometry:
        return SliceGeometry(
            image_positions_mm=np.asarray(self.image_positions_mm, dtype=float),
            orientation=self.orientation,
            pixel_spacing_mm=self.pixel_spacing_mm,
        )

    def summary(self) -> VolumeSummary:
        return VolumeSummary(
            series_instance_uid=self.info.series_instance_uid,
            series_description=self.info.series_description,
            n_slices=self.n_slices,
            rows=int(self.hu.shape[1]),
            columns=int(self.hu.shape[2]),
            pixel_spacing_mm=(self.pixel_spacing_mm[0], self.pixel_spacing_mm[1]),
            slice_thickness_mm=self.slice_thickness_mm,
            slice_increment_mm=self.slice_increment_mm,
            increment_source=self.increment_source,
            kvp=self.info.kvp,
            manufacturer=self.info.manufacturer,
            model=self.info.model,
            convolution_kernel=self.info.convolution_kernel,
            z_range_mm=(self.slice_positions_mm[0], self.slice_positions_mm[-1]),
        )
