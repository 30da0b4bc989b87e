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

from qa.checks import FAIL, NOT_AVAILABLE, PASS, WARN, Check, matches, verdict
from qa.dose import DoseEstimate, DoseTables, compared_dose, dose_from_headers, estimated_dlp, reference_level_for, study_dose
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
            "dose_report": _dose_report_dict(self.dose),
            "protocol_choice": self.protocol_choice,
            "notes": list(self.notes),
        }


def _dose_report_dict(dose) -> dict | None:
    """The exam's dose report without file paths or the study UID in clear (privacy)."""
    if dose is None:
        return None
    import os

    from qa.privacy import pseudonym

    out = dose.to_dict()
    out["paths"] = [os.path.basename(str(p)) for p in out.get("paths", [])]
    out["study_instance_uid"] = None
    out["study_key"] = pseudonym(getattr(dose, "study_instance_uid", None))
    return out


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
    gating: Any = None  # qa.ecg.gating.GatingReport when an ECG trace was given

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
            "ecg": self.gating.to_dict() if self.gating is not None else None,
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


def series_preference(protocol: ExamProtocol, description: str, thickness: float | None, kernel: str | None,
                      increment: float | None = None, iterative: bool = False) -> tuple:
    """Sort key of candidate series: named as a calcium score, thickness closest to the protocol's,
    kernel allowed, contiguous (increment = thickness), without iterative reconstruction."""
    named = any(p in (description or "").lower() for p in protocol.series_patterns)
    rule = protocol.rule("slice_thickness")
    target = rule.expected if rule is not None and rule.expected is not None else 3.0
    off = abs((thickness if thickness is not None else 99.0) - float(target))
    kernel_rule = protocol.rule("kernel")
    kernel_ok = kernel_rule is None or (kernel is not None and _matches(kernel_rule, kernel))
    contiguous = increment is not None and thickness is not None and abs(increment - thickness) <= 0.1
    return (0 if named else 1, round(off, 3), 0 if kernel_ok else 1, 0 if contiguous else 1, 1 if iterative else 0)


# ------------------------------------------------------------------------------------ checking


def validate_protocol(protocol: ExamProtocol, tables: DoseTables) -> None:
    """The protocol's k-factor and reference level must exist in the dose tables (never ignored)."""
    from qa.errors import DefinitionError

    if protocol.k_factor is not None and protocol.k_factor not in tables.k_factors:
        raise DefinitionError(protocol.path, "protocol.k_factor",
                              f"names {protocol.k_factor!r}, which is not a k-factor of {tables.path} ({', '.join(tables.k_factors)})")
    levels = [level.id for level in tables.reference_levels]
    if protocol.reference_level is not None and protocol.reference_level not in levels:
        raise DefinitionError(protocol.path, "protocol.reference_level",
                              f"names {protocol.reference_level!r}, which is not a reference level of {tables.path} ({', '.join(levels)})")


def check_exam(exam: Exam, protocol: ExamProtocol, tables: DoseTables, *, gating=None) -> Checklist:
    """The checklist of ``exam`` against ``protocol`` (see module doc).

    ``gating`` (a :class:`qa.ecg.gating.GatingReport` of the exam's ECG trace) replaces the header
    heart rate by the trace's and adds ``rhythm`` and ``exposure_timing`` (and ``trigger_latency``
    when the trace has a trigger channel).
    """
    validate_protocol(protocol, tables)
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
    if gating is not None:
        from_trace = {c.id: c for c in gating.result.checks}
        rule = protocol.rule("heart_rate")
        merged = []
        for c in checks:
            if c.id == "heart_rate" and "heart_rate" in from_trace:
                hr = from_trace["heart_rate"]
                status = hr.status if hr.status != WARN or rule is None else (FAIL if rule.severity == "fail" else WARN)
                c = Check("heart_rate", status, hr.measured, hr.expected, hr.message + " (from the ECG trace)",
                          hr.source | {"headers": c.measured})
            merged.append(c)
            if c.id == "heart_rate":
                merged += [from_trace[k] for k in ("rhythm", "exposure_timing", "trigger_latency") if k in from_trace]
        checks = merged
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
        exam=exam, protocol=protocol, checks=tuple(checks), verdict=final, verdict_message="; ".join(parts), gating=gating,
        effective_dose=dose, dlp_mgycm=dlp, dlp_source=dlp_source,
        reference_level=level.to_dict() if level is not None else None, reference_level_choice=level_choice,
        warnings=tuple(warnings),
    )


def _reference_level(exam: Exam, protocol: ExamProtocol, tables: DoseTables):
    names = [exam.headers.series_description] + [getattr(e, "acquisition_protocol", None) for e in _events(exam)]
    from qa.dose import region_of

    regions = [region_of(e) for e in _events(exam)]
    return reference_level_for(tables, protocol_id=protocol.id, names=names, region_codes=regions, named_level=protocol.reference_level)


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
        by_phantom = dict(getattr(exam.dose, "dlp_by_phantom_mgycm", {}) or {})
        compared = compared_dose(events, total, by_phantom)
        if compared.mixed:
            dlp = compared.dlp_mgycm
            dlp_source = (f"dose report: body (32 cm) phantom subtotal; the head (16 cm) subtotal "
                          f"{by_phantom['head16']:g} mGy cm is left out of the comparison")
            warnings.append("the dose report mixes head and body phantom events: DLP compared as the body subtotal")
        if ctdivol is None:
            uids = set(getattr(h, "irradiation_event_uids", ()) or ())
            mine = [e for e in events if e.irradiation_event_uid in uids and e.ctdivol_mgy is not None]
            if mine:
                ctdivol = max(e.ctdivol_mgy for e in mine)
                ctdivol_source = "dose report: Mean CTDIvol (DCM 113830) of the event(s) whose Irradiation Event UID the images carry"
            elif compared.ctdivol_mgy is not None:
                ctdivol = compared.ctdivol_mgy
                ctdivol_source = ("dose report: highest Mean CTDIvol (DCM 113830) of the scan events"
                                  + (" of the body (32 cm) phantom" if compared.mixed else "")
                                  + " (localizers left out; the images name no event, so this may be another scan of the study)")
                warnings.append("the images name no dose event: CTDIvol is the highest of the study's scans, "
                                "which may be another scan than the calcium score")
        return estimate, dlp, dlp_source, ctdivol, ctdivol_source, warnings
    centres = (h.scan_range_mm[1] - h.scan_range_mm[0]) if h.scan_range_mm else None
    dlp, how, lower_bound = estimated_dlp(h.ctdivol_mgy, total_collimation_mm=h.total_collimation_mm, covered_length_mm=h.coverage_mm,
                                          axial=h.acquisition_type in ("sequenced", "stationary"), centres_range_mm=centres)
    estimate = dose_from_headers(dlp, lower_bound, how, tables, protocol_k=protocol.k_factor)
    if dlp is not None:
        warnings.append(f"no dose report with the exam: DLP {'lower bound' if lower_bound else 'estimated'} from the headers ({how})")
    return estimate, dlp, estimate.dlp_basis, ctdivol, ctdivol_source, warnings


def _matches(rule: ProtocolRule, value: Any) -> bool:
    options = list(rule.allowed) if rule.allowed is not None else [rule.expected]
    return matches(value, options, tolerance=rule.tolerance, match=rule.match)


def _status(rule: ProtocolRule, ok: bool) -> str:
    return PASS if ok else (FAIL if rule.severity == "fail" else WARN)


def _check(check_id: str, rule: ProtocolRule, value, source, h, level, dose: DoseEstimate) -> Check:
    src = {"rule": f"rules.{check_id}", "severity": rule.severity, "rule_source": rule.source}
    if source:
        src["tag"] = source
    expected = rule.describe()
    header_field = _VARYING_FIELDS.get(check_id)
    if header_field is not None and header_field in getattr(h, "varying", {}):
        values = ", ".join(str(v) for v in h.varying[header_field])
        return Check(check_id, FAIL if rule.severity == "fail" else WARN, values, expected,
                     f"{_label(check_id)} differs between the images of the series ({values}): one series, one setting", src)
    if check_id in ("ctdivol", "dlp", "effective_dose") and rule.reference == "level":
        return _level_check(check_id, rule, value, src, level, dose)
    if check_id == "slice_increment" and rule.equal_to == "slice_thickness":
        if h.slice_thickness_mm is None:
            return Check(check_id, NOT_AVAILABLE, value, expected, "the slice thickness is not in the headers", src)
        expected = ([h.slice_thickness_mm - rule.tolerance, h.slice_thickness_mm + rule.tolerance] if rule.tolerance
                    else h.slice_thickness_mm)
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
    shown = value
    if check_id == "reconstruction_algorithm" and h.iterative_strength is not None:
        shown = f"{value} (strength {h.iterative_strength})"
    return Check(check_id, _status(rule, ok), _plain(value), expected,
                 f"{_label(check_id)} {shown} {'as the protocol expects' if ok else 'is not ' + str(expected)}", src)


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
    lower = check_id != "ctdivol" and dose.lower_bound
    bound = " (a lower bound)" if lower else ""
    if lower and ok:
        return Check(check_id, NOT_AVAILABLE, round(value, 4), limit,
                     f"{value:.4g} {unit} is only a lower bound (no dose report, no collimation): it cannot show the "
                     f"exam stayed within the {kind} {limit:g} {unit} ({level.id})", src)
    return Check(check_id, _status(rule, ok), round(value, 4), limit,
                 f"{value:.4g} {unit}{bound} {'within' if ok else 'above'} the {kind} {limit:g} {unit} ({level.id})", src)


# Checks whose setting must be the same on every image of the series -> the header field.
_VARYING_FIELDS = {"kvp": "kvp", "slice_thickness": "slice_thickness_mm", "kernel": "kernel",
                   "reconstruction_fov": "reconstruction_diameter_mm"}


def _plain(value):
    if isinstance(value, float):
        return round(value, 3)
    return value


def _label(check_id: str) -> str:
    return check_id.replace("_", " ")

