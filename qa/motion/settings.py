"""A protocol's ``[motion]`` limits (:class:`MotionSettings`), apart from the analysis: a protocol
record (:mod:`qa.compliance.protocol`) and its file's model hold them without importing the image
analysis (numpy and the boundary measures; issue 17: ``qa gating`` loads a protocol, never images).
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.records.serialize import Record

PROPOSAL = ("qa developers' proposal, not a published threshold: warn when a shift exceeds half the slice thickness or "
            "the discontinuity's robust z exceeds 3, fail above one slice thickness")


@dataclass(frozen=True)
class MotionSettings(Record):
    """A protocol's ``[motion]`` table: limits as fractions of the slice thickness, and the z-score limit."""

    warn_shift_fraction: float = 0.5  # of the slice thickness (our proposal)
    fail_shift_fraction: float = 1.0  # of the slice thickness (our proposal)
    warn_robust_z: float = 3.0  # discontinuity score (our proposal after Cui et al., JACMP 2012)
    source: str = PROPOSAL
