"""Agatston, volume and mass calcium scores on an HU volume.

Arrays in, a frozen record out; nothing here reads files.

Definitions (the ``standard`` method):

* A lesion is a 2-D connected component, in one slice, of pixels with HU >= the threshold
  (130 HU, Agatston et al., JACC 1990;15:827-832) whose area (pixel count x pixel area) is at least
  the minimum area (1 mm2).
* Agatston: lesion score = area x weight, the weight set by the lesion's *peak* HU
  (1: < 200, 2: < 300, 3: < 400, 4: >= 400; Agatston 1990); the total is the sum times
  increment / 3 mm so that thinner or overlapping reconstructions give 3 mm-equivalent scores.
* Volume: kept-lesion voxels x voxel volume (pixel area x slice increment); optionally on a
  volume interpolated linearly along z to isotropic resolution (Callister et al., Radiology
  1998;208:807-814), computed exactly rather than on sampled sub-slices.
* Mass: c_HA x sum over lesion voxels of voxel volume (mm3) x HU / 1000, with c_HA in
  mg/(cm3 HU) from a hydroxyapatite calibration (McCollough et al., Radiology 2007;243:527-538).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from qa.calcium.components import find_components, isotropic_volumes
from qa.records.plausibility import is_possible, plausible
from qa.records.serialize import Record
from qa.records.volume import CTVolume, SliceGeometry

from qa.calcium.presets import (  # noqa: E402  (constants with their citations live beside the presets)
    AGATSTON_REFERENCE_INCREMENT_MM,
    AGATSTON_THRESHOLD_HU,
    AGATSTON_WEIGHT_BREAKS_HU,
    CONNECTIVITIES,
    KV_ADAPTED_THRESHOLDS_HU,
    KV_EXTRAPOLATED,
    METHOD_PRESETS,
    STANDARD_MIN_AREA_MM2,
    VOLUME_METHODS,
)

@dataclass(frozen=True)
class ScoringSettings(Record):
    """How lesions are found and scored.  Build one with :func:`scoring_settings`."""

    method: str = "standard"
    threshold_hu: float = AGATSTON_THRESHOLD_HU
    weight_breaks_hu: tuple[float, float, float] = AGATSTON_WEIGHT_BREAKS_HU
    min_area_mm2: float = STANDARD_MIN_AREA_MM2
    min_pixels: int = 1
    connectivity: int = 4
    volume_method: str = "plain"
    reference_increment_mm: float = AGATSTON_REFERENCE_INCREMENT_MM
    threshold_rule: str = "fixed"  # or "kv-adapted (Gräni 2018)"
    source: str = ""
    increment_mm: float | None = None  # the slice increment the scores were computed with (set by score_calcium)

    def __post_init__(self) -> None:
        if self.connectivity not in CONNECTIVITIES:
            raise ValueError(f"connectivity must be 4 or 8, got {self.connectivity!r}")
        if self.volume_method not in VOLUME_METHODS:
            raise ValueError(f"volume_method must be one of {VOLUME_METHODS}, got {self.volume_method!r}")
        if not math.isfinite(self.threshold_hu):
            raise ValueError("threshold_hu must be a finite number")
        if self.min_area_mm2 < 0 or not math.isfinite(self.min_area_mm2):
            raise ValueError("min_area_mm2 must be >= 0")
        if self.min_pixels < 1:
            raise ValueError("min_pixels must be >= 1")
        b = self.weight_breaks_hu
        if len(b) != 3 or not (b[0] < b[1] < b[2]):
            raise ValueError("weight_breaks_hu must be three increasing HU values")



def kv_adapted_thresholds(kvp: float) -> tuple[float, tuple[float, float, float]]:
    """(threshold, weight breaks) in HU for ``kvp`` from Gräni et al. 2018; ValueError if not tabulated."""
    for nominal, values in KV_ADAPTED_THRESHOLDS_HU.items():
        if abs(kvp - nominal) <= 1.0:
            return values
    raise ValueError(
        f"no kV-adapted thresholds for {kvp:g} kVp: they exist for "
        + ", ".join(str(k) for k in KV_ADAPTED_THRESHOLDS_HU) + " kVp"
    )


def scoring_settings(
    method: str = "standard",
    *,
    threshold_hu: float | None = None,
    min_area_mm2: float | None = None,
    connectivity: int | None = None,
    volume_method: str | None = None,
    kv_adapted: bool = False,
    kvp: float | None = None,
) -> ScoringSettings:
    """Settings of preset ``method`` with explicit options overriding it.

    ``kv_adapted=True`` replaces the threshold and the weight breaks by the kV-adapted values of
    Gräni et al. 2018 for ``kvp`` (which must then be given and tabulated).  An explicit
    ``threshold_hu`` cannot be combined with ``kv_adapted``.
    """
    try:
        preset = METHOD_PRESETS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHOD_PRESETS)}") from None
    settings = ScoringSettings(
        method=preset.name,
        threshold_hu=preset.threshold_hu,
        min_area_mm2=preset.min_area_mm2,
        min_pixels=preset.min_pixels,
        connectivity=preset.connectivity,
        volume_method=preset.volume_method,
        source=preset.source,
    )
    overrides: dict[str, Any] = {}
    check_options(threshold_hu=threshold_hu, min_area_mm2=min_area_mm2)
    if threshold_hu is not None:
        overrides["threshold_hu"] = float(threshold_hu)
    if min_area_mm2 is not None:
        overrides["min_area_mm2"] = float(min_area_mm2)
        overrides["min_pixels"] = 1
    if connectivity is not None:
        overrides["connectivity"] = int(connectivity)
    if volume_method is not None:
        overrides["volume_method"] = volume_method
    if kv_adapted:
        if threshold_hu is not None:
            raise ValueError("give either an explicit threshold or kV-adapted thresholds, not both")
        if kvp is None:
            raise ValueError("kV-adapted thresholds need the series' kVp, which is unknown")
        thr, breaks = kv_adapted_thresholds(kvp)
        rule = "kv-adapted (Gräni 2018)"
        if any(abs(kvp - k) <= 1.0 for k in KV_EXTRAPOLATED):
            rule = "kv-adapted (Gräni 2018, extrapolated to this kVp)"
        overrides.update(threshold_hu=thr, weight_breaks_hu=breaks, threshold_rule=rule)
    if overrides:
        settings = replace(settings, **overrides)
    return settings


@dataclass(frozen=True)
class Lesion(Record):
    """One 2-D connected component in one slice."""

    slice_index: int
    z_mm: float
    n_pixels: int
    area_mm2: float
    peak_hu: float
    mean_hu: float
    weight: int
    agatston: float  # area x weight x increment / 3 mm: the lesion's share of the total
    agatston_unscaled: float  # area x weight
    volume_mm3: float
    mass_mg: float | None
    centroid_index: tuple[float, float, float] = field(metadata={"json": False})  # (slice, row, column)
    centroid_mm: tuple[float, float, float] | None  # DICOM patient coordinates


@dataclass(frozen=True)
class CalciumScore(Record):
    """Calcium scores of a volume (or of the part of it inside a mask)."""

    agatston: float
    volume_mm3: float
    mass_mg: float | None
    lesions: tuple[Lesion, ...]
    settings: ScoringSettings
    increment_mm: float
    pixel_spacing_mm: tuple[float, float]
    c_ha_mg_per_cm3_hu: float | None
    kvp: float | None
    n_components_below_min_area: int
    warnings: tuple[str, ...] = field(default=())

    __json_properties__ = ("n_lesions",)

    @property
    def n_lesions(self) -> int:
        return len(self.lesions)


def agatston_weight(peak_hu: float | np.ndarray, breaks_hu: tuple[float, float, float] = AGATSTON_WEIGHT_BREAKS_HU):
    """Agatston density weight 1-4 from the peak HU (1: < 200, 2: < 300, 3: < 400, else 4)."""
    return 1 + np.searchsorted(np.asarray(breaks_hu, dtype=float), np.asarray(peak_hu, dtype=float), side="right")


def score_calcium(
    hu: np.ndarray,
    spacing_mm: tuple[float, float, float],
    settings: ScoringSettings | None = None,
    *,
    c_ha_mg_per_cm3_hu: float | None = None,
    kvp: float | None = None,
    mask: np.ndarray | None = None,
    geometry: SliceGeometry | None = None,
) -> CalciumScore:
    """Score the calcium in ``hu`` (slices, rows, columns).

    ``spacing_mm`` is (slice increment, row spacing, column spacing).  ``mask`` (same shape, bool)
    restricts the search to a region.  ``geometry`` (:class:`qa.records.volume.SliceGeometry`) places lesion centroids in patient coordinates.
    ``kvp`` only feeds the warnings.  The input is never modified.
    """
    settings = settings or ScoringSettings()
    hu = np.asarray(hu)
    if hu.ndim == 2:
        hu = hu[None]
    if hu.ndim != 3:
        raise ValueError(f"hu must be a 2-D or 3-D array, got shape {hu.shape}")
    increment, row_mm, col_mm = (float(s) for s in spacing_mm)
    if not all(math.isfinite(s) and s > 0 for s in (increment, row_mm, col_mm)):
        raise ValueError(f"spacing_mm must be three positive numbers, got {spacing_mm}")
    if mask is not None and mask.shape != hu.shape:
        raise ValueError(f"mask shape {mask.shape} differs from volume shape {hu.shape}")
    if c_ha_mg_per_cm3_hu is not None and not (math.isfinite(c_ha_mg_per_cm3_hu) and c_ha_mg_per_cm3_hu > 0):
        raise ValueError("c_ha_mg_per_cm3_hu must be a positive number")

    pixel_area = row_mm * col_mm
    voxel_volume = pixel_area * increment
    scale = increment / settings.reference_increment_mm
    # Smallest pixel count that meets both the pixel and the area minimum.  The tiny tolerance
    # makes an area of exactly the minimum count (4 pixels of 0.5 x 0.5 mm = 1 mm2).
    min_count = max(settings.min_pixels, math.ceil(settings.min_area_mm2 / pixel_area - 1e-9))
    comps = find_components(hu, mask, settings.threshold_hu, settings.connectivity, min_count)

    weights = agatston_weight(comps.peaks, settings.weight_breaks_hu)
    if geometry is not None and comps.n_kept:
        centroids = geometry.to_patient(comps.slices.astype(float), comps.row_mean, comps.col_mean)
        slice_z = geometry.to_patient(np.arange(hu.shape[0], dtype=float), 0.0, 0.0)[:, 2]
    else:
        centroids = None
        slice_z = np.arange(hu.shape[0], dtype=float) * increment
    if settings.volume_method == "isotropic" and comps.n_kept:
        volumes = isotropic_volumes(hu, comps, settings.threshold_hu, increment, row_mm, col_mm)
    else:
        volumes = comps.counts * voxel_volume
    # Plain Python numbers for the records (one conversion per array, not per value).
    slices, counts = comps.slices.tolist(), comps.counts.tolist()
    sums, peaks, weights_list = comps.sums.tolist(), comps.peaks.tolist(), weights.tolist()
    rows, cols, volumes_list, z_list = comps.row_mean.tolist(), comps.col_mean.tolist(), np.asarray(volumes).tolist(), slice_z.tolist()
    centroid_list = centroids.tolist() if centroids is not None else None
    lesions = []
    for n in range(comps.n_kept):
        k = slices[n]
        count = int(counts[n])
        area = count * pixel_area
        weight = weights_list[n]
        total_hu = sums[n]
        lesions.append(
            Lesion(
                slice_index=k,
                z_mm=z_list[k],
                n_pixels=count,
                area_mm2=area,
                peak_hu=peaks[n],
                mean_hu=total_hu / count,
                weight=weight,
                agatston=area * weight * scale,
                agatston_unscaled=area * weight,
                volume_mm3=volumes_list[n],
                mass_mg=(
                    c_ha_mg_per_cm3_hu * total_hu * voxel_volume / 1000.0 if c_ha_mg_per_cm3_hu is not None else None
                ),
                centroid_index=(float(k), rows[n], cols[n]),
                centroid_mm=tuple(centroid_list[n]) if centroid_list is not None else None,  # type: ignore[arg-type]
            )
        )

    agatston = float(sum(lesion.agatston for lesion in lesions))
    volume = float(sum(lesion.volume_mm3 for lesion in lesions))
    mass = float(sum(lesion.mass_mg for lesion in lesions)) if c_ha_mg_per_cm3_hu is not None else None  # type: ignore[misc]

    warnings = []
    if settings.threshold_rule == "fixed" and kvp is not None and abs(kvp - 120.0) > 1.0:
        warnings.append(
            f"kvp: the series was acquired at {kvp:g} kVp but scored with the {settings.threshold_hu:g} HU "
            "threshold, which is defined for 120 kVp (Agatston 1990); scores are not comparable with "
            "120 kVp scores (kV-adapted thresholds of Gräni et al. 2018 are available with --kv-adapted)"
        )
    if kvp is None:
        warnings.append("kvp: the tube voltage is unknown; the threshold assumes 120 kVp")
    return CalciumScore(
        agatston=agatston,
        volume_mm3=volume,
        mass_mg=mass,
        lesions=tuple(lesions),
        settings=replace(settings, increment_mm=increment),
        increment_mm=increment,
        pixel_spacing_mm=(row_mm, col_mm),
        c_ha_mg_per_cm3_hu=c_ha_mg_per_cm3_hu,
        kvp=kvp,
        n_components_below_min_area=comps.n_small,
        warnings=tuple(warnings),
    )


def score_volume(
    volume: CTVolume,
    settings: ScoringSettings | None = None,
    *,
    c_ha_mg_per_cm3_hu: float | None = None,
    mask: np.ndarray | None = None,
) -> CalciumScore:
    """Score a loaded series (:class:`qa.dicom.series.CTVolume`): geometry and kVp from its headers.

    Refuses a volume whose values are not Hounsfield units (e.g. a perfusion map).
    """
    from qa.errors import InputError

    if volume.value_unit != "HU":
        raise InputError(
            volume.info.first_file, "RescaleType",
            f"pixel values are in {volume.value_unit!r}, not Hounsfield units: calcium scores need HU",
            hint="score a CT image series reconstructed in HU (not a derived map)",
        )
    return score_calcium(
        volume.hu,
        volume.spacing_mm,
        settings,
        c_ha_mg_per_cm3_hu=c_ha_mg_per_cm3_hu,
        kvp=volume.info.kvp,
        mask=mask,
        geometry=volume.geometry,
    )


def check_options(*, threshold_hu: float | None, min_area_mm2: float | None) -> None:
    """ValueError naming the option when a setting is impossible (a threshold at or below water
    gives negative masses); the ranges and their sources are in :mod:`qa.records.plausibility`."""
    for option, quantity, value in (("--threshold-hu", "threshold_hu", threshold_hu),
                                    ("--min-area-mm2", "min_area_mm2", min_area_mm2)):
        if value is not None and not is_possible(quantity, value):
            p = plausible(quantity)
            raise ValueError(f"{option} {value!r} is impossible: the {p.quantity} must be within "
                             f"{p.describe_limits()} ({p.source})")


@dataclass(frozen=True)
class ScoringRequest(Record):
    """Scoring settings as a user asks for them, before the series' kVp is known (``--method``
    and the explicit overrides of the command line).  ``method`` None: the caller's default
    (a procedure's method, else ``standard``)."""

    method: str | None = None
    threshold_hu: float | None = None
    min_area_mm2: float | None = None
    connectivity: int | None = None
    volume_method: str | None = None
    kv_adapted: bool = False

    def check(self) -> None:
        """ValueError naming the option when an explicit setting is impossible (before any reading)."""
        check_options(threshold_hu=self.threshold_hu, min_area_mm2=self.min_area_mm2)

    def settings(self, kvp: float | None, *, default_method: str = "standard") -> ScoringSettings:
        """The settings for a series of ``kvp``; ValueError when they do not fit together."""
        return scoring_settings(self.method or default_method, threshold_hu=self.threshold_hu, min_area_mm2=self.min_area_mm2,
                                connectivity=self.connectivity, volume_method=self.volume_method, kv_adapted=self.kv_adapted,
                                kvp=kvp)
