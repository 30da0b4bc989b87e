"""ECG traces: CSV (our own writer and hand-written files), WFDB records and a DICOM ECG; refusals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from qa.ecg.trace import CsvTraceWriter, read_csv, read_trace
from qa.errors import InputError


def _synthetic_ecg(fs=500.0, seconds=6.0, bpm=60.0):
    t = np.arange(int(fs * seconds)) / fs
    phase = (t * bpm / 60.0) % 1.0
    return t, 1.2 * np.exp(-((phase - 0.3) / 0.012) ** 2) - 0.1 * np.exp(-((phase - 0.6) / 0.05) ** 2)


def test_csv_written_as_it_goes_reads_back(tmp_path):
    t, ecg = _synthetic_ecg()
    start = dt.datetime(2026, 3, 2, 7, 31, 5, 250000)
    path = tmp_path / "trace.csv"
    triggers = (np.arange(t.size) % 500) < 5
    with CsvTraceWriter(path, start_time=start, fs_hz=500.0, lead="II", trigger=True) as writer:
        for ti, v, tr in zip(t, ecg, triggers):
            writer.write(ti, v * 1000.0, trigger=int(tr))
    trace = read_csv(path)
    assert trace.fs_hz == 500.0 and trace.lead == "II" and trace.start_time == start
    assert np.allclose(trace.ecg_mv, ecg, atol=1e-4) and np.array_equal(trace.trigger, triggers)
    with pytest.raises(FileExistsError):
        CsvTraceWriter(path, start_time=None, fs_hz=500.0)  # never over an existing recording


def test_csv_units_come_from_the_column_name_and_gaps_stay_gaps(tmp_path):
    t, ecg = _synthetic_ecg(fs=250.0)
    keep = (t < 2.0) | (t >= 3.0)  # one second lost
    path = tmp_path / "mv.csv"
    path.write_text("time_s,ecg_mv\n" + "".join(f"{a:.4f},{b:.5f}\n" for a, b in zip(t[keep], ecg[keep])))
    trace = read_csv(path)
    assert trace.fs_hz == pytest.approx(250.0) and np.allclose(trace.ecg_mv, ecg[keep], atol=1e-5)
    (gap,) = trace.gaps()
    assert gap[0] == pytest.approx(1.996) and gap[1] == pytest.approx(3.0)
    assert trace.n_samples == keep.sum()  # nothing invented in the gap
    assert len(trace.segments()) == 2


@pytest.mark.parametrize("text, field, message", [
    ("time_s,ecg_v\n0,1\n", "ecg_v", "unknown unit"),
    ("time_s,ecg\n0,1\n", "ecg", "unknown unit"),
    ("time_s,resp\n0,1\n", "ecg column", "exactly one ECG column"),
    ("time_s,ecg_mv\n0,1\n0.002,x\n", "ecg_mv, line 3", "not a number"),
    ("ecg_mv\n1\n2\n", "time_s", "no sampling rate"),
])
def test_malformed_csv_is_refused(tmp_path, text, field, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_csv(path)
    assert info.value.field == field and "bad.csv" in str(info.value)


def _write(path, t, v):
    path.write_text("time_s,ecg_mv\n" + "".join(f"{a:.6f},{b:.6f}\n" for a, b in zip(t, v)))


def test_signals_that_cannot_hold_beats_are_refused(tmp_path):
    t, ecg = _synthetic_ecg(fs=250.0)
    backwards = t.copy()
    backwards[100] = backwards[98]
    cases = [
        (backwards, ecg, "does not increase"),
        (t[:250], ecg[:250], "too short to hold two beats"),
        (t, np.full(t.size, 0.3) + 0.001 * np.sin(t), "flat"),
        (t, np.clip(ecg, None, 0.2), "saturated"),
    ]
    for n, (tt, vv, message) in enumerate(cases):
        path = tmp_path / f"case{n}.csv"
        _write(path, tt, vv)
        with pytest.raises(InputError, match=message):
            read_csv(path)


def test_wfdb_records(shared_data):
    trace = read_trace(shared_data / "ecg" / "100.hea")
    assert trace.fs_hz == 360.0 and trace.lead == "MLII" and trace.n_samples == 650000
    assert read_trace(shared_data / "ecg" / "100", lead="V5").lead == "V5"
    low = read_trace(shared_data / "ecg" / "800")
    assert low.fs_hz == 128.0 and low.duration_s == pytest.approx(1800.0)
    with pytest.raises(InputError, match="no lead 'V9'"):
        read_trace(shared_data / "ecg" / "208", lead="V9")


def test_dicom_ecg_waveform(shared_data):
    trace = read_trace(shared_data / "ecg" / "waveform_ecg.dcm")
    assert (trace.lead, trace.fs_hz, trace.n_samples) == ("II", 1000.0, 10000)
    assert trace.start_time == dt.datetime(2013, 1, 25, 10, 59, 19)
    # sensitivity 1.25 uV per unit applied, then uV -> mV: a QRS of about a millivolt
    assert 0.5 < np.ptp(trace.ecg_mv) < 5.0
    assert read_trace(shared_data / "ecg" / "waveform_ecg.dcm", lead="V1").lead == "V1"
    with pytest.raises(InputError, match="no lead 'X'"):
        read_trace(shared_data / "ecg" / "waveform_ecg.dcm", lead="X")


def test_a_ct_image_is_not_an_ecg(ct_dir):
    with pytest.raises(InputError, match="not a DICOM ECG"):
        read_trace(ct_dir / "CT_small.dcm")


def test_a_sampling_rate_that_contradicts_time_s_and_bad_times_are_refused(tmp_path):
    t, ecg = _synthetic_ecg(fs=250.0)
    body = "time_s,ecg_mv\n" + "\n".join(f"{a:.6f},{v:.4f}" for a, v in zip(t, ecg)) + "\n"
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("# fs_hz=1000\n" + body)
    with pytest.raises(InputError, match="does not match time_s") as info:
        read_csv(wrong)
    assert info.value.field == "fs_hz"
    with pytest.raises(InputError, match=r"--fs.*does not match"):
        read_csv(tmp_path / "wrong.csv", fs_hz=500.0)
    (tmp_path / "ok.csv").write_text("# fs_hz=250\n" + body)
    assert read_csv(tmp_path / "ok.csv").fs_hz == 250.0
    (tmp_path / "garbled.csv").write_text("# fs_hz=abc\n" + body)
    with pytest.raises(InputError, match="not a number"):
        read_csv(tmp_path / "garbled.csv")
    lines = body.splitlines()
    lines[100] = "nan," + lines[100].split(",")[1]
    (tmp_path / "nan.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="time is not a number") as info:
        read_csv(tmp_path / "nan.csv")
    assert info.value.field == "time_s, line 101"  # lines[100]: the 101st line


def test_dicom_ecg_start_time_keeps_minutes_fractions_and_the_group_offset(tmp_path, shared_data):
    import pydicom

    ds = pydicom.dcmread(shared_data / "ecg" / "waveform_ecg.dcm")
    ds.AcquisitionDateTime = "20130125105919.750"
    ds.WaveformSequence[0].MultiplexGroupTimeOffset = 250.0
    ds.save_as(tmp_path / "ecg.dcm")
    assert read_trace(tmp_path / "ecg.dcm").start_time == dt.datetime(2013, 1, 25, 10, 59, 20)
    ds.AcquisitionDateTime = "201301251059"  # a DT to the minute
    del ds.WaveformSequence[0].MultiplexGroupTimeOffset
    ds.save_as(tmp_path / "ecg2.dcm")
    assert read_trace(tmp_path / "ecg2.dcm").start_time == dt.datetime(2013, 1, 25, 10, 59)
