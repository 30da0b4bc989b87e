"""An exam against its protocol: the technologist's checklist (pure: records in, a record out).

``check_exam(exam, protocol, tables)`` compares the calcium-score series' headers, the exam's dose
(from its dose report, else estimated from the headers) and its effective dose with an exam
protocol (``procedures/cac-*.toml``) and the dose reference tables.  Every check is explained;
a check without the data it needs is ``not_available`` with the reason, never a pass, and the
verdict is at least ``warn`` when ``kvp``, ``slice_thickness`` or ``gating_mode`` cannot be checked.
Loading an exam from files is :func:`qa.dicom.exam.load_exam` (I/O at the edge).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qa.checks import FAIL, NOT_AVAILABLE, PASS, WARN, Check, verdict
from qa.dose import DoseEstimate, DoseTables, dose_from_headers, estimated_dlp, reference_level_for, study_dose
from qa.procedures import EXAM_CHECKS, ExamProtocol, ProtocolRule

# Checks whose absence makes the verdict at least "warn" (the rule).
ESSENTIAL_CHECKS = ("kvp", "slice_thickness", "gating_mode")


@dataclass(frozen=True)
class SeriesSummary:
    series_instance_uid: str
    description: str
    n_images: int
    slice_thickness_mm: float | None
    kernel: str | None
    role: str  # "checked" | "other"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Exam:
    """One exam as found on disk: the calcium-score series' headers, the other series, the dose."""

    headers: Any  # qa.dicom.headers.AcquisitionHeaders of the checked series
    series: tuple[SeriesSummary, ...]
    dose: Any = None  # qa.dicom.rdsr.StudyDose of this study, when a dose report came with the exam
    scanner_key: str = ""
    study_key: str | None = None  # pseudonymised StudyInstanceUID
    patient_key: str | None = None  # pseudonymised PatientID
    protocol_choice: str = ""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        h = self.headers
        return {
            "scanner": {"manufacturer": h.manufacturer, "model": h.model, "device_serial_number": h.device_serial_number,
                        "station_name": h.station_name},
            "scanner_key": self.scanner_key,
            "study_key": self.study_key,
            "patient_key": self.patient_key,
            "series": [s.to_dict() for s in self.series],
            "acquisition": h.to_dict(),
            "dose_report": self.dose.to_dict() if self.dose is not None and hasattr(self.dose, "to_dict") else None,
            "protocol_choice": self.protocol_choice,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Checklist:
    exam: Exam
    protocol: ExamProtocol
    checks: tuple[Check, ...]
    verdict: str
    verdict_message: str
    effective_dose: DoseEstimate
    dlp_mgycm: float | None
    dlp_source: str
    reference_level: dict | None
    reference_level_choice: str
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        """The ``qa.check/1`` document (the CLI adds schema, version and analysis time)."""
        return {
            "exam": self.exam.to_dict(),
            "protocol": self.protocol.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "verdict": self.verdict,
            "verdict_message": self.verdict_message,
            "dose": {
                "dlp_mgycm": self.dlp_mgycm,
                "dlp_source": self.dlp_source,
                "effective_dose": self.effective_dose.to_dict(),
                "reference_level": self.reference_level,
                "reference_level_choice": self.reference_level_choice,
            },
            "warnings": list(self.warnings),
        }


# ------------------------------------------------------------------------------------ choosing


def protocol_matches_vendor(protocol: ExamProtocol, manufacturer: str | None) -> bool:
    from qa.dicom.header_values import vendor_of

    if not protocol.vendors:
        return True
    return vendor_of(manufacturer) in {vendor_of(v) for v in protocol.vendors}


def choose_protocol(manufacturer: str | None, descriptions: list[str], protocols: list[ExamProtocol]) -> tuple[ExamProtocol, str]:
    """The vendor's protocol (else the vendor-neutral one), and why."""
    vendor_specific = [p for p in protocols if p.vendors and protocol_matches_vendor(p, manufacturer)]
    neutral = [p for p in protocols if not p.vendors]
    texts = [d.lower() for d in descriptions if d]
    for candidate in vendor_specific + neutral:
        hit = next((t for t in texts if any(pattern in t for pattern in candidate.series_patterns)), None)
        if hit is not None:
            kind = f"vendor {manufacturer}" if candidate.vendors else "vendor-neutral"
            return candidate, f"{candidate.id}: {kind} protocol; series description {hit!r} names a calcium score"
    chosen = (vendor_specific + neutral)[0]
    return chosen, (f"{chosen.id}: by vendor ({manufacturer or 'unknown'}); no series description names a calcium score, "
                    "check that this is a calcium-score exam or pass --protocol")


def series_preference(protocol: ExamProtocol, description: str, thickness: float | None, kernel: str | None) -> tuple:
    """Sort key of candidate series: named as a calcium score, thickness closest, kernel allowed."""
    named = any(p in (description or "").lower() for p in protocol.series_patterns)
    rule = protocol.rule("slice_thickness")
    target = rule.expected if rule is not None and rule.expected is not None else 3.0
    off = abs((thickness if thickness is not None else 99.0) - float(target))
    kernel_rule = protocol.rule("kernel")
    kernel_ok = kernel_rule is None or (kernel is not None and _matches(kernel_rule, kernel))
    return (0 if named else 1, round(off, 3), 0 if kernel_ok else 1)


# ------------------------------------------------------------------------------------ checking


def check_exam(exam: Exam, protocol: ExamProtocol, tables: DoseTables) -> Checklist:
    """The checklist of ``exam`` against ``protocol`` (see module doc)."""
    h = exam.headers
    warnings = list(h.warnings) + list(exam.notes)
    dose, dlp, dlp_source, ctdivol, ctdivol_source, dose_warnings = _dose(exam, protocol, tables)
    warnings += dose_warnings
    level, level_choice = _reference_level(exam, protocol, tables)
    measured = {
        "kvp": (h.kvp, h.sources.get("kvp")),
        "slice_thickness": (h.slice_thickness_mm, h.sources.get("slice_thickness_mm")),
        "slice_increment": (h.slice_increment_mm, h.sources.get("slice_increment_mm")),
        "kernel": (h.kernel, h.sources.get("kernel")),
        "reconstruction_algorithm": (h.reconstruction_algorithm, h.sources.get("reconstruction_algorithm")),
        "reconstruction_fov": (h.reconstruction_diameter_mm, h.sources.get("reconstruction_diameter_mm")),
        "gating_mode": (h.cardiac_synchronization, h.sources.get("cardiac_synchronization")),
        "cardiac_phase": (h.trigger_phase_pct, h.sources.get("trigger_phase_pct")),
        "heart_rate": (h.heart_rate_bpm, h.sources.get("heart_rate_bpm")),
        "scan_coverage": (h.coverage_mm, h.sources.get("coverage_mm")),
        "ctdivol": (ctdivol, ctdivol_source),
        "dlp": (dlp, dlp_source),
        "effective_dose": (dose.dose_msv, f"k {dose.k_msv_per_mgycm} ({dose.k_source}); ICRP {dose.icrp_basis}; "
                                          f"DLP {dose.dlp_basis}" if dose.dose_msv is not None else None),
    }
    checks = []
    for check_id in EXAM_CHECKS:
        rule = protocol.rule(check_id)
        if rule is None:
            continue
        value, source = measured[check_id]
        checks.append(_check(check_id, rule, value, source, h, level, dose))
    final = verdict(checks)
    missing = [c.id for c in checks if c.id in ESSENTIAL_CHECKS and c.status == NOT_AVAILABLE]
    if missing and final == PASS:
        final = WARN
    failed = [c.id for c in checks if c.status == FAIL]
    warned = [c.id for c in checks if c.status == WARN]
    if final == FAIL:
        parts = [f"FAIL: {', '.join(failed)}" + (f"; warnings: {', '.join(warned)}" if warned else "")]
    elif warned:
        parts = [f"WARN: {', '.join(warned)}"]
    else:
        parts = ["WARN" if final == WARN else "PASS"]
    if missing:
        parts.append(f"could not check {', '.join(missing)} (not in the headers)")
    return Checklist(
        exam=exam, protocol=protocol, checks=tuple(checks), verdict=final, verdict_message="; ".join(parts),
        effective_dose=dose, dlp_mgycm=dlp, dlp_source=dlp_source,
        reference_level=level.to_dict() if level is not None else None, reference_level_choice=level_choice,
        warnings=tuple(warnings),
    )


def _reference_level(exam: Exam, protocol: ExamProtocol, tables: DoseTables):
    if protocol.reference_level:
        for level in tables.reference_levels:
            if level.id == protocol.reference_level:
                return level, f"named by protocol {protocol.id}"
    names = [exam.headers.series_description] + [getattr(e, "acquisition_protocol", None) for e in _events(exam)]
    from qa.dose import region_of

    regions = [region_of(e) for e in _events(exam)]
    return reference_level_for(tables, protocol_id=protocol.id, names=names, region_codes=regions)


def _events(exam: Exam) -> list:
    return list(getattr(exam.dose, "events", ()) or ()) if exam.dose is not None else []


def _dose(exam: Exam, protocol: ExamProtocol, tables: DoseTables):
    """(effective dose, DLP, its source, CTDIvol, its source, warnings) from the dose report, else the headers."""
    h = exam.headers
    warnings: list[str] = []
    events = _events(exam)
    ctdivol, ctdivol_source = h.ctdivol_mgy, h.sources.get("ctdivol_mgy")
    if events:
        total = getattr(exam.dose, "dlp_total_mgycm", None)
        estimate = study_dose(events, tables, protocol_k=protocol.k_factor, dlp_total_mgycm=total)
        warnings += list(estimate.notes)
        dlp = total if total is not None else estimate.dlp_mgycm
        dlp_source = "dose report: CT Dose Length Product Total (DCM 113813)" if total is not None else "dose report: sum of event DLPs"
        if ctdivol is None:
            scans = [e for e in events if getattr(e, "acquisition_type", None) not in ("constant_angle",)
                     and getattr(e, "ctdivol_mgy", None) is not None]
            if scans:
                top = max(scans, key=lambda e: e.ctdivol_mgy)
                ctdivol = top.ctdivol_mgy
                ctdivol_source = f"dose report: highest Mean CTDIvol (DCM 113830) of the {len(scans)} scan event(s) (localizers left out)"
        return estimate, dlp, dlp_source, ctdivol, ctdivol_source, warnings
    n_rotations = len(h.stacks) if h.acquisition_type in ("sequenced", "stationary") and h.stacks else None
    dlp, how, lower_bound = estimated_dlp(h.ctdivol_mgy, total_collimation_mm=h.total_collimation_mm, n_rotations=n_rotations,
                                          covered_length_mm=h.coverage_mm)
    estimate = dose_from_headers(h.ctdivol_mgy, dlp, lower_bound, how, tables, protocol_k=protocol.k_factor)
    if dlp is not None:
        warnings.append(f"no dose report with the exam: DLP {'lower bound' if lower_bound else 'estimated'} from the headers ({how})")
    return estimate, dlp, (("lower bound from headers: " if lower_bound else "estimated from headers: ") + how) if dlp is not None else how, \
        ctdivol, ctdivol_source, warnings


def _matches(rule: ProtocolRule, value: Any) -> bool:
    options = list(rule.allowed) if rule.allowed is not None else [rule.expected]
    for option in options:
        if isinstance(option, (int, float)) and not isinstance(option, bool):
            try:
                if abs(float(value) - float(option)) <= rule.tolerance + 1e-9:
                    return True
            except (TypeError, ValueError):
                continue
        else:
            text, want = str(value).strip().upper(), str(option).strip().upper()
            if (rule.match == "prefix" and text.startswith(want)) or text == want:
                return True
    return False


def _status(rule: ProtocolRule, ok: bool) -> str:
    return PASS if ok else (FAIL if rule.severity == "fail" else WARN)


def _check(check_id: str, rule: ProtocolRule, value, source, h, level, dose: DoseEstimate) -> Check:
    src = {"rule": f"rules.{check_id}", "severity": rule.severity, "rule_source": rule.source}
    if source:
        src["tag"] = source
    expected = rule.describe()
    if check_id in ("ctdivol", "dlp", "effective_dose") and rule.reference == "level":
        return _level_check(check_id, rule, value, src, level, dose)
    if check_id == "slice_increment" and rule.equal_to == "slice_thickness":
        if h.slice_thickness_mm is None:
            return Check(check_id, NOT_AVAILABLE, value, expected, "the slice thickness is not in the headers", src)
        expected = f"{h.slice_thickness_mm:g} (+-{rule.tolerance:g})" if rule.tolerance else h.slice_thickness_mm
        if value is None:
            return Check(check_id, NOT_AVAILABLE, None, expected, "the increment cannot be derived from the image positions", src)
        ok = abs(value - h.slice_thickness_mm) <= rule.tolerance + 1e-9
        overlap = "overlapping" if value < h.slice_thickness_mm else "gapped"
        return Check(check_id, _status(rule, ok), round(value, 3), expected,
                     f"increment {value:g} mm {'equals' if ok else 'differs from'} the thickness"
                     + ("" if ok else f" ({overlap} slices change the score)"), src)
    if check_id == "cardiac_phase" and value is None and rule.delay_range_ms is not None and h.trigger_delay_ms is not None:
        lo, hi = rule.delay_range_ms
        ok = lo <= h.trigger_delay_ms <= hi
        src["tag"] = h.sources.get("trigger_delay_ms")
        return Check(check_id, _status(rule, ok), h.trigger_delay_ms, [lo, hi],
                     f"trigger delay {h.trigger_delay_ms:g} ms {'within' if ok else 'outside'} {lo:g}-{hi:g} ms", src)
    if value is None:
        why = {
            "gating_mode": "the headers do not say how the scan was synchronised with the ECG",
            "cardiac_phase": "no trigger phase in the headers (standard or vendor tags)",
            "heart_rate": "no heart rate in the headers (standard or vendor tags)",
            "reconstruction_algorithm": "the headers do not say whether iterative reconstruction was used",
        }.get(check_id, f"{check_id} is not in the headers")
        return Check(check_id, NOT_AVAILABLE, None, expected, why, src)
    if check_id == "gating_mode":
        mode = str(value)
        levels = dict(rule.mode_severity)
        if mode == rule.expected:
            return Check(check_id, PASS, mode, rule.expected, f"{mode} ECG triggering as the protocol expects", src)
        severity = levels.get(mode, rule.severity)
        return Check(check_id, FAIL if severity == "fail" else WARN, mode, rule.expected,
                     f"{mode} ECG {'gating' if mode == 'retrospective' else 'synchronisation'}; the protocol expects {rule.expected}", src)
    if rule.range is not None:
        lo, hi = rule.range
        ok = lo <= float(value) <= hi
        return Check(check_id, _status(rule, ok), _plain(value), expected,
                     f"{_label(check_id)} {_plain(value)} {'within' if ok else 'outside'} {lo:g}-{hi:g}", src)
    if rule.maximum is not None or rule.minimum is not None:
        ok = (rule.maximum is None or float(value) <= rule.maximum) and (rule.minimum is None or float(value) >= rule.minimum)
        extra = ""
        if check_id == "heart_rate" and h.heart_rate_min_bpm is not None and h.heart_rate_max_bpm != h.heart_rate_min_bpm:
            extra = f" (images {h.heart_rate_min_bpm:g}-{h.heart_rate_max_bpm:g} bpm)"
        return Check(check_id, _status(rule, ok), _plain(value), expected,
                     f"{_label(check_id)} {_plain(value)}{extra} {'within' if ok else 'beyond'} {expected}", src)
    ok = _matches(rule, value)
    return Check(check_id, _status(rule, ok), _plain(value), expected,
                 f"{_label(check_id)} {value} {'as the protocol expects' if ok else 'is not ' + str(expected)}", src)


def _level_check(check_id, rule, value, src, level, dose: DoseEstimate) -> Check:
    quantity = {"ctdivol": "ctdivol_mgy", "dlp": "dlp_mgycm", "effective_dose": "dose_msv"}[check_id]
    unit = {"ctdivol": "mGy", "dlp": "mGy cm", "effective_dose": "mSv"}[check_id]
    limit = getattr(level, quantity, None) if level is not None else None
    if level is not None:
        src.update(reference_level=level.id, reference_kind=level.kind, reference_source=level.source)
    if check_id == "effective_dose" and dose.dose_msv is not None:
        src.update(k_msv_per_mgycm=dose.k_msv_per_mgycm, k_source=dose.k_source, icrp_basis=dose.icrp_basis)
    if value is None:
        return Check(check_id, NOT_AVAILABLE, None, limit, f"no {check_id.replace('_', ' ')}: neither a dose report nor the headers give it", src)
    if limit is None:
        return Check(check_id, NOT_AVAILABLE, round(value, 4), None,
                     f"{value:.4g} {unit}; no reference level for {check_id.replace('_', ' ')}"
                     + (f" in {level.id}" if level is not None else ""), src)
    ok = value <= limit
    kind = "site-defined level" if level.kind == "site" else "national DRL"
    bound = " (a lower bound)" if check_id != "ctdivol" and dose.lower_bound else ""
    return Check(check_id, _status(rule, ok), round(value, 4), limit,
                 f"{value:.4g} {unit}{bound} {'within' if ok else 'above'} the {kind} {limit:g} {unit} ({level.id})", src)


def _plain(value):
    if isinstance(value, float):
        return round(value, 3)
    return value


def _label(check_id: str) -> str:
    return check_id.replace("_", " ")

