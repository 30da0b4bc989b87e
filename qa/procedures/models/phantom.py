"""A phantom definition file (``phantoms/*.toml``; schema in phantoms/README.md) -> PhantomDefinition."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from qa.phantom.definition import BodyPart, Cylinder, HuModel, PhantomDefinition
from qa.phantom.metrics import GLOBAL_METRICS, INSERT_METRICS, TECHNIQUE_METRICS, metric_key
from qa.procedures.models.base import NonNegative, Number, Pair, Positive, RuleError, Table, Text

# The stated physical truth must agree with the geometry (pi r^2 L, density x volume) within 5 %:
# our allowance for the rounding of a manufacturer's table, not a published figure.  The floors
# cover the 1 mm inserts, whose tabulated volume (0.79 mm3) and mass (0.2 mg) are rounded to the
# last digit shown.
TRUTH_TOLERANCE = 0.05
VOLUME_FLOOR_MM3 = 0.05
MASS_FLOOR_MG = 0.06


class PhantomHead(Table):
    id: Text
    name: Text
    manufacturer: str = ""
    source: str = ""


class InsertTable(Table):
    diameter_mm: Positive
    z_min_mm: Number
    z_max_mm: Number
    hu: Number

    @model_validator(mode="after")
    def _z_range(self) -> InsertTable:
        if self.z_max_mm <= self.z_min_mm:
            raise RuleError("must be larger than insert.z_min_mm", "z_max_mm")
        return self


class CylinderTable(Table):
    """A calcification or a calibration rod, with its physical truth (default: from the geometry)."""

    id: Text
    density_mgha_cm3: NonNegative
    diameter_mm: Positive
    length_mm: Positive
    radius_mm: NonNegative
    angle_deg: Number
    z_mm: Number
    physical_volume_mm3: NonNegative | None = None
    physical_mass_mg: NonNegative | None = None

    @property
    def geometric_volume_mm3(self) -> float:
        return math.pi * (self.diameter_mm / 2) ** 2 * self.length_mm

    @property
    def volume_mm3(self) -> float:
        return self.geometric_volume_mm3 if self.physical_volume_mm3 is None else self.physical_volume_mm3

    @property
    def mass_mg(self) -> float:
        return self.density_mgha_cm3 * self.volume_mm3 / 1000.0 if self.physical_mass_mg is None else self.physical_mass_mg

    @model_validator(mode="after")
    def _truth_agrees_with_geometry(self) -> CylinderTable:
        geometric = self.geometric_volume_mm3
        if abs(self.volume_mm3 - geometric) > max(TRUTH_TOLERANCE * geometric, VOLUME_FLOOR_MM3):
            raise RuleError(f"{self.volume_mm3:g} disagrees with pi r^2 L = {geometric:.2f} mm3 (by more than 5 %)",
                            "physical_volume_mm3")
        expected = self.density_mgha_cm3 * self.volume_mm3 / 1000.0
        if abs(self.mass_mg - expected) > max(TRUTH_TOLERANCE * expected, MASS_FLOOR_MG):
            raise RuleError(f"{self.mass_mg:g} disagrees with density x volume = {expected:.2f} mg (by more than 5 %)",
                            "physical_mass_mg")
        return self

    def record(self, kind: str) -> Cylinder:
        return Cylinder(id=self.id, kind=kind, density_mgha_cm3=self.density_mgha_cm3, diameter_mm=self.diameter_mm,
                        length_mm=self.length_mm, radius_mm=self.radius_mm, angle_deg=self.angle_deg, z_mm=self.z_mm,
                        physical_volume_mm3=self.volume_mm3, physical_mass_mg=self.mass_mg)


class BodyTable(Table):
    """An elliptic cylinder of the thorax (synthesiser only)."""

    id: Text
    shape: Literal["ellipse"] = "ellipse"
    center_mm: Pair
    size_mm: Pair
    hu: Number
    only_with_ring: bool = False


class HuModelTable(Table):
    water_equivalent_hu: Number
    ha_hu_per_mgha_cm3: Annotated[dict[str, Positive], Field(min_length=1)]

    @field_validator("ha_hu_per_mgha_cm3")
    @classmethod
    def _kvp_keys(cls, table: dict[str, float]) -> dict[str, float]:
        seen: dict[float, str] = {}
        for key in table:
            try:
                kvp = float(key)
            except ValueError:
                raise RuleError('key must be a kVp number, such as "120"', key) from None
            if not math.isfinite(kvp) or kvp <= 0:
                raise RuleError('key must be a positive kVp number, such as "120"', key)
            if kvp in seen:
                raise RuleError(f"the same kVp as {seen[kvp]!r}", key)
            seen[kvp] = key
        return table


class CalibrationTable(Table):
    water_rod: Text | None = None
    ha_rod: Text | None = None


class ChartsTable(Table):
    metrics: list[Text] = []


class PhantomFile(Table):
    phantom: PhantomHead
    insert: InsertTable
    calcifications: Annotated[list[CylinderTable], Field(min_length=1)]
    rods: Annotated[list[CylinderTable], Field(min_length=1)]
    calibration: CalibrationTable = CalibrationTable()
    charts: ChartsTable = ChartsTable()
    body: list[BodyTable] = []
    hu_model: HuModelTable

    @model_validator(mode="after")
    def _references(self) -> PhantomFile:
        seen: set[str] = set()
        for group in ("calcifications", "rods"):
            for n, item in enumerate(getattr(self, group)):
                if item.id in seen:
                    raise RuleError(f"duplicate id {item.id!r} (calcifications and rods share one set of ids)", group, n, "id")
                seen.add(item.id)
        self._calibration_rods()
        known = {metric_key(m, c.id) for c in self.calcifications for m in INSERT_METRICS}
        known |= {metric_key(m, None) for m in GLOBAL_METRICS} | set(TECHNIQUE_METRICS)
        for n, metric in enumerate(self.charts.metrics):
            if metric not in known:
                raise RuleError(f"{metric!r} is not a metric of this phantom ({', '.join(sorted(known))})", "charts", "metrics", n)
        return self

    def _calibration_rods(self) -> tuple[str, str]:
        """``[calibration] water_rod``, ``ha_rod``; by default the first 0 mg/cm3 rod and the densest rod."""
        by_id = {rod.id: rod for rod in self.rods}
        water = self.calibration.water_rod or next((rod.id for rod in self.rods if rod.density_mgha_cm3 == 0.0), None)
        ha = self.calibration.ha_rod or max(self.rods, key=lambda rod: rod.density_mgha_cm3).id
        if water not in by_id or by_id[water].density_mgha_cm3 != 0.0:
            raise RuleError(f"must name a rod of density 0 (rods: {', '.join(by_id)})", "calibration", "water_rod")
        if ha not in by_id or by_id[ha].density_mgha_cm3 <= 0.0:
            raise RuleError(f"must name a rod of positive density (rods: {', '.join(by_id)})", "calibration", "ha_rod")
        return water, ha

    def record(self, path: str, sha256: str) -> PhantomDefinition:
        water_rod, ha_rod = self._calibration_rods()
        hu_table = self.hu_model.ha_hu_per_mgha_cm3
        return PhantomDefinition(
            id=self.phantom.id,
            name=self.phantom.name,
            manufacturer=self.phantom.manufacturer,
            source=self.phantom.source,
            insert_diameter_mm=self.insert.diameter_mm,
            insert_z_range_mm=(self.insert.z_min_mm, self.insert.z_max_mm),
            insert_hu=self.insert.hu,
            calcifications=tuple(c.record("calcification") for c in self.calcifications),
            rods=tuple(r.record("rod") for r in self.rods),
            body=tuple(BodyPart(b.id, b.center_mm, b.size_mm, b.hu, b.only_with_ring) for b in self.body),
            hu_model=HuModel(self.hu_model.water_equivalent_hu, tuple(sorted((float(k), v) for k, v in hu_table.items()))),
            path=path,
            sha256=sha256,
            water_rod_id=water_rod,
            ha_rod_id=ha_rod,
            chart_metrics=tuple(self.charts.metrics),
        )
