"""An exam-protocol file (``kind = "exam-protocol"``, ``procedures/cac-*.toml``; schema in procedures/README.md) -> ExamProtocol.

``[rules]`` holds one optional table per check of the registry (:mod:`qa.compliance.registry`),
and each check's rule model is built from its registry entry: its ``value_kind`` types
``expected`` and ``allowed`` (numbers, texts, or a gating mode), its ``rule_keys`` add the keys
only it accepts.  A new check in the registry is thus a new key here, with no change to this file
unless it brings a new kind of rule key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, create_model, model_validator

from qa.compliance.protocol import DEFAULT_ACTIONS, GATING_MODES, ExamProtocol, ProtocolRule
from qa.compliance.registry import EXAM_CHECKS, ExamCheck
from qa.ecg.settings import GatingSettings
from qa.motion.settings import MotionSettings
from qa.procedures.models.base import (
    ActionsTable,
    BeatTime, Match, NonBlank, NonNegative, Number, NumberAsWritten, Percent, Range, RuleError, Severity, Table, Text, Unique,
    Whole, kind_first, within,
)
from qa.records.plausibility import RANGES

# The rule keys a registry entry may add (ExamCheck.rule_keys), with their types.
RULE_KEY_TYPES: dict[str, Any] = {
    "equal_to": Literal["slice_thickness"],  # slice_increment: contiguous slices
    "retrospective": Severity,  # gating_mode: the severity of each mode other than the expected one
    "none": Severity,
    "delay_range_ms": Annotated[Range, within("beat_time_ms")],  # cardiac_phase: a trigger delay window, when the scanner gives no phase
    "reference": Literal["level"],  # dose checks: the protocol's reference level
    "limits": Literal["motion"],  # breath_hold_motion: judged by the protocol's [motion] table
}
# What expected / allowed hold, by the registry's value_kind.
VALUE_TYPES: dict[str, Any] = {"number": NumberAsWritten, "text": NonBlank, "mode": Literal[GATING_MODES]}
_EXPECTATIONS = ("expected", "allowed", "range", "maximum", "minimum", "equal_to", "reference", "limits")
# The quantity (qa.records.plausibility) whose limits bound the expected values of each number check.
CHECK_QUANTITIES = {
    "kvp": "kvp", "slice_thickness": "slice_thickness_mm", "slice_increment": "slice_thickness_mm",
    "reconstruction_fov": "length_mm", "cardiac_phase": "percent", "heart_rate": "heart_rate_bpm",
    "scan_coverage": "length_mm", "ctdivol": "ctdivol_mgy", "dlp": "dlp_mgycm", "effective_dose": "dose_msv",
}


class ProtocolHead(Table):
    id: Text
    kind: Literal["exam-protocol"]
    name: Text
    version: str = ""
    source: Text
    vendors: Annotated[list[Text], Unique] = []
    series_patterns: Annotated[list[Text], Unique] = []
    k_factor: Text | None = None
    reference_level: Text | None = None


class _Rule(Table):
    """The keys every check's rule accepts; exactly one expectation."""

    range: Range | None = None
    maximum: Number | None = None
    minimum: Number | None = None
    tolerance: NonNegative = 0.0
    match: Match = "exact"
    severity: Severity = "fail"
    source: Text

    @model_validator(mode="after")
    def _one_expectation(self) -> _Rule:
        keys = [k for k in _EXPECTATIONS if k in type(self).model_fields]
        given = {"maximum/minimum" if k in ("maximum", "minimum") else k for k in keys if getattr(self, k) is not None}
        if len(given) != 1:
            names = [k for k in keys if k != "minimum"]
            names = ["maximum/minimum" if k == "maximum" else k for k in names]
            raise RuleError(f"needs exactly one expectation: {', '.join(names[:-1])} or {names[-1]}"
                            + (f" (got {', '.join(sorted(given))})" if given else ""))
        return self

    def check_limits(self, quantity: str) -> None:
        """Every expected number within the plausibility limits of the check's quantity."""
        p = RANGES[quantity]
        values = [(("expected",), getattr(self, "expected", None)), (("maximum",), self.maximum), (("minimum",), self.minimum)]
        values += [(("allowed", n), v) for n, v in enumerate(getattr(self, "allowed", None) or ())]
        values += [(("range", n), v) for n, v in enumerate(self.range or ())]
        for key, value in values:
            if value is not None and not p.is_possible(value):
                raise RuleError(f"must be from {p.describe_limits()} ({p.source}), got {value:g}", *key)
        if self.tolerance > p.limits[1]:
            raise RuleError(f"must be at most {p.limits[1]:g} (the largest possible {p.quantity})", "tolerance")

    def record(self, check_id: str) -> ProtocolRule:
        get = lambda key: getattr(self, key, None)  # noqa: E731  (keys only some checks have)
        return ProtocolRule(
            check_id=check_id, severity=self.severity, source=self.source, expected=self.expected,
            allowed=None if self.allowed is None else tuple(self.allowed), range=self.range, maximum=self.maximum,
            minimum=self.minimum, tolerance=self.tolerance, match=self.match, equal_to=get("equal_to"),
            mode_severity=tuple((mode, get(mode)) for mode in ("retrospective", "none") if get(mode) is not None),
            reference=get("reference"), delay_range_ms=get("delay_range_ms"), limits=get("limits"),
        )


def _rule_model(check: ExamCheck) -> type[_Rule]:
    """The rule table of one check: expected/allowed of its value kind, plus the keys only it accepts."""
    value = VALUE_TYPES[check.value_kind]
    if check.value_kind == "number" and check.id not in CHECK_QUANTITIES:
        raise TypeError(f"the registry's number check {check.id} has no quantity in CHECK_QUANTITIES")
    unknown = sorted(check.rule_keys - set(RULE_KEY_TYPES))
    if unknown:
        raise TypeError(f"the registry's check {check.id} has rule keys without a type in RULE_KEY_TYPES: {unknown}")
    fields: dict[str, Any] = {
        # a gating mode is judged against the one expected mode (the others' severities are keys of their own)
        "expected": (value, ...) if check.value_kind == "mode" else (value | None, None),
        "allowed": (Annotated[list[value], Field(min_length=1), Unique] | None, None),
    }
    fields.update({key: (RULE_KEY_TYPES[key] | None, None) for key in sorted(check.rule_keys)})
    return create_model(f"{check.id}_rule", __base__=_Rule, **fields)


RulesTable = create_model("RulesTable", __base__=Table, **{c.id: (_rule_model(c) | None, None) for c in EXAM_CHECKS})


class GatingTable(Table):
    """``[gating]``: every key optional, defaults from :class:`qa.ecg.gating.GatingSettings`."""

    min_lead_ms: BeatTime | None = None
    predict_beats: Annotated[Whole, Field(ge=1, le=100)] | None = None
    trigger_latency_max_ms: BeatTime | None = None
    delay_pct: Percent | None = None
    delay_ms: BeatTime | None = None
    window_ms: Annotated[float, Field(ge=1), within("beat_time_ms")] | None = None

    @model_validator(mode="after")
    def _one_delay(self) -> GatingTable:
        if self.delay_pct is not None and self.delay_ms is not None:
            raise RuleError("give the trigger delay either in % (delay_pct) or in ms (delay_ms)")
        return self

    def record(self) -> GatingSettings:
        d = GatingSettings()
        pick = lambda value, default: default if value is None else value  # noqa: E731
        return GatingSettings(
            min_lead_ms=pick(self.min_lead_ms, d.min_lead_ms),
            predict_beats=pick(self.predict_beats, d.predict_beats),
            trigger_latency_max_ms=pick(self.trigger_latency_max_ms, d.trigger_latency_max_ms),
            delay_pct=pick(self.delay_pct, None if self.delay_ms is not None else d.delay_pct),
            delay_ms=self.delay_ms,
            window_ms=pick(self.window_ms, d.window_ms),
        )


class MotionTable(Table):
    """``[motion]``: breath-hold motion between stacks (qa motion, qa check); defaults from
    :class:`qa.motion.MotionSettings` (our proposal: no published threshold exists)."""

    warn_shift_fraction: Annotated[float, within("thickness_fraction")] | None = None
    fail_shift_fraction: Annotated[float, within("thickness_fraction")] | None = None
    warn_robust_z: Annotated[float, within("robust_z")] | None = None
    source: Text | None = None

    @model_validator(mode="after")
    def _warn_before_fail(self) -> MotionTable:
        d = MotionSettings()
        warn = d.warn_shift_fraction if self.warn_shift_fraction is None else self.warn_shift_fraction
        fail = d.fail_shift_fraction if self.fail_shift_fraction is None else self.fail_shift_fraction
        if warn > fail:
            raise RuleError(f"must not exceed fail_shift_fraction ({fail:g}): a shift would fail before it warns",
                            "warn_shift_fraction")
        return self

    def record(self) -> MotionSettings:
        d = MotionSettings()
        pick = lambda value, default: default if value is None else value  # noqa: E731
        return MotionSettings(
            warn_shift_fraction=pick(self.warn_shift_fraction, d.warn_shift_fraction),
            fail_shift_fraction=pick(self.fail_shift_fraction, d.fail_shift_fraction),
            warn_robust_z=pick(self.warn_robust_z, d.warn_robust_z),
            source=pick(self.source, d.source),
        )


class ProtocolFile(Table):
    protocol: ProtocolHead
    gating: GatingTable = GatingTable()
    motion: MotionTable = MotionTable()
    rules: RulesTable
    actions: ActionsTable = ActionsTable()

    @model_validator(mode="before")
    @classmethod
    def _kind_first(cls, data: Any) -> Any:
        return kind_first(data, "protocol", "exam-protocol", "qa check")

    @model_validator(mode="after")
    def _essential_rules(self) -> ProtocolFile:
        """A calcium-score exam is always judged on its essential settings: a protocol without a rule
        for one of them would let an exam pass unchecked."""
        for check in EXAM_CHECKS:
            if check.essential and getattr(self.rules, check.id) is None:
                essential = ", ".join(c.id for c in EXAM_CHECKS if c.essential)
                raise RuleError(f"is missing: every protocol checks {essential} (the essential settings of a calcium score)",
                                "rules", check.id)
        return self

    @model_validator(mode="after")
    def _plausible_expectations(self) -> ProtocolFile:
        for check_id, quantity in CHECK_QUANTITIES.items():
            rule = getattr(self.rules, check_id)
            if rule is not None:
                try:
                    rule.check_limits(quantity)
                except RuleError as exc:
                    raise RuleError(str(exc), "rules", check_id, *exc.key) from None
        return self

    @model_validator(mode="after")
    def _reference_level_named(self) -> ProtocolFile:
        for check in EXAM_CHECKS:
            rule = getattr(self.rules, check.id)
            if getattr(rule, "reference", None) == "level" and self.protocol.reference_level is None:
                raise RuleError("needs protocol.reference_level (an id in procedures/dose-reference.toml)",
                                "rules", check.id, "reference")
        return self

    def record(self, path: str, sha256: str) -> ExamProtocol:
        head = self.protocol
        rules = {c.id: rule.record(c.id) for c in EXAM_CHECKS if (rule := getattr(self.rules, c.id)) is not None}
        return ExamProtocol(
            id=head.id, name=head.name, version=head.version, source=head.source,
            vendors=tuple(v.upper() for v in head.vendors), series_patterns=tuple(v.lower() for v in head.series_patterns),
            k_factor=head.k_factor, reference_level=head.reference_level, rules=rules, gating=self.gating.record(), motion=self.motion.record(),
            path=path, sha256=sha256, actions=self.actions.record(DEFAULT_ACTIONS),
        )
