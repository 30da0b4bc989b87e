"""The exam checks of ``qa check``: one registry entry per check id.

An entry says what the check measures (from the exam's headers and dose), what kind of value a
protocol's expectation must be, why it can be missing, which header field must be the same on
every image, and, where the generic judgement (range, maximum/minimum, expected/allowed, reference
level) is not enough, its own judgement.  Adding a check is one entry here, its rule in the
protocol files, and its test.  Display order is registry order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa.compliance.protocol import ProtocolRule
from qa.records.checks import FAIL, NOT_APPLICABLE, NOT_AVAILABLE, PASS, WARN, Check, matches
from qa.records.display import display, unit_of
from qa.records.headers import AcquisitionHeaders

if TYPE_CHECKING:  # types only: a protocol's model reads the registry without the dose or image analysis (issue 17)
    from qa.dose import DoseValues, ReferenceLevel
    from qa.motion.analysis import MotionAnalysis


@dataclass(frozen=True)
class ExamFacts:
    """What the checks judge: the checked series' headers, the exam's dose and its reference level.

    ``headers`` is None when only a dose report is judged (``qa dose``): then only the dose checks
    (:data:`DOSE_CHECK_IDS`), which read nothing else, can run."""

    headers: AcquisitionHeaders | None
    dose: DoseValues
    level: ReferenceLevel | None
    motion: MotionAnalysis | None = None  # the images' breath-hold motion (None: the pixels were not analysed)


Judge = Callable[["ExamCheck", ProtocolRule, ExamFacts, Any, dict], Check]


@dataclass(frozen=True)
class ExamCheck:
    id: str
    label: str
    value_kind: str  # what a protocol's expected/allowed values must be: "number" | "text" | "mode"
    measure: Callable[[ExamFacts], tuple[Any, str | None]]  # (value, where it came from)
    missing: str  # the message when there is no value
    varying_field: str | None = None  # header field that must be the same on every image of the series
    essential: bool = False  # without it the verdict is at least "warn"
    judge: Judge | None = None  # its own judgement (else the generic one)
    when_missing: Callable[[ExamCheck, ProtocolRule, ExamFacts, dict], Check | None] | None = None  # judgement from other facts
    rule_keys: frozenset[str] = frozenset()  # rule keys only this check accepts (besides the common ones)


def status(rule: ProtocolRule, ok: bool) -> str:
    return PASS if ok else (FAIL if rule.severity == "fail" else WARN)


def _plain(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def _shown(check: ExamCheck, value: Any) -> str:
    """A value in a message, in display units and precision (``120 kV``, ``338.7 mm``, not ``338.672``)."""
    return display(value, unit_of(check.id))


# ------------------------------------------------------------------------------------ judgements


def judge_generic(check: ExamCheck, rule: ProtocolRule, facts: ExamFacts, value: Any, src: dict) -> Check:
    """A range, a maximum/minimum, or expected/allowed values (texts case-insensitive; numbers within tolerance)."""
    expected = rule.describe()
    if rule.range is not None:
        lo, hi = rule.range
        ok = lo <= float(value) <= hi
        return Check(check.id, status(rule, ok), _plain(value), expected,
                     f"{check.label} {_shown(check, value)} {'within' if ok else 'outside'} {display([lo, hi], unit_of(check.id))}", src)
    if rule.maximum is not None or rule.minimum is not None:
        ok = (rule.maximum is None or float(value) <= rule.maximum) and (rule.minimum is None or float(value) >= rule.minimum)
        return Check(check.id, status(rule, ok), _plain(value), expected,
                     f"{check.label} {_shown(check, value)} {'within' if ok else 'beyond'} {expected}", src)
    options = list(rule.allowed) if rule.allowed is not None else [rule.expected]
    ok = matches(value, options, tolerance=rule.tolerance, match=rule.match)
    return Check(check.id, status(rule, ok), _plain(value), expected,
                 f"{check.label} {_shown(check, value)} {'as the protocol expects' if ok else 'is not ' + str(expected)}", src)


def judge_heart_rate(check: ExamCheck, rule: ProtocolRule, facts: ExamFacts, value: Any, src: dict) -> Check:
    out = judge_generic(check, rule, facts, value, src)
    h = facts.headers
    if h.heart_rate_min_bpm is not None and h.heart_rate_max_bpm != h.heart_rate_min_bpm:
        spread = f" (images {h.heart_rate_min_bpm:g}-{h.heart_rate_max_bpm:g} bpm)"
        return Check(out.id, out.status, out.measured, out.expected,
                     out.message.replace(f"{check.label} {_shown(check, value)}", f"{check.label} {_shown(check, value)}{spread}", 1),
                     out.source)
    return out


def judge_reconstruction(check: ExamCheck, rule: ProtocolRule, facts: ExamFacts, value: Any, src: dict) -> Check:
    out = judge_generic(check, rule, facts, value, src)
    strength = facts.headers.iterative_strength
    if strength is None:
        return out
    return Check(out.id, out.status, out.measured, out.expected,
                 out.message.replace(f"{check.label} {value}", f"{check.label} {value} (strength {strength})", 1), out.source)


def judge_increment(check: ExamCheck, rule: ProtocolRule, facts: ExamFacts, value: Any, src: dict) -> Check:
    """The increment against the slice thickness (``equal_to = "slice_thickness"``), else generic."""
    if rule.equal_to != "slice_thickness":
        return judge_generic(check, rule, facts, value, src)
    thickness = facts.headers.slice_thickness_mm
    if thickness is None:
        return Check(check.id, NOT_AVAILABLE, value, rule.describe(), "the slice thickness is not in the headers", src)
    expected = [thickness - rule.tolerance, thickness + rule.tolerance] if rule.tolerance else thickness
    ok = abs(value - thickness) <= rule.tolerance + 1e-9
    overlap = "overlapping" if value < thickness else "gapped"
    return Check(check.id, status(rule, ok), round(value, 3), expected,
                 f"increment {value:g} mm {'equals' if ok else 'differs from'} the thickness"
                 + ("" if ok else f" ({overlap} slices change the score)"), src)


def judge_gating_mode(check: ExamCheck, rule: ProtocolRule, facts: ExamFacts, value: Any, src: dict) -> Check:
    mode = str(value)
    if mode == rule.expected:
        return Check(check.id, PASS, mode, rule.expected, f"{mode} ECG triggering as the protocol expects", src)
    severity = dict(rule.mode_severity).get(mode, rule.severity)
    return Check(check.id, FAIL if severity == "fail" else WARN, mode, rule.expected,
                 f"{mode} ECG {'gating' if mode == 'retrospective' else 'synchronisation'}; the protocol expects {rule.expected}", src)


def reference_level_check(check_id: str, dose: DoseValues, level: ReferenceLevel | None, quantity: str, severity: str,
                          src: dict) -> Check:
    """``quantity`` of ``dose`` against ``level`` as a check: ``severity`` above it (the one rule of
    ``qa check`` and ``qa dose``; :func:`qa.dose.compare_with_level`, :func:`qa.dose.level_status`)."""
    from qa.dose import compare_with_level, level_status

    comparison = compare_with_level(dose, level, quantity)
    src = dict(src, body_subtotal=comparison.body_subtotal)
    if level is not None:
        src.update(reference_level=level.id, reference_kind=level.kind, reference_source=level.source)
    if quantity == "dose_msv" and dose.effective.dose_msv is not None:
        e = dose.effective
        src.update(k_msv_per_mgycm=e.k_msv_per_mgycm, k_source=e.k_source, icrp_basis=e.icrp_basis)
    measured = None if comparison.value is None else round(comparison.value, 4)
    return Check(check_id, level_status(comparison, severity), measured, comparison.level, comparison.message, src)


def level_judge(quantity: str) -> Judge:
    """Judge a dose quantity against the protocol's reference level (or, without ``reference``, generically)."""

    def judge(check: ExamCheck, rule: ProtocolRule, facts: ExamFacts, value: Any, src: dict) -> Check:
        if rule.reference == "level":
            return reference_level_check(check.id, facts.dose, facts.level, quantity, rule.severity, src)
        out = judge_generic(check, rule, facts, value, src)
        if out.status == PASS and facts.dose.is_lower_bound(quantity):  # an understated value proves nothing
            return Check(out.id, NOT_AVAILABLE, out.measured, out.expected,
                         f"{out.message}, but it is only a lower bound: it cannot show the rule is met", out.source)
        return out

    return judge


def judge_motion(check: ExamCheck, rule: ProtocolRule, facts: ExamFacts, value: Any, src: dict) -> Check:
    """Breath-hold motion between stacks, judged boundary by boundary by the protocol's ``[motion]``
    table (:func:`qa.motion.analyse_motion`); one stack is not applicable, never a pass."""
    m: MotionAnalysis = value
    limits = m.settings
    if m.slice_thickness_mm is None:  # the images could not be read: the limits in slice thicknesses
        expected = (f"shift <= {limits.warn_shift_fraction:g} x slice thickness, robust z <= {limits.warn_robust_z:g}; "
                    f"fail above {limits.fail_shift_fraction:g} x slice thickness")
    else:
        warn_mm, fail_mm = limits.warn_shift_fraction * m.slice_thickness_mm, limits.fail_shift_fraction * m.slice_thickness_mm
        expected = f"shift <= {warn_mm:g} mm, robust z <= {limits.warn_robust_z:g}; fail above {fail_mm:g} mm"
    src = dict(src, motion_limits=limits.source, stacks=len(m.stacks), stack_basis=m.stack_basis,
               boundaries=[{"between": list(b.between), "lr_mm": b.shift_mm.lr, "ap_mm": b.shift_mm.ap, "cc_mm": b.shift_mm.cc,
                            "robust_z": b.robust_z, "status": b.status} for b in m.boundaries])
    r = m.respiration
    if r is not None:
        src["respiration"] = {"source": r.source, "status": r.status, "breath_held": r.breath_held, "ratio": r.ratio,
                              "released_after_s": r.released_after_s, "heart_rate_change_bpm": r.heart_rate_change_bpm}
    if m.status == NOT_APPLICABLE:
        return Check(check.id, NOT_APPLICABLE, None, expected, m.message, src)
    if m.status == NOT_AVAILABLE:
        return Check(check.id, NOT_AVAILABLE, None, expected, m.message, src)
    measured = None if m.largest_shift_mm is None else round(m.largest_shift_mm, 2)
    outcome = m.status if m.status in (PASS, WARN) else (FAIL if rule.severity == "fail" else WARN)
    return Check(check.id, outcome, measured, expected, f"breath-hold motion between stacks: {m.message}", src)


# ------------------------------------------------------------------------------------ measurements


def _header(field_name: str) -> Callable[[ExamFacts], tuple[Any, str | None]]:
    return lambda f: (getattr(f.headers, field_name), f.headers.sources.get(field_name))


def _phase(f: ExamFacts) -> tuple[Any, str | None]:
    return f.headers.trigger_phase_pct, f.headers.sources.get("trigger_phase_pct")


def _effective(f: ExamFacts) -> tuple[Any, str | None]:
    e = f.dose.effective
    if e.dose_msv is None:
        return None, None
    return e.dose_msv, f"k {e.k_msv_per_mgycm} ({e.k_source}); ICRP {e.icrp_basis}; DLP {e.dlp_basis}"


def delay_when_no_phase(check: ExamCheck, rule: ProtocolRule, facts: ExamFacts, src: dict) -> Check | None:
    """Without a phase, a protocol's delay window (``delay_range_ms``) judges the trigger delay."""
    h = facts.headers
    if rule.delay_range_ms is None or h.trigger_delay_ms is None:
        return None
    lo, hi = rule.delay_range_ms
    ok = lo <= h.trigger_delay_ms <= hi
    src["tag"] = h.sources.get("trigger_delay_ms")
    return Check(check.id, status(rule, ok), h.trigger_delay_ms, [lo, hi],
                 f"trigger delay {h.trigger_delay_ms:g} ms {'within' if ok else 'outside'} {lo:g}-{hi:g} ms", src)


EXAM_CHECKS: tuple[ExamCheck, ...] = (
    ExamCheck("kvp", "tube voltage", "number", _header("kvp"), "the tube voltage (kVp) is not in the headers", varying_field="kvp", essential=True),
    ExamCheck("slice_thickness", "slice thickness", "number", _header("slice_thickness_mm"), "slice_thickness is not in the headers",
              varying_field="slice_thickness_mm", essential=True),
    ExamCheck("slice_increment", "slice increment", "number", _header("slice_increment_mm"),
              "the increment cannot be derived from the image positions", judge=judge_increment, rule_keys=frozenset({"equal_to"})),
    ExamCheck("kernel", "kernel", "text", _header("kernel"), "kernel is not in the headers", varying_field="kernel"),
    ExamCheck("reconstruction_algorithm", "reconstruction algorithm", "text", _header("reconstruction_algorithm"),
              "the headers do not say whether iterative reconstruction was used", judge=judge_reconstruction),
    ExamCheck("reconstruction_fov", "reconstruction field of view", "number", _header("reconstruction_diameter_mm"),
              "reconstruction_fov is not in the headers", varying_field="reconstruction_diameter_mm"),
    ExamCheck("gating_mode", "gating mode", "mode", _header("cardiac_synchronization"),
              "the headers do not say how the scan was synchronised with the ECG", essential=True, judge=judge_gating_mode,
              rule_keys=frozenset({"retrospective", "none"})),
    ExamCheck("cardiac_phase", "cardiac phase", "number", _phase, "no trigger phase in the headers (standard or vendor tags)",
              when_missing=delay_when_no_phase, rule_keys=frozenset({"delay_range_ms"})),
    ExamCheck("heart_rate", "heart rate", "number", _header("heart_rate_bpm"), "no heart rate in the headers (standard or vendor tags)",
              judge=judge_heart_rate),
    ExamCheck("scan_coverage", "scan coverage", "number", _header("coverage_mm"), "scan_coverage is not in the headers"),
    ExamCheck("ctdivol", "ctdivol", "number", lambda f: (f.dose.ctdivol_mgy, f.dose.ctdivol_source),
              "no ctdivol: neither a dose report nor the headers give it", judge=level_judge("ctdivol_mgy"),
              rule_keys=frozenset({"reference"})),
    ExamCheck("dlp", "dlp", "number", lambda f: (f.dose.dlp_mgycm, f.dose.dlp_source),
              "no dlp: neither a dose report nor the headers give it", judge=level_judge("dlp_mgycm"), rule_keys=frozenset({"reference"})),
    ExamCheck("effective_dose", "effective dose", "number", _effective,
              "no effective dose: neither a dose report nor the headers give it", judge=level_judge("dose_msv"),
              rule_keys=frozenset({"reference"})),
    ExamCheck("breath_hold_motion", "breath-hold motion", "text", lambda f: (f.motion, "the images (qa.motion)"),
              "the images were not analysed for motion", judge=judge_motion, rule_keys=frozenset({"limits"})),
)
BY_ID: dict[str, ExamCheck] = {c.id: c for c in EXAM_CHECKS}
EXAM_CHECK_IDS: tuple[str, ...] = tuple(BY_ID)
ESSENTIAL_CHECKS: tuple[str, ...] = tuple(c.id for c in EXAM_CHECKS if c.essential)
# The checks of an exam's dose: what qa dose judges a study's dose report by, with the same rules as qa check.
DOSE_CHECK_IDS: tuple[str, ...] = ("ctdivol", "dlp", "effective_dose")


# The dose quantity each dose check judges.
DOSE_QUANTITIES: dict[str, str] = {"ctdivol": "ctdivol_mgy", "dlp": "dlp_mgycm", "effective_dose": "dose_msv"}


def unjudged_dose(checks, dose: DoseValues) -> tuple[str, ...]:
    """The dose checks a dose report should have decided but could not: its value is missing or
    only a lower bound (``not_available``).  A dose report that gives no usable dose is never a pass."""
    if not dose.from_report:
        return ()
    return tuple(c.id for c in checks if c.id in DOSE_QUANTITIES and c.status == NOT_AVAILABLE
                 and (dose.value_of(DOSE_QUANTITIES[c.id]) is None or dose.is_lower_bound(DOSE_QUANTITIES[c.id])))


def run_check(check: ExamCheck, rule: ProtocolRule, facts: ExamFacts) -> Check:
    """One check of an exam against its protocol rule."""
    value, source = check.measure(facts)
    src: dict[str, Any] = {"rule": f"rules.{check.id}", "severity": rule.severity, "rule_source": rule.source}
    if source:
        src["tag"] = source
    expected = rule.describe()
    if check.varying_field is not None and check.varying_field in facts.headers.varying:
        values = ", ".join(str(v) for v in facts.headers.varying[check.varying_field])
        return Check(check.id, FAIL if rule.severity == "fail" else WARN, values, expected,
                     f"{check.label} differs between the images of the series ({values}): one series, one setting", src)
    judge = check.judge or judge_generic
    if value is None:
        if rule.reference == "level":  # the level judgement says why there is no value
            return judge(check, rule, facts, value, src)
        found = check.when_missing(check, rule, facts, src) if check.when_missing is not None else None
        return found or Check(check.id, NOT_AVAILABLE, None, expected, check.missing, src)
    return judge(check, rule, facts, value, src)
