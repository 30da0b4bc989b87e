"""Phantom-QA procedures as records: expected acquisition, detections, metric checks, baselines.

Procedures are site-editable data (``procedures/*.toml`` with ``kind = "phantom-qa"``);
:func:`qa.procedures.load_procedure` reads and validates them into these records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qa.records.provenance import DefinitionRef
from qa.records.verdicts import Actions

from qa.phantom.metrics import metric_key

# What to do at each level of the verdict when a procedure has no [actions] table (the qa
# developers' proposal, as the shipped procedure's; not a published standard).
DEFAULT_ACTIONS = Actions(
    fail="Do not use this scanner for calcium scoring until the physicist has reviewed this run.",
    warn="The scanner may be used for calcium scoring; the physicist reviews the warnings before the next daily QA.",
    incomplete="Not all clear: a check that could not be run is no pass. The physicist reviews this run; once the scanner "
               "has the procedure's minimum number of runs, set its baseline (qa baseline set).",
    pass_="The scanner may be used for calcium scoring.",
)

# The acquisition settings a procedure can expect (keys of the run's acquisition record).
ACQUISITION_KEYS = ("kvp", "slice_thickness_mm", "kernel", "ctdivol_mgy", "exposure_mas", "ring")


@dataclass(frozen=True)
class AcquisitionRule:
    """An expected acquisition setting: one value, a list of values, or a range."""

    key: str
    severity: str
    expected: Any = None
    allowed: tuple | None = None
    range: tuple[float, float] | None = None
    tolerance: float = 0.0
    match: str = "exact"  # or "prefix" (kernel families)
    # Technique settings (CTDIvol, mAs): a change of more than this % against the baseline is a
    # protocol change (the run is not compared with the baseline nor trended).
    baseline_tolerance_pct: float | None = None

    def describe(self) -> Any:
        """The expectation in display form: a number, a text, or a range as [low, high]."""
        if self.range is not None:
            return list(self.range)
        tol = f" (+-{self.tolerance:g})" if self.tolerance else ""
        if self.allowed is not None:
            if len(self.allowed) == 1:
                options = [self.allowed[0]]
            else:
                options = list(self.allowed)
            star = "*" if self.match == "prefix" else ""
            text = ", ".join(f"{v}{star}" for v in options)
            return (text if len(options) == 1 else f"one of {text}") + tol
        return self.expected if not tol else f"{self.expected}{tol}"

    def source_dict(self) -> dict:
        """The rule's machine-readable form, for a check's ``source``."""
        out: dict[str, Any] = {"match": self.match}
        if self.range is not None:
            out["range"] = list(self.range)
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        if self.expected is not None:
            out["expected"] = self.expected
        if self.tolerance:
            out["tolerance"] = self.tolerance
        return out


@dataclass(frozen=True)
class MetricRule:
    id: str
    metric: str
    insert: str | None
    reference: str  # "baseline" | "physical"
    tolerance: float
    action: float
    relative: bool  # levels in % of the reference

    @property
    def metric_key(self) -> str:
        """The key of the metric in a measurement (e.g. ``mass_800_5mm``, ``c_ha``)."""
        return metric_key(self.metric, self.insert)


@dataclass(frozen=True)
class PhantomProcedure:
    id: str
    name: str
    version: str
    source: str
    phantom: str  # the id of the phantom definition the procedure was validated against
    scoring_method: str
    acquisition: tuple[AcquisitionRule, ...]
    required_detections: tuple[str, ...]
    detection_severity: str
    checks: tuple[MetricRule, ...]
    baseline_min_runs: int
    tighten_after_runs: int
    tighten_sd: float
    min_sd_pct: float
    path: str
    sha256: str
    phantom_path: str = ""  # the file of that phantom definition (a built-in one or the site's own)
    interval_days: int | None = None  # how often the QA is due (days); None: not said (the dashboard assumes daily)
    actions: Actions = DEFAULT_ACTIONS  # what to do at each level of the verdict ([actions])

    @property
    def ref(self) -> DefinitionRef:
        return DefinitionRef(self.id, self.name, self.version, self.path, self.sha256)
