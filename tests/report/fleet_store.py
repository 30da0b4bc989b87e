"""A store holding a small fleet, written through the real store API (Store.save_study and real
phantom QA runs on synthetic series): what the dashboard tests read.

Four scanners: CT-A (six daily phantom runs, the sixth drifting against a baseline set from the
first five), CT-B (one phantom run, long ago), CT-C (a serial-less Canon, a phantom run the day
before "now"), CT-D (studies only, no phantom QA).  Thirteen months of studies for A, C and D, and
a few months for B; three protocols (two calcium-score ones and a coronary CTA), a phantom QA
study per scanner, checklists on most calcium-score studies with failures planted, a few dose
outliers.  Each study has two irradiation events, a localizer and its scan; the scan's CT Dose
Check details have a 12 mGy CTDIvol notification value (passed by most angiographies) and a
300 mGy cm DLP alert value (passed by the larger outliers).  ``expected`` lists every study as the
test knows it (the numbers the page must show).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from qa.records.checks import Check
from qa.records.identity import ScannerIdentity
from qa.records.dose import DoseCheck
from qa.records.study import DoseEventRecord, ExamCheckRecord, StudyRecord
from qa.records.verdicts import run_verdict
from tests.conftest import provenance_at, result_variant

# The dashboard's "now" in the tests: the window is 2025-03 .. 2026-03 (13 months).
NOW = dt.datetime(2026, 3, 20, 12, 0).astimezone()
MONTHS = [f"{2025 + (2 + k) // 12}-{(2 + k) % 12 + 1:02d}" for k in range(13)]
PROTOCOLS = ("CaScore", "CaScore 100kV", "Coronary CTA")  # as the scanners name them; the first two are calcium scores
CHECK_IDS = ("heart_rate", "kvp", "slice_thickness", "prospective_gating")
CANON = ScannerIdentity("TOSHIBA", "Aquilion ONE", None, "CT-C")
PHILIPS = ScannerIdentity("Philips", "iCT 256", "D-404", "CT-D")


@dataclass(frozen=True)
class Expected:
    station: str
    study_key: str
    date: str  # local YYYY-MM-DD
    month: str
    protocol: str
    calcium: bool
    qa: bool
    ctdivol: float
    dlp: float
    msv: float
    verdict: str | None  # None: not checked
    statuses: dict
    hour: int = 0  # local start hour
    alerts: int = 0  # events with a Dose Check alert value exceeded
    notifications: int = 0  # ... a notification value exceeded


NOTIFICATION_MGY, ALERT_MGYCM = 12.0, 300.0


def _events(key: str, ctdivol: float, dlp: float) -> tuple[DoseEventRecord, ...]:
    """A localizer and the scan, whose Dose Check passed the notification / alert value it exceeds."""
    check = DoseCheck(alert_dlp_configured=True, alert_dlp_mgycm=ALERT_MGYCM, alert_exceeded=dlp > ALERT_MGYCM,
                      notification_ctdivol_configured=True, notification_ctdivol_mgy=NOTIFICATION_MGY,
                      notification_exceeded=ctdivol > NOTIFICATION_MGY)
    return (DoseEventRecord(f"{key}#localizer", acquisition_type="constant_angle", ctdivol_mgy=0.1, dlp_mgycm=1.0),
            DoseEventRecord(f"{key}#scan", acquisition_type="sequenced", ctdivol_mgy=ctdivol, dlp_mgycm=dlp, dose_check=check.to_dict()))


def _checklist(rng, when: str, fail_rate: float) -> tuple[ExamCheckRecord, dict]:
    statuses = {}
    for check_id in CHECK_IDS:
        draw = rng.random()
        statuses[check_id] = "fail" if draw < fail_rate else "warn" if draw < fail_rate + 0.1 else "pass"
    # motion not measurable on every third day of the month (no extra draw: the other numbers stay as they were)
    statuses["breath_hold_motion"] = "not_available" if int(when[8:10]) % 3 == 0 else "not_applicable"
    checks = tuple(Check(k, v, None, None, f"{k} {v}") for k, v in statuses.items())
    verdict = run_verdict(checks)  # nothing failed or warned but motion not run: incomplete
    analysed = dt.datetime.fromisoformat(when).astimezone(dt.timezone.utc)
    return ExamCheckRecord("1.2.826.0.1.9." + str(rng.integers(1 << 40)), "cac-standard", "ab" * 32, verdict, "0.test", analysed,
                           checks, {"schema": "qa.check/1", "verdict": verdict, "checks": [c.to_dict() for c in checks]}), statuses


def save_studies(store, rng, scanner: ScannerIdentity, months: list[str], base_ctdivol: float, fail_rate: float) -> list[Expected]:
    out = []
    for month in months:
        for j in range(7):
            is_qa = j == 6 and month.endswith(("01", "04", "07", "10"))
            protocol = PROTOCOLS[0] if j < 3 or j == 6 else PROTOCOLS[1] if j < 5 else PROTOCOLS[2]
            calcium = protocol != PROTOCOLS[2]
            day = 1 + (j * 4 + len(out)) % 27
            when = f"{month}-{day:02d}T{8 + j:02d}:15:00"
            mean = base_ctdivol + (0.5 if protocol == PROTOCOLS[1] else 0.0) if calcium else 14.0
            ctdivol = float(np.round(rng.normal(mean, 0.4 if calcium else 2.0), 3))
            dlp = float(np.round(ctdivol * rng.normal(16.0, 1.0), 2))
            if month == months[-3] and j == 1:  # a planted outlier
                dlp = round(dlp * 4.0, 2)
            msv = float(np.round(dlp * 0.026, 4))
            key = f"p-{rng.integers(1 << 62):016x}{len(out):04x}"
            check, statuses, verdict = None, {}, None
            if calcium and not is_qa and j != 2:  # one calcium score a month is left unchecked
                check, statuses = _checklist(rng, when, fail_rate)
                verdict = check.verdict
            record = StudyRecord(
                study_key=key, scanner=scanner, study_datetime=when, study_month=month, protocol=protocol,
                qa_protocol="cac-standard" if calcium and not is_qa else None, patient_key=f"p-patient{rng.integers(1 << 40):x}",
                accession_key=f"p-accession{rng.integers(1 << 40):x}", operator_key="p-operator0000000001",
                is_calcium_score=calcium, is_qa=is_qa, has_dose_report=True, dose_source="rdsr", ctdivol_mgy=ctdivol,
                dlp_total_mgycm=dlp, dose_msv=msv, k_msv_per_mgycm=0.026, k_source="protocol cac-standard", qa_version="0.test",
                document={"study_key": key}, exam_checks=(check,) if check else (), events=_events(key, ctdivol, dlp))
            store.save_study(record)
            out.append(Expected(scanner.station_name, key, when[:10], month, protocol, calcium, is_qa, ctdivol, dlp, msv, verdict,
                                statuses, 8 + j, int(dlp > ALERT_MGYCM), int(ctdivol > NOTIFICATION_MGY)))
    return out


@dataclass
class Fleet:
    db: str
    expected: list[Expected]
    scanner_ids: dict  # station name -> scanner id in the store
    last_verdict: dict  # station name -> the last phantom QA verdict
    patient_keys: list[str]


def build_fleet(tmp_path, phantom_days) -> Fleet:
    """The fleet store (see the module doc) in a SQLite file under ``tmp_path``."""
    from qa.store import Store
    from qa.workflows.baselines import set_baseline
    from qa.workflows.phantom import run_phantom_qa

    db = f"sqlite:///{tmp_path / 'fleet.sqlite'}"
    days, other = phantom_days
    runs = [run_phantom_qa([day], db=db, ring="none") for day in days[:5]]
    set_baseline(scanner="CT-A", from_last=5, db=db)
    runs.append(run_phantom_qa([days[5]], db=db, ring="none"))
    ct_b = run_phantom_qa([other], db=db, ring="none")
    store = Store(db)
    try:
        canon = result_variant(ct_b.result, uid="1.2.826.0.1.77.1", acquired="2026-03-19T07:45:00", scanner=CANON)
        store.save_phantom_run(canon, provenance_at("2026-03-19T08:00:00+00:00"))
        rng = np.random.default_rng(20260320)
        expected = []
        expected += save_studies(store, rng, runs[0].result.scanner, MONTHS, 3.0, 0.08)
        expected += save_studies(store, rng, ct_b.result.scanner, MONTHS[-4:], 4.5, 0.2)
        expected += save_studies(store, rng, CANON, MONTHS, 2.2, 0.03)
        expected += save_studies(store, rng, PHILIPS, MONTHS, 5.5, 0.12)
        ids = {s.station_name: s.id for s in store.scanners()}
        with store.engine.connect() as c:
            patients = [r[0] for r in c.exec_driver_sql("SELECT patient_key FROM studies").all()]
    finally:
        store.close()
    last = {"CT-A": runs[-1].result.verdict, "CT-B": ct_b.result.verdict, "CT-C": canon.verdict, "CT-D": None}
    return Fleet(db, expected, ids, last, patients)


def select(expected: list[Expected], *, station: str | None = None, first: str | None = None, last: str | None = None,
           protocol: str | None = None) -> list[Expected]:
    return [e for e in expected if (station is None or e.station == station) and (first is None or e.date >= first)
            and (last is None or e.date <= last) and (protocol is None or e.protocol == protocol)]


def medians(rows: list[Expected]) -> dict:
    """What the fleet table must show: numpy's medians over the calcium-score studies (QA studies left out)."""
    calcium = [e for e in rows if e.calcium and not e.qa]
    return {key: float(np.median([getattr(e, key) for e in calcium])) if calcium else None for key in ("ctdivol", "dlp", "msv")}


