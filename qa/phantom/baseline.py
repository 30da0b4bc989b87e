"""A scanner's phantom-QA baseline: the configuration it belongs to and its metrics' mean and SD.

Records and one pure function (:func:`baseline_from_results`), light to import: the store reads
and writes them without loading the analysis.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qa.records.serialize import Record

Metrics = Mapping[str, float | None]


@dataclass(frozen=True)
class MetricStats(Record):
    mean: float
    sd: float
    n: int


@dataclass(frozen=True)
class Configuration(Record):
    """The acquisition and scoring configuration a baseline belongs to: runs are compared with a
    baseline only in the same configuration (anything else is a protocol change, not drift)."""

    phantom: str
    ring: str
    kvp: float | None
    kernel: str | None
    slice_thickness_mm: float | None
    scoring_method: str
    threshold_hu: float
    threshold_rule: str
    weight_breaks_hu: tuple[float, ...]
    min_area_mm2: float
    min_pixels: int
    connectivity: int
    volume_method: str

    @property
    def key(self) -> str:
        """The configuration as stored and compared (sorted JSON; the same text qa 0.1.0 stored)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def describe(self) -> str:
        """One line for people: ``ring large, 120 kV, kernel FC12, 3 mm slices, standard scoring``."""
        kvp = f"{self.kvp:g} kV" if self.kvp is not None else "kV unknown"
        thickness = f"{self.slice_thickness_mm:g} mm slices" if self.slice_thickness_mm is not None else "thickness unknown"
        return f"ring {self.ring}, {kvp}, kernel {self.kernel or 'unknown'}, {thickness}, {self.scoring_method} scoring"

    def differences(self, other: Configuration) -> list[str]:
        """What differs from ``other``, for people: ``ring none (not large)``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k} {_plain(mine[k])} (not {_plain(theirs[k])})" for k in sorted(mine) if mine[k] != theirs.get(k)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Configuration:
        """A stored configuration (the JSON of :attr:`key`) back as a record; unknown keys are refused."""
        names = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown configuration keys {unknown}")
        data = {name: values.get(name) for name in names}
        data["weight_breaks_hu"] = tuple(data["weight_breaks_hu"] or ())
        return cls(**data)


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return "/".join(_plain(v) for v in value)
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Baseline(Record):
    """A scanner's reference values for one acquisition configuration (versioned in the store)."""

    scanner: str  # the scanner key (manufacturer|model|serial)
    configuration: Configuration
    version: int
    created_at: dt.datetime  # when it was set (aware)
    stats: dict[str, MetricStats]
    run_ids: tuple[int, ...] = ()

    __json_properties__ = ("n_runs",)

    @property
    def n_runs(self) -> int:
        return max((s.n for s in self.stats.values()), default=0)


def baseline_from_results(results: list[Metrics], scanner: str, configuration: Configuration, version: int, created_at: dt.datetime,
                          run_ids: tuple[int, ...] = ()) -> Baseline:
    """Mean and SD of every metric over stored runs (their metrics by id); pure."""
    keys = sorted({k for r in results for k, v in r.items() if v is not None})
    stats = {}
    for key in keys:
        values = [float(r[key]) for r in results if r.get(key) is not None]
        if not values:
            continue
        mean = math.fsum(values) / len(values)
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
        stats[key] = MetricStats(mean, sd, len(values))
    return Baseline(scanner=scanner, configuration=configuration, version=version, created_at=created_at, stats=stats, run_ids=run_ids)
