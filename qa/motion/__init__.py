"""Breath-hold motion between the stacks of a prospective sequential (step-and-shoot) scan (pure).

The analysis is :mod:`qa.motion.analysis` (``analyse_motion(volume, settings)``); a protocol's
limits are :mod:`qa.motion.settings`.  ``from qa.motion import analyse_motion`` still works: the
names below are loaded on first use (PEP 562), so that importing the package for its settings (a
protocol does, and ``qa gating`` loads one) does not import numpy and the image analysis (issue 17).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qa.motion.settings import PROPOSAL, MotionSettings

if TYPE_CHECKING:
    from qa.motion.analysis import (MotionAnalysis, MotionBoundary, Respiration, Shift, StackRun, analyse_motion, analyse_respiration,
                                    find_stacks, judge_boundary, not_analysed, not_available, respiration_unavailable,
                                    with_respiration)

__all__ = ["PROPOSAL", "MotionAnalysis", "MotionBoundary", "MotionSettings", "Respiration", "Shift", "StackRun", "analyse_motion",
           "analyse_respiration", "find_stacks", "judge_boundary", "not_analysed", "not_available", "respiration_unavailable",
           "with_respiration"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from qa.motion import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'qa.motion' has no attribute {name!r}")
