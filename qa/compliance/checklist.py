"""An exam against its protocol: the technologist's checklist (pure: records in, a record out).

``check_exam(exam, protocol, tables)`` compares the calcium-score series' headers, the exam's dose
(from its dose report, else estimated from the headers) and its effective dose with an exam
protocol (``procedures/cac-*.toml``) and the dose reference tables.  Every check is explained;
a check without the data it needs is ``not_available`` with the reason, never a pass, and the
verdict is at least ``warn`` when an essential check (``kvp``, ``slice_thickness``,
``gating_mode``) cannot be run.  Loading an exam from files is the workflow's job
(:func:`qa.workflows.exam.load_exam`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qa.compliance.protocol import ExamProtocol
from qa.compliance.registry import BY_ID, DOSE_CHECK_IDS, ESSENTIAL_CHECKS, EXAM_CHECKS, ExamFacts, run_check, unjudged_dose
from qa.dose import DoseTables, DoseValues, ReferenceLevel, dose_values_from_headers, dose_values_from_report, reference_level_for
from qa.errors import DefinitionError
from qa.records.checks import FAIL, NOT_AVAILABLE, PASS, WARN, Check
from qa.records.dose import StudyDose
from qa.records.exam import Exam
from qa.records.headers import ImageDose
from qa.records.provenance import DefinitionRef
from qa.records.serialize import Record
from qa.records.verdicts import INCOMPLETE, VerdictSummary, run_verdict, summarise_verdict

if TYPE_CHECKING:  # the ECG analysis is imported by the exams that come with a trace only
    from qa.ecg.gating import GatingReport
    from qa.motion.analysis import MotionAnalysis  # a type only: the images are analysed by the exams that read them


@dataclass(frozen=True)
class Checklist(Record):
    """The checklist of one exam (the body of the ``qa.check/1`` document)."""

    exam: Exam
    protocol: DefinitionRef
    checks: tuple[Check, ...]
    verdict: str
    verdict_message: str
    summary: VerdictSummary  # the banner: level, the protocol's action, failed checks first, what could not be run and why
    dose: DoseValues
    reference_level: ReferenceLevel | None
    reference_level_choice: str
    warnings: tuple[str, ...] = field(default=())
    ecg: GatingReport | None = None  # when an ECG trace was given


def validate_protocol(protocol: ExamProtocol, tables: DoseTables) -> None:
    """The protocol's k-factor and reference level must exist in the dose tables (never ignored)."""
    if protocol.k_factor is not None and protocol.k_factor not in tables.k_factors:
        raise DefinitionError(protocol.path, "protocol.k_factor",
                              f"names {protocol.k_factor!r}, which is not a k-factor of {tables.path} ({', '.join(tables.k_factors)})")
    levels = [level.id for level in tables.reference_levels]
    if protocol.reference_level is not None and protocol.reference_level not in levels:
        raise DefinitionError(protocol.path, "protocol.reference_level",
                              f"names {protocol.reference_level!r}, which is not a reference level of {tables.path} ({', '.join(levels)})")


def exam_dose(exam: Exam, protocol: ExamProtocol, tables: DoseTables) -> DoseValues:
    """The exam's dose: from its dose report when one came with it, else estimated from the headers."""
    if exam.dose is not None and exam.dose.events:
        return dose_values_from_report(exam.dose, tables, protocol_k=protocol.k_factor, images=exam.headers)
    return dose_values_from_headers(exam.headers, tables, protocol_k=protocol.k_factor)


def exam_reference_level(exam: Exam, protocol: ExamProtocol, tables: DoseTables) -> tuple[ReferenceLevel | None, str]:
    return _reference_level(exam.headers.series_description, exam.dose, protocol, tables)


def _reference_level(series_description: str | None, study: StudyDose | None, protocol: ExamProtocol,
                     tables: DoseTables) -> tuple[ReferenceLevel | None, str]:
    events = study.events if study is not None else ()
    names = [series_description] + [e.acquisition_protocol for e in events]
    return reference_level_for(tables, protocol_id=protocol.id, names=names, region_codes=[e.region_code for e in events],
                               named_level=protocol.reference_level)


def checklist_verdict(checks, dose: DoseValues) -> tuple[str, str]:
    """A checklist's verdict and its message: the worst check, at least ``warn`` when an essential
    check or a dose check could not be judged, and ``incomplete`` (never all clear, as its banner
    says) when nothing failed or warned but a check could not be run (no dose report, no ECG, ...)."""
    final = run_verdict(checks)
    missing = [c.id for c in checks if c.id in ESSENTIAL_CHECKS and c.status == NOT_AVAILABLE]
    unjudged = unjudged_dose(checks, dose)
    if (missing or unjudged) and final in (PASS, INCOMPLETE):
        final = WARN
    failed = [c.id for c in checks if c.status == FAIL]
    warned = [c.id for c in checks if c.status == WARN]
    if final == FAIL:
        parts = [f"FAIL: {', '.join(failed)}" + (f"; warnings: {', '.join(warned)}" if warned else "")]
    elif warned:
        parts = [f"WARN: {', '.join(warned)}"]
    else:
        parts = [final.upper()]
    if missing:
        parts.append(f"could not check {', '.join(missing)} (not in the headers)")
    if unjudged:
        parts.append(dose_not_judged_message(unjudged))
    return final, "; ".join(parts)


@dataclass(frozen=True)
class RejudgedDose(Record):
    """A checklist's dose checks judged again on its study's dose report (:func:`rejudge_dose`)."""

    checks: tuple[Check, ...]
    verdict: str
    verdict_message: str
    dose: DoseValues
    reference_level: ReferenceLevel | None
    reference_level_choice: str
    summary: VerdictSummary | None = None


def rejudge_dose(checks, study: StudyDose, images: ImageDose, protocol: ExamProtocol, tables: DoseTables) -> RejudgedDose:
    """The checks of a checklist made before its study's dose report was known (judged on the
    headers' estimate, or on an earlier report), with the dose checks judged on ``study`` as
    :func:`check_exam` judges them with the report (the same values, level and rules; ``images``:
    what the checked series' images say, :attr:`AcquisitionHeaders.image_dose`); the other checks
    are kept, and the verdict is made again."""
    validate_protocol(protocol, tables)
    values = dose_values_from_report(study, tables, protocol_k=protocol.k_factor, images=images)
    level, choice = _reference_level(images.series_description, study, protocol, tables)
    judged = {c.id: c for c in dose_checks(values, level, protocol)}
    rejudged = tuple(judged.get(c.id, c) for c in checks)
    final, message = checklist_verdict(rejudged, values)
    return RejudgedDose(rejudged, final, message, values, level, choice, summarise_verdict(rejudged, final, protocol.actions))


def dose_checks(dose: DoseValues, level: ReferenceLevel | None, protocol: ExamProtocol) -> tuple[Check, ...]:
    """A study's dose against ``protocol``'s dose rules: the very checks :func:`check_exam` runs
    (what ``qa dose --protocol`` reports); a quantity the protocol has no rule for is not judged."""
    facts = ExamFacts(None, dose, level)
    return tuple(run_check(BY_ID[check_id], rule, facts) for check_id in DOSE_CHECK_IDS
                 if (rule := protocol.rule(check_id)) is not None)


def dose_not_judged_message(unjudged: tuple[str, ...]) -> str:
    return f"could not judge {', '.join(unjudged)}: the dose report gives no usable value or only a lower bound"


def check_exam(exam: Exam, protocol: ExamProtocol, tables: DoseTables, *, gating: GatingReport | None = None,
               motion: MotionAnalysis | None = None) -> Checklist:
    """The checklist of ``exam`` against ``protocol`` (see module doc).

    ``gating`` (the analysis of the exam's ECG trace) replaces the header heart rate by the
    trace's and adds ``rhythm`` and ``exposure_timing`` (and ``trigger_latency`` when the trace
    has a trigger channel).  ``motion`` (the breath-hold motion analysis of the checked series'
    images, :func:`qa.motion.analyse_motion`) judges ``breath_hold_motion``; without it that check is
    not available.
    """
    validate_protocol(protocol, tables)
    h = exam.headers
    dose = exam_dose(exam, protocol, tables)
    level, level_choice = exam_reference_level(exam, protocol, tables)
    facts = ExamFacts(h, dose, level, motion)
    checks = [run_check(check, rule, facts) for check in EXAM_CHECKS if (rule := protocol.rule(check.id)) is not None]
    if gating is not None:
        checks = _with_trace(checks, gating, protocol)
    final, message = checklist_verdict(checks, dose)
    return Checklist(
        exam=exam, protocol=protocol.ref, checks=tuple(checks), verdict=final, verdict_message=message,
        summary=summarise_verdict(checks, final, protocol.actions), dose=dose,
        reference_level=level, reference_level_choice=level_choice,
        warnings=tuple(h.warnings) + tuple(exam.notes)
        + tuple(f"dose report: {w}" for w in (exam.dose.warnings if exam.dose is not None else ())) + dose.warnings
        + (gating.warnings if gating is not None else ()),
        ecg=gating,
    )


def _with_trace(checks: list[Check], gating: GatingReport, protocol: ExamProtocol) -> list[Check]:
    """The trace's heart rate replaces the headers'; rhythm, exposure timing and trigger latency follow it."""
    from_trace = {c.id: c for c in gating.checks}
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
    return merged
