"""Hints that work when pasted, and sentences that say what happened (issue 14, points 2 and 5):
the "no baseline yet" hints of ``qa baseline show`` and ``qa trend`` ask for the procedure's own
minimum number of runs (and name the procedure when it is not the default one); ``qa phantom
--no-store`` says whether the run was compared with a stored baseline (which, of which scanner,
set when) and that it was not stored.  Real synthetic phantom scans, real SQLite stores."""

from __future__ import annotations

import shlex

import pytest

from qa.cli import main
from qa.procedures import load_procedure
from qa.procedures.builtin import builtin_dir

SITE_MIN_RUNS = 3


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def site_procedure(tmp_path):
    """The shipped daily procedure as a site's own file that needs 3 runs for a baseline."""
    text = (builtin_dir("procedures") / "daily-phantom-qa.toml").read_text()
    assert "\nmin_runs = 5 " in text
    path = tmp_path / "site-phantom-qa.toml"
    path.write_text(text.replace('id = "daily-phantom-qa"', 'id = "site-phantom-qa"')
                    .replace("\nmin_runs = 5 ", f"\nmin_runs = {SITE_MIN_RUNS} "))
    assert load_procedure(str(path)).baseline_min_runs == SITE_MIN_RUNS
    return path


def _hint(text: str) -> list[str]:
    """The qa baseline set command a hint line ends with, as argv (without the leading qa)."""
    line = next(line for line in text.splitlines() if "qa baseline set" in line)
    command = line[line.index("qa baseline set"):].rstrip(")")
    return shlex.split(command)[1:]


def test_the_no_baseline_hints_ask_for_the_procedures_minimum_and_work_when_pasted(capsys, phantom_days, tmp_path, site_procedure):
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in folders[:SITE_MIN_RUNS]:
        assert run(capsys, "phantom", folder, "--procedure", site_procedure, "--db", db)[0] == 0
    code, out, _ = run(capsys, "baseline", "show", "--scanner", "CT-A", "--procedure", site_procedure, "--db", db)
    assert code == 0 and f"no baseline yet: run the daily QA at least {SITE_MIN_RUNS} times" in out
    assert _hint(out)[-2:] == ["--from-last", str(SITE_MIN_RUNS)] and str(site_procedure) in _hint(out)
    code, out, _ = run(capsys, "trend", "--scanner", "CT-A", "--procedure", site_procedure, "--db", db)
    assert code == 0 and f"once {SITE_MIN_RUNS} runs of it are stored" in out
    pasted = _hint(out)
    assert pasted[-2:] == ["--from-last", str(SITE_MIN_RUNS)] and "--procedure" in pasted
    code, out, err = run(capsys, *pasted)
    assert code == 0 and "baseline version 1" in out, err
    # the shipped procedure's hint asks for its own minimum (read from the procedure, never a number written in the code)
    shipped = load_procedure("daily-phantom-qa").baseline_min_runs
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    assert run(capsys, "phantom", folders[0], "--db", other)[0] == 0
    code, out, _ = run(capsys, "baseline", "show", "--scanner", "CT-A", "--db", other)
    assert f"at least {shipped} times" in out and _hint(out)[-2:] == ["--from-last", str(shipped)] and "--procedure" not in out


def test_baseline_set_without_from_last_takes_the_procedures_minimum(capsys, phantom_days, tmp_path, site_procedure):
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in folders[:SITE_MIN_RUNS]:
        assert run(capsys, "phantom", folder, "--procedure", site_procedure, "--db", db)[0] == 0
    code, out, err = run(capsys, "baseline", "set", "--scanner", "CT-A", "--procedure", site_procedure, "--db", db, "--json")
    assert code == 0, err
    assert out.count('"run_id"') >= SITE_MIN_RUNS and f"from runs {list(range(1, SITE_MIN_RUNS + 1))}" in err


def test_no_store_says_whether_the_run_was_compared_with_a_stored_baseline_and_that_it_was_not_stored(capsys, phantom_days,
                                                                                                      tmp_path):
    folders, _ = phantom_days
    code, out, _ = run(capsys, "phantom", folders[0], "--no-store", "--db", f"sqlite:///{tmp_path / 'none.sqlite'}")
    line = next(line for line in out.splitlines() if line.startswith("stored"))
    assert code == 0 and line.startswith("stored   no (--no-store): this run was not stored, and no baseline was compared with it (")
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in folders[:5]:
        assert run(capsys, "phantom", folder, "--db", db)[0] == 0
    assert run(capsys, "baseline", "set", "--scanner", "CT-A", "--from-last", "5", "--db", db)[0] == 0
    code, out, _ = run(capsys, "phantom", folders[4], "--no-store", "--db", db)
    line = next(line for line in out.splitlines() if line.startswith("stored"))
    assert line.startswith("stored   no (--no-store): this run was compared with the stored baseline version 1 of scanner #1 CT-A ")
    assert ", set 20" in line and f"in {db}, but was not stored" in line
    from qa.store import Store

    store = Store(db)
    try:
        assert len(store.phantom_runs(1)) == 5  # nothing more was stored
    finally:
        store.close()
