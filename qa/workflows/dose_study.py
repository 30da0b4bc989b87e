"""One study's dose from its merged dose reports, compared with its reference level (pure).

:func:`summarise_study` is what ``qa dose`` prints per study, and what ``qa ingest``, ``qa check
--db`` and ``qa dose --db`` store: the events with their effective dose (k, k source, ICRP basis),
the DLP and CTDIvol a reference level judges, and the comparison itself (the protocol's rules when a
protocol is given, else a warning above the level).
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.compliance import dose_checks, dose_not_judged_message, unjudged_dose
from qa.compliance.registry import reference_level_check
from qa.dose import LEVEL_QUANTITIES, DoseEstimate, DoseValues, ReferenceLevel, dose_values_from_report, reference_level_for
from qa.records.checks import FAIL, NOT_APPLICABLE, PASS, WARN, Check, verdict
from qa.records.verdicts import INCOMPLETE
from qa.records.dose import DoseCheck, StudyDose
from qa.records.phantom_qa import dose_report_texts, phantom_qa_evidence
from qa.records.serialize import Record

# Check ids of the level comparisons: the same ids as qa check's.
_CHECK_IDS = {"ctdivol_mgy": "ctdivol", "dlp_mgycm": "dlp", "dose_msv": "effective_dose"}


@dataclass(frozen=True)
class EventSummary(Record):
    """One irradiation event with its effective dose."""

    irradiation_event_uid: str | None
    acquisition_type: str | None
    protocol: str | None
    target_region: str | None
    target_region_code: tuple[str, str] | None
    kvp: tuple[float | None, ...]
    tube_current_ma: tuple[float | None, ...]
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    phantom: str | None
    k_msv_per_mgycm: float | None
    k_source: str
    icrp_basis: int | None
    dose_msv: float | None
    sources: dict[str, str]
    dose_check: DoseCheck | None = None  # the CT Dose Check Details (TID 10015) when the report has them


@dataclass(frozen=True)
class StudyDoseSummary(Record):
    """One study's dose (merged from all its reports), compared with its reference level."""

    source_file: str | None
    source_files: tuple[str, ...]
    study_key: str | None
    sop_instance_uids: tuple[str, ...]
    superseded_sop_instance_uids: tuple[str, ...]
    manufacturer: str | None
    model: str | None
    device_serial_number: str | None
    station_name: str | None
    study_datetime: str | None
    events: tuple[EventSummary, ...]
    dlp_total_mgycm: float | None  # the report's own total
    dlp_total_method: str
    dlp_by_phantom_mgycm: dict[str, float]
    effective_dose_msv: float | None
    k_msv_per_mgycm: float | None
    k_source: str
    icrp_basis: int | None
    effective_dose: DoseEstimate
    compared: DoseValues
    reference_level: ReferenceLevel | None
    reference_level_choice: str
    checks: tuple[Check, ...]
    verdict: str
    warnings: tuple[str, ...]
    verdict_message: str = ""
    # the description that names the study phantom QA (qa.records.phantom_qa), None for a patient study:
    # a phantom gets no patient effective dose and is never compared with a patient reference level
    phantom_qa: str | None = None


def summarise_study(study: StudyDose, tables, *, k_factor: str | None = None, protocol=None) -> StudyDoseSummary:
    """One study's dose and its comparison with the reference level (pure).  The k: ``k_factor``,
    else the protocol's, else the one the study's reference level names (its mSv level is its DLP
    level x that k), else by target region or phantom (:func:`qa.dose.study_dose`)."""
    k_origin = "--k-factor" if k_factor is not None else "protocol"
    protocol_k = k_factor if k_factor is not None else (protocol.k_factor if protocol is not None else None)
    level, why = reference_level_for(tables, protocol_id=protocol.id if protocol else None,
                                     names=[e.acquisition_protocol for e in study.events],
                                     region_codes=[e.region_code for e in study.events],
                                     named_level=protocol.reference_level if protocol else None)
    if protocol_k is None and level is not None and level.k_factor is not None:
        # the k its level's mSv value was derived with: else DLP and mSv could disagree on one exam
        protocol_k, k_origin = level.k_factor, f"reference level {level.id}"
    values = dose_values_from_report(study, tables, protocol_k=protocol_k, k_origin=k_origin)
    phantom = phantom_qa_evidence(dose_report_texts(study.study_description, study.events))
    if phantom is None and study.named_qa:  # a patient name that names QA (read for this only, never shown)
        phantom = "PatientName"
    if phantom is not None:
        values, level, why, checks = _phantom_study(values, phantom)
    else:
        if level is None:
            why = _no_level_why(tables, why)
        if protocol is not None:
            checks = list(dose_checks(values, level, protocol))  # the protocol's own rules, exactly as qa check runs them
        else:
            checks = [_level_check(values, level, quantity) for quantity in LEVEL_QUANTITIES]
    alert = dose_check_alert(study)
    if alert is not None:
        checks.append(alert)
    estimate = values.effective
    final, message = _study_verdict(checks, values, _not_judged_why(phantom, level))
    events = tuple(
        EventSummary(e.irradiation_event_uid, e.acquisition_type, e.acquisition_protocol, e.target_region, e.region_code, e.kvp,
                     e.tube_current_ma, e.ctdivol_mgy, e.dlp_mgycm, e.phantom, ev.k_msv_per_mgycm, ev.k_source, ev.icrp_basis,
                     ev.dose_msv, dict(e.sources), e.dose_check)
        for e, ev in zip(study.events, estimate.events)
    )
    return StudyDoseSummary(
        source_file=study.source_files[-1] if study.source_files else None,
        source_files=study.source_files,
        study_key=study.study_key,
        sop_instance_uids=study.sop_instance_uids,
        superseded_sop_instance_uids=study.superseded_sop_instance_uids,
        manufacturer=study.manufacturer,
        model=study.model,
        device_serial_number=study.device_serial_number,
        station_name=study.station_name,
        study_datetime=study.study_datetime,
        events=events,
        dlp_total_mgycm=study.dlp_total_mgycm,
        dlp_total_method=study.dlp_total_method,
        dlp_by_phantom_mgycm=dict(study.dlp_by_phantom_mgycm),
        effective_dose_msv=estimate.dose_msv,
        k_msv_per_mgycm=estimate.k_msv_per_mgycm,
        k_source=estimate.k_source,
        icrp_basis=estimate.icrp_basis,
        effective_dose=estimate,
        compared=values,
        reference_level=level,
        reference_level_choice=why,
        checks=tuple(checks),
        verdict=final,
        warnings=tuple(study.warnings) + tuple(values.warnings),
        verdict_message=message,
        phantom_qa=phantom,
    )


# Why a phantom QA study has no patient effective dose (qa.records.phantom_qa).
PHANTOM_NO_DOSE = ("no patient effective dose: E = k x DLP estimates the dose to a standard patient (ICRP Publication 103), "
                   "and a phantom is not one")


def _phantom_study(values: DoseValues, evidence: str):
    """A phantom QA study: its CTDIvol and DLP as measured, no effective dose, no reference level
    (a patient's level does not apply to a phantom): (values, level, why, checks)."""
    from dataclasses import replace

    e = values.effective
    events = tuple(replace(ev, k_id=None, k_msv_per_mgycm=None, k_source="phantom QA: no patient effective dose", icrp_basis=None,
                           dose_msv=None) for ev in e.events)
    notes = tuple(n for n in e.notes if "effective dose" not in n)
    none = DoseEstimate(None, e.dlp_mgycm, e.dlp_basis, None, f"phantom QA study ({evidence}): {PHANTOM_NO_DOSE}", None, events,
                        lower_bound=False, notes=notes)
    values = replace(values, effective=none, warnings=tuple(w for w in values.warnings if "effective dose" not in w))
    why = f"a phantom QA study ({evidence}): reference levels are for patient exams"
    checks = []
    for quantity, check_id in _CHECK_IDS.items():
        value = values.value_of(quantity)
        what = {"ctdivol_mgy": "CTDIvol", "dlp_mgycm": "DLP", "dose_msv": "effective dose"}[quantity]
        unit = LEVEL_QUANTITIES[quantity]
        shown = f"{what} {value:.4g} {unit}" if value is not None else f"no {what}"
        reason = PHANTOM_NO_DOSE if quantity == "dose_msv" else "a patient reference level does not apply to a phantom"
        checks.append(Check(check_id, NOT_APPLICABLE, None if value is None else round(value, 4), None,
                            f"{shown}: phantom QA study ({evidence}): {reason}", {"rule": "phantom QA study", "evidence": evidence}))
    return values, None, why, checks


def _no_level_why(tables, why: str) -> str:
    """Why no reference level applies, with the levels there are (what they cover)."""
    import os

    ids = ", ".join(lv.id for lv in tables.reference_levels)
    return f"{why}; {os.path.basename(str(tables.path))} has levels for: {ids or 'nothing'}"


def _study_verdict(checks: list[Check], values: DoseValues, not_judged: str) -> tuple[str, str]:
    """The study's verdict and why: never a pass when the report gives no usable value, or only a
    lower bound, for a dose check (the check is ``not_available`` and the verdict at least ``warn``);
    ``incomplete`` (never a pass) when no check judged the exam against a per-exam level, saying why
    (``not_judged``: a phantom QA study, no level applies, a level for audits only)."""
    final = verdict(checks)
    unjudged = unjudged_dose(checks, values)
    if unjudged and final == PASS:
        final = WARN
    if final == PASS and not any(c.status == PASS for c in checks):
        final = INCOMPLETE
    judged = [f"{c.id} {c.status.upper()}" + (f" ({c.message})" if c.id == DOSE_CHECK_ID else "")
              for c in checks if c.status in (FAIL, WARN)]
    parts = [final.upper() + (f": {', '.join(judged)}" if judged else "")]
    if unjudged:
        parts.append(dose_not_judged_message(unjudged))
    if not any(c.status in (PASS, FAIL) or (c.status == WARN and c.id != DOSE_CHECK_ID) for c in checks):
        parts.append(f"not judged against a per-exam level: {not_judged}")
    return final, "; ".join(parts)


def _not_judged_why(phantom: str | None, level: ReferenceLevel | None) -> str:
    """Why no per-exam level judged a study: a phantom, a level for audits only, or none applies."""
    if phantom is not None:
        return "a phantom QA study: a patient reference level does not apply"
    if level is not None:
        return f"{level.id} is a {level.what}, shown for context (an audit compares the median of many exams with it)"
    return "no reference level applies to this exam (see reference_level_choice)"


# The check of the scanner's own Dose Check alert (TID 10015; NEMA XR 25): a warning when it was exceeded.
DOSE_CHECK_ID = "dose_check_alert"


def dose_check_alert(study: StudyDose) -> Check | None:
    """A warning when the dose report says an event's Dose Check alert or notification value was
    exceeded (the scanner's own alert: the operator proceeded), else None (nothing to judge)."""
    exceeded = [(n + 1, e.dose_check) for n, e in enumerate(study.events) if e.dose_check is not None and e.dose_check.exceeded]
    if not exceeded:
        return None
    said = []
    for number, d in exceeded:
        kinds = [k for k, flag in (("alert", d.alert_exceeded), ("notification", d.notification_exceeded)) if flag]
        estimates = [f"{name} estimate {est:g} > {limit:g} {unit}" for name, est, limit, unit in (
            ("DLP", d.alert_accumulated_dlp_forward_estimate_mgycm, d.alert_dlp_mgycm, "mGy cm"),
            ("CTDIvol", d.alert_accumulated_ctdivol_forward_estimate_mgy, d.alert_ctdivol_mgy, "mGy"),
            ("DLP", d.notification_dlp_forward_estimate_mgycm, d.notification_dlp_mgycm, "mGy cm"),
            ("CTDIvol", d.notification_ctdivol_forward_estimate_mgy, d.notification_ctdivol_mgy, "mGy"))
            if est is not None and limit is not None and est > limit]
        said.append(f"event #{number} {' and '.join(kinds)} exceeded" + (f" ({', '.join(estimates)})" if estimates else ""))
    message = (f"the scanner's Dose Check value was exceeded and the operator proceeded: {'; '.join(said)}: "
               "review the reason given at the console")
    return Check(DOSE_CHECK_ID, WARN, len(exceeded), 0, message,
                 {"rule": "CT Dose Check (DICOM TID 10015; NEMA XR 25): a warning when exceeded", "events": [n for n, _ in exceeded]})


def _level_check(values: DoseValues, level: ReferenceLevel | None, quantity: str) -> Check:
    """Without a protocol: the study's reference level, a warning above it (a reference level is not a dose limit)."""
    return reference_level_check(_CHECK_IDS[quantity], values, level, quantity, "warn",
                                 {"rule": "reference level (a warning above it; give --protocol for its rules)", "severity": "warn"})
