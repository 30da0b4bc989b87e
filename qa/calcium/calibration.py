"""Hydroxyapatite (HA) calibration for the calcium mass score.

McCollough et al., Radiology 2007;243:527-538: the calibration factor

    c_HA [mg/(cm3 HU)] = rho_HA [mg/cm3] / (HU of the HA rod - HU of the water rod)

converts CT numbers to HA density, so that mass_mg = c_HA x sum(voxel volume mm3 x HU) / 1000.
Typical values at 120 kVp are 0.7-0.9 mg/(cm3 HU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qa.records.serialize import Record

# Density of the HA calibration rod of the QRM phantoms (and of McCollough 2007's example).
HA_ROD_DENSITY_MGHA_CM3 = 200.0


@dataclass(frozen=True)
class RoiStats(Record):
    mean_hu: float
    sd_hu: float
    n_voxels: int


@dataclass(frozen=True)
class Calibration(Record):
    """Calibration rods measured in one scan."""

    __json_properties__ = ("noise_hu",)

    water_hu: float
    water_sd_hu: float
    ha_hu: float
    ha_density_mgha_cm3: float
    c_ha_mg_per_cm3_hu: float
    n_voxels_water: int
    n_voxels_ha: int

    @property
    def noise_hu(self) -> float:
        """Image noise: the standard deviation in the water rod."""
        return self.water_sd_hu


def roi_stats(hu: np.ndarray, mask: np.ndarray) -> RoiStats:
    """Mean and sample standard deviation of ``hu`` inside boolean ``mask``."""
    hu = np.asarray(hu)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != hu.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {hu.shape}")
    values = hu[mask].astype(np.float64)
    if values.size < 2:
        raise ValueError(f"the ROI holds {values.size} voxel(s); at least 2 are needed")
    return RoiStats(mean_hu=float(values.mean()), sd_hu=float(values.std(ddof=1)), n_voxels=int(values.size))


def c_ha_from_rods(*, water_hu: float, ha_hu: float, ha_density_mgha_cm3: float = HA_ROD_DENSITY_MGHA_CM3) -> float:
    """c_HA in mg/(cm3 HU) from the mean HU of a water rod and of an HA rod (McCollough 2007)."""
    for name, value in (("water_hu", water_hu), ("ha_hu", ha_hu), ("ha_density_mgha_cm3", ha_density_mgha_cm3)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if ha_density_mgha_cm3 <= 0:
        raise ValueError("ha_density_mgha_cm3 must be positive")
    contrast = ha_hu - water_hu
    if contrast <= 0:
        raise ValueError(
            f"the HA rod ({ha_hu:.1f} HU) is not brighter than the water rod ({water_hu:.1f} HU): "
            "the rods were not found or are swapped"
        )
    return ha_density_mgha_cm3 / contrast


def calibrate(
    hu: np.ndarray,
    water_mask: np.ndarray,
    ha_mask: np.ndarray,
    *,
    ha_density_mgha_cm3: float = HA_ROD_DENSITY_MGHA_CM3,
) -> Calibration:
    """Measure the water and HA rods inside their masks and compute c_HA."""
    water = roi_stats(hu, water_mask)
    ha = roi_stats(hu, ha_mask)
    c_ha = c_ha_from_rods(water_hu=water.mean_hu, ha_hu=ha.mean_hu, ha_density_mgha_cm3=ha_density_mgha_cm3)
    return Calibration(
        water_hu=water.mean_hu,
        water_sd_hu=water.sd_hu,
        ha_hu=ha.mean_hu,
        ha_density_mgha_cm3=ha_density_mgha_cm3,
        c_ha_mg_per_cm3_hu=c_ha,
        n_voxels_water=water.n_voxels,
        n_voxels_ha=ha.n_voxels,
    )


def disk_mask(shape: tuple[int, int], center_rc: tuple[float, float], radius_px: float) -> np.ndarray:
    """Boolean 2-D mask of the pixels whose centres lie within ``radius_px`` of ``center_rc``."""
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return (rows - center_rc[0]) ** 2 + (cols - center_rc[1]) ** 2 <= radius_px**2
