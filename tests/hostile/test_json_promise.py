"""The JSON promise everywhere (issue 11, point 11).

With ``--json`` (anywhere on the line), stdout carries exactly one JSON object with ``schema``,
whatever goes wrong: an unknown option, a missing argument, a bad choice, ``qa`` with no
command, an unknown command or subcommand, a bad value; ``--help`` and ``--version`` print
their own documents (``qa.help/1``, ``qa.version/1``).  Every command and subcommand is run as
a real subprocess, side by side, and its stdout validated against ``schemas/``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from test_schemas import validate  # noqa: E402  (the schemas and their validator, as test_schemas uses them)

# (arguments, the document expected, its exit code)
USAGE_ERRORS = [
    [],  # no command at all
    ["nosuch"],  # unknown command
    ["score"],  # missing argument
    ["score", "x", "--bogus"],  # unknown option
    ["score", "x", "--method", "nonsense"],  # bad choice
    ["score", "x", "--threshold-hu", "nan"],  # bad value
    ["score", "x", "--connectivity"],  # option without its value
    ["phantom"],
    ["phantom", "x", "--ring", "sideways"],
    ["baseline"],
    ["baseline", "set"],  # missing --scanner
    ["baseline", "frob", "--scanner", "CT1"],  # bad subcommand
    ["baseline", "set", "--scanner", "CT1", "--from-last", "-3"],
    ["trend"],
    ["trend", "--scanner", "CT1", "--last", "many"],
    ["check"],
    ["check", "x", "--protocol"],
    ["dose"],
    ["dose", "x", "--k-factor"],
    ["gating"],
    ["gating", "--ecg", "e.csv"],  # neither --exposures nor --series
    ["ecg"],
    ["ecg", "frob"],
    ["ecg", "record"],  # missing --port, --out
    ["ecg", "record", "--port", "/dev/null", "--out", "x.csv", "--protocol", "morse"],
    ["ecg", "record", "--port", "/dev/null", "--out", "x.csv", "--baud", "fast"],
    ["synth"],
    ["synth", "frob"],
    ["synth", "phantom"],  # missing OUT_DIR
    ["synth", "phantom", "out", "--matrix", "-5"],
    ["demo", "--out"],
    ["demo", "--bogus"],
]
ASKED = [
    (["--help"], "qa.help/1"), (["-h"], "qa.help/1"), (["--version"], "qa.version/1"), (["score", "--help"], "qa.help/1"),
    (["baseline", "set", "--help"], "qa.help/1"), (["ecg", "record", "--help"], "qa.help/1"),
    (["synth", "phantom", "--help"], "qa.help/1"), (["demo", "--help"], "qa.help/1"),
]


def _run_all(cases: list[list[str]], cwd) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen([sys.executable, "-m", "qa", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=cwd) for args in cases]
    out = []
    for args, proc in zip(cases, procs):
        stdout, stderr = proc.communicate(timeout=180)
        out.append(subprocess.CompletedProcess(args, proc.returncode, stdout, stderr))
    return out


def _one_object(stdout: str) -> dict:
    """stdout as exactly one JSON object (json.loads refuses anything after it)."""
    doc = json.loads(stdout)
    assert isinstance(doc, dict)
    return doc


def test_usage_errors_print_one_qa_error_object_wherever_json_stands(tmp_path):
    cases = [args + ["--json"] for args in USAGE_ERRORS] + [["--json", *args] for args in USAGE_ERRORS[1:]]
    for run in _run_all(cases, tmp_path):
        assert run.returncode == 2, f"qa {' '.join(run.args)}: exit {run.returncode}\n{run.stderr[-1500:]}"
        doc = validate(_one_object(run.stdout), "qa.error/1")
        assert doc["exit_code"] == 2 and doc["error"]["type"] in ("UsageError", "InputError"), (run.args, doc)
        assert doc["error"]["message"] in run.stderr and "Traceback" not in run.stderr, run.args
        words = [a for a in run.args if not a.startswith("-")]
        assert doc["command"] == (words[0] if words else None), (run.args, doc)


def test_help_and_version_are_one_object_too(tmp_path):
    cases = [args + ["--json"] for args, _ in ASKED] + [["--json", *args] for args, _ in ASKED]
    expected = [name for _, name in ASKED] * 2
    for run, name in zip(_run_all(cases, tmp_path), expected):
        assert run.returncode == 0, (run.args, run.stderr[-1500:])
        doc = validate(_one_object(run.stdout), name)
        if name == "qa.help/1":
            assert doc["help"].startswith("usage: qa"), doc
            words = [a for a in run.args if not a.startswith("-")]
            assert doc["command"] == (words[0] if words else None)


def test_without_json_help_and_errors_stay_text(tmp_path):
    help_run, error_run = _run_all([["score", "--help"], ["score", "x", "--bogus"]], tmp_path)
    assert help_run.returncode == 0 and help_run.stdout.startswith("usage: qa score")
    assert error_run.returncode == 2 and error_run.stdout == "" and "--bogus" in error_run.stderr


@pytest.mark.parametrize("args", [["score", "{missing}"], ["dose", "{missing}"], ["check", "{missing}"],
                                  ["gating", "--ecg", "{missing}", "--exposures", "{missing}"],
                                  ["phantom", "{missing}", "--no-store"]])
def test_input_errors_of_every_command_are_one_object(tmp_path, args):
    missing = str(tmp_path / "no-such-input")
    run = subprocess.run([sys.executable, "-m", "qa", *(a.format(missing=missing) for a in args), "--json"],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-1500:]
    doc = validate(_one_object(run.stdout), "qa.error/1")
    assert doc["error"]["file"] and "no-such-input" in doc["error"]["file"], doc


def test_a_synthetic_image_too_small_for_the_phantom_is_a_usage_error_not_a_bug(tmp_path):
    """Found by running fuzzed definitions through qa synth phantom: a 64-pixel image crashed (exit 3)."""
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "qa", "synth", "phantom", str(out), "--matrix", "64", "--json"],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-1500:]
    doc = validate(_one_object(run.stdout), "qa.error/1")
    assert "--matrix" in doc["error"]["hint"] and not out.exists()  # refused before anything is written


def test_a_terminated_command_still_prints_one_object(tmp_path, small_phantom):
    """SIGTERM (kill, a service manager, a timeout) unwinds the run like Ctrl-C: exit 143 and one
    qa.error/1 object on stdout, nothing stored.  The child says when qa's command line is loaded
    (a file appears), so the signal never lands before it."""
    import os
    import signal
    import sqlite3
    import time

    ready = tmp_path / "ready"
    db = tmp_path / "qa.sqlite"
    code = ("import pathlib, sys; from qa.cli import main; pathlib.Path(sys.argv[1]).touch(); "
            "sys.exit(main(sys.argv[2:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(ready), "phantom", str(small_phantom.out_dir), "--db",
                             f"sqlite:///{db}", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.3)  # inside main: reading the series
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    doc = validate(_one_object(stdout), "qa.error/1")
    assert doc["exit_code"] == 143 and "SIGTERM" in doc["error"]["message"]
    if db.exists():
        with sqlite3.connect(db) as c:
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
            assert "phantom_runs" not in tables or c.execute("SELECT count(*) FROM phantom_runs").fetchone()[0] == 0
