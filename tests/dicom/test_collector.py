"""The cyclic garbage collector is paused while headers are scanned, and always restored as it was."""

from __future__ import annotations

import gc
import json
import subprocess
import threading
import warnings

import numpy as np
import pytest

from qa.dicom.collector import collector_paused
from qa.dicom.series import scan_inputs
from qa.dicom.write import write_ct_series


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_a_scan_runs_with_the_collector_off_and_leaves_it_on(tmp_path, collector_on):
    write_ct_series(tmp_path, np.zeros((3, 8, 8)))
    during = []  # the collector's state as each file is read (the last call, n == total, says the scan ended)
    scan = scan_inputs(tmp_path, headers_only=True, progress=lambda n, total: n < total and during.append(gc.isenabled()))
    assert len(scan.series) == 1 and during == [False, False, False]
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off(tmp_path, collector_on):
    write_ct_series(tmp_path, np.zeros((2, 8, 8)))
    gc.disable()
    scan_inputs(tmp_path, headers_only=True)
    assert not gc.isenabled()


def test_a_scan_that_fails_restores_the_collector(tmp_path, collector_on):
    from qa.errors import InputError

    (tmp_path / "IMG0001.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)  # named and marked as DICOM, unreadable
    with pytest.raises(InputError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's own about the bytes it could not read
        scan_inputs(tmp_path, headers_only=True)
    assert gc.isenabled()


def test_overlapping_pauses_in_two_threads_switch_it_on_once_the_last_ends(collector_on):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    states = {}

    def first() -> None:
        with collector_paused():
            first_in.set()
            assert second_in.wait(5)
        states["after first"] = gc.isenabled()
        first_out.set()

    def second() -> None:
        assert first_in.wait(5)
        with collector_paused():
            second_in.set()
            assert first_out.wait(5)
            states["second still in"] = gc.isenabled()
        states["after both"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert states == {"after first": False, "second still in": False, "after both": True}


def _freeze_count_after_a_scan(folder, *, one_shot: bool) -> int:
    """``gc.get_freeze_count()`` in a fresh process after a header scan of ``folder``."""
    import subprocess
    import sys

    code = ("import gc, sys\n"
            + ("from qa.workflows.common import one_shot_process\none_shot_process()\n" if one_shot else "")
            + "from qa.dicom.series import scan_inputs\nscan_inputs(sys.argv[1], headers_only=True)\n"
            + "assert gc.isenabled()\nprint(gc.get_freeze_count())\n")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def test_only_a_one_shot_process_freezes_what_a_scan_keeps(tmp_path):
    write_ct_series(tmp_path, np.zeros((3, 8, 8)))
    assert _freeze_count_after_a_scan(tmp_path, one_shot=True) > 1000  # the headers (and what was alive before) frozen
    assert _freeze_count_after_a_scan(tmp_path, one_shot=False) == 0  # a library caller's process: never


def test_the_command_line_called_in_process_never_freezes(tmp_path, collector_on):
    """``main([...])`` is a call inside someone's process (the tests, a notebook): not one-shot."""
    from qa.cli import main

    write_ct_series(tmp_path, np.zeros((3, 8, 8)))
    before = gc.get_freeze_count()
    main(["score", str(tmp_path), "--json"])
    assert gc.get_freeze_count() == before and gc.isenabled()


def _freeze_count_of_command(tmp_path, *args: str) -> int:
    """``gc.get_freeze_count()`` at the end of ``qa ARGS`` run as its process's own command."""
    import subprocess
    import sys

    code = ("import gc, sys\nfrom qa.cli import main\nsys.argv = ['qa'] + sys.argv[1:]\ntry:\n    main()\nfinally:\n"
            f"    open({str(tmp_path / 'count')!r}, 'w').write(str(gc.get_freeze_count()))\n")
    subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    return int((tmp_path / "count").read_text())


def test_only_the_commands_that_read_one_input_freeze_as_their_own_process(tmp_path):
    series = tmp_path / "series"
    write_ct_series(series, np.zeros((3, 8, 8)))
    assert _freeze_count_of_command(tmp_path, "score", str(series)) > 1000
    assert _freeze_count_of_command(tmp_path, "score", str(series), "--json") > 1000  # --json runs the command too
    # qa ingest reads input after input (and forks workers): it never freezes
    assert _freeze_count_of_command(tmp_path, "ingest", str(series), "--db", f"sqlite:///{tmp_path / 'qa.sqlite'}") == 0


def test_a_forked_child_does_not_inherit_the_one_shot_freeze(tmp_path):
    """An ingest worker is forked from its parent: it reads many inputs and must not freeze them."""
    import subprocess
    import sys

    write_ct_series(tmp_path, np.zeros((3, 8, 8)))
    code = ("import gc, os, sys\nfrom qa.workflows.common import one_shot_process\nfrom qa.dicom.series import scan_inputs\n"
            "one_shot_process()\npid = os.fork()\nif pid == 0:\n    scan_inputs(sys.argv[1], headers_only=True)\n"
            "    os._exit(0 if gc.get_freeze_count() == 0 and gc.isenabled() else 1)\n"
            "_, status = os.waitpid(pid, 0)\nprint(os.waitstatus_to_exitcode(status))\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "0", out.stderr


def _freeze_count_at_exit(tmp_path, *args: str, in_process: bool = False) -> tuple[int, subprocess.CompletedProcess]:
    """``gc.get_freeze_count()`` as the interpreter exits after ``qa ARGS`` (an exit hook registered
    first runs last: after qa's), run as the process's own command or with ``main(ARGS)``."""
    import sys

    count = tmp_path / "count_at_exit"
    code = ("import atexit, gc, sys\n"
            f"atexit.register(lambda: open({str(count)!r}, 'w').write(str(gc.get_freeze_count())))\n"
            "from qa.cli import main\n"
            + ("sys.exit(main(sys.argv[1:]))\n" if in_process else "sys.argv = ['qa'] + sys.argv[1:]\nsys.exit(main())\n"))
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    return int(count.read_text()), done


def test_a_one_shot_command_freezes_everything_as_it_exits(tmp_path):
    """qa gating makes no header scan: what it leaves alive is frozen at exit all the same, so the
    interpreter's last collection skips it; its output is complete first.  Never when main() is
    called in-process, never for qa ingest."""
    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv

    r = beat_times(20.0, 70.0)
    t, mv = synthesize_ecg(r, duration_s=20.0, fs_hz=250.0)
    trace = tmp_path / "ecg.csv"
    write_ecg_csv(trace, t, mv, fs_hz=250.0)
    frozen, done = _freeze_count_at_exit(tmp_path, "gating", "--ecg", str(trace), "--json")
    assert frozen > 10000, done.stderr  # numpy's and qa's modules among them
    assert json.loads(done.stdout)["schema"] == "qa.gating/1"  # the output was written whole before
    assert _freeze_count_at_exit(tmp_path, "gating", "--ecg", str(trace), "--json", in_process=True)[0] == 0
    series = tmp_path / "series"
    write_ct_series(series, np.zeros((3, 8, 8)))
    assert _freeze_count_at_exit(tmp_path, "ingest", str(series), "--db", f"sqlite:///{tmp_path / 'qa.sqlite'}")[0] == 0
