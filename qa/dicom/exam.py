"""Load one exam from files: pick the calcium-score series, read its headers and the dose reports.

An exam is a folder, zip or file list that may hold scouts, several reconstructions and the dose
report.  The protocol is chosen from the vendor and the series descriptions (unless given), the
series to check is the one the protocol prefers (named as a calcium score, thickness closest to
the protocol's, kernel allowed; ``series_uid`` overrides) and the others are listed.  Headers are
read with ``stop_before_pixels``.  Patient and study identifiers leave this module pseudonymised.
"""

from __future__ import annotations

from qa.compliance import Exam, SeriesSummary, choose_protocol, series_preference
from qa.dicom import attributes as attr
from qa.errors import InputError
from qa.procedures import ExamProtocol, available_protocols, load_protocol


def load_exam(inputs, *, protocol: str | None = None, series_uid: str | None = None, progress=None) -> tuple[Exam, ExamProtocol]:
    """The exam in ``inputs`` and the protocol to check it against."""
    from qa.dicom.headers import read_headers
    from qa.dicom.series import scan_inputs
    from qa.privacy import pseudonym

    given = load_protocol(protocol) if protocol is not None else None  # a malformed file is reported first
    scan = scan_inputs(inputs, progress=progress, headers_only=True)
    ct = [g for g in scan.series if g.info.modality == "CT" and _axial(g)]
    notes: list[str] = []
    if not ct:
        found = ", ".join(sorted({g.info.modality for g in scan.series})) or "none"
        raise InputError(
            scan.inputs[0] if len(scan.inputs) == 1 else None, "Modality",
            f"no axial CT image series in the input ({scan.summary()}; image series modalities: {found})",
            hint="pass the folder of the calcium-score exam (qa dose reads dose reports on their own)",
        )
    manufacturer = ct[0].info.manufacturer
    if given is not None:
        chosen = given
        choice = f"{chosen.id}: given with --protocol"
    else:
        chosen, choice = choose_protocol(manufacturer, [g.info.series_description for g in ct],
                                         [load_protocol(p) for p in available_protocols()])
    if series_uid is not None:
        picked = [g for g in ct if g.info.series_instance_uid == series_uid]
        if not picked:
            listing = "\n".join("  " + g.info.describe() for g in ct)
            raise InputError(None, "SeriesInstanceUID", f"no CT series {series_uid} in the input; it holds:\n{listing}",
                             hint="copy one of the UIDs above into --series-uid")
        group = picked[0]
    else:
        group = min(ct, key=lambda g: series_preference(chosen, g.info.series_description, _thickness(g), g.info.convolution_kernel)
                    + (-g.info.n_images,))
    headers = read_headers(group)
    series = tuple(
        SeriesSummary(g.info.series_instance_uid, g.info.series_description, g.info.n_images, _thickness(g),
                      g.info.convolution_kernel, "checked" if g is group else "other")
        for g in scan.series
    )
    if scan.n_localizers:
        notes.append(f"{scan.n_localizers} localizer image(s) left out")
    dose = _dose_of(scan, group.info.study_instance_uid, notes)
    ds0 = group.datasets[0]
    info = group.info
    exam = Exam(
        headers=headers,
        series=series,
        dose=dose,
        scanner_key=f"{info.manufacturer or 'unknown'}|{info.model or 'unknown'}|{info.device_serial_number or ''}",
        study_key=pseudonym(info.study_instance_uid),
        patient_key=pseudonym(attr.text(ds0, "PatientID")),
        protocol_choice=choice,
        notes=tuple(notes),
    )
    return exam, chosen


def _axial(group) -> bool:
    image = group.images[0]
    o = image.orientation
    if not o or len(o) != 6:
        return False
    nz = o[0] * o[4] - o[1] * o[3]  # z component of row x column
    return abs(nz) > 0.99


def _thickness(group) -> float | None:
    values = [i.slice_thickness for i in group.images if i.slice_thickness is not None]
    return float(sorted(values)[len(values) // 2]) if values else None


def _dose_of(scan, study_uid: str | None, notes: list[str]):
    """The merged dose reports of the exam's study (None without a readable one)."""
    import os

    from qa.dicom.rdsr import merge_reports, read_dose_report

    reports = []
    for other in scan.other_objects:
        if other.reason not in ("structured report", "secondary capture"):
            continue
        if not os.path.isfile(other.path):
            notes.append(f"{other.path}: a dose report inside a zip file is not read; extract the zip to include it")
            continue
        try:
            reports.append(read_dose_report(other.path))
        except InputError as exc:
            notes.append(f"{other.path}: not used as a dose report ({exc.message})")
    if not reports:
        return None
    studies = merge_reports(reports)
    mine = [s for s in studies if s.study_instance_uid == study_uid]
    if len(studies) > len(mine):
        notes.append(f"{len(studies) - len(mine)} dose report(s) of another study left out")
    if not mine:
        notes.append("no dose report of this study: dose estimated from the image headers")
        return None
    return mine[0]
