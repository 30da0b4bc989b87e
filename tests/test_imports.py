"""Each command imports what it uses and nothing more (issue 17): a heavy library that a command
does not need costs every run of it (SQLAlchemy ~0.25 s, scipy.signal ~1 s, matplotlib, pandas).

Every command runs as a real process (``qa.cli.main`` in a fresh interpreter, on real files) and
reports the modules it left in ``sys.modules``; the test names the ones that must be absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import COMMAND_MODULES, COMMANDS, build_parser

# Libraries only some commands need: the store, the reports and plots, the spreadsheets.
DATABASE = ("sqlalchemy", "alembic", "psycopg")
REPORTS = ("matplotlib", "pandas", "openpyxl")
# The command-line modules of the other commands: a command defines its own parser only (qa.cli.build_parser).
OTHER_COMMANDS = {name: tuple(f"qa.cli.{m}" for m in COMMAND_MODULES if m not in own)
                  for name, own in {"score": ("score",), "phantom": ("phantom", "score"), "check": ("exam",),
                                    "gating": ("gating",)}.items()}

_RUN = """
import json, sys
argv, out = sys.argv[1:-1], sys.argv[-1]
before = set(sys.modules)
from qa.cli import main
try:
    code = main(argv)
except SystemExit as exc:
    code = exc.code
with open(out, "w") as fp:
    json.dump({"code": code, "modules": sorted(set(sys.modules) - before)}, fp)
"""


def imported(tmp_path: Path, *argv: str) -> tuple[int, set[str]]:
    """(exit code, modules imported) of ``qa ARGV`` run in a fresh interpreter."""
    out = tmp_path / f"modules-{len(list(tmp_path.glob('modules-*')))}.json"
    proc = subprocess.run([sys.executable, "-c", _RUN, *argv, str(out)], capture_output=True, text=True, timeout=300)
    assert out.exists(), proc.stderr[-3000:]
    found = json.loads(out.read_text())
    return found["code"], set(found["modules"])


def present(modules: set[str], *names: str) -> list[str]:
    """Which of ``names`` (packages or modules) were imported."""
    return [n for n in names if n in modules or any(m.startswith(n + ".") for m in modules)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A phantom series, an exam with its ECG trace, and a trace with its exposure windows."""
    import numpy as np

    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv
    from qa.exam_synth.options import ExamSynthOptions
    from qa.workflows.synth import SynthOptions, synthesize_exam, synthesize_phantom

    root = tmp_path_factory.mktemp("imports")
    series = root / "phantom"
    synthesize_phantom(series, SynthOptions(pixel_mm=0.9, matrix=256, z_start_mm=-12.0, z_end_mm=45.0, noise_hu=10.0))
    exam = root / "exam"
    synthesize_exam(exam, ExamSynthOptions(matrix=128, pixel_mm=2.0, ecg=True))
    r = beat_times(20.0, 62.0)
    t, mv = synthesize_ecg(r, duration_s=20.0, fs_hz=500.0)
    trace = root / "ecg.csv"
    write_ecg_csv(trace, t, mv, fs_hz=500.0)
    exposures = root / "exposures.csv"
    rr = np.diff(r)
    exposures.write_text("start_s,duration_s\n" + "".join(f"{r[k] + 0.7 * rr[k] - 0.1:.4f},0.2\n" for k in range(2, len(r) - 1, 3)))
    return {"series": str(series), "exam": str(exam), "exam_ecg": str(exam / "ecg.csv"), "trace": str(trace),
            "exposures": str(exposures)}


def test_qa_help_loads_only_the_command_line_definitions(tmp_path):
    code, modules = imported(tmp_path, "--help")
    assert code == 0
    outside = sorted({m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"qa"})
    assert outside == []  # no numpy, pydicom, scipy, pydantic, SQLAlchemy, ...: only the standard library and qa's CLI
    assert present(modules, "qa.dicom", "qa.store", "qa.report", "qa.procedures", "qa.phantom") == []


def test_qa_score_imports_no_database_report_or_signal_code(tmp_path, inputs):
    code, modules = imported(tmp_path, "score", inputs["series"])
    assert code == 0
    # no scipy at all: the lesions are labelled by qa.calcium.labels (scipy.ndimage.label's labels, tested)
    assert present(modules, *DATABASE, *REPORTS, "scipy", "pydantic", "qa.store.engine", "numpy.ma") == []
    assert present(modules, "pydicom", "qa.calcium.labels") == ["pydicom", "qa.calcium.labels"]  # the measurement sees what it uses
    # nor any definition file, protocol, motion, ECG (the serial capture code included) or other command's code
    assert present(modules, "qa.procedures", "qa.compliance", "qa.motion", "qa.ecg", "qa.phantom", *OTHER_COMMANDS["score"]) == []


def test_qa_phantom_without_a_store_imports_no_database_code(tmp_path, inputs):
    assert not Path(os.environ["QA_DB_URL"].removeprefix("sqlite:///")).exists()
    code, modules = imported(tmp_path, "phantom", inputs["series"], "--no-store")
    assert code in (0, 1)
    # no scipy at all: the locator's filters are qa.phantom.filters (scipy.ndimage's values, tested)
    assert present(modules, *DATABASE, *REPORTS, "scipy", "numpy.ma") == []
    # the procedure's and the phantom's models, not the exam protocol's; no exam checks, motion or ECG code
    assert present(modules, "qa.procedures.models.protocol", "qa.compliance", "qa.motion", "qa.ecg", *OTHER_COMMANDS["phantom"]) == []


def test_a_stored_qa_phantom_on_a_current_sqlite_store_imports_no_sqlalchemy(tmp_path, inputs):
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    first, modules = imported(tmp_path, "phantom", inputs["series"], "--db", db)  # creates the store: migrations run
    assert first in (0, 1) and present(modules, "alembic") == ["alembic"]
    # the store is current now: the run reads its baseline and stores through the stdlib sqlite3 (qa.store.sqlite_file)
    code, modules = imported(tmp_path, "phantom", inputs["series"], "--db", db)
    assert code in (0, 1)
    assert present(modules, "qa.store.sqlite_file", "sqlite3") == ["qa.store.sqlite_file", "sqlite3"]
    assert present(modules, *DATABASE, *REPORTS, "scipy", "numpy.ma") == []
    # ... and so does a --no-store run that reads that store's baseline
    code, modules = imported(tmp_path, "phantom", inputs["series"], "--db", db, "--no-store")
    assert code in (0, 1)
    assert present(modules, "qa.store.sqlite_file") == ["qa.store.sqlite_file"] and present(modules, *DATABASE) == []


def test_a_stored_qa_phantom_on_an_older_store_upgrades_it_with_alembic(tmp_path, inputs):
    """The light path is for a current store only: a qa 0.1.0 store is opened by the Store
    (SQLAlchemy and Alembic) and upgraded; the next run is light again."""
    import shutil
    import sqlite3

    from qa.store import HEAD_REVISION

    shutil.copy(Path(__file__).parent / "fixtures" / "store-0.1.0" / "qa-0.1.0.sqlite", tmp_path / "store.sqlite")
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    code, modules = imported(tmp_path, "phantom", inputs["series"], "--db", db)
    assert code in (0, 1) and present(modules, "sqlalchemy", "alembic") == ["sqlalchemy", "alembic"]
    with sqlite3.connect(tmp_path / "store.sqlite") as c:
        assert c.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD_REVISION,)]
    code, modules = imported(tmp_path, "phantom", inputs["series"], "--db", db)
    assert code in (0, 1) and present(modules, *DATABASE) == []


def test_qa_check_without_a_store_or_trace_imports_no_database_signal_or_scipy_code(tmp_path, inputs):
    code, modules = imported(tmp_path, "check", inputs["exam"])
    assert code in (0, 1)
    assert present(modules, *DATABASE, *REPORTS, "scipy", "numpy.ma") == []
    # nor the ECG analysis: the protocol's [gating] settings live apart from it (qa.ecg.settings)
    assert present(modules, "qa.ecg.gating", "qa.ecg.rpeaks", "qa.ecg.quality", "qa.ecg.morphology", "qa.ecg.rhythm") == []
    assert present(modules, "qa.ecg.serial", "qa.phantom", "qa.calcium.scoring", *OTHER_COMMANDS["check"]) == []


def test_qa_check_with_a_trace_imports_the_r_peak_detector_but_no_database_code(tmp_path, inputs):
    code, modules = imported(tmp_path, "check", inputs["exam"], "--ecg", inputs["exam_ecg"])
    assert code in (0, 1)
    assert present(modules, "qa.ecg.rpeaks") == ["qa.ecg.rpeaks"]
    assert present(modules, *DATABASE, *REPORTS, "scipy", "numpy.ma") == []


def test_qa_gating_on_csv_files_reads_no_dicom_and_imports_no_database_code(tmp_path, inputs):
    code, modules = imported(tmp_path, "gating", "--ecg", inputs["trace"], "--exposures", inputs["exposures"])
    assert code in (0, 1)
    # pydicom would bring PIL and (through pydicom.data) requests along; the detector's filters are
    # numpy (qa.ecg.filters): scipy.signal alone took 0.7-1.1 s, more than the whole analysis
    assert present(modules, *DATABASE, *REPORTS, "pydicom", "PIL", "requests", "scipy", "numpy.ma") == []
    assert present(modules, "qa.ecg.rpeaks", "qa.ecg.filters") == ["qa.ecg.rpeaks", "qa.ecg.filters"]
    # the protocol is loaded (its phase window and gating settings), not the exam checklist, the exam, study
    # and dose records or the dose and motion analyses the protocol's other tables are judged with
    assert present(modules, "qa.compliance.checklist", "qa.compliance.choose", "qa.records.exam", "qa.records.study",
                   "qa.records.headers", "qa.dose", "qa.records.dose", "qa.motion.analysis", "qa.motion.boundaries",
                   "qa.ecg.serial", *OTHER_COMMANDS["gating"]) == []
    # (validated with its pydantic model, or its record taken from the cache of validated definitions)
    assert present(modules, "qa.procedures.cache", "qa.compliance.protocol", "qa.motion.settings") == [
        "qa.procedures.cache", "qa.compliance.protocol", "qa.motion.settings"]


def test_a_command_parses_with_its_own_parser_and_the_help_still_lists_every_command(tmp_path):
    code, modules = imported(tmp_path, "gating", "--help")
    assert code == 0 and present(modules, "qa.cli.gating") == ["qa.cli.gating"]
    assert present(modules, "qa.cli.exam", "qa.cli.phantom", "qa.cli.serve") == []
    for argv in (["-h", "score"], ["--help"]):  # an option before the command: the whole command line's help
        shown = subprocess.run([sys.executable, "-m", "qa", *argv], capture_output=True, text=True, timeout=60, check=False)
        assert shown.returncode == 0
        assert all(f"    {c} " in shown.stdout for c in ("demo", "score", "phantom", "check", "gating", "trends", "serve", "ecg"))
    wrong = subprocess.run([sys.executable, "-m", "qa", "gatin"], capture_output=True, text=True, timeout=60, check=False)
    assert wrong.returncode == 2 and "invalid choice: 'gatin'" in wrong.stderr and "'gating'" in wrong.stderr


def test_the_command_modules_define_exactly_the_commands_the_lazy_parser_knows():
    """A command missing from qa.cli.COMMANDS would make `qa <it>` import every command module again."""
    import argparse

    parser = build_parser()
    choices = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(choices) == list(COMMANDS)
    for name, module in COMMANDS.items():
        assert name in next(a.choices for a in build_parser(name)._actions if isinstance(a, argparse._SubParsersAction)), module
