"""``qa ecg record``: capture a live ECG trace from a serial port into a CSV file."""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap
import threading

from qa.cli.common import EXIT_OK, HelpFormatter, fmt, json_out, positive, write_raw


class StatusLine:
    """The live status on stderr: one line redrawn in place on a terminal, a plain line every 10 s otherwise."""

    def __init__(self, stream=None, every_s: float = 10.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s
        self._next = 0.0
        self._shown = False

    def status(self, s) -> None:
        hr = f"{s.heart_rate_bpm:.0f}" if s.heart_rate_bpm is not None else "-"
        board = f" (board {s.board_pulse_bpm:.0f})" if s.board_pulse_bpm is not None else ""
        state = "  PORT LOST" if not s.connected else ("  LEAD OFF" if s.lead_off else "")
        text = (f"{s.elapsed_s:6.0f} s  {s.rate_hz:6.0f} samples/s  HR {hr} bpm{board}  {s.samples} samples  "
                f"{s.gaps} gap(s)  {s.discarded_bytes} bytes discarded{state}")
        if self.tty:
            write_raw(self.stream, "\r\033[K")  # our own cursor control, on a terminal only
            self.stream.write(text)
            self._shown = True
        elif s.elapsed_s >= self._next:
            self.stream.write(text + "\n")
            self._next = s.elapsed_s + self.every_s
        self.stream.flush()

    def event(self, kind: str, message: str) -> None:
        self.clear()
        self.stream.write(f"{message}\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self._shown:
            write_raw(self.stream, "\r\033[K")
            self._shown = False


def cmd_ecg_record(args: argparse.Namespace) -> int:
    from qa.workflows.ecg import record_ecg

    err = sys.stderr
    line = StatusLine(err)
    on_event = line.event if not args.quiet else (lambda kind, message: None)
    # kill (SIGTERM) stops like Ctrl-C: the file is flushed and closed, the summary printed.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        recording = record_ecg(
            args.port, out=args.out, protocol=args.protocol, seconds=args.seconds, baud=args.baud, fs_hz=args.fs,
            uv_per_unit=args.uv_per_unit, lead=args.lead, keep_lead_off=args.keep_lead_off,
            give_up_after_s=args.give_up_after, on_status=None if args.quiet else line.status, on_event=on_event,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        line.clear()
    print_result(err if args.json else sys.stdout, recording.capture)
    if args.json:
        json_out(recording, "qa.ecg/1")
    return EXIT_OK


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def print_result(out, r) -> None:
    print(f"Recorded  {r.path}  ({r.protocol} from {r.port}, stopped by {r.stopped_by})", file=out)
    rate = f"{r.received_rate_hz:.1f} samples/s received" if r.received_rate_hz else "rate unknown"
    start = r.start_time.isoformat(timespec="milliseconds") if r.start_time else "-"
    print(f"          {r.samples_written} samples written of {r.samples_received} received, {r.duration_s:.1f} s of trace, "
          f"{rate}; starts {start}", file=out)
    if r.gaps_s:
        shown = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in r.gaps_s[:5]) + (" ..." if len(r.gaps_s) > 5 else "")
        print(f"Gaps      {len(r.gaps_s)}: {shown} (nothing written in them)", file=out)
    if r.port_outages_s:
        print(f"Port lost {len(r.port_outages_s)} time(s), {sum(b - a for a, b in r.port_outages_s):.1f} s in all", file=out)
    if r.lead_off_s:
        print(f"Lead off  {len(r.lead_off_s)} time(s): " + ", ".join(f"{a:.1f}-{fmt(b, 1)} s" for a, b in r.lead_off_s[:5])
              + (f"; {r.lead_off_samples_dropped} samples not written" if r.lead_off_samples_dropped else ""), file=out)
    if r.discarded_bytes or r.rejected_samples:
        print(f"Discarded {r.discarded_bytes} bytes ({r.discarded_lines} lines) of garbage or cut frames"
              + (f", {r.rejected_samples} samples with an impossible device time" if r.rejected_samples else "")
              + (f"; {r.samples_skipped} samples lost out of step (gaps)" if r.samples_skipped else ""), file=out)
    for note in r.notes:
        print(f"note:     {note}", file=out)


def add_parser(sub) -> None:
    from qa.workflows.choices import EG01010_FS_HZ, EG01010_UV_PER_UNIT, PROTOCOLS

    p = sub.add_parser(
        "ecg", formatter_class=HelpFormatter, help="ECG traces: record one live from a serial port",
        description="ECG traces.  'qa ecg record' captures a live trace from a serial port into a CSV file.",
    )
    ecg_sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = ecg_sub.add_parser(
        "record", formatter_class=HelpFormatter,
        help="capture a live ECG from a serial port into a new CSV file",
        description=textwrap.dedent(
            f"""\
            Capture a live ECG from a serial port (a device path or a pyserial URL such as loop:// or
            socket://host:port) into a new CSV file (time_s,ecg_uv[,trigger], readable by every qa
            command that takes an ECG trace).  The file is written as the samples come and forced to
            disk every second; an existing file is never overwritten.  A live status line shows the
            received rate, the heart rate of the last ~8 s, the samples and the gaps (--quiet: none).

            Garbage bytes and cut frames are discarded and counted.  When the port disappears the
            capture reopens it until it comes back (or --give-up-after): the missing time is a gap,
            a jump in time_s, never filled with invented samples.

            protocols:
              ascii    lines t_ms,ecg_uv[,trigger]; the device's t_ms is the time base.
                       1 kHz needs about 20 kB/s: 230400 baud or more (USB CDC ignores the baud).
              eg01010  Medlab EG01010 board, protocol 1, 9600 8N1: one byte per sample around 128,
                       markers for wave (0xF8), respiration (0xF9), pulse (0xFA: the trigger column)
                       and info (0xFB, 0x11 = lead off).  The bytes carry no time and no scale:
                       --fs must match the board's setting (S0/S1/S2 = 300/100/50 samples/s); time is
                       the sample count / --fs, the host clock only measures outages and stalls.
                       --uv-per-unit (default {EG01010_UV_PER_UNIT:g}) is a placeholder: calibrate it with
                       the board's 1 mV pulse (command C): 1000 / pulse height in steps.  Samples sent
                       while the board reports lead off are a gap unless --keep-lead-off.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa ecg record --port /dev/ttyUSB0 --out exam42_ecg.csv
              qa ecg record --port /dev/ttyUSB0 --protocol eg01010 --out ecg.csv --seconds 300
              qa ecg record --port /dev/ttyACM0 --baud 230400 --out ecg.csv --quiet --json > capture.json
              qa ecg record --port socket://192.168.1.20:4001 --out ecg.csv --give-up-after 30
              qa gating --ecg ecg.csv --exposures exposures.csv   (use the recording)

            exit codes: 0 recorded (Ctrl-C stops a recording normally), 2 the port cannot be opened,
                        the output file exists, or no sample came
            """
        ),
    )
    r.add_argument("--port", required=True, metavar="DEV", help="serial device (/dev/ttyUSB0, COM3) or pyserial URL")
    r.add_argument("--protocol", choices=list(PROTOCOLS), default="ascii", help="byte protocol (default ascii)")
    r.add_argument("--baud", type=int, metavar="N", help="baud rate (default 115200 for ascii, 9600 for eg01010)")
    r.add_argument("--out", required=True, metavar="FILE", help="the CSV file to create (never overwritten)")
    r.add_argument("--seconds", type=positive, metavar="N", help="stop after N seconds (default: at Ctrl-C)")
    r.add_argument("--fs", type=positive, metavar="HZ",
                   help=f"sampling rate: eg01010 time base (default {EG01010_FS_HZ:g}); ascii: written to the file header")
    r.add_argument("--uv-per-unit", type=positive, default=EG01010_UV_PER_UNIT, metavar="UV",
                   help=f"eg01010 amplitude scale in uV per step (default {EG01010_UV_PER_UNIT:g}, a placeholder: calibrate)")
    r.add_argument("--lead", default="ECG", help="lead name written to the file (default ECG)")
    r.add_argument("--keep-lead-off", action="store_true", help="eg01010: write the samples sent while the lead is off")
    r.add_argument("--give-up-after", type=positive, metavar="S", help="stop when the port stays away S seconds (default: never)")
    r.add_argument("--quiet", action="store_true", help="no live status line and no event messages")
    r.add_argument("--json", action="store_true", help="print one JSON object (qa.ecg/1) on stdout")
    r.set_defaults(func=cmd_ecg_record)
