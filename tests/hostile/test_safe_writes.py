"""Files are written safely (issue 11, point 4).

Every output goes to a new temporary file beside its target (``O_CREAT | O_EXCL | O_NOFOLLOW``),
is fsync'd and renamed into place: a planted symlink is never written through, an existing file
is never truncated before its replacement is complete, a failed write leaves nothing behind.
``qa demo --out`` checks everything before it deletes anything; ``qa synth phantom`` never writes
over a file.  When a report or plot fails after the analysis: ``qa phantom`` keeps the stored run,
its exit code and verdict, and names the report error in ``warnings``; commands that store nothing
(``qa trend``, ``qa gating``, ``qa check``) exit 2 with the file named and write nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.outputs import TEMP_SUFFIX, create_new, output_folder, output_file, write_file

REPO = Path(__file__).resolve().parents[2]


def qa(*argv, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa", *map(str, argv)], capture_output=True, text=True, cwd=cwd or REPO,
                          env=env, timeout=timeout)


def run(*argv) -> tuple[int, str, str]:
    """``qa`` in this process (the heavy libraries stay loaded): exit code, stdout, stderr."""
    from qa.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


@pytest.fixture(scope="module")
def phantom_series(tmp_path_factory) -> Path:
    """A small synthetic phantom series written by ``qa synth phantom``."""
    out = tmp_path_factory.mktemp("safe-writes") / "CT1"
    code, _, err = run("synth", "phantom", out, "--matrix", "256", "--pixel-mm", "0.9", "--station-name", "CT-SAFE", "--serial", "S-1")
    assert code == 0, err
    return out


# ------------------------------------------------------------------------- the writer itself


def test_an_output_replaces_a_planted_symlink_and_never_writes_through_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = tmp_path / "report.html"
    target.symlink_to(victim)
    write_file(target, "<html>report</html>")
    assert victim.read_text() == "precious\n"
    assert not target.is_symlink() and target.read_text() == "<html>report</html>"
    assert leftovers(tmp_path) == []


def test_a_symlink_planted_under_a_never_clobber_name_is_refused_and_left_alone(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = tmp_path / "trace.csv"
    target.symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_file(target, "time_s,ecg_uv\n", replace=False)
    assert target.is_symlink() and victim.read_text() == "precious\n"
    assert leftovers(tmp_path) == []


def test_an_existing_file_is_whole_until_its_replacement_is_complete(tmp_path):
    target = tmp_path / "ct1.html"
    write_file(target, "old report, complete\n")
    with output_file(target) as fp:
        fp.write(b"new report, first half ")
        fp.flush()
        assert target.read_text() == "old report, complete\n"  # readers still see the whole old file
        fp.write(b"and second half\n")
    assert target.read_text() == "new report, first half and second half\n"
    assert leftovers(tmp_path) == []


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "ct1.png"
    write_file(target, b"old png")
    with pytest.raises(RuntimeError):
        with output_file(target) as fp:
            fp.write(b"half a png")
            raise RuntimeError("the plot failed half-way")
    assert target.read_bytes() == b"old png"
    assert leftovers(tmp_path) == []
    with pytest.raises(RuntimeError):
        with output_file(tmp_path / "new.png") as fp:
            fp.write(b"half")
            raise RuntimeError("failed")
    assert not (tmp_path / "new.png").exists() and leftovers(tmp_path) == []


def test_a_target_that_cannot_be_a_file_fails_naming_it_and_leaves_nothing(tmp_path):
    folder = tmp_path / "existing-folder"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as err:
        write_file(folder, "x")
    assert err.value.filename == str(folder)
    assert list(folder.iterdir()) == [] and leftovers(tmp_path) == []
    regular = tmp_path / "a-file"
    regular.write_text("keep")
    with pytest.raises(OSError):
        write_file(regular / "report.html", "x")  # its parent is a regular file
    assert regular.read_text() == "keep" and leftovers(tmp_path) == []


def test_a_durable_folder_writes_whole_files_by_plain_name_and_a_failed_write_leaves_the_old_one(tmp_path):
    import resource
    import signal

    from qa.outputs import DurableFolder

    folder = DurableFolder(tmp_path)
    try:
        assert folder.write("1.2.3.dcm", b"first") == tmp_path / "1.2.3.dcm"
        folder.write("1.2.3.dcm", b"second")
        assert (tmp_path / "1.2.3.dcm").read_bytes() == b"second" and leftovers(tmp_path) == []
        for name in ("../x", "a/b", "..", "", "x\0y"):
            with pytest.raises(OSError):
                folder.write(name, b"outside")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["1.2.3.dcm"] and not (tmp_path.parent / "x").exists()
        # a full disk (a file size limit) half-way through: the old file stays whole, no temporary is left
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, limits[1]))
        try:
            with pytest.raises(OSError):
                folder.write("1.2.3.dcm", b"x" * 100_000)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, limits)
            signal.signal(signal.SIGXFSZ, previous)
        assert (tmp_path / "1.2.3.dcm").read_bytes() == b"second" and leftovers(tmp_path) == []
    finally:
        folder.close()


def test_temporary_files_are_new_and_private_to_each_write(tmp_path):
    """Two writers of one target never share a temporary file: each opens its own with O_EXCL."""
    target = tmp_path / "shared.csv"
    with output_file(target) as first, output_file(target) as second:
        first.write(b"first\n")
        second.write(b"second\n")
        assert len(leftovers(tmp_path)) == 2
    assert target.read_text() in ("first\n", "second\n") and leftovers(tmp_path) == []


# ------------------------------------------------------------------------- qa synth, the ECG writer


def test_a_folder_written_whole_appears_only_when_complete_and_never_over_a_name(tmp_path):
    """``output_folder``: the files go to a private temporary folder, renamed into place at the end;
    a failure half-way leaves nothing, and an existing name (file, folder or link) is never used."""
    target = tmp_path / "study"
    with output_folder(target) as tmp:
        assert not target.exists() and tmp.parent == tmp_path and tmp.name.endswith(TEMP_SUFFIX)
        with create_new(tmp / "a.dcm") as fp:
            fp.write(b"a")
    assert sorted(p.name for p in target.iterdir()) == ["a.dcm"] and leftovers(tmp_path) == []
    with pytest.raises(RuntimeError):
        with output_folder(tmp_path / "broken") as tmp:
            (tmp / "half.dcm").write_bytes(b"half")
            raise RuntimeError("the disk is full")
    assert not (tmp_path / "broken").exists() and leftovers(tmp_path) == []
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    for taken in (target, tmp_path / "link"):
        with pytest.raises(FileExistsError):
            with output_folder(taken):
                pass
    with pytest.raises(FileExistsError):  # a folder made meanwhile under the name is not replaced
        with output_folder(tmp_path / "late") as tmp:
            (tmp_path / "late").mkdir()
    assert list((tmp_path / "late").iterdir()) == [] and list((tmp_path / "elsewhere").iterdir()) == [] and leftovers(tmp_path) == []


def test_synth_phantom_writes_beside_unrelated_files_without_touching_them(tmp_path):
    out = tmp_path / "series"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (out / "IMG0001").write_text("not a DICOM file, no extension\n")
    code, _, err = run("synth", "phantom", out, "--matrix", "128", "--pixel-mm", "1.8", "--z-range", "-3", "6")
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "mine\n" and (out / "IMG0001").read_text() == "not a DICOM file, no extension\n"
    truth = json.loads((out / "truth.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", "IMG0001", "truth.json", *truth["files"]])
    code, _, err = run("synth", "phantom", out, "--matrix", "128", "--pixel-mm", "1.8", "--z-range", "-3", "6")
    assert code == 2 and str(out) in err  # a second series is refused, the first kept
    assert json.loads((out / "truth.json").read_text()) == truth


@pytest.mark.parametrize("folder", ["new", "holding-my-files"])
def test_an_interrupted_synthesis_leaves_no_part_of_its_series(tmp_path, folder):
    """Ctrl-C half-way through ``qa synth phantom``: the slices written so far are removed (and the
    folder, when the run made it); files that were there before are untouched."""
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    out = tmp_path / "series"
    if folder == "holding-my-files":
        out.mkdir()
        (out / "notes.txt").write_text("mine\n")

    def interrupt(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthesize_phantom(out, SynthOptions(matrix=128, pixel_mm=1.8, z_start_mm=-3.0, z_end_mm=30.0), progress=interrupt)
    if folder == "new":
        assert not out.exists()
    else:
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] and (out / "notes.txt").read_text() == "mine\n"


def test_a_synthetic_ecg_trace_never_replaces_a_file_and_is_complete_or_absent(tmp_path):
    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv
    from qa.ecg.trace import read_csv

    r = beat_times(10.0, 60.0)
    t, ecg = synthesize_ecg(r, duration_s=10.0, seed=1)
    path = tmp_path / "ecg.csv"
    write_ecg_csv(path, t, ecg, fs_hz=500.0)
    assert read_csv(path).n_samples == t.size
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_ecg_csv(path, t[:10], ecg[:10], fs_hz=500.0)
    assert path.read_bytes() == before
    broken = tmp_path / "broken.csv"
    with pytest.raises(TypeError):
        write_ecg_csv(broken, t, [object()] * t.size, fs_hz=500.0)  # fails after the header was written
    assert not broken.exists() and leftovers(tmp_path) == []


def test_a_live_recording_is_created_new_and_never_through_a_planted_link(tmp_path):
    from qa.ecg.trace import CsvTraceWriter

    victim = tmp_path / "victim.csv"
    victim.write_text("precious\n")
    link = tmp_path / "live.csv"
    link.symlink_to(victim)
    with pytest.raises(FileExistsError):
        CsvTraceWriter(link, start_time=None, fs_hz=500.0)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "would-be-created.csv")
    with pytest.raises(FileExistsError):
        CsvTraceWriter(dangling, start_time=None, fs_hz=500.0)
    assert victim.read_text() == "precious\n" and not (tmp_path / "would-be-created.csv").exists()


# ------------------------------------------------------------------------- qa demo --out


def _demo_refused(out: Path) -> tuple[int, str]:
    code, _, err = run("demo", "--out", out)
    return code, err


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): (p.read_text() if p.is_file() and not p.is_symlink() else "<dir or link>")
            for p in sorted(folder.rglob("*"))}


def test_demo_refuses_a_folder_it_did_not_make_and_deletes_nothing(tmp_path):
    mine = tmp_path / "mine"
    (mine / "exam").mkdir(parents=True)  # a name the demo also uses
    (mine / "exam" / "patient.dcm").write_text("someone's exam\n")
    before = _tree(mine)
    done = qa("demo", "--out", mine, timeout=60)  # a real process
    assert done.returncode == 2 and "nothing was deleted" in done.stderr
    assert _tree(mine) == before


def test_demo_deletes_nothing_when_a_marked_folder_also_holds_foreign_files(tmp_path):
    out = tmp_path / "qa-demo"
    (out / "exam").mkdir(parents=True)
    (out / ".qa-demo").write_text("written by qa demo\n")
    (out / "exam" / "old.dcm").write_text("an old demo file\n")
    (out / "thesis.docx").write_text("not the demo's\n")
    before = _tree(out)
    code, err = _demo_refused(out)
    assert code == 2 and "thesis.docx" in err and "nothing was deleted" in err
    assert _tree(out) == before  # checked first: the demo's own old files are still there too


def test_demo_checks_the_whole_tree_against_what_it_wrote_before_deleting(tmp_path):
    """A file or folder of the user's at any depth of an earlier demo's folder stops the demo; so
    does a demo folder whose list of written files is missing (a demo that did not finish)."""
    out = tmp_path / "qa-demo"
    (out / "exam" / "cascore").mkdir(parents=True)
    (out / "daily-qa" / "mine").mkdir(parents=True)
    (out / ".qa-demo").write_text("written by qa demo\n")
    (out / ".qa-demo-files").write_text("exam/cascore/IMG0001.dcm\nexam-ecg.csv\n")
    (out / "exam" / "cascore" / "IMG0001.dcm").write_text("the demo's\n")
    (out / "exam-ecg.csv").write_text("the demo's\n")
    (out / "exam" / "cascore" / "notes.txt").write_text("mine\n")
    (out / "daily-qa" / "mine" / "x.dcm").write_text("mine\n")
    (tmp_path / "elsewhere").mkdir()
    (out / "exam" / "link").symlink_to(tmp_path / "elsewhere")
    before = _tree(out)
    code, err = _demo_refused(out)
    assert code == 2 and "nothing was deleted" in err
    assert "exam/cascore/notes.txt" in err and "daily-qa/" in err and "exam/link" in err
    assert _tree(out) == before
    (out / ".qa-demo-files").unlink()
    for extra in ("exam/cascore/notes.txt", "daily-qa/mine/x.dcm", "exam/link"):
        (out / extra).unlink()
    before = _tree(out)
    code, err = _demo_refused(out)
    assert code == 2 and "exam/" in err and _tree(out) == before


@pytest.mark.parametrize("marker", ["symlink", "forged"])
def test_demo_trusts_only_its_own_marker(tmp_path, marker):
    out = tmp_path / "out"
    (out / "exam").mkdir(parents=True)
    (out / "exam" / "keep.dcm").write_text("keep\n")
    if marker == "symlink":
        real = tmp_path / "real-marker"
        real.write_text("written by qa demo\n")
        (out / ".qa-demo").symlink_to(real)
    else:
        (out / ".qa-demo").write_text("")
    before = _tree(out)
    assert _demo_refused(out)[0] == 2
    assert _tree(out) == before


def test_demo_never_writes_into_a_symlink_the_home_folder_or_the_root(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    code, err = _demo_refused(link)
    assert code == 2 and "symbolic link" in err and list(real.iterdir()) == []
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    (home / "exam").mkdir(parents=True)
    (home / ".qa-demo").write_text("written by qa demo\n")  # even with a (planted) marker
    (home / "exam" / "mine.txt").write_text("mine\n")
    before = _tree(home)
    for target in (home, home / ".."):
        code, err = _demo_refused(target)
        assert code == 2 and "home folder" in err
    assert _tree(home) == before
    assert _demo_refused(Path("/"))[0] == 2


# ------------------------------------------------------------------------- a report that fails after the analysis


def _stored_runs(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from phantom_runs").fetchone()[0]


@pytest.fixture(scope="module")
def failed_report_run(tmp_path_factory, phantom_series):
    """``qa phantom --report`` into a folder that is a regular file: the run, its database, the blocker."""
    folder = tmp_path_factory.mktemp("failed-report")
    db = folder / "qa.sqlite"
    blocker = folder / "reports"
    blocker.write_text("a regular file where a folder should be\n")
    done = qa("phantom", phantom_series, "--db", f"sqlite:///{db}", "--report", blocker / "ct1.html", "--json")  # a real process
    return done, db, blocker


def test_a_phantom_report_that_cannot_be_written_leaves_the_stored_run_exit_and_json_consistent(failed_report_run):
    done, db, blocker = failed_report_run
    assert done.returncode in (0, 1), done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == "qa.phantom/1" and doc["report"] is None
    assert (doc["verdict"] == "fail") == (done.returncode == 1)
    assert [w for w in doc["warnings"] if "could not be written" in w and str(blocker / "ct1.html") in w]
    assert "could not be written" in done.stderr  # printed in the terminal too
    assert doc["stored"] is not None and _stored_runs(db) == 1  # the run stands, stored once
    assert blocker.read_text() == "a regular file where a folder should be\n" and leftovers(blocker.parent) == []


def test_a_report_onto_a_folder_fails_the_same_way_and_a_good_one_replaces_the_old_whole(tmp_path, phantom_series):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, out, err = run("phantom", phantom_series, "--no-store", "--report", folder, "--json")
    doc = json.loads(out)
    assert code in (0, 1) and doc["report"] is None and any(str(folder) in w for w in doc["warnings"])
    assert list(folder.iterdir()) == [] and leftovers(tmp_path) == []
    report = tmp_path / "ct1.html"
    report.write_text("<!DOCTYPE html><html><body>yesterday's report</body></html>\n")
    code, out, err = run("phantom", phantom_series, "--no-store", "--report", report, "--json")
    doc = json.loads(out)
    assert code in (0, 1) and doc["report"] == str(report) and doc["warnings"] == json.loads(out)["warnings"]
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>") and leftovers(tmp_path) == []


def test_a_trend_plot_that_cannot_be_written_is_exit_2_naming_the_file(failed_report_run):
    _, db, blocker = failed_report_run
    code, out, err = run("trend", "--scanner", "CT-SAFE", "--db", f"sqlite:///{db}", "--plot", blocker / "ct1.png", "--json")
    assert code == 2, err
    doc = json.loads(out)
    assert doc["schema"] == "qa.error/1" and doc["exit_code"] == 2 and str(blocker) in doc["error"]["file"]
    assert blocker.read_text() == "a regular file where a folder should be\n" and leftovers(blocker.parent) == []
    assert _stored_runs(db) == 1  # a chart stores nothing, and took nothing away


def _ecg_and_exposures(folder: Path) -> tuple[Path, Path]:
    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv

    r = beat_times(12.0, 60.0, first_s=0.5)
    t, ecg = synthesize_ecg(r, duration_s=12.0, seed=2)
    ecg_path = folder / "ecg.csv"
    write_ecg_csv(ecg_path, t, ecg, fs_hz=500.0)
    exposures = folder / "exposures.csv"
    starts = np.asarray(r[3:8]) + 0.6
    exposures.write_text("start_s,duration_s\n" + "".join(f"{s:.3f},0.2\n" for s in starts))
    return ecg_path, exposures


def test_a_gating_plot_that_cannot_be_written_is_exit_2_and_leaves_nothing(tmp_path):
    ecg_path, exposures = _ecg_and_exposures(tmp_path)
    code, out, err = run("gating", "--ecg", ecg_path, "--exposures", exposures, "--plot", tmp_path / "strip.png", "--json")
    assert code in (0, 1), err
    assert (tmp_path / "strip.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, out, err = run("gating", "--ecg", ecg_path, "--exposures", exposures, "--plot", folder, "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["schema"] == "qa.error/1" and doc["error"]["file"] == str(folder)
    assert list(folder.iterdir()) == [] and leftovers(tmp_path) == []


def test_the_help_says_what_happens_when_a_report_or_plot_fails():
    from qa.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    for command in ("phantom", "trend", "gating", "check"):
        assert "cannot be written" in " ".join(subparsers[command].format_help().split()), command


# ------------------------------------------------------------------------- an output named like an input


def test_a_report_or_plot_never_replaces_an_input_of_its_run(tmp_path, phantom_series, failed_report_run):
    """An existing file is only replaced by a file of its own kind (an earlier report by a report):
    a mistyped --report or --plot can never turn a DICOM slice, an ECG trace or the database into a
    picture.  A name of another kind (``--report slice.dcm``) is refused before the run
    (tests/hostile/test_output_files.py); an input that bears the output's name is refused when written."""
    import shutil

    series = tmp_path / "series"
    shutil.copytree(phantom_series, series)
    slice_file = sorted(series.glob("*.dcm"))[0]
    before = slice_file.read_bytes()
    code, out, err = run("phantom", series, "--no-store", "--report", slice_file, "--json")
    assert code == 2 and json.loads(out)["error"]["file"] == str(slice_file)  # a .dcm is no report: refused first
    assert slice_file.read_bytes() == before
    named_as_report = slice_file.with_name("slice.html")  # a slice of the series under a report's name
    slice_file.rename(named_as_report)
    code, out, err = run("phantom", series, "--no-store", "--report", named_as_report, "--json")
    doc = json.loads(out)
    assert code in (0, 1) and doc["report"] is None
    assert any("holds a DICOM file" in w for w in doc["warnings"])
    assert named_as_report.read_bytes() == before and leftovers(series) == []

    ecg_path, exposures = _ecg_and_exposures(tmp_path)
    trace = ecg_path.read_bytes()
    code, out, err = run("gating", "--ecg", ecg_path, "--exposures", exposures, "--plot", ecg_path, "--json")
    assert code == 2 and json.loads(out)["error"]["file"] == str(ecg_path)
    assert ecg_path.read_bytes() == trace

    _, db, _ = failed_report_run
    named_as_plot = tmp_path / "charts.png"  # the database under a plot's name
    shutil.copyfile(db, named_as_plot)
    stored = named_as_plot.read_bytes()
    code, out, err = run("trend", "--scanner", "CT-SAFE", "--db", f"sqlite:///{named_as_plot}", "--plot", named_as_plot, "--json")
    assert code == 2 and "holds a SQLite database" in json.loads(out)["error"]["message"]
    assert named_as_plot.read_bytes() == stored


def test_a_device_or_named_pipe_is_never_an_output(tmp_path, phantom_series):
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)
    code, out, err = run("phantom", phantom_series, "--no-store", "--report", fifo, "--json")
    doc = json.loads(out)
    assert code in (0, 1) and doc["report"] is None
    assert any("named pipe" in w for w in doc["warnings"])
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and leftovers(tmp_path) == []
