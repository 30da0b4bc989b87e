"""A phantom definition file (``phantoms/*.toml``; schema in phantoms/README.md) -> PhantomDefinition."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from qa.phantom.definition import BodyPart, Cylinder, HuModel, PhantomDefinition
from qa.records.plausibility import RANGES
from qa.phantom.metrics import GLOBAL_METRICS, INSERT_METRICS, TECHNIQUE_METRICS, metric_key
from qa.procedures.models.base import Length, Pair, Position, RuleError, Table, Text, Unique, within

# The stated physical truth must agree with the geometry (pi r^2 L, density x volume) within 5 %:
# our allowance for the rounding of a manufacturer's table, not a published figure.  The floors
# cover the 1 mm inserts, whose tabulated volume (0.79 mm3) and mass (0.2 mg) are rounded to the
# last digit shown.
TRUTH_TOLERANCE = 0.05
VOLUME_FLOOR_MM3 = 0.05
MASS_FLOOR_MG = 0.06

# Values with their plausibility limits (qa.records.plausibility): CT numbers, HA densities, angles.
Hu = Annotated[float, within("hu")]
Density = Annotated[float, Field(ge=0), within("density_mgha_cm3")]
Angle = Annotated[float, within("angle_deg")]
# The physical truth of a cylinder: finite and not negative; its agreement with the geometry is a rule.
Truth = Annotated[float, Field(ge=0, le=1e9)]


class PhantomHead(Table):
    id: Text
    name: Text
    manufacturer: str = ""
    source: str = ""


class InsertTable(Table):
    diameter_mm: Length
    z_min_mm: Position
    z_max_mm: Position
    hu: Hu

    @model_validator(mode="after")
    def _z_range(self) -> InsertTable:
        if self.z_max_mm <= self.z_min_mm:
            raise RuleError("must be larger than insert.z_min_mm", "z_max_mm")
        return self


class CylinderTable(Table):
    """A calcification or a calibration rod, with its physical truth (default: from the geometry)."""

    id: Text
    density_mgha_cm3: Density
    diameter_mm: Length
    length_mm: Length
    radius_mm: Annotated[float, Field(ge=0), within("length_mm")]
    angle_deg: Angle
    z_mm: Position
    physical_volume_mm3: Truth | None = None
    physical_mass_mg: Truth | None = None

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
    center_mm: Annotated[Pair, within("phantom_position_mm")]
    size_mm: Annotated[Pair, within("length_mm")]
    hu: Hu
    only_with_ring: bool = False


class HuModelTable(Table):
    water_equivalent_hu: Hu
    ha_hu_per_mgha_cm3: Annotated[dict[str, Annotated[float, Field(gt=0), within("hu_per_mgha_cm3")]], Field(min_length=1)]

    @field_validator("ha_hu_per_mgha_cm3")
    @classmethod
    def _kvp_keys(cls, table: dict[str, float]) -> dict[str, float]:
        seen: dict[float, str] = {}
        for key in table:
            try:
                kvp = float(key)
            except ValueError:
                raise RuleError('key must be a kVp number, such as "120"', key) from None
            if not RANGES["kvp"].is_possible(kvp):
                raise RuleError(f'key must be a kVp from {RANGES["kvp"].describe_limits()}, such as "120"', key)
            if kvp in seen:
                raise RuleError(f"the same kVp as {seen[kvp]!r}", key)
            seen[kvp] = key
        return table


class CalibrationTable(Table):
    water_rod: Text | None = None
    ha_rod: Text | None = None


class ChartsTable(Table):
    metrics: Annotated[list[Text], Unique] = []


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
                self._inside_the_insert(group, n, item)
        self._calibration_rods()
        known = {metric_key(m, c.id) for c in self.calcifications for m in INSERT_METRICS}
        known |= {metric_key(m, None) for m in GLOBAL_METRICS} | set(TECHNIQUE_METRICS)
        for n, metric in enumerate(self.charts.metrics):
            if metric not in known:
                raise RuleError(f"{metric!r} is not a metric of this phantom ({', '.join(sorted(known))})", "charts", "metrics", n)
        return self

    def _inside_the_insert(self, group: str, n: int, item: CylinderTable) -> None:
        """A calcification or a rod lies within the insert (else it could never be found in it)."""
        half = self.insert.diameter_mm / 2
        if item.radius_mm + item.diameter_mm / 2 > half:
            raise RuleError(f"with diameter_mm {item.diameter_mm:g} reaches beyond the insert (radius {half:g} mm)", group, n, "radius_mm")
        low, high = item.z_mm - item.length_mm / 2, item.z_mm + item.length_mm / 2
        if low < self.insert.z_min_mm or high > self.insert.z_max_mm:
            raise RuleError(f"with length_mm {item.length_mm:g} reaches beyond the insert "
                            f"(z {self.insert.z_min_mm:g} to {self.insert.z_max_mm:g} mm)", group, n, "z_mm")

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
