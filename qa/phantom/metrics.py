"""The metrics of a phantom run: stable ids, and which ones a phantom's control charts follow.

Per insert: ``mass_<insert>``, ``volume_<insert>``, ``agatston_<insert>`` (e.g. ``mass_800_5mm``);
whole phantom: ``total_mass``, ``total_volume``, ``total_agatston``, ``c_ha``, ``water_hu``,
``ha200_hu``, ``noise_hu``; technique: ``ctdivol_mgy``, ``exposure_mas``.  Ids are stored with
every run and never renamed.
"""

from __future__ import annotations

from collections.abc import Iterable

from qa.phantom.definition import DEFAULT_CHART_METRICS_GLOBAL, PhantomDefinition

# What a procedure's check can name: per-insert metrics (with ``insert``) and whole-phantom metrics.
INSERT_METRICS = ("mass_mg", "volume_mm3", "agatston")
GLOBAL_METRICS = (
    "total_mass_mg", "total_volume_mm3", "total_agatston", "c_ha_mg_per_cm3_hu", "water_hu", "ha200_hu", "noise_hu",
)
_GLOBAL_KEYS = {
    "total_mass_mg": "total_mass",
    "total_volume_mm3": "total_volume",
    "total_agatston": "total_agatston",
    "c_ha_mg_per_cm3_hu": "c_ha",
}
TECHNIQUE_METRICS = ("ctdivol_mgy", "exposure_mas")


def metric_key(metric: str, insert: str | None) -> str:
    """The stable id of a metric: ``mass_800_5mm``, ``total_mass``, ``c_ha``, ``noise_hu`` ..."""
    if insert is None:
        return _GLOBAL_KEYS.get(metric, metric)
    return f"{metric.split('_')[0]}_{insert}"


def default_chart_metrics(definition: PhantomDefinition) -> tuple[str, ...]:
    """The metrics charted when neither the user nor the definition names any: the mass of the
    largest insert of each density (densest first), then the totals and the calibration."""
    if definition.chart_metrics:
        return definition.chart_metrics
    largest: dict[float, object] = {}
    for c in definition.calcifications:
        best = largest.get(c.density_mgha_cm3)
        if best is None or c.diameter_mm > best.diameter_mm:  # type: ignore[attr-defined]
            largest[c.density_mgha_cm3] = c
    masses = tuple(f"mass_{largest[d].id}" for d in sorted(largest, reverse=True))  # type: ignore[attr-defined]
    return masses + DEFAULT_CHART_METRICS_GLOBAL


def summary_metrics(metric_ids: Iterable[str]) -> list[str]:
    """The metrics a baseline summary shows, sorted: the masses, totals, calibration and technique
    (per-insert volumes and Agatston scores are left out: they follow the masses)."""
    return sorted(m for m in metric_ids if not m.startswith(("volume_", "agatston_")))


def mass_metrics(metric_ids: Iterable[str]) -> list[str]:
    """The mass metrics among ``metric_ids`` (what drifts first when calcium reads brighter), in order."""
    return [m for m in metric_ids if m.startswith("mass_") or m == "total_mass"]


# The human name and unit of each whole-phantom and technique metric (charts, tables).
_NAMES = {
    "total_mass": ("Total mass, all inserts", "mg"),
    "total_volume": ("Total volume, all inserts", "mm3"),
    "total_agatston": ("Total Agatston score, all inserts", ""),
    "c_ha": ("Calibration factor c_HA", "mg/(cm3 HU)"),
    "water_hu": ("Water rod CT number", "HU"),
    "ha200_hu": ("HA-200 rod CT number", "HU"),
    "noise_hu": ("Image noise, SD in the water rod", "HU"),
    "ctdivol_mgy": ("CTDIvol", "mGy"),
    "exposure_mas": ("Exposure", "mAs"),
}
_INSERT_NAMES = {"mass": ("Mass", "mg"), "volume": ("Volume", "mm3"), "agatston": ("Agatston score", "")}


def metric_name(metric: str, definition: PhantomDefinition | None = None) -> tuple[str, str]:
    """A metric id's human name and unit: ``mass_800_5mm`` -> ("Mass, 800 mg/cm3 5 mm insert", "mg"),
    ``noise_hu`` -> ("Image noise, SD in the water rod", "HU").  An insert is named by its density and
    diameter from ``definition`` when given (else by its id); an unknown id is its own name."""
    if metric in _NAMES:
        return _NAMES[metric]
    kind, _, insert = metric.partition("_")
    if kind in _INSERT_NAMES and insert:
        name, unit = _INSERT_NAMES[kind]
        cylinder = next((c for c in definition.calcifications if c.id == insert), None) if definition is not None else None
        what = f"{cylinder.density_mgha_cm3:g} mg/cm3 {cylinder.diameter_mm:g} mm insert" if cylinder else f"insert {insert}"
        return f"{name}, {what}", unit
    return metric, ""


def metric_title(metric: str, definition: PhantomDefinition | None = None) -> str:
    """The name with its unit: ``Mass, 800 mg/cm3 5 mm insert (mg)``."""
    name, unit = metric_name(metric, definition)
    return f"{name} ({unit})" if unit else name
