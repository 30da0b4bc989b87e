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
                          ecg: str | os.PathLike | None = None, lead: str | None = None, fs_hz: float | None = None,
                          progress: Callable[[str], Callable[[int, int], None] | None] | None = None) -> MotionRun:
    """The stacks of ``series``, the motion at each boundary and its status (see module doc).
    ``protocol``: an exam protocol id or .toml path (its ``[motion]`` table; default cac-standard);
    ``ecg``: the trace recorded with the scan (CSV with a ``resp`` column, WFDB, DICOM ECG): adds the
    breathing before and during the scan and the heart-rate change."""
    from qa.dicom.series import load_volume, scan_inputs, select_series
    from qa.motion import analyse_motion
    from qa.procedures import load_protocol

    chosen = load_protocol(protocol or "cac-standard")  # a malformed protocol is reported before anything is read
    if plot is not None:
        from qa.workflows.output_targets import check_output_file

        check_output_file(plot, "--plot", "png")
    stage = progress or (lambda label: None)
    scan = scan_inputs(series, progress=stage("reading headers"))
    volume = load_volume(select_series(scan, series_uid), progress=stage("decoding pixels "), overlapping_stacks=True)
    analysis = analyse_motion(volume, chosen.motion)
    if ecg is not None:
        analysis = with_trace(analysis, ecg, lead=lead, fs_hz=fs_hz)
    written = None
    if plot is not None:
        from qa.report.motion import write_motion_plot

        written = write_motion_plot(plot, volume, analysis)
    analysed = now()
    return MotionRun(analysis, volume.summary(), chosen.ref, analysed,
                     Provenance(qa_version(), analysed, (chosen.ref,), tuple(volume.sop_instance_uids)),
                     tuple(volume.warnings), tuple(volume.notes), written, scan.files)


def with_trace(analysis: MotionAnalysis, trace_path: str | os.PathLike, *, lead: str | None = None,
               fs_hz: float | None = None) -> MotionAnalysis:
    """``analysis`` with the breathing of the trace at ``trace_path`` added (:func:`with_trace_beats`)."""
    from qa.ecg.gating import detect_beats
    from qa.ecg.trace import read_trace

    trace = read_trace(trace_path, fs_hz=fs_hz, lead=lead)
    return with_trace_beats(analysis, trace, detect_beats(trace))


def with_trace_beats(analysis: MotionAnalysis, trace, r_peak_s) -> MotionAnalysis:
    """``analysis`` with the breathing of ``trace`` (an :class:`~qa.records.ecg.EcgTrace`, its R-peaks
    at ``r_peak_s`` seconds) added (:mod:`qa.motion.respiration`).  The stacks are placed on the trace
    by their acquisition times and the trace's start time (the clocks are rarely synchronised:
    approximate); the scan spans the first to the last stack's start."""
    from qa.motion import analyse_respiration, respiration_unavailable, with_respiration
    from qa.workflows.gating import site_wall_clock

    start = site_wall_clock(trace.start_time)
    times = [dt.datetime.fromisoformat(s.acquisition_time) for s in analysis.stacks if s.acquisition_time]
    if start is None:
        return with_respiration(analysis, respiration_unavailable(
            trace, "the trace has no absolute start time (# start_time=...): the stacks cannot be placed on it"))
    if not times:
        return with_respiration(analysis, respiration_unavailable(trace, "the images carry no acquisition times"))
    starts = sorted((t.replace(tzinfo=None) - start).total_seconds() for t in times)
    first, last = (float(v) for v in trace.time_base.at([0, trace.n_samples - 1]))
    if starts[0] < first or starts[-1] > last:
        return with_respiration(analysis, respiration_unavailable(
            trace, f"the stacks ({starts[0]:.1f} to {starts[-1]:.1f} s on the trace) lie outside the trace ({first:.1f} to {last:.1f} s)"))
    return with_respiration(analysis, analyse_respiration(trace, r_peak_s, starts[0], starts[-1]))
