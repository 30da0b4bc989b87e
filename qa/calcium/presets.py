"""The scoring presets and the constants of the calcium-scoring literature (no heavy imports:
the command line reads the ``--method`` choices from here without loading numpy)."""

from __future__ import annotations

from dataclasses import dataclass

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
