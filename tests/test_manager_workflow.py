"""The manager's workflow end to end, checked against a ground truth nobody computed with our
aggregation code: ``qa synth exams`` plans a fleet (its truth table says what every study holds),
``qa ingest`` stores it, ``qa trends`` aggregates it in SQL, ``qa dashboard`` shows it.  The
medians and counts here are numpy's over the truth table."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest

from qa.workflows.ingest import ingest
from qa.workflows.synth import FleetOptions, synthesize_exams
from qa.workflows.trends import store_trends


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("manager")
    old = os.environ.get("QA_SECRET_FILE")
    os.environ["QA_SECRET_FILE"] = str(root / "secret")
    try:
        synthesize_exams(root / "fleet", FleetOptions(exams=60, scanners=3, months=4, seed=3, start="2026-01"), workers=1)
        db = f"sqlite:///{root / 'qa.sqlite'}"
        run = ingest([root / "fleet"], db=db, workers=2)
        yield root, db, run, list(csv.DictReader((root / "fleet" / "truth.csv").open()))
    finally:
        if old is None:
            os.environ.pop("QA_SECRET_FILE", None)
        else:
            os.environ["QA_SECRET_FILE"] = old


def _scanner_key(manufacturer, model, serial, station):
    return (manufacturer, model, serial or None, station if not serial else None)


def test_every_study_of_the_fleet_is_stored_once_and_nothing_is_refused(fleet_store, monkeypatch):
    root, db, run, truth = fleet_store
    assert run.refused == () and run.studies.added == len(truth)
    monkeypatch.setenv("QA_SECRET_FILE", str(root / "secret"))  # the same site: UIDs are stored as its pseudonyms
    again = ingest([root / "fleet"], db=db, workers=1)
    assert again.studies.added == 0 and again.studies.updated == 0  # idempotent


def test_dose_trends_per_scanner_and_month_are_the_truths_medians(fleet_store):
    _, db, _, truth = fleet_store
    report = store_trends("dose", by="scanner,month", db=db)
    expected = defaultdict(lambda: {"n": 0, "qa": 0, "dlp": [], "ctdi": []})
    for row in truth:
        if row["has_rdsr"] != "true":
            continue
        key = (_scanner_key(row["manufacturer"], row["model"], row["device_serial_number"], row["station_name"]), row["month"])
        group = expected[key]
        group["n"] += 1
        if row["is_phantom_qa"] == "true":
            group["qa"] += 1
        else:
            group["dlp"].append(float(row["dlp_total_mgycm"]))
            group["ctdi"].append(float(row["ctdivol_mgy"]))
    got = {}
    for g in report.groups:
        s = g.keys["scanner"]
        got[(_scanner_key(s.manufacturer, s.model, s.serial, s.station_name if not s.serial else None), g.keys["month"])] = g
    assert set(got) == set(expected)
    for key, want in expected.items():
        g = got[key]
        assert (g.n_studies, g.n_qa_studies) == (want["n"], want["qa"]), key
        if want["dlp"]:
            assert g.dlp_total_mgycm.median == pytest.approx(float(np.median(want["dlp"])), rel=1e-6), key
            assert g.dlp_total_mgycm.p75 == pytest.approx(float(np.percentile(want["dlp"], 75)), rel=1e-6), key
            assert g.ctdivol_mgy.median == pytest.approx(float(np.median(want["ctdi"])), rel=1e-3), key


def test_compliance_trends_count_the_planted_failures(fleet_store):
    _, db, _, truth = fleet_store
    report = store_trends("compliance", by="scanner", db=db)
    failed = defaultdict(int)
    for row in truth:
        for item in filter(None, row["expected_checks"].split(";")):
            check, _, status = item.partition("=")
            if status == "fail":
                failed[check] += 1
    assert failed, "the fleet plants check failures"
    counted = defaultdict(int)
    for g in report.groups:
        for c in g.checks:
            counted[c.id] += c.counts.get("fail", 0)
    for check, n in failed.items():
        assert counted[check] == n, check


def test_the_dashboard_of_the_fleet_names_every_scanner_and_no_patient(fleet_store, tmp_path):
    root, db, _, truth = fleet_store
    out = tmp_path / "dash"
    env = dict(os.environ, QA_SECRET_FILE=str(root / "secret"))
    done = subprocess.run([sys.executable, "-m", "qa", "dashboard", "--db", db, "--out", str(out), "--months", "24", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == "qa.dashboard/1" and doc["n_studies"] >= 1
    page = (out / "index.html").read_text()
    for row in truth:
        assert row["station_name"] in page
        for private in (row["patient_id"], row["patient_name"], row["accession_number"], row["operators_name"],
                        row["study_instance_uid"]):
            if private:
                assert private not in page, private


def test_the_dashboard_and_the_trends_compare_the_same_studies(fleet_store, tmp_path):
    """Both take dose statistics over the studies holding a dose report (phantom QA left out): the
    page's rows and qa trends by scanner agree on how many DLPs each scanner's median is over, and on it."""
    root, db, _, _ = fleet_store
    from qa.workflows.dashboard import build_dashboard

    build_dashboard(out=tmp_path / "dash", db=db, months=24)
    data = json.loads((tmp_path / "dash" / "dashboard-data.json").read_text())
    rows = data["rows"]
    page = defaultdict(list)
    for k, dlp in enumerate(rows["dlp"]):
        if dlp is not None and not rows["flags"][k] & 2:
            page[data["scanners"][rows["scanner"][k]]["station"]].append(dlp)
    trends = {g.keys["scanner"].station_name: g for g in store_trends("dose", by="scanner", db=db).groups}
    assert set(page) == set(trends)
    for station, values in page.items():
        assert trends[station].dlp_total_mgycm.n == len(values), station
        assert trends[station].dlp_total_mgycm.median == pytest.approx(float(np.median(values)), rel=1e-6), station


def test_a_window_without_studies_says_where_the_studies_are(fleet_store, tmp_path):
    _, db, _, _ = fleet_store
    import datetime as dt

    from qa.workflows.dashboard import build_dashboard

    later = dt.datetime(2029, 6, 15, 12, 0).astimezone()  # the fleet is in 2026-01 .. 2026-04
    dash = build_dashboard(out=tmp_path / "dash", db=db, months=3, now=later)
    assert dash.n_studies == 0
    (warning,) = [w for w in dash.warnings if "no study in the window" in w]
    assert "from 2026-01" in warning and "--months" in warning


def test_the_dose_check_values_of_the_reports_are_stored_with_their_events(fleet_store):
    """The fleet's reports carry CT Dose Check Details (TID 10015): the configured alert and
    notification values reach dose_events.dose_check."""
    import sqlite3

    _, db, _, _ = fleet_store
    with sqlite3.connect(db.removeprefix("sqlite:///")) as con:
        stored = [json.loads(v) for (v,) in con.execute("select dose_check from dose_events where dose_check is not null")]
    assert stored
    assert {d["alert_ctdivol_configured"] for d in stored} == {True} and {d["alert_ctdivol_mgy"] for d in stored} == {1000.0}
    # qa.exam_synth.fleet.dose_check: calcium scores 10 mGy, angiographies 50 mGy, the other scans 25 mGy
    assert {d["notification_ctdivol_mgy"] for d in stored} <= {10.0, 25.0, 50.0} and all(d["notification_ctdivol_configured"] for d in stored)


def test_a_dose_reports_dose_check_details_are_read_yes_no_and_values(tmp_path):
    from qa.dicom.rdsr import read_dose_report
    from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report
    from qa.records.identity import Pseudonymiser

    path = write_dose_report(tmp_path / "sr.dcm", (SyntheticEvent(ctdivol_alert_mgy=1000.0, ctdivol_notification_mgy=25.0,
                                                                  dlp_notification_mgycm=500.0), SyntheticEvent()))
    report = read_dose_report(path, pseudonymise=Pseudonymiser.ephemeral())
    checked, plain = report.events
    assert plain.dose_check is None
    d = checked.dose_check
    assert (d.alert_dlp_configured, d.alert_ctdivol_configured, d.alert_ctdivol_mgy) == (False, True, 1000.0)
    assert (d.notification_ctdivol_mgy, d.notification_dlp_mgycm, d.notification_dlp_configured) == (25.0, 500.0, True)


def _truth_dose_checks(truth) -> dict:
    """Per station: (events with a notification passed, with an alert passed, studies with either), from the truth table."""
    out = defaultdict(lambda: [0, 0, 0])
    for row in truth:
        n, a = int(row["n_dose_check_notifications"]), int(row["n_dose_check_alerts"])
        counts = out[row["station_name"]]
        counts[0] += n
        counts[1] += a
        counts[2] += bool(n or a)
    return out


def test_dose_check_exceedances_per_scanner_are_the_truths_in_the_trends_and_the_dashboard(fleet_store, tmp_path):
    """The fleet passes a Dose Check notification on every calcium score planted above the reference
    level (and wherever else a scan's CTDIvol is above its protocol's notification value)."""
    from qa.workflows.dashboard import build_dashboard

    _, db, _, truth = fleet_store
    expected = _truth_dose_checks(truth)
    planted = [row for row in truth if "above_reference_level" in row["planted"].split(";")]
    assert planted and all(int(row["n_dose_check_notifications"]) >= 1 for row in planted)
    assert sum(n for n, _, _ in expected.values()) >= len(planted)
    report = store_trends("dose", by="scanner", db=db)
    got = {g.keys["scanner"].station_name: g.dose_check for g in report.groups}
    assert set(got) == set(expected)
    for station, (n, a, studies) in expected.items():
        c = got[station]
        assert (c.n_notification_exceeded, c.n_alert_exceeded, c.n_studies_exceeded) == (n, a, studies), station
    dash = build_dashboard(out=tmp_path / "dash", db=db, months=24)
    shown = {s.station_name: (s.n_dose_check_notifications, s.n_dose_check_alerts) for s in dash.scanners}
    assert shown == {station: (n, a) for station, (n, a, _) in expected.items()}


def test_the_study_list_gives_each_studys_events_and_passed_notifications_as_the_truth_says(fleet_store):
    from qa.privacy import site_pseudonymiser

    root, db, _, truth = fleet_store
    keys = site_pseudonymiser(root / "secret")
    listed = {s.study_key: s for s in store_trends("dose", db=db, studies=True).studies}
    assert len(listed) == len(truth)
    for row in truth:
        s = listed[keys(row["study_instance_uid"])]
        assert s.n_dose_check_notifications == int(row["n_dose_check_notifications"]), row["folder"]
        if row["has_rdsr"] == "true":
            assert s.n_events == len(s.events) == int(row["n_events"]), row["folder"]


def test_qa_dose_shows_a_passed_notification_with_the_technologist_as_the_stored_operators_pseudonym(fleet_store):
    import sqlite3

    from qa.privacy import site_pseudonymiser

    root, db, _, truth = fleet_store
    row = next(r for r in truth if int(r["n_dose_check_notifications"]) and r["cumulative_resend"] == "false")
    report = root / "fleet" / row["folder"] / "SR"
    env = dict(os.environ, QA_SECRET_FILE=str(root / "secret"))
    done = subprocess.run([sys.executable, "-m", "qa", "dose", str(report)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    with sqlite3.connect(db.removeprefix("sqlite:///")) as con:
        (operator_key,) = con.execute("select operator_key from studies where study_key = ?",
                                      (site_pseudonymiser(root / "secret")(row["study_instance_uid"]),)).fetchone()
    (line,) = [t for t in done.stdout.splitlines() if "EXCEEDED" in t]
    assert "notification CTDIvol 10 mGy (estimate " in line and "reason '" in line and line.endswith(f"authorised by {operator_key}")
    assert row["operators_name"] not in done.stdout and row["operators_name"].split("^")[0] not in done.stdout
