"""Stored studies for the trends tests: a small fleet written with the real store API (Store.save_study),
with its values kept beside it so that every aggregate can be recomputed with numpy.

The fleet: three scanners (one exports no serial number: it is named by its station name), the
protocols "CaScore" (checked with the qa protocol cac-standard, which names the site level
site-cac), "Coronary CTA" (its name matches the UK CCTA DRL), "Thorax" (no level) and studies
without a protocol, over January to March 2026; QA studies (counted, never in the doses), studies
without a dose report (not counted), a study without a date, two planted DLP outliers and a group
whose CCTA median is above the DRL.  The calcium scores' events carry CT Dose Check details (TID
10015): a notification value of 4 mGy CTDIvol, exceeded by the larger ones, and the large outlier
exceeds the 20 mGy alert value too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import uuid
from dataclasses import dataclass

import pytest

from qa.records.checks import Check
from qa.records.identity import ScannerIdentity
from qa.records.study import DoseEventRecord, ExamCheckRecord, StudyRecord

UTC = dt.timezone.utc
SCANNERS = {
    "force": ScannerIdentity("SIEMENS", "SOMATOM Force", "F-100", "CT-A"),
    "revolution": ScannerIdentity("GE MEDICAL SYSTEMS", "Revolution CT", "R-200", "CT-B"),
    "aquilion": ScannerIdentity("CANON_MEC", "Aquilion ONE", None, "CT-C"),  # no serial: its station name
}
CHECK_IDS = ("kvp", "heart_rate", "kernel")


@dataclass(frozen=True)
class Planted:
    """One study as written, with what the trends must make of it."""

    record: StudyRecord
    scanner: str
    month: str | None


def _key(n: int) -> str:
    return f"p-{n:020x}"


def _checklist(n: int, statuses: dict[str, str], analysed: dt.datetime, protocol: str = "cac-standard") -> ExamCheckRecord:
    checks = tuple(Check(cid, status, None, None, f"{cid} {status}") for cid, status in statuses.items())
    verdict = "fail" if "fail" in statuses.values() else "warn" if "warn" in statuses.values() else "pass"
    return ExamCheckRecord(f"1.2.826.0.1.{n}", protocol, "ab" * 32, verdict, "0.test", analysed, checks,
                           {"schema": "qa.check/1", "checks": [c.to_dict() for c in checks], "verdict": verdict})


def study(n: int, scanner: str, protocol: str | None, day: dt.date | None, dlp: float | None, *, ctdivol: float | None = None,
          is_qa: bool = False, report: bool = True, qa_protocol: str | None = None, event_names=(), regions=(), checklists=(),
          k: float = 0.026) -> Planted:
    """Study ``n``: its DLP (the CTDIvol DLP/15 and the effective dose k x DLP unless given); a
    calcium score's events carry Dose Check details (:func:`dose_check`)."""
    ctdivol = dlp / 15.0 if ctdivol is None and dlp is not None else ctdivol
    check = dose_check(ctdivol) if protocol == "CaScore" and ctdivol is not None else None
    events = tuple(DoseEventRecord(f"1.2.826.0.9.{n}.{i}", acquisition_type="sequenced", protocol=name, phantom="body32",
                                   ctdivol_mgy=ctdivol, dlp_mgycm=dlp, target_region_code=code[0] if code else None,
                                   target_region_scheme=code[1] if code else None, dose_check=check)
                   for i, (name, code) in enumerate(zip(event_names or [protocol], regions or [None] * len(event_names or [1]))))
    when = None if day is None else f"{day.isoformat()}T{8 + n % 9:02d}:{n % 60:02d}:00"
    record = StudyRecord(
        study_key=_key(n), scanner=SCANNERS[scanner], study_datetime=when, study_month=None if day is None else day.strftime("%Y-%m"),
        protocol=protocol, qa_protocol=qa_protocol, is_calcium_score=protocol == "CaScore", is_qa=is_qa, has_dose_report=report,
        dose_source="rdsr" if report else ("headers" if dlp is not None else None), ctdivol_mgy=ctdivol, dlp_total_mgycm=dlp,
        dose_msv=None if dlp is None else k * dlp, k_msv_per_mgycm=k, k_source="test", qa_version="0.test",
        events=events if report else (), exam_checks=tuple(checklists))
    return Planted(record, scanner, None if day is None else day.strftime("%Y-%m"))


NOTIFICATION_MGY, ALERT_MGY = 4.0, 20.0


def dose_check(ctdivol: float) -> dict:
    """An event's Dose Check as stored: CTDIvol notification and alert values, passed when exceeded."""
    from qa.records.dose import DoseCheck

    return DoseCheck(alert_ctdivol_configured=True, alert_ctdivol_mgy=ALERT_MGY, notification_ctdivol_configured=True,
                     notification_ctdivol_mgy=NOTIFICATION_MGY, alert_exceeded=ctdivol > ALERT_MGY,
                     notification_exceeded=ctdivol > NOTIFICATION_MGY,
                     notification_ctdivol_forward_estimate_mgy=ctdivol if ctdivol > NOTIFICATION_MGY else None,
                     notification_reason="large patient" if ctdivol > NOTIFICATION_MGY else None).to_dict()


def fleet(seed: int = 13) -> list[Planted]:
    """The fleet of the module doc (about 250 studies), in a shuffled order."""
    rng = random.Random(seed)
    out: list[Planted] = []
    n = 0
    months = [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)]
    typical = {"CaScore": 55.0, "Coronary CTA": 140.0, "Thorax": 300.0, None: 80.0}
    for scanner in SCANNERS:
        for month in months:
            for protocol, count in (("CaScore", 14), ("Coronary CTA", 8), ("Thorax", 5), (None, 3)):
                for _ in range(count):
                    n += 1
                    day = month + dt.timedelta(days=rng.randrange(27))
                    dlp = round(rng.lognormvariate(0, 0.2) * typical[protocol], 1)
                    if protocol == "Coronary CTA" and scanner == "revolution" and month.month == 3:
                        dlp = round(dlp * 1.6, 1)  # this group's median is above the 170 mGy cm DRL
                    statuses = {"kvp": "pass" if rng.random() < 0.8 else "fail",
                                "heart_rate": rng.choice(["pass", "pass", "warn", "fail", "not_available"]),
                                "kernel": "not_applicable" if scanner == "aquilion" else "pass"}
                    analysed = dt.datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
                    checks = [_checklist(n, statuses, analysed)] if protocol == "CaScore" else []
                    out.append(study(n, scanner, protocol, day, dlp, qa_protocol="cac-standard" if protocol == "CaScore" else None,
                                     checklists=checks))
    # two planted DLP outliers (and their CTDIvol with them)
    for scanner, dlp in (("force", 480.0), ("aquilion", 9.0)):
        n += 1
        out.append(study(n, scanner, "CaScore", dt.date(2026, 2, 14), dlp, qa_protocol="cac-standard"))
    # a study checked twice: only its later checklist counts
    n += 1
    early = _checklist(n, {"kvp": "fail", "heart_rate": "fail", "kernel": "fail"}, dt.datetime(2026, 2, 3, 9, tzinfo=UTC))
    late = _checklist(n, {"kvp": "pass", "heart_rate": "pass", "kernel": "pass"}, dt.datetime(2026, 2, 3, 10, tzinfo=UTC),
                      protocol="cac-siemens")
    out.append(study(n, "force", "CaScore", dt.date(2026, 2, 3), 50.0, qa_protocol="cac-standard", checklists=[early, late]))
    # QA studies: counted in n_studies, never in the doses
    for scanner in SCANNERS:
        n += 1
        out.append(study(n, scanner, "CaScore", dt.date(2026, 1, 20), 2000.0, is_qa=True))
    # studies without a dose report: not in n_studies (one with a dose from its headers)
    n += 1
    out.append(study(n, "force", "CaScore", dt.date(2026, 1, 21), 60.0, report=False))
    n += 1
    out.append(study(n, "revolution", "Thorax", dt.date(2026, 3, 5), None, report=False))
    # a study without a date: in the groups of an open period only
    n += 1
    out.append(study(n, "force", "CaScore", None, 52.0, qa_protocol="cac-standard"))
    # a study named like a CCTA but checked as a calcium score: its qa protocol's level wins (site-cac)
    n += 1
    out.append(study(n, "force", "Coronary CTA", dt.date(2026, 1, 9), 60.0, qa_protocol="cac-standard"))
    # a "Thorax" study whose calcium-score event names it: the site level by an event's Acquisition Protocol
    n += 1
    out.append(study(n, "revolution", "Thorax", dt.date(2026, 1, 10), 290.0, event_names=["Thorax", "CaScore"]))
    rng.shuffle(out)
    return out


def save_all(url: str, planted: list[Planted]) -> None:
    from qa.store import Store

    store = Store(url)
    try:
        for p in planted:
            store.save_study(p.record)
    finally:
        store.close()


def postgres_url_or_skip() -> str:
    url = os.environ.get("QA_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("QA_CI") == "1":
            pytest.fail("QA_TEST_POSTGRES_URL is not set in CI (.ci/run starts a server with .ci/postgres.sh)")
        pytest.skip("no PostgreSQL server here: set QA_TEST_POSTGRES_URL (for example by running .ci/postgres.sh)")
    return url


@contextlib.contextmanager
def postgres_database():
    """A new, empty PostgreSQL database for a whole module (dropped afterwards): its URL."""
    import sqlalchemy as sa

    server = postgres_url_or_skip()
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"qa_test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
