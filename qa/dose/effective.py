"""The effective dose: k-factor and reference-level tables, E = k x DLP event by event, DLP
estimated from headers (see :mod:`qa.dose`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Iterable

from qa.records.dose import LOCALIZER, PHANTOM_KEYS, DoseEvent, dlp_totals_disagree
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
    body_parts: tuple[str, ...] = ()  # BodyPartExamined (0018,0015) defined terms that select it (images without a report)
    name_patterns: tuple[str, ...] = ()  # words of a protocol or series name that say the exam was of this region


# How a reference level is compared (``ReferenceLevel.compares``).  A diagnostic reference level
# is compared with the median of a facility's exams, never with one exam (ICRP Publication 135,
# 2017, "Diagnostic reference levels in medical imaging", section 2); a per-exam alert level is
# compared with every exam, and the exams above it are counted.
MEDIAN, EACH_EXAM = "median", "each_exam"
COMPARISONS = (MEDIAN, EACH_EXAM)
# A level that gives both a DLP and an effective dose names the k it converts with; its mSv level
# must be the DLP level x k within this fraction (our proposal: a level rounded to two significant
# figures moves by up to 5 %), or an exam could pass one and exceed the other (qa issue 14).
LEVEL_K_TOLERANCE = 0.05


@dataclass(frozen=True)
class ReferenceLevel(Record):
    """A dose reference level: ``kind`` says who set it (``national`` | ``site``), ``compares``
    what it is compared with (``median``: a diagnostic reference level, against a group's median;
    ``each_exam``: a per-exam alert level, against every exam).  ``k_factor``: the k-factor id its
    ``dose_msv`` was derived with (``dose_msv`` = ``dlp_mgycm`` x k, :data:`LEVEL_K_TOLERANCE`)."""

    id: str
    name: str
    kind: str  # "national" | "site"
    compares: str  # "median" | "each_exam"
    source: str
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    dose_msv: float | None = None
    protocols: tuple[str, ...] = ()
    name_patterns: tuple[str, ...] = ()
    regions: tuple[tuple[str, str], ...] = ()
    k_factor: str | None = None

    @property
    def is_drl(self) -> bool:
        """A diagnostic reference level (audited against the median of many exams), not a per-exam alert level."""
        return self.compares == MEDIAN

    @property
    def what(self) -> str:
        """What kind of level it is, in words: who set it and how it is compared."""
        who = "national" if self.kind == "national" else "site"
        return f"{who} diagnostic reference level (audit level)" if self.is_drl else f"{who} per-exam alert level"


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

    def k_for_body_part(self, term: str | None) -> KFactor | None:
        """The k-factor a BodyPartExamined defined term selects (case ignored)."""
        if not term:
            return None
        return next((k for k in self.k_factors.values() if term.strip().upper() in k.body_parts), None)

    def k_for_names(self, names: Iterable[tuple[str, str | None]]) -> tuple[KFactor, str] | None:
        """The k-factor whose name patterns one of ``names`` ((attribute, text) pairs) contains, with
        that name quoted (``ProtocolName 'Coronary CTA'``)."""
        texts = [(field_, text) for field_, text in names if text]
        for k in self.k_factors.values():
            for pattern in k.name_patterns:
                hit = next(((f, t) for f, t in texts if pattern in t.lower()), None)
                if hit is not None:
                    return k, f"{hit[0]} {hit[1]!r}"
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
               *, protocol_k: str | None = None, event_uid: str | None = None, k_origin: str = "protocol",
               region: tuple[KFactor, str] | None = None) -> EventDose:
    """E of one event: the protocol's k, else the target region's (``region_code``, the dose report's
    Target Region; or ``region``, a k already chosen for the region with why, :func:`header_region`),
    else the phantom's default."""
    phantom = phantom if phantom in PHANTOM_KEYS else "unknown"
    if protocol_k is not None and protocol_k in tables.k_factors and phantom != "head16":
        k, how = tables.k_factors[protocol_k], k_origin
    elif region is not None:
        k, how = region[0], f"target region ({region[1]})"
    else:
        k, how = tables.k_for_region(region_code), "target region"
        if k is None:
            k, how = tables.k_factors[tables.defaults[phantom]], f"default for the {phantom} phantom (no protocol k, no known target region)"
    dose = None if dlp_mgycm is None else k.k_msv_per_mgycm * dlp_mgycm
    return EventDose(event_uid, dlp_mgycm, phantom, k.id, k.k_msv_per_mgycm, f"{k.id} by {how}: {k.source}", k.icrp_basis, dose)


def study_dose(events: Iterable[DoseEvent], tables: DoseTables, *, protocol_k: str | None = None,
               dlp_total_mgycm: float | None = None, k_origin: str = "protocol") -> DoseEstimate:
    """E of a study from its dose events, summed event by event with each event's own k.

    A lower bound (``lower_bound``, said in ``dlp_basis``) when a scan event has no DLP (a
    localizer without one is left out: vendors report none) or when the report's own total
    ``dlp_total_mgycm`` exceeds the events' sum (events missing from the report).
    """
    events = list(events)
    per_event = tuple(
        event_dose(e.dlp_mgycm, e.phantom, e.region_code, tables, protocol_k=protocol_k, event_uid=e.irradiation_event_uid,
                   k_origin=k_origin)
        for e in events
    )
    notes = []
    with_dlp = [e for e in per_event if e.dose_msv is not None]
    missing = [e for e, ev in zip(events, per_event) if ev.dose_msv is None]
    scans_missing = [e for e in missing if e.acquisition_type != LOCALIZER]
    if len(missing) > len(scans_missing):
        notes.append(f"{len(missing) - len(scans_missing)} localizer(s) without a DLP are not in the dose")
    if not with_dlp:
        return DoseEstimate(None, dlp_total_mgycm, "report total", None, "no event with a DLP", None, per_event, notes=tuple(notes))
    dose = sum(e.dose_msv for e in with_dlp)
    dlp_sum = sum(e.dlp_mgycm for e in with_dlp)
    short = []
    if scans_missing:
        short.append(f"{len(scans_missing)} scan event(s) without a DLP")
    if dlp_total_mgycm is not None and dlp_total_mgycm > dlp_sum and dlp_totals_disagree(dlp_total_mgycm, dlp_sum):
        short.append(f"the report's own DLP total {dlp_total_mgycm:g} exceeds its events' sum {dlp_sum:g} mGy cm")
    if short:
        notes.append(f"the effective dose is a lower bound: {'; '.join(short)}")
    phantoms = {e.phantom for e in with_dlp}
    if {"head16", "body32"} <= phantoms:
        notes.append("head (16 cm) and body (32 cm) phantom DLPs: summed as doses, event by event, never as one DLP")
    ks = {(e.k_id, e.k_msv_per_mgycm) for e in with_dlp}
    bases = {e.icrp_basis for e in with_dlp}
    one_k = len(ks) == 1
    return DoseEstimate(
        dose_msv=dose,
        dlp_mgycm=dlp_sum,
        dlp_basis="sum of events" + (f" (a lower bound: {'; '.join(short)})" if short else ""),
        k_msv_per_mgycm=with_dlp[0].k_msv_per_mgycm if one_k else None,
        k_source=with_dlp[0].k_source if one_k else "per event (regions or phantoms differ): see events",
        icrp_basis=bases.pop() if len(bases) == 1 else None,
        events=per_event,
        lower_bound=bool(short),
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


def header_region(tables: DoseTables, body_part: str | None,
                  names: Iterable[tuple[str, str | None]] = ()) -> tuple[KFactor, str] | None:
    """The k of the region images without a dose report show, and why: the k whose ``body_parts``
    hold their BodyPartExamined (as a dose report's Target Region selects one by its code); when
    the body part names none, or names the body phantom's default k (chest: scanners label cardiac
    exams CHEST, the heart lying in the chest), the k whose ``name_patterns`` a protocol or series
    name contains ("Coronary CTA": cardiac); ``names``: (attribute, text) pairs.  None: neither says (the phantom's default applies)."""
    by_part = tables.k_for_body_part(body_part)
    part = f"BodyPartExamined {body_part}" if body_part else None
    if by_part is None or by_part.id == tables.defaults.get("body32"):
        named = tables.k_for_names(names)
        if named is not None and (by_part is None or named[0].id != by_part.id):
            return named[0], f"{named[1]} names a {named[0].id} exam" + (f"; {part}" if part else "")
    return (by_part, part) if by_part is not None else None


def dose_from_headers(dlp_mgycm, lower_bound: bool, how: str, tables: DoseTables, *, protocol_k: str | None,
                      phantom: str = "body32", region_code=None, region: tuple[KFactor, str] | None = None) -> DoseEstimate:
    """E from a DLP estimated from headers (labelled as such); ``region``: :func:`header_region`."""
    if dlp_mgycm is None:
        return DoseEstimate(None, None, how, None, "no DLP", None)
    event = event_dose(dlp_mgycm, phantom, region_code, tables, protocol_k=protocol_k, region=region)
    return DoseEstimate(event.dose_msv, dlp_mgycm, ("lower bound from headers: " if lower_bound else "estimated from headers: ") + how,
                        event.k_msv_per_mgycm, event.k_source, event.icrp_basis, (event,), lower_bound=lower_bound)
