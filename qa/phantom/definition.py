"""Phantom definitions: geometry, inserts and physical truth as data (records).

The definitions themselves live in ``phantoms/*.toml``; :func:`qa.procedures.load_phantom` reads
and validates them into these records (built-in ones by id, a site's own by path).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qa.records.provenance import DefinitionRef
from qa.records.serialize import Record



@dataclass(frozen=True)
class Cylinder(Record):
    """A cylinder parallel to the phantom axis: a calcification or a calibration rod."""

    id: str
    kind: str  # "calcification" | "rod"
    density_mgha_cm3: float
    diameter_mm: float
    length_mm: float
    radius_mm: float  # distance of its axis from the insert axis
    angle_deg: float  # nominal angle of its axis, counter-clockwise from +x
    z_mm: float  # centre along the phantom axis
    physical_volume_mm3: float
    physical_mass_mg: float

    @property
    def xy_mm(self) -> tuple[float, float]:
        a = math.radians(self.angle_deg)
        return (self.radius_mm * math.cos(a), self.radius_mm * math.sin(a))


@dataclass(frozen=True)
class BodyPart(Record):
    """An elliptic cylinder of the thorax around the insert (synthesiser only)."""

    id: str
    center_mm: tuple[float, float]
    size_mm: tuple[float, float]
    hu: float
    only_with_ring: bool = False


@dataclass(frozen=True)
class HuModel(Record):
    """Synthetic CT numbers: HU = water_equivalent_hu + ha_hu_per_mgha_cm3[kVp] x density."""

    water_equivalent_hu: float
    ha_hu_per_mgha_cm3: tuple[tuple[float, float], ...]  # (kVp, HU per mg/cm3), sorted

    def hu_per_density(self, kvp: float) -> float:
        """HU per mg HA/cm3 at ``kvp``, interpolated linearly between tabulated kVp."""
        table = self.ha_hu_per_mgha_cm3
        if kvp <= table[0][0]:
            return table[0][1]
        if kvp >= table[-1][0]:
            return table[-1][1]
        for (k0, v0), (k1, v1) in zip(table, table[1:]):
            if k0 <= kvp <= k1:
                return v0 + (v1 - v0) * (kvp - k0) / (k1 - k0)
        raise AssertionError("unreachable")

    def hu(self, density_mgha_cm3: float, kvp: float) -> float:
        return self.water_equivalent_hu + self.hu_per_density(kvp) * density_mgha_cm3


# The metrics the control charts follow when a definition names none: the largest insert of each
# density, the totals and the calibration (our choice: the inserts every scan detects).
DEFAULT_CHART_METRICS_GLOBAL = ("total_mass", "c_ha", "water_hu", "noise_hu", "total_agatston")


@dataclass(frozen=True)
class PhantomDefinition(Record):
    """A calcium phantom: its insert, calcifications (with physical truth), calibration rods and
    thorax, which rods calibrate the mass score, and which metrics its control charts follow."""

    id: str
    name: str
    manufacturer: str
    source: str
    insert_diameter_mm: float
    insert_z_range_mm: tuple[float, float]
    insert_hu: float
    calcifications: tuple[Cylinder, ...]
    rods: tuple[Cylinder, ...]
    body: tuple[BodyPart, ...]
    hu_model: HuModel
    path: str
    sha256: str
    water_rod_id: str = "water"  # the rod read as water (0 mg HA/cm3) for the calibration and the noise
    ha_rod_id: str = "ha200"  # the HA rod of known density for c_HA
    chart_metrics: tuple[str, ...] = field(default=())  # metric ids the control charts follow by default

    @property
    def ref(self) -> DefinitionRef:
        return DefinitionRef(self.id, self.name, "", self.path, self.sha256)

    @property
    def water_rod(self) -> Cylinder:
        return self.rod(self.water_rod_id)

    @property
    def ha_rod(self) -> Cylinder:
        return self.rod(self.ha_rod_id)

    def rod(self, rod_id: str) -> Cylinder:
        for rod in self.rods:
            if rod.id == rod_id:
                return rod
        raise KeyError(rod_id)
