"""What ``qa synth exams`` is asked for (checked before anything is written), the planted
anomalies' rates and the working calendar the exams are spread over."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from qa.errors import UsageError
from qa.records.serialize import Record

# Limits of the options (our proposal): a department of up to 12 scanners over up to 10 years.
MAX_SCANNERS = 12
MAX_MONTHS = 120
MAX_EXAMS = 500_000
# A scanner does at most 40 patient exams in a working day (CT room time is at least ~10 minutes
# an exam; our proposal); the fleet is planned at no more than half of that on average, because
# volumes differ between scanners (a busy scanner does twice the average).
MAX_EXAMS_PER_SCANNER_DAY = 40
MAX_MEAN_EXAMS_PER_SCANNER_DAY = MAX_EXAMS_PER_SCANNER_DAY // 2
# Patient exams start at 07:30 and end by 17:30 (a 10-hour working day; our proposal); the weekly
# phantom QA runs before them, on the first working day of each week.
DAY_START = dt.time(7, 30)
DAY_MINUTES = 600
QA_TIME = dt.time(7, 0)

# The mix of patient studies (our proposal for a cardiac CT service): mostly calcium scores, some
# coronary CT angiographies and chest CTs, so that per-protocol grouping has something to group.
KIND_SHARES = {"cac": 0.86, "ccta": 0.08, "chest": 0.06}
# Planted deviations of calcium-score exams, as shares of them (our proposal; each is planted at
# least once when there are at least MIN_CAC_FOR_EVERY_ANOMALY calcium scores):
ANOMALY_SHARES = {
    "high_heart_rate": 0.12,        # 71-95 bpm: the protocols warn above 70 bpm
    "wrong_kernel": 0.025,          # a sharp or angiography kernel instead of the calcium kernel
    "wrong_thickness": 0.02,        # thin slices (1-1.5 mm) instead of the protocol's 2.5-3 mm
    "low_kvp": 0.015,               # 100 kV: Agatston scoring is defined at 120 kV
    "iterative_reconstruction": 0.03,
    "retrospective_gating": 0.03,   # a low-pitch spiral (about 3-4 x the dose of a prospective scan)
    "dose_outlier": 0.01,           # DLP 3-5 x the scanner's median calcium-score DLP
    "above_reference_level": 0.01,  # CTDIvol just above the calcium-score reference level
}
MIN_CAC_FOR_EVERY_ANOMALY = 12
# Dose reports: some studies reach the archive without one (headers only), some twice (a cumulative
# re-send repeating the first report's events and adding the later ones).  Our proposal.
NO_REPORT_SHARE = 0.08
RESEND_SHARE = 0.05
# Returning patients (a patient ID seen before).
RETURNING_SHARE = 0.04
# The planted dose drift: the first scanner's patient CTDIvol rises by DRIFT_PCT_PER_MONTH % a month
# (linearly) from the start of month DRIFT_START (0 = the first month): months // 3 (our proposal,
# after a few months of stable history; an AEC or reference-mAs creep, so the fixed-mAs phantom QA
# scans do not drift).
DRIFT_PCT_PER_MONTH = 6.0
OUTLIER_FACTOR_RANGE = (3.0, 5.0)
ABOVE_LEVEL_FACTOR_RANGE = (1.05, 1.35)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class FleetOptions(Record):
    """A synthetic fleet: ``exams`` patient studies on ``scanners`` scanners over ``months`` months
    from ``start`` (YYYY-MM), planned from ``seed``; plus one phantom QA study per scanner a week."""

    exams: int = 200
    scanners: int = 4
    months: int = 12
    seed: int = 0
    start: str = "2025-01"

    def validated(self) -> FleetOptions:
        errors = []
        for name in ("exams", "scanners", "months", "seed"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int):
                errors.append(f"{name} must be a whole number")
        if errors:
            raise UsageError("invalid fleet options: " + "; ".join(errors), hint="see qa synth exams --help")
        if not 1 <= self.scanners <= MAX_SCANNERS:
            errors.append(f"scanners must be between 1 and {MAX_SCANNERS}")
        if not 1 <= self.months <= MAX_MONTHS:
            errors.append(f"months must be between 1 and {MAX_MONTHS}")
        if not 1 <= self.exams <= MAX_EXAMS:
            errors.append(f"exams must be between 1 and {MAX_EXAMS}")
        if self.seed < 0:
            errors.append("seed must be 0 or more")
        match = _MONTH.match(self.start)
        if match is None or not 1 <= int(match.group(2)) <= 12 or not 1970 <= int(match.group(1)) <= 9000:
            errors.append(f"start {self.start!r} is not a month YYYY-MM between 1970-01 and 9000-12")
        if not errors and self.exams < self.scanners:
            errors.append(f"{self.exams} exams cannot keep {self.scanners} scanners busy: give at least one exam per scanner")
        if not errors:
            days = len(self.working_days())
            capacity = MAX_MEAN_EXAMS_PER_SCANNER_DAY * days * self.scanners
            if self.exams > capacity:
                errors.append(f"{self.exams} exams in {self.months} month(s) ({days} working days) on {self.scanners} scanner(s) "
                              f"is more than {MAX_MEAN_EXAMS_PER_SCANNER_DAY} a scanner a working day on average: at most {capacity}")
        if errors:
            raise UsageError("invalid fleet options: " + "; ".join(errors), hint="see qa synth exams --help")
        return self

    @property
    def first_day(self) -> dt.date:
        year, month = (int(v) for v in self.start.split("-"))
        return dt.date(year, month, 1)

    def month_start(self, k: int) -> dt.date:
        """The first day of month ``k`` (0 = the start month; ``months`` = the day after the last)."""
        first = self.first_day
        index = first.year * 12 + first.month - 1 + k
        return dt.date(index // 12, index % 12 + 1, 1)

    def working_days(self) -> list[dt.date]:
        """Monday to Friday from the start month to the end of the last month."""
        day, end, out = self.first_day, self.month_start(self.months), []
        while day < end:
            if day.weekday() < 5:
                out.append(day)
            day += dt.timedelta(days=1)
        return out

    @property
    def drift_start_month(self) -> int:
        return self.months // 3

    def months_into_drift(self, when: dt.datetime) -> float:
        """Months (fractional, 30.44-day months) from the drift's start to ``when``; 0 before it."""
        start = dt.datetime.combine(self.month_start(self.drift_start_month), dt.time())
        return max(0.0, (when - start).total_seconds() / 86400.0 / 30.44)

    def drift_factor(self, when: dt.datetime) -> float:
        return 1.0 + DRIFT_PCT_PER_MONTH / 100.0 * self.months_into_drift(when)
