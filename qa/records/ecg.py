"""ECG traces: the ``EcgTrace`` record and its validation (readers: :mod:`qa.ecg.trace`, :mod:`qa.dicom.waveform`).

A trace is one lead in mV on a time base in seconds, with its sampling rate, optional trigger and
respiration channels, and its absolute start time when known.  Gaps in a recording (a lost serial
connection) stay gaps: ``time_s`` jumps, no sample is ever invented.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from qa.errors import InputError
from qa.records.serialize import Record

# Two beats need at least 2 s of trace even at 60 bpm (our rule: shorter traces are refused).
MIN_DURATION_S = 2.0
# A signal whose peak-to-peak amplitude stays below 0.05 mV carries no QRS (a QRS is ~0.5-3 mV).
FLAT_PP_MV = 0.05
# Saturation: more than 2 % of the samples sit at the extreme value (clipped amplifier).
SATURATED_FRACTION = 0.02


@dataclass(frozen=True)
class TraceSummary(Record):
    """What the JSON documents say about a trace (``ecg`` block of ``qa.gating/1``)."""

    source: str
    lead: str
    sampling_rate_hz: float
    duration_s: float
    n_samples: int
    start_time: dt.datetime | None
    has_trigger: bool
    gaps: tuple[tuple[float, float], ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class EcgTrace:
    """One ECG lead in mV on a time base in seconds (``time_s[0]`` is the start)."""

    fs_hz: float
    time_s: np.ndarray = field(repr=False)
    ecg_mv: np.ndarray = field(repr=False)
    lead: str
    source: str  # the file's name and kind, e.g. "100 (WFDB)"
    start_time: dt.datetime | None = None  # absolute time of time_s == 0, when known
    trigger: np.ndarray | None = field(default=None, repr=False)  # bool per sample: the monitor's trigger output
    resp: np.ndarray | None = field(default=None, repr=False)
    notes: tuple[str, ...] = field(default=())

    @property
    def n_samples(self) -> int:
        return int(self.ecg_mv.size)

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0]) + 1.0 / self.fs_hz if self.n_samples else 0.0

    def gaps(self) -> list[tuple[float, float]]:
        """(last sample before, first sample after) of every jump longer than 1.5 sample periods."""
        steps = np.diff(self.time_s)
        where = np.flatnonzero(steps > 1.5 / self.fs_hz)
        return [(float(self.time_s[i]), float(self.time_s[i + 1])) for i in where]

    def segments(self) -> list[slice]:
        """Index ranges of the contiguous parts (between gaps)."""
        steps = np.diff(self.time_s)
        cuts = np.flatnonzero(steps > 1.5 / self.fs_hz) + 1
        bounds = [0, *cuts.tolist(), self.n_samples]
        return [slice(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]

    def summary(self) -> TraceSummary:
        return TraceSummary(self.source, self.lead, self.fs_hz, self.duration_s, self.n_samples, self.start_time,
                            self.trigger is not None, tuple(self.gaps()), tuple(self.notes))


def validate_trace(trace: EcgTrace, label: str) -> EcgTrace:
    """``trace`` if it can hold beats; else a clear refusal naming the file."""
    if trace.n_samples < 2 or not np.all(np.isfinite(trace.ecg_mv)):
        raise InputError(label, trace.lead, "holds no usable ECG samples (empty, or not-a-number values)",
                         hint="record the ECG again")
    if not np.all(np.isfinite(trace.time_s)):
        k = int(np.flatnonzero(~np.isfinite(trace.time_s))[0])
        raise InputError(label, "time_s", f"sample {k + 1} has no valid time ({trace.time_s[k]!r})",
                         hint="remove or repair that row")
    if np.any(np.diff(trace.time_s) <= 0):
        k = int(np.flatnonzero(np.diff(trace.time_s) <= 0)[0])
        raise InputError(label, "time_s", f"does not increase at sample {k + 1} ({trace.time_s[k]:g} s then {trace.time_s[k + 1]:g} s)",
                         hint="the time column must increase from row to row; check the recorder's clock or the file")
    if trace.duration_s < MIN_DURATION_S:
        raise InputError(label, "time_s", f"lasts {trace.duration_s:.2f} s: too short to hold two beats (at least {MIN_DURATION_S:g} s)",
                         hint="record a longer trace (the whole scan, with a few seconds before it)")
    values = trace.ecg_mv
    pp = float(np.ptp(values))
    if pp < FLAT_PP_MV:
        raise InputError(label, trace.lead, f"is flat (peak-to-peak {pp:.3f} mV): no ECG signal",
                         hint="check the electrodes and the lead (lead off?) and record again")
    at_max = float(np.mean(values >= values.max())) if pp > 0 else 1.0
    at_min = float(np.mean(values <= values.min())) if pp > 0 else 1.0
    if max(at_max, at_min) > SATURATED_FRACTION:
        edge = "maximum" if at_max >= at_min else "minimum"
        raise InputError(label, trace.lead,
                         f"is saturated: {100 * max(at_max, at_min):.1f} % of the samples sit at the {edge} value",
                         hint="reduce the amplifier gain or check the electrodes, and record again")
    return trace


__all__ = ["EcgTrace", "TraceSummary", "validate_trace"]
