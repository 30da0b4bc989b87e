"""Dose tables (``procedures/dose-reference.toml``): k-factors and reference levels, each with its source."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from qa.dose import DoseTables, KFactor, ReferenceLevel
from qa.errors import DefinitionError
from qa.procedures.common import read_definition
from qa.records.dose import PHANTOM_KEYS


def load_dose_tables(name_or_path: str | Path = "dose-reference") -> DoseTables:
    """The k-factor and reference-level tables (built-in by id, or a site's own file by path)."""
    data, path, sha256 = read_definition(name_or_path, what="dose-table", available=lambda: ["dose-reference"])
    where = str(path)
    if (data.get("tables") or {}).get("kind") != "dose-tables":
        raise DefinitionError(where, "tables.kind", "must be 'dose-tables'")
    k_factors: dict[str, KFactor] = {}
    for n, item in enumerate(data.get("k_factors") or []):
        key = f"k_factors[{n}]"
        k_id = _text(item, "id", key, where)
        if k_id in k_factors:
            raise DefinitionError(where, f"{key}.id", f"duplicate k-factor id {k_id!r}")
        k = _number(item, "k_msv_per_mgycm", key, where)
        if not 0 < k < 1:
            raise DefinitionError(where, f"{key}.k_msv_per_mgycm", f"must be between 0 and 1 mSv/(mGy cm), got {k}")
        basis = item.get("icrp_basis")
        if basis not in (60, 103):
            raise DefinitionError(where, f"{key}.icrp_basis", f"must be 60 or 103, got {basis!r}")
        k_factors[k_id] = KFactor(k_id, _text(item, "name", key, where), k, basis, _text(item, "source", key, where),
                                  _codes(item.get("regions", []), f"{key}.regions", where))
    if not k_factors:
        raise DefinitionError(where, "k_factors", "at least one k-factor is needed")
    defaults = data.get("defaults") or {}
    for phantom in PHANTOM_KEYS:
        if defaults.get(phantom) not in k_factors:
            raise DefinitionError(where, f"defaults.{phantom}", f"must name a k-factor id ({', '.join(k_factors)})")
    levels = []
    for n, item in enumerate(data.get("reference_levels") or []):
        key = f"reference_levels[{n}]"
        kind = item.get("kind")
        if kind not in ("national", "site"):
            raise DefinitionError(where, f"{key}.kind", f"must be 'national' or 'site', got {kind!r}")
        values = {}
        for quantity in ("ctdivol_mgy", "dlp_mgycm", "dose_msv"):
            if quantity in item:
                values[quantity] = _number(item, quantity, key, where)
        if not values:
            raise DefinitionError(where, key, "gives no level (ctdivol_mgy, dlp_mgycm or dose_msv)")
        levels.append(ReferenceLevel(
            id=_text(item, "id", key, where), name=_text(item, "name", key, where), kind=kind,
            source=_text(item, "source", key, where), protocols=tuple(item.get("protocols", [])),
            name_patterns=tuple(p.lower() for p in item.get("name_patterns", [])),
            regions=_codes(item.get("regions", []), f"{key}.regions", where), **values,
        ))
    return DoseTables(k_factors, {p: defaults[p] for p in PHANTOM_KEYS}, tuple(levels), where, sha256)


def _text(item: dict, key: str, where: str, path: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(path, f"{where}.{key}", "is missing or is not a text")
    return value.strip()


def _number(item: dict, key: str, where: str, path: str) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise DefinitionError(path, f"{where}.{key}", f"must be a non-negative number, got {value!r}")
    return float(value)


def _codes(value: Any, where: str, path: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not all(isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c) for c in value):
        raise DefinitionError(path, where, 'must be a list of ["CodeValue", "CodingSchemeDesignator"] pairs')
    return tuple((c[0], c[1]) for c in value)
