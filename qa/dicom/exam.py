"""Load one exam from files: pick the calcium-score series, read its headers and the dose reports.

An exam is a folder, zip or file list that may hold scouts, several reconstructions and the dose
report.  The protocol is chosen from the vendor and the series descriptions (unless given), the
series to check is the one the protocol prefers (named as a calcium score, thickness closest to
the protocol's, kernel allowed; ``series_uid`` overrides) and the others are listed.  Headers are
read with ``stop_before_pixels``.  Patient and study identifiers leave this module pseudonymised.
"""

from __future__ import annotations

import os

from qa.compliance import Exam, SeriesSummary, choose_protocol, series_preference
from qa.dicom import attributes as attr
from qa.errors import InputError
from qa.procedures import ExamProtocol, available_protocols, load_protocol


def load_exam(inputs, *, protocol: str | ExamProtocol | None = None, series_uid: str | None = None,
              progress=None) -> tuple[Exam, ExamProtocol]:
    """The exam in ``inputs`` and the protocol to check it against (an id, a .toml path, a loaded
    protocol, or None: chosen by vendor and series description)."""
    from qa.dicom.headers import read_headers
    from qa.dicom.series import scan_inputs
    from qa.privacy import pseudonym

    given = protocol if isinstance(protocol, ExamProtocol) or protocol is None else load_protocol(protocol)  # malformed: reported first
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
    # One exam is one study: a series named with --series-uid picks its study; several studies
    # otherwise are refused (never checked together).
    if series_uid is not None:
        named = [g for g in ct if g.info.series_instance_uid == series_uid]
        if named:
            ct = [g for g in ct if g.info.study_instance_uid == named[0].info.study_instance_uid]
    studies: dict[str | None, list] = {}
    for g in ct:
        studies.setdefault(g.info.study_instance_uid, []).append(g)
    if len(studies) > 1:
        listing = "\n".join(f"  study {n + 1}: " + "; ".join(f"'{g.info.series_description or '?'}' {g.info.series_instance_uid}"
                                                            for g in groups) for n, groups in enumerate(studies.values()))
        raise InputError(None, "StudyInstanceUID", f"the input holds {len(studies)} studies; qa check takes one exam:\n{listing}",
                         hint="pass one exam's folder, or pick its series with --series-uid")
    protocols = [given] if given is not None else [load_protocol(p) for p in available_protocols()]
    patterns = {pattern for candidate in protocols for pattern in candidate.series_patterns}
    named_cac = [g for g in ct if any(pattern in (g.info.series_description or "").lower() for pattern in patterns)]
    lead = next((g for g in ct if g.info.series_instance_uid == series_uid), None) or (named_cac or sorted(ct, key=lambda g: -g.info.n_images))[0]
    manufacturer = lead.info.manufacturer  # the vendor of the series that will be checked
    if given is not None:
        chosen = given
        choice = f"{chosen.id}: given with --protocol"
    else:
        chosen, choice = choose_protocol(manufacturer, [g.info.series_description for g in ct], protocols)
    if series_uid is not None:
        picked = [g for g in ct if g.info.series_instance_uid == series_uid]
        if not picked:
            listing = "\n".join("  " + g.info.describe() for g in ct)
            raise InputError(None, "SeriesInstanceUID", f"no CT series {series_uid} in the input; it holds:\n{listing}",
                             hint="copy one of the UIDs above into --series-uid")
        group = picked[0]
    else:
        group = min(ct, key=lambda g: series_preference(chosen, g.info.series_description, _thickness(g), g.info.convolution_kernel,
                                                        _increment(g), _iterative(g)) + (-g.info.n_images,))
    headers = read_headers(group)
    series = tuple(
        SeriesSummary(g.info.series_instance_uid, g.info.series_description, g.info.n_images, _thickness(g),
                      g.info.convolution_kernel, "checked" if g is group else "other")
        for g in scan.series
    )
    if scan.n_localizers:
        notes.append(f"{scan.n_localizers} localizer image(s) left out")
    if scan.n_non_dicom:
        notes.append(f"{scan.n_non_dicom} non-DICOM file(s) skipped")
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


def _name(path: str) -> str:
    """A file's name without its folders (folder names may name the patient)."""
    return os.path.basename(path.split("!")[-1])


def _axial(group) -> bool:
    image = group.images[0]
    o = image.orientation
    if not o or len(o) != 6:
        return False
    nz = o[0] * o[4] - o[1] * o[3]  # z component of row x column
    return abs(nz) > 0.99


def _increment(group) -> float | None:
    """Median step between the image positions along z (a quick look; the checked series is validated later)."""
    zs = sorted(i.position[2] for i in group.images if i.position)
    steps = sorted(b - a for a, b in zip(zs, zs[1:]) if b - a > 1e-3)
    return steps[len(steps) // 2] if steps else None


def _iterative(group) -> bool:
    """Iterative reconstruction said by ReconstructionAlgorithm or a Siemens kernel strength (Qr36d\\3)."""
    ds = group.datasets[0]
    algorithm = (attr.raw_text(ds, "ReconstructionAlgorithm") or "").upper()
    kernel = group.info.convolution_kernel or ""
    return algorithm == "ITERATIVE" or "\\" in kernel


def _thickness(group) -> float | None:
    values = [i.slice_thickness for i in group.images if i.slice_thickness is not None]
    return float(sorted(values)[len(values) // 2]) if values else None


def _dose_of(scan, study_uid: str | None, notes: list[str]):
    """The merged dose reports of the exam's study (None without a readable one)."""
    from qa.dicom.rdsr import is_dose_report, merge_reports, read_dose_report

    reports = []
    for other in scan.other_objects:
        if other.reason not in ("structured report", "secondary capture"):
            continue
        if other.file is None or not is_dose_report(other.file):
            continue  # a screen capture or a report of another kind: not a dose report
        try:
            reports.append(read_dose_report(other.file, label=other.path))
        except InputError as exc:
            notes.append(f"{_name(other.path)}: not used as a dose report ({exc.message})")
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
