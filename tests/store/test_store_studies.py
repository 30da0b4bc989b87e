"""The store's studies (revision 0004): Store.save_study and what it keeps, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
import sqlalchemy as sa

from qa.errors import InputError
from qa.records.checks import Check
from qa.records.identity import ScannerIdentity
from qa.records.study import DoseEventRecord, ExamCheckRecord, IngestedObject, StudyRecord
from qa.store import Store
from together import run_together

SCANNER = ScannerIdentity("SIEMENS", "SOMATOM Force", "F-100", "CT-A")
UTC = dt.timezone.utc


def event(uid: str, dlp: float = 60.0, ctdivol: float = 3.0, **more) -> DoseEventRecord:
    values = dict(acquisition_type="sequenced", protocol="CaScore", phantom="body32", ctdivol_mgy=ctdivol, dlp_mgycm=dlp, kvp=120.0,
                  tube_current_ma=80.0)
    return DoseEventRecord(uid, **(values | more))


def checklist(verdict: str = "pass", protocol: str = "cac-standard", series: str = "1.2.3.4", kvp_status: str = "pass"):
    checks = (Check("kvp", kvp_status, 120, [120], "120 kVp"), Check("heart_rate", "pass", 58, [0, 70], "58 bpm"))
    return ExamCheckRecord(series, protocol, "ab" * 32, verdict, "0.test", dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC), checks,
                           {"schema": "qa.check/1", "checks": [c.to_dict() for c in checks], "verdict": verdict})


def study(key: str = "p-study1", events=(), checks=(), objects=(), **more) -> StudyRecord:
    values = dict(study_key=key, scanner=SCANNER, study_datetime="2026-03-01T08:15:00", study_month="2026-03", protocol="CaScore",
                  qa_protocol="cac-standard", patient_key="p-patient1", is_calcium_score=True, has_dose_report=True, dose_source="rdsr",
                  ctdivol_mgy=3.0, dlp_total_mgycm=sum(e.dlp_mgycm for e in events), dose_msv=0.8, k_msv_per_mgycm=0.014,
                  k_source="target region", qa_version="0.test", document={"study_key": key}, events=tuple(events),
                  exam_checks=tuple(checks), objects=tuple(objects))
    values.update(more)
    return StudyRecord(**values)


@pytest.fixture
def store(store_url):
    opened = Store(store_url)
    yield opened
    opened.close()


def test_a_study_is_stored_with_its_events_checklist_and_objects(store):
    record = study(events=[event("1.9.1"), event("1.9.2", dlp=5.0, acquisition_type="constant_angle")], checks=[checklist()],
                   objects=[IngestedObject("1.8.1", "image"), IngestedObject("1.8.2", "dose_report")])
    saved = store.save_study(record)
    assert saved.status == "added"
    stored = store.study("p-study1")
    assert stored.id == saved.study_id and stored.record.study_month == "2026-03"
    assert stored.study_datetime == dt.datetime(2026, 3, 1, 8, 15).astimezone().astimezone(UTC)  # local wall clock, as an instant
    assert [e.irradiation_event_uid for e in stored.record.events] == ["1.9.1", "1.9.2"]
    assert stored.record.events[1] == replace(event("1.9.2", dlp=5.0), acquisition_type="constant_angle")
    (check,) = stored.record.exam_checks
    assert [(c.id, c.status, c.measured, c.expected) for c in check.checks] == [("kvp", "pass", 120, [120]),
                                                                              ("heart_rate", "pass", 58, [0, 70])]
    assert store.ingested(["1.8.1", "1.8.2", "1.8.3"]) == {"1.8.1", "1.8.2"}
    assert store.study_counts() == {"studies": 1, "dose_events": 2, "exam_checks": 1, "exam_check_results": 2, "ingested_objects": 2}
    assert store.scanners()[0].station_name == "CT-A"  # the scanner phantom runs use


def test_saving_the_same_study_again_changes_nothing(store):
    record = study(events=[event("1.9.1")], checks=[checklist()], objects=[IngestedObject("1.8.1", "image")])
    first = store.save_study(record)
    before = store.study("p-study1")
    later_check = replace(checklist(), analysed_at=dt.datetime(2026, 3, 2, tzinfo=UTC), qa_version="0.newer")
    again = store.save_study(replace(record, exam_checks=(later_check,), qa_version="0.newer"))
    assert again == replace(first, status="unchanged")
    assert store.study("p-study1").ingested_at == before.ingested_at
    assert store.study_counts()["dose_events"] == 1 and store.study_counts()["exam_checks"] == 1


def test_a_cumulative_re_send_is_merged_by_irradiation_event_uid(store):
    store.save_study(study(events=[event("1.9.1")]))
    resent = study(events=[event("1.9.1"), event("1.9.2", dlp=40.0)])
    assert store.save_study(resent).status == "updated"
    assert [e.irradiation_event_uid for e in store.study("p-study1").record.events] == ["1.9.1", "1.9.2"]
    # a report of the continued study holding only its new event joins the stored ones
    assert store.save_study(study(events=[event("1.9.3", dlp=7.0)])).status == "updated"
    stored = store.study("p-study1")
    assert sorted(e.irradiation_event_uid for e in stored.record.events) == ["1.9.1", "1.9.2", "1.9.3"]
    assert store.study_counts()["studies"] == 1 and store.study_counts()["dose_events"] == 3


def test_the_merge_function_sees_the_stored_study_and_decides_the_totals(store):
    store.save_study(study(events=[event("1.9.1", dlp=60.0)]))
    seen = []

    def merge(stored, new):
        seen.append(stored.record.events)
        events = {e.irradiation_event_uid: e for e in stored.record.events + new.events}
        return replace(new, events=tuple(events.values()), dlp_total_mgycm=sum(e.dlp_mgycm for e in events.values()))

    store.save_study(study(events=[event("1.9.2", dlp=40.0)]), merge=merge)
    assert [[e.irradiation_event_uid for e in events] for events in seen] == [["1.9.1"]]
    assert store.study("p-study1").record.dlp_total_mgycm == 100.0


def test_checking_again_replaces_the_checklist_of_that_series_and_protocol(store):
    store.save_study(study(checks=[checklist()]))
    store.save_study(study(checks=[checklist("fail", kvp_status="fail")]))
    store.save_study(study(checks=[checklist(protocol="cac-siemens")]))
    checks = {c.protocol_id: c for c in store.study("p-study1").record.exam_checks}
    assert set(checks) == {"cac-standard", "cac-siemens"}
    assert checks["cac-standard"].verdict == "fail" and checks["cac-standard"].checks[0].status == "fail"
    assert store.study_counts()["exam_check_results"] == 4
    with store.engine.connect() as c:  # the failure counts of the trends come from the results table
        rows = c.execute(sa.text("SELECT check_id, status, count(*) FROM exam_check_results GROUP BY check_id, status "
                                 "ORDER BY check_id, status")).all()
    assert [tuple(r) for r in rows] == [("heart_rate", "pass", 2), ("kvp", "fail", 1), ("kvp", "pass", 1)]


def test_an_event_claimed_by_two_studies_is_refused_and_nothing_of_the_second_is_stored(store):
    store.save_study(study(events=[event("1.9.1")]))
    with pytest.raises(InputError, match="stored under another study"):
        store.save_study(study("p-study2", events=[event("1.9.1")], objects=[IngestedObject("1.8.9", "dose_report")]))
    assert store.study("p-study2") is None and store.ingested(["1.8.9"]) == set()
    assert store.study_counts()["studies"] == 1


def test_objects_without_a_study_are_remembered_and_join_a_study_later(store):
    assert store.mark_ingested([IngestedObject("1.8.1", "other"), IngestedObject("1.8.2", "image")]) == 2
    assert store.mark_ingested([IngestedObject("1.8.1", "other")]) == 0
    store.save_study(study(objects=[IngestedObject("1.8.2", "image")]))
    with store.engine.connect() as c:
        rows = dict(c.execute(sa.text("SELECT sop_instance_uid, study_id FROM ingested_objects")).all())
    assert rows["1.8.1"] is None and rows["1.8.2"] == store.study("p-study1").id


def test_invalid_records_are_refused_before_the_store():
    with pytest.raises(ValueError, match="study_key"):
        study("")
    with pytest.raises(ValueError, match="YYYY-MM"):
        study(study_month="2026-3")
    with pytest.raises(ValueError, match="distinct"):
        study(events=[event("1.9.1"), event("1.9.1")])


def test_concurrent_saves_of_one_study_and_of_others_lose_and_duplicate_nothing(store_url):
    """Eight writers at once: four save the same study (each with another of its events), four a study of their own."""
    Store(store_url).close()
    def worker(n: int) -> None:
        opened = Store(store_url)
        try:
            if n < 4:
                opened.save_study(study(events=[event(f"1.9.{n}")], objects=[IngestedObject(f"1.8.{n}", "dose_report")]))
            else:
                opened.save_study(study(f"p-other{n}", events=[event(f"2.9.{n}")]))
        finally:
            opened.close()

    errors = run_together(8, worker)
    assert errors == []
    opened = Store(store_url)
    try:
        shared = opened.study("p-study1")
        assert sorted(e.irradiation_event_uid for e in shared.record.events) == ["1.9.0", "1.9.1", "1.9.2", "1.9.3"]
        assert opened.study_counts() == {"studies": 5, "dose_events": 8, "exam_checks": 0, "exam_check_results": 0,
                                         "ingested_objects": 4}
        assert len(opened.scanners()) == 1
    finally:
        opened.close()
