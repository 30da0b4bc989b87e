"""CTDIvol, DLP and effective dose: k-factors, reference levels, DLP estimated from headers.

E = k x DLP.  The k comes from the protocol, else from the event's target region (a table in
``procedures/dose-reference.toml`` with its sources), else a labelled default chosen by the
event's CTDI phantom.  Every mSv value carries its k, ``k_source`` and ``icrp_basis`` (60 or 103).
Head (16 cm) and body (32 cm) phantom DLPs are never added into one dose estimate: the dose is
summed event by event, each with its own k.

Pure functions over records; loading the tables is the only I/O (``load_dose_tables``).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from qa.dicom.rdsr_codes import PHANTOM_KEYS  # the dose report's CTDI phantom keys
from qa.errors import DefinitionError


@dataclass(frozen=True)
class KFactor:
    id: str
    name: str
    k_msv_per_mgycm: float
    icrp_basis: int
    source: str
    regions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReferenceLevel:
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

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "kind": self.kind, "source": self.source, "ctdivol_mgy": self.ctdivol_mgy,
                "dlp_mgycm": self.dlp_mgycm, "dose_msv": self.dose_msv}


@dataclass(frozen=True)
class DoseTables:
    k_factors: dict[str, KFactor]
    defaults: dict[str, str]  # phantom key -> k-factor id
    reference_levels: tuple[ReferenceLevel, ...]
    path: str
    sha256: str

    def k_for_region(self, code: tuple[str, str] | None) -> KFactor | None:
        if code is None:
            return None
        for k in self.k_factors.values():
            if tuple(code) in k.regions:
                return k
        return None


@dataclass(frozen=True)
class EventDose:
    """The effective dose of one irradiation event."""

    irradiation_event_uid: str | None
    dlp_mgycm: float | None
    phantom: str
    k_id: str | None
    k_msv_per_mgycm: float | None
    k_source: str
    icrp_basis: int | None
    dose_msv: float | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DoseEstimate:
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

    def to_dict(self) -> dict:
        return {
            "dose_msv": self.dose_msv, "dlp_mgycm": self.dlp_mgycm, "dlp_basis": self.dlp_basis,
            "k_msv_per_mgycm": self.k_msv_per_mgycm, "k_source": self.k_source, "icrp_basis": self.icrp_basis,
            "lower_bound": self.lower_bound, "events": [e.to_dict() for e in self.events], "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------------ loading


def load_dose_tables(name_or_path: str | Path = "dose-reference") -> DoseTables:
    """The k-factor and reference-level tables (built-in by id, or a site's own file by path)."""
    from qa.procedures.common import read_definition

    data, path, sha256 = read_definition(name_or_path, what="dose-table", available=lambda: ["dose-reference"])
    where = str(path)
    if (data.get("tables") or {}).get("kind") != "dose-tables":
        raise DefinitionError(where, "tables.kind", "must be 'dose-tables'")
    k_factors: dict[str, KFactor] = {}
    for n, item in enumerate(data.get("k_factors") or []):
        key = f"k_factors[{n}]"
        k_id = _text(item, "id", key, where)
        if k_id in k_factors:
            raise DefinitionError(where, f"{key}.id", f"duplicate k-factor id {k_id!r}")
        k = _number(item, "k_msv_per_mgycm", key, where)
        if not 0 < k < 1:
            raise DefinitionError(where, f"{key}.k_msv_per_mgycm", f"must be between 0 and 1 mSv/(mGy cm), got {k}")
        basis = item.get("icrp_basis")
        if basis not in (60, 103):
            raise DefinitionError(where, f"{key}.icrp_basis", f"must be 60 or 103, got {basis!r}")
        k_factors[k_id] = KFactor(k_id, _text(item, "name", key, where), k, basis, _text(item, "source", key, where),
                                  _codes(item.get("regions", []), f"{key}.regions", where))
    if not k_factors:
        raise DefinitionError(where, "k_factors", "at least one k-factor is needed")
    defaults = data.get("defaults") or {}
    for phantom in PHANTOM_KEYS:
        if defaults.get(phantom) not in k_factors:
            raise DefinitionError(where, f"defaults.{phantom}", f"must name a k-factor id ({', '.join(k_factors)})")
    levels = []
    for n, item in enumerate(data.get("reference_levels") or []):
        key = f"reference_levels[{n}]"
        kind = item.get("kind")
        if kind not in ("national", "site"):
            raise DefinitionError(where, f"{key}.kind", f"must be 'national' or 'site', got {kind!r}")
        values = {}
        for quantity in ("ctdivol_mgy", "dlp_mgycm", "dose_msv"):
            if quantity in item:
                values[quantity] = _number(item, quantity, key, where)
        if not values:
            raise DefinitionError(where, key, "gives no level (ctdivol_mgy, dlp_mgycm or dose_msv)")
        levels.append(ReferenceLevel(
            id=_text(item, "id", key, where), name=_text(item, "name", key, where), kind=kind,
            source=_text(item, "source", key, where), protocols=tuple(item.get("protocols", [])),
            name_patterns=tuple(p.lower() for p in item.get("name_patterns", [])),
            regions=_codes(item.get("regions", []), f"{key}.regions", where), **values,
        ))
    return DoseTables(k_factors, {p: defaults[p] for p in PHANTOM_KEYS}, tuple(levels), where, sha256)


def _text(item: dict, key: str, where: str, path: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(path, f"{where}.{key}", "is missing or is not a text")
    return value.strip()


def _number(item: dict, key: str, where: str, path: str) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise DefinitionError(path, f"{where}.{key}", f"must be a non-negative number, got {value!r}")
    return float(value)


def _codes(value: Any, where: str, path: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not all(isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c) for c in value):
        raise DefinitionError(path, where, 'must be a list of ["CodeValue", "CodingSchemeDesignator"] pairs')
    return tuple((c[0], c[1]) for c in value)


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


def region_of(event: Any) -> tuple[str, str] | None:
    """The (CodeValue, CodingSchemeDesignator) of an event's target region, if it has one."""
    code, scheme = getattr(event, "target_region_code", None), getattr(event, "target_region_scheme", None)
    return (str(code), str(scheme)) if code and scheme else None


def study_dose(events: Iterable[Any], tables: DoseTables, *, protocol_k: str | None = None,
               dlp_total_mgycm: float | None = None, k_origin: str = "protocol") -> DoseEstimate:
    """E of a study from its dose events (:class:`qa.dicom.rdsr.DoseEvent`: ``dlp_mgycm``, ``phantom``,
    ``target_region_code`` / ``_scheme`` and ``irradiation_event_uid``), summed event by event with each event's own k.

    ``dlp_total_mgycm`` (the report's own total) is compared with the events' sum: when they
    differ (events missing from the report) the dose rests on the events and says so.
    """
    per_event = tuple(
        event_dose(getattr(e, "dlp_mgycm", None), getattr(e, "phantom", None), region_of(e), tables,
                   protocol_k=protocol_k, event_uid=getattr(e, "irradiation_event_uid", None), k_origin=k_origin)
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
class ComparedDose:
    """The DLP and CTDIvol of a dose report to compare with a reference level.

    Head (16 cm) and body (32 cm) phantom doses are not one quantity: with both in one study, only
    the body part is compared (``mixed``).  CTDIvol is the highest of the scan events (localizers
    left out).
    """

    dlp_mgycm: float | None
    ctdivol_mgy: float | None
    mixed: bool


def compared_dose(events: Iterable[Any], dlp_total_mgycm: float | None, dlp_by_phantom_mgycm: dict) -> ComparedDose:
    events = list(events)
    by_phantom = dlp_by_phantom_mgycm or {}
    mixed = bool(by_phantom.get("head16")) and bool(by_phantom.get("body32"))
    scans = [e.ctdivol_mgy for e in events if e.acquisition_type != "constant_angle" and e.ctdivol_mgy is not None
             and (not mixed or e.phantom == "body32")]
    return ComparedDose(by_phantom["body32"] if mixed else dlp_total_mgycm, max(scans) if scans else None, mixed)
