"""Project set-up: the README's two commands, CI calling the same test command, packaged data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _first_code_block() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    fences = [i for i, line in enumerate(lines) if line.startswith("```")]
    return [line for line in lines[fences[0] + 1: fences[1]] if line.strip()]


def test_readme_starts_with_exactly_two_one_line_commands():
    block = _first_code_block()
    assert len(block) == 2
    setup, tests = block
    assert ".venv" in setup and setup.endswith("qa demo")
    assert "pytest" in tests and ".venv" in tests
    assert not any(line.rstrip().endswith("\\") for line in block)


def test_ci_runs_the_readme_test_command():
    out = subprocess.run([str(REPO / ".ci" / "run")], env={"QA_CI_DRY_RUN": "1", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _first_code_block()[1]
    # ... and runs it as written, as its own line
    assert _first_code_block()[1] in (REPO / ".ci" / "run").read_text().splitlines()


def test_benchmark_runs(tmp_path):
    """The benchmark script works (a tiny series; timings are printed, never asserted)."""
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_load_score.py"), "--slices", "4", "--matrix", "64", "--repeats", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "ratio (qa load + score) / (plain pydicom loop)" in out.stdout


def test_header_benchmark_runs():
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_headers.py"), "--files", "20", "--repeats", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "rate ratio qa / baseline" in out.stdout


@pytest.mark.slow
def test_built_wheel_ships_the_phantom_definitions(tmp_path):
    """Build the wheel, unpack it away from the checkout, and load a built-in phantom (and find the JSON Schemas) from it."""
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True,
    )
    if build.returncode != 0 and "setuptools" in build.stderr.lower() and "no module" in build.stderr.lower():
        pytest.skip("setuptools is not installed in this environment: " + build.stderr[-200:])
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("qa-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "qa/_builtin/phantoms/qrm-cci.toml" in names
    assert "qa/_builtin/procedures/daily-phantom-qa.toml" in names
    # every package of the source tree is in the wheel (the packages list is written by hand)
    packages = sorted(str(p.parent.relative_to(REPO)) for p in (REPO / "qa").rglob("__init__.py"))
    assert [p for p in packages if f"{p}/__init__.py" not in names] == []
    assert "qa/_builtin/procedures/cac-standard.toml" in names and "qa/_builtin/procedures/dose-reference.toml" in names
    # the store's migrations (env.py, every revision, the template for new ones) ship too
    migrations = sorted(str(p.relative_to(REPO)) for p in (REPO / "qa" / "store" / "migrations").rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)
    assert "qa/store/migrations/env.py" in migrations and "qa/store/migrations/script.py.mako" in migrations
    assert [p for p in migrations if p not in names] == []
    # the JSON Schema of every qa.*/1 document ships too, with its README
    schemas = sorted(p.name for p in (REPO / "schemas").glob("*.schema.json"))
    assert "qa.score-1.schema.json" in schemas and "qa.error-1.schema.json" in schemas
    assert [s for s in schemas if f"qa/_builtin/schemas/{s}" not in names] == [] and "qa/_builtin/schemas/README.md" in names
    # the dashboard page's template, style sheet and scripts (package data of qa.report.dashboard)
    assets = sorted(str(p.relative_to(REPO)) for p in (REPO / "qa" / "report" / "dashboard").glob("*") if p.suffix in (".html", ".css", ".js"))
    assert "qa/report/dashboard/page.html" in assets and [a for a in assets if a not in names] == []
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import qa; from qa.procedures import load_procedure; load_procedure('daily-phantom-qa');"
        "p = qa.load_phantom('qrm-cci'); print(p.path); print(len(p.calcifications));"
        "import qa.store; s = qa.Store('sqlite:///' + 'wheel.sqlite'); s.close(); print(qa.store.__file__);"
        "from qa.procedures.builtin import builtin_dir; s = builtin_dir('schemas'); print(s); print(len(list(s.glob('*.schema.json'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    path, count, store_module, schema_dir, n_schemas = out.stdout.split()
    assert path.startswith(str(site)) and count == "9"
    assert store_module.startswith(str(site)) and (tmp_path / "wheel.sqlite").is_file()  # migrated from the wheel
    assert schema_dir.startswith(str(site)) and int(n_schemas) == len(schemas)  # found in the installed wheel
