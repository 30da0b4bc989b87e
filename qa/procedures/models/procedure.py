"""A phantom-QA procedure file (``kind = "phantom-qa"``; schema in procedures/README.md) -> PhantomProcedure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, create_model, model_validator

from qa.calcium.presets import METHOD_PRESETS
from qa.errors import DefinitionError
from qa.phantom.metrics import GLOBAL_METRICS, INSERT_METRICS, TECHNIQUE_METRICS
from qa.phantom.procedure import ACQUISITION_KEYS, DEFAULT_ACTIONS, AcquisitionRule, MetricRule, PhantomProcedure
from qa.procedures.builtin import looks_like_path
from qa.procedures.models.base import (
    ActionsTable, Match, NonBlank, NonNegative, NumberAsWritten, Percent, Range, RuleError, Severity, Table, Text, Unique, Whole, kind_first,
    within,
)
from qa.records.plausibility import RANGES

# The acquisition settings whose values are texts; the others are numbers, each with the
# quantity of qa.records.plausibility whose limits its expected values must respect.
TEXT_SETTINGS = frozenset({"kernel", "ring"})
NUMBER_SETTINGS = {"kvp": "kvp", "slice_thickness_mm": "slice_thickness_mm", "ctdivol_mgy": "ctdivol_mgy", "exposure_mas": "exposure_mas"}
if set(NUMBER_SETTINGS) | TEXT_SETTINGS != set(ACQUISITION_KEYS):
    raise TypeError("every acquisition setting of qa.phantom.procedure.ACQUISITION_KEYS needs a type here")
# Absolute tolerance and action levels of a metric check: positive, and below any value a phantom
# metric takes (HU, mg, mm3, Agatston of one phantom): a larger one would disable the check.
LEVEL_MAX = 10000.0


class ProcedureHead(Table):
    id: Text
    kind: Literal["phantom-qa"]
    name: Text
    version: str = ""
    phantom: Text
    source: str = ""
    # How often the QA is due, in days (the dashboard flags a scanner whose last run is older); none: daily.
    interval_days: Annotated[Whole, Field(ge=1, le=366)] | None = None


class ScoringTable(Table):
    method: Literal[tuple(METHOD_PRESETS)] = "standard"


class _SettingRule(Table):
    """What every expected acquisition setting has; exactly one of expected, allowed (or, for numbers, range)."""

    match: Match = "exact"
    severity: Severity = "fail"
    baseline_tolerance_pct: Percent | None = None  # technique settings only (checked by the acquisition table)

    @model_validator(mode="after")
    def _one_expectation(self) -> _SettingRule:
        choices = [k for k in ("expected", "allowed", "range") if k in type(self).model_fields]
        given = [k for k in choices if getattr(self, k) is not None]
        if len(given) != 1:
            raise RuleError(f"needs exactly one of {', '.join(choices[:-1])} or {choices[-1]}"
                            + (f" (got {', '.join(given)})" if given else ""))
        return self

    def record(self, key: str) -> AcquisitionRule:
        allowed = getattr(self, "allowed", None)
        return AcquisitionRule(key=key, severity=self.severity, expected=self.expected,
                               allowed=None if allowed is None else tuple(allowed), range=getattr(self, "range", None),
                               tolerance=getattr(self, "tolerance", 0.0), match=self.match,
                               baseline_tolerance_pct=self.baseline_tolerance_pct)


class NumberSetting(_SettingRule):
    expected: NumberAsWritten | None = None
    allowed: Annotated[list[NumberAsWritten], Field(min_length=1), Unique] | None = None
    range: Range | None = None
    tolerance: NonNegative = 0.0

    def check_limits(self, quantity: str) -> None:
        """Every expected value within the plausibility limits of the setting's quantity."""
        keys = [("expected",), *(("allowed", n) for n in range(len(self.allowed or ()))), ("range", 0), ("range", 1)]
        for key in keys:
            value = getattr(self, key[0])
            value = value[key[1]] if len(key) > 1 and value is not None else value
            if value is not None and not RANGES[quantity].is_possible(value):
                raise RuleError(f"must be from {RANGES[quantity].describe_limits()} ({RANGES[quantity].source}), got {value:g}", *key)
        if self.tolerance > RANGES[quantity].limits[1]:
            raise RuleError(f"must be at most {RANGES[quantity].limits[1]:g} (the largest possible value)", "tolerance")


class TextSetting(_SettingRule):
    expected: NonBlank | None = None
    allowed: Annotated[list[NonBlank], Field(min_length=1), Unique] | None = None


class _AcquisitionBase(Table):
    @model_validator(mode="after")
    def _technique_settings(self) -> _AcquisitionBase:
        for key, quantity in NUMBER_SETTINGS.items():
            rule = getattr(self, key)
            if rule is not None:
                try:
                    rule.check_limits(quantity)
                except RuleError as exc:
                    raise RuleError(str(exc), key, *exc.key) from None
        for key in ACQUISITION_KEYS:
            rule = getattr(self, key)
            if rule is not None and rule.baseline_tolerance_pct is not None and key not in TECHNIQUE_METRICS:
                raise RuleError(f"applies to {' and '.join(TECHNIQUE_METRICS)} only", key, "baseline_tolerance_pct")
        return self


# [acquisition]: one optional table per setting of qa.phantom.procedure.ACQUISITION_KEYS.
AcquisitionTable = create_model(
    "AcquisitionTable", __base__=_AcquisitionBase,
    **{key: ((TextSetting if key in TEXT_SETTINGS else NumberSetting) | None, None) for key in ACQUISITION_KEYS},
)


class BaselineTable(Table):
    # counts of daily runs: at most ten years of them
    min_runs: Annotated[Whole, Field(ge=2, le=3650)] = 5
    tighten_after_runs: Annotated[Whole, Field(le=3650)] = 20
    tighten_sd: Annotated[float, Field(ge=1, le=10)] = 3.0
    min_sd_pct: Percent = 2.0

    @model_validator(mode="after")
    def _tighten_after_enough_runs(self) -> BaselineTable:
        if self.tighten_after_runs < self.min_runs:
            raise RuleError(f"must be at least min_runs ({self.min_runs}), got {self.tighten_after_runs}", "tighten_after_runs")
        return self


class DetectionTable(Table):
    required: Annotated[list[Text], Unique] = []
    severity: Severity = "fail"


class MetricCheckTable(Table):
    """One metric check: a per-insert or whole-phantom metric against the baseline or the physical truth."""

    id: Text
    metric: Text
    insert: Text | None = None
    reference: Literal["baseline", "physical"]
    tolerance_pct: Annotated[float, Field(gt=0), within("percent")] | None = None
    action_pct: Annotated[float, Field(gt=0), within("percent")] | None = None
    tolerance: Annotated[float, Field(gt=0, le=LEVEL_MAX)] | None = None
    action: Annotated[float, Field(gt=0, le=LEVEL_MAX)] | None = None

    @model_validator(mode="after")
    def _rules(self) -> MetricCheckTable:
        if self.insert is None and self.metric not in GLOBAL_METRICS:
            raise RuleError(f"{self.metric!r} is not a whole-phantom metric ({', '.join(GLOBAL_METRICS)}); "
                            "per-insert metrics need 'insert'", "metric")
        if self.insert is not None and self.metric not in INSERT_METRICS:
            raise RuleError(f"{self.metric!r} is not a per-insert metric ({', '.join(INSERT_METRICS)})", "metric")
        if self.reference == "physical" and not (self.insert is not None and self.metric in ("mass_mg", "volume_mm3")):
            raise RuleError("the physical truth is known for insert mass_mg and volume_mm3 only", "reference")
        if self.relative and (self.tolerance is not None or self.action is not None):
            raise RuleError("give the levels either in % (tolerance_pct, action_pct) or absolute (tolerance, action)")
        tol_key, act_key = ("tolerance_pct", "action_pct") if self.relative else ("tolerance", "action")
        for key in (tol_key, act_key):
            if getattr(self, key) is None:
                raise RuleError("is missing (a check needs tolerance_pct and action_pct, or tolerance and action)", key)
        tolerance, action = getattr(self, tol_key), getattr(self, act_key)
        if action < tolerance:
            raise RuleError(f"the action level ({action:g}) must not be tighter than the tolerance ({tolerance:g})", act_key)
        return self

    @property
    def relative(self) -> bool:
        return self.tolerance_pct is not None or self.action_pct is not None

    def record(self) -> MetricRule:
        if self.relative:
            return MetricRule(self.id, self.metric, self.insert, self.reference, self.tolerance_pct, self.action_pct, True)
        return MetricRule(self.id, self.metric, self.insert, self.reference, self.tolerance, self.action, False)


class ProcedureFile(Table):
    procedure: ProcedureHead
    scoring: ScoringTable = ScoringTable()
    acquisition: AcquisitionTable = AcquisitionTable()
    baseline: BaselineTable = BaselineTable()
    detection: DetectionTable = DetectionTable()
    checks: list[MetricCheckTable] = []
    actions: ActionsTable = ActionsTable()

    @model_validator(mode="before")
    @classmethod
    def _kind_first(cls, data: Any) -> Any:
        return kind_first(data, "procedure", "phantom-qa", "qa phantom")

    _phantom: Any = PrivateAttr(None)  # the phantom definition the procedure was checked against

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> ProcedureFile:
        context = info.context or {}
        load_phantom = context.get("load_phantom")
        if load_phantom is None:
            raise RuleError("cannot be checked: no phantom loader was given to the validation", "procedure", "phantom")
        seen: set[str] = set()
        for n, check in enumerate(self.checks):
            if check.id in seen:
                raise RuleError(f"duplicate check id {check.id!r}", "checks", n, "id")
            seen.add(check.id)
        phantom = _resolve_phantom(self.procedure.phantom, load_phantom, context.get("phantom"), context.get("file"))
        phantom_id = phantom.id
        inserts = [c.id for c in phantom.calcifications]
        for n, insert in enumerate(self.detection.required):
            if insert not in inserts:
                raise RuleError(f"{insert!r} is not an insert of {phantom_id} ({', '.join(inserts)})", "detection", "required", n)
        for n, check in enumerate(self.checks):
            if check.insert is not None and check.insert not in inserts:
                raise RuleError(f"{check.insert!r} is not an insert of {phantom_id} ({', '.join(inserts)})", "checks", n, "insert")
        self._phantom = phantom
        return self

    def record(self, path: str, sha256: str) -> PhantomProcedure:
        head, base = self.procedure, self.baseline
        acquisition = tuple(rule.record(key) for key in ACQUISITION_KEYS if (rule := getattr(self.acquisition, key)) is not None)
        return PhantomProcedure(
            id=head.id, name=head.name, version=head.version, source=head.source, phantom=self._phantom.id,
            scoring_method=self.scoring.method, acquisition=acquisition, required_detections=tuple(self.detection.required),
            detection_severity=self.detection.severity, checks=tuple(c.record() for c in self.checks),
            baseline_min_runs=base.min_runs, tighten_after_runs=base.tighten_after_runs, tighten_sd=base.tighten_sd,
            min_sd_pct=base.min_sd_pct, path=path, sha256=sha256, phantom_path=self._phantom.path,
            interval_days=None if head.interval_days is None else int(head.interval_days),
            actions=self.actions.record(DEFAULT_ACTIONS),
        )


def _resolve_phantom(ref: str, load_phantom: Any, given: Any, file: Path | None) -> Any:
    """The phantom definition a procedure's ``phantom`` key names: ``given`` (a site's definition
    loaded by the caller) when it is its id, a built-in id, or a definition file's path (relative
    to the procedure's folder).  Given a phantom, the procedure must name that one."""
    def refused(message: str) -> RuleError:
        return RuleError(message, "procedure", "phantom")

    if given is not None and ref == given.id:
        return given
    target: str | Path = ref
    if looks_like_path(ref):  # a file, relative to the procedure's folder
        target = Path(ref)
        if not target.is_absolute() and file is not None:
            target = Path(file).parent / target
    try:
        phantom = load_phantom(target)
    except DefinitionError as exc:
        if given is None and not looks_like_path(ref):
            raise refused(f"names {ref!r}, which is not a built-in phantom: {exc.hint}; for a site's own phantom "
                          "give its definition file too (qa phantom --phantom PATH)") from None
        raise refused(f"names {ref!r}, which cannot be loaded ({exc})") from None
    if given is not None and phantom.id != given.id:
        raise refused(f"names the phantom {phantom.id!r}, not the phantom given ({given.id!r}, {given.path}); "
                      "use a procedure written for that phantom")
    return phantom

