"""Live capture at 1 kHz over a pseudo-terminal: ``qa ecg record`` keeps up, nothing is lost.

    .venv/bin/python benchmarks/bench_serial.py [--minutes 10] [--rate-hz 1000]

A simulated device writes a header line, then ``ascii`` lines ``t_ms,ecg_uv,trigger`` of a
synthetic ECG (72 bpm, a trigger pulse 20 ms after each R wave) into the master side of a pty,
paced by its clock in 10 ms batches.  The real command, ``python -m qa ecg record --port /dev/pts/N --out FILE``, runs as a
separate process on the slave side (with its live status and heart rate, stderr not a terminal).
The device starts once the recorder reports the port open and stops after ``--minutes``; the
recorder is then stopped with SIGTERM (handled like Ctrl-C) and its CSV compared, sample by sample, with what
was sent.  It prints samples sent, received, lost (or altered) and the achieved rates.

(A real EG01010 board streams at most 300 samples/s at 9600 baud; 1 kHz is for ascii devices.)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def synthetic_ecg_uv(n: int, fs: float, bpm: float = 72.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """An ECG in uV (0.1 uV steps) with a little noise, and the trigger flag per sample (20 ms after each R)."""
    from qa.ecg.synth import beat_times, synthesize_ecg, trigger_channel

    r = beat_times(n / fs, bpm, first_s=0.3 * 60.0 / bpm)
    t, ecg_mv = synthesize_ecg(r, duration_s=n / fs, fs_hz=fs, noise_mv=0.008, seed=seed)
    return np.round(ecg_mv * 1000.0, 1), trigger_channel(t, r, delay_ms=20.0, width_ms=5.0).astype(bool)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate-hz", type=float, default=1000.0)
    args = parser.parse_args()
    fs = args.rate_hz
    n = round(args.minutes * 60.0 * fs)
    uv, trig = synthetic_ecg_uv(n, fs)
    t_ms = np.arange(n) * (1000.0 / fs)
    lines = [f"{a:.3f},{b:.1f},{int(c)}\n".encode() for a, b, c in zip(t_ms, uv, trig)]
    lines[0] = b"t_ms,ecg_uv,trigger\n" + lines[0]  # the device's banner (the first line after opening is dropped)

    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.csv"
        proc = subprocess.Popen([sys.executable, "-m", "qa", "ecg", "record", "--port", port, "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        opened, stderr_lines = threading.Event(), []

        def follow() -> None:
            for line in proc.stderr:
                stderr_lines.append(line.rstrip())
                if line.startswith("recording"):
                    opened.set()

        threading.Thread(target=follow, daemon=True).start()
        if not opened.wait(60):
            proc.kill()
            print("the recorder did not start:\n" + "\n".join(stderr_lines))
            return 1
        print(f"device: {n} samples at {fs:g} Hz ({args.minutes:g} min) into {port}; recorder pid {proc.pid}")
        t0 = time.monotonic()
        sent, max_lag = 0, 0.0
        report_every, next_report = 60.0, 60.0
        while sent < n:
            now = time.monotonic() - t0
            due = min(n, int(now * fs) + 1)
            if due > sent:
                os.write(master, b"".join(lines[sent:due]))  # blocks when the recorder does not keep up
                sent = due
            max_lag = max(max_lag, (time.monotonic() - t0) - sent / fs)
            if now >= next_report:
                print(f"  {now / 60:5.1f} min: {sent} sent; recorder: {stderr_lines[-1] if stderr_lines else '-'}", flush=True)
                next_report += report_every
            time.sleep(0.01)
        send_s = time.monotonic() - t0
        time.sleep(1.5)  # let the recorder read the last lines
        proc.send_signal(signal.SIGTERM)  # stops like Ctrl-C (SIGINT is ignored in background jobs)
        stdout, _ = proc.communicate(timeout=120)
        os.close(master)
        os.close(slave)
        if proc.returncode != 0:
            print(f"recorder exit code {proc.returncode}\n" + "\n".join(stderr_lines[-20:]))
            return 1

        sys.path.insert(0, str(REPO))
        from qa.ecg.trace import read_csv

        trace = read_csv(out)
        received = trace.n_samples
        idx = np.rint(trace.time_s * fs).astype(int)  # the recording starts at the first sample sent
        inside = (idx >= 0) & (idx < n)
        good = inside & np.isclose(trace.time_s, idx / fs, atol=2e-6)
        good[good] &= np.isclose(trace.ecg_mv[good], uv[idx[good]] / 1000.0, atol=1e-7)
        good[good] &= trace.trigger[good] == trig[idx[good]]
        matched = np.unique(idx[good]).size
        lost = n - matched
        span = trace.time_s[-1] - trace.time_s[0] if received else 0.0
        print(stdout.rstrip())
        print(f"samples sent      {n}")
        print(f"samples received  {received}  (matching a sent sample exactly: {matched}; altered or extra: {received - matched})")
        print(f"samples lost      {lost}")
        print(f"gaps in the trace {len(trace.gaps())}")
        print(f"device rate       {n / send_s:.1f} samples/s over {send_s:.1f} s (max lag behind its clock {1000 * max_lag:.0f} ms)")
        print(f"achieved rate     {received / send_s:.1f} samples/s received; trace {span:.1f} s at {trace.fs_hz:.1f} Hz")
        print("result            " + ("PASS: no sample lost" if lost == 0 and received == matched else "FAIL"))
        return 0 if lost == 0 and received == matched else 1


if __name__ == "__main__":
    sys.exit(main())
