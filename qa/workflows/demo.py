"""``qa demo``: every workflow on synthetic data, in a folder of its own.

Two weeks of daily phantom QA on two synthetic scanners (one of which drifts), stored in a SQLite
file inside the demo folder (never the user's own database), baselines set after the first week,
control charts, an HTML report per scanner (and its PDF when :mod:`qa.report.pdf` finds its engine;
``DemoResult.pdf_note`` says why not otherwise); ``qa score`` on one series; ``qa check`` on a
synthetic calcium-score exam with its ECG (a premature beat hits one stack).  The failures the
demo plants are results to show, not errors: the demo succeeds when every workflow ran.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.records.serialize import Record
from qa.workflows.exam import ExamCheckRun, check_exam_files
from qa.workflows.exam_files import load_exam
from qa.workflows.motion import MotionRun
from qa.workflows.owned_folder import OwnedFolder
from qa.workflows.phantom import PhantomRun, run_phantom_qa
from qa.workflows.score import ScoreRun, score_series
from qa.workflows.synth import SynthOptions, synthesize_phantom

DAYS = 14
BASELINE_AFTER_DAYS = 7
DRIFT_PER_DAY = 0.015  # the drifting scanner's calcium contrast grows 1.5 % a day after the baseline
# The daily phantom QA runs on the first two scanners of the manager's fleet (qa.exam_synth.fleet.catalogue:
# the same manufacturer, model, serial number and station), so the dashboard shows a scanner's studies and
# its phantom QA together (issue 13).  The phantom writer's vendors write the fleet's first two models.
SCANNERS = (
    {"station_name": "CT1-CARDIO", "device_serial_number": "71000", "vendor": "siemens", "drifts": False},
    {"station_name": "CT2-MAIN", "device_serial_number": "GE072237", "vendor": "ge", "drifts": True},
)
DEMO_HEART_RATE_BPM = 78.0  # above the protocols' 70 bpm: the checklist warns
_WRITTEN = ("daily-qa", "exam", "exam-ecg.csv", "exam-ecg-strip.png", "breath-hold", "breath-hold-motion.png", "qa-demo.sqlite",
            ".qa-demo", ".qa-demo-files", "fleet", "dashboard")
# The manager's year: header-only exams with dose reports on three scanners (qa synth exams), ingested
# into the demo's database, then the dashboard of the year ending with the demo's last day.
FLEET_EXAMS = 150
FLEET_SCANNERS = 3
FLEET_MONTHS = 12
# The breath-hold exam: the breath is let go after the second stack, and the anatomy of stacks 2-3
# lies 4 mm more anterior than that of stacks 0-1 (more than the 3 mm slice: the boundary fails).
BREATH_RELEASED_AT_S = 2.5
BREATH_SHIFT_AP_MM = -4.0
# Every file a finished demo wrote, one relative path a line: the next demo deletes only these.
MANIFEST = ".qa-demo-files"


@dataclass(frozen=True)
class DemoDay(Record):
    date: str
    station: str
    event: str  # the verdict, or "baseline vN set"
    mass_800_5mm_mg: float | None
    issues: tuple[str, ...]  # checks that warned or failed
    flags: tuple[str, ...]  # control-chart flags of this run


@dataclass(frozen=True, eq=False)
class DemoResult(Record):
    out_dir: str
    database: str
    days: tuple[DemoDay, ...]
    flagged_on: dict[str, int]  # station -> day of the first control-chart flag before any failure
    first_failure: dict[str, str]  # station -> date of its first failed run
    reports: tuple[str, ...]
    ecg: str
    strip: str
    scored_series: str
    last_runs: dict[str, PhantomRun] = field(repr=False, metadata={"json": False})
    score: ScoreRun | None = field(default=None, repr=False, metadata={"json": False})
    exam: ExamCheckRun | None = field(default=None, repr=False, metadata={"json": False})
    motion: MotionRun | None = field(default=None, repr=False, metadata={"json": False})
    fleet: object = field(default=None, repr=False, metadata={"json": False})  # qa.workflows.synth.FleetResult
    ingested: object = field(default=None, repr=False, metadata={"json": False})  # qa.workflows.ingest.IngestRun
    dashboard: object = field(default=None, repr=False, metadata={"json": False})  # qa.workflows.dashboard.Dashboard
    # commands to try next on what the demo wrote, each as the words after "qa" (the command line adds how
    # qa was run); none writes into the demo folder, so the next demo can still clear it
    try_next: tuple[tuple[str, ...], ...] = ()
    # the PDF reports printed beside the HTML ones, and why none were (no Playwright or no Chromium) or which failed
    pdfs: tuple[str, ...] = ()
    pdf_note: str | None = None


def run_demo(out_dir: str | Path = "qa-demo", *, progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Run every workflow on synthetic data in ``out_dir`` (module doc)."""
    from qa.workflows.baselines import set_baseline
    from qa.workflows.charts import scanner_control_charts

    out = Path(out_dir)
    prepare_demo_folder(out)
    db_path = out / "qa-demo.sqlite"
    db = f"sqlite:///{db_path.resolve()}"
    start = dt.datetime(2026, 3, 2, 7, 30)
    days: list[DemoDay] = []
    flagged_on: dict[str, int] = {}
    first_failure: dict[str, str] = {}
    last: dict[str, PhantomRun] = {}
    total = DAYS * len(SCANNERS) + 6
    done = 0
    from qa.report.pdf import pdf_engine_if_any

    engine, pdf_note = pdf_engine_if_any()
    for day in range(1, DAYS + 1):
        when = start + dt.timedelta(days=day - 1)
        for n, scanner in enumerate(SCANNERS):
            name = scanner["station_name"]
            drift = 1.0 + (DRIFT_PER_DAY * (day - BASELINE_AFTER_DAYS) if scanner["drifts"] and day > BASELINE_AFTER_DAYS else 0.0)
            opts = SynthOptions(
                vendor=scanner["vendor"], station_name=name, device_serial_number=scanner["device_serial_number"],
                thickness_mm=2.5 if scanner["vendor"] == "ge" else 3.0, z_start_mm=-12.0, z_end_mm=45.0,
                noise_hu=12.0, seed=1000 * n + day, acquisition_datetime=when.isoformat(),
                rotation_deg=(day * 7.0) % 4 - 2.0, shift_mm=((day % 5) - 2.0, (day % 3) - 1.0),  # daily repositioning
                calcification_scale=drift, scout=True, shuffle=True,
            )
            folder = out / "daily-qa" / name / when.strftime("%Y-%m-%d")
            synthesize_phantom(folder, opts)
            report = out / f"report-{name}.html" if day == DAYS else None
            pdf = out / f"report-{name}.pdf" if day == DAYS and engine is not None else None
            run = run_phantom_qa([folder], ring="none", db=db, report=report, pdf=pdf)
            flags = _flags(scanner_control_charts(scanner=name, db=db), run) if day > BASELINE_AFTER_DAYS else ()
            result = run.result
            if result.verdict == "fail":
                first_failure.setdefault(name, when.strftime("%Y-%m-%d"))
            elif flags and name not in flagged_on and name not in first_failure:
                flagged_on[name] = day
            days.append(DemoDay(when.strftime("%Y-%m-%d"), name, result.verdict.upper(), result.metrics.get("mass_800_5mm"),
                                tuple(c.id for c in result.checks if c.status in ("warn", "fail")), flags))
            last[name] = run
            done += 1
            if progress:
                progress(done, total)
        if day == BASELINE_AFTER_DAYS:
            for scanner in SCANNERS:
                change = set_baseline(scanner=scanner["station_name"], from_last=BASELINE_AFTER_DAYS, db=db,
                                      reason=f"qa demo: the first {BASELINE_AFTER_DAYS} days")
                days.append(DemoDay(when.strftime("%Y-%m-%d"), scanner["station_name"], f"baseline v{change.version} set", None, (), ()))
    reports = [str(last[s["station_name"]].report) for s in SCANNERS]
    pdfs = [str(last[s["station_name"]].pdf) for s in SCANNERS if last[s["station_name"]].pdf]
    if engine is not None and len(pdfs) < len(SCANNERS):  # the engine is there but printing failed: say why
        pdf_note = "; ".join(w for s in SCANNERS for w in last[s["station_name"]].warnings if ".pdf" in w) or "a PDF was not printed"

    first = sorted((out / "daily-qa" / SCANNERS[0]["station_name"]).iterdir())[0]
    score = score_series(first)
    done += 1
    if progress:
        progress(done, total)

    exam_dir, ecg_path, strip_path = out / "exam", out / "exam-ecg.csv", out / "exam-ecg-strip.png"
    _synthesize_exam(exam_dir)
    exam, _ = load_exam([exam_dir])
    _write_exam_ecg(exam, ecg_path)
    checked = check_exam_files([exam_dir], ecg=ecg_path, plot=strip_path)
    motion = _breath_hold_exam(out / "breath-hold", out / "breath-hold-motion.png")
    fleet, ingested, dashboard = _managers_year(out, db, start + dt.timedelta(days=DAYS), progress, done + 3, total)
    _write_manifest(out)
    if progress:
        progress(total, total)
    return DemoResult(str(out), str(db_path), tuple(days), flagged_on, first_failure, tuple(reports), str(ecg_path), str(strip_path),
                      str(first), last, score, checked, motion, fleet, ingested, dashboard,
                      try_next=_try_next(out, db, first, exam_dir, ecg_path, fleet), pdfs=tuple(pdfs), pdf_note=pdf_note)


def _try_next(out: Path, db: str, scored: Path, exam_dir: Path, ecg_path: Path, fleet) -> tuple[tuple[str, ...], ...]:
    """The commands a user can run next on the demo's files and database (read-only: nothing is
    written into the demo folder)."""
    drifting = SCANNERS[1]["station_name"]
    commands = [
        ("trend", "--db", db, "--scanner", drifting),
        ("baseline", "show", "--db", db, "--scanner", drifting),
        ("score", str(scored)),
        ("check", str(exam_dir), "--ecg", str(ecg_path)),
        ("gating", "--ecg", str(ecg_path), "--series", str(exam_dir)),
        ("motion", str(out / "breath-hold"), "--ecg", str(out / "breath-hold" / "ecg.csv")),
    ]
    cac = _first_calcium_score(fleet) if fleet is not None else None
    if cac is not None:
        commands += [("check", str(out / "fleet" / cac)), ("dose", str(out / "fleet" / cac))]
    commands += [("trends", "dose", "--db", db, "--by", "scanner,month"), ("trends", "compliance", "--db", db, "--by", "scanner")]
    return tuple(commands)


def _first_calcium_score(fleet) -> str | None:
    """The folder (relative to the fleet's) of the fleet's first calcium-score study, from its truth.csv."""
    import csv

    with open(fleet.truth_csv, newline="", encoding="utf-8") as f:
        return next((row["folder"] for row in csv.DictReader(f) if row.get("kind") == "cac"), None)


def _managers_year(out: Path, db: str, end: dt.datetime, progress, done: int, total: int):
    """A year of exams on three scanners (qa synth exams) ingested into the demo's database (qa
    ingest), and the dashboard of the year ending on the demo's last day (qa dashboard): the daily
    phantom QA above shows there too."""
    from qa.workflows.dashboard import build_dashboard
    from qa.workflows.ingest import ingest
    from qa.workflows.synth import FleetOptions, synthesize_exams

    first = (end.year * 12 + end.month - 1) - (FLEET_MONTHS - 1)
    fleet = synthesize_exams(out / "fleet", FleetOptions(exams=FLEET_EXAMS, scanners=FLEET_SCANNERS, months=FLEET_MONTHS, seed=5,
                                                         start=f"{first // 12:04d}-{first % 12 + 1:02d}"))
    if progress:
        progress(done + 1, total)
    ingested = ingest([out / "fleet"], db=db, workers=2)
    if progress:
        progress(done + 2, total)
    dashboard = build_dashboard(out=out / "dashboard", db=db, months=FLEET_MONTHS, now=end.astimezone())
    return fleet, ingested, dashboard


def _breath_hold_exam(folder: Path, plot: Path) -> MotionRun:
    """A calcium-score exam whose breath is released mid-scan (qa synth exam), then qa motion on it
    with its ECG's breathing channel: the stack boundary after the release fails."""
    from qa.workflows.motion import analyse_series_motion
    from qa.workflows.synth import ExamSynthOptions, synthesize_exam

    shifts = tuple((k, 0.0, BREATH_SHIFT_AP_MM, 0.0) for k in (2, 3))
    synthesize_exam(folder, ExamSynthOptions(seed=7, matrix=256, pixel_mm=1.0, noise_hu=15.0, shifts_mm=shifts, ecg=True,
                                             resp=f"released-at-{BREATH_RELEASED_AT_S:g}",
                                             station_name=SCANNERS[0]["station_name"],
                                             device_serial_number=SCANNERS[0]["device_serial_number"]))
    return analyse_series_motion(folder, ecg=folder / "ecg.csv", plot=plot)


def _flags(charts, run: PhantomRun) -> tuple[str, ...]:
    """The control-chart flags of ``run`` on the mass charts (the run must be among the charted ones)."""
    from qa.phantom.metrics import mass_metrics

    flags = []
    for metric in mass_metrics(charts.metrics):
        chart = charts.metrics.get(metric)
        if chart is None or chart.baseline is None or not chart.runs:
            continue
        newest = chart.runs[-1]
        if run.stored is not None and newest.run_id == run.stored.run_id and newest.flags:
            flags.append(f"{metric} ({'/'.join(newest.flags)})")
    return tuple(sorted(flags))


def _synthesize_exam(exam_dir: Path) -> None:
    """A calcium-score exam (a scout, the 3 mm series, a thin reconstruction) at 78 bpm."""
    common = dict(vendor="siemens", matrix=256, pixel_mm=0.8, z_start_mm=-30.0, z_end_mm=72.0, noise_hu=12.0,
                  heart_rate_bpm=DEMO_HEART_RATE_BPM, station_name=SCANNERS[0]["station_name"],
                  device_serial_number=SCANNERS[0]["device_serial_number"], study_key="demo-exam")
    synthesize_phantom(exam_dir / "cascore", SynthOptions(**common, series_description="CaScore 3.0 Qr36", scout=True, seed=11))
    synthesize_phantom(exam_dir / "thin", SynthOptions(**{**common, "z_start_mm": -6.0, "z_end_mm": 6.0}, thickness_mm=1.0,
                                                       series_number=4, series_description="CaScore 1.0 Qr36", seed=12))


def _write_exam_ecg(exam, ecg_path: Path) -> None:
    """The exam's ECG (clocks synchronised, 78 bpm) with a premature ventricular beat hitting stack 2."""
    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv

    h = exam.headers
    stacks = [s for s in h.stacks if s.acquisition_time]
    first = dt.datetime.fromisoformat(stacks[0].acquisition_time)
    rr_s = 60.0 / DEMO_HEART_RATE_BPM
    # the synthesiser centres each stack's exposure (from its acquisition time on) on 70 % of the RR
    first_r = first - dt.timedelta(seconds=0.70 * rr_s - h.exposure_time_ms / 2000.0)
    lead_in_s = 5.0
    trace_start = first_r - dt.timedelta(seconds=lead_in_s)  # an R-peak lead_in_s into the trace
    duration_s = lead_in_s + 2.0 * rr_s * len(stacks) + 3.0
    r_first = lead_in_s % rr_s
    beats_to_stack2 = int(round((lead_in_s - r_first) / rr_s)) + 2  # the beat that triggers the second stack
    r = beat_times(duration_s, DEMO_HEART_RATE_BPM, first_s=r_first, premature_at={beats_to_stack2 + 1: 0.6})
    t, ecg = synthesize_ecg(r, duration_s=duration_s, ventricular={beats_to_stack2 + 1}, seed=3)
    write_ecg_csv(ecg_path, t, ecg, start_time=trace_start, fs_hz=500.0)


def _demo_wrote(name: str) -> bool:
    return (name in _WRITTEN or (name.startswith("report-") and name.endswith((".html", ".pdf"))) or _journal(name))


def _journal(name: str) -> bool:
    return name.startswith("qa-demo.sqlite-") and name[len("qa-demo.sqlite-"):] in ("journal", "wal", "shm")


# The demo's folder: marked by .qa-demo, its files listed in MANIFEST (qa.workflows.owned_folder).
DEMO_FOLDER = OwnedFolder(command="qa demo", marker=".qa-demo", manifest=MANIFEST, option="--out", writes=_demo_wrote,
                          unlisted=_journal)
MARKER_TEXT = DEMO_FOLDER.marker_text


def prepare_demo_folder(out_dir: Path) -> None:
    """An empty demo folder; a previous demo's folder (marked by ``.qa-demo``) is emptied, when it
    holds only what a demo writes (:class:`qa.workflows.owned_folder.OwnedFolder`)."""
    DEMO_FOLDER.prepare(out_dir)


def _write_manifest(out: Path) -> None:
    """List every file the demo wrote (module constant MANIFEST), for the next demo's check."""
    DEMO_FOLDER.write_manifest(out)
