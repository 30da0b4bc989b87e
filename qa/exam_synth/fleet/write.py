"""Write a planned fleet: every study's localizers, image series and dose reports, as its scanner would.

Images are header-complete CT Image Storage files (the acquisition, cardiac, dose and identity
attributes the readers use) with a uniform 32 x 32 pixel matrix: the content is irrelevant, the
pixel spacing follows the field of view.  A series is encoded once and only the per-image
elements change (:class:`qa.dicom.write_fast.SeriesEncoder`).  A study appears whole or not at all
(:func:`qa.outputs.output_folder`, without fsync: the fleet can be made again from its seed), never
over an existing file.  Studies are written by ``workers`` processes; the bytes do not depend on how many.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from qa.dicom.write import CtHeader, Uids, ct_image, derived_uid, dicom_date_time, encode_hu, scout_image
from qa.dicom.write_fast import SeriesEncoder
from qa.dicom.write_rdsr import DoseReportHeader, SyntheticEvent, dose_report_bytes
from qa.dicom.write_vendor import write_cardiac_tags
from qa.exam_synth.fleet.acquisitions import matrix_for
from qa.exam_synth.fleet import dose_check
from qa.exam_synth.fleet.catalogue import INSTITUTION, Scanner
from qa.exam_synth.fleet.records import KIND_PROTOCOLS, PlannedExam, PlannedSeries
from qa.outputs import create_new, output_folder

# The elements that differ between the images of one series.
VARYING = ("SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation", "ReconstructionTargetCenterPatient",
           "AcquisitionNumber", "AcquisitionTime", "AcquisitionDateTime", "ContentTime", "TablePosition")
_BODY_PART = {"heart": "HEART", "chest": "CHEST", None: "HEART"}
_LATERAL = ("0", "1", "0", "0", "0", "-1")  # a lateral localizer's ImageOrientationPatient (sagittal)


def _header(exam: PlannedExam, scanner: Scanner, s: PlannedSeries) -> CtHeader:
    model = scanner.model
    pixel = s.fov_mm / matrix_for(s.fov_mm)
    return CtHeader(
        vendor=model.vendor, station_name=scanner.station_name, device_serial_number=scanner.device_serial_number or "",
        institution_name=INSTITUTION, series_number=s.series_number, series_description=s.description, kvp=s.kvp,
        tube_current_ma=s.tube_current_ma, rotation_time_s=model.rotation_s, thickness_mm=s.thickness_mm, increment_mm=s.increment_mm,
        pixel_mm=(pixel, pixel), fov_mm=s.fov_mm, heart_rate_bpm=s.heart_rate_bpm or 60.0, phase_pct=s.phase_pct or 70.0,
        ctdivol_mgy=s.ctdivol_mgy, total_collimation_mm=exam.events[s.event].total_collimation_mm,
        single_collimation_mm=model.single_collimation_mm, uid_key=exam.key, study_description=KIND_PROTOCOLS[exam.kind],
        patient_name=exam.patient.name, patient_id=exam.patient.patient_id)


def _identity(exam: PlannedExam, scanner: Scanner, s: PlannedSeries) -> dict:
    """Attributes every file of the study carries (None deletes one ct_image wrote)."""
    model, event = scanner.model, exam.events[s.event]
    return {
        "Manufacturer": model.manufacturer, "ManufacturerModelName": model.model, "SoftwareVersions": model.software,
        "DeviceSerialNumber": scanner.device_serial_number, **_study(exam, s),
        "ProtocolName": event.protocol, "BodyPartExamined": _BODY_PART[event.target_region],
    }


def _study(exam: PlannedExam, s: PlannedSeries) -> dict:
    """What differs from one study (and series) of a scanner to the next: identity, UIDs, dates."""
    start = dt.datetime.fromisoformat(exam.start)
    date, time = dicom_date_time(start)
    return {
        "StudyDate": date, "SeriesDate": date, "StudyTime": time, "SeriesTime": time, "StudyDescription": KIND_PROTOCOLS[exam.kind],
        "PatientName": exam.patient.name, "PatientID": exam.patient.patient_id, "PatientBirthDate": exam.patient.birth_date,
        "PatientSex": exam.patient.sex, "AccessionNumber": exam.accession_number, "OperatorsName": exam.operators_name,
        "ReferringPhysicianName": exam.referring_physician_name, "StudyID": str(exam.number), "StudyInstanceUID": exam.study_instance_uid,
        "FrameOfReferenceUID": Uids(exam.key).frame_of_reference, "SeriesInstanceUID": derived_uid(exam.key, "series", s.series_number),
        "SeriesNumber": s.series_number, "IrradiationEventUID": exam.events[s.event].irradiation_event_uid,
    }


def _apply(ds, values: dict) -> None:
    for keyword, value in values.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)


def _acquisition(s: PlannedSeries) -> dict:
    """How the series was acquired and reconstructed, beyond ct_image's prospective axial defaults."""
    out = {"ConvolutionKernel": s.kernel, "ReconstructionAlgorithm": "ITERATIVE" if s.iterative else "FILTER_BACK_PROJ"}
    if s.acquisition_type == "spiral":
        out.update(AcquisitionType="SPIRAL", ScanOptions="HELICAL MODE", SpiralPitchFactor=float(s.pitch or 1.0))
    if s.gating == "retrospective":
        out["CardiacSynchronizationTechnique"] = "RETROSPECTIVE"
    elif s.gating == "none":
        out.update(CardiacSynchronizationTechnique="NONE", HeartRate=None, NominalPercentageOfCardiacPhase=None, TriggerTime=None,
                   NominalCardiacTriggerDelayTime=None, CardiacRRIntervalSpecified=None)
    return out


def series_template(exam: PlannedExam, scanner: Scanner, s: PlannedSeries):
    """The first image of a series as a pydicom dataset: what every image of it shares, and more."""
    header = _header(exam, scanner, s)
    n = matrix_for(s.fov_mm)
    stored = encode_hu(np.zeros((n, n)), header.style)  # uniform water: the content is irrelevant
    x0 = _x0(s)
    template = ct_image(header, Uids(exam.key), 0, stored, (x0, x0, s.z_top_mm), study_start=dt.datetime.fromisoformat(exam.start),
                        acquisition_time=dt.datetime.fromisoformat(s.start), table_position_mm=s.z_top_mm - _share(s) / 2.0)
    _apply(template, _identity(exam, scanner, s) | _acquisition(s))
    if s.gating != "none":
        write_cardiac_tags(template, scanner.model.cardiac_style, heart_rate_bpm=s.heart_rate_bpm, phase_pct=s.phase_pct)
    return template


def _x0(s: PlannedSeries) -> float:
    return -s.fov_mm / 2.0 + s.fov_mm / matrix_for(s.fov_mm) / 2.0


def _share(s: PlannedSeries) -> float:
    """Each stack's part of the imaged range."""
    return s.n_images * s.increment_mm / s.stacks


def image_values(exam: PlannedExam, s: PlannedSeries, i: int) -> dict:
    """What image ``i`` (0 = the most cranial) of a series has of its own: :data:`VARYING`."""
    x0, z = _x0(s), s.z_top_mm - i * s.increment_mm
    stack = 0 if s.acquisition_type == "spiral" else min(s.stacks - 1, i * s.stacks // s.n_images)
    offset = (i if s.acquisition_type == "spiral" else stack) * s.seconds_per_stack
    when = dicom_date_time(dt.datetime.fromisoformat(s.start) + dt.timedelta(seconds=offset))[1]
    return {
        "SOPInstanceUID": derived_uid(exam.key, "image", s.folder, i), "InstanceNumber": i + 1,
        "ImagePositionPatient": [f"{x0:.4f}", f"{x0:.4f}", f"{z:.4f}"], "SliceLocation": f"{z:.4f}",
        "ReconstructionTargetCenterPatient": [0.0, 0.0, float(z)], "AcquisitionNumber": stack + 1, "AcquisitionTime": when,
        "AcquisitionDateTime": exam.start[:10].replace("-", "") + when, "ContentTime": when,
        "TablePosition": float(s.z_top_mm - (stack + 0.5) * _share(s)),
    }


def image_dataset(exam: PlannedExam, scanner: Scanner, s: PlannedSeries, i: int):
    """Image ``i`` of a series as a pydicom dataset (the reference the fast path is checked against)."""
    ds = series_template(exam, scanner, s)
    _apply(ds, image_values(exam, s, i))
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _write_series(study_dir: Path, exam: PlannedExam, scanner: Scanner, s: PlannedSeries) -> int:
    encoder = SeriesEncoder(series_template(exam, scanner, s), VARYING)
    folder = study_dir / s.folder
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(s.n_images):
        _new(folder / f"IM{i + 1:04d}.dcm", encoder.encode(image_values(exam, s, i)))
    return s.n_images


def _localizer_values(exam: PlannedExam, s: PlannedSeries) -> dict:
    """What differs between the localizers of one scanner and name (the rest is the scanner's)."""
    start = dt.datetime.fromisoformat(s.start)
    date, time = dicom_date_time(start)
    return _study(exam, s) | {
        "SOPInstanceUID": derived_uid(exam.key, "image", s.folder, 0), "AcquisitionDate": date, "ContentDate": date,
        "AcquisitionTime": time, "ContentTime": time, "KVP": f"{s.kvp:g}", "XRayTubeCurrent": int(round(s.tube_current_ma)),
        "CTDIvol": float(s.ctdivol_mgy), "ImagePositionPatient": ["-250", "0", f"{s.z_top_mm:.1f}"],
        "BodyPartExamined": _BODY_PART[exam.events[s.event].target_region]}


def localizer_dataset(exam: PlannedExam, scanner: Scanner, s: PlannedSeries):
    """A localizer image as a pydicom dataset (the reference the fast path is checked against)."""
    header = _header(exam, scanner, s)
    ds = scout_image(header, Uids(exam.key), dt.datetime.fromisoformat(exam.start), s.z_top_mm)
    _apply(ds, _identity(exam, scanner, s) | _localizer_values(exam, s) | {"SeriesDescription": s.description})
    if "LAT" in s.description.upper():
        ds.ImageOrientationPatient = list(_LATERAL)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


_LOCALIZER_ENCODERS: dict[tuple[int, str], SeriesEncoder] = {}  # per process: (scanner, localizer name) -> encoder


def _write_localizer(study_dir: Path, exam: PlannedExam, scanner: Scanner, s: PlannedSeries) -> int:
    """One localizer image: a scanner's localizers share all but the study's values (one encoder each)."""
    values = _localizer_values(exam, s)
    encoder = _LOCALIZER_ENCODERS.get((scanner.index, s.description))
    if encoder is None:
        encoder = SeriesEncoder(localizer_dataset(exam, scanner, s), tuple(values))
        _LOCALIZER_ENCODERS[(scanner.index, s.description)] = encoder
    (study_dir / s.folder).mkdir(parents=True, exist_ok=True)
    _new(study_dir / s.folder / "IM0001.dcm", encoder.encode(values))
    return 1


def report_inputs(exam: PlannedExam, scanner: Scanner, n: int) -> tuple[list[SyntheticEvent], DoseReportHeader, str, float]:
    """What dose report ``n`` (1, 2) of a study is made of: its events, header, UID key and DLP total."""
    model = scanner.model
    report = exam.reports[n - 1]
    start = dt.datetime.fromisoformat(exam.start)
    events = [exam.events[i] for i in report.events]
    content = dt.datetime.fromisoformat(report.content)
    end = max(dt.datetime.fromisoformat(e.start) + dt.timedelta(seconds=e.exposure_time_s) for e in events)
    header = DoseReportHeader(
        manufacturer=model.manufacturer, model=model.model, station_name=scanner.station_name, serial=scanner.device_serial_number,
        software_versions=model.software, institution_name=INSTITUTION, study_uid=exam.study_instance_uid,
        series_uid=derived_uid(exam.key, "series", "dose"), sop_instance_uid=report.sop_instance_uid,
        study_date=start.strftime("%Y%m%d"), study_time=start.strftime("%H%M%S"), content_date=content.strftime("%Y%m%d"),
        content_time=content.strftime("%H%M%S"), irradiation_start=dt.datetime.fromisoformat(events[0].start).strftime("%Y%m%d%H%M%S"),
        irradiation_end=end.strftime("%Y%m%d%H%M%S"), patient_name=exam.patient.name, patient_id=exam.patient.patient_id,
        patient_birth_date=exam.patient.birth_date, patient_sex=exam.patient.sex, accession_number=exam.accession_number,
        referring_physician_name=exam.referring_physician_name, operators_name=exam.operators_name, study_id=str(exam.number),
        study_description=KIND_PROTOCOLS[exam.kind], series_number=999, instance_number=n)
    synthetic = [SyntheticEvent(
        ctdivol_mgy=e.ctdivol_mgy, dlp_mgycm=e.dlp_mgycm, kvp=e.kvp, tube_current_ma=e.tube_current_ma,
        exposure_time_s=e.exposure_time_s, scanning_length_mm=e.scanning_length_mm, total_collimation_mm=e.total_collimation_mm,
        protocol=e.protocol, acquisition_type=e.acquisition_type, irradiation_event_uid=e.irradiation_event_uid,
        target_region=e.target_region, region_scheme=model.region_scheme,
        start_datetime=dt.datetime.fromisoformat(e.start).strftime("%Y%m%d%H%M%S"), single_collimation_mm=e.single_collimation_mm,
        pitch=e.pitch, exposure_time_per_rotation_s=None if e.role == "localizer" else model.rotation_s,
        max_tube_current_ma=e.tube_current_ma, modulation="NONE" if e.role == "localizer" else "Z_EC",
        ctdivol_alert_mgy=dose_check.alert_ctdivol_mgy(e), ctdivol_notification_mgy=dose_check.notification_ctdivol_mgy(e),
        **_passed_notification(exam, e))
        for e in events]
    return synthetic, header, f"{exam.key}:report:{n}", report.dlp_total_mgycm


def _passed_notification(exam: PlannedExam, e) -> dict:
    """A notification the technologist passed (:mod:`qa.exam_synth.fleet.dose_check`): the estimate,
    the reason and their name (TID 10015); nothing for an event below its notification value."""
    if not dose_check.notification_exceeded(e):
        return {}
    return {"notification_ctdivol_estimate_mgy": e.ctdivol_mgy, "notification_reason": dose_check.reason(exam),
            "notification_person": exam.operators_name}


def _write_reports(study_dir: Path, exam: PlannedExam, scanner: Scanner) -> int:
    for n, report in enumerate(exam.reports, 1):
        events, header, key, total = report_inputs(exam, scanner, n)
        (study_dir / report.file).parent.mkdir(parents=True, exist_ok=True)
        _new(study_dir / report.file, dose_report_bytes(events, header, key=key, dlp_total_mgycm=total))
    return len(exam.reports)


def _new(path: Path, data: bytes) -> None:
    """A new file in the study's (temporary) folder: never an existing one, never through a link."""
    with create_new(path) as fp:
        fp.write(data)


def write_exam(out_dir: Path, exam: PlannedExam, scanner: Scanner) -> int:
    """Write one planned study into ``out_dir / exam.folder``, which appears whole or not at all
    (:func:`qa.outputs.output_folder`); the number of files written."""
    written = 0
    with output_folder(Path(out_dir) / exam.folder) as study_dir:
        for s in exam.series:
            written += (_write_localizer if s.role == "localizer" else _write_series)(study_dir, exam, scanner, s)
        written += _write_reports(study_dir, exam, scanner)
    return written


def _write_chunk(out_dir: str, exams: Sequence[PlannedExam], scanners: Sequence[Scanner]) -> int:
    return sum(write_exam(Path(out_dir), exam, scanners[exam.scanner]) for exam in exams)


def write_fleet(out_dir: str | os.PathLike, exams: Sequence[PlannedExam], scanners: Sequence[Scanner], *, workers: int = 1,
                progress: Callable[[int, int], None] | None = None) -> int:
    """Write every planned study (``workers`` processes; 1: in this process); the number of files written."""
    chunks = [exams[i:i + 8] for i in range(0, len(exams), 8)]
    total, done, files = len(exams), 0, 0
    if progress is not None:
        progress(0, total)
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            files += _write_chunk(os.fspath(out_dir), chunk, scanners)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        return files
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(_write_chunk, os.fspath(out_dir), chunk, scanners): len(chunk) for chunk in chunks}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    files += future.result()
                    done += pending.pop(future)
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return files
