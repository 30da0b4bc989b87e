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
