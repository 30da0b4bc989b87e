"""Terminal safety (issue 11, point 7).

Text from DICOM headers, file names and ECG comments is printed with its control characters
escaped (ESC as ``\\x1b``): an escape sequence in a station name cannot hide or rewrite the
``VERDICT`` line.  qa writes no escape sequence of its own when the output is not a terminal.
``$...$`` in names is drawn as written, never typeset by matplotlib; the HTML report escapes.
Shown on a real pseudo-terminal (``pty``) and on pipes, with series written by ``qa synth``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qa.cli.common import escape_controls

REPO = Path(__file__).resolve().parents[2]
# Erase the line, go up one, return to its start, print a fake verdict, then conceal what follows.
HOSTILE_STATION = "EV\x1b[2K\x1b[1A\rVERDICT  PASS\x1b[8m"
HOSTILE_REPORT_STATION = "<script>$x$"


def on_a_terminal(*argv, timeout: float = 120.0) -> tuple[int, bytes]:
    """Run ``qa`` with stdout and stderr on a pseudo-terminal; its exit code and every byte it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "qa", *map(str, argv)], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            cwd=REPO, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                continue
        code = proc.wait(timeout=30)
    finally:
        proc.kill()
        os.close(master)
    return code, b"".join(chunks)


def on_pipes(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa", *map(str, argv)], capture_output=True, cwd=REPO, timeout=300)


def run(*argv) -> tuple[int, str, str]:
    from qa.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def hostile_series(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("terminal") / "series"
    code, _, err = run("synth", "phantom", out, "--matrix", "256", "--pixel-mm", "0.9", "--station-name", HOSTILE_STATION)
    assert code == 0, err
    return out


def test_every_control_character_is_shown_escaped_and_text_is_kept():
    controls = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]
    controls += ["\u200e", "\u200f", "\u2028", "\u2029", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
    for c in controls:
        shown = escape_controls(f"a{c}b")
        assert c not in shown and shown.startswith("a\\") and shown.endswith("b"), repr(c)
    assert escape_controls("\x1b[2K") == "\\x1b[2K"
    text = "Station CT-1, Zürich; ½ mm; 東京\tcolumn\nnext line"
    assert escape_controls(text) == text  # letters, tabs and newlines are not controls


def test_an_escape_sequence_in_a_station_name_cannot_hide_the_verdict_on_a_terminal(hostile_series):
    code, raw = on_a_terminal("phantom", hostile_series, "--no-store")
    assert code in (0, 1), raw.decode(errors="replace")[-2000:]
    text = raw.decode("utf-8")
    assert "\x1b" not in text and "\x9b" not in text  # not one escape sequence reached the terminal
    assert "EV\\x1b[2K\\x1b[1A\\x0dVERDICT  PASS\\x1b[8m" in text  # shown, escaped, on the scanner line
    verdicts = [line for line in text.replace("\r\n", "\n").split("\n") if line.startswith("VERDICT")]
    assert len(verdicts) == 1  # the real verdict, on a line of its own, agreeing with the exit code
    assert verdicts[0].split()[1].rstrip(";:,") == "FAIL" if code == 1 else verdicts[0].split()[1].rstrip(";:,") != "FAIL"


def test_no_escape_sequence_and_no_carriage_return_is_written_to_pipes(hostile_series):
    done = on_pipes("phantom", hostile_series, "--no-store")
    assert done.returncode in (0, 1), done.stderr[-2000:]
    for stream in (done.stdout, done.stderr):
        assert b"\x1b" not in stream and b"\r" not in stream and b"\x9b" not in stream
    assert b"\\x1b[2K" in done.stdout
    code, out, err = run("phantom", hostile_series, "--no-store", "--json")
    assert "\x1b" not in out + err
    assert json.loads(out)["scanner"]["station_name"] == HOSTILE_STATION  # the data itself is kept, JSON-escaped


def test_a_newline_in_header_text_cannot_start_a_fake_verdict_line(tmp_path):
    series = tmp_path / "series"
    code, _, err = run("synth", "phantom", series, "--matrix", "256", "--pixel-mm", "0.9", "--station-name", "CT1\nVERDICT  PASS")
    assert code == 0, err
    code, out, err = run("phantom", series, "--no-store")
    assert code in (0, 1), err
    verdicts = [line for line in out.splitlines() if line.startswith("VERDICT")]
    assert len(verdicts) == 1 and ("FAIL" in verdicts[0].split()[1]) == (code == 1)
    assert "station CT1\\nVERDICT  PASS" in out


def test_hostile_file_names_in_error_messages_are_escaped(tmp_path):
    folder = tmp_path / "exam\x1b]0;owned\x07\x1b[2J"
    code, raw = on_a_terminal("score", folder)
    assert code == 2
    text = raw.decode("utf-8")
    assert "\x1b" not in text and "\x07" not in text and "\\x1b]0;owned\\x07" in text


def test_no_file_name_or_typed_text_can_start_a_line_of_its_own(tmp_path, hostile_series):
    """A file named with a newline and a fake verdict, in a series it makes unusable: the error's
    lines after the first are indented and the name keeps its newline escaped.  An audit reason
    with a newline is refused before anything is stored."""
    import shutil

    series = tmp_path / "series"
    shutil.copytree(hostile_series, series)
    (series / "IMG\r\nVERDICT  PASS\n.dcm").write_bytes(b"\0" * 60)  # too short for a DICOM header: damaged
    for command in ("score", "phantom"):
        code, out, err = run(command, series, "--no-store") if command == "phantom" else run(command, series)
        assert code == 2, err
        assert not [line for line in err.splitlines() if line.startswith("VERDICT")], err
    code, out, err = run("baseline", "set", "--scanner", "CT-1", "--from-last", "5", "--reason", "ok\nVERDICT  PASS",
                         "--db", f"sqlite:///{tmp_path / 'qa.sqlite'}")
    assert code == 2 and "--reason" in err and not (tmp_path / "qa.sqlite").exists()


def test_ecg_comments_and_file_names_reach_the_terminal_escaped_and_plots_draw_dollars_as_text(tmp_path):
    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv

    r = beat_times(12.0, 60.0, first_s=0.5)
    t, ecg = synthesize_ecg(r, duration_s=12.0, seed=4)
    ecg_path = tmp_path / "ecg $\\frac{$ \x1b[31mred.csv"  # unbalanced mathtext: matplotlib would fail on it
    write_ecg_csv(ecg_path, t, ecg, fs_hz=500.0, lead="$\\undefinedcommand{x}$\x1b[8m")
    exposures = tmp_path / "exposures.csv"
    exposures.write_text("start_s,duration_s\n" + "".join(f"{s:.3f},0.2\n" for s in np.asarray(r[3:7]) + 0.6))
    strip = tmp_path / "strip $x$.png"
    code, raw = on_a_terminal("gating", "--ecg", ecg_path, "--exposures", exposures, "--plot", strip)
    text = raw.decode("utf-8")
    assert code in (0, 1), text[-2000:]  # never an internal error from the plotting library
    assert "\x1b" not in text and "\\x1b[31mred.csv" in text
    assert strip.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_text_is_never_typeset_as_mathematics():
    import matplotlib

    from qa.report.plots import ecg_strip_png

    t = np.arange(0, 5, 0.002)
    png = ecg_strip_png(t, np.sin(t), np.array([0.5, 1.5, 2.5]), set(), [], (60.0, 80.0), title="CT $\\notacommand{$ 5")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.rcParams["text.parse_math"] is True  # plain text only inside our figures: no global setting changed


def test_chart_and_picture_text_is_drawn_as_written_with_control_characters_escaped():
    """A station name with ``$...$`` and escape sequences is drawn literally on the control charts."""
    import datetime as dt

    from qa.control_charts import metric_chart
    from qa.report.trend_chart import trend_figure

    when = dt.datetime(2026, 3, 2, 7, 30, tzinfo=dt.UTC)
    chart = metric_chart([(1, when, 80.0, "pass")], (80.0, 1.0, 5), min_sd_pct=2.0, name="Mass $\\frac{$", unit="mg")
    picture = trend_figure({"mass_800_5mm": chart}, scanner=HOSTILE_STATION + " $\\notacommand{$")
    assert picture.png[:8] == b"\x89PNG\r\n\x1a\n"
    (title,) = picture.find("header", "title")
    assert "\x1b" not in title.style  # the mark holds what the figure was asked to show ...
    assert escape_controls(HOSTILE_STATION) in title.style.replace("Control charts: ", "")  # ... escaped before drawing


def test_the_html_report_escapes_hostile_header_text(tmp_path):
    series = tmp_path / "series"
    code, _, err = run("synth", "phantom", series, "--matrix", "256", "--pixel-mm", "0.9", "--station-name", HOSTILE_REPORT_STATION)
    assert code == 0, err
    report = tmp_path / "report.html"
    code, out, err = run("phantom", series, "--no-store", "--report", report)
    assert code in (0, 1), err
    html = report.read_text()
    assert "<script>" not in html and "&lt;script&gt;$x$" in html


def test_the_html_report_shows_control_characters_as_escapes(tmp_path):
    """HTML forbids control characters in text; a browser would draw a box or nothing: the report
    shows them as the terminal does (ESC as \\x1b)."""
    series = tmp_path / "series"
    code, _, err = run("synth", "phantom", series, "--matrix", "256", "--pixel-mm", "0.9", "--station-name", "CT\x1b[2K9")
    assert code == 0, err
    report = tmp_path / "report.html"
    code, out, err = run("phantom", series, "--no-store", "--report", report)
    assert code in (0, 1), err
    html = report.read_text()
    assert "\x1b" not in html
    assert "CT\\x1b[2K9" in html
