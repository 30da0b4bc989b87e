"""Exam protocols as records: what ``qa check`` expects of a calcium-score exam.

Protocols are site-editable data (``procedures/cac-*.toml``, ``kind = "exam-protocol"``);
:func:`qa.procedures.load_protocol` reads and validates them into these records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qa.ecg.settings import GatingSettings
from qa.motion.settings import MotionSettings
from qa.records.provenance import DefinitionRef
from qa.records.verdicts import Actions

# The gating modes a protocol can expect (PS3.3 C.7.6.18.1 Cardiac Synchronization Technique, our short names).
GATING_MODES = ("prospective", "retrospective", "none")
# What to do at each level of an exam's verdict when a protocol has no [actions] table (the qa
# developers' proposal, as the shipped protocols'; not a published standard).
DEFAULT_ACTIONS = Actions(
    fail="Do not report a calcium score from this series until the physicist or radiologist has reviewed the failed checks.",
    warn="The calcium score may be reported; tell the reporting radiologist about the warnings.",
    incomplete="The calcium score may be reported; check at the scanner console what could not be read from the images.",
    pass_="The calcium score may be reported.",
)


@dataclass(frozen=True)
class ProtocolRule:
    """What one check of an exam expects."""

    check_id: str
    severity: str
    source: str
    expected: Any = None
    allowed: tuple | None = None
    range: tuple[float, float] | None = None
    maximum: float | None = None
    minimum: float | None = None
    tolerance: float = 0.0
    match: str = "exact"
    equal_to: str | None = None  # slice_increment: "slice_thickness"
    mode_severity: tuple[tuple[str, str], ...] = ()  # gating_mode: ("retrospective", "warn"), ("none", "fail")
    reference: str | None = None  # dose checks: "level" (the protocol's reference level)
    delay_range_ms: tuple[float, float] | None = None  # cardiac_phase given as a delay window
    limits: str | None = None  # breath_hold_motion: "motion" (the protocol's [motion] table)

    def describe(self) -> Any:
        """The expectation in display form: a number, a text, or a range as [low, high]."""
        tol = f" (+-{self.tolerance:g})" if self.tolerance else ""
        if self.range is not None:
            return list(self.range)
        if self.allowed is not None:
            star = "*" if self.match == "prefix" else ""
            text = ", ".join(f"{v}{star}" for v in self.allowed)
            return (text if len(self.allowed) == 1 else f"one of {text}") + tol
        if self.maximum is not None and self.minimum is not None:
            return [self.minimum, self.maximum]
        if self.maximum is not None:
            return f"<= {self.maximum:g}"
        if self.minimum is not None:
            return f">= {self.minimum:g}"
        if self.equal_to is not None:
            return f"= {self.equal_to}{tol}"
        if self.limits is not None:
            return f"within the [{self.limits}] limits"
        if self.expected is None:
            return None
        if tol and isinstance(self.expected, (int, float)):
            return [self.expected - self.tolerance, self.expected + self.tolerance]  # a range, as [low, high]
        return self.expected if not tol else f"{self.expected}{tol}"


@dataclass(frozen=True)
class ExamProtocol:
    id: str
    name: str
    version: str
    source: str
    vendors: tuple[str, ...]  # upper-case substrings of Manufacturer; empty = any
    series_patterns: tuple[str, ...]  # lower-case substrings of SeriesDescription / ProtocolName
    k_factor: str | None
    reference_level: str | None
    rules: dict[str, ProtocolRule]
    gating: GatingSettings
    path: str
    sha256: str
    motion: MotionSettings = MotionSettings()
    actions: Actions = DEFAULT_ACTIONS  # what to do at each level of the verdict ([actions])

    @property
    def ref(self) -> DefinitionRef:
        return DefinitionRef(self.id, self.name, self.version, self.path, self.sha256)

    def rule(self, check_id: str) -> ProtocolRule | None:
        return self.rules.get(check_id)
