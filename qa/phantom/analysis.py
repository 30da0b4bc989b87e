"""Daily phantom QA: per-insert scores, calibration, and checks against a procedure and a baseline.

``analyze_phantom(volume, definition, procedure, baseline)`` is pure: a loaded volume and the
definitions in, a :class:`~qa.phantom.result.PhantomResult` out (no clock, no files, no
database).  The checks themselves are :mod:`qa.phantom.checks`; the baseline and its
configuration :mod:`qa.phantom.baseline`.

Lesions are the 2-D components of :func:`qa.calcium.scoring.score_calcium`.  A lesion belongs to
an insert when its centroid lies within the insert's radius + 3 mm of the located insert axis
in-plane and within half the insert's length + one slice thickness along z; an insert is
detected when at least one kept lesion belongs to it, and its scores are the sums over those
lesions.
"""

from __future__ import annotations

import math

import numpy as np

from qa.calcium.calibration import Calibration, c_ha_from_rods
from qa.calcium.scoring import CalciumScore, ScoringSettings, score_calcium, scoring_settings
from qa.errors import InputError, UsageError
from qa.phantom.baseline import Baseline, Configuration, Metrics, MetricStats, baseline_from_results  # noqa: F401  (re-exported)
from qa.phantom.checks import (
    acquisition_check,
    acquisition_vs_baseline,
    baseline_usable,
    changed_keys,
    configuration_check,
    detection_check,
    metric_check,
    rod_check,
    verdict_message,
)
from qa.phantom.definition import PhantomDefinition
from qa.phantom.result import (  # noqa: F401  (re-exported: the result records of the analysis)
    InsertResult,
    OtherLesions,
    PhantomAcquisition,
    PhantomCalibration,
    PhantomResult,
    Totals,
)
from qa.phantom.locate import PhantomLocation, locate_phantom
from qa.phantom.procedure import PhantomProcedure
from qa.phantom.ring import RING_CHOICES, PhantomRing, measure_ring, resolve_ring
from qa.records.plausibility import is_possible, plausible, unusual
from qa.records.checks import FAIL
from qa.records.verdicts import run_verdict, summarise_verdict
from qa.records.volume import CTVolume

# Assignment of lesions to inserts (the definition): in-plane margin beyond the insert
# radius, and along z one slice thickness beyond half the insert length.
ASSIGN_MARGIN_MM = 3.0
# Calibration ROIs cover the central 60 % of each rod's diameter (clear of its edge blur).
ROD_ROI_FRACTION = 0.6



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
    ring: str | PhantomRing = "unspecified",
    no_baseline_reason: str | None = None,
) -> PhantomResult:
    """Locate, score and calibrate the phantom in ``volume`` and check it (see module doc).

    ``ring``: the extension ring given by the user (``none``, ``large``; ``unspecified``: not
    given), measured here from the body outline (:mod:`qa.phantom.ring`); or a ring already
    determined (:func:`qa.phantom.ring.determine_ring`, as the workflow does to pick the baseline).
    ``no_baseline_reason`` says why there is no ``baseline`` (default: the scanner has none yet);
    it goes into the checks and the verdict that could not be run."""
    if isinstance(ring, str) and ring not in RING_CHOICES:
        raise UsageError(f"ring must be one of {', '.join(RING_CHOICES)}, got {ring!r}")
    if volume.value_unit != "HU":
        raise InputError(volume.info.first_file, "RescaleType", f"pixel values are in {volume.value_unit!r}, not HU",
                         hint="pass the CT images of the phantom scan")
    if definition.id != procedure.phantom:
        raise InputError(None, None, f"the procedure {procedure.id} is for phantom {procedure.phantom}, not {definition.id}",
                         hint="pass a procedure written for this phantom (--procedure)")
    settings = settings or scoring_settings(procedure.scoring_method)
    thickness = volume.slice_thickness_mm or volume.slice_increment_mm
    location = locate_phantom(volume.hu, volume.geometry, definition, slice_thickness_mm=thickness)
    if isinstance(ring, str):
        ring = resolve_ring(ring, measure_ring(volume.hu, volume.geometry, definition, center_mm=location.insert_center_mm,
                                               slices=location.insert_slices))
    xy = _plane_xy(volume)
    calibration, cal_warnings = _calibrate(volume, definition, location, xy)
    c_ha = calibration.c_ha_mg_per_cm3_hu if calibration else None
    score = _score_slab(volume, definition, location, thickness, settings, c_ha, xy)
    inserts, other = _assign(score, definition, location, thickness, c_ha)
    totals = _totals(inserts, definition, calibration is not None)
    metrics = _metrics(inserts, totals, calibration)
    metrics["ctdivol_mgy"] = volume.info.ctdivol_mgy
    metrics["exposure_mas"] = volume.info.exposure_mas
    configuration = configuration_of(volume, procedure, settings, ring.ring)
    acquisition = PhantomAcquisition(
        kvp=volume.info.kvp,
        slice_thickness_mm=volume.slice_thickness_mm,
        slice_increment_mm=volume.slice_increment_mm,
        kernel=volume.info.convolution_kernel,
        ctdivol_mgy=volume.info.ctdivol_mgy,
        exposure_mas=volume.info.exposure_mas,
        ring=ring.ring,
        acquisition_datetime=volume.info.acquisition_datetime,
        ring_source=ring.source,
    )
    changed = changed_keys(baseline, configuration)
    same_configuration = baseline is not None and not changed
    procedure_checks = [acquisition_check(rule, acquisition) for rule in procedure.acquisition]
    technique_checks = [
        acquisition_vs_baseline(rule, acquisition, baseline if same_configuration else None)
        for rule in procedure.acquisition
        if rule.baseline_tolerance_pct is not None
    ]
    acq_checks = procedure_checks + technique_checks
    deviations = [c.id for c in procedure_checks if c.status == FAIL]
    technique_changes = [c.id for c in technique_checks if c.status == FAIL]
    # either is a protocol change, not drift: the run is neither compared with the baseline nor charted
    protocol_ok = not deviations and not technique_changes
    no_baseline = no_baseline_reason or "no baseline for this scanner yet"
    config_check = configuration_check(baseline, configuration, changed, no_baseline)
    usable, baseline_reason = baseline_usable(baseline, changed, deviations, technique_changes, no_baseline)
    checks = acq_checks + [ring.check(), config_check]
    checks += [rod_check(obj) for obj in location.objects if obj.kind == "rod"]
    checks += [detection_check(insert_id, inserts, procedure.detection_severity) for insert_id in procedure.required_detections]
    tightened = baseline is not None and baseline.n_runs >= procedure.tighten_after_runs
    for rule in procedure.checks:
        checks.append(metric_check(rule, metrics, inserts, baseline if usable else None, baseline_reason,
                                    tightened, procedure.tighten_sd))
    final = run_verdict(checks)  # a pass with checks not run is "incomplete", as its banner says
    message = verdict_message(final, checks, deviations, technique_changes, baseline, usable, baseline_reason)
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
        summary=summarise_verdict(checks, final, procedure.actions),
        protocol_ok=protocol_ok,
        baseline=baseline,
        warnings=tuple(list(volume.warnings) + list(location.notes) + cal_warnings + list(score.warnings) + list(volume.notes)
                       + ([ring.contradiction] if ring.contradiction else [])),
        ring=ring,
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
    if not is_possible("c_ha_mg_per_cm3_hu", c_ha):  # never masses from an impossible calibration
        return None, [f"no mass calibration: c_HA {c_ha:g} mg/(cm3 HU) from the rods is impossible "
                      f"({plausible('c_ha_mg_per_cm3_hu').describe_limits()})"]
    note = unusual("c_ha_mg_per_cm3_hu", c_ha, field="c_HA from the rods")
    if note:
        warnings.append(note)
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


