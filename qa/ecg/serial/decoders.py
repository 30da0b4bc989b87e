"""The serial protocols' pure decoders (bytes in, samples and events out); see :mod:`qa.ecg.serial`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa.errors import UsageError

PROTOCOLS = ("ascii", "eg01010")
DEFAULT_BAUD = {"ascii": 115200, "eg01010": 9600}
EG01010_FS_HZ = 300.0
EG01010_UV_PER_UNIT = 20.0
EG01010_BASELINE = 128
LEAD_OFF_HOLD_S = 2.0
ASCII_MAX_LINE = 128  # bytes; a longer "line" is garbage
ASCII_MAX_ABS_UV = 1e6  # |ecg_uv| above 1 V is not an ECG sample
ASCII_MAX_LEAD_S = 1.0  # the device clock may run ahead of the host's by this much between two lines
RESYNC_RUN = 5  # consecutive samples on a new device time base before we follow it
HR_WINDOW_S = 8.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One decoded sample: the ECG in uV, the device's time when it sends one, its trigger flag."""

    ecg_uv: float
    device_t_s: float | None = None
    trigger: bool | None = None  # None: the stream has no trigger channel


@dataclass(frozen=True, slots=True)
class Event:
    """A non-sample message: ``lead_off``, ``pulse`` (bpm), ``resp_rate`` (per min) or ``info`` (byte)."""

    kind: str
    value: float | None = None


# ------------------------------------------------------------------------------------ decoders


class AsciiDecoder:
    """``t_ms,ecg_uv[,trigger]`` lines -> Samples.  Keeps only a partial line between calls.

    The first line (up to the first line end) is dropped: a port opened mid-stream most likely
    cuts it, and a cut line can still look valid ("…57,12").  Lines that are not two or three
    finite numbers (trigger 0/1, |ecg_uv| <= 1 V) are counted in ``discarded_lines`` /
    ``discarded_bytes`` and skipped; nothing here raises on bad input.
    """

    def __init__(self) -> None:
        self._partial = b""
        self._skipping = False  # inside an over-long line: drop up to the next newline
        self._first = True  # nothing seen since the port was opened: the first line is cut
        self.discarded_lines = 0
        self.discarded_bytes = 0

    def feed(self, data: bytes) -> list[Sample]:
        lines = (self._partial + bytes(data)).replace(b"\r", b"\n").split(b"\n")
        self._partial = lines.pop()
        out = []
        for line in lines:
            if self._skipping:
                self._skipping = self._first = False
                self.discarded_bytes += len(line)
                continue
            if not line.strip():
                self._first = False
                continue
            if self._first:
                self._first = False
                self.discarded_lines += 1
                self.discarded_bytes += len(line) + 1
                continue
            sample = self._parse(line)
            if sample is None:
                self.discarded_lines += 1
                self.discarded_bytes += len(line) + 1
            else:
                out.append(sample)
        if len(self._partial) > ASCII_MAX_LINE:
            if not self._skipping:
                self.discarded_lines += 1
            self.discarded_bytes += len(self._partial)
            self._partial, self._skipping = b"", True
        return out

    def reset(self) -> None:
        """Forget a partial line (the port was reopened: its rest will never come)."""
        if self._partial:
            self.discarded_lines += 1
            self.discarded_bytes += len(self._partial)
        self._partial, self._skipping, self._first = b"", False, True

    @staticmethod
    def _parse(line: bytes) -> Sample | None:
        cells = line.split(b",")
        if not 2 <= len(cells) <= 3:
            return None
        try:
            t_ms, uv = float(cells[0]), float(cells[1])
            trig = float(cells[2]) if len(cells) == 3 else None
        except ValueError:
            return None
        if not (math.isfinite(t_ms) and math.isfinite(uv)) or abs(uv) > ASCII_MAX_ABS_UV or trig not in (None, 0.0, 1.0):
            return None
        return Sample(uv, t_ms / 1000.0, None if trig is None else trig == 1.0)


class Eg01010Decoder:
    """EG01010 protocol-1 bytes -> Samples and Events (module doc).  Keeps a cut frame between calls.

    Samples count only inside a wave block (after ``0xF8``).  A value frame (``0xF9``/``0xFA``/
    ``0xFB`` + byte) counts once the next byte is a marker, as the board sends it; followed by
    samples instead, its "marker" was a garbage byte: it is discarded and the bytes stay samples.
    Out of place bytes (before the first wave marker, undefined markers 0xF7/0xFC-0xFF, a marker
    where a value belonged) are counted in ``discarded_bytes``.  Sample bytes skipped while out of
    step are reported as ``Event("skipped", n)`` when the next wave block starts: ``n`` samples
    lost, which the capture turns into a gap of ``n / fs`` (garbage bytes in 0-246 inside a wave
    block cannot be told from samples).
    """

    WAVE, RESP, PULSE, INFO = 0xF8, 0xF9, 0xFA, 0xFB
    MAX_SAMPLE = 246
    LEAD_OFF = 0x11

    def __init__(self, *, uv_per_unit: float = EG01010_UV_PER_UNIT) -> None:
        self.uv_per_unit = float(uv_per_unit)
        self.discarded_bytes = 0
        self.discarded_lines = 0  # no lines in a byte protocol; here for a uniform interface
        self._marker, self._value = 0, None
        self.reset()

    def reset(self) -> None:
        """Forget a cut frame (the port was reopened): wait for the next wave marker."""
        if self._marker or self._value is not None:
            self.discarded_bytes += 1 + (self._value is not None)
        self._wave = self._was_wave = self._synced = self._trigger = False
        self._marker = 0  # a marker whose value byte is next
        self._frame, self._value = 0, None  # a complete frame waiting for the next byte to confirm it
        self._skipped = 0

    def feed(self, data: bytes) -> list[Sample | Event]:
        out: list[Sample | Event] = []
        scale, top = self.uv_per_unit, self.MAX_SAMPLE

        def sample(b: int) -> None:
            if self._wave:
                out.append(Sample((b - EG01010_BASELINE) * scale, None, self._trigger))
                self._trigger = False
            else:
                self.discarded_bytes += 1
                self._skipped += self._synced

        for b in bytes(data):
            if self._value is not None:
                frame, value, self._value = self._frame, self._value, None
                if b > top:  # a marker follows: the frame was real
                    if frame == self.PULSE:
                        out.append(Event("pulse", float(value)))
                        self._trigger = True
                    elif frame == self.RESP:
                        out.append(Event("resp_rate", float(value)))
                    else:
                        out.append(Event("lead_off") if value == self.LEAD_OFF else Event("info", float(value)))
                else:  # samples follow: the "marker" was garbage
                    self.discarded_bytes += 1
                    self._wave = self._was_wave
                    sample(value)
            elif self._marker:
                marker, self._marker = self._marker, 0
                if b <= top:
                    self._frame, self._value = marker, b
                    continue
                self.discarded_bytes += 1  # a marker that lost its value byte
            if b <= top:
                sample(b)
            elif b == self.WAVE:
                if self._skipped:
                    out.append(Event("skipped", float(self._skipped)))
                    self._skipped = 0
                self._wave = self._synced = True
            elif b in (self.RESP, self.PULSE, self.INFO):
                self._was_wave, self._wave, self._marker = self._wave, False, b
            else:
                self.discarded_bytes += 1
        return out


def make_decoder(protocol: str, *, uv_per_unit: float = EG01010_UV_PER_UNIT):
    if protocol == "ascii":
        return AsciiDecoder()
    if protocol == "eg01010":
        return Eg01010Decoder(uv_per_unit=uv_per_unit)
    raise UsageError(f"unknown serial protocol {protocol!r}", hint=f"use one of {', '.join(PROTOCOLS)}")
