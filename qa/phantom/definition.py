"""Phantom definitions: geometry, inserts and physical truth as data (phantoms/*.toml).

A definition is found by id among the built-in ones (the repository's ``phantoms/`` folder, or
the copy inside an installed wheel) or read from a path the user gives.  Every problem in a
file is reported with the file and the key.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import DefinitionError
from qa.resources import builtin_dir


@dataclass(frozen=True)
class Cylinder:
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

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "density_mgha_cm3": self.density_mgha_cm3,
            "diameter_mm": self.diameter_mm,
            "length_mm": self.length_mm,
            "radius_mm": self.radius_mm,
            "angle_deg": self.angle_deg,
            "z_mm": self.z_mm,
            "physical_volume_mm3": self.physical_volume_mm3,
            "physical_mass_mg": self.physical_mass_mg,
        }


@dataclass(frozen=True)
class BodyPart:
    """An elliptic cylinder of the thorax around the insert (synthesiser only)."""

    id: str
    center_mm: tuple[float, float]
    size_mm: tuple[float, float]
    hu: float
    only_with_ring: bool = False


@dataclass(frozen=True)
class HuModel:
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


@dataclass(frozen=True)
class PhantomDefinition:
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

    def rod(self, rod_id: str) -> Cylinder:
        for rod in self.rods:
            if rod.id == rod_id:
                return rod
        raise KeyError(rod_id)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "sha256": self.sha256,
            "calcifications": [c.to_dict() for c in self.calcifications],
            "rods": [r.to_dict() for r in self.rods],
        }


def available_phantoms() -> list[str]:
    """Ids of the built-in phantom definitions."""
    return sorted(p.stem for p in builtin_dir("phantoms").glob("*.toml"))


def load_phantom(name_or_path: str | Path = "qrm-cci") -> PhantomDefinition:
    """Load a built-in definition by id (``qrm-cci``) or a definition file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix.lower() == ".toml" or candidate.exists():
        path = candidate
    else:
        path = builtin_dir("phantoms") / f"{name_or_path}.toml"
        if not path.exists():
            raise DefinitionError(
                str(name_or_path), None,
                f"no built-in phantom called {name_or_path!r}",
                hint=f"choose one of {', '.join(available_phantoms())} or give the path of a .toml file",
            )
    if not path.exists():
        raise DefinitionError(str(path), None, "no such file")
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DefinitionError(str(path), None, f"is not valid TOML ({exc})") from exc
    return _parse(data, str(path), hashlib.sha256(raw).hexdigest())


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path

    def table(self, data: dict, key: str, where: str = "") -> dict:
        full = f"{where}{key}"
        value = data.get(key)
        if not isinstance(value, dict):
            raise DefinitionError(self.path, full, "is missing or is not a table")
        return value

    def array_of_tables(self, data: dict, key: str) -> list[dict]:
        value = data.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise DefinitionError(self.path, key, "is missing or is not an array of tables ([[...]])")
        return value

    def number(self, data: dict, key: str, where: str, *, positive: bool = False, minimum: float | None = None) -> float:
        full = f"{where}.{key}"
        if key not in data:
            raise DefinitionError(self.path, full, "is missing")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DefinitionError(self.path, full, f"must be a number, got {value!r}")
        if positive and value <= 0:
            raise DefinitionError(self.path, full, f"must be positive, got {value!r}")
        if minimum is not None and value < minimum:
            raise DefinitionError(self.path, full, f"must be >= {minimum}, got {value!r}")
        return float(value)

    def text(self, data: dict, key: str, where: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise DefinitionError(self.path, f"{where}.{key}", "is missing or is not a text")
        return value.strip()

    def pair(self, data: dict, key: str, where: str) -> tuple[float, float]:
        value = data.get(key)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise DefinitionError(self.path, f"{where}.{key}", f"must be two numbers [a, b], got {value!r}")
        return (float(value[0]), float(value[1]))


def _parse(data: dict[str, Any], path: str, sha256: str) -> PhantomDefinition:
    r = _Reader(path)
    head = r.table(data, "phantom")
    insert = r.table(data, "insert")
    cylinders: dict[str, list[Cylinder]] = {"calcifications": [], "rods": []}
    seen: set[str] = set()
    for key, kind in (("calcifications", "calcification"), ("rods", "rod")):
        for n, item in enumerate(r.array_of_tables(data, key)):
            where = f"{key}[{n}]"
            cid = r.text(item, "id", where)
            if cid in seen:
                raise DefinitionError(path, f"{where}.id", f"duplicate id {cid!r}")
            seen.add(cid)
            density = r.number(item, "density_mgha_cm3", where, minimum=0.0)
            diameter = r.number(item, "diameter_mm", where, positive=True)
            length = r.number(item, "length_mm", where, positive=True)
            geometric_volume = math.pi * (diameter / 2) ** 2 * length
            volume = item.get("physical_volume_mm3", geometric_volume)
            mass = item.get("physical_mass_mg", density * volume / 1000.0)
            cyl = Cylinder(
                id=cid,
                kind=kind,
                density_mgha_cm3=density,
                diameter_mm=diameter,
                length_mm=length,
                radius_mm=r.number(item, "radius_mm", where, minimum=0.0),
                angle_deg=r.number(item, "angle_deg", where),
                z_mm=r.number(item, "z_mm", where),
                physical_volume_mm3=float(volume),
                physical_mass_mg=float(mass),
            )
            # The stated truth must agree with the geometry (rounding of the manual aside).
            if abs(cyl.physical_volume_mm3 - geometric_volume) > max(0.05 * geometric_volume, 0.05):
                raise DefinitionError(
                    path, f"{where}.physical_volume_mm3",
                    f"{cyl.physical_volume_mm3} disagrees with pi r^2 L = {geometric_volume:.2f} mm3",
                )
            expected_mass = density * cyl.physical_volume_mm3 / 1000.0
            if abs(cyl.physical_mass_mg - expected_mass) > max(0.05 * expected_mass, 0.06):
                raise DefinitionError(
                    path, f"{where}.physical_mass_mg",
                    f"{cyl.physical_mass_mg} disagrees with density x volume = {expected_mass:.2f} mg",
                )
            cylinders[key].append(cyl)
    body = []
    for n, item in enumerate(data.get("body", []) or []):
        where = f"body[{n}]"
        if item.get("shape", "ellipse") != "ellipse":
            raise DefinitionError(path, f"{where}.shape", "only 'ellipse' is supported")
        body.append(
            BodyPart(
                id=r.text(item, "id", where),
                center_mm=r.pair(item, "center_mm", where),
                size_mm=r.pair(item, "size_mm", where),
                hu=r.number(item, "hu", where),
                only_with_ring=bool(item.get("only_with_ring", False)),
            )
        )
    hu_model_data = r.table(data, "hu_model")
    table_data = hu_model_data.get("ha_hu_per_mgha_cm3")
    if not isinstance(table_data, dict) or not table_data:
        raise DefinitionError(path, "hu_model.ha_hu_per_mgha_cm3", "must be a table of kVp = HU per mg/cm3")
    table = []
    for k, v in table_data.items():
        try:
            kv = float(k)
        except ValueError:
            raise DefinitionError(path, f"hu_model.ha_hu_per_mgha_cm3.{k}", "key must be a kVp number") from None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise DefinitionError(path, f"hu_model.ha_hu_per_mgha_cm3.{k}", f"must be a positive number, got {v!r}")
        table.append((kv, float(v)))
    z_min = r.number(insert, "z_min_mm", "insert")
    z_max = r.number(insert, "z_max_mm", "insert")
    if z_max <= z_min:
        raise DefinitionError(path, "insert.z_max_mm", "must be larger than insert.z_min_mm")
    return PhantomDefinition(
        id=r.text(head, "id", "phantom"),
        name=r.text(head, "name", "phantom"),
        manufacturer=str(head.get("manufacturer", "")),
        source=str(head.get("source", "")),
        insert_diameter_mm=r.number(insert, "diameter_mm", "insert", positive=True),
        insert_z_range_mm=(z_min, z_max),
        insert_hu=r.number(insert, "hu", "insert"),
        calcifications=tuple(cylinders["calcifications"]),
        rods=tuple(cylinders["rods"]),
        body=tuple(body),
        hu_model=HuModel(
            water_equivalent_hu=r.number(hu_model_data, "water_equivalent_hu", "hu_model"),
            ha_hu_per_mgha_cm3=tuple(sorted(table)),
        ),
        path=path,
        sha256=sha256,
    )
