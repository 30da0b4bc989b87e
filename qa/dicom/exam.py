"""Read one exam from files: its axial CT series (as candidates), the chosen series' headers, its dose reports.

An exam is a folder, zip or file list that may hold scouts, several reconstructions and the dose
report.  This module reads; choosing the protocol and the series to check is the compliance
rules' job (:mod:`qa.compliance.choose`), done by the workflow (:func:`qa.workflows.exam.load_exam`).
Headers are read with ``stop_before_pixels``.  Patient and study identifiers leave this module
only as pseudonyms made by the pseudonymiser the caller gives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from qa.dicom import attributes as attr
from qa.dicom.series import InputScan, SeriesGroup, require_complete, scan_inputs
from qa.errors import InputError
from qa.records.plausibility import ImpossibleValue
from qa.records.exam import Exam, SeriesSummary
from qa.records.identity import Pseudonymiser


@dataclass(frozen=True)
class CandidateSeries:
    """What choosing the calcium-score series needs to know about one axial CT series."""

    series_instance_uid: str
    study_key: str | None
    description: str
    manufacturer: str | None
    n_images: int
    slice_thickness_mm: float | None
    kernel: str | None
    increment_mm: float | None
    iterative: bool


@dataclass(frozen=True, eq=False)
class ExamScan:
    """The files of an exam, read once (headers only): its axial CT series and everything else."""

    scan: InputScan
    ct: tuple[SeriesGroup, ...]  # the axial CT image series

    @property
    def candidates(self) -> tuple[CandidateSeries, ...]:
        return tuple(_candidate(g) for g in self.ct)

    def group(self, series_uid: str) -> SeriesGroup:
        for g in self.ct:
            if g.info.series_instance_uid == series_uid:
                require_complete(self.scan, g)
                return g
        listing = "\n".join("  " + g.info.describe() for g in self.ct)
        raise InputError(None, "SeriesInstanceUID", f"no CT series {series_uid} in the input; it holds:\n{listing}",
                         hint="copy one of the UIDs above (or the pseudonym qa check listed) into --series-uid")


def scan_exam(inputs, *, pseudonymise: Pseudonymiser, progress=None) -> ExamScan:
    """Read the headers of an exam's files; refuse an input without an axial CT image series."""
    scan = scan_inputs(inputs, progress=progress, headers_only=True, pseudonymise=pseudonymise)
    exam_scan = exam_of(scan)
    if not exam_scan.ct:
        found = ", ".join(sorted({g.info.modality for g in scan.series})) or "none"
        raise InputError(
            scan.inputs[0] if len(scan.inputs) == 1 else None, "Modality",
            f"no axial CT image series in the input ({scan.summary()}; image series modalities: {found})",
            hint="pass the folder of the calcium-score exam (qa dose reads dose reports on their own)",
        )
    return exam_scan


def exam_of(scan: InputScan) -> ExamScan:
    """The files already scanned (headers only) as an exam: its axial CT series picked out (maybe none)."""
    return ExamScan(scan, tuple(g for g in scan.series if g.info.modality == "CT" and _axial(g)))


_READ = object()


def read_exam(exam_scan: ExamScan, series_uid: str, *, pseudonymise: Pseudonymiser, protocol_choice: str = "",
              dose=_READ, operator_in_clear: bool = False) -> Exam:
    """The exam with ``series_uid`` as its checked series: that series' headers, the other series,
    and the merged dose reports of its study (``dose``: that StudyDose, or None, when the caller
    has read them already); its study's facts (:func:`qa.dicom.study_index.study_facts`)."""
    from qa.dicom.headers import read_headers
    from qa.dicom.study_index import study_facts

    group = exam_scan.group(series_uid)
    scan = exam_scan.scan
    notes: list[str] = []
    headers = read_headers(group)
    # The exam is the checked series' study: series of another study in the input are not "in the exam".
    own = [g for g in scan.series if g.info.study_key == group.info.study_key]
    series = tuple(
        SeriesSummary(g.info.series_instance_uid, g.info.series_description, g.info.n_images, _thickness(g),
                      g.info.convolution_kernel, "checked" if g is group else "other")
        for g in own
    )
    if len(own) < len(scan.series):
        notes.append(f"{len(scan.series) - len(own)} series of another study left out (not part of this exam)")
    if scan.n_localizers:
        notes.append(f"{scan.n_localizers} localizer image(s) left out")
    if scan.n_non_dicom:
        notes.append(f"{scan.n_non_dicom} non-DICOM file(s) skipped")
    if dose is _READ:
        dose = _dose_of(scan, group.info.study_key, notes, pseudonymise)
    return Exam(
        headers=headers,
        series=series,
        dose=dose,
        study_key=group.info.study_key,
        patient_key=pseudonymise(attr.text(group.datasets[0], "PatientID")),
        protocol_choice=protocol_choice,
        notes=tuple(notes),
        files=scan.files,
        facts=study_facts([group.datasets[0]] + [g.datasets[0] for g in own if g is not group], pseudonymise,
                          operator_in_clear=operator_in_clear),
    )


def _candidate(group: SeriesGroup) -> CandidateSeries:
    info = group.info
    return CandidateSeries(info.series_instance_uid, info.study_key, info.series_description, info.manufacturer, info.n_images,
                           _thickness(group), info.convolution_kernel, _increment(group), _iterative(group))


def _name(path: str) -> str:
    """A file's name without its folders (folder names may name the patient)."""
    return os.path.basename(path.split("!")[-1])


def _axial(group: SeriesGroup) -> bool:
    image = group.images[0]
    o = image.orientation
    if not o or len(o) != 6:
        return False
    nz = o[0] * o[4] - o[1] * o[3]  # z component of row x column
    return abs(nz) > 0.99


def _increment(group: SeriesGroup) -> float | None:
    """Median step between the image positions along z (a quick look; the checked series is validated later)."""
    zs = sorted(i.position[2] for i in group.images if i.position)
    steps = sorted(b - a for a, b in zip(zs, zs[1:]) if b - a > 1e-3)
    return steps[len(steps) // 2] if steps else None


def _iterative(group: SeriesGroup) -> bool:
    """Iterative reconstruction said by ReconstructionAlgorithm or a Siemens kernel strength (Qr36d\\3)."""
    ds = group.datasets[0]
    algorithm = (attr.raw_text(ds, "ReconstructionAlgorithm") or "").upper()
    kernel = group.info.convolution_kernel or ""
    return algorithm == "ITERATIVE" or "\\" in kernel


def _thickness(group: SeriesGroup) -> float | None:
    values = [i.slice_thickness for i in group.images if i.slice_thickness is not None]
    return float(sorted(values)[len(values) // 2]) if values else None


def dose_reports_of(scan: InputScan, notes: list[str], pseudonymise: Pseudonymiser) -> list:
    """The dose reports among the scanned objects (:class:`~qa.records.dose.DoseReport`, in input
    order); an object that looks like one but cannot be used is noted; an impossible number refuses it."""
    from qa.dicom.rdsr import read_if_dose_report

    reports = []
    for other in scan.other_objects:
        if other.reason not in ("structured report", "secondary capture") or other.file is None:
            continue
        try:
            report = read_if_dose_report(other.file, label=other.path, pseudonymise=pseudonymise, dataset=other.dataset)
            if report is not None:  # else a screen capture or a report of another kind: not a dose report
                reports.append(report)
        except ImpossibleValue:
            raise  # a dose report with an impossible number is refused, never replaced by an estimate
        except InputError as exc:
            notes.append(f"{_name(other.path)}: not used as a dose report ({exc.message})")
    return reports


def _dose_of(scan: InputScan, study_key: str | None, notes: list[str], pseudonymise: Pseudonymiser):
    """The merged dose reports of the exam's study (None without a readable one)."""
    from qa.dicom.rdsr import merge_reports

    reports = dose_reports_of(scan, notes, pseudonymise)
    if not reports:
        return None
    studies = merge_reports(reports)
    mine = [s for s in studies if s.study_key == study_key]
    if len(studies) > len(mine):
        notes.append(f"the dose report(s) of {len(studies) - len(mine)} other stud{'y' if len(studies) - len(mine) == 1 else 'ies'} "
                     "left out" + ("" if mine else ": this exam has no dose report among the input"))
    return mine[0] if mine else None
