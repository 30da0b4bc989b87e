"""Bounded memory for long ECG traces (issue 11, point 6, the ECG part).

A 24-hour trace at 1 kHz (86.4 M samples) must be read and analysed in under 1 GiB.  The test does
not write gigabytes: it runs ``qa gating`` on one hour at 1 kHz and on one minute, each in a fresh
process, and checks that the hour costs no more peak memory than its 1/24 share of the budget over
the minute (the interpreter and libraries are the same in both).  The full day is in
``benchmarks/bench_ecg_memory.py``.  Memory is measured, never time.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qa.ecg.synth import write_long_ecg_csv

BUDGET_24H_MB = 1024.0  # 1 GiB for 24 hours at 1 kHz (the issue)


def peak_rss_mb(argv: list[str]) -> tuple[float, int, str]:
    """Peak resident memory (MB) of a command, measured by a fresh parent process (ru_maxrss of its child)."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(r.stdout); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True)
    rss_kb, code = done.stdout.split()
    return int(rss_kb) / 1024.0, int(code), done.stderr


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long-ecg")
    hour, minute = folder / "hour.csv", folder / "minute.csv"
    n_hour = write_long_ecg_csv(hour, hours=1.0, fs_hz=1000)
    write_long_ecg_csv(minute, hours=1.0 / 60.0, fs_hz=1000)
    exposures = folder / "exposures.csv"
    exposures.write_text("start_s,duration_s\n1800.2,0.2\n3500.2,0.2\n")
    return hour, minute, exposures, n_hour


def test_an_hour_at_1_khz_stays_within_its_share_of_1_gib(traces):
    hour, minute, exposures, n_hour = traces
    gating = [sys.executable, "-m", "qa", "gating", "--exposures", str(exposures), "--json", "--ecg"]
    base_mb, base_code, _ = peak_rss_mb([*gating, str(minute)])
    hour_mb, code, out = peak_rss_mb([*gating, str(hour)])
    doc = json.loads(out)
    assert code in (0, 1) and doc["ecg"]["n_samples"] == n_hour  # every sample read and analysed
    assert len(doc["beats"]["r_peak_times_s"]) == pytest.approx(3600, abs=2)  # 60 bpm for an hour
    share = BUDGET_24H_MB / 24.0
    extra = hour_mb - base_mb
    assert extra <= share, f"one hour at 1 kHz took {extra:.0f} MB over one minute ({hour_mb:.0f} vs {base_mb:.0f} MB); " \
                           f"its share of 1 GiB per day is {share:.0f} MB"
    # a plain float64 reading of the same hour (time + sample columns) would need 16 bytes a sample alone
    assert extra < n_hour * 16 / 2**20


def test_a_long_trace_keeps_float32_samples_and_no_per_sample_times(traces):
    from qa.ecg.trace import read_csv

    hour = traces[0]
    trace = read_csv(hour)
    assert trace.ecg_mv.dtype.itemsize == 4 and trace.time_base.offset_s is None  # whole-ms times: all on the grid
    assert trace.n_samples == traces[3] and trace.time_base.times(0, 3).tolist() == [0.0, 0.001, 0.002]
