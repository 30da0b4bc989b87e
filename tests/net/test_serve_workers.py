"""``qa serve --workers N``: several receiver processes on one port (qa.net.workers), run as real
processes on loopback and sent to with dcmtk's storescu."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time

import pytest
from serving import Server, dcmtk

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_series(tmp_path_factory):
    """Two small CT series of two studies (a synthetic phantom series, and a copy of it under new UIDs)."""
    import pydicom
    from pydicom.uid import generate_uid

    from qa.workflows.synth import SynthOptions, synthesize_phantom

    root = tmp_path_factory.mktemp("workers-data")
    first = root / "first"
    synthesize_phantom(first, SynthOptions(pixel_mm=1.95, matrix=128, z_start_mm=-9.0, z_end_mm=39.0, seed=5,
                                           station_name="CT1-SERVE", device_serial_number="SN-SERVE"))
    (first / "truth.json").unlink()
    second = root / "second"
    second.mkdir()
    study, series = generate_uid(), generate_uid()
    for f in sorted(first.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(second / f.name, enforce_file_format=True)
    return sorted(first.glob("*.dcm")), sorted(second.glob("*.dcm"))


def _worker_pids(log: str) -> list[int]:
    return [int(p) for p in re.findall(r"worker \d+: receiver process (\d+) accepting", log)]


def test_two_concurrent_senders_are_both_received_by_two_receiver_processes(tmp_path, two_series):
    first, second = two_series
    with Server(tmp_path / "two", "--workers", "2", settle=3600) as s:
        assert "2 receiver process(es)" in s.log and len(_worker_pids(s.log)) == 2
        assert set(_worker_pids(s.log)) <= set(_children(s.proc.pid))  # children of qa serve itself
        senders = [subprocess.Popen([dcmtk_path("storescu"), "-aet", "CT1", "-aec", "QA", "127.0.0.1", str(s.port), *map(str, files)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for files in (first, second)]
        assert [p.wait(120) for p in senders] == [0, 0], [p.stderr.read() for p in senders]
        log = s.wait_for(f"released; {len(first)} object(s) stored", count=2)
        # every line of an association names the receiver process that took it
        assert len(re.findall(r"qa serve: worker \d: association CT1@127\.0\.0\.1 -> QA: released", log)) == 2
        status = s.status()
        assert status["objects"] == len(first) + len(second) and len(status["pending"]) == 2
        inbox = {p.name for p in s.inbox.glob("*.dcm")}
        assert len(inbox) == len(first) + len(second)
    assert s.proc.returncode == 0 and s.log.rstrip().endswith("stopped")


def test_killing_the_parent_stops_its_receiver_processes_and_nothing_listens_after(tmp_path):
    s = Server(tmp_path / "orphans", "--workers", "2")
    pids = _worker_pids(s.log)
    assert len(pids) == 2
    assert dcmtk("echoscu", port=s.port).returncode == 0
    s.stop(signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if _running(p)], s.log
    assert "the parent qa serve process is gone: stopping" in s.log
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", s.port), timeout=5).close()


def test_a_receiver_process_that_dies_is_started_again(tmp_path):
    import os

    with Server(tmp_path / "restart", "--workers", "2") as s:
        first, second = _worker_pids(s.log)
        os.kill(first, signal.SIGKILL)
        log = s.wait_for(" accepting", count=3, timeout=120)  # the third start line: its successor
        assert f"(pid {first}) exited unexpectedly (code -9); starting it again" in log
        assert len(set(_worker_pids(log))) == 3 and second in _worker_pids(log)
        for _ in range(4):  # whichever process takes it, every association is answered
            assert dcmtk("echoscu", port=s.port).returncode == 0


def test_one_worker_receives_in_the_serve_process_itself(tmp_path, two_series):
    from serving import pynetdicom_store

    first, _ = two_series
    with Server(tmp_path / "one", "--workers", "1") as s:
        assert "1 receiver process(es)" in s.log and not _worker_pids(s.log)
        accepted, statuses = pynetdicom_store(s.port, first[:3])
        assert accepted and statuses == [0, 0, 0]
        log = s.wait_for("released; 3 object(s) stored")
        assert "qa serve: association CT1@127.0.0.1 -> QA: released" in log
        assert _children(s.proc.pid) == []


def test_tls_and_the_allow_list_hold_in_every_receiver_process(tmp_path):
    from tests.conftest import require_tool

    openssl = require_tool("openssl")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    tls = ("+tls", str(key), str(cert), "+cf", str(cert))
    with Server(tmp_path / "tls", "--workers", "2", "--tls-cert", str(cert), "--tls-key", str(key)) as s:
        for _ in range(4):  # several associations, whichever process takes each
            assert dcmtk("echoscu", port=s.port, options=tls).returncode == 0
            assert dcmtk("echoscu", port=s.port).returncode != 0  # no TLS: refused
            assert dcmtk("echoscu", port=s.port, calling="INTRUDER", options=tls).returncode != 0
        log = s.wait_for("INTRUDER@127.0.0.1 -> QA: rejected", count=4)
        assert log.count("CT1@127.0.0.1 -> QA: released; 0 object(s) stored, 1 echo(es)") == 4


def test_workers_outside_1_to_16_are_refused_with_the_setting_named(tmp_path):
    from serving import QA, environment

    done = subprocess.run([QA, "serve", "--allow", "CT1", "--inbox", str(tmp_path / "inbox"), "--workers", "0"],
                          capture_output=True, text=True, env=environment(tmp_path), timeout=120)
    assert done.returncode == 2 and "workers" in done.stderr and "from 1 to 16" in done.stderr


def dcmtk_path(tool: str) -> str:
    from tests.conftest import require_tool

    return require_tool(tool)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie waits only for a parent to collect its exit status)."""
    try:
        with open(f"/proc/{pid}/stat") as fp:
            return fp.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    from pathlib import Path

    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out
