"""Plan a synthetic fleet: every study decided from the options and the seed, before a file is written.

:func:`plan_fleet` is pure: the same options and rules give the same plan (UIDs included: they
are hashes of the options and the study's number), on every platform.  It works in three steps:
drafts (when, where, who, how each scan is acquired), the planted dose anomalies (they need the
scanners' median DLP, known only once every study is drafted), and the records.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
from dataclasses import dataclass, field, replace

from qa.dicom.write import derived_uid
from qa.exam_synth.fleet.acquisitions import Technique, localizer, monitoring, scan
from qa.exam_synth.fleet.catalogue import REFERRERS, Scanner, ScannerModel, fleet_scanners
from qa.exam_synth.fleet.options import (
    ABOVE_LEVEL_FACTOR_RANGE,
    ANOMALY_SHARES,
    MIN_CAC_FOR_EVERY_ANOMALY,
    NO_REPORT_SHARE,
    OUTLIER_FACTOR_RANGE,
    RESEND_SHARE,
    FleetOptions,
)
from qa.exam_synth.fleet.records import FleetRules, Patient, PlannedEvent, PlannedExam, PlannedReport, PlannedSeries
from qa.exam_synth.fleet.schedule import Patients, Slot, patient_slots, qa_slots

# Dose at 100 kV relative to 120 kV for a calcium score or angiography (our proposal: about 0.6).
KV100_DOSE_FACTOR = 0.6
# A retrospectively gated low-pitch spiral gives about three times the dose of prospective triggering
# (our proposal, after PROTECTION III, Hausleiter et al., JAMA 2012: about 70 % less with prospective triggering).
RETROSPECTIVE_DOSE_FACTOR = 3.0
# Anomalies that change how a calcium score is acquired (at most one of them per exam) and the dose anomalies.
_PROTOCOL_ANOMALIES = ("wrong_kernel", "wrong_thickness", "low_kvp", "iterative_reconstruction", "retrospective_gating")
_DOSE_ANOMALIES = ("dose_outlier", "above_reference_level")


@dataclass(frozen=True)
class _Draft:
    number: int
    slot: Slot
    scanner: Scanner
    key: str
    patient: Patient
    planted: frozenset[str]
    drift: float
    report_mode: str  # none | single | resend
    main: Technique
    main_start: dt.datetime
    localizers: tuple[tuple[PlannedSeries, PlannedEvent], ...]
    monitoring: PlannedEvent | None = None
    extra_localizer: tuple[PlannedSeries, PlannedEvent] | None = None
    accession: str = ""
    operator: str = ""
    referrer: str = ""
    outlier: tuple[float, float] | None = field(default=None)  # (factor, the scanner's median DLP)

    @property
    def dlp_total(self) -> float:
        others = [e.dlp_mgycm for _, e in self.localizers] + [self.monitoring.dlp_mgycm if self.monitoring else 0.0]
        if self.extra_localizer is not None:
            others.append(self.extra_localizer[1].dlp_mgycm)
        return round(sum(others) + self.main.dlp_mgycm, 2)


def plan_fleet(options: FleetOptions, rules: FleetRules) -> tuple[PlannedExam, ...]:
    """Every study of the fleet (module doc), in time order."""
    opts = options.validated()
    seed = f"qa-fleet:{opts.seed}"
    scanners = fleet_scanners(opts.scanners)
    slots = patient_slots(opts, scanners, random.Random(f"{seed}:schedule")) + qa_slots(opts, scanners)
    slots.sort(key=lambda s: (s.start, s.scanner))
    choose = random.Random(f"{seed}:anomalies")
    planted = _anomalies([i for i, s in enumerate(slots) if s.kind == "cac"], choose)
    dosed = {i for i, names in planted.items() if set(names) & set(_DOSE_ANOMALIES)}
    modes = _report_modes([i for i, s in enumerate(slots) if s.kind != "phantom_qa"], dosed, choose)
    patients = Patients(random.Random(f"{seed}:patients"))
    drafts = []
    for i, slot in enumerate(slots):
        scanner = scanners[slot.scanner]
        patient = (Patient(f"QA-{scanner.station_name}", "QA^PHANTOM", "", "O") if slot.kind == "phantom_qa"
                   else patients.next(slot.start))
        drafts.append(_draft(i + 1, slot, scanner, opts, patient, frozenset(planted.get(i, ())), modes.get(i, "single"),
                             random.Random(f"{seed}:exam:{i + 1}")))
    drafts = _plant_doses(drafts, rules, random.Random(f"{seed}:doses"))
    return tuple(_exam(d) for d in drafts)


def _anomalies(cac: list[int], rng: random.Random) -> dict[int, list[str]]:
    """Which calcium scores get which planted deviation: each share of ANOMALY_SHARES (at least one
    when there are enough exams); one acquisition anomaly and one dose anomaly per exam at most."""
    out: dict[int, list[str]] = {}
    free = list(cac)
    rng.shuffle(free)
    for name in ("high_heart_rate",) + _PROTOCOL_ANOMALIES + _DOSE_ANOMALIES:
        count = int(round(ANOMALY_SHARES[name] * len(cac)))
        if len(cac) >= MIN_CAC_FOR_EVERY_ANOMALY:
            count = max(1, count)
        if name == "high_heart_rate":
            pool = rng.sample(cac, min(count, len(cac)))
        else:
            blocked = set(_PROTOCOL_ANOMALIES) if name in _PROTOCOL_ANOMALIES else set(_DOSE_ANOMALIES) | {"retrospective_gating", "low_kvp"}
            pool = [i for i in free if not blocked & set(out.get(i, ()))][:count]
        for i in pool:
            out.setdefault(i, []).append(name)
    return out


def _report_modes(patient_studies: list[int], dosed: set[int], rng: random.Random) -> dict[int, str]:
    """Studies without a dose report (never one with a planted dose anomaly) and with a cumulative re-send."""
    n = len(patient_studies)
    enough = n >= 10
    none = max(int(enough), int(round(NO_REPORT_SHARE * n)))
    resend = max(int(enough), int(round(RESEND_SHARE * n)))
    order = list(patient_studies)
    rng.shuffle(order)
    modes = {}
    for i in [i for i in order if i not in dosed][:none]:
        modes[i] = "none"
    for i in [i for i in order if i not in modes][:resend]:
        modes[i] = "resend"
    return modes


def _draft(number: int, slot: Slot, scanner: Scanner, opts: FleetOptions, patient: Patient, planted: frozenset[str],
           report_mode: str, rng: random.Random) -> _Draft:
    model = scanner.model
    qa = slot.kind == "phantom_qa"
    drift = opts.drift_factor(slot.start) if scanner.drifts and not qa else 1.0
    # the seed of the study's UIDs: the options that shape the fleet too, so that two different fleets never share a UID
    key = f"qa-fleet:{opts.seed}:{opts.exams}x{opts.scanners}x{opts.months}@{opts.start}:{number}"
    region = {"cac": "heart", "ccta": "heart", "chest": "chest"}.get(slot.kind)
    z_top = {"chest": 30.0, "phantom_qa": 30.0}.get(slot.kind, round(rng.uniform(-80.0, -40.0), 1))
    names = model.localizers[:1] if slot.kind in ("chest", "phantom_qa") else model.localizers
    localizers = []
    for n, name in enumerate(names):
        localizers.append(localizer(model, name, slot.start + dt.timedelta(seconds=40 * n), rng, uid=derived_uid(key, "event", n),
                                    event=n, folder=f"LOC{n + 1}", series_number=n + 1, region=region, z_top_mm=z_top))
    main_start = slot.start + dt.timedelta(seconds=rng.randrange(180, 360))
    technique = {"cac": _calcium_score, "ccta": _angiography, "chest": _chest, "phantom_qa": _phantom}[slot.kind]
    main = replace(technique(model, planted, drift, rng), region=region, z_top_mm=z_top)
    watch = monitoring(model, main_start - dt.timedelta(seconds=30), rng, uid=derived_uid(key, "event", "monitoring")) \
        if slot.kind == "ccta" else None
    extra = None
    if report_mode == "resend":  # the study reopened after the first report: one more localizer
        when = main_start + dt.timedelta(seconds=rng.randrange(240, 720))
        n = len(localizers)
        extra = localizer(model, model.localizers[0], when, rng, uid=derived_uid(key, "event", "extra"), event=0,
                          folder=f"LOC{n + 1}", series_number=90 + n, region=region, z_top_mm=z_top)
    return _Draft(
        number=number, slot=slot, scanner=scanner, key=key, patient=patient, planted=planted, drift=round(drift, 4),
        report_mode="single" if qa else report_mode, main=main, main_start=main_start, localizers=tuple(localizers),
        monitoring=watch, extra_localizer=extra,
        accession=f"{'QA' if qa else 'A'}{slot.start:%y%m}{number:06d}", operator=rng.choice(scanner.technologists),
        referrer="" if qa else rng.choice(REFERRERS))


def _size(rng: random.Random) -> float:
    """The patient-size factor of a dose (log-normal, SD 0.22; our proposal), kept within 0.6-1.8."""
    return min(1.8, max(0.6, math.exp(rng.gauss(0.0, 0.22))))


def _calcium_score(model: ScannerModel, planted: frozenset[str], drift: float, rng: random.Random) -> Technique:
    retro, low_kvp = "retrospective_gating" in planted, "low_kvp" in planted
    hr = rng.randint(71, 95) if "high_heart_rate" in planted else int(min(69, max(45, round(rng.gauss(60.0, 6.0)))))
    thickness = model.thin_mm if "wrong_thickness" in planted else model.cac_thickness_mm
    kernel = model.wrong_kernel if "wrong_kernel" in planted else model.cac_kernel
    iterative = "iterative_reconstruction" in planted
    ctdivol = model.cac_ctdivol_mgy * _size(rng) * drift * (KV100_DOSE_FACTOR if low_kvp else 1.0) * (RETROSPECTIVE_DOSE_FACTOR if retro else 1.0)
    return Technique(
        role="calcium_score", protocol=model.cac_protocol, description=model.cac_description.format(t=thickness, k=kernel),
        folder="CACS", acquisition_type="spiral" if retro else "sequenced", kvp=100.0 if low_kvp else 120.0,
        ctdivol_mgy=round(ctdivol, 2), thickness_mm=thickness, n_images=max(2, int(round(rng.uniform(96.0, 144.0) / thickness))),
        kernel=f"{kernel}\\3" if iterative and model.vendor == "siemens" else kernel, fov_mm=float(rng.randrange(200, 260, 10)),
        collimation_mm=min(model.collimation_mm, 80.0) if retro else model.collimation_mm,
        gating="retrospective" if retro else "prospective", pitch=round(rng.uniform(0.18, 0.3), 2) if retro else None,
        heart_rate_bpm=float(hr), phase_pct=75.0 if retro else float(rng.choice((70, 72, 75, 78))), iterative=iterative)


def _angiography(model: ScannerModel, planted: frozenset[str], drift: float, rng: random.Random) -> Technique:
    kvp = 100.0 if rng.random() < 0.6 else 120.0
    return Technique(
        role="cta", protocol="Coronary CTA", description=f"Coronary CTA 2.0 {model.cta_kernel} 75%", folder="CTA",
        acquisition_type="sequenced", kvp=kvp, ctdivol_mgy=round(model.cac_ctdivol_mgy * rng.uniform(5.0, 9.0) * drift, 2),
        thickness_mm=2.0, n_images=int(round(rng.uniform(110.0, 150.0) / 2.0)), kernel=model.cta_kernel,
        fov_mm=float(rng.randrange(190, 230, 10)), collimation_mm=model.collimation_mm, gating="prospective",
        heart_rate_bpm=float(int(min(68, max(48, round(rng.gauss(59.0, 4.0)))))), phase_pct=75.0)


def _chest(model: ScannerModel, planted: frozenset[str], drift: float, rng: random.Random) -> Technique:
    return Technique(
        role="chest", protocol="Thorax", description=f"Thorax 5.0 {model.chest_kernel}", folder="CHEST", acquisition_type="spiral",
        kvp=120.0 if rng.random() < 0.7 else 100.0, ctdivol_mgy=round(rng.uniform(3.0, 8.0) * drift, 2), thickness_mm=5.0,
        n_images=int(round(rng.uniform(280.0, 340.0) / 5.0)), kernel=model.chest_kernel, fov_mm=float(rng.randrange(340, 410, 10)),
        collimation_mm=min(model.collimation_mm, 40.0), gating="none", pitch=round(rng.uniform(0.9, 1.2), 2))


def _phantom(model: ScannerModel, planted: frozenset[str], drift: float, rng: random.Random) -> Technique:
    """The weekly phantom QA scan: a fixed protocol (fixed mAs: the patient dose drift does not show here)."""
    return Technique(
        role="phantom", protocol="QA Phantom", description=f"QA QRM-CCI {model.cac_thickness_mm:g} {model.cac_kernel}",
        folder="QA", acquisition_type="sequenced", kvp=120.0, ctdivol_mgy=round(model.cac_ctdivol_mgy * 1.5, 2),
        thickness_mm=model.cac_thickness_mm, n_images=int(round(60.0 / model.cac_thickness_mm)), kernel=model.cac_kernel,
        fov_mm=250.0, collimation_mm=model.collimation_mm, gating="none")


def _plant_doses(drafts: list[_Draft], rules: FleetRules, rng: random.Random) -> list[_Draft]:
    """Dose outliers (DLP 3-5 x the median of their scanner's calcium scores) and calcium scores
    just above the reference level's CTDIvol (or DLP, when the level gives no CTDIvol)."""
    medians = {}
    for scanner in {d.scanner.index for d in drafts}:
        dlps = [d.dlp_total for d in drafts if d.scanner.index == scanner and d.slot.kind == "cac"
                and not d.planted & set(_DOSE_ANOMALIES)]
        medians[scanner] = statistics.median(dlps) if dlps else None
    out = []
    level = rules.cac_level
    for d in drafts:
        if "dose_outlier" in d.planted and medians[d.scanner.index]:
            median = medians[d.scanner.index]
            factor = rng.uniform(*OUTLIER_FACTOR_RANGE)
            scan_dlp = factor * median - (d.dlp_total - d.main.dlp_mgycm)
            d = replace(d, main=replace(d.main, ctdivol_mgy=round(scan_dlp / (d.main.irradiated_mm / 10.0), 2)))
            d = replace(d, outlier=(round(d.dlp_total / median, 3), round(median, 2)))
        elif "above_reference_level" in d.planted:
            factor = rng.uniform(*ABOVE_LEVEL_FACTOR_RANGE)
            if level.ctdivol_mgy is not None:
                ctdivol = factor * level.ctdivol_mgy
            else:
                ctdivol = factor * (level.dlp_mgycm or 200.0) / (d.main.irradiated_mm / 10.0)
            d = replace(d, main=replace(d.main, ctdivol_mgy=round(ctdivol, 2)))
        out.append(d)
    return out


def _exam(d: _Draft) -> PlannedExam:
    """The records of one drafted study: events in acquisition order, series, dose reports."""
    model = d.scanner.model
    events: list[PlannedEvent] = [e for _, e in d.localizers]
    series: list[PlannedSeries] = [s for s, _ in d.localizers]
    if d.monitoring is not None:
        events.append(d.monitoring)
    main_series, main_event = scan(d.main, model, d.main_start, uid=derived_uid(d.key, "event", "main"), event=len(events),
                                   series_number=len(d.localizers) + 1, cardiac_style=model.cardiac_style)
    events.append(main_event)
    series.append(main_series)
    if d.extra_localizer is not None:
        extra_series, extra_event = d.extra_localizer
        series.append(replace(extra_series, event=len(events)))
        events.append(extra_event)
    reports = []
    if d.report_mode != "none":
        first = len(events) - (1 if d.extra_localizer is not None else 0)
        cuts = [first, len(events)] if d.extra_localizer is not None else [len(events)]
        for n, cut in enumerate(cuts, 1):
            last = dt.datetime.fromisoformat(events[cut - 1].start)
            reports.append(PlannedReport(f"SR/DOSE{n}.dcm", derived_uid(d.key, "report", n), tuple(range(cut)),
                                         round(sum(e.dlp_mgycm for e in events[:cut]), 2),
                                         (last + dt.timedelta(seconds=90)).isoformat()))
    planted = set(d.planted) | ({"dose_drift"} if d.drift > 1.0 else set())
    return PlannedExam(
        number=d.number, folder=f"exams/{d.scanner.station_name}/{d.slot.start:%Y-%m}/{d.number:05d}", kind=d.slot.kind,
        scanner=d.scanner.index, start=d.slot.start.isoformat(), patient=d.patient, accession_number=d.accession,
        operators_name=d.operator, referring_physician_name=d.referrer, study_instance_uid=derived_uid(d.key, "study"), key=d.key,
        series=tuple(series), events=tuple(events), reports=tuple(reports), planted=tuple(sorted(planted)), drift_factor=d.drift,
        outlier_factor=d.outlier[0] if d.outlier else None, group_median_dlp_mgycm=d.outlier[1] if d.outlier else None)
