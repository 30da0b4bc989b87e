"""Enhanced CT writer for synthetic data: one multi-frame file with functional groups (test fixtures)."""

from __future__ import annotations

import os

import numpy as np

from qa.dicom.write import PIXEL_STYLES, VENDORS, encode_hu, save_dataset


def write_enhanced_ct(
    path: str | os.PathLike,
    hu: np.ndarray,
    *,
    pixel_mm: float = 1.0,
    increment_mm: float = 3.0,
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    frame_order: list[int] | None = None,
    pixel_style: str = "signed-1024",
    kvp: float = 120.0,
    localizer_frames: tuple[int, ...] = (),
) -> str:
    """Write ``hu`` as one Enhanced CT Image Storage file (a frame per slice, functional groups).

    ``frame_order`` stores the slices in another order (frame f holds slice ``frame_order[f]``);
    frames listed in ``localizer_frames`` are marked LOCALIZER in their frame type.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import (
        PYDICOM_IMPLEMENTATION_UID,
        EnhancedCTImageStorage,
        ExplicitVRLittleEndian,
        generate_uid,
    )

    hu = np.asarray(hu, dtype=np.float64)
    n, rows, cols = hu.shape
    order = list(frame_order) if frame_order is not None else list(range(n))
    rep, bits_stored, intercept, slope = PIXEL_STYLES[pixel_style]
    stored = encode_hu(hu[order], pixel_style)

    def item(**values) -> Dataset:
        d = Dataset()
        for key, value in values.items():
            setattr(d, key, value)
        return d

    key = f"{os.fspath(path)}|{hu.shape}|{pixel_mm}|{increment_mm}"
    sop_uid = generate_uid(entropy_srcs=[key, "sop"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EnhancedCTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = EnhancedCTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[key, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[key, "series"])
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[key, "for"])
    ds.Modality = "CT"
    ds.Manufacturer = VENDORS["generic"][0]
    ds.ManufacturerModelName = VENDORS["generic"][1]
    ds.SeriesDescription = "enhanced test series"
    ds.SeriesNumber = 7
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.PatientName = "QA^PHANTOM"
    ds.PatientID = "PHANTOM"
    ds.ContentDate, ds.ContentTime = "20260105", "073000"
    ds.NumberOfFrames = n
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, rep
    ds.SharedFunctionalGroupsSequence = Sequence([
        item(
            PixelMeasuresSequence=Sequence([item(PixelSpacing=[pixel_mm, pixel_mm], SliceThickness=increment_mm)]),
            PlaneOrientationSequence=Sequence([item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])]),
            PixelValueTransformationSequence=Sequence([
                item(RescaleIntercept=intercept, RescaleSlope=slope, RescaleType="HU")
            ]),
            CTXRayDetailsSequence=Sequence([item(KVP=kvp)]),
        )
    ])
    frames = []
    for f, k in enumerate(order):
        frame_type = ["ORIGINAL", "PRIMARY", "LOCALIZER" if f in localizer_frames else "AXIAL", "NONE"]
        frames.append(
            item(
                PlanePositionSequence=Sequence([
                    item(ImagePositionPatient=[origin_mm[0], origin_mm[1], origin_mm[2] + k * increment_mm])
                ]),
                FrameContentSequence=Sequence([item(InStackPositionNumber=k + 1, StackID="1")]),
                CTImageFrameTypeSequence=Sequence([item(FrameType=frame_type)]),
            )
        )
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = stored.tobytes()
    save_dataset(ds, path)
    return os.fspath(path)
