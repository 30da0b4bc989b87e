"""When and where each study of a synthetic fleet happens, and who the patient is (pure).

Patient exams fall on working days (Monday to Friday) between 07:30 and 17:30, each scanner at
its own volume (:data:`qa.exam_synth.fleet.catalogue.VOLUME_WEIGHTS`), never more than
:data:`~qa.exam_synth.fleet.options.MAX_EXAMS_PER_SCANNER_DAY` a day; one phantom QA study per
scanner runs at 07:00 on the first working day of every week.  Every draw comes from the
``random.Random`` given, so one seed gives one schedule on every platform and Python version.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

from qa.exam_synth.fleet.catalogue import FAMILY_NAMES, GIVEN_NAMES, Scanner
from qa.exam_synth.fleet.options import (
    DAY_MINUTES,
    DAY_START,
    KIND_SHARES,
    MAX_EXAMS_PER_SCANNER_DAY,
    QA_TIME,
    RETURNING_SHARE,
    FleetOptions,
)
from qa.exam_synth.fleet.records import Patient


@dataclass(frozen=True)
class Slot:
    """A study's scanner and start, and its kind (``cac``, ``ccta``, ``chest`` or ``phantom_qa``)."""

    scanner: int
    start: dt.datetime
    kind: str


def quotas(n: int, shares: dict[str, float], rng: random.Random) -> list[str]:
    """``n`` labels in the given shares (rounded; the first label takes the rest), in random order."""
    labels: list[str] = []
    names = list(shares)
    for name in names[1:]:
        labels += [name] * int(round(shares[name] * n))
    labels = labels[:n]
    labels += [names[0]] * (n - len(labels))
    rng.shuffle(labels)
    return labels


def patient_slots(opts: FleetOptions, scanners: Sequence[Scanner], rng: random.Random) -> list[Slot]:
    """The patient studies: scanner, start and kind, in time order."""
    days = opts.working_days()
    k = len(scanners)
    weights = [s.volume_weight for s in scanners]
    owners = list(range(k)) + rng.choices(range(k), weights=weights, k=opts.exams - k)  # every scanner works
    load: dict[tuple[int, int], int] = {}
    for scanner in owners:
        day = rng.randrange(len(days))
        for step in range(len(days)):
            candidate = (day + step) % len(days)
            if load.get((scanner, candidate), 0) < MAX_EXAMS_PER_SCANNER_DAY:
                day = candidate
                break
        else:  # the options' capacity check leaves room; a scanner this full is a planning bug
            raise ValueError(f"scanner {scanner} has no working day left")
        load[(scanner, day)] = load.get((scanner, day), 0) + 1
    kinds = iter(quotas(opts.exams, KIND_SHARES, rng))
    slots = []
    for (scanner, day), count in sorted(load.items()):
        minute = rng.uniform(0.0, 10.0)
        for _ in range(count):
            start = dt.datetime.combine(days[day], DAY_START) + dt.timedelta(minutes=minute, seconds=rng.randrange(60))
            slots.append(Slot(scanner, start.replace(microsecond=0), ""))
            minute += min(rng.uniform(12.0, 30.0), (DAY_MINUTES - 10.0) / count)
    slots.sort(key=lambda s: (s.start, s.scanner))
    return [Slot(s.scanner, s.start, next(kinds)) for s in slots]


def qa_slots(opts: FleetOptions, scanners: Sequence[Scanner]) -> list[Slot]:
    """One phantom QA study per scanner on the first working day of every week, at 07:00."""
    out, week = [], None
    for day in opts.working_days():
        iso = day.isocalendar()[:2]
        if iso == week:
            continue
        week = iso
        for s in scanners:
            out.append(Slot(s.index, dt.datetime.combine(day, QA_TIME) + dt.timedelta(minutes=2 * s.index), "phantom_qa"))
    return out


class Patients:
    """New and returning patients (a returning one keeps his identifiers)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: list[Patient] = []
        self._ids: set[str] = set()

    def next(self, when: dt.datetime) -> Patient:
        rng = self._rng
        if self._seen and rng.random() < RETURNING_SHARE:
            return rng.choice(self._seen)
        while True:
            patient_id = f"MRN{rng.randrange(10_000_000, 100_000_000)}"
            if patient_id not in self._ids:
                break
        self._ids.add(patient_id)
        sex = rng.choice("FM")
        age_days = int(rng.uniform(38.0, 86.0) * 365.25)
        birth = when.date() - dt.timedelta(days=age_days)
        patient = Patient(patient_id, f"{rng.choice(FAMILY_NAMES)}^{rng.choice(GIVEN_NAMES)}", birth.strftime("%Y%m%d"), sex)
        self._seen.append(patient)
        return patient
