"""``qa trends dose``'s drill-down and event counts: the CT Dose Check exceedances and the events per
study counted in SQLite and PostgreSQL, and ``--studies``, the list of the studies behind the
groups with their events (JSON, terminal, CSV, xlsx).  The studies are written with the real store
API (tests/trend_studies.py); the expected numbers are recomputed here from the records."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
from trend_studies import SCANNERS, fleet, postgres_database, save_all

from qa.errors import UsageError
from qa.workflows.trends import store_trends

FLEET = fleet()
STATION = {s.station_name: name for name, s in SCANNERS.items()}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('trends') / 'qa.sqlite'}"
        save_all(url, FLEET)
        yield url
        return
    with postgres_database() as url:
        save_all(url, FLEET)
        yield url


def _group(p, by):
    values = {"scanner": p.scanner, "protocol": p.record.protocol, "month": p.month}
    return tuple(values[k] for k in by)


def _doc_key(group, by):
    return tuple(STATION[group["scanner"]["station_name"]] if k == "scanner" else group[k] for k in by)


def _exceeded(event, kind):
    return bool(event.dose_check and event.dose_check[f"{kind}_exceeded"])


@pytest.mark.parametrize("by", [("scanner",), ("scanner", "month"), ("protocol",), ()])
def test_dose_check_exceedances_and_events_per_study_are_counted_per_group_in_the_database(db, by):
    expected: dict = defaultdict(lambda: {"n_events": 0, "n_checked": 0, "n_alert_exceeded": 0, "n_notification_exceeded": 0,
                                          "n_studies_exceeded": 0})
    events = defaultdict(list)
    for p in FLEET:
        e = expected[_group(p, by)]
        if not p.record.has_dose_report:
            continue
        for event in p.record.events:
            e["n_events"] += 1
            e["n_checked"] += event.dose_check is not None
            e["n_alert_exceeded"] += _exceeded(event, "alert")
            e["n_notification_exceeded"] += _exceeded(event, "notification")
        e["n_studies_exceeded"] += any(_exceeded(v, "alert") or _exceeded(v, "notification") for v in p.record.events)
        if not p.record.is_qa:
            events[_group(p, by)].append(len(p.record.events))
    doc = store_trends("dose", by=",".join(by) or "none", db=db).to_dict()
    got = {_doc_key(g, by): g for g in doc["groups"]}
    assert {k: g["dose_check"] for k, g in got.items()} == dict(expected)
    total = sum(g["dose_check"]["n_notification_exceeded"] for g in doc["groups"])
    # alerts: the planted 480 mGy cm outlier and the three QA studies (2000 mGy cm: QA studies count here too)
    assert total > 0 and sum(g["dose_check"]["n_alert_exceeded"] for g in doc["groups"]) == 4
    for key, g in got.items():
        counts = events.get(key, [])
        assert g["events_per_study"]["n"] == len(counts), key
        if counts:
            assert g["events_per_study"]["median"] == pytest.approx(float(np.median(counts)))
            assert g["events_per_study"]["mean"] == pytest.approx(float(np.mean(counts)))


def test_the_studies_behind_the_trends_are_listed_by_date_with_their_events_and_dose_checks(db):
    doc = store_trends("dose", by="scanner", db=db, studies=True).to_dict()
    listed = doc["studies"]
    assert sorted(s["study_key"] for s in listed) == sorted(p.record.study_key for p in FLEET)
    dates = [s["study_datetime"] for s in listed]
    assert dates[-1] is None and None not in dates[:-1] and dates[:-1] == sorted(dates[:-1])  # by date, undated last
    planted = {p.record.study_key: p for p in FLEET}
    for s in listed:
        record = planted[s["study_key"]].record
        assert (s["n_events"], len(s["events"])) == (len(record.events), len(record.events))
        assert (s["is_qa"], s["has_dose_report"], s["protocol"]) == (record.is_qa, record.has_dose_report, record.protocol)
        assert s["dlp_total_mgycm"] == record.dlp_total_mgycm
        assert s["n_dose_check_notifications"] == sum(_exceeded(e, "notification") for e in record.events)
        assert s["n_dose_check_alerts"] == sum(_exceeded(e, "alert") for e in record.events)
        assert [e["number"] for e in s["events"]] == list(range(1, len(record.events) + 1))
        assert [e["dose_check"] for e in s["events"]] == [e.dose_check for e in record.events]
    assert "irradiation_event_uid" not in json.dumps(listed)  # an event UID may carry the study's UID root
    one = store_trends("dose", db=db, studies=True, scanner="CT-C", date_from="2026-02", date_to="2026-02").studies
    assert {s.study_key for s in one} == {p.record.study_key for p in FLEET if p.scanner == "aquilion" and p.month == "2026-02"}
    assert store_trends("dose", db=db).studies is None
    with pytest.raises(UsageError, match="--studies"):
        store_trends("compliance", db=db, studies=True)


def test_the_study_list_exports_one_row_per_study_in_csv_and_studies_and_events_sheets_in_xlsx(db, tmp_path):
    from openpyxl import load_workbook

    doc = store_trends("dose", db=db, studies=True, csv=tmp_path / "studies.csv").to_dict()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "studies.csv").read_text(encoding="utf-8-sig"))))
    assert [r["Study (pseudonym)"] for r in rows] == [s["study_key"] for s in doc["studies"]]
    assert [int(r["Events with a Dose Check notification exceeded"]) for r in rows] == \
        [s["n_dose_check_notifications"] for s in doc["studies"]]
    store_trends("dose", db=db, studies=True, by="scanner", xlsx=tmp_path / "studies.xlsx")
    book = load_workbook(tmp_path / "studies.xlsx", read_only=True)
    assert book.sheetnames == ["groups", "outliers", "studies", "events"]
    groups = list(book["groups"].iter_rows(values_only=True))
    heads = groups[0]
    assert sum(r[heads.index("Events with a Dose Check notification exceeded")] for r in groups[1:]) == \
        sum(s["n_dose_check_notifications"] for s in doc["studies"] if s["has_dose_report"])
    assert len(list(book["studies"].iter_rows(values_only=True))) == len(doc["studies"]) + 1
    events = list(book["events"].iter_rows(values_only=True))
    assert len(events) == 1 + sum(len(s["events"]) for s in doc["studies"])
    passed = [r for r in events[1:] if r[events[0].index("Dose Check notification exceeded")] is True]
    assert len(passed) == sum(s["n_dose_check_notifications"] for s in doc["studies"])
    assert {r[events[0].index("Dose Check reason for proceeding")] for r in passed} == {"large patient"}
    book.close()


def test_the_command_prints_the_dose_check_column_and_the_first_studies(db):
    done = subprocess.run([sys.executable, "-m", "qa", "trends", "dose", "--db", db, "--by", "scanner", "--studies"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Dose Check alert/notif." in done.stdout and "events/study median" in done.stdout
    assert f"Studies ({len(FLEET)}, by date)" in done.stdout and "... and" in done.stdout
    done = subprocess.run([sys.executable, "-m", "qa", "trends", "compliance", "--db", db, "--studies"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "--studies" in done.stderr
