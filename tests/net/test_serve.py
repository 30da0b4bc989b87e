"""``qa serve`` as a real process on loopback, with real peers (issue 15): dcmtk's echoscu and storescu
and a pynetdicom SCU send our own synthetic series and dose reports; what arrives is routed through
the workflows into a real SQLite store, and read back with ``qa trend`` / ``qa trends`` / the store API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from serving import QA, Server, dcmtk, environment, pynetdicom_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small phantom series (17 slices of 128 x 128, where the phantom is still found), a calcium-score
    exam with its dose report (ingest_site.write_exam), and a second dose report of its own study."""
    from ingest_site import write_exam

    from qa.workflows.synth import SynthOptions, synthesize_phantom

    root = tmp_path_factory.mktemp("serve-data")
    phantom = root / "phantom"
    synthesize_phantom(phantom, SynthOptions(pixel_mm=1.95, matrix=128, z_start_mm=-9.0, z_end_mm=39.0, seed=5,
                                             station_name="CT1-SERVE", device_serial_number="SN-SERVE"))
    (phantom / "truth.json").unlink()
    exam, study_uid, report = write_exam(root / "exams", 7, month=3)
    images = sorted(p for p in exam.glob("**/*.dcm") if p != report)
    from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report

    head = root / "head.dcm"
    write_dose_report(head, [SyntheticEvent(protocol="Head routine", phantom="head16", ctdivol_mgy=50.0, dlp_mgycm=900.0)],
                      station_name="CT-B", serial="SN-B")
    return {"phantom": sorted(phantom.glob("*.dcm")), "exam": images, "report": report, "head_report": head, "study_uid": study_uid}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("serve"), allow=("CT1", "CT2@127.0.0.2")) as s:
        yield s


def test_an_echo_from_an_allowed_ae_title_is_accepted_and_logged(server):
    done = dcmtk("echoscu", port=server.port)
    assert done.returncode == 0, done.stderr
    server.wait_for("CT1@127.0.0.1 -> QA: released; 0 object(s) stored, 1 echo(es)")


@pytest.mark.parametrize(("calling", "called", "reason"), [
    ("INTRUDER", "QA", "Calling AE Title Not Recognized"),
    ("CT1", "NOT-QA", "Called AE Title Not Recognized"),
])
def test_an_unknown_calling_ae_or_a_wrong_called_ae_is_rejected_with_its_reason(server, calling, called, reason):
    done = dcmtk("echoscu", port=server.port, calling=calling, called=called)
    assert done.returncode != 0 and "Rejected Permanent" in done.stderr and reason in done.stderr
    server.wait_for(f"{calling}@127.0.0.1 -> QA: rejected")


def test_an_allowed_ae_title_from_another_host_than_its_own_is_rejected(server, data):
    accepted, _ = pynetdicom_store(server.port, [], calling="CT2")  # CT2 is allowed from 127.0.0.2 only
    assert not accepted
    accepted, statuses = pynetdicom_store(server.port, [data["head_report"]], calling="CT2", bind="127.0.0.2")
    assert accepted and statuses == [0]
    log = server.wait_for("CT2@127.0.0.2 -> QA: released; 1 object(s) stored")
    assert "CT2@127.0.0.1 -> QA: rejected: calling AE title (or its host) not on the allow-list" in log


def test_a_phantom_series_sent_with_storescu_is_analysed_stored_and_reported(server, data):
    done = dcmtk("storescu", *data["phantom"], port=server.port)
    assert done.returncode == 0, done.stderr
    status = server.wait_routed(2)  # the phantom series; the dose report of the test before
    (phantom,) = [r for r in status["routed"] if r["route"] == "phantom-qa"]
    assert phantom["objects"] == len(data["phantom"]) and "run #1" in phantom["result"]
    runs = _trend_runs(server)
    assert len(runs) == 1 and runs[0]["value"] > 0
    server.wait_for("report of CT series")  # written after the run is stored, by the report thread
    reports = list((server.inbox / "reports").glob("phantom-*.html"))
    # named by acquisition date, scanner and stored run: no identifier of the patient or study
    assert [p.name for p in reports] == ["phantom-2026-01-05_CT1-SERVE_run1.html"]
    assert "CT1-SERVE" in reports[0].read_text(encoding="utf-8")
    # every object is a complete file named by its SOP Instance UID, and nothing else lies in the inbox
    import pydicom

    names = {f"{pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID}.dcm" for f in data["phantom"]}
    assert names <= {p.name for p in server.inbox.glob("*.dcm")}
    assert not [p for p in server.inbox.iterdir() if p.name.endswith(".qa-tmp")]


def test_a_duplicate_send_is_answered_success_and_routes_nothing_again(server, data):
    before = server.status()
    done = dcmtk("storescu", *data["phantom"], port=server.port)
    assert done.returncode == 0, done.stderr
    server.wait_for(f"0 object(s) stored, {len(data['phantom'])} duplicate(s)")
    time.sleep(2.5)  # longer than the settle time: a re-queued group would be routed by now
    after = server.status()
    assert after["pending"] == [] and after["routed"] == before["routed"] and after["objects"] == before["objects"]


def test_the_same_objects_encoded_anew_are_routed_again_and_replace_the_stored_run(server, data):
    """pynetdicom re-encodes what it sends: other bytes under the same SOP Instance UIDs are queued
    again, and the store replaces the run of the same series (never a second run)."""
    accepted, statuses = pynetdicom_store(server.port, data["phantom"])
    assert accepted and statuses == [0] * len(data["phantom"])
    server.wait_for("(replaced)")
    assert len(_trend_runs(server)) == 1


def test_an_exam_and_its_dose_report_are_checked_stored_and_appear_in_the_trends(server, data):
    done = dcmtk("storescu", *data["exam"], data["report"], port=server.port)
    assert done.returncode == 0, done.stderr
    status = server.wait_routed(4)  # the phantom series, the head CT's dose report, the exam and its dose report
    routes = {r["route"] for r in status["routed"]}
    assert {"exam-check", "dose", "phantom-qa"} <= routes and status["failed"] == []
    trends = subprocess.run([QA, "trends", "dose", "--db", server.db, "--by", "scanner", "--json"], capture_output=True, text=True,
                            env=server.env, timeout=120)
    assert trends.returncode == 0, trends.stderr
    groups = {g["scanner"]["serial"]: g for g in json.loads(trends.stdout)["groups"]}
    assert groups["SN-A"]["n_studies"] == 1 and groups["SN-A"]["dlp_total_mgycm"]["median"] == pytest.approx(30.0)
    assert groups["SN-B"]["n_studies"] == 1 and groups["SN-B"]["dlp_total_mgycm"]["median"] == pytest.approx(900.0)
    from qa.store import Store

    store = Store(server.db)
    try:
        checked = [s.record for s in store.studies() if s.record.exam_checks]
    finally:
        store.close()
    assert len(checked) == 1 and checked[0].has_dose_report and checked[0].qa_protocol == "cac-standard"
    # the log names studies and series by pseudonym only: never the clear Study Instance UID
    assert data["study_uid"] not in server.log and "routed CT series p-" in server.log


def test_the_status_json_is_a_valid_qa_serve_status_document(server):
    from test_schemas import validate

    validate(server.status(), "qa.serve-status/1")


def test_tls_on_accepts_tls_peers_only_and_tls_off_refuses_them(tmp_path, data):
    from tests.conftest import require_tool

    openssl = require_tool("openssl")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    with Server(tmp_path / "tls", "--tls-cert", str(cert), "--tls-key", str(key)) as s:
        assert "(TLS)" in s.log
        plain = dcmtk("echoscu", port=s.port)
        assert plain.returncode != 0
        secured = dcmtk("echoscu", port=s.port, options=("+tls", str(key), str(cert), "+cf", str(cert)))
        assert secured.returncode == 0, secured.stderr
        import ssl

        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
        accepted, statuses = pynetdicom_store(s.port, data["phantom"][:2], tls=context)
        assert accepted and statuses == [0, 0]
        s.wait_for("released; 2 object(s) stored")
    with Server(tmp_path / "plain") as s:
        assert dcmtk("echoscu", port=s.port, options=("+tls", str(key), str(cert), "+cf", str(cert))).returncode != 0
        assert dcmtk("echoscu", port=s.port).returncode == 0


def test_a_sender_killed_mid_association_leaves_only_complete_files_and_what_it_sent_is_routed(tmp_path, data):
    """The sender stores half the series, then starts a large object and is killed with SIGKILL while sending it."""
    with Server(tmp_path / "killed", settle=1.0) as s:
        half = [str(p) for p in data["phantom"][: len(data["phantom"]) // 2]]
        script = tmp_path / "sender.py"
        script.write_text(_SENDER, encoding="utf-8")
        sender = subprocess.Popen([os.path.join(os.path.dirname(QA), "python"), str(script), str(s.port), *half],
                                  stdout=subprocess.PIPE, text=True, env=environment(tmp_path))
        assert sender.stdout.readline().strip() == "sent half"
        time.sleep(0.05)
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        s.wait_for("-> QA: ")  # the association's end is logged (aborted or closed)
        status = s.wait_routed(1)
        assert not [p for p in s.inbox.iterdir() if p.name.endswith(".qa-tmp")]
        import pydicom

        for f in s.inbox.glob("*.dcm"):  # every file there is whole
            pydicom.dcmread(f)
        groups = {r["group"]: r for r in status["routed"] + status["failed"]}
        series = [g for g in groups.values() if g["kind"] == "ct" and g["objects"] == len(half)]
        assert len(series) == 1, groups


_SENDER = """
import sys
import numpy as np
import pydicom
from pydicom.uid import generate_uid
from pynetdicom import AE

port, files = int(sys.argv[1]), sys.argv[2:]
datasets = [pydicom.dcmread(f) for f in files]
big = pydicom.dcmread(files[0])
big.SOPInstanceUID = generate_uid()
big.SeriesInstanceUID = generate_uid()
big.Rows = big.Columns = 4096
big.PixelData = np.zeros((4096, 4096), dtype=np.uint16).tobytes()
ae = AE(ae_title="CT1")
ae.add_requested_context(datasets[0].SOPClassUID)
assoc = ae.associate("127.0.0.1", port, ae_title="QA")
assert assoc.is_established
for ds in datasets:
    assert assoc.send_c_store(ds).Status == 0
print("sent half", flush=True)
assoc.send_c_store(big)
print("sent all", flush=True)
"""


def test_kill_9_with_pending_objects_and_a_restart_routes_everything_once(tmp_path, data):
    root = tmp_path / "crash"
    with Server(root, settle=3600) as s:
        assert dcmtk("storescu", *data["phantom"], port=s.port).returncode == 0
        s.wait_for(f"released; {len(data['phantom'])} object(s) stored")
        assert len(s.status()["pending"]) == 1
        s.stop(signal.SIGKILL)
    # a file renamed into place just before the crash, never journalled: found by the rescan
    import shutil

    import pydicom

    report_uid = pydicom.dcmread(data["report"], stop_before_pixels=True).SOPInstanceUID
    shutil.copy(data["report"], root / "inbox" / f"{report_uid}.dcm")
    (root / "inbox" / ".left.abc.qa-tmp").write_bytes(b"half an object")  # a write cut by the crash
    with Server(root, settle=0.5, port=None) as s:
        assert "1 complete file(s) found that were not journalled, 1 temporary file(s)" in s.log
        status = s.wait_routed(2)
        time.sleep(1.5)
        assert s.log.count("-> phantom-qa") == 1 and s.log.count("-> dose") == 1
        assert not (root / "inbox" / ".left.abc.qa-tmp").exists()
    with Server(root, settle=0.5) as s:  # a third start routes nothing again
        time.sleep(1.5)
        assert "-> phantom-qa" not in s.log and s.status()["routed"] == status["routed"]
    assert len(_trend_runs(s)) == 1  # stored once


def _trend_runs(server) -> list:
    trend = subprocess.run([QA, "trend", "--db", server.db, "--scanner", "SN-SERVE", "--json"], capture_output=True, text=True,
                           env=server.env, timeout=120)
    assert trend.returncode == 0, trend.stderr
    return json.loads(trend.stdout)["metrics"]["total_mass"]["runs"]


def test_sigterm_stops_cleanly_with_exit_code_0(tmp_path):
    s = Server(tmp_path / "term")
    assert s.stop(signal.SIGTERM) == 0
    assert "stop requested" in s.log and s.log.rstrip().endswith("stopped")


def test_site_rules_from_the_config_file_decide_the_route_in_a_running_server(tmp_path, data):
    """``[[route]]`` rules in the ``--config`` file, applied by a running ``qa serve``: a phantom series
    from CT9 is kept (its calling AE title matches), a dose report of a RESEARCH-* patient is kept (its
    Patient ID matches), and the same kind of report of another patient is read as a dose report."""
    import pydicom

    config = tmp_path / "site.toml"
    config.write_text('[[route]]\ncalling_aet = "CT9"\nworkflow = "keep"\n\n'
                      '[[route]]\npatient_id = "RESEARCH-*"\nworkflow = "keep"\n', encoding="utf-8")
    research = tmp_path / "research.dcm"
    ds = pydicom.dcmread(data["head_report"])
    ds.PatientID = "RESEARCH-0042"  # another patient's study: its own study, series and instance UIDs
    ds.StudyInstanceUID, ds.SeriesInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(research, enforce_file_format=True)
    with Server(tmp_path / "rules", "--config", str(config), allow=("CT1", "CT9")) as server:
        sent = dcmtk("storescu", *data["phantom"], port=server.port, calling="CT9")
        assert sent.returncode == 0, sent.stderr
        for report in (research, data["head_report"]):
            sent = dcmtk("storescu", report, port=server.port, calling="CT1")
            assert sent.returncode == 0, sent.stderr
        status = server.wait_routed(3)
        routes = sorted((r["route"], r["objects"], "site rule" in (r.get("result") or "")) for r in status["routed"])
        assert status["failed"] == []
        assert routes == [("dose", 1, False), ("kept", 1, True), ("kept", len(data["phantom"]), True)], status
        # the kept phantom series ran no phantom QA: nothing in the store for its scanner
        assert not (server.root / "store.sqlite").exists() or _trend_runs_or_none(server) in (None, [])
        for path in server.inbox.glob(".qa-journal*"):  # the matched Patient ID never reaches the journal
            assert b"RESEARCH-0042" not in path.read_bytes()


def _trend_runs_or_none(server):
    trend = subprocess.run([QA, "trend", "--db", server.db, "--scanner", "SN-SERVE", "--json"], capture_output=True, text=True,
                           env=server.env, timeout=120)
    return json.loads(trend.stdout)["metrics"]["total_mass"]["runs"] if trend.returncode == 0 else None
