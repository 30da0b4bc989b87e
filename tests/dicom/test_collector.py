"""The cyclic garbage collector is paused while headers are scanned, and always restored as it was."""

from __future__ import annotations

import gc
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
    if not was:
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
