"""Daily phantom QA: per-insert scores, calibration, and checks against a procedure and a baseline.

``analyze_phantom(volume, definition, procedure, baseline)`` is pure: a loaded volume and the
definitions in, a :class:`PhantomResult` out (no clock, no files, no database).

Lesions are the 2-D components of :func:`qa.calcium.scoring.score_calcium`.  A lesion belongs to
an insert when its centroid lies within the insert's radius + 3 mm of the located insert axis
in-plane and within half the insert's length + one slice thickness along z; an insert is
detected when at least one kept lesion belongs to it, and its scores are the sums over those
lesions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa.calcium.calibration import Calibration, c_ha_from_rods
from qa.calcium.scoring import CalciumScore, ScoringSettings, score_calcium, scoring_settings
from qa.errors import InputError
from qa.phantom.baseline import Baseline, Configuration, MetricStats, baseline_from_results  # noqa: F401  (re-exported)
from qa.phantom.definition import PhantomDefinition
from qa.phantom.locate import PhantomLocation, locate_phantom
from qa.phantom.procedure import AcquisitionRule, MetricRule, PhantomProcedure
from qa.records.checks import FAIL, NOT_AVAILABLE, PASS, WARN, Check, matches, verdict
from qa.records.identity import ScannerIdentity
from qa.records.provenance import DefinitionRef
from qa.records.serialize import Record, to_jsonable
from qa.records.volume import CTVolume, VolumeSummary

# Assignment of lesions to inserts (the definition): in-plane margin beyond the insert
# radius, and along z one slice thickness beyond half the insert length.
ASSIGN_MARGIN_MM = 3.0
# Calibration ROIs cover the central 60 % of each rod's diameter (clear of its edge blur).
ROD_ROI_FRACTION = 0.6

Metrics = Mapping[str, float | None]


@dataclass(frozen=True)
class InsertResult(Record):
    id: str
    density_mgha_cm3: float
    diameter_mm: float
    detected: bool
    located: bool  # seen by the localiser (else its expected position was used)
    n_lesions: int
    agatston: float
    volume_mm3: float
    mass_mg: float | None
    physical_volume_mm3: float
    physical_mass_mg: float
    mass_error_pct: float | None
    peak_hu: float | None
    centroid_mm: tuple[float, float, float]


@dataclass(frozen=True)
class PhantomAcquisition(Record):
    """The acquisition settings of a phantom run, as the procedure's acquisition rules see them."""

    kvp: float | None
    slice_thickness_mm: float | None
    slice_increment_mm: float
    kernel: str | None
    ctdivol_mgy: float | None
    exposure_mas: float | None
    ring: str  # "none" | "large" | "unspecified" (told by the user: images do not show it reliably)
    acquisition_datetime: str | None  # ISO 8601 as the scanner wrote it


@dataclass(frozen=True)
class PhantomCalibration(Record):
    """The rods' calibration of a run (all None when the rods were not seen)."""

    water_hu: float | None
    ha200_hu: float | None
    c_ha_mg_per_cm3_hu: float | None
    noise_hu: float | None
    water_center_mm: tuple[float, float, float] | None
    ha200_center_mm: tuple[float, float, float] | None
    detail: Calibration | None = field(default=None, metadata={"json": False})


@dataclass(frozen=True)
class Totals(Record):
    """Totals over the detected inserts, beside the physical truth of all of them."""

    agatston: float
    volume_mm3: float
    mass_mg: float | None
    physical_mass_mg: float
    physical_volume_mm3: float
    n_detected: int


@dataclass(frozen=True)
class OtherLesions(Record):
    """Lesions inside the insert that belong to no calcification (noise)."""

    n_lesions: int
    agatston: float
    volume_mm3: float


@dataclass(frozen=True)
class PhantomResult(Record):
    """The analysis of one phantom scan (the body of the ``qa.phantom/1`` document; the workflow
    adds the analysis time, the toolkit version and where it was stored)."""

    phantom: str
    procedure: DefinitionRef
    scanner: ScannerIdentity
    series: VolumeSummary
    acquisition: PhantomAcquisition
    configuration: Configuration
    calibration: PhantomCalibration
    location: PhantomLocation
    settings: ScoringSettings
    inserts: tuple[InsertResult, ...]
    totals: Totals
    other_lesions: OtherLesions
    metrics: dict[str, float | None]
    checks: tuple[Check, ...]
    verdict: str
    verdict_message: str
    protocol_ok: bool
    baseline: Baseline | None
    warnings: tuple[str, ...] = ()
    phantom_ref: DefinitionRef | None = field(default=None, metadata={"json": False})
    sop_instance_uids: tuple[str, ...] = field(default=(), metadata={"json": False})

    @property
    def baseline_usable(self) -> bool:
        """Were the baseline checks run (a baseline of this configuration, the protocol followed)?"""
        return any(c.source.get("baseline_version") is not None and c.status != NOT_AVAILABLE
                   for c in self.checks if c.source.get("reference") == "baseline")


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def configuration_of(volume: CTVolume, procedure: PhantomProcedure, settings: ScoringSettings, ring: str) -> Configuration:
    """The acquisition configuration a baseline belongs to."""
    return Configuration(
        phantom=procedure.phantom,
        ring=ring,
        kvp=volume.info.kvp,
        kernel=volume.info.convolution_kernel,
        slice_thickness_mm=volume.slice_thickness_mm,
        scoring_method=settings.method,
        threshold_hu=settings.threshold_hu,
        threshold_rule=settings.threshold_rule,
        weight_breaks_hu=tuple(settings.weight_breaks_hu),
        min_area_mm2=settings.min_area_mm2,
        min_pixels=settings.min_pixels,
        connectivity=settings.connectivity,
        volume_method=settings.volume_method,
    )


def analyze_phantom(
    volume: CTVolume,
    definition: PhantomDefinition,
    procedure: PhantomProcedure,
    baseline: Baseline | None = None,
    *,
    settings: ScoringSettings | None = None,
    ring: str = "unspecified",
    no_baseline_reason: str | None = None,
) -> PhantomResult:
    """Locate, score and calibrate the phantom in ``volume`` and check it (see module doc).

    ``no_baseline_reason`` says why there is no ``baseline`` (default: the scanner has none yet);
    it goes into the checks and the verdict that could not be run."""
    if volume.value_unit != "HU":
        raise InputError(volume.info.first_file, "RescaleType", f"pixel values are in {volume.value_unit!r}, not HU",
                         hint="pass the CT images of the phantom scan")
    if definition.id != procedure.phantom:
        raise InputError(None, None, f"the procedure {procedure.id} is for phantom {procedure.phantom}, not {definition.id}",
                         hint="pass a procedure written for this phantom (--procedure)")
    settings = settings or scoring_settings(procedure.scoring_method)
    thickness = volume.slice_thickness_mm or volume.slice_increment_mm
    location = locate_phantom(volume.hu, volume.geometry, definition, slice_thickness_mm=thickness)
    xy = _plane_xy(volume)
    calibration, cal_warnings = _calibrate(volume, definition, location, xy)
    c_ha = calibration.c_ha_mg_per_cm3_hu if calibration else None
    score = _score_slab(volume, definition, location, thickness, settings, c_ha, xy)
    inserts, other = _assign(score, definition, location, thickness, c_ha)
    totals = _totals(inserts, definition, calibration is not None)
    metrics = _metrics(inserts, totals, calibration)
    metrics["ctdivol_mgy"] = volume.info.ctdivol_mgy
    metrics["exposure_mas"] = volume.info.exposure_mas
    configuration = configuration_of(volume, procedure, settings, ring)
    acquisition = PhantomAcquisition(
        kvp=volume.info.kvp,
        slice_thickness_mm=volume.slice_thickness_mm,
        slice_increment_mm=volume.slice_increment_mm,
        kernel=volume.info.convolution_kernel,
        ctdivol_mgy=volume.info.ctdivol_mgy,
        exposure_mas=volume.info.exposure_mas,
        ring=ring,
        acquisition_datetime=volume.info.acquisition_datetime,
    )
    changed = changed_keys(baseline, configuration)
    same_configuration = baseline is not None and not changed
    acq_checks = [_acquisition_check(rule, acquisition) for rule in procedure.acquisition]
    acq_checks += [
        _acquisition_vs_baseline(rule, acquisition, baseline if same_configuration else None)
        for rule in procedure.acquisition
        if rule.baseline_tolerance_pct is not None
    ]
    protocol_ok = all(c.status != FAIL for c in acq_checks)
    no_baseline = no_baseline_reason or "no baseline for this scanner yet"
    config_check = _configuration_check(baseline, configuration, changed, no_baseline)
    baseline_usable, baseline_reason = _baseline_usable(baseline, changed, protocol_ok, no_baseline)
    checks = acq_checks + [config_check]
    checks += [_rod_check(obj) for obj in location.objects if obj.kind == "rod"]
    checks += [_detection_check(insert_id, inserts, procedure.detection_severity) for insert_id in procedure.required_detections]
    tightened = baseline is not None and baseline.n_runs >= procedure.tighten_after_runs
    for rule in procedure.checks:
        checks.append(_metric_check(rule, metrics, inserts, baseline if baseline_usable else None, baseline_reason,
                                    tightened, procedure.tighten_sd))
    final = verdict(checks)
    message = _verdict_message(final, checks, protocol_ok, baseline, baseline_usable, baseline_reason)
    return PhantomResult(
        phantom=definition.id,
        procedure=procedure.ref,
        scanner=volume.info.scanner,
        series=volume.summary(),
        acquisition=acquisition,
        configuration=configuration,
        calibration=_calibration_record(calibration, location, definition),
        location=location,
        settings=score.settings,
        inserts=tuple(inserts),
        totals=totals,
        other_lesions=other,
        metrics=metrics,
        checks=tuple(checks),
        verdict=final,
        verdict_message=message,
        protocol_ok=protocol_ok,
        baseline=baseline,
        warnings=tuple(list(location.notes) + cal_warnings + list(score.warnings) + list(volume.notes)),
        phantom_ref=definition.ref,
        sop_instance_uids=volume.sop_instance_uids,
    )


def _calibration_record(cal: Calibration | None, location: PhantomLocation, definition: PhantomDefinition) -> PhantomCalibration:
    def centre(rod_id: str):
        return location.object(rod_id).center_mm if any(o.id == rod_id for o in location.objects) else None

    return PhantomCalibration(
        water_hu=cal.water_hu if cal else None,
        ha200_hu=cal.ha_hu if cal else None,
        c_ha_mg_per_cm3_hu=cal.c_ha_mg_per_cm3_hu if cal else None,
        noise_hu=cal.noise_hu if cal else None,
        water_center_mm=centre(definition.water_rod_id),
        ha200_center_mm=centre(definition.ha_rod_id),
        detail=cal,
    )


def _plane_xy(volume: CTVolume) -> tuple[np.ndarray, np.ndarray]:
    return volume.geometry.plane_xy(slice(0, volume.shape[1]), slice(0, volume.shape[2]))


def _calibrate(volume: CTVolume, definition: PhantomDefinition, location: PhantomLocation, xy) -> tuple[Calibration | None, list[str]]:
    """Mean HU of the water and HA rods in central ROIs over the rod slab; c_HA; noise."""
    water, ha = definition.water_rod, definition.ha_rod
    unseen = [rod.id for rod in (water, ha) if not location.object(rod.id).found]
    if unseen:
        # Never calibrate on a guessed position: a ROI half in the insert material shifts c_HA.
        return None, [f"the {', '.join(unseen)} rod was not seen: no mass calibration, masses are not available"]
    warnings: list[str] = []
    x, y = xy
    values = {}
    per_slice_sd = []
    for rod in (water, ha):
        cx, cy, _ = location.object(rod.id).center_mm
        radius = rod.diameter_mm / 2 * ROD_ROI_FRACTION
        i, j = volume.geometry.index_of(cx, cy)
        reach_r = int(math.ceil(radius / volume.pixel_spacing_mm[0])) + 2
        reach_c = int(math.ceil(radius / volume.pixel_spacing_mm[1])) + 2
        box = (slice(max(0, int(i) - reach_r), int(i) + reach_r + 1), slice(max(0, int(j) - reach_c), int(j) + reach_c + 1))
        disk = np.zeros(x.shape, dtype=bool)
        disk[box] = np.hypot(x[box] - cx, y[box] - cy) <= radius
        if not disk.any():
            return None, [f"the {rod.id} rod lies outside the image: no mass calibration"]
        inside = disk[box]
        stack = np.stack([volume.hu[k, box[0], box[1]][inside] for k in location.rod_slices]).astype(np.float64)
        values[rod.id] = stack
        if rod is water:
            # Noise: the SD within each slice, averaged (slow changes along z are not noise).
            per_slice_sd = [float(np.std(row, ddof=1)) for row in stack if row.size > 1]
    water_values, ha_values = values[water.id].ravel(), values[ha.id].ravel()
    if water_values.size < 2 or ha_values.size < 2:
        return None, ["the calibration ROIs hold too few pixels"]
    try:
        c_ha = c_ha_from_rods(water_hu=float(water_values.mean()), ha_hu=float(ha_values.mean()),
                              ha_density_mgha_cm3=ha.density_mgha_cm3)
    except ValueError as exc:
        return None, [f"no mass calibration: {exc}"]
    cal = Calibration(
        water_hu=float(water_values.mean()),
        water_sd_hu=float(np.mean(per_slice_sd)) if per_slice_sd else float(np.std(water_values, ddof=1)),
        ha_hu=float(ha_values.mean()),
        ha_density_mgha_cm3=ha.density_mgha_cm3,
        c_ha_mg_per_cm3_hu=c_ha,
        n_voxels_water=int(water_values.size),
        n_voxels_ha=int(ha_values.size),
    )
    return cal, warnings


def _score_slab(volume: CTVolume, definition: PhantomDefinition, location: PhantomLocation, thickness, settings, c_ha, xy):
    """Score inside the insert (clear of its wall) and around the calcification slab only."""
    x, y = xy
    cx, cy = location.insert_center_mm
    disk = np.hypot(x - cx, y - cy) <= definition.insert_diameter_mm / 2 - 2.0
    reach = max(c.length_mm for c in definition.calcifications) / 2 + thickness + 2.0
    z = np.array([p[2] for p in volume.image_positions_mm])
    slab = np.flatnonzero(np.abs(z - location.calcification_slab_z_mm) <= reach)
    sub = volume.hu[slab[0] : slab[-1] + 1]
    geometry = volume.geometry.sub_stack(int(slab[0]), int(slab[-1]) + 1)
    mask = np.broadcast_to(disk, sub.shape)
    return score_calcium(sub, volume.spacing_mm, settings, c_ha_mg_per_cm3_hu=c_ha, kvp=volume.info.kvp, mask=mask,
                         geometry=geometry)


def _assign(score: CalciumScore, definition, location, thickness, c_ha):
    """Sum the lesions of each insert; the rest (noise inside the insert) is reported apart."""
    owned: dict[str, list] = {c.id: [] for c in definition.calcifications}
    others = []
    for lesion in score.lesions:
        lx, ly, lz = lesion.centroid_mm
        best, best_d = None, math.inf
        for cyl in definition.calcifications:
            ox, oy, oz = location.object(cyl.id).center_mm
            d = math.hypot(lx - ox, ly - oy)
            if d <= cyl.diameter_mm / 2 + ASSIGN_MARGIN_MM and abs(lz - oz) <= cyl.length_mm / 2 + thickness and d < best_d:
                best, best_d = cyl.id, d
        (owned[best] if best is not None else others).append(lesion)
    results = []
    for cyl in definition.calcifications:
        lesions = owned[cyl.id]
        obj = location.object(cyl.id)
        detected = bool(lesions)
        area = sum(lesion.area_mm2 for lesion in lesions)
        if detected:
            centroid = tuple(
                float(sum(lesion.centroid_mm[i] * lesion.area_mm2 for lesion in lesions) / area) for i in range(3)
            )
        else:
            centroid = obj.center_mm
        # An insert with no lesion has no measured mass (null), not a mass of 0 mg.
        mass = sum(lesion.mass_mg for lesion in lesions) if c_ha is not None and detected else None
        results.append(
            InsertResult(
                id=cyl.id,
                density_mgha_cm3=cyl.density_mgha_cm3,
                diameter_mm=cyl.diameter_mm,
                detected=detected,
                located=obj.found,
                n_lesions=len(lesions),
                agatston=float(sum(lesion.agatston for lesion in lesions)),
                volume_mm3=float(sum(lesion.volume_mm3 for lesion in lesions)),
                mass_mg=float(mass) if mass is not None else None,
                physical_volume_mm3=cyl.physical_volume_mm3,
                physical_mass_mg=cyl.physical_mass_mg,
                mass_error_pct=(100.0 * (mass - cyl.physical_mass_mg) / cyl.physical_mass_mg) if mass is not None else None,
                peak_hu=max((lesion.peak_hu for lesion in lesions), default=None),
                centroid_mm=centroid,  # type: ignore[arg-type]
            )
        )
    other = OtherLesions(len(others), float(sum(lesion.agatston for lesion in others)),
                         float(sum(lesion.volume_mm3 for lesion in others)))
    return results, other


def _totals(inserts: list[InsertResult], definition: PhantomDefinition, calibrated: bool) -> Totals:
    # Totals are over the detected inserts (an undetected insert adds no scored calcium).
    return Totals(
        agatston=float(sum(i.agatston for i in inserts)),
        volume_mm3=float(sum(i.volume_mm3 for i in inserts)),
        mass_mg=float(sum(i.mass_mg for i in inserts if i.mass_mg is not None)) if calibrated else None,
        physical_mass_mg=float(sum(c.physical_mass_mg for c in definition.calcifications)),
        physical_volume_mm3=float(sum(c.physical_volume_mm3 for c in definition.calcifications)),
        n_detected=sum(1 for i in inserts if i.detected),
    )


def _metrics(inserts, totals, calibration) -> dict[str, float | None]:
    metrics: dict[str, float | None] = {}
    for insert in inserts:
        metrics[f"mass_{insert.id}"] = insert.mass_mg if insert.detected else None
        metrics[f"volume_{insert.id}"] = insert.volume_mm3 if insert.detected else None
        metrics[f"agatston_{insert.id}"] = insert.agatston if insert.detected else None
    metrics["total_mass"] = totals.mass_mg
    metrics["total_volume"] = totals.volume_mm3
    metrics["total_agatston"] = totals.agatston
    metrics["c_ha"] = calibration.c_ha_mg_per_cm3_hu if calibration else None
    metrics["water_hu"] = calibration.water_hu if calibration else None
    metrics["ha200_hu"] = calibration.ha_hu if calibration else None
    metrics["noise_hu"] = calibration.noise_hu if calibration else None
    return metrics


# --------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------


def _acquisition_check(rule: AcquisitionRule, acquisition: PhantomAcquisition) -> Check:
    check_id = f"acquisition_{rule.key}"
    value = getattr(acquisition, rule.key)
    source = {"rule": f"acquisition.{rule.key}", "severity": rule.severity} | rule.source_dict()
    expected = rule.describe()
    if rule.key == "ring" and value == "unspecified":
        return Check(check_id, NOT_AVAILABLE, None, expected, "the ring the phantom wore was not given (qa phantom --ring none|large)",
                     source)
    if value is None:
        return Check(check_id, NOT_AVAILABLE, None, expected, f"{rule.key} is not in the image headers", source)
    ok = _acquisition_matches(rule, value)
    status = PASS if ok else (FAIL if rule.severity == "fail" else WARN)
    message = (
        f"{rule.key} {value} as the procedure expects"
        if ok
        else f"{rule.key} is {value}, the procedure expects {expected}: a protocol change, not drift"
    )
    return Check(check_id, status, value, expected, message, source)


def _acquisition_vs_baseline(rule: AcquisitionRule, acquisition: PhantomAcquisition, baseline: Baseline | None) -> Check:
    """A technique setting (CTDIvol, mAs) against the baseline's: a change is a protocol change, not drift."""
    check_id = f"acquisition_{rule.key}_vs_baseline"
    value = getattr(acquisition, rule.key)
    pct = rule.baseline_tolerance_pct
    source = {"rule": f"acquisition.{rule.key}.baseline_tolerance_pct", "tolerance_pct": pct}
    stats = baseline.stats.get(rule.key) if baseline is not None else None
    if stats is None:
        why = "no baseline of this configuration" if baseline is None else f"the baseline holds no {rule.key}"
        return Check(check_id, NOT_AVAILABLE, value, None, f"{rule.key} not compared: {why}", source)
    if value is None:
        return Check(check_id, NOT_AVAILABLE, None, stats.mean, f"{rule.key} is not in the image headers", source)
    low, high = stats.mean * (1 - pct / 100.0), stats.mean * (1 + pct / 100.0)
    source.update(reference_value=stats.mean, baseline_version=baseline.version)
    deviation = 100.0 * (float(value) - stats.mean) / stats.mean if stats.mean else float("inf")
    if low <= float(value) <= high:
        return Check(check_id, PASS, value, [low, high], f"{rule.key} {value:.4g} as in the baseline ({stats.mean:.4g}, {deviation:+.1f} %)",
                     source)
    return Check(
        check_id, FAIL, value, [low, high],
        f"{rule.key} is {value:.4g}, the baseline's {stats.mean:.4g} ({deviation:+.1f} %, more than +-{pct:g} %): the technique "
        "changed, a protocol change, not drift; rescan with the QA protocol (or set a new baseline if the change is intended)",
        source,
    )


def changed_keys(baseline: Baseline | None, configuration: Configuration) -> list[str]:
    """The configuration keys in which a run differs from the baseline (none without a baseline)."""
    if baseline is None:
        return []
    mine, theirs = to_jsonable(configuration), to_jsonable(baseline.configuration)
    return sorted(k for k in set(mine) | set(theirs) if theirs.get(k) != mine.get(k))



def _configuration_check(baseline: Baseline | None, configuration: Configuration, changed: list[str], no_baseline: str) -> Check:
    """Is this run comparable with the scanner's baseline (same phantom ring, kV, kernel, thickness, scoring)?"""
    source = {"rule": "baseline.configuration"}
    if baseline is None:
        return Check("configuration", NOT_AVAILABLE, None, None, no_baseline, source)
    source["baseline_version"] = baseline.version
    if not changed:
        return Check("configuration", PASS, "as baseline", "as baseline",
                     f"same acquisition and scoring configuration as baseline version {baseline.version}", source)
    mine, theirs = to_jsonable(configuration), to_jsonable(baseline.configuration)
    listing = ", ".join(f"{k} {_plain(mine.get(k))} (baseline {_plain(theirs.get(k))})" for k in changed)
    source["changed"] = changed
    return Check(
        "configuration", WARN, ", ".join(changed), "as baseline",
        f"configuration change, not drift: {listing}; baseline checks are not available for this run (set a baseline "
        "for the new configuration once it has enough runs)",
        source,
    )


def _plain(value: Any) -> str:
    return "-" if value is None else str(value)


def _rod_check(obj) -> Check:
    check_id = f"rod_{obj.id}_found"
    if obj.found:
        return Check(check_id, PASS, "found", "found", f"{obj.id} rod found ({obj.contrast_hu:+.0f} HU against the insert)",
                     {"rule": "calibration.rods"})
    return Check(check_id, FAIL, "not found", "found",
                 f"the {obj.id} rod was not seen at its place: no mass calibration, masses and c_HA are not available",
                 {"rule": "calibration.rods"})


def _acquisition_matches(rule: AcquisitionRule, value: Any) -> bool:
    if rule.range is not None:
        try:
            return rule.range[0] <= float(value) <= rule.range[1]
        except (TypeError, ValueError):
            return False
    options = list(rule.allowed) if rule.allowed is not None else [rule.expected]
    return matches(value, options, tolerance=rule.tolerance, match=rule.match)


def _detection_check(insert_id: str, inserts: list[InsertResult], severity: str) -> Check:
    insert = next(i for i in inserts if i.id == insert_id)
    if insert.detected:
        return Check(f"detected_{insert_id}", PASS, "detected", "detected", f"insert {insert_id} detected ({insert.n_lesions} lesion(s))",
                     {"rule": "detection.required"})
    return Check(
        f"detected_{insert_id}", FAIL if severity == "fail" else WARN, "not detected", "detected",
        f"insert {insert_id} was not detected: no lesion >= the threshold within it", {"rule": "detection.required"},
    )


def _baseline_usable(baseline: Baseline | None, changed: list[str], protocol_ok: bool, no_baseline: str) -> tuple[bool, str]:
    if not protocol_ok:
        return False, "the acquisition deviates from the procedure: not compared with the baseline"
    if baseline is None:
        return False, no_baseline
    if changed:
        return False, f"the configuration differs from the baseline's ({', '.join(changed)})"
    return True, ""


def _metric_check(rule: MetricRule, metrics, inserts, baseline, reason, tightened, tighten_sd) -> Check:
    key = rule.metric_key
    value = metrics.get(key)
    source: dict[str, Any] = {"rule": rule.id, "reference": rule.reference, "metric": key}
    if rule.reference == "physical":
        insert = next(i for i in inserts if i.id == rule.insert)
        reference = insert.physical_mass_mg if rule.metric == "mass_mg" else insert.physical_volume_mm3
        source["reference_value"] = reference
    else:
        if baseline is None:
            return Check(rule.id, NOT_AVAILABLE, value, None, reason, source)
        stats = baseline.stats.get(key)
        if stats is None:
            return Check(rule.id, NOT_AVAILABLE, value, None, f"the baseline holds no value for {key}", source)
        reference = stats.mean
        source.update(reference_value=reference, baseline_version=baseline.version, baseline_n=stats.n, baseline_sd=stats.sd)
    if value is None:
        return Check(rule.id, NOT_AVAILABLE, None, None, f"{key} was not measured (insert not detected or no calibration)", source)
    tolerance = rule.tolerance * abs(reference) / 100.0 if rule.relative else rule.tolerance
    action = rule.action * abs(reference) / 100.0 if rule.relative else rule.action
    if tightened and rule.reference == "baseline" and stats.sd > 0:
        # With enough runs the limits tighten to the scanner's own spread, when that is narrower.
        action = min(action, tighten_sd * stats.sd)
        tolerance = min(tolerance, action * 2.0 / 3.0)
        source["tightened_to_sd"] = True
    low_t, high_t = reference - tolerance, reference + tolerance
    low_a, high_a = reference - action, reference + action
    source.update(tolerance=[low_t, high_t], action=[low_a, high_a])
    deviation = value - reference
    pct = 100.0 * deviation / reference if reference else float("nan")
    described = f"{value:.4g} vs {rule.reference} {reference:.4g} ({deviation:+.3g}, {pct:+.1f} %)"
    if low_t <= value <= high_t:
        return Check(rule.id, PASS, value, [low_t, high_t], f"{key} {described}: within tolerance", source)
    if low_a <= value <= high_a:
        return Check(rule.id, WARN, value, [low_t, high_t], f"{key} {described}: beyond tolerance, within action level", source)
    return Check(rule.id, FAIL, value, [low_t, high_t], f"{key} {described}: beyond the action level [{low_a:.4g}, {high_a:.4g}]", source)


def _verdict_message(final, checks, protocol_ok, baseline, usable, reason) -> str:
    failed = [c.id for c in checks if c.status == FAIL]
    warned = [c.id for c in checks if c.status == WARN]
    parts = []
    if not protocol_ok:
        parts.append("PROTOCOL CHANGE: the scan was not acquired as the procedure expects")
    if final == FAIL:
        parts.append(f"FAIL: {', '.join(failed)}")
    elif final == WARN:
        parts.append(f"PASS with warnings: {', '.join(warned)}")
    else:
        parts.append("PASS")
    if not usable:
        parts.append(f"baseline checks not available ({reason})")
    return "; ".join(parts)
