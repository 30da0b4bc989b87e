"""What a live capture reports: its status line and its result."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from qa.records.serialize import Record


@dataclass(frozen=True)
class CaptureStatus(Record):
    """What the live status line shows, once a second."""

    elapsed_s: float
    connected: bool
    samples: int  # written
    rate_hz: float  # samples received per second over the last second
    heart_rate_bpm: float | None  # from our R-peak detector on the last ~8 s; None: not (yet) known
    board_pulse_bpm: float | None  # the device's own pulse rate (EG01010), when it sends one
    gaps: int
    discarded_bytes: int
    lead_off: bool


@dataclass(frozen=True)
class CaptureResult(Record):
    """One capture: what was written, what was lost, what was thrown away."""

    path: str
    port: str
    protocol: str
    start_time: dt.datetime | None  # host wall clock at time_s == 0
    fs_hz: float | None  # nominal rate (EG01010, or --fs); None: the ascii device's own times only
    samples_written: int
    samples_received: int
    duration_s: float  # trace time, first to last written sample
    capture_s: float  # host time from opening the port to the end
    received_rate_hz: float | None  # samples received per host second while data flowed
    gaps_s: tuple[tuple[float, float], ...]  # (last sample before, first after), as EcgTrace.gaps()
    port_outages_s: tuple[tuple[float, float], ...]  # host seconds since the start: lost, back
    lead_off_s: tuple[tuple[float, float], ...]  # trace time
    lead_off_samples_dropped: int
    discarded_bytes: int
    discarded_lines: int
    rejected_samples: int  # ascii: device time going back or leaping ahead of the host clock
    samples_skipped: int  # eg01010: sample bytes skipped while out of step with the frames (lost: gaps)
    stopped_by: str  # seconds | interrupt | stop | port lost
    notes: tuple[str, ...] = field(default=())
