"""Live ECG capture: the pure decoders, capture() over pyserial's loop://, and `qa ecg record` end to end
over a real pseudo-terminal pair (a simulated device writes into the master side)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import numpy as np
import pytest
import serial

from qa.ecg.serial import AsciiDecoder, Eg01010Decoder, Event, Sample, capture
from qa.ecg.synth import beat_times, synthesize_ecg
from qa.ecg.trace import read_csv
from qa.errors import InputError, UsageError

REPO = Path(__file__).resolve().parents[2]
UV_PER_UNIT = 20.0


# ------------------------------------------------------------------------------------ simulated devices


def synthetic_ecg_uv(fs: float, seconds: float, bpm: float = 72.0, seed: int = 0):
    """Times (s), an ECG in uV (0.1 uV steps, as a device sends) and the R-peak sample indices."""
    r = beat_times(seconds, bpm, first_s=0.3 * 60.0 / bpm)
    t, ecg_mv = synthesize_ecg(r, duration_s=seconds, fs_hz=fs, noise_mv=0.008, seed=seed)
    return t, np.round(ecg_mv * 1000.0, 1), np.rint(r * fs).astype(int)


def ascii_lines(t_s, uv, trigger=None) -> list[bytes]:
    if trigger is None:
        return [f"{1000 * a:.3f},{b:.1f}\n".encode() for a, b in zip(t_s, uv)]
    return [f"{1000 * a:.3f},{b:.1f},{int(c)}\n".encode() for a, b, c in zip(t_s, uv, trigger)]


def to_units(uv) -> np.ndarray:
    return np.clip(np.round(np.asarray(uv) / UV_PER_UNIT) + 128, 0, 246).astype(int)


def eg01010_blocks(units, *, pulse_at=(), lead_off_at=(), junk_at=None) -> list[bytes]:
    """One byte string per sample (its marker blocks first), as the board sends them."""
    junk_at = junk_at or {}
    out = []
    for i, u in enumerate(units):
        b = bytearray(b"\xf8" if i == 0 else b"")
        b += junk_at.get(i, b"")
        if i in lead_off_at:
            b += b"\xfb\x11\xf8"
        if i in pulse_at:
            b += b"\xfa\x48\xf8"  # pulse 72 bpm, then the wave marker again
        b.append(int(u))
        out.append(bytes(b))
    return out


def send_paced(write, chunks: list[bytes], rate_hz: float, batch_s: float = 0.01) -> None:
    """Write ``chunks`` (one per sample) at ``rate_hz`` in small batches, as a device would."""
    t0, sent = time.monotonic(), 0
    while sent < len(chunks):
        due = min(len(chunks), int((time.monotonic() - t0) * rate_hz) + 1)
        if due > sent:
            write(b"".join(chunks[sent:due]))
            sent = due
        time.sleep(batch_s)


class LoopDevice:
    """A device behind pyserial's ``loop://``: capture() opens it through ``open``, the test writes into it.

    ``unplug()`` closes the port under the reader and makes ``open`` fail until ``plug()``.
    """

    def __init__(self):
        self.ports: queue.Queue = queue.Queue()
        self.present = threading.Event()
        self.present.set()

    def open(self):
        if not self.present.is_set():
            raise serial.SerialException(2, "could not open port loop://: no such device")
        port = serial.serial_for_url("loop://", timeout=0.05)
        self.ports.put(port)
        return port

    @staticmethod
    def drain(port) -> None:
        deadline = time.monotonic() + 5
        while port.in_waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)

    def unplug(self, port) -> None:
        self.drain(port)
        self.present.clear()
        port.close()

    def plug(self) -> None:
        self.present.set()


def run_capture_in_thread(*args, **kwargs):
    """capture() in a thread: (thread, {"result" or "error"})."""
    box = {}

    def target():
        try:
            box["result"] = capture(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th, box


def make_pty():
    master, slave = os.openpty()
    tty.setraw(slave)  # a raw line from the start: 0x11/0x13 are data, not XON/XOFF
    return master, slave, os.ttyname(slave)


# ------------------------------------------------------------------------------------ ascii decoder


def test_ascii_decoder_gives_the_same_samples_however_the_bytes_are_cut():
    t, uv, _ = synthetic_ecg_uv(250.0, 1.0)
    trig = np.zeros(t.size, bool)
    trig[::50] = True
    data = b"57,12\r\n" + b"".join(ascii_lines(t, uv, trig)).replace(b"\n", b"\r\n")  # opened mid-line
    whole = AsciiDecoder().feed(data)
    d = AsciiDecoder()
    bytewise = [s for i in range(len(data)) for s in d.feed(data[i:i + 1])]
    d2, rng, pos, chunked = AsciiDecoder(), np.random.default_rng(1), 0, []
    while pos < len(data):
        step = int(rng.integers(1, 40))
        chunked += d2.feed(data[pos:pos + step])
        pos += step
    assert whole == bytewise == chunked
    assert [s.ecg_uv for s in whole] == uv.tolist() and [s.trigger for s in whole] == trig.tolist()
    assert np.allclose([s.device_t_s for s in whole], t, atol=1e-9)
    assert d.discarded_lines == d2.discarded_lines == 1  # the first line, most likely cut


def test_ascii_decoder_counts_garbage_and_never_raises():
    stream = (b"\n"                             # the cut first line ended just before
              b"\x00\xff\x13noise,\xfe\n"      # binary junk
              b"0.000,12.5\n"
              b"t_ms,ecg_uv\n"                  # a header is not a sample
              b"4.000,abc\n" b"8.000,nan\n" b"12.000,5e9\n" b"16.000,1,2,3\n" b"20.000,1,7\n"
              + b"x" * 300 + b"\n"               # an over-long line
              + b"24.000,-30.0,1\r" b"28.000,40.0\n")
    d = AsciiDecoder()
    got = d.feed(stream[:57]) + d.feed(stream[57:])
    assert got == [Sample(12.5, 0.0, None), Sample(-30.0, 0.024, True), Sample(40.0, 0.028, None)]
    assert d.discarded_lines == 8  # junk, header, abc, nan, 5e9, four cells, trigger 7, the long line
    rng = np.random.default_rng(7)
    for _ in range(50):  # fuzz: never raises, every sample it lets through is finite
        for s in d.feed(rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()):
            assert np.isfinite(s.ecg_uv) and np.isfinite(s.device_t_s)


# ------------------------------------------------------------------------------------ EG01010 decoder


def test_eg01010_decoder_reads_the_manuals_example_stream():
    d = Eg01010Decoder(uv_per_unit=10.0)
    got = d.feed(bytes([0xF8, 0x20, 0x23, 0x25, 0xFA, 0x78, 0xF8, 0x25, 0x25]))
    assert got == [
        Sample((0x20 - 128) * 10.0, None, False), Sample((0x23 - 128) * 10.0, None, False),
        Sample((0x25 - 128) * 10.0, None, False), Event("pulse", 120.0),
        Sample((0x25 - 128) * 10.0, None, True), Sample((0x25 - 128) * 10.0, None, False),
    ]
    assert d.discarded_bytes == 0


def test_eg01010_decoder_survives_cut_frames_lead_off_and_garbage():
    d = Eg01010Decoder(uv_per_unit=1.0)
    got = []
    for chunk in (b"\x05\x06",                # mid-stream start: no wave marker yet
                  b"\xf8\x80\x81\xfd\x82",     # an undefined marker inside the wave block
                  b"\xfa", b"\x3c\xf8\x83",    # a pulse frame cut between two reads
                  b"\xfb\x11\xf8\x80",         # lead off
                  b"\xfb\x07\xf9\x12\xf8\x84",  # another info byte, a respiration rate
                  b"\xfa\xf8\x85"):             # a pulse marker that lost its value byte
        got += d.feed(chunk)
    samples = [g for g in got if isinstance(g, Sample)]
    assert [s.ecg_uv for s in samples] == [0, 1, 2, 3, 0, 4, 5]
    assert [s.trigger for s in samples] == [False, False, False, True, False, False, False]
    assert [g for g in got if isinstance(g, Event)] == [Event("pulse", 60.0), Event("lead_off"), Event("info", 7.0),
                                                        Event("resp_rate", 18.0)]
    assert d.discarded_bytes == 4  # 0x05, 0x06, 0xFD and the orphaned 0xFA
    rng = np.random.default_rng(3)
    for _ in range(50):
        for item in d.feed(rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()):
            assert isinstance(item, (Sample, Event))


# ------------------------------------------------------------------------------------ capture over loop://


def test_capture_over_loop_url_writes_a_csv_that_reads_back_sample_for_sample(tmp_path):
    t, uv, r = synthetic_ecg_uv(500.0, 4.0)
    trig = np.zeros(t.size, bool)
    trig[r + 10] = True
    dev, stop = LoopDevice(), threading.Event()
    out = tmp_path / "loop.csv"
    th, box = run_capture_in_thread(dev.open, "ascii", out, stop=stop)
    port = dev.ports.get(timeout=5)
    port.write(b"57,12\n" + b"".join(ascii_lines(t + 3.0, uv, trig)))  # starts mid-line, as a real port does
    dev.drain(port)
    stop.set()
    th.join(10)
    res = box["result"]
    trace = read_csv(out)
    assert res.samples_written == trace.n_samples == t.size and res.stopped_by == "stop"
    assert res.discarded_lines == 1 and not res.gaps_s and trace.gaps() == []
    assert np.allclose(trace.time_s, t, atol=1e-6) and np.allclose(trace.ecg_mv * 1000.0, uv, atol=0.05)
    assert np.array_equal(trace.trigger, trig)
    assert trace.start_time == res.start_time and trace.fs_hz == pytest.approx(500.0)


def test_eg01010_disconnection_over_loop_url_is_a_gap_with_nothing_invented(tmp_path):
    fs = 300.0
    t, uv, r = synthetic_ecg_uv(fs, 2.4)
    units = to_units(uv)
    half = t.size // 2
    pulses = set((r + 6).tolist())
    blocks = eg01010_blocks(units, pulse_at=pulses, junk_at={40: b"\xfe\xff"})
    dev, stop = LoopDevice(), threading.Event()
    events = []
    th, box = run_capture_in_thread(dev.open, "eg01010", tmp_path / "eg.csv", uv_per_unit=UV_PER_UNIT, stop=stop,
                                    on_event=lambda kind, msg: events.append(kind))
    port = dev.ports.get(timeout=5)
    send_paced(port.write, blocks[:half], fs)
    dev.unplug(port)  # the USB adapter is pulled out ...
    time.sleep(0.5)
    dev.plug()  # ... and plugged in again: the board starts a new wave block
    port = dev.ports.get(timeout=5)
    send_paced(port.write, [b"\xf8" + blocks[half]] + blocks[half + 1:], fs)
    dev.drain(port)
    stop.set()
    th.join(10)
    res = box["result"]
    trace = read_csv(tmp_path / "eg.csv")
    assert events[:3] == ["opened", "lost", "back"] and len(res.port_outages_s) == 1
    assert trace.fs_hz == fs and trace.n_samples == t.size == res.samples_written  # every sample, none invented
    assert np.allclose(trace.ecg_mv * 1000.0, (units - 128) * UV_PER_UNIT)
    assert np.array_equal(np.flatnonzero(trace.trigger), sorted(p for p in pulses if p < t.size))
    (gap,) = trace.gaps()
    assert gap[0] == pytest.approx(t[half - 1], abs=1e-6)
    assert 0.45 < gap[1] - gap[0] < 2.0  # the outage, measured by the host clock
    assert np.allclose(np.diff(trace.time_s[:half]), 1 / fs, atol=2e-6)  # the sample counter, not the host clock
    assert np.allclose(np.diff(trace.time_s[half:]), 1 / fs, atol=2e-6)
    assert res.discarded_bytes == 2 and res.gaps_s == tuple(trace.gaps())


@pytest.mark.parametrize("keep", [False, True])
def test_eg01010_lead_off_is_a_gap_unless_kept(tmp_path, keep):
    fs = 300.0
    t, uv, r = synthetic_ecg_uv(fs, 5.0)
    units = to_units(uv)
    a, b = 450, 1050  # leads off from 1.5 s to 3.5 s: the board sends its baseline and says so twice a second
    units[a:b] = 128
    pulse_after = int(r[r > b][0])
    blocks = eg01010_blocks(units, lead_off_at=set(range(a, b, 150)), pulse_at={pulse_after} | set(r[r < a].tolist()))
    dev, stop = LoopDevice(), threading.Event()
    out = tmp_path / f"leadoff-{keep}.csv"
    th, box = run_capture_in_thread(dev.open, "eg01010", out, uv_per_unit=UV_PER_UNIT, keep_lead_off=keep, stop=stop)
    port = dev.ports.get(timeout=5)
    port.write(b"".join(blocks))
    dev.drain(port)
    stop.set()
    th.join(10)
    res = box["result"]
    trace = read_csv(out)
    # Lead on again at the first pulse the board detects after the lead-off messages stop.
    assert res.lead_off_s == ((pytest.approx(t[a]), pytest.approx(t[pulse_after - 1])),)
    if keep:
        assert trace.n_samples == t.size and trace.gaps() == [] and res.lead_off_samples_dropped == 0
    else:
        assert trace.n_samples == t.size - (pulse_after - a) == res.samples_written
        assert res.lead_off_samples_dropped == pulse_after - a
        assert trace.gaps() == [(pytest.approx(t[a - 1]), pytest.approx(t[pulse_after]))]


def test_ascii_device_restart_and_a_corrupted_time_are_handled(tmp_path):
    t, uv, _ = synthetic_ecg_uv(250.0, 4.0)
    lines = ascii_lines(t[:500], uv[:500])
    lines.insert(200, b"999999.000,15.0\n")  # a time that leaps ahead of the host clock: not placed
    lines += ascii_lines(t[:500], uv[500:])  # the device restarts: its t_ms starts again from 0
    dev, stop = LoopDevice(), threading.Event()
    events = []
    th, box = run_capture_in_thread(dev.open, "ascii", tmp_path / "restart.csv", stop=stop,
                                    on_event=lambda kind, msg: events.append(kind))
    port = dev.ports.get(timeout=5)
    port.write(b"\n" + b"".join(lines))
    dev.drain(port)
    stop.set()
    th.join(10)
    res = box["result"]
    trace = read_csv(tmp_path / "restart.csv")
    assert "resync" in events and res.rejected_samples == 1
    assert trace.n_samples == 1000 and np.allclose(trace.ecg_mv * 1000.0, uv, atol=0.05)
    assert np.all(np.diff(trace.time_s) > 0)


def test_live_status_shows_rate_and_heart_rate(tmp_path):
    t, uv, _ = synthetic_ecg_uv(500.0, 10.0, bpm=72.0)
    dev, stop, statuses = LoopDevice(), threading.Event(), []
    th, box = run_capture_in_thread(dev.open, "ascii", tmp_path / "hr.csv", stop=stop, on_status=statuses.append)
    port = dev.ports.get(timeout=5)
    port.write(b"\n" + b"".join(ascii_lines(t, uv)))
    dev.drain(port)
    time.sleep(1.1)
    stop.set()
    th.join(10)
    res = box["result"]
    assert res.samples_written == t.size and statuses and statuses[-1].samples == t.size
    hrs = [s.heart_rate_bpm for s in statuses if s.heart_rate_bpm is not None]
    assert hrs and hrs[-1] == pytest.approx(72.0, abs=1.0)
    assert not res.notes


def test_an_existing_file_is_never_overwritten_and_a_missing_port_is_named(tmp_path):
    out = tmp_path / "old.csv"
    out.write_text("precious\n")
    with pytest.raises(UsageError, match="already exists"):
        capture("loop://", "ascii", out, seconds=0.1)
    assert out.read_text() == "precious\n"
    with pytest.raises(InputError, match="/dev/ttyNOPE") as info:
        capture("/dev/ttyNOPE", "ascii", tmp_path / "new.csv", seconds=0.1)
    assert "device path" in info.value.hint and not (tmp_path / "new.csv").exists()


# ------------------------------------------------------------------------------------ end to end over a pty


def test_record_command_cannot_open_port_exits_2_naming_it(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "qa", "ecg", "record", "--port", "/dev/ttyNOPE", "--out",
                           str(tmp_path / "x.csv"), "--json"], check=False, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert "cannot open the serial port /dev/ttyNOPE" in proc.stderr and "what to do" in proc.stderr
    assert '"schema": "qa.error/1"' in proc.stdout and not (tmp_path / "x.csv").exists()


def test_record_command_over_a_pty_captures_mitbih_100(shared_data, tmp_path):
    import wfdb

    rec = wfdb.rdrecord(str(shared_data / "ecg" / "100"), sampfrom=3600, sampto=3600 + 3 * 360)
    fs = float(rec.fs)
    uv = np.round(rec.p_signal[:, 0] * 1000.0, 1)
    t = np.arange(uv.size) / fs + 10.0  # the device has been on for a while
    lines = ascii_lines(t, uv)
    lines[100:100] = [b"\x00\xfe\xff\n", b"12.0,oops\n"]  # garbage from a noisy line
    lines.insert(0, b"t_ms,ecg_uv\n")  # the device's banner ends the line the port was opened in
    master, slave, port = make_pty()
    out = tmp_path / "mitbih100.csv"
    proc = subprocess.Popen([sys.executable, "-m", "qa", "ecg", "record", "--port", port, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even from a background job
    opened, err = threading.Event(), []

    def follow():
        for line in proc.stderr:
            err.append(line)
            opened.set() if line.startswith("recording") else None

    threading.Thread(target=follow, daemon=True).start()
    try:
        assert opened.wait(30), "".join(err)
        send_paced(lambda b: os.write(master, b), lines, fs)
        time.sleep(1.3)
        on_disk = read_csv(out)  # still recording: what came is on disk already (flushed every second)
        assert on_disk.n_samples == uv.size
        proc.send_signal(signal.SIGINT)  # Ctrl-C ends a recording normally
        stdout, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, "".join(err)
    assert "stopped by interrupt" in stdout and f"{uv.size} samples written" in stdout
    trace = read_csv(out)
    assert trace.n_samples == uv.size and trace.gaps() == []
    assert np.allclose(trace.time_s, t - t[0], atol=1e-6) and np.allclose(trace.ecg_mv, uv / 1000.0, atol=1e-6)
    assert trace.fs_hz == pytest.approx(fs, rel=1e-3) and trace.trigger is None


def test_a_pty_port_that_disappears_and_comes_back_leaves_a_gap(tmp_path):
    fs = 250.0
    t, uv, _ = synthetic_ecg_uv(fs, 2.4)
    half = t.size // 2
    link = tmp_path / "ttyECG"  # a stable name, as udev's /dev/serial/by-id/ links are
    master, slave, name = make_pty()
    link.symlink_to(name)
    opened, back, stop = threading.Event(), threading.Event(), threading.Event()
    flags = {"opened": opened, "back": back}
    th, box = run_capture_in_thread(str(link), "ascii", tmp_path / "replug.csv", stop=stop,
                                    on_event=lambda kind, msg: flags[kind].set() if kind in flags else None)
    try:
        assert opened.wait(10)
        t0 = time.monotonic()
        send_paced(lambda b: os.write(master, b), [b"\n"] + ascii_lines(t[:half], uv[:half]), fs)
        time.sleep(0.3)
        os.close(master)  # the device vanishes
        os.close(slave)
        link.unlink()
        time.sleep(0.6)
        master, slave, name = make_pty()  # ... and comes back under the same name
        link.symlink_to(name)
        assert back.wait(10)
        resume = time.monotonic() - t0  # the device's clock kept running
        send_paced(lambda b: os.write(master, b), [b"\n"] + ascii_lines(t[half:] - t[half] + resume, uv[half:]), fs)
        time.sleep(0.3)
    finally:
        stop.set()
        th.join(10)
        os.close(master)
        os.close(slave)
    res = box["result"]
    trace = read_csv(tmp_path / "replug.csv")
    assert trace.n_samples == t.size and np.allclose(trace.ecg_mv * 1000.0, uv, atol=0.05)  # nothing invented
    (gap,) = trace.gaps()
    assert gap == (pytest.approx(t[half - 1], abs=1e-6), pytest.approx(resume, abs=1e-6))
    assert gap[1] - gap[0] > 0.8 and len(res.port_outages_s) == 1 and res.gaps_s == tuple(trace.gaps())


def test_eg01010_over_a_pty_with_garbage_and_triggers(tmp_path):
    fs = 300.0
    t, uv, r = synthetic_ecg_uv(fs, 2.0)
    units = to_units(uv)
    pulses = set((r + 5).tolist())
    blocks = eg01010_blocks(units, pulse_at=pulses, junk_at={100: b"\xfd", 200: b"\xfa"})  # 0xFA: a cut pulse frame
    blocks[0] = b"\x01\x02\x03" + blocks[0]  # mid-stream bytes before the first wave marker
    master, slave, name = make_pty()
    opened, stop = threading.Event(), threading.Event()
    th, box = run_capture_in_thread(name, "eg01010", tmp_path / "eg.csv", uv_per_unit=UV_PER_UNIT, stop=stop,
                                    on_event=lambda kind, msg: opened.set() if kind == "opened" else None)
    try:
        assert opened.wait(10)
        send_paced(lambda b: os.write(master, b), blocks, fs)
        time.sleep(0.3)
    finally:
        stop.set()
        th.join(10)
        os.close(master)
        os.close(slave)
    res = box["result"]
    trace = read_csv(tmp_path / "eg.csv")
    assert trace.n_samples == t.size and trace.gaps() == [] and trace.fs_hz == fs
    assert np.allclose(trace.time_s, t, atol=1e-6) and np.allclose(trace.ecg_mv * 1000.0, (units - 128) * UV_PER_UNIT)
    assert np.array_equal(np.flatnonzero(trace.trigger), sorted(pulses))
    assert res.discarded_bytes == 5 and res.received_rate_hz == pytest.approx(fs, rel=0.05) and not res.notes


def test_serial_benchmark_runs_briefly():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_serial.py"), "--minutes", "0.05"],
                         check=False, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "samples lost      0" in out.stdout and "achieved rate" in out.stdout


def test_eg01010_a_garbage_marker_costs_one_byte_and_lost_step_is_counted():
    d = Eg01010Decoder(uv_per_unit=1.0)
    # 0xFA inserted inside a wave block, followed by samples: not a pulse frame
    got = d.feed(b"\xf8\x80\xfa\x81\x82\x83")
    assert got == [Sample(0.0, None, False), Sample(1.0, None, False), Sample(2.0, None, False), Sample(3.0, None, False)]
    assert d.discarded_bytes == 1
    # a real frame followed by garbage that breaks the step: its samples are skipped and counted
    got = d.feed(b"\xfb\x11\xf7\x84\x85\x86\xf8\x87")
    assert got == [Event("lead_off"), Event("skipped", 3.0), Sample(7.0, None, False)]
    assert d.discarded_bytes == 5
