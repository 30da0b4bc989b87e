"""Routing of the inbox (``qa serve``'s router, in this process on a real inbox and a real SQLite store):
an SR goes to the dose store by its content (TID 10011's document title), never by an error's
wording; a store that cannot be opened leaves the group pending and retried until it can; failed
groups are re-queued by ``qa serve --requeue``."""

from __future__ import annotations

import threading
import time

import pydicom
import pytest

from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report
from qa.workflows.inbox import Inbox, requeue_failed
from qa.workflows.route import route_group, run_router

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"


def _receive(inbox: Inbox, path) -> None:
    data = open(path, "rb").read()
    obj = inbox.identify(data)
    assert inbox.store_object(f"{obj.sop_instance_uid}.dcm", data, calling_aet="CT1", obj=obj) == "added"


def _report(tmp_path, name: str, *, title=None, sop_class=None, dlp=120.0):
    path = tmp_path / name
    write_dose_report(path, [SyntheticEvent(protocol="Calcium Score", ctdivol_mgy=3.0, dlp_mgycm=dlp)], serial=f"SN-{name}")
    if title or sop_class:
        ds = pydicom.dcmread(path)
        if title:
            ds.ConceptNameCodeSequence[0].CodeValue, ds.ConceptNameCodeSequence[0].CodeMeaning = title
        if sop_class:
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def inbox(tmp_path):
    (tmp_path / "inbox").mkdir()
    box = Inbox(tmp_path / "inbox")
    yield box
    box.close()


def test_an_sr_is_a_dose_report_by_its_document_title_in_any_sr_class_and_another_sr_is_kept(tmp_path, inbox):
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _receive(inbox, _report(tmp_path, "rdsr", dlp=120.0))
    _receive(inbox, _report(tmp_path, "comprehensive", sop_class=COMPREHENSIVE_SR, dlp=80.0))  # TID 10011 in a Comprehensive SR
    _receive(inbox, _report(tmp_path, "imaging-report", title=("18748-4", "Diagnostic imaging report"), sop_class=COMPREHENSIVE_SR))
    outcomes = {}
    for group in inbox.journal.settled_groups(time.time() + 1, 0):
        outcomes[group.members[0]] = route_group(inbox, group, db=db, report_dir=None)
    assert sorted(o.route for o in outcomes.values()) == ["dose", "dose", "kept"]
    (kept,) = [o for o in outcomes.values() if o.route == "kept"]
    assert kept.state == "routed" and "not a CT dose report" in kept.result
    assert all("study added" in o.result for o in outcomes.values() if o.route == "dose")


def test_a_store_that_cannot_be_opened_leaves_the_group_pending_and_it_routes_once_the_store_is_back(tmp_path, inbox):
    """The store's folder is missing (a share not mounted yet): a transient failure, retried with back-off, never 'failed'."""
    missing = tmp_path / "share"
    _receive(inbox, _report(tmp_path, "rdsr"))
    lines: list[str] = []
    stop = threading.Event()
    router = threading.Thread(target=run_router, kwargs=dict(
        inbox=inbox, db=f"sqlite:///{missing / 'store.sqlite'}", report_dir=None, settle_seconds=0, stop=stop, log=lines.append,
        poll_seconds=0.05, retry_seconds=0.2))
    router.start()
    try:
        _wait(lambda: sum("stays pending and is retried in" in line for line in lines) >= 2)
        status = inbox.status()
        assert len(status.pending) == 1 and status.failed == ()
        assert "retried in 0.2 s" in lines[0] and "retried in 0.4 s" in lines[1]  # the pause doubles
        missing.mkdir()
        _wait(lambda: any(line.startswith("routed SR") for line in lines))
    finally:
        stop.set()
        router.join()
    status = inbox.status()
    assert status.pending == () and [r.route for r in status.routed] == ["dose"]


def test_a_failed_group_is_requeued_as_pending_and_an_unknown_group_is_refused(tmp_path, inbox):
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    synthesize_phantom(tmp_path / "ct", SynthOptions(matrix=32, pixel_mm=8.0, z_start_mm=-3.0, z_end_mm=3.0))
    broken = tmp_path / "broken.dcm"
    ds = pydicom.dcmread(sorted((tmp_path / "ct").glob("*.dcm"))[0])
    ds.PixelData = ds.PixelData[:100]  # a CT image cut short: a problem of the input, failed
    ds.save_as(broken, enforce_file_format=True)
    _receive(inbox, broken)
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    (group,) = inbox.journal.settled_groups(time.time() + 1, 0)
    outcome = route_group(inbox, group, db=db, report_dir=None)
    assert outcome.state == "failed"
    inbox.journal.mark(group.members, state=outcome.state, route=outcome.route, result=None, error=outcome.error,
                       received_before=group.last_received_at, at=time.time())
    assert [f.group for f in inbox.status().failed] == [group.key]
    assert requeue_failed(inbox.folder, group.key) == (1, 1)
    assert [g.group for g in inbox.status().pending] == [group.key] and inbox.status().failed == ()
    with pytest.raises(Exception, match="no failed group"):
        requeue_failed(inbox.folder, "series:p-nothing")


def _wait(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_retention_deletes_only_objects_routed_before_the_limit_never_pending_failed_or_sent_again(tmp_path, inbox):
    for name in ("old", "recent", "failed", "pending", "again"):
        _receive(inbox, _report(tmp_path, name))
    journal = inbox.journal
    files = {g.members[0]: g for g in journal.settled_groups(time.time() + 1, 0)}
    by_name = {}
    for file, group in files.items():
        serial = pydicom.dcmread(inbox.folder / file, stop_before_pixels=True).DeviceSerialNumber
        by_name[serial.removeprefix("SN-")] = group
    day = 86400.0
    now = time.time()
    for name, state, at in (("old", "routed", now - 40 * day), ("recent", "routed", now - 5 * day),
                            ("failed", "failed", now - 40 * day), ("again", "routed", now - 40 * day)):
        group = by_name[name]
        journal.mark(group.members, state=state, route="dose", result=None, error=None, received_before=group.last_received_at, at=at)
    import os

    again = inbox.folder / by_name["again"].members[0]
    os.utime(again, (now + 3600, now + 3600))  # written again later (a re-send about to be journalled)
    journal.set_keep_days(30)
    assert journal.expire(now - 30 * day) == 1
    kept = {p.name for p in inbox.folder.glob("*.dcm")}
    assert by_name["old"].members[0] not in kept
    assert {by_name[n].members[0] for n in ("recent", "failed", "pending", "again")} <= kept
    status = inbox.status()
    assert status.deleted == 1 and status.keep_days == 30 and len(status.pending) == 1 and len(status.failed) == 1
    assert journal.expire(now - 30 * day) == 0  # once


def test_site_rules_by_patient_id_and_calling_aet_decide_the_workflow_and_the_patient_id_is_never_journalled(tmp_path):
    from qa.workflows.site_rules import RouteRule
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    (tmp_path / "inbox").mkdir()
    rules = (RouteRule("keep", patient_id="RESEARCH-*"), RouteRule("phantom", calling_aet="CT9"))
    box = Inbox(tmp_path / "inbox", rules=rules)
    try:
        research = _report(tmp_path, "research")  # a dose report, kept by the rule on its Patient ID
        ds = pydicom.dcmread(research)
        ds.PatientID = "RESEARCH-0042"
        ds.save_as(research, enforce_file_format=True)
        _receive(box, research)
        synthesize_phantom(tmp_path / "ct", SynthOptions(matrix=32, pixel_mm=8.0, z_start_mm=-3.0, z_end_mm=3.0))
        for f in sorted((tmp_path / "ct").glob("*.dcm")):  # from CT9: phantom QA without looking for the phantom
            data = f.read_bytes()
            obj = box.identify(data, calling_aet="CT9")
            box.store_object(f"{obj.sop_instance_uid}.dcm", data, calling_aet="CT9", obj=obj)
        db = f"sqlite:///{tmp_path / 'store.sqlite'}"
        outcomes = {g.kind: (g, route_group(box, g, db=db, report_dir=None)) for g in box.journal.settled_groups(time.time() + 1, 0)}
    finally:
        box.close()
    group, kept = outcomes["sr"]
    assert group.workflow == "keep" and kept.route == "kept" and "site rule" in kept.result
    group, ct = outcomes["ct"]
    # 32 x 32 pixels of 8 mm cannot show the calcifications: phantom QA ran and says so (failed, not an exam check)
    assert group.workflow == "phantom" and (ct.state, ct.route) == ("failed", "phantom-qa") and "calcifications" in ct.error
    for path in (tmp_path / "inbox").glob(".qa-journal*"):
        assert b"RESEARCH-0042" not in path.read_bytes()


def test_retention_works_through_a_large_inbox_in_batches_keeping_what_was_sent_again(tmp_path, inbox):
    names = [f"b{k}" for k in range(7)]
    for name in names:
        _receive(inbox, _report(tmp_path, name))
    journal = inbox.journal
    groups = list(journal.settled_groups(time.time() + 1, 0))
    now = time.time()
    for group in groups:
        journal.mark(group.members, state="routed", route="dose", result=None, error=None, received_before=group.last_received_at,
                     at=now - 40 * 86400.0)
    import os

    again = inbox.folder / groups[2].members[0]  # sent again: kept, and the batches after its own still reached
    os.utime(again, (now + 3600, now + 3600))
    assert journal.expire(now - 30 * 86400.0, batch=2) == len(groups) - 1
    assert {p.name for p in inbox.folder.glob("*.dcm")} == {again.name}


def test_a_series_of_localizer_images_only_is_kept_not_failed(tmp_path, inbox):
    """Scanners send each scan's scout as a series of its own: kept, never a failed group in the status."""
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    folder = tmp_path / "phantom"
    synthesize_phantom(folder, SynthOptions(pixel_mm=1.95, matrix=128, z_start_mm=-3.0, z_end_mm=3.0, seed=2, scout=True))
    scouts = [p for p in folder.glob("*.dcm") if "LOCALIZER" in pydicom.dcmread(p, stop_before_pixels=True).ImageType]
    assert len(scouts) == 1
    _receive(inbox, scouts[0])
    (group,) = inbox.journal.settled_groups(time.time() + 1, 0)
    outcome = route_group(inbox, group, db=f"sqlite:///{tmp_path / 'store.sqlite'}", report_dir=None)
    assert (outcome.state, outcome.route) == ("routed", "kept") and "1 localizer image(s)" in outcome.result


def test_a_phantom_series_is_recognised_and_analysed_from_one_read_as_qa_phantom_analyses_its_files(tmp_path, inbox, small_phantom):
    """The router decodes a CT series once to recognise the phantom and analyses that decoded series:
    the stored run is the one qa phantom stores from the same files (every metric and check)."""
    import json
    import sqlite3

    from qa.workflows.phantom import run_phantom_qa

    from pathlib import Path

    for path in sorted(Path(small_phantom.out_dir).glob("*.dcm")):
        _receive(inbox, path)
    routed_db, direct_db = tmp_path / "routed.sqlite", tmp_path / "direct.sqlite"
    groups = inbox.journal.settled_groups(time.time() + 1, 0)  # the scan and its scout
    outcomes = [route_group(inbox, group, db=f"sqlite:///{routed_db}", report_dir=None) for group in groups]
    assert [o.route for o in outcomes if o.route != "kept"] == ["phantom-qa"], outcomes
    (routed,) = [g for g, o in zip(groups, outcomes) if o.route == "phantom-qa"]
    direct = run_phantom_qa(list(routed.files), db=f"sqlite:///{direct_db}")  # the same files, as qa phantom reads them

    def stored(path):
        with sqlite3.connect(path) as c:
            (document,) = c.execute("SELECT document FROM phantom_runs").fetchone()
            metrics = c.execute("SELECT metric, value FROM phantom_metrics ORDER BY metric").fetchall()
            checks = c.execute("SELECT check_id, status, measured, expected, message FROM phantom_checks ORDER BY check_id").fetchall()
        c.close()
        document = json.loads(document)
        document.pop("analysis_time")  # the run's clock; everything else (files, provenance's SOP Instance UIDs) must agree
        document["provenance"].pop("analysis_time")
        return document, metrics, checks

    assert stored(routed_db) == stored(direct_db)
    assert direct.stored is not None and stored(direct_db)[1]  # metrics were stored
