"""Copy-paste works (issue 14, point 9): every command ``qa demo`` prints and every command in the
README's code blocks runs when pasted, exit 0 or 1 (a check may fail: the demo plants failures),
never 2 (unusable input or usage) or 3.

The commands run as a user pastes them: through bash, from a project folder holding ``.venv`` (this
test's own environment, linked) and beside ``../shared/data`` (linked), after ``.venv/bin/qa demo``
(the README's first command), with a home, data and configuration folder of their own.  ``/tmp/`` in
a command is a scratch folder of this test.  Commands that need what a test machine lacks are
skipped with the reason: a PostgreSQL server at a site's address, a serial ECG board, the network
(setting up the environment), minutes of benchmarks.  The README's commands run in file order (later
ones use what earlier ones wrote); run the whole module, not one case.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_data_dir

pytestmark = pytest.mark.slow

# What a command needs that a test machine lacks: (pattern, reason).
NEEDS = (
    (re.compile(r"postgresql\+psycopg://"), "needs the site's PostgreSQL server"),
    (re.compile(r"--port /dev/tty"), "needs a serial ECG board"),
    (re.compile(r"^python3 -m venv"), "sets up the project's environment (network access to PyPI); the demo it ends with runs here"),
    (re.compile(r"benchmarks/"), "a benchmark: minutes of CPU, and the [bench] extra"),
    (re.compile(r"qa serve\b|^echoscu "), "a DICOM receiver on the site's network, running until stopped (tests/net runs it on loopback)"),
)


def readme_commands() -> list[tuple[int, str, str]]:
    """(line number, ``sh`` or ``python``, the command or script) of every README code block: a shell
    block gives one command per line (comments and blank lines left out), a python block one script."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    out, block, start, lang = [], None, 0, ""
    for n, line in enumerate(lines, 1):
        if line.startswith("```"):
            if block is None:
                block, start, lang = [], n, line[3:].strip() or "sh"
                continue
            if lang == "python":
                out.append((start + 1, "python", "\n".join(block)))
            else:
                out += [(start + 1 + i, "sh", text) for i, text in enumerate(block) if text.strip() and not text.lstrip().startswith("#")]
            block = None
            continue
        if block is not None:
            block.append(line)
    return out


README = readme_commands()


def _skip_reason(command: str) -> str | None:
    return next((reason for pattern, reason in NEEDS if pattern.search(command)), None)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project folder as the README expects it, after ``.venv/bin/qa demo``: (folder, env, scratch, demo output)."""
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("the public test files (../shared/data, or $QA_SHARED_DATA) are not on this machine")
    venv = Path(sys.prefix)
    if not (venv / "bin" / "qa").exists():
        pytest.skip(f"qa is not installed as a console script in this environment ({venv}/bin/qa)")
    root = tmp_path_factory.mktemp("copy-paste")
    folder, scratch, home = root / "project", root / "scratch", root / "home"
    for d in (folder, scratch, home, root / "shared"):
        d.mkdir()
    (folder / ".venv").symlink_to(venv, target_is_directory=True)
    (root / "shared" / "data").symlink_to(shared, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "XDG_"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
               XDG_CACHE_HOME=str(home / "cache"), MPLBACKEND="Agg")
    demo = subprocess.run(".venv/bin/qa demo", shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=900,
                          executable="/bin/bash")
    assert demo.returncode == 0, demo.stderr[-3000:]
    return folder, env, scratch, demo.stdout


def _run(project, kind: str, command: str, *, readme: bool = True) -> subprocess.CompletedProcess:
    folder, env, scratch, _ = project
    text = command.replace("/tmp/", f"{scratch}/") if readme else command  # the demo prints its own paths
    if kind == "python":
        script = scratch / "readme_snippet.py"
        script.write_text(text, encoding="utf-8")
        argv, shell = [".venv/bin/python", str(script)], False
    else:
        argv, shell = text, True
    return subprocess.run(argv, shell=shell, cwd=folder, env=env, capture_output=True, text=True, timeout=900,
                          executable="/bin/bash" if shell else None)


@pytest.mark.parametrize("line, kind, command", README, ids=[f"README-L{line}" for line, _, _ in README])
def test_every_readme_command_runs_when_pasted(project, line, kind, command):
    reason = _skip_reason(command)
    if reason:
        pytest.skip(f"README line {line}: {reason}")
    done = _run(project, kind, command)
    assert done.returncode in (0, 1), f"README line {line}: {command}\nexit {done.returncode}\n{done.stderr[-3000:]}"


def test_every_command_the_demo_prints_runs_when_pasted(project):
    *_, output = project
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("qa demo: try next"))
    commands = [line.strip() for line in lines[start + 1:] if line.startswith("  ")]
    assert len(commands) >= 8 and all(c.startswith(".venv/bin/qa ") for c in commands), commands
    failed = []
    for command in commands:
        done = _run(project, "sh", command, readme=False)
        if done.returncode not in (0, 1):
            failed.append(f"{command}\nexit {done.returncode}\n{done.stderr[-1500:]}")
    assert not failed, "\n\n".join(failed)
    # nothing was written into the demo folder: the next demo can still clear it (else refused, exit 2)
    from qa.workflows.demo import DEMO_FOLDER

    DEMO_FOLDER.prepare(project[0] / "qa-demo")


def test_the_readme_names_only_commands_that_exist():
    from qa.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for line, kind, command in README:
        for match in re.finditer(r"\.venv/bin/qa (\w+)", command):
            assert match.group(1) in commands, f"README line {line}: qa {match.group(1)} does not exist"
