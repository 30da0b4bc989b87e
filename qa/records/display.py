"""Check values in display units and precision: ``120 kV``, not ``120.000``.

A check's ``measured`` and ``expected`` are plain numbers (or texts, or ranges as ``[low, high]``)
in the units its id or metric names; this module gives that unit and writes the values with four
significant digits, trailing zeros dropped.  Pure: used by the terminal output, the HTML report
and the PDF alike.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Units of check ids (and metric keys) that do not carry their unit as a suffix.
_UNITS = {
    "kvp": "kV",
    "slice_thickness": "mm",
    "slice_increment": "mm",
    "reconstruction_fov": "mm",
    "scan_coverage": "mm",
    "cardiac_phase": "% RR",
    "heart_rate": "bpm",
    "ctdivol": "mGy",
    "dlp": "mGy cm",
    "effective_dose": "mSv",
    "trigger_latency": "ms",
    "c_ha": "mg/(cm³ HU)",
    "total_mass": "mg",
    "total_volume": "mm³",
    "total_agatston": "",
}
# Units by the suffix of a key (the project's naming rule: units in names), longest first.
_SUFFIXES = (("_mgycm", "mGy cm"), ("_mgy", "mGy"), ("_msv", "mSv"), ("_mas", "mAs"), ("_mm3", "mm³"), ("_mm", "mm"),
             ("_hu", "HU"), ("_bpm", "bpm"), ("_ms", "ms"), ("_pct", "%"))
# Per-insert metric keys (mass_800_5mm, volume_400_3mm, agatston_200_1mm).
_PREFIXES = (("mass_", "mg"), ("volume_", "mm³"), ("agatston_", ""))


# What a person calls a setting whose key is a field name (messages say "CTDIvol 4 mGy", never "ctdivol_mgy 4.0").
_LABELS = {"kvp": "tube voltage", "slice_thickness_mm": "slice thickness", "slice_increment_mm": "slice increment",
           "ctdivol_mgy": "CTDIvol", "exposure_mas": "exposure", "kernel": "kernel", "ring": "ring"}


def label_of(key: str) -> str:
    """A setting's name for people: ``CTDIvol`` for ``ctdivol_mgy`` (else the key, underscores as spaces)."""
    return _LABELS.get(key, key.replace("_", " "))


def said(key: str, value: Any) -> str:
    """A setting and its value in words and display units: ``tube voltage 120 kV``, ``CTDIvol 4 mGy``."""
    return f"{label_of(key)} {display(value, unit_of(key))}"


def unit_of(check_id: str, metric: str | None = None, *, ascii: bool = False) -> str:
    """The display unit of a check's values ('' for counts, scores and texts).

    ``metric``: the metric key a metric check compares (``source["metric"]``), which names the
    quantity better than the check's own id.  ``ascii``: mm3 rather than mm³ (terminals)."""
    key = (metric or check_id).removeprefix("acquisition_").removesuffix("_vs_baseline")
    unit = _UNITS.get(key)
    if unit is None:
        unit = next((u for p, u in _PREFIXES if key.startswith(p)), None)
    if unit is None:
        unit = next((u for s, u in _SUFFIXES if key.endswith(s)), "")
    return unit.replace("³", "3") if ascii else unit


def number(value: float) -> str:
    """Four significant digits, no trailing zeros, never an exponent for everyday values."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 10000:
        return f"{value:.0f}"
    if abs(value) < 0.001:
        return f"{value:.3g}"
    return f"{value:.4g}"


def display(value: Any, unit: str = "") -> str:
    """A measured or expected value with its unit: ``120 kV``, ``74.03 to 90.48 mg``, ``-`` for none."""
    if value is None:
        return "-"
    suffix = f" {unit}" if unit else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        text = number(value)
        return text if text == "-" else text + suffix
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return f"{number(value[0])} to {number(value[1])}{suffix}"
        return ", ".join(display(v) for v in value)
    text = str(value)
    if unit and re.fullmatch(r"[<>]= ?-?\d+(\.\d+)?", text.strip()):  # a one-sided limit ("<= 70") gets its unit too
        return text.strip() + suffix
    return text


def check_values(check, *, ascii: bool = False) -> tuple[str, str]:
    """(measured, expected) of a :class:`~qa.records.checks.Check` in display form."""
    metric = check.source.get("metric") if isinstance(check.source, dict) else None
    unit = unit_of(check.id, metric, ascii=ascii)
    return display(check.measured, unit), display(check.expected, unit)
