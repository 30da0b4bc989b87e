"""The architecture holds: the layer contracts of pyproject.toml, no import cycle, records that are records.

DESIGN.md "Layout": cli -> workflows -> store, report -> procedures, privacy -> analysis and dicom
-> records -> errors; qa.dicom imports nothing above it; analysis imports no file, database or
network code; imports inside functions count.  The contracts are written in pyproject.toml
(``[tool.importlinter]``) and checked here with import-linter.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    return exe


def test_the_layer_contracts_hold():
    out = subprocess.run([_lint_imports(), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "broken" not in out.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(("module", "probe", "expected"), [
    ("dose/levels.py", "import qa.dicom.files", "qa.dose.levels -> qa.dicom.files"),  # analysis reading files
    ("cli/score.py", "import qa.dicom.series", "qa.cli.score -> qa.dicom.series"),  # the command line bypassing a workflow
])
def test_a_forbidden_import_is_caught(tmp_path, module, probe, expected):
    """The contracts are real: a forbidden import, inside a function, breaks them (on a copy of the package)."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "qa", copy / "qa", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    with open(copy / "qa" / module, "a") as fp:
        fp.write(f"\n\ndef _probe():\n    {probe}  # noqa: F401\n")
    env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([_lint_imports(), "--no-cache"], cwd=copy, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode != 0 and expected in out.stdout


def _import_graph() -> dict[str, set[str]]:
    """Module -> the qa modules it imports (anywhere in the file, functions included), from the source."""
    graph: dict[str, set[str]] = {}
    modules = {}
    for path in (REPO / "qa").rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                found = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in found:
                while target and target not in modules:
                    target = target.rsplit(".", 1)[0] if "." in target else ""
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def test_no_import_cycle_anywhere():
    """No two modules import each other, directly or through others (Tarjan's strongly connected components).

    A package's ``__init__`` importing its own submodules is how packages are built, not a cycle:
    those edges are left out."""
    graph = _import_graph()
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not (t.startswith(name + "."))}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_reading_layer_and_the_analysis_never_hold_any_for_records():
    """Types that only dodged import cycles are real types now: no ``Any`` or ``object`` for exam
    headers, dose, gating or geometry in the records the layers exchange."""
    from typing import get_type_hints

    from qa.compliance.checklist import Checklist
    from qa.ecg.gating import GatingReport
    from qa.motion.analysis import MotionAnalysis
    from qa.phantom.analysis import PhantomResult
    from qa.records.exam import Exam

    # the types a module imports for type checking only, so that importing it does not import their
    # analysis (issue 17: the checklist is imported by exams without a trace or images)
    lazy = {"GatingReport": GatingReport, "MotionAnalysis": MotionAnalysis}
    for record in (Exam, Checklist, GatingReport, PhantomResult):
        hints = get_type_hints(record, localns=lazy)
        loose = [name for name, hint in hints.items() if hint in (object,) or repr(hint) == "typing.Any"]
        assert loose == [], f"{record.__name__}: {loose}"


def test_no_import_hides_from_the_contracts():
    """Imports by string (``importlib.import_module``) are invisible to import-linter and to the
    cycle test: only the lazy public API (``qa/__init__.py``, ``qa/workflows/__init__.py``) uses them."""
    allowed = {REPO / "qa" / "__init__.py", REPO / "qa" / "workflows" / "__init__.py"}
    hiding = []
    for path in sorted((REPO / "qa").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in ("import_module", "__import__") and path not in allowed:
                    hiding.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert hiding == []
