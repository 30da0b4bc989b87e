"""CTDIvol, DLP and effective dose: k-factors, reference levels, DLP estimated from headers.

E = k x DLP.  The k comes from the protocol, else from the event's target region (a table in
``procedures/dose-reference.toml`` with its sources), else a labelled default chosen by the
event's CTDI phantom.  Every mSv value carries its k, ``k_source`` and ``icrp_basis`` (60 or 103).
Head (16 cm) and body (32 cm) phantom DLPs are never added into one dose estimate: the dose is
summed event by event, each with its own k.

Pure functions over records; the tables are loaded by :func:`qa.procedures.load_dose_tables`.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, replace
from collections.abc import Iterable

from qa.records.dose import PHANTOM_KEYS, DoseEvent, StudyDose  # PHANTOM_KEYS: the dose report's CTDI phantom keys
from qa.records.headers import AcquisitionHeaders
from qa.records.plausibility import require_possible, unusual
from qa.records.provenance import DefinitionRef
from qa.records.serialize import Record


@dataclass(frozen=True)
class KFactor(Record):
    id: str
    name: str
    k_msv_per_mgycm: float
    icrp_basis: int
    source: str
    regions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReferenceLevel(Record):
    id: str
    name: str
    kind: str  # "national" | "site"
    source: str
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    dose_msv: float | None = None
    protocols: tuple[str, ...] = ()
    name_patterns: tuple[str, ...] = ()
    regions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DoseTables(Record):
    """The k-factors and reference levels of ``procedures/dose-reference.toml`` (or a site's own file)."""

    k_factors: dict[str, KFactor]
    defaults: dict[str, str]  # phantom key -> k-factor id
    reference_levels: tuple[ReferenceLevel, ...]
    path: str
    sha256: str

    @property
    def ref(self) -> DefinitionRef:
        return DefinitionRef("dose-tables", "k-factors and reference levels", "", self.path, self.sha256)

    def k_for_region(self, code: tuple[str, str] | None) -> KFactor | None:
        if code is None:
            return None
        for k in self.k_factors.values():
            if tuple(code) in k.regions:
                return k
        return None


@dataclass(frozen=True)
class EventDose(Record):
    """The effective dose of one irradiation event."""

    irradiation_event_uid: str | None
    dlp_mgycm: float | None
    phantom: str
    k_id: str | None
    k_msv_per_mgycm: float | None
    k_source: str
    icrp_basis: int | None
    dose_msv: float | None



@dataclass(frozen=True)
class DoseEstimate(Record):
    """A study's effective dose with its provenance (never a bare number)."""

    dose_msv: float | None
    dlp_mgycm: float | None  # the DLP the dose was computed from
    dlp_basis: str  # "report total" | "sum of events" | "estimated from headers" | "lower bound from headers"
    k_msv_per_mgycm: float | None  # one k when all events share it, else None (see events)
    k_source: str
    icrp_basis: int | None
    events: tuple[EventDose, ...] = ()
    lower_bound: bool = False
    notes: tuple[str, ...] = field(default=())



# ------------------------------------------------------------------------------------ dose


def event_dose(dlp_mgycm: float | None, phantom: str | None, region_code: tuple[str, str] | None, tables: DoseTables,
               *, protocol_k: str | None = None, event_uid: str | None = None, k_origin: str = "protocol") -> EventDose:
    """E of one event: the protocol's k, else the target region's, else the phantom's default."""
    phantom = phantom if phantom in PHANTOM_KEYS else "unknown"
    if protocol_k is not None and protocol_k in tables.k_factors and phantom != "head16":
        k, how = tables.k_factors[protocol_k], k_origin
    else:
        k, how = tables.k_for_region(region_code), "target region"
        if k is None:
            k, how = tables.k_factors[tables.defaults[phantom]], f"default for the {phantom} phantom (no protocol k, no known target region)"
    dose = None if dlp_mgycm is None else k.k_msv_per_mgycm * dlp_mgycm
    return EventDose(event_uid, dlp_mgycm, phantom, k.id, k.k_msv_per_mgycm, f"{k.id} by {how}: {k.source}", k.icrp_basis, dose)


def study_dose(events: Iterable[DoseEvent], tables: DoseTables, *, protocol_k: str | None = None,
               dlp_total_mgycm: float | None = None, k_origin: str = "protocol") -> DoseEstimate:
    """E of a study from its dose events, summed event by event with each event's own k.

    ``dlp_total_mgycm`` (the report's own total) is compared with the events' sum: when they
    differ (events missing from the report) the dose rests on the events and says so.
    """
    per_event = tuple(
        event_dose(e.dlp_mgycm, e.phantom, e.region_code, tables, protocol_k=protocol_k, event_uid=e.irradiation_event_uid,
                   k_origin=k_origin)
        for e in events
    )
    notes = []
    with_dlp = [e for e in per_event if e.dose_msv is not None]
    missing = [e for e in per_event if e.dose_msv is None]
    if missing:
        notes.append(f"{len(missing)} event(s) without a DLP are not in the dose")
    if not with_dlp:
        return DoseEstimate(None, dlp_total_mgycm, "report total", None, "no event with a DLP", None, per_event, notes=tuple(notes))
    dose = sum(e.dose_msv for e in with_dlp)
    dlp_sum = sum(e.dlp_mgycm for e in with_dlp)
    if dlp_total_mgycm is not None and abs(dlp_total_mgycm - dlp_sum) > max(0.5, 0.005 * dlp_total_mgycm):
        notes.append(f"the report's DLP total {dlp_total_mgycm:g} differs from its events' sum {dlp_sum:g} mGy cm; the dose uses the events")
    phantoms = {e.phantom for e in with_dlp}
    if {"head16", "body32"} <= phantoms:
        notes.append("head (16 cm) and body (32 cm) phantom DLPs: summed as doses, event by event, never as one DLP")
    ks = {(e.k_id, e.k_msv_per_mgycm) for e in with_dlp}
    bases = {e.icrp_basis for e in with_dlp}
    one_k = len(ks) == 1
    return DoseEstimate(
        dose_msv=dose,
        dlp_mgycm=dlp_sum,
        dlp_basis="sum of events",
        k_msv_per_mgycm=with_dlp[0].k_msv_per_mgycm if one_k else None,
        k_source=with_dlp[0].k_source if one_k else "per event (regions or phantoms differ): see events",
        icrp_basis=bases.pop() if len(bases) == 1 else None,
        events=per_event,
        notes=tuple(notes),
    )


def estimated_dlp(ctdivol_mgy: float | None, *, total_collimation_mm: float | None, covered_length_mm: float | None,
                  axial: bool, centres_range_mm: float | None = None) -> tuple[float | None, str, bool]:
    """DLP from image headers when there is no dose report: (DLP mGy cm, how, lower bound?).

    CTDIvol x irradiated length.  For an axial (step-and-shoot) scan with a known total
    collimation, the irradiated length is the number of rotations needed to hold the slice
    centres (``centres_range_mm``, first to last image position; the covered length when not
    given) times the collimation: an estimate (overlapping steps would add more).  Otherwise it is
    the covered (reconstructed) length, which misses over-ranging and penumbra: a lower bound.
    """
    if ctdivol_mgy is None:
        return None, "no CTDIvol in the headers", False
    if not covered_length_mm:
        return None, "no scanned length in the headers", False
    if axial and total_collimation_mm:
        span = centres_range_mm if centres_range_mm is not None else covered_length_mm
        rotations = max(1, math.ceil(span / total_collimation_mm - 1e-6))
        length = rotations * total_collimation_mm
        return (ctdivol_mgy * length / 10.0,
                f"CTDIvol x {rotations} axial rotation(s) x {total_collimation_mm:g} mm total collimation "
                f"(slice centres over {span:g} mm)", False)
    return ctdivol_mgy * covered_length_mm / 10.0, f"CTDIvol x covered length {covered_length_mm:g} mm (lower bound)", True


def dose_from_headers(dlp_mgycm, lower_bound: bool, how: str, tables: DoseTables, *, protocol_k: str | None,
                      phantom: str = "body32", region_code=None) -> DoseEstimate:
    """E from a DLP estimated from headers (labelled as such)."""
    if dlp_mgycm is None:
        return DoseEstimate(None, None, how, None, "no DLP", None)
    event = event_dose(dlp_mgycm, phantom, region_code, tables, protocol_k=protocol_k)
    return DoseEstimate(event.dose_msv, dlp_mgycm, ("lower bound from headers: " if lower_bound else "estimated from headers: ") + how,
                        event.k_msv_per_mgycm, event.k_source, event.icrp_basis, (event,), lower_bound=lower_bound)


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
    (32 cm) phantom events, and the body part is what is compared."""

    ctdivol_mgy: float | None
    ctdivol_source: str | None
    dlp_mgycm: float | None
    dlp_source: str
    effective: DoseEstimate
    body_subtotal: bool = False
    warnings: tuple[str, ...] = ()


def dose_values_from_report(study: StudyDose, tables: DoseTables, *, protocol_k: str | None = None, k_origin: str = "protocol",
                            images: AcquisitionHeaders | None = None) -> DoseValues:
    """The dose of a study from its dose report(s).

    DLP: the report's own total (the body subtotal when head and body phantom events are mixed).
    CTDIvol: from the ``images``' headers when they give it, else the report event(s) whose
    Irradiation Event UID the images carry, else the highest of the report's scan events (with a
    warning when images were given but named no event: it may be another scan of the study).
    """
    warnings: list[str] = []
    total = study.dlp_total_mgycm
    estimate = study_dose(study.events, tables, protocol_k=protocol_k, dlp_total_mgycm=total, k_origin=k_origin)
    warnings += list(estimate.notes)
    dlp = total if total is not None else estimate.dlp_mgycm
    dlp_source = "dose report: CT Dose Length Product Total (DCM 113813)" if total is not None else "dose report: sum of event DLPs"
    compared = compared_dose(study.events, total, study.dlp_by_phantom_mgycm)
    if compared.mixed:
        dlp = compared.dlp_mgycm
        dlp_source = (f"dose report: body (32 cm) phantom subtotal; the head (16 cm) subtotal "
                      f"{study.dlp_by_phantom_mgycm['head16']:g} mGy cm is left out of the comparison")
        warnings.append("the dose report mixes head and body phantom events: DLP compared as the body subtotal")
    ctdivol = images.ctdivol_mgy if images is not None else None
    ctdivol_source = images.sources.get("ctdivol_mgy") if images is not None else None
    if ctdivol is None:
        uids = set(images.irradiation_event_uids) if images is not None else set()
        mine = [e for e in study.events if e.irradiation_event_uid in uids and e.ctdivol_mgy is not None]
        if mine:
            ctdivol = max(e.ctdivol_mgy for e in mine)
            ctdivol_source = "dose report: Mean CTDIvol (DCM 113830) of the event(s) whose Irradiation Event UID the images carry"
        elif compared.ctdivol_mgy is not None:
            ctdivol = compared.ctdivol_mgy
            ctdivol_source = ("dose report: highest Mean CTDIvol (DCM 113830) of the scan events"
                              + (" of the body (32 cm) phantom" if compared.mixed else "") + " (localizers left out"
                              + ("; the images name no event, so this may be another scan of the study)" if images is not None else ")"))
            if images is not None:
                warnings.append("the images name no dose event: CTDIvol is the highest of the study's scans, "
                                "which may be another scan than the calcium score")
    return _plausible(DoseValues(ctdivol, ctdivol_source, dlp, dlp_source, estimate, compared.mixed, tuple(warnings)))


def dose_values_from_headers(headers: AcquisitionHeaders, tables: DoseTables, *, protocol_k: str | None = None) -> DoseValues:
    """The dose of an exam without a dose report: CTDIvol from the headers, DLP estimated
    (:func:`estimated_dlp`; a lower bound when the collimation is unknown), labelled as such."""
    h = headers
    centres = (h.scan_range_mm[1] - h.scan_range_mm[0]) if h.scan_range_mm else None
    dlp, how, lower_bound = estimated_dlp(h.ctdivol_mgy, total_collimation_mm=h.total_collimation_mm, covered_length_mm=h.coverage_mm,
                                          axial=h.acquisition_type in ("sequenced", "stationary"), centres_range_mm=centres)
    estimate = dose_from_headers(dlp, lower_bound, how, tables, protocol_k=protocol_k)
    warnings = ()
    if dlp is not None:
        warnings = (f"no dose report with the exam: DLP {'lower bound' if lower_bound else 'estimated'} from the headers ({how})",)
    return _plausible(DoseValues(h.ctdivol_mgy, h.sources.get("ctdivol_mgy"), dlp, estimate.dlp_basis, estimate, False, warnings))


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


@dataclass(frozen=True)
class LevelComparison(Record):
    """One dose quantity against a reference level.  ``outcome``: ``within`` | ``above`` |
    ``no_value`` | ``no_level`` | ``lower_bound_within`` (a lower bound below the level proves
    nothing)."""

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
    value = values.effective.dose_msv if quantity == "dose_msv" else getattr(values, quantity)
    limit = getattr(level, quantity, None) if level is not None else None
    lower = quantity != "ctdivol_mgy" and values.effective.lower_bound
    body = values.body_subtotal and quantity != "dose_msv"
    what = {"ctdivol_mgy": "CTDIvol", "dlp_mgycm": "DLP", "dose_msv": "effective dose"}[quantity]
    level_id = level.id if level is not None else None

    def out(outcome: str, message: str) -> LevelComparison:
        return LevelComparison(quantity, value, limit, unit, outcome, lower, level_id, level.kind if level else None,
                               level.source if level else None, body, message)

    if value is None:
        return out(NO_VALUE, f"no {what}: neither a dose report nor the headers give it")
    if limit is None:
        return out(NO_LEVEL, f"{value:.4g} {unit}; no reference level for {what}" + (f" in {level.id}" if level is not None else ""))
    kind = "site-defined level" if level.kind == "site" else "national DRL"
    if lower and value <= limit:
        return out(LOWER_BOUND_WITHIN, f"{value:.4g} {unit} is only a lower bound (no dose report, no collimation): it cannot show "
                                       f"the exam stayed within the {kind} {limit:g} {unit} ({level.id})")
    bound = " (a lower bound)" if lower else ""
    outcome = WITHIN if value <= limit else ABOVE
    return out(outcome, f"{value:.4g} {unit}{bound} {'within' if outcome == WITHIN else 'above'} the {kind} {limit:g} {unit} ({level.id})")


def level_status(comparison: LevelComparison, severity: str) -> str:
    """The status of a comparison: ``pass`` within the level, ``severity`` (``warn`` or ``fail``, from
    the protocol's rule; a reference level is not a dose limit, so ``warn`` without one) above it,
    ``not_available`` when it cannot be judged."""
    if comparison.outcome == WITHIN:
        return "pass"
    if comparison.outcome == ABOVE:
        return severity
    return "not_available"
