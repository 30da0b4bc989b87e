"""Live ECG capture from a serial port into a CSV trace (``qa ecg record``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from qa.ecg.serial import CaptureResult, CaptureStatus, capture
from qa.errors import UsageError
from qa.records.plausibility import RANGES
from qa.records.serialize import Record


@dataclass(frozen=True)
class EcgRecording(Record):
    """The ``qa.ecg/1`` document of ``qa ecg record``."""

    action: str
    capture: CaptureResult = field(metadata={"flatten": True})


# A lead name is one short label ("II", "V5", "ECG"): written into the trace's header comment.
_MAX_LEAD_CHARS = 32


def _check_options(fs_hz: float | None, lead: str) -> None:
    """Options no trace could be read back with are refused before the port is opened."""
    rate = RANGES["ecg_sampling_rate_hz"]
    if fs_hz is not None and not rate.is_possible(fs_hz):
        raise UsageError(f"--fs {fs_hz:g} Hz is not a usable ECG sampling rate ({rate.describe_limits()}; {rate.source})",
                         hint="give the rate the device really sends, at least 50 Hz")
    if not lead or len(lead) > _MAX_LEAD_CHARS or not lead.isprintable():
        raise UsageError(f"--lead {lead!r} is not a lead name: one line of at most {_MAX_LEAD_CHARS} printable characters",
                         hint="give a short label such as II or V5")


def record_ecg(port: str, *, out: str | os.PathLike, protocol: str = "ascii", seconds: float | None = None, baud: int | None = None,
               fs_hz: float | None = None, uv_per_unit: float | None = None, lead: str = "ECG", keep_lead_off: bool = False,
               give_up_after_s: float | None = None, on_status: Callable[[CaptureStatus], None] | None = None,
               on_event: Callable[[str, str], None] | None = None) -> EcgRecording:
    """Capture ``port`` into the CSV ``out`` until ``seconds`` pass, the port is lost for longer than
    ``give_up_after_s``, or the user interrupts.  A capture that received no sample is an error
    (nothing is left written)."""
    _check_options(fs_hz, lead)
    kwargs = {} if uv_per_unit is None else {"uv_per_unit": uv_per_unit}
    result = capture(port, protocol, out, seconds=seconds, baud=baud, fs_hz=fs_hz, lead=lead, keep_lead_off=keep_lead_off,
                     max_outage_s=give_up_after_s, on_status=on_status, on_event=on_event, **kwargs)
    if result.samples_written == 0:
        raise UsageError(f"no ECG sample came from {result.port} in {result.capture_s:.0f} s ({result.discarded_bytes} bytes "
                         f"discarded): nothing was written",
                         hint="check --protocol and --baud against the device's settings, and that the device is sending")
    return EcgRecording("record", result)
