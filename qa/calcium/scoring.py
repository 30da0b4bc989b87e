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
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from qa.calcium.components import find_components, isotropic_volumes

# Agatston et al., JACC 1990;15:827-832: calcium is HU >= 130 at 120 kVp ...
AGATSTON_THRESHOLD_HU = 130.0
# ... weighted 1/2/3/4 by peak HU with breaks at 200, 300 and 400 HU ...
AGATSTON_WEIGHT_BREAKS_HU = (200.0, 300.0, 400.0)
# ... on 3 mm contiguous slices (scores of other increments are scaled by increment / 3 mm).
AGATSTON_REFERENCE_INCREMENT_MM = 3.0
# Minimum lesion area of the standard method, 1 mm2 (Agatston 1990 used 2 adjacent pixels of
# 0.26 mm2 on EBT; 1 mm2 is the consensus value of McCollough et al., Radiology 2007).
STANDARD_MIN_AREA_MM2 = 1.0

# kV-adapted thresholds: Gräni C et al., "Ultra-low-dose coronary artery calcium scoring using
# novel scoring thresholds for low tube voltage protocols", EHJ-CVI 2018;19(12):1362-1371.
# Values (calcium threshold, weight breaks) as tabulated in MolloiLab/CalciumScoring.jl, which
# cites that paper; 120 kVp keeps the Agatston values.
KV_ADAPTED_THRESHOLDS_HU: dict[int, tuple[float, tuple[float, float, float]]] = {
    70: (207.0, (318.0, 477.0, 636.0)),
    80: (177.0, (271.0, 408.0, 544.0)),
    100: (145.0, (222.0, 334.0, 446.0)),
    120: (AGATSTON_THRESHOLD_HU, AGATSTON_WEIGHT_BREAKS_HU),
    # 135 kVp (Canon/Toshiba) is outside Gräni's range: extrapolated in MolloiLab/CalciumScoring.jl
    # with their fit y = 378 exp(-0.009 kV); labelled as an extrapolation when used.
    135: (119.0, (183.0, 274.0, 364.0)),
}
KV_EXTRAPOLATED = frozenset({135})

VOLUME_METHODS = ("plain", "isotropic")
CONNECTIVITIES = (4, 8)


@dataclass(frozen=True)
class ScoringSettings:
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

    def to_dict(self) -> dict:
        out = asdict(self)
        out["weight_breaks_hu"] = list(self.weight_breaks_hu)
        out["increment_mm"] = None  # filled in by CalciumScore.to_dict
        return out


@dataclass(frozen=True)
class MethodPreset:
    name: str
    threshold_hu: float
    min_area_mm2: float
    min_pixels: int
    connectivity: int
    volume_method: str
    source: str


# Presets.  The vendor modes follow the parameters that van Praagh et al. (Med Phys
# 2021;48:3730-3740, doi 10.1002/mp.14912) reverse-engineered and checked against each vendor's
# software, as implemented in their open FQM code (github.com/nwerf/FQM_Analysis): all use
# HU >= 130 and 4-connected 2-D components; they differ in the minimum area and in whether the
# volume is computed on isotropically interpolated data.
METHOD_PRESETS: dict[str, MethodPreset] = {
    "standard": MethodPreset(
        "standard", AGATSTON_THRESHOLD_HU, STANDARD_MIN_AREA_MM2, 1, 4, "plain",
        "Agatston 1990 (JACC 15:827); McCollough 2007 (Radiology 243:527): HU >= 130, "
        "area >= 1 mm2, 4-connected, volume = voxels x pixel area x increment",
    ),
    "siemens": MethodPreset(
        "siemens", AGATSTON_THRESHOLD_HU, 0.0, 1, 4, "isotropic",
        "van Praagh 2021 (Med Phys 48:3730), Siemens syngo mode: no minimum area, "
        "volume on isotropically interpolated data",
    ),
    "ge": MethodPreset(
        "ge", AGATSTON_THRESHOLD_HU, 1.0, 1, 4, "plain",
        "van Praagh 2021 (Med Phys 48:3730), GE SmartScore mode: area >= 1 mm2",
    ),
    "philips": MethodPreset(
        "philips", AGATSTON_THRESHOLD_HU, 0.5, 1, 4, "plain",
        "van Praagh 2021 (Med Phys 48:3730), Philips mode: area >= 0.5 mm2",
    ),
    "canon": MethodPreset(
        "canon", AGATSTON_THRESHOLD_HU, 0.0, 3, 4, "plain",
        "van Praagh 2021 (Med Phys 48:3730), Canon mode: at least 3 connected pixels",
    ),
}


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
class Lesion:
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
    centroid_index: tuple[float, float, float]  # (slice, row, column)
    centroid_mm: tuple[float, float, float] | None  # DICOM patient coordinates

    def to_dict(self) -> dict:
        return {
            "slice_index": self.slice_index,
            "z_mm": self.z_mm,
            "n_pixels": self.n_pixels,
            "area_mm2": self.area_mm2,
            "peak_hu": self.peak_hu,
            "mean_hu": self.mean_hu,
            "weight": self.weight,
            "agatston": self.agatston,
            "agatston_unscaled": self.agatston_unscaled,
            "volume_mm3": self.volume_mm3,
            "mass_mg": self.mass_mg,
            "centroid_mm": list(self.centroid_mm) if self.centroid_mm is not None else None,
        }


@dataclass(frozen=True)
class CalciumScore:
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

    @property
    def n_lesions(self) -> int:
        return len(self.lesions)

    def to_dict(self) -> dict:
        settings = self.settings.to_dict()
        settings["increment_mm"] = self.increment_mm
        return {
            "agatston": self.agatston,
            "volume_mm3": self.volume_mm3,
            "mass_mg": self.mass_mg,
            "n_lesions": self.n_lesions,
            "n_components_below_min_area": self.n_components_below_min_area,
            "c_ha_mg_per_cm3_hu": self.c_ha_mg_per_cm3_hu,
            "settings": settings,
            "lesions": [lesion.to_dict() for lesion in self.lesions],
            "warnings": list(self.warnings),
        }


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
    geometry: Any = None,
) -> CalciumScore:
    """Score the calcium in ``hu`` (slices, rows, columns).

    ``spacing_mm`` is (slice increment, row spacing, column spacing).  ``mask`` (same shape, bool)
    restricts the search to a region.  ``geometry`` (an object with ``to_patient(k, i, j)`` such
    as :class:`qa.dicom.geometry.SliceGeometry`) places lesion centroids in patient coordinates.
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
        settings=settings,
        increment_mm=increment,
        pixel_spacing_mm=(row_mm, col_mm),
        c_ha_mg_per_cm3_hu=c_ha_mg_per_cm3_hu,
        kvp=kvp,
        n_components_below_min_area=comps.n_small,
        warnings=tuple(warnings),
    )


def score_volume(
    volume: Any,
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
