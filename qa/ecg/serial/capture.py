"""The live capture loop: a serial port in, a CSV trace out, gaps and outages accounted for; see :mod:`qa.ecg.serial`."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from qa.errors import InputError, UsageError
from qa.ecg.serial.decoders import (
    ASCII_MAX_LEAD_S, DEFAULT_BAUD, EG01010_FS_HZ, EG01010_UV_PER_UNIT, HR_WINDOW_S, LEAD_OFF_HOLD_S, PROTOCOLS, RESYNC_RUN,
    Event, Sample, make_decoder,
)
from qa.ecg.serial.records import CaptureResult, CaptureStatus


def open_port(port: str, *, baud: int, timeout_s: float = 0.05):
    """``serial.serial_for_url``: a device path (opened exclusively) or a pyserial URL (loop://, socket://)."""
    import serial

    kwargs = {} if "://" in port else {"exclusive": True}
    return serial.serial_for_url(port, baudrate=baud, timeout=timeout_s, **kwargs)


def capture(port: str | Callable[[], object], protocol: str, out_path: str | os.PathLike, *, seconds: float | None = None,
            baud: int | None = None, fs_hz: float | None = None, uv_per_unit: float = EG01010_UV_PER_UNIT,
            lead: str = "ECG", keep_lead_off: bool = False, max_outage_s: float | None = None, stall_s: float = 0.5,
            on_status: Callable[[CaptureStatus], None] | None = None, on_event: Callable[[str, str], None] | None = None,
            stop=None) -> CaptureResult:
    """Record an ECG from ``port`` into a new CSV file (``CsvTraceWriter``) until ``seconds`` pass,
    Ctrl-C, or ``stop`` (a ``threading.Event``) is set.

    ``port`` is a device path or pyserial URL, or a callable returning an open pyserial port (it is
    called again to reconnect).  A port that cannot be opened at the start is a ``UsageError``;
    one that disappears later is reopened with back-off (forever, or up to ``max_outage_s``).
    ``on_event(kind, message)`` hears of opened / lost / back / lead_off / lead_on / resync;
    ``on_status`` gets a :class:`CaptureStatus` every second, with the live heart rate.
    """
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown serial protocol {protocol!r}", hint=f"use one of {', '.join(PROTOCOLS)}")
    out = Path(out_path)
    if out.exists():
        raise UsageError(f"{out} already exists: a recording is never written over another file",
                         hint="give a new --out file name, or move the old recording away")
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent} is not a folder: cannot write {out.name} there", hint="create the folder first")
    if protocol == "eg01010" and fs_hz is None:
        fs_hz = EG01010_FS_HZ
    run = _Capture(port, protocol, out, seconds=seconds, baud=baud or DEFAULT_BAUD[protocol], fs_hz=fs_hz,
                   uv_per_unit=uv_per_unit, lead=lead, keep_lead_off=keep_lead_off, max_outage_s=max_outage_s,
                   stall_s=stall_s, on_status=on_status, on_event=on_event, stop=stop)
    return run.run()


class _Capture:
    """The state of one capture (see :func:`capture`); the loop is :meth:`run`."""

    def __init__(self, port, protocol, out, *, seconds, baud, fs_hz, uv_per_unit, lead, keep_lead_off, max_outage_s,
                 stall_s, on_status, on_event, stop):
        self.port_spec, self.protocol, self.out = port, protocol, out
        self.port_label = port if isinstance(port, str) else getattr(port, "__qualname__", repr(port))
        self.seconds, self.baud, self.fs, self.lead = seconds, baud, fs_hz, lead
        self.keep_lead_off, self.max_outage_s, self.stall_s = keep_lead_off, max_outage_s, stall_s
        self.on_status, self.on_event, self.stop = on_status, on_event, stop
        self.decoder = make_decoder(protocol, uv_per_unit=uv_per_unit)
        self.clock = time.monotonic
        self.writer = None
        self.notes: list[str] = []
        # time base
        self.origin = None  # host monotonic time of time_s == 0
        self.start_time = None
        self.last_t = None  # trace time of the last placed sample
        self.last_host = None  # host time of the chunk that held it
        self.last_dev = None  # ascii: the device time of the last accepted sample
        self.offset = 0.0  # ascii: time_s = device time + offset
        self.step = 1.0 / fs_hz if fs_hz else None  # typical sample step, for telling gaps
        self.pending: list[tuple[Sample, float]] = []  # ascii: samples on a new device time base
        self.new_session = False
        # counts
        self.n_written = self.n_received = self.rejected = self.lead_off_dropped = self.samples_skipped = 0
        self.gaps: list[tuple[float, float]] = []
        self.outages: list[tuple[float, float]] = []
        self.lead_off: list[tuple[float, float]] = []
        self.lead_off_since = self.lead_off_until = None
        self.board_pulse = None
        self.first_rx = self.last_rx = None
        self.first_written_t = self.last_written_t = None
        # live status
        self.recent = deque()  # (t, mv) of the last HR_WINDOW_S of written samples
        self.tick_received = 0
        self.last_tick = self.last_outage_tick = 0.0
        self.detector = None
        if on_status:  # the live heart rate (scipy is imported only when a display asks for it)
            from qa.ecg.rpeaks import detect_r_peaks

            self.detector = detect_r_peaks

    # -------------------------------------------------------------- the loop

    def _event(self, kind: str, message: str) -> None:
        if self.on_event:
            self.on_event(kind, message)

    def _open(self):
        if callable(self.port_spec):
            return self.port_spec()
        return open_port(self.port_spec, baud=self.baud)

    def _stopping(self, now: float) -> str | None:
        if self.stop is not None and self.stop.is_set():
            return "stop"
        if self.seconds is not None and now - self.t_start >= self.seconds:
            return "seconds"
        return None

    def run(self) -> CaptureResult:
        try:
            port = self._open()
        except (OSError, ValueError) as exc:
            reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc)
            raise InputError(self.port_label, None, f"cannot open the serial port {self.port_label}: {reason}",
                             hint=_port_hint(exc)) from exc
        self.t_start = self.clock()
        self._event("opened", f"recording {self.protocol} from {self.port_label} into {self.out}")
        stopped_by, next_tick = "interrupt", self.t_start + 1.0
        try:
            while True:
                now = self.clock()
                why = self._stopping(now)
                if why:
                    stopped_by = why
                    break
                if now >= next_tick:
                    self._tick(now)
                    next_tick = now + 1.0
                try:
                    data = port.read(port.in_waiting or 1)
                    if not data and not port.is_open:
                        raise OSError("the port was closed")
                except OSError as exc:
                    port = self._reconnect(port, exc)
                    if port is None:
                        stopped_by = self._stopping(self.clock()) or "port lost"
                        break
                    continue
                if data:
                    self._handle(data, self.clock())
        except KeyboardInterrupt:
            stopped_by = "interrupt"
        finally:
            try:
                if port is not None:
                    port.close()
            finally:
                self._finish()
        return self._result(stopped_by)

    def _reconnect(self, port, exc):
        lost = self.clock()
        self._event("lost", f"port {self.port_label} lost at {lost - self.t_start:.1f} s ({exc}); reconnecting")
        with contextlib.suppress(Exception):  # a vanished device may fail to close: it is gone either way
            port.close()
        if self.writer is not None:
            self.writer.flush()
        delay = 0.05
        while True:
            now = self.clock()
            if self._stopping(now) or (self.max_outage_s is not None and now - lost > self.max_outage_s):
                self.outages.append((lost - self.t_start, now - self.t_start))
                if self.max_outage_s is not None and not self._stopping(now):
                    self.notes.append(f"the port stayed away for more than {self.max_outage_s:g} s: gave up")
                return None
            if self.on_status and now - self.last_outage_tick >= 1.0:
                self.last_outage_tick = now
                self._tick(now, connected=False)
            try:
                port = self._open()
            except (OSError, ValueError):
                time.sleep(delay)
                delay = min(2 * delay, 0.5)
                continue
            back = self.clock()
            self.outages.append((lost - self.t_start, back - self.t_start))
            self._event("back", f"port {self.port_label} back after {back - lost:.1f} s")
            self.decoder.reset()
            self.new_session = True
            return port

    # -------------------------------------------------------------- decoding and placing samples

    def _handle(self, data: bytes, now: float) -> None:
        items = self.decoder.feed(data)
        if not items:
            return
        if self.protocol == "ascii":
            for s in items:
                self._received(now)
                self._place_ascii(s, now)
            return
        # Sample slots: the samples, and those the decoder had to skip (lost: they make a gap).
        n = sum(1 if isinstance(i, Sample) else int(i.value) if i.kind == "skipped" else 0 for i in items)
        k = 0
        t0 = self._place_counter(n, now) if n and self.last_t is not None else 0.0
        for item in items:
            if isinstance(item, Sample):
                if self.origin is None:
                    self._set_origin(now)
                self._received(now)
                self._emit(t0 + k / self.fs, item.ecg_uv, item.trigger)
                k += 1
            elif item.kind == "skipped":
                self.samples_skipped += int(item.value)
                k += int(item.value) if self.last_t is not None else 0
            else:
                self._on_device_event(item)
        if n:
            self.last_host = now

    def _received(self, now: float) -> None:
        self.n_received += 1
        self.tick_received += 1
        if self.first_rx is None:
            self.first_rx = now
        self.last_rx = now

    def _place_counter(self, n: int, now: float) -> float:
        """Trace time of the first of ``n`` counter-timed samples that arrived at host time ``now``."""
        period = 1.0 / self.fs
        silence = (now - n * period) - self.last_host  # host estimate of the time nothing came
        if self.new_session or silence > self.stall_s:
            if not self.new_session:
                self._event("stall", f"no data for {silence:.1f} s at {self.last_t:.1f} s: recorded as a gap")
            self.new_session = False
            return self.last_t + max(period, silence)
        return self.last_t + period

    def _place_ascii(self, s: Sample, now: float) -> None:
        d = s.device_t_s
        if self.last_dev is None:
            self._set_origin(now)
            self.offset = -d
            self._accept(s, now)
            return
        step = d - self.last_dev
        if 0 < step <= (now - self.last_host) + ASCII_MAX_LEAD_S:
            self.pending.clear()
            self._accept(s, now)
            return
        # Backwards, repeated, or ahead of anything the host clock allows: not placed (yet).
        self.rejected += 1
        if self.pending and 0 < d - self.pending[-1][0].device_t_s <= (now - self.pending[-1][1]) + ASCII_MAX_LEAD_S:
            self.pending.append((s, now))
        else:
            self.pending = [(s, now)]
        if len(self.pending) >= RESYNC_RUN:  # the device really has a new time base (it restarted)
            first, first_host = self.pending[0]
            host_gap = max(first_host - self.last_host, self.step or 0.0)
            new_t = self.last_t + max(host_gap, 1e-6)
            self.offset = new_t - first.device_t_s
            self._event("resync", f"the device clock jumped from {self.last_dev:.3f} s to {first.device_t_s:.3f} s: "
                                  f"followed it after {RESYNC_RUN} samples, gap of {host_gap:.2f} s by the host clock")
            self.rejected -= len(self.pending)
            pending, self.pending = self.pending, []
            for p, host in pending:
                self._accept(p, host)

    def _accept(self, s: Sample, now: float) -> None:
        self.last_dev = s.device_t_s
        self.last_host = now
        self._emit(s.device_t_s + self.offset, s.ecg_uv, s.trigger)

    def _set_origin(self, now: float) -> None:
        self.origin = now
        self.start_time = dt.datetime.now() - dt.timedelta(seconds=self.clock() - now)

    def _on_device_event(self, ev: Event) -> None:
        if ev.kind == "pulse":
            self.board_pulse = ev.value
            if self.lead_off_since is not None:
                self._end_lead_off(self.last_t if self.last_t is not None else 0.0)
        elif ev.kind == "lead_off":
            at = (self.last_t + 1.0 / self.fs) if self.last_t is not None else 0.0
            if self.lead_off_since is None:
                self.lead_off_since = at
                self._event("lead_off", f"lead off at {at:.1f} s")
            self.lead_off_until = at + LEAD_OFF_HOLD_S

    def _end_lead_off(self, t: float) -> None:
        self.lead_off.append((self.lead_off_since, t))
        self._event("lead_on", f"lead back on at {t:.1f} s (off for {t - self.lead_off_since:.1f} s)")
        self.lead_off_since = self.lead_off_until = None

    def _emit(self, t: float, uv: float, trigger: bool | None) -> None:
        """Place one sample at trace time ``t``: write it (or drop it while the lead is off)."""
        self.last_t = t
        if self.lead_off_since is not None:
            if t <= self.lead_off_until:
                self.lead_off_dropped += 1
                if not self.keep_lead_off:
                    return
            else:
                self._end_lead_off(t)
        if self.writer is None:
            from qa.ecg.trace import CsvTraceWriter

            self.writer = CsvTraceWriter(self.out, start_time=self.start_time, fs_hz=self.fs, lead=self.lead,
                                         trigger=trigger is not None)
            self.first_written_t = t
        else:
            step = t - self.last_written_t
            typical = self.step if self.step else step
            if step > 1.5 * typical:
                self.gaps.append((self.last_written_t, t))
            elif self.fs is None:  # ascii without a nominal rate: follow the device's typical step
                self.step = step if self.step is None else 0.9 * self.step + 0.1 * step
        self.writer.write(t, uv, trigger)
        self.last_written_t = t
        self.n_written += 1
        if self.on_status:
            self.recent.append((t, uv / 1000.0))

    # -------------------------------------------------------------- status and result

    def _tick(self, now: float, connected: bool = True) -> None:
        if self.writer is not None:
            self.writer.flush()  # also while nothing comes: the last second is on disk
        if not self.on_status:
            return
        dt_s = max(now - (self.last_tick or self.t_start), 1e-3)
        self.last_tick = now
        rate = self.tick_received / dt_s
        self.tick_received = 0
        self.on_status(CaptureStatus(
            elapsed_s=now - self.t_start, connected=connected, samples=self.n_written, rate_hz=rate,
            heart_rate_bpm=self._heart_rate() if connected else None, board_pulse_bpm=self.board_pulse,
            gaps=len(self.gaps), discarded_bytes=self.decoder.discarded_bytes, lead_off=self.lead_off_since is not None,
        ))

    def _heart_rate(self) -> float | None:
        """Median RR of the R-peaks in the last contiguous ~8 s of trace (None when unknown)."""
        while self.recent and self.last_t - self.recent[0][0] > HR_WINDOW_S:
            self.recent.popleft()
        if self.detector is None or len(self.recent) < 10 or self.step is None:
            return None
        import numpy as np

        from qa.numeric import median

        t = np.fromiter((p[0] for p in self.recent), float, len(self.recent))
        mv = np.fromiter((p[1] for p in self.recent), float, len(self.recent))
        cuts = np.flatnonzero(np.diff(t) > 1.5 * self.step)
        if cuts.size:
            t, mv = t[cuts[-1] + 1:], mv[cuts[-1] + 1:]
        if t.size < 10 or t[-1] - t[0] < 3.0:
            return None
        fs = (t.size - 1) / (t[-1] - t[0])
        try:
            peaks = np.asarray(self.detector(mv, fs), dtype=int)
        except Exception as exc:  # noqa: BLE001 - the live display must never end a recording
            self.detector = None
            self.notes.append(f"live heart rate disabled: the R-peak detector failed ({type(exc).__name__}: {exc})")
            return None
        if peaks.size < 2:
            return None
        rr = np.diff(t[peaks])
        rr = rr[rr > 0]
        return float(60.0 / median(rr)) if rr.size else None

    def _finish(self) -> None:
        if self.lead_off_since is not None:
            self.lead_off.append((self.lead_off_since, self.last_t))
            self.lead_off_since = None
        if self.writer is not None:
            self.writer.close()

    def _result(self, stopped_by: str) -> CaptureResult:
        notes = list(self.notes)
        rate = None
        if self.first_rx is not None and self.last_rx - self.first_rx > 0.5:
            busy = (self.last_rx - self.first_rx) - sum(b - a for a, b in self.outages)
            rate = (self.n_received - 1) / busy if busy > 0 else None
        if rate and self.fs and self.protocol == "eg01010" and abs(rate / self.fs - 1.0) > 0.05:
            notes.append(f"the board sent {rate:.1f} samples/s but the time base assumes {self.fs:g} Hz: "
                         f"the times are wrong; record again with --fs matching the board's setting (300, 100 or 50)")
        if self.pending:
            notes.append(f"{len(self.pending)} last sample(s) on an unconfirmed device time base were not written")
        duration = 0.0
        if self.n_written:
            duration = self.last_written_t - self.first_written_t + (self.step or 0.0)
        return CaptureResult(
            path=str(self.out), port=self.port_label, protocol=self.protocol, start_time=self.start_time,
            fs_hz=self.fs, samples_written=self.n_written, samples_received=self.n_received, duration_s=duration,
            capture_s=self.clock() - self.t_start, received_rate_hz=rate, gaps_s=_as_written(self.gaps),
            port_outages_s=tuple(self.outages), lead_off_s=_as_written(self.lead_off),
            lead_off_samples_dropped=0 if self.keep_lead_off else self.lead_off_dropped,
            discarded_bytes=self.decoder.discarded_bytes, discarded_lines=self.decoder.discarded_lines,
            rejected_samples=self.rejected, samples_skipped=self.samples_skipped, stopped_by=stopped_by, notes=tuple(notes),
        )


def _as_written(pairs) -> tuple[tuple[float, float], ...]:
    """Trace times as the CSV holds them (CsvTraceWriter writes 6 decimals)."""
    return tuple((round(a, 6), round(b, 6)) for a, b in pairs)


def _port_hint(exc: Exception) -> str:
    text = str(exc).lower()
    if "permission" in text or "errno 13" in text:
        return "you may not use this port: add yourself to the 'dialout' group (then log in again), or check its permissions"
    if "busy" in text or "lock" in text or "errno 11" in text:
        return "another program holds the port: close it (a terminal, a monitor program) and try again"
    return ("check the device path (ls /dev/ttyUSB* /dev/ttyACM* /dev/serial/by-id/) or the pyserial URL, "
            "and that the device is plugged in")
