"""ECG traces: the ``EcgTrace`` record and its validation (readers: :mod:`qa.ecg.trace`, :mod:`qa.dicom.waveform`).

A trace is one lead in mV on a time base in seconds, with its sampling rate, optional trigger and
respiration channels, and its absolute start time when known.  Gaps in a recording (a lost serial
connection) stay gaps: the time base jumps, no sample is ever invented.

The time base is kept compactly (:class:`TimeBase`): runs of samples on the sampling grid, each run
starting after a gap, plus the written times' offsets from that grid (float32) when they have any.
A 24-hour trace at 1 kHz then needs 4 bytes per sample for its samples (float32 mV, 7 significant
digits: far below an ECG amplifier's noise) and none or 4 for its times, never 16.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from qa.errors import InputError
from qa.records.plausibility import RANGES
from qa.records.serialize import Record

# Two beats need at least 2 s of trace even at 60 bpm (our rule: shorter traces are refused).
MIN_DURATION_S = 2.0
# A signal whose peak-to-peak amplitude stays below 0.05 mV carries no QRS (a QRS is ~0.5-3 mV).
FLAT_PP_MV = 0.05
# Saturation: more than 2 % of the samples sit at the extreme value (clipped amplifier).
SATURATED_FRACTION = 0.02
# A step longer than this many sample periods is a recording gap (ours; as the readers always did).
GAP_PERIODS = 1.5
# Samples examined at a time by the checks (bounded temporary arrays on a 24-hour trace): ours.
SCAN_CHUNK = 1 << 20
# Written times within this of the sampling grid are kept as the grid (ours: a microsecond, below the
# precision any recorder writes and a thousandth of a sample at 1 kHz).
GRID_TOLERANCE_S = 1e-6


@dataclass(frozen=True, eq=False)
class TimeBase:
    """Sample times: sample ``i`` of the run starting at ``run_index[k]`` is at
    ``run_s[k] + (i - run_index[k]) / fs_hz`` plus ``offset_s[i]`` (None: all on the grid).

    A new run starts after every recording gap (a step longer than 1.5 sample periods)."""

    fs_hz: float
    n_samples: int
    run_index: np.ndarray = field(repr=False)  # int64, first sample of each run (run_index[0] == 0)
    run_s: np.ndarray = field(repr=False)  # float64, its time
    offset_s: np.ndarray | None = field(default=None, repr=False)  # float32 per sample, or None
    run_end_s: np.ndarray | None = field(default=None, repr=False)  # float64, the time of each run's last sample as written

    @classmethod
    def uniform(cls, n_samples: int, fs_hz: float, start_s: float = 0.0) -> "TimeBase":
        return cls(float(fs_hz), int(n_samples), np.zeros(1, np.int64), np.array([float(start_s)]))

    @classmethod
    def from_times(cls, time_s, fs_hz: float) -> "TimeBase":
        """The time base of written times (finite and increasing: check with :func:`first_bad_time`)."""
        t = np.asarray(time_s, dtype=float)
        builder = TimeBaseBuilder(fs_hz, t.size)
        builder.add(t)
        return builder.finish()

    def times(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Times (s, float64) of samples ``start`` to ``stop`` (exclusive)."""
        stop = self.n_samples if stop is None else min(stop, self.n_samples)
        return self.at(np.arange(start, max(start, stop), dtype=np.int64))

    def at(self, index) -> np.ndarray:
        """Times (s) of the samples ``index`` (array of int)."""
        i = np.asarray(index, dtype=np.int64)
        k = np.searchsorted(self.run_index, i, side="right") - 1
        out = self.run_s[k] + (i - self.run_index[k]) / self.fs_hz
        if self.offset_s is not None:
            out += self.offset_s[i]
        return out

    def index_of(self, time_s: float) -> int:
        """The first sample at or after ``time_s`` (``n_samples`` when none): a binary search, no array of times."""
        return int(self.indices_of([time_s])[0])

    def indices_of(self, times_s) -> np.ndarray:
        """:meth:`index_of` of each time (int64 array, ``n_samples`` where none): a binary search run on all
        of them at once, no array of times."""
        t = np.asarray(times_s, dtype=float)
        lo = np.zeros(t.shape, dtype=np.int64)
        hi = np.full(t.shape, self.n_samples, dtype=np.int64)
        while True:
            todo = lo < hi
            if not todo.any():
                return lo
            mid = (lo + hi) // 2
            below = todo & (self.at(np.minimum(mid, max(self.n_samples - 1, 0))) < t)
            lo = np.where(below, mid + 1, lo)
            hi = np.where(todo & ~below, mid, hi)

    def gaps(self) -> list[tuple[float, float]]:
        """(last sample before, first sample after) of every recording gap."""
        starts = self.run_index[1:]
        before = self.run_end_s[:-1] if self.run_end_s is not None else self.at(starts - 1)
        after = self.run_s[1:]
        return [(float(a), float(b)) for a, b in zip(before, after)]

    def segments(self) -> list[slice]:
        """Index ranges of the contiguous runs (between gaps)."""
        bounds = [*self.run_index.tolist(), self.n_samples]
        return [slice(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


class TimeBaseBuilder:
    """Builds a :class:`TimeBase` from written times block by block (a streaming reader's half).

    Times must be finite and increasing (callers check, naming the line).  ``capacity``: the
    expected number of samples (grown when exceeded)."""

    def __init__(self, fs_hz: float, capacity: int = 0):
        self.fs = float(fs_hz)
        self.n = 0
        self.capacity = max(int(capacity), 1)
        self.run_index: list[int] = []
        self.run_s: list[float] = []
        self.run_end: list[float] = []
        self.offset: np.ndarray | None = None
        self.last_s: float | None = None

    def add(self, t: np.ndarray) -> None:
        if t.size == 0:
            return
        prev = np.concatenate([[self.last_s], t[:-1]]) if self.last_s is not None else np.concatenate([[-np.inf], t[:-1]])
        new_runs = np.flatnonzero((t - prev) > GAP_PERIODS / self.fs)
        index = np.arange(self.n, self.n + t.size, dtype=np.int64)
        for j in new_runs.tolist():
            if self.run_index:
                self.run_end.append(float(t[j - 1]) if j > 0 else self.last_s)
            self.run_index.append(self.n + j)
            self.run_s.append(float(t[j]))
        ri, rs = np.asarray(self.run_index, np.int64), np.asarray(self.run_s)
        k = np.searchsorted(ri, index, side="right") - 1
        off = t - (rs[k] + (index - ri[k]) / self.fs)
        if self.offset is None and np.any(np.abs(off) > GRID_TOLERANCE_S):
            self.offset = np.zeros(max(self.capacity, self.n + t.size), np.float32)
        if self.offset is not None:
            if self.n + t.size > self.offset.size:
                self.offset.resize(max(self.n + t.size, int(self.offset.size * 1.25)), refcheck=False)
            self.offset[self.n:self.n + t.size] = off
        self.n += t.size
        self.last_s = float(t[-1])

    def finish(self) -> TimeBase:
        offset = self.offset
        if offset is not None:
            offset.resize(self.n, refcheck=False)
        ends = np.asarray([*self.run_end, self.last_s], float) if self.run_index else None
        return TimeBase(self.fs, self.n, np.asarray(self.run_index or [0], np.int64),
                        np.asarray(self.run_s or [0.0], float), offset, ends)


def first_bad_time(time_s: np.ndarray, previous_s: float | None = None) -> tuple[int, str] | None:
    """(index, reason) of the first time that is not finite or does not increase, else None."""
    t = np.asarray(time_s, dtype=float)
    bad = ~np.isfinite(t)
    if bad.any():
        return int(np.flatnonzero(bad)[0]), "is not a number"
    prev = np.concatenate([[previous_s if previous_s is not None else -np.inf], t[:-1]])
    back = t <= prev
    if back.any():
        k = int(np.flatnonzero(back)[0])
        return k, ("does not increase: it repeats the previous time" if t[k] == prev[k] else "does not increase: it goes back")\
            + f" ({prev[k]:g} s then {t[k]:g} s)"
    return None


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
    """One ECG lead in mV on a time base in seconds (its first sample is the start).

    ``ecg_mv`` may be float32 (long traces); ``time_base`` holds the times compactly, ``time_s``
    gives them all as one float64 array (small traces; long ones use ``time_base.times(a, b)``)."""

    fs_hz: float
    time_base: TimeBase = field(repr=False)
    ecg_mv: np.ndarray = field(repr=False)
    lead: str
    source: str  # the file's name and kind, e.g. "100 (WFDB)"
    start_time: dt.datetime | None = None  # absolute time of time 0, when known
    trigger: np.ndarray | None = field(default=None, repr=False)  # bool per sample: the monitor's trigger output
    resp: np.ndarray | None = field(default=None, repr=False)
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def from_times(cls, fs_hz: float, time_s, ecg_mv, **kwargs) -> "EcgTrace":
        """A trace from an array of sample times (checked by :func:`validate_trace`)."""
        t = np.asarray(time_s, dtype=float)
        bad = first_bad_time(t)
        if bad is not None:
            k, reason = bad
            raise InputError(kwargs.get("source"), "time_s", f"sample {k + 1}: the time {reason}",
                             hint="the time column must increase from row to row; check the recorder's clock or the file")
        return cls(float(fs_hz), TimeBase.from_times(t, fs_hz), ecg_mv, **kwargs)

    @property
    def time_s(self) -> np.ndarray:
        return self.time_base.times()

    @property
    def n_samples(self) -> int:
        return int(self.ecg_mv.size)

    @property
    def duration_s(self) -> float:
        if not self.n_samples:
            return 0.0
        first, last = self.time_base.at([0, self.n_samples - 1])
        if self.time_base.run_end_s is not None:
            last = self.time_base.run_end_s[-1]
        return float(last - first) + 1.0 / self.fs_hz

    def gaps(self) -> list[tuple[float, float]]:
        """(last sample before, first sample after) of every jump longer than 1.5 sample periods."""
        return self.time_base.gaps()

    def segments(self) -> list[slice]:
        """Index ranges of the contiguous parts (between gaps)."""
        return self.time_base.segments()

    def summary(self) -> TraceSummary:
        return TraceSummary(self.source, self.lead, self.fs_hz, self.duration_s, self.n_samples, self.start_time,
                            self.trigger is not None, tuple(self.gaps()), tuple(self.notes))


def require_sampling_rate(fs_hz, label: str | None, field_name: str, given_by: str) -> float:
    """``fs_hz`` as a float, or ``InputError`` naming the minimum (``RANGES['ecg_sampling_rate_hz']``)."""
    p = RANGES["ecg_sampling_rate_hz"]
    try:
        fs = float(fs_hz)
    except (TypeError, ValueError):
        fs = float("nan")
    if not p.is_possible(fs):
        raise InputError(label, field_name,
                         f"sampling rate {fs_hz if isinstance(fs_hz, str) else _plain(fs)} Hz (from {given_by}) is not usable: an ECG must be sampled at "
                         f"{p.limits[0]:g} Hz at least (at most {p.limits[1]:g} Hz) to time its R-peaks",
                         hint=f"give the recorder's true sampling rate; record at {p.typical[0]:g} Hz or more ({p.source})")
    return fs


def _scan(values: np.ndarray, test) -> tuple[int, int]:
    """(index of the first sample where ``test`` is true or -1, how many) over bounded chunks of ``values``."""
    first, count = -1, 0
    for a in range(0, values.size, SCAN_CHUNK):
        hit = test(values[a:a + SCAN_CHUNK])
        n = int(np.count_nonzero(hit))
        if n and first < 0:
            first = a + int(np.flatnonzero(hit)[0])
        count += n
    return first, count


def _plain(value: float) -> str:
    return f"{value:g}"


def validate_trace(trace: EcgTrace, label: str) -> EcgTrace:
    """``trace`` if it can hold beats; else a clear refusal naming the file (and the time of a bad sample)."""
    require_sampling_rate(trace.fs_hz, label, "sampling rate", trace.source)
    if trace.n_samples < 2:
        raise InputError(label, trace.lead, "holds no usable ECG samples (empty)", hint="record the ECG again")
    values = trace.ecg_mv
    k, n = _scan(values, lambda x: ~np.isfinite(x))
    if n:
        raise InputError(label, trace.lead, f"sample {k + 1} (at {float(trace.time_base.at([k])[0]):.3f} s) is not a number "
                                            f"({float(values[k]):g}); {n} such sample(s)",
                         hint="repair or remove those samples, or record the ECG again")
    p = RANGES["ecg_mv"]
    lo, hi = float(values.min()), float(values.max())
    if lo < p.limits[0] or hi > p.limits[1]:
        k, n = _scan(values, lambda x: (x < p.limits[0]) | (x > p.limits[1]))
        raise InputError(label, trace.lead,
                         f"sample {k + 1} (at {float(trace.time_base.at([k])[0]):.3f} s) is {float(values[k]):.6g} mV: an ECG "
                         f"cannot reach that (possible: {p.describe_limits()}); {n} such sample(s)",
                         hint=f"check the unit of the ECG column (ecg_mv or ecg_uv) and the recorder; such samples are never "
                              f"scored ({p.source})")
    if trace.duration_s < MIN_DURATION_S:
        raise InputError(label, "time_s", f"lasts {trace.duration_s:.2f} s: too short to hold two beats (at least {MIN_DURATION_S:g} s)",
                         hint="record a longer trace (the whole scan, with a few seconds before it)")
    pp = hi - lo
    if pp < FLAT_PP_MV:
        raise InputError(label, trace.lead, f"is flat (peak-to-peak {pp:.3f} mV): no ECG signal",
                         hint="check the electrodes and the lead (lead off?) and record again")
    at_max = _scan(values, lambda x: x >= hi)[1] / values.size
    at_min = _scan(values, lambda x: x <= lo)[1] / values.size
    if max(at_max, at_min) > SATURATED_FRACTION:
        edge = "maximum" if at_max >= at_min else "minimum"
        raise InputError(label, trace.lead,
                         f"is saturated: {100 * max(at_max, at_min):.1f} % of the samples sit at the {edge} value",
                         hint="reduce the amplifier gain or check the electrodes, and record again")
    return trace


def trace_warnings(trace: EcgTrace) -> tuple[str, ...]:
    """Flagged warnings about a usable trace: an unusual sampling rate or amplitude (``RANGES``)."""
    out = []
    rate = RANGES["ecg_sampling_rate_hz"]
    if not rate.is_typical(trace.fs_hz):
        out.append(f"{trace.source}: sampling rate {trace.fs_hz:g} Hz is outside the usual {rate.describe_typical()}: "
                   f"R-peak times are only as precise as a sample ({1000.0 / trace.fs_hz:.1f} ms)")
    amp = RANGES["ecg_mv"]
    values = trace.ecg_mv
    k, n = _scan(values, lambda x: (x < amp.typical[0]) | (x > amp.typical[1]))
    if n:
        out.append(f"{trace.source}: {n} sample(s) beyond the usual {amp.describe_typical()}, the first at "
                   f"{float(trace.time_base.at([k])[0]):.3f} s ({float(values[k]):.3g} mV): check the lead and the unit")
    return tuple(out)


__all__ = ["EcgTrace", "TimeBase", "TimeBaseBuilder", "TraceSummary", "first_bad_time", "require_sampling_rate", "trace_warnings",
           "validate_trace"]
