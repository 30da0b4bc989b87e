"""ECG files as people have them (issue 11, point 10): spreadsheet exports, CRLF, decimal commas,
WFDB headers without a usable sampling rate, sampling rates under 50 Hz from every source, and
broken time or sample columns, each refused with the file, the column and the line named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.cli import main
from qa.ecg.synth import beat_times, synthesize_ecg
from qa.ecg.trace import read_csv, read_exposures_csv, read_trace
from qa.errors import InputError
from qa.records.plausibility import RANGES

MIN_FS = RANGES["ecg_sampling_rate_hz"].limits[0]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _trace(fs=250.0, seconds=8.0):
    r = beat_times(seconds, 70.0, first_s=0.4)
    return synthesize_ecg(r, duration_s=seconds, fs_hz=fs, seed=3)


def _rows(t, ecg, sep=",", decimal="."):
    lines = [f"{a:.4f}{sep}{v:.5f}" for a, v in zip(t, ecg)]
    return [ln.replace(".", decimal) if decimal != "." else ln for ln in lines]


def _write(path, header, rows, *, bom=False, newline="\n", trailing_blank=False):
    text = newline.join([header, *rows]) + newline + (newline if trailing_blank else "")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_spreadsheet_exports_read_like_the_plain_file(tmp_path, capsys):
    """BOM ("CSV UTF-8"), CRLF, a trailing blank line, ';' with decimal commas: the same samples, rate and beats."""
    t, ecg = _trace()
    plain = _write(tmp_path / "plain.csv", "time_s,ecg_mv", _rows(t, ecg))
    variants = {
        "bom": _write(tmp_path / "bom.csv", "time_s,ecg_mv", _rows(t, ecg), bom=True),
        "crlf": _write(tmp_path / "crlf.csv", "time_s,ecg_mv", _rows(t, ecg), newline="\r\n", trailing_blank=True),
        "bom-crlf-comments": _write(tmp_path / "bc.csv", "# lead=II\r\n# fs_hz=250\r\ntime_s,ecg_mv", _rows(t, ecg), bom=True,
                                    newline="\r\n"),
        "excel-eu": _write(tmp_path / "eu.csv", "time_s;ecg_mv", _rows(t, ecg, ";", ","), bom=True, newline="\r\n",
                           trailing_blank=True),
        "tab": _write(tmp_path / "tab.csv", "time_s\tecg_mv", _rows(t, ecg, "\t"), newline="\r\n"),
        "spaces and comments": _write(tmp_path / "sp.csv", "time_s,ecg_mv",
                                      _rows(t, ecg)[:300] + ["   ", "# electrode re-seated"] + _rows(t, ecg)[300:]),
    }
    reference = read_csv(plain)
    code, out, _ = run(capsys, "gating", "--ecg", plain, "--json")
    beats = json.loads(out)["beats"]["r_peak_times_s"]
    assert len(beats) >= 8
    for name, path in variants.items():
        trace = read_csv(path)
        assert trace.n_samples == reference.n_samples, name
        assert np.array_equal(trace.ecg_mv, reference.ecg_mv), name
        assert np.array_equal(trace.time_s, reference.time_s), name
        assert trace.fs_hz == pytest.approx(reference.fs_hz), name
        code, out, _ = run(capsys, "gating", "--ecg", path, "--json")
        assert json.loads(out)["beats"]["r_peak_times_s"] == beats, name


def test_exposure_csvs_from_spreadsheets_read_like_the_plain_file(tmp_path):
    plain = _write(tmp_path / "e.csv", "start_s,duration_s", ["3.6,0.2", "4.6,0.25"])
    eu = _write(tmp_path / "e-eu.csv", "start_s;duration_s", ["3,6;0,2", "4,6;0,25"], bom=True, newline="\r\n", trailing_blank=True)
    bom = _write(tmp_path / "e-bom.csv", "start_s,duration_s", ["3.6,0.2", "4.6,0.25"], bom=True, newline="\r\n")
    assert read_exposures_csv(plain) == read_exposures_csv(eu) == read_exposures_csv(bom) == [(3.6, 0.2), (4.6, 0.25)]


def test_lines_are_counted_as_the_file_has_them(tmp_path):
    """Blank, space-only and comment lines before a bad row: the refusal names the row's own line."""
    t, ecg = _trace()
    rows = _rows(t, ecg)
    rows[700] = rows[698]  # a row pasted twice: the time goes back
    path = _write(tmp_path / "repeat.csv", "time_s,ecg_mv", rows[:200] + ["", "   ", "# pause"] + rows[200:])
    with pytest.raises(InputError, match="goes back") as info:
        read_csv(path)
    assert info.value.field == f"time_s, line {1 + 3 + 701}"
    assert path.read_text().splitlines()[1 + 3 + 700] == rows[698]


def test_decimal_commas_in_a_comma_separated_file_are_refused_with_the_line(tmp_path, capsys):
    t, ecg = _trace()
    rows = _rows(t, ecg)
    rows[5] = rows[5].replace(".", ",")  # one row typed by hand in a decimal-comma locale
    path = _write(tmp_path / "mixed.csv", "time_s,ecg_mv", rows)
    with pytest.raises(InputError, match="decimal commas") as info:
        read_csv(path)
    assert info.value.field == "line 7"
    code, out, err = run(capsys, "gating", "--ecg", path, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["schema"] == "qa.error/1" and doc["error"]["field"] == "line 7"
    assert "mixed.csv" in doc["error"]["file"]


def _wfdb_record(tmp_path, name, fs=360.0, seconds=8.0):
    wfdb = pytest.importorskip("wfdb")
    t, ecg = _trace(fs=fs, seconds=seconds)
    wfdb.wrsamp(name, fs=fs, units=["mV"], sig_name=["II"], p_signal=ecg[:, None], fmt=["16"], write_dir=str(tmp_path))
    return tmp_path / f"{name}.hea"


def _edit_record_line(hea, fs_field: str | None):
    lines = hea.read_text().splitlines()
    fields = lines[0].split()
    if fs_field is None:
        fields = fields[:2]  # the rate and everything after it left out: WFDB's default would be 250 Hz
    else:
        fields[2] = fs_field
    lines[0] = " ".join(fields)
    hea.write_text("\n".join(lines) + "\n")


def test_a_wfdb_record_is_read_at_its_own_rate(tmp_path):
    hea = _wfdb_record(tmp_path, "rec360", fs=360.0)
    trace = read_trace(hea)
    assert trace.fs_hz == 360.0 and trace.duration_s == pytest.approx(8.0)


@pytest.mark.parametrize("fs_field, message", [
    (None, "gives no sampling frequency"),
    ("abc", "is not a sampling frequency"),
    ("360Hz", "is not a sampling frequency"),
    ("nan", "is not a sampling frequency"),
    ("0", f"{MIN_FS:g} Hz at least"),
    ("20", f"{MIN_FS:g} Hz at least"),
])
def test_a_wfdb_header_without_a_usable_sampling_rate_is_refused(tmp_path, capsys, fs_field, message):
    hea = _wfdb_record(tmp_path, "rec", fs=360.0)
    _edit_record_line(hea, fs_field)
    with pytest.raises(InputError, match=message) as info:
        read_trace(hea)
    assert info.value.field == "sampling frequency" and str(hea) in str(info.value)
    code, out, err = run(capsys, "gating", "--ecg", hea)
    assert code == 2 and "rec.hea" in err and "sampling frequency" in err


def test_a_sampling_rate_under_the_minimum_is_refused_from_every_source(tmp_path, capsys, shared_data):
    """CSV '# fs_hz=', --fs, the time_s column, a WFDB header and a DICOM waveform: exit 2 naming 50 Hz."""
    t, ecg = _trace(fs=40.0, seconds=20.0)
    cases = {
        "comment": (_write(tmp_path / "c.csv", "# fs_hz=40\necg_mv", [f"{v:.4f}" for v in ecg]), []),
        "option": (_write(tmp_path / "o.csv", "ecg_mv", [f"{v:.4f}" for v in ecg]), ["--fs", "40"]),
        "time_s": (_write(tmp_path / "t.csv", "time_s,ecg_mv", _rows(t, ecg)), []),
        "wfdb": (_wfdb_record(tmp_path, "slow", fs=40.0, seconds=20.0), []),
    }
    import pydicom

    ds = pydicom.dcmread(shared_data / "ecg" / "waveform_ecg.dcm")
    for group in ds.WaveformSequence:
        group.SamplingFrequency = "40"
    ds.save_as(tmp_path / "slow.dcm")
    cases["dicom"] = (tmp_path / "slow.dcm", [])
    for name, (path, extra) in cases.items():
        code, out, err = run(capsys, "gating", "--ecg", path, *extra, "--json")
        doc = json.loads(out)
        assert code == 2 and doc["schema"] == "qa.error/1", name
        assert f"{MIN_FS:g} Hz at least" in doc["error"]["message"], (name, doc["error"])
        assert doc["error"]["file"] and path.name in doc["error"]["file"], name


BROKEN = {
    # name: (text, field, words in the message)
    "empty": ("", "header", "empty"),
    "comments only": ("# lead=II\n# fs_hz=500\n", "header", "no header row"),
    "header only": ("time_s,ecg_mv\n", "ecg_mv", "no samples"),
    "header and blank lines": ("time_s,ecg_mv\r\n\r\n\r\n", "ecg_mv", "no samples"),
    "time goes back": ("time_s,ecg_mv\n0.000,0.1\n0.004,0.2\n0.002,0.3\n", "time_s, line 4", "does not increase"),
    "time repeats": ("time_s,ecg_mv\n0.000,0.1\n0.004,0.2\n0.004,0.3\n", "time_s, line 4", "repeats"),
    "time not a number": ("time_s,ecg_mv\n0.000,0.1\nnan,0.2\n0.008,0.3\n", "time_s, line 3", "not a number"),
    "sample not a number": ("time_s,ecg_mv\n0.000,0.1\n0.004,nan\n0.008,0.3\n", "ecg_mv, line 3", "not a number"),
    "sample empty": ("time_s,ecg_mv\n0.000,0.1\n0.004,\n0.008,0.3\n", "ecg_mv, line 3", "not a number"),
    "unit not in the name": ("time_s,ecg\n0,1\n", "ecg", "unknown unit"),
    "volts": ("time_s,ECG_V\n0,1\n", "ecg_v", "unknown unit"),
    "unit in brackets": ("time_s,ECG (mV)\n0,1\n", "ecg (mv)", "unknown unit"),
    "no ecg column": ("time_s,lead_ii_mv\n0,1\n", "ecg column", "exactly one ECG column"),
    "two ecg columns": ("time_s,ecg_mv,ecg_uv\n0,1,1000\n", "ecg column", "exactly one ECG column"),
    "a column twice": ("time_s,ecg_mv,time_s\n0,1,0\n", "line 1", "twice"),
    "a row too long": ("time_s,ecg_mv\n0.000,0.1\n0.004,0.2,7\n", "line 3", "3 cells"),
    # float() reads these, numpy.loadtxt does not: the line is still named (was an internal error)
    "arabic-indic digits": ("time_s,ecg_mv\n0.000,0.1\n0.004,\u0661\n", "ecg_mv, line 3", "not a number"),
    "digit grouping": ("time_s,ecg_mv\n0.000,0.1\n0.004,1_000\n", "ecg_mv, line 3", "not a number"),
    "binary": ("\x00\xff\xfe garbage", None, "UTF-8"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_traces_are_refused_with_file_and_column(tmp_path, capsys, name):
    text, field, words = BROKEN[name]
    path = tmp_path / "broken.csv"
    path.write_bytes(text.encode("latin-1") if name == "binary" else text.encode("utf-8"))
    with pytest.raises(InputError, match=words) as info:
        read_csv(path, fs_hz=None)
    assert info.value.field == field
    code, out, err = run(capsys, "gating", "--ecg", path, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["schema"] == "qa.error/1" and doc["error"]["file"].endswith("broken.csv")
    assert doc["error"]["field"] == field and doc["error"]["hint"]


def test_a_folder_named_like_a_trace_is_refused_not_opened(tmp_path, capsys):
    folder = tmp_path / "trace.csv"
    folder.mkdir()
    code, out, err = run(capsys, "gating", "--ecg", folder)
    assert code == 2 and "is a folder" in err and "named pipe" not in err


def test_a_wfdb_signal_in_an_unknown_storage_format_is_refused_with_the_header_named(tmp_path, capsys):
    hea = _wfdb_record(tmp_path, "fmt99")
    lines = hea.read_text().splitlines()
    fields = lines[1].split()
    fields[1] = "99"  # the signal line's format field (16 as written)
    lines[1] = " ".join(fields)
    hea.write_text("\n".join(lines) + "\n")
    exposures = tmp_path / "exp.csv"
    exposures.write_text("start_s,duration_s\n1.0,0.2\n")
    code, out, err = run(capsys, "gating", "--ecg", hea, "--exposures", exposures, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["schema"] == "qa.error/1", err
    assert doc["error"]["file"].endswith("fmt99.hea") and doc["error"]["field"].startswith("format of")


def test_a_negative_exposure_start_is_refused_as_a_time_not_a_duration(tmp_path, capsys):
    t, ecg = _trace()
    trace = _write(tmp_path / "ecg.csv", "time_s,ecg_mv", _rows(t, ecg))
    exposures = tmp_path / "exp.csv"
    exposures.write_text("start_s,duration_s\n-10.5,0.2\n")
    code, out, err = run(capsys, "gating", "--ecg", trace, "--exposures", exposures, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["error"]["field"].startswith("start_s")
    assert doc["error"]["message"].startswith("time ") and "duration" not in doc["error"]["message"]


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_impossible_samples_are_shown_as_plain_numbers(tmp_path, capsys, bad):
    t, ecg = _trace()
    rows = _rows(t, ecg)
    rows[100] = rows[100].split(",")[0] + "," + bad
    trace = _write(tmp_path / "ecg.csv", "time_s,ecg_mv", rows)
    exposures = tmp_path / "exp.csv"
    exposures.write_text("start_s,duration_s\n1.0,0.2\n")
    code, out, err = run(capsys, "gating", "--ecg", trace, "--exposures", exposures, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["error"]["field"].startswith("ecg_mv")
    assert f" {bad}" in doc["error"]["message"] and "np." not in doc["error"]["message"] + err


@pytest.mark.parametrize("option", [("--fs", "10"), ("--fs", "nan"), ("--lead", "II\n# fs_hz=1000"), ("--lead", "")])
def test_a_recording_that_could_not_be_read_back_is_refused_before_the_port_opens(option, tmp_path, capsys):
    """--fs under the 50 Hz minimum, or a lead name that would write extra header lines, are usage
    errors: the port is never opened and no file is created."""
    from qa.cli import main

    out = tmp_path / "trace.csv"
    code = main(["ecg", "record", "--port", "loop://", "--out", str(out), "--seconds", "1", *option, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2 and doc["schema"] == "qa.error/1" and option[0] in doc["error"]["message"]
    assert not out.exists()
