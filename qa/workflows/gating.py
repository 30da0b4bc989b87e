"""Prospective gating timing of an exam against its ECG trace (``qa gating``, ``qa check --ecg``).

Exposure windows come from an exposure CSV (on the trace's time base), from the CT stacks'
acquisition times (approximate: the clocks are rarely synchronised), or, with neither, from the
trace's trigger channel plus the protocol's delay and window.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qa.compliance import ExamProtocol
from qa.ecg.gating import ExposureWindow, GatingReport, analyze_gating, windows_from_stacks
from qa.records.ecg import EcgTrace
from qa.records.provenance import DefinitionRef, Provenance
from qa.records.serialize import Record
from qa.workflows.common import now, qa_version

if TYPE_CHECKING:  # types only: an exam is read by the runs with --series (its header records imported then)
    from qa.records.exam import Exam
    from qa.records.inputs import FileCounts


@dataclass(frozen=True, eq=False)
class GatingRun(Record):
    """One gating analysis (the ``qa.gating/1`` document: the report's fields, then these)."""

    report: GatingReport = field(metadata={"flatten": True})
    protocol: DefinitionRef
    analysis_time: dt.datetime
    provenance: Provenance
    plot: str | None = None
    files: FileCounts | None = None  # with --series: the files read and skipped (None with --exposures)
    protocol_definition: ExamProtocol | None = field(default=None, repr=False, metadata={"json": False})

    @property
    def failed(self) -> bool:
        """An exposure ran into the next beat."""
        return any(e.status == "fail" for e in self.report.exposures)


def gating_for_exam(trace_path: str | os.PathLike, exam: Exam, protocol: ExamProtocol, *, lead: str | None = None,
                    fs_hz: float | None = None) -> GatingReport:
    """The gating analysis of a loaded exam against its trace: windows from its stack times."""
    from qa.ecg.trace import read_trace

    trace = read_trace(trace_path, fs_hz=fs_hz, lead=lead)
    h = exam.headers
    exposure_s = h.exposure_time_ms / 1000.0 if h.exposure_time_ms else (h.revolution_time_s or None)
    windows, note = windows_from_stacks(h.stacks, site_wall_clock(trace.start_time), exposure_s)
    return analyze_trace(trace, windows, protocol, "CT stack acquisition times (approximate)", note)


def site_wall_clock(value: dt.datetime | None) -> dt.datetime | None:
    """A time as the site's wall clock shows it (how CT images carry their times): an aware time is
    converted to this computer's time zone (the instant kept, summer time included); a naive one
    already is wall-clock time.  The same rule as the store's (:mod:`qa.store`)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone().replace(tzinfo=None)


def outside_trace(rows, trace: EcgTrace, label: str) -> tuple[str, ...]:
    """Flagged warnings for exposure rows (``qa.ecg.csvfile.ExposureRow``) not inside the trace's time span."""
    first, last = (float(v) for v in trace.time_base.at([0, trace.n_samples - 1]))
    out = [r for r in rows if r.start_s < first or r.start_s + r.duration_s > last]
    if not out:
        return ()
    lines = ", ".join(str(r.line) for r in out[:5]) + (f" and {len(out) - 5} more" if len(out) > 5 else "")
    return (f"{os.path.basename(label)}: {len(out)} exposure(s) (start_s, duration_s on line(s) {lines}) lie outside the ECG trace "
            f"({first:g} to {last:g} s): their timing cannot be checked; is the exposure list on the trace's time base?",)


def analyze_trace(trace: EcgTrace, windows: list[ExposureWindow], protocol: ExamProtocol, source: str,
                  note: str | None = None, *, warnings: tuple[str, ...] = ()) -> GatingReport:
    """A trace against exposure windows, judged by the protocol's phase window, heart-rate limit and gating settings."""
    phase_rule = protocol.rule("cardiac_phase")
    hr_rule = protocol.rule("heart_rate")
    return analyze_gating(trace, windows, protocol.gating, phase_window_pct=phase_rule.range if phase_rule is not None else None,
                          heart_rate_max_bpm=hr_rule.maximum if hr_rule is not None else None,
                          windows_source=source, time_base_note=note, warnings=warnings)


def analyse_gating(ecg: str | os.PathLike, *, series: Sequence[str | os.PathLike] | None = None,
                   exposures: str | os.PathLike | None = None, protocol: str | None = None, lead: str | None = None,
                   fs_hz: float | None = None, series_uid: str | None = None, plot: str | os.PathLike | None = None) -> GatingRun:
    """The gating analysis of ``ecg`` against exposure windows from ``exposures`` (CSV), from a CT
    exam ``series`` (its stack times), or from the trace's trigger channel (module doc)."""
    from qa.ecg.csvfile import read_exposure_rows
    from qa.ecg.trace import read_trace
    from qa.procedures import load_protocol
    from qa.workflows.output_targets import check_output_file

    if plot is not None:
        check_output_file(plot, "--plot", "png")  # before anything is read
    if series is not None:
        from qa.workflows.exam_files import load_exam

        exam, chosen = load_exam(series, protocol=protocol, series_uid=series_uid)
        report = gating_for_exam(ecg, exam, chosen, lead=lead, fs_hz=fs_hz)
        uids = tuple(exam.headers.sop_instance_uids)
        found = exam.files
    else:
        trace = read_trace(ecg, fs_hz=fs_hz, lead=lead)
        chosen = load_protocol(protocol or "cac-standard")
        windows, source, flagged = [], "", ()
        if exposures is not None:
            rows, flagged = read_exposure_rows(exposures)
            flagged += outside_trace(rows, trace, str(exposures))
            windows = [ExposureWindow(r.start_s, r.duration_s, "exposure CSV") for r in rows]
            source = "exposure CSV"
        report = analyze_trace(trace, windows, chosen, source, warnings=flagged)
        uids = ()
        found = None
    written = None
    if plot is not None:
        from qa.report.plots import write_ecg_strip

        written = write_ecg_strip(plot, report)
    analysed = now()
    return GatingRun(report, chosen.ref, analysed, Provenance(qa_version(), analysed, (chosen.ref,), uids), written, found, chosen)
