"""Checks and verdicts: every verdict in qa is a list of explained checks.

A check is ``Check(id, status, measured, expected, message, source)``.  ``status`` is ``pass``,
``warn``, ``fail``, ``not_available`` (a missing input: never a silent pass) or
``not_applicable`` (the check does not apply to this input, with the reason).  ``measured`` and
``expected`` are plain numbers or strings in display units (a range as ``[low, high]``);
``source`` says where the expectation came from (rule, reference, limits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qa.records.serialize import Record

PASS, WARN, FAIL, NOT_AVAILABLE, NOT_APPLICABLE = "pass", "warn", "fail", "not_available", "not_applicable"
STATUSES = (PASS, WARN, FAIL, NOT_AVAILABLE, NOT_APPLICABLE)
# How severe a broken rule of a procedure or protocol is: it fails the run (or exam), or it warns.
SEVERITIES = (FAIL, WARN)


@dataclass(frozen=True)
class Check(Record):
    id: str
    status: str
    measured: Any
    expected: Any
    message: str
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


def verdict(checks: tuple[Check, ...] | list[Check]) -> str:
    """``fail`` if any check failed, else ``warn`` if any warned, else ``pass``."""
    return worst(c.status for c in checks)


def worst(statuses) -> str:
    """The worst of some statuses: ``fail`` over ``warn`` over ``pass`` (others count as pass)."""
    seen = set(statuses)
    return FAIL if FAIL in seen else WARN if WARN in seen else PASS


def matches(value: Any, options, *, tolerance: float = 0.0, match: str = "exact") -> bool:
    """Does ``value`` meet one of ``options``?  Numbers within ``tolerance``; texts case-insensitive,
    equal, or (``match="prefix"``) starting with the option (kernel families: Qr36 admits Qr36d\\3)."""
    for option in options:
        if isinstance(option, (int, float)) and not isinstance(option, bool):
            try:
                if abs(float(value) - float(option)) <= tolerance + 1e-9:
                    return True
            except (TypeError, ValueError):
                continue
        else:
            text, want = str(value).strip().upper(), str(option).strip().upper()
            if (match == "prefix" and text.startswith(want)) or text == want:
                return True
    return False


@dataclass(frozen=True)
class VerdictLimits(Record):
    """The limits a metric check judges a run by: within ``tolerance`` passes, beyond it warns,
    beyond ``action`` fails (both ``[low, high]`` in the metric's unit, around ``reference_value``).

    ``tolerance_level`` and ``action_level`` are the procedure's own numbers, in % of the reference
    when ``relative``, else in the metric's unit; ``tightened``: narrowed to the baseline's own
    spread (the procedure's ``tighten_sd``) once the baseline holds enough runs."""

    rule: str  # the check's id in the procedure
    reference: str  # "baseline" | "physical"
    reference_value: float
    tolerance: tuple[float, float]
    action: tuple[float, float]
    tolerance_level: float
    action_level: float
    relative: bool
    tightened: bool = False

    def describe(self, unit: str = "") -> str:
        """The limits in words: ``tolerance +-10 %, action +-15 % of the baseline mean``."""
        of = "baseline mean" if self.reference == "baseline" else "physical value"
        if self.tightened:
            half_t = (self.tolerance[1] - self.tolerance[0]) / 2
            half_a = (self.action[1] - self.action[0]) / 2
            u = f" {unit}" if unit else ""
            return (f"tolerance +-{half_t:.3g}{u}, action +-{half_a:.3g}{u} around the {of} "
                    "(tightened to the baseline's SD)")
        if self.relative:
            return f"tolerance +-{self.tolerance_level:g} %, action +-{self.action_level:g} % of the {of}"
        u = f" {unit}" if unit else ""
        return f"tolerance +-{self.tolerance_level:g}{u}, action +-{self.action_level:g}{u} around the {of}"
