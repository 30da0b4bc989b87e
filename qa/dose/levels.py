"""An exam's (or study's) dose values as a reference level judges them, and the comparison with
the level (see :mod:`qa.dose`)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from collections.abc import Iterable

from qa.dose.effective import DoseEstimate, DoseTables, ReferenceLevel, dose_from_headers, estimated_dlp, header_region, study_dose
from qa.records.dose import LOCALIZER, DoseEvent, StudyDose, dlp_totals_disagree
from qa.records.headers import AcquisitionHeaders, ImageDose
from qa.records.plausibility import require_possible, unusual
from qa.records.serialize import Record


# ------------------------------------------------------------------------------------ reference levels


def reference_level_for(tables: DoseTables, *, protocol_id: str | None = None, names: Iterable[str | None] = (),
                        region_codes: Iterable[tuple[str, str] | None] = (),
                        named_level: str | None = None) -> tuple[ReferenceLevel | None, str]:
    """The reference level for an exam, and why it was chosen: the level the protocol names
    (``named_level``), else the protocol id, a name or the target region."""
    if named_level:
        for level in tables.reference_levels:
            if level.id == named_level:
                return level, f"named by protocol {protocol_id or ''}".rstrip()
    if protocol_id:
        for level in tables.reference_levels:
            if any(fnmatch.fnmatch(protocol_id, pattern) for pattern in level.protocols):
                return level, f"protocol {protocol_id} matches {level.id}"
    texts = [n.lower() for n in names if n]
    for level in tables.reference_levels:
        for pattern in level.name_patterns:
            hit = next((t for t in texts if pattern in t), None)
            if hit is not None:
                return level, f"name {hit!r} contains {pattern!r}"
    codes = {tuple(c) for c in region_codes if c}
    for level in tables.reference_levels:
        if codes & set(level.regions):
            return level, "target region"
    return None, "no reference level matches the protocol, the names or the target region"


# Which level reference_level_for picks decomposes over its inputs: the level the protocol names
# or whose protocols match the protocol id (step 0), else the first level in the table that any
# name matches (step 1), else the first level any target region matches (step 2).  Ranking each
# input alone (:func:`level_rank`), the study's level is the one of its smallest rank: what lets a
# database pick the level of every stored study from the few distinct values (qa.store.trends).
_STEP_PROTOCOL, _STEP_NAME, _STEP_REGION = 0, 1, 2


def level_rank(tables: DoseTables, *, protocol_id: str | None = None, named_level: str | None = None, name: str | None = None,
               region_code: tuple[str, str] | None = None) -> int | None:
    """The rank of one input of :func:`reference_level_for` (give the protocol, one name or one
    region code), None when it matches no level.  For a study, ``min`` of its inputs' ranks is the
    rank of the level :func:`reference_level_for` chooses from all of them together, and
    :func:`level_of_rank` gives that level."""
    given = [protocol_id is not None or named_level is not None, name is not None, region_code is not None]
    if sum(given) != 1:
        raise ValueError("rank one input at a time: the protocol (id and named level), a name, or a region code")
    level, _ = reference_level_for(tables, protocol_id=protocol_id, named_level=named_level, names=[name],
                                   region_codes=[region_code])
    if level is None:
        return None
    step = given.index(True)
    return step * len(tables.reference_levels) + tables.reference_levels.index(level)


def level_of_rank(tables: DoseTables, rank: int) -> ReferenceLevel:
    """The level a rank of :func:`level_rank` stands for."""
    return tables.reference_levels[rank % len(tables.reference_levels)]


@dataclass(frozen=True)
class ComparedDose(Record):
    """The DLP and CTDIvol of a dose report to compare with a reference level.

    Head (16 cm) and body (32 cm) phantom doses are not one quantity: with both in one study, only
    the body part is compared (``mixed``).  CTDIvol is the highest of the scan events (localizers
    left out).
    """

    dlp_mgycm: float | None
    ctdivol_mgy: float | None
    mixed: bool


def compared_dose(events: Iterable[DoseEvent], dlp_total_mgycm: float | None, dlp_by_phantom_mgycm: dict) -> ComparedDose:
    events = list(events)
    by_phantom = dlp_by_phantom_mgycm or {}
    mixed = bool(by_phantom.get("head16")) and bool(by_phantom.get("body32"))
    scans = [e.ctdivol_mgy for e in events if e.acquisition_type != "constant_angle" and e.ctdivol_mgy is not None
             and (not mixed or e.phantom == "body32")]
    return ComparedDose(by_phantom["body32"] if mixed else dlp_total_mgycm, max(scans) if scans else None, mixed)


# ------------------------------------------------------------------------------------ an exam's dose values


@dataclass(frozen=True)
class DoseValues(Record):
    """The CTDIvol, DLP and effective dose of one exam (or study) as compared with a reference
    level, each with where it came from.  ``body_subtotal``: the study mixes head (16 cm) and body
    (32 cm) phantom events, and the body part is what is compared.  ``ctdivol_lower_bound`` /
    ``dlp_lower_bound``: the value may be short of the truth (events without it), so a value
    below a level proves nothing.  ``from_report``: the values come from a dose report."""

    ctdivol_mgy: float | None
    ctdivol_source: str | None
    dlp_mgycm: float | None
    dlp_source: str
    effective: DoseEstimate
    body_subtotal: bool = False
    warnings: tuple[str, ...] = ()
    ctdivol_lower_bound: bool = False
    dlp_lower_bound: bool = False
    from_report: bool = False

    def value_of(self, quantity: str) -> float | None:
        return self.effective.dose_msv if quantity == "dose_msv" else getattr(self, quantity)

    def is_lower_bound(self, quantity: str) -> bool:
        return {"ctdivol_mgy": self.ctdivol_lower_bound, "dlp_mgycm": self.dlp_lower_bound}.get(quantity, self.effective.lower_bound)


def _judged_dlp(study: StudyDose, warnings: list[str]) -> tuple[float | None, str, bool]:
    """The DLP a reference level judges: never less than the sum of the events.  The report's own
    total when it agrees with them; when they disagree, the larger, flagged.  A lower bound when
    scan events have no DLP and no larger own total covers them.  (DLP, source, lower bound?)"""
    total = study.dlp_total_mgycm
    own = "dose report: CT Dose Length Product Total (DCM 113813)"
    known = [e.dlp_mgycm for e in study.events if e.dlp_mgycm is not None]
    events_sum = sum(known) if known else None
    scans_missing = any(e.dlp_mgycm is None and e.acquisition_type != LOCALIZER for e in study.events)
    if events_sum is None:
        return total, own if total is not None else "dose report: no DLP", False
    if total is None or not dlp_totals_disagree(total, events_sum):
        dlp, source = (events_sum, "dose report: sum of event DLPs") if total is None else (total, own)
    elif events_sum > total:
        warnings.append(f"the report's own DLP total {total:g} mGy cm is less than the sum of its events' DLP {events_sum:g} mGy cm: "
                        f"the larger, {events_sum:g}, is judged")
        dlp, source = events_sum, "dose report: sum of event DLPs (larger than the report's own total)"
    else:
        warnings.append(f"the report's own DLP total {total:g} mGy cm exceeds the sum of its events' DLP {events_sum:g} mGy cm: "
                        f"the larger, {total:g}, is judged")
        return total, own + " (larger than the sum of its events)", False
    if scans_missing:
        return dlp, source + " (a lower bound: scan events without a DLP)", True
    return dlp, source, False


def study_dlp_mgycm(study: StudyDose) -> float | None:
    """The study's total DLP over all its events, head and body phantoms alike: the report's own
    total, or the sum of its events when that is larger (:func:`_judged_dlp`).  This is the DLP
    the study's effective dose is computed over and the one stored as the study's
    ``dlp_total_mgycm``; a mixed head/body study is compared with a reference level by its body
    subtotal (``DoseValues.dlp_mgycm``) instead, which is never stored as the study's total."""
    return _judged_dlp(study, [])[0]


def dose_values_from_report(study: StudyDose, tables: DoseTables, *, protocol_k: str | None = None, k_origin: str = "protocol",
                            images: AcquisitionHeaders | ImageDose | None = None) -> DoseValues:
    """The dose of a study from its dose report(s).

    DLP: the report's own total, or the sum of the events when that is larger (flagged); the
    body subtotal when head and body phantom events are mixed.  A lower bound when scan events
    have no DLP.  CTDIvol: from the ``images``' headers when they give it, else the report
    event(s) whose Irradiation Event UID the images carry, else the highest of the report's scan
    events (with a warning when images were given but named no event: it may be another scan of
    the study); a lower bound when a scan event among them has none.
    """
    warnings: list[str] = []
    estimate = study_dose(study.events, tables, protocol_k=protocol_k, dlp_total_mgycm=study.dlp_total_mgycm, k_origin=k_origin)
    warnings += list(estimate.notes)
    dlp, dlp_source, dlp_lower = _judged_dlp(study, warnings)
    compared = compared_dose(study.events, dlp, study.dlp_by_phantom_mgycm)
    if compared.mixed:
        dlp, dlp_lower = compared.dlp_mgycm, estimate.lower_bound
        dlp_source = (f"dose report: body (32 cm) phantom subtotal; the head (16 cm) subtotal "
                      f"{study.dlp_by_phantom_mgycm['head16']:g} mGy cm is left out of the comparison")
        warnings.append("the dose report mixes head and body phantom events: DLP compared as the body subtotal")
    ctdivol = images.ctdivol_mgy if images is not None else None
    ctdivol_source = images.sources.get("ctdivol_mgy") if images is not None else None
    ctdivol_lower = False
    if ctdivol is None:
        uids = set(images.irradiation_event_uids) if images is not None else set()
        named = [e for e in study.events if e.irradiation_event_uid in uids]
        mine = [e for e in named if e.ctdivol_mgy is not None]
        scans = [e for e in study.events if e.acquisition_type != LOCALIZER and (not compared.mixed or e.phantom == "body32")]
        if mine:
            ctdivol = max(e.ctdivol_mgy for e in mine)
            ctdivol_lower = len(mine) < len(named)
            ctdivol_source = "dose report: Mean CTDIvol (DCM 113830) of the event(s) whose Irradiation Event UID the images carry"
        elif compared.ctdivol_mgy is not None:
            ctdivol = compared.ctdivol_mgy
            ctdivol_lower = any(e.ctdivol_mgy is None for e in scans)
            ctdivol_source = ("dose report: highest Mean CTDIvol (DCM 113830) of the scan events"
                              + (" of the body (32 cm) phantom" if compared.mixed else "") + " (localizers left out"
                              + ("; the images name no event, so this may be another scan of the study)" if images is not None else ")"))
            if images is not None:
                warnings.append("the images name no dose event: CTDIvol is the highest of the study's scans, "
                                "which may be another scan than the calcium score")
        if ctdivol_lower:
            ctdivol_source += " (a lower bound: scan events without a CTDIvol)"
            warnings.append("CTDIvol is a lower bound: some scan events of the dose report have none")
    return _plausible(DoseValues(ctdivol, ctdivol_source, dlp, dlp_source, estimate, compared.mixed, tuple(warnings),
                                 ctdivol_lower, dlp_lower, from_report=True))


def dose_values_from_headers(headers: AcquisitionHeaders, tables: DoseTables, *, protocol_k: str | None = None) -> DoseValues:
    """The dose of an exam without a dose report: CTDIvol from the headers, DLP estimated
    (:func:`estimated_dlp`; a lower bound when the collimation is unknown), labelled as such.  The
    k: the protocol's, else the region's from BodyPartExamined and the protocol and series names
    (:func:`qa.dose.effective.header_region`), else the body phantom's default."""
    h = headers
    centres = (h.scan_range_mm[1] - h.scan_range_mm[0]) if h.scan_range_mm else None
    dlp, how, lower_bound = estimated_dlp(h.ctdivol_mgy, total_collimation_mm=h.total_collimation_mm, covered_length_mm=h.coverage_mm,
                                          axial=h.acquisition_type in ("sequenced", "stationary"), centres_range_mm=centres)
    region = header_region(tables, h.body_part_examined, (("ProtocolName", h.protocol_name),
                                                                  ("SeriesDescription", h.series_description)))
    estimate = dose_from_headers(dlp, lower_bound, how, tables, protocol_k=protocol_k, region=region)
    warnings = ()
    if dlp is not None:
        warnings = (f"no dose report with the exam: DLP {'lower bound' if lower_bound else 'estimated'} from the headers ({how})",)
    return _plausible(DoseValues(h.ctdivol_mgy, h.sources.get("ctdivol_mgy"), dlp, estimate.dlp_basis, estimate, False, warnings,
                                 dlp_lower_bound=lower_bound))


def _plausible(values: DoseValues) -> DoseValues:
    """The last guard before a dose is judged: an impossible CTDIvol, DLP or effective dose (the
    readers refuse impossible inputs, so this catches a computation fed something they missed)
    raises ``ImpossibleValue``; an unusual one is flagged in the values' warnings."""
    notes = list(values.warnings)
    for quantity, value, field_ in (("ctdivol_mgy", values.ctdivol_mgy, values.ctdivol_source or "CTDIvol"),
                                    ("dlp_mgycm", values.dlp_mgycm, values.dlp_source or "DLP"),
                                    ("dose_msv", values.effective.dose_msv, "effective dose (k x DLP)")):
        if value is None:
            continue
        require_possible(quantity, value, path=None, field=field_)
        note = unusual(quantity, value, field="effective dose") if quantity == "dose_msv" else None
        if note and note not in notes:
            notes.append(note)
    return replace(values, warnings=tuple(notes)) if len(notes) != len(values.warnings) else values


# ------------------------------------------------------------------------------------ against a reference level

# The quantities a reference level gives, with their display units.
LEVEL_QUANTITIES = {"ctdivol_mgy": "mGy", "dlp_mgycm": "mGy cm", "dose_msv": "mSv"}
WITHIN, ABOVE, NO_VALUE, NO_LEVEL, LOWER_BOUND_WITHIN = "within", "above", "no_value", "no_level", "lower_bound_within"
# A diagnostic reference level (``compares = "median"``) beside one exam: shown for context, never judged.
AUDIT_LEVEL = "audit_level"


@dataclass(frozen=True)
class LevelComparison(Record):
    """One dose quantity against a reference level.  ``outcome``: ``within`` | ``above`` |
    ``no_value`` | ``no_level`` | ``lower_bound_within`` (a lower bound below the level proves
    nothing) | ``audit_level`` (the level is a diagnostic reference level, compared with the median
    of many exams: one exam is shown beside it, never judged by it)."""

    quantity: str  # ctdivol_mgy | dlp_mgycm | dose_msv
    value: float | None
    level: float | None
    unit: str
    outcome: str
    lower_bound: bool
    level_id: str | None
    level_kind: str | None
    level_source: str | None
    body_subtotal: bool
    message: str


def compare_with_level(values: DoseValues, level: ReferenceLevel | None, quantity: str) -> LevelComparison:
    """``quantity`` of ``values`` against ``level`` (the one comparison ``qa check`` and ``qa dose`` share)."""
    unit = LEVEL_QUANTITIES[quantity]
    value = values.value_of(quantity)
    limit = getattr(level, quantity, None) if level is not None else None
    lower = values.is_lower_bound(quantity)
    body = values.body_subtotal and quantity != "dose_msv"
    what = {"ctdivol_mgy": "CTDIvol", "dlp_mgycm": "DLP", "dose_msv": "effective dose"}[quantity]
    level_id = level.id if level is not None else None

    def out(outcome: str, message: str) -> LevelComparison:
        return LevelComparison(quantity, value, limit, unit, outcome, lower, level_id, level.kind if level else None,
                               level.source if level else None, body, message)

    k_note = ""
    if quantity == "dose_msv" and value is not None and limit is not None and level.k_factor is not None and not level.is_drl:
        ks = {e.k_id for e in values.effective.events if e.k_id is not None and e.dlp_mgycm}
        k = values.effective.k_msv_per_mgycm
        if ks and level.k_factor not in ks:
            if len(ks) > 1 or k is None or level.dlp_mgycm is None:
                return out(NO_LEVEL, f"{value:.4g} {unit} with k {', '.join(sorted(ks))}; the {level.id} {limit:g} {unit} level "
                                     f"assumes k {level.k_factor}: it does not apply to this k (the DLP level judges the exam)")
            # the level's mSv is its DLP level x its own k: with another k, the same DLP level x the k used,
            # so that the mSv and the DLP comparisons never contradict each other
            limit = level.dlp_mgycm * k
            k_note = (f" (its DLP level {level.dlp_mgycm:g} mGy cm x the k used, {k:g} ({next(iter(ks))}); "
                      f"its {level.dose_msv:g} mSv assumes k {level.k_factor})")
    if value is None:
        missing = f"no {what}: " + ("the dose report gives no usable value" if values.from_report
                                    else "neither a dose report nor the headers give it")
        if level is not None and level.is_drl and limit is not None:
            return out(AUDIT_LEVEL, f"{missing}; {_audit_note(level, limit, unit)}")
        return out(NO_VALUE, missing)
    if limit is None:
        return out(NO_LEVEL, f"{value:.4g} {unit}; " + (f"{level.id} gives no {what} level" if level is not None
                                                        else f"no reference level for {what}"))
    if level.is_drl:
        bound = " (a lower bound)" if lower else ""
        return out(AUDIT_LEVEL, f"{value:.4g} {unit}{bound} for this exam; {_audit_note(level, limit, unit)}")
    kind = level.what
    if lower and value <= limit:
        why = "no dose report, no collimation" if not values.from_report else "the dose report lacks values"
        return out(LOWER_BOUND_WITHIN, f"{value:.4g} {unit} is only a lower bound ({why}): it cannot show "
                                       f"the exam stayed within the {kind} {limit:g} {unit} ({level.id})")
    bound = " (a lower bound)" if lower else ""
    outcome = WITHIN if value <= limit else ABOVE
    return out(outcome, f"{value:.4g} {unit}{bound} {'within' if outcome == WITHIN else 'above'} the {kind} {limit:g} {unit} "
                        f"({level.id}){k_note}")


def _audit_note(level: ReferenceLevel, limit: float, unit: str) -> str:
    return (f"{level.id} {limit:g} {unit} is a {level.what}: compare the median of many exams with it "
            "(qa trends dose), not one exam")


def level_status(comparison: LevelComparison, severity: str) -> str:
    """The status of a comparison: ``pass`` within the level, ``severity`` (``warn`` or ``fail``, from
    the protocol's rule; a reference level is not a dose limit, so ``warn`` without one) above it,
    ``not_applicable`` beside a diagnostic reference level (an audit level judges a median, never one
    exam), ``not_available`` when it cannot be judged."""
    if comparison.outcome == WITHIN:
        return "pass"
    if comparison.outcome == ABOVE:
        return severity
    if comparison.outcome == AUDIT_LEVEL:
        return "not_applicable"
    return "not_available"
