"""Breath-hold motion between the stacks of one CT series (``qa motion``).

Reads the series (pixels and the per-slice table), runs :func:`qa.motion.analyse_motion` with the
protocol's ``[motion]`` limits, and writes the reformat plot when asked.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qa.motion import MotionAnalysis
from qa.records.checks import FAIL
from qa.records.inputs import FileCounts
from qa.records.provenance import DefinitionRef, Provenance
from qa.records.serialize import Record
from qa.records.volume import VolumeSummary
from qa.workflows.common import now, qa_version

__all__ = ["MotionRun", "analyse_series_motion"]


@dataclass(frozen=True, eq=False)
class MotionRun(Record):
    """One motion analysis (the ``qa.motion/1`` document: the analysis' fields, then these)."""

    analysis: MotionAnalysis = field(metadata={"flatten": True})
    series: VolumeSummary
    protocol: DefinitionRef
    analysis_time: dt.datetime
    provenance: Provenance
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    plot: str | None = None
    files: FileCounts | None = None

    @property
    def failed(self) -> bool:
        """A boundary failed the protocol's [motion] limits."""
        return self.analysis.status == FAIL


def analyse_series_motion(series: str | os.PathLike | Sequence[str | os.PathLike], *, protocol: str | None = None,
                          series_uid: str | None = None, plot: str | os.PathLike | None = None,
                          progress: Callable[[str], Callable[[int, int], None] | None] | None = None) -> MotionRun:
    """The stacks of ``series``, the motion at each boundary and its status (see module doc).
    ``protocol``: an exam protocol id or .toml path (its ``[motion]`` table; default cac-standard)."""
    from qa.dicom.series import load_volume, scan_inputs, select_series
    from qa.motion import analyse_motion
    from qa.procedures import load_protocol

    chosen = load_protocol(protocol or "cac-standard")  # a malformed protocol is reported before anything is read
    stage = progress or (lambda label: None)
    scan = scan_inputs(series, progress=stage("reading headers"))
    volume = load_volume(select_series(scan, series_uid), progress=stage("decoding pixels "))
    analysis = analyse_motion(volume, chosen.motion)
    written = None
    if plot is not None:
        from qa.report.motion import write_motion_plot

        written = write_motion_plot(plot, volume, analysis)
    analysed = now()
    return MotionRun(analysis, volume.summary(), chosen.ref, analysed,
                     Provenance(qa_version(), analysed, (chosen.ref,), tuple(volume.sop_instance_uids)),
                     tuple(volume.warnings), tuple(volume.notes), written, scan.files)
