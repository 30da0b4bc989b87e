"""What ``qa check`` should say about a planned calcium-score study (pure): the ground truth.

Each header and dose check of the vendor's protocol is judged here from the plan's own numbers,
by the protocol's rule (expected value and tolerance, allowed values, range, maximum, gating
modes, the reference level): an independent statement of what the files were made to show, which
the tests compare with what ``qa check`` reads from them.  ``breath_hold_motion`` is left out: the
header-only images are uniform (nothing to register), so the check is ``not_applicable`` (one
rotation or a spiral) or ``not_available`` (several stacks), never a planted result.
"""

from __future__ import annotations

from qa.compliance.protocol import ExamProtocol, ProtocolRule
from qa.exam_synth.fleet.records import FleetRules, PlannedExam, PlannedSeries
from qa.records.checks import matches

NOT_PREDICTED = ("breath_hold_motion",)


def _status(rule: ProtocolRule, ok: bool) -> str:
    return "pass" if ok else rule.severity


def _judge(rule: ProtocolRule, value) -> str:
    if rule.range is not None:
        return _status(rule, rule.range[0] <= value <= rule.range[1])
    if rule.maximum is not None or rule.minimum is not None:
        return _status(rule, (rule.maximum is None or value <= rule.maximum) and (rule.minimum is None or value >= rule.minimum))
    options = list(rule.allowed) if rule.allowed is not None else [rule.expected]
    return _status(rule, matches(value, options, tolerance=rule.tolerance, match=rule.match))


def _level(value: float | None, level: float | None, lower_bound: bool, rule: ProtocolRule) -> str:
    if value is None or level is None:
        return "not_available"
    if value > level:
        return rule.severity
    return "not_available" if lower_bound else "pass"


def judged_dose(exam: PlannedExam, series: PlannedSeries, k_msv_per_mgycm: float) -> tuple[float, float, float, bool]:
    """(CTDIvol, DLP, effective dose, lower bound?) as ``qa check`` judges them: the dose report's
    total, or without one the DLP estimated from the headers (the scan alone: axial rotations x
    collimation, exact for these files; a spiral's reconstructed length, a lower bound)."""
    if exam.reports:
        dlp = exam.reports[-1].dlp_total_mgycm
        return series.ctdivol_mgy, dlp, k_msv_per_mgycm * dlp, False
    event = exam.events[series.event]
    if series.acquisition_type == "spiral":
        dlp = series.ctdivol_mgy * series.coverage_mm / 10.0
        return series.ctdivol_mgy, dlp, k_msv_per_mgycm * dlp, True
    dlp = series.ctdivol_mgy * series.stacks * event.total_collimation_mm / 10.0
    return series.ctdivol_mgy, dlp, k_msv_per_mgycm * dlp, False


def expected_checks(exam: PlannedExam, vendor: str, rules: FleetRules) -> dict[str, str]:
    """Every predicted check id of the calcium-score protocol -> its expected status (empty for
    studies that are not calcium scores)."""
    if exam.kind != "cac":
        return {}
    protocol: ExamProtocol = rules.protocols[vendor]
    s = next(x for x in exam.series if x.role == "calcium_score")
    algorithm = "iterative" if s.iterative else "filtered_back_projection"
    measured = {"kvp": s.kvp, "slice_thickness": s.thickness_mm, "kernel": s.kernel, "reconstruction_algorithm": algorithm,
                "reconstruction_fov": s.fov_mm, "cardiac_phase": s.phase_pct, "heart_rate": s.heart_rate_read_bpm,
                "scan_coverage": s.coverage_mm}
    ctdivol, dlp, dose, lower = judged_dose(exam, s, rules.k_cardiac_protocol)
    level = rules.cac_level
    out: dict[str, str] = {}
    for check_id, rule in protocol.rules.items():
        if check_id in NOT_PREDICTED:
            continue
        if check_id in measured:
            out[check_id] = _judge(rule, measured[check_id])
        elif check_id == "slice_increment":
            out[check_id] = _status(rule, abs(s.increment_mm - s.thickness_mm) <= rule.tolerance + 1e-9)
        elif check_id == "gating_mode":
            out[check_id] = "pass" if s.gating == rule.expected else dict(rule.mode_severity).get(s.gating, rule.severity)
        elif check_id == "ctdivol":
            out[check_id] = _level(ctdivol, level.ctdivol_mgy, False, rule)
        elif check_id == "dlp":
            out[check_id] = _level(dlp, level.dlp_mgycm, lower, rule)
        elif check_id == "effective_dose":
            out[check_id] = _level(dose, level.dose_msv, lower, rule)
        else:
            raise ValueError(f"the fleet does not predict check {check_id!r} of {protocol.id}: add it to qa.exam_synth.fleet.expect")
    return out


def expected_verdict(checks: dict[str, str]) -> str | None:
    """``qa check``'s verdict from the predicted statuses: fail over warn over pass (None: no checklist)."""
    if not checks:
        return None
    statuses = set(checks.values())
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
