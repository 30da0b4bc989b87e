"""A small site's worth of real DICOM for the ingest tests, written by our own synthesisers.

Calcium-score exams (``synthesize_exam``, small matrices) each with its CT dose report
(``write_dose_report``), carrying clear identifiers that must never reach the store; a dose report
of a head CT without images; a phantom QA series without a dose report; a text file and an empty
``.dcm``.  Each exam is one study with its own scanner month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def patient_id(n: int) -> str:
    return f"PATID-CLEAR-{n:04d}"


def accession(n: int) -> str:
    return f"ACCNO-CLEAR-{n:04d}"


def operator(n: int) -> str:
    return f"Technologist^Clearname{n:04d}"


@dataclass
class Site:
    root: Path
    exams: list[Path] = field(default_factory=list)
    study_uids: list[str] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    head_report: Path | None = None
    head_study_uid: str | None = None
    phantom: Path | None = None

    @property
    def clear_identifiers(self) -> list[str]:
        n = len(self.exams)
        return ([patient_id(k) for k in range(n)] + [accession(k) for k in range(n)] + [operator(k) for k in range(n)]
                + ["Clearname"] + self.study_uids + [self.head_study_uid])


def identify(path: Path, n: int, study_uid: str | None = None) -> None:
    """Write the clear identifiers of exam ``n`` into the file (and its StudyInstanceUID when given)."""
    import pydicom

    ds = pydicom.dcmread(path)
    ds.PatientID, ds.AccessionNumber, ds.OperatorsName = patient_id(n), accession(n), operator(n)
    if study_uid is not None:
        ds.StudyInstanceUID = study_uid
    ds.save_as(path, enforce_file_format=True)


def write_exam(root: Path, n: int, *, month: int = 1, station: str = "CT-A", serial: str = "SN-A", ctdivol_mgy: float = 2.0,
               dlp_mgycm: float = 30.0, stack_mm: float = 12.0) -> tuple[Path, str, Path]:
    """One calcium-score exam with its dose report: (folder, StudyInstanceUID, report)."""
    import pydicom

    from qa.dicom.write_rdsr import DoseReportHeader, SyntheticEvent, write_dose_report
    from qa.workflows.synth import ExamSynthOptions, synthesize_exam

    folder = root / f"exam{n:03d}"
    result = synthesize_exam(folder, ExamSynthOptions(
        seed=n, matrix=32, pixel_mm=8.0, noise_hu=0.0, stacks=2, stack_mm=stack_mm, overlap_mm=0.0,
        acquisition_datetime=f"2026-{month:02d}-{1 + n % 27:02d}T09:{n % 60:02d}:00", station_name=station,
        device_serial_number=serial))
    (folder / "truth.json").unlink()
    study = pydicom.dcmread(result.files[0], stop_before_pixels=True).StudyInstanceUID
    for path in result.files:
        identify(Path(path), n)
    report = folder / "rdsr.dcm"
    image = pydicom.dcmread(result.files[0], stop_before_pixels=True)  # the report names the images' scanner and study date
    header = DoseReportHeader(study_date=image.StudyDate, study_time=image.StudyTime)
    write_dose_report(report, [SyntheticEvent(protocol="Calcium Score", ctdivol_mgy=ctdivol_mgy, dlp_mgycm=dlp_mgycm)],
                      study_uid=study, manufacturer=image.Manufacturer, model=image.ManufacturerModelName, station_name=station,
                      serial=serial, header=header)
    identify(report, n)
    return folder, study, report


def build_site(root: Path, n_exams: int = 3, *, extras: bool = True) -> Site:
    site = Site(root)
    for n in range(n_exams):
        folder, study, report = write_exam(root, n, month=1 + n % 3, station="CT-A" if n % 2 == 0 else "CT-B",
                                           serial="SN-A" if n % 2 == 0 else "SN-B", ctdivol_mgy=2.0 + n, dlp_mgycm=30.0 + n)
        site.exams.append(folder)
        site.study_uids.append(study)
        site.reports.append(report)
    if not extras:
        return site
    import pydicom

    from qa.dicom.write import write_ct_series
    from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report

    head = root / "dose-only" / "head.dcm"
    head.parent.mkdir(parents=True)
    write_dose_report(head, [SyntheticEvent(protocol="Head routine", phantom="head16", ctdivol_mgy=50.0, dlp_mgycm=900.0)],
                      station_name="CT-A", serial="SN-A")
    identify(head, 999)
    site.head_report, site.head_study_uid = head, pydicom.dcmread(head).StudyInstanceUID
    site.phantom = root / "phantom-qa"
    write_ct_series(site.phantom, np.zeros((3, 32, 32)), pixel_mm=8.0, increment_mm=3.0)  # "Calcium phantom QA", no dose report
    (root / "notes.txt").write_text("not DICOM\n")
    return site
