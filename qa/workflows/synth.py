"""Synthetic data with known truth: a phantom series (the definition loaded from ``options.phantom``) and a
calcium-score exam with known breath-hold motion between its stacks."""

from __future__ import annotations

import os
from collections.abc import Callable

from qa.exam_synth import ExamSynthOptions, ExamSynthResult
from qa.exam_synth import synthesize_exam as _synthesize_exam
from qa.phantom.synth import SynthOptions, SynthResult
from qa.phantom.synth import synthesize_phantom as _synthesize
from qa.procedures import load_phantom

__all__ = ["ExamSynthOptions", "ExamSynthResult", "SynthOptions", "SynthResult", "synthesize_exam", "synthesize_phantom"]


def synthesize_phantom(out_dir: str | os.PathLike, options: SynthOptions | None = None, *,
                       progress: Callable[[int, int], None] | None = None) -> SynthResult:
    """Write a synthetic phantom series and its ``truth.json`` into ``out_dir`` (see :mod:`qa.phantom.synth`)."""
    options = options or SynthOptions()
    return _synthesize(out_dir, options, definition=load_phantom(options.phantom), progress=progress)


def synthesize_exam(out_dir: str | os.PathLike, options: ExamSynthOptions | None = None, *,
                    progress: Callable[[int, int], None] | None = None) -> ExamSynthResult:
    """Write a synthetic calcium-score exam with known breath-hold motion into ``out_dir`` (see :mod:`qa.exam_synth`)."""
    return _synthesize_exam(out_dir, options, progress=progress)
