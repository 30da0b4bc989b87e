"""Phantom definitions (``phantoms/*.toml``) -> :class:`qa.phantom.definition.PhantomDefinition`.

A definition is found by id among the built-in ones (the repository's ``phantoms/`` folder, or
the copy inside an installed wheel) or read from a path the user gives.  Every problem in a
file is reported with the file and the key.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from pathlib import Path
from typing import Any

from qa.errors import DefinitionError
from qa.phantom.definition import BodyPart, Cylinder, HuModel, PhantomDefinition
from qa.procedures.builtin import builtin_dir


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
    rods = tuple(cylinders["rods"])
    water_rod, ha_rod = _calibration_rods(data, rods, path)
    chart_metrics = _chart_metrics(data, cylinders["calcifications"], path)
    return PhantomDefinition(
        id=r.text(head, "id", "phantom"),
        name=r.text(head, "name", "phantom"),
        manufacturer=str(head.get("manufacturer", "")),
        source=str(head.get("source", "")),
        insert_diameter_mm=r.number(insert, "diameter_mm", "insert", positive=True),
        insert_z_range_mm=(z_min, z_max),
        insert_hu=r.number(insert, "hu", "insert"),
        calcifications=tuple(cylinders["calcifications"]),
        rods=rods,
        body=tuple(body),
        hu_model=HuModel(
            water_equivalent_hu=r.number(hu_model_data, "water_equivalent_hu", "hu_model"),
            ha_hu_per_mgha_cm3=tuple(sorted(table)),
        ),
        path=path,
        sha256=sha256,
        water_rod_id=water_rod,
        ha_rod_id=ha_rod,
        chart_metrics=chart_metrics,
    )


def _calibration_rods(data: dict[str, Any], rods: tuple[Cylinder, ...], path: str) -> tuple[str, str]:
    """``[calibration] water_rod``, ``ha_rod``; by default the 0 mg/cm3 rod and the densest rod."""
    table = data.get("calibration", {})
    if not isinstance(table, dict):
        raise DefinitionError(path, "calibration", "must be a table (water_rod = ..., ha_rod = ...)")
    unknown = sorted(set(table) - {"water_rod", "ha_rod"})
    if unknown:
        raise DefinitionError(path, f"calibration.{unknown[0]}", "unknown key; use water_rod, ha_rod")
    by_id = {rod.id: rod for rod in rods}
    water = table.get("water_rod") or next((rod.id for rod in rods if rod.density_mgha_cm3 == 0.0), None)
    ha = table.get("ha_rod") or max(rods, key=lambda rod: rod.density_mgha_cm3).id
    if water not in by_id or by_id[water].density_mgha_cm3 != 0.0:
        raise DefinitionError(path, "calibration.water_rod", f"must name a rod of density 0 (rods: {', '.join(by_id)})")
    if ha not in by_id or by_id[ha].density_mgha_cm3 <= 0.0:
        raise DefinitionError(path, "calibration.ha_rod", f"must name a rod of positive density (rods: {', '.join(by_id)})")
    return water, ha


def _chart_metrics(data: dict[str, Any], calcifications: list[Cylinder], path: str) -> tuple[str, ...]:
    """``[charts] metrics``: metric ids the control charts follow by default (checked against this phantom)."""
    from qa.phantom.metrics import GLOBAL_METRICS, INSERT_METRICS, TECHNIQUE_METRICS, metric_key

    table = data.get("charts", {})
    if not isinstance(table, dict) or sorted(set(table) - {"metrics"}):
        raise DefinitionError(path, "charts", "must be a table with one key, metrics = [metric ids]")
    metrics = table.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise DefinitionError(path, "charts.metrics", "must be a list of metric ids")
    known = {metric_key(m, c.id) for c in calcifications for m in INSERT_METRICS}
    known |= {metric_key(m, None) for m in GLOBAL_METRICS} | set(TECHNIQUE_METRICS)
    for n, metric in enumerate(metrics):
        if metric not in known:
            raise DefinitionError(path, f"charts.metrics[{n}]", f"{metric!r} is not a metric of this phantom ({', '.join(sorted(known))})")
    return tuple(metrics)
