"""``qa demo``: everything on synthetic data, in a folder of its own.

Two weeks of daily phantom QA on two synthetic scanners (one of which drifts), stored in a
SQLite file inside the demo folder (never the user's own database), with baselines set after
five days, control charts, and an HTML report per scanner; plus ``qa score`` on one series.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import textwrap
from pathlib import Path

from qa.cli.common import EXIT_OK, HelpFormatter, table
from qa.cli.score import print_score

DAYS = 14
BASELINE_AFTER_DAYS = 7
DRIFT_PER_DAY = 0.015  # the drifting scanner's calcium contrast grows 1.5 % a day after the baseline
SCANNERS = (
    {"station_name": "CT-NORTH", "device_serial_number": "SYN1001", "vendor": "siemens", "drifts": False},
    {"station_name": "CT-SOUTH", "device_serial_number": "SYN2002", "vendor": "ge", "drifts": True},
)


def cmd_demo(args: argparse.Namespace) -> int:
    from qa.calcium.scoring import score_volume, scoring_settings
    from qa.cli.phantom import print_phantom, run_phantom
    from qa.dicom.series import load_volume, scan_inputs, select_series
    from qa.phantom.analysis import baseline_from_results, configuration_key
    from qa.phantom.synth import SynthOptions, synthesize_phantom
    from qa.procedures import load_procedure
    from qa.report.phantom import write_phantom_report
    from qa.store import Store
    from qa.trends import control_chart

    min_sd_pct = load_procedure("daily-phantom-qa").min_sd_pct
    out_dir = Path(args.out)
    _prepare(out_dir)
    db_path = out_dir / "qa-demo.sqlite"
    store = Store(f"sqlite:///{db_path.resolve()}")
    print(f"qa demo: two weeks of daily phantom QA on two synthetic scanners, stored in {db_path}")
    print(f"         ({SCANNERS[1]['station_name']} drifts: its calcium contrast grows {100 * DRIFT_PER_DAY:.1f} % a day "
          f"after day {BASELINE_AFTER_DAYS}; baselines are set from the first {BASELINE_AFTER_DAYS} days)")
    start = dt.datetime(2026, 3, 2, 7, 30)
    summary = []
    flagged_on: dict[str, int] = {}
    last = {}
    try:
        for day in range(1, DAYS + 1):
            when = start + dt.timedelta(days=day - 1)
            for n, scanner in enumerate(SCANNERS):
                drift = 1.0 + (DRIFT_PER_DAY * (day - BASELINE_AFTER_DAYS) if scanner["drifts"] and day > BASELINE_AFTER_DAYS else 0.0)
                opts = SynthOptions(
                    vendor=scanner["vendor"], station_name=scanner["station_name"], device_serial_number=scanner["device_serial_number"],
                    thickness_mm=2.5 if scanner["vendor"] == "ge" else 3.0, z_start_mm=-12.0, z_end_mm=45.0,
                    noise_hu=12.0, seed=1000 * n + day, acquisition_datetime=when.isoformat(),
                    rotation_deg=(day * 7.0) % 4 - 2.0, shift_mm=((day % 5) - 2.0, (day % 3) - 1.0),  # daily repositioning
                    calcification_scale=drift, scout=True, shuffle=True,
                )
                folder = out_dir / "daily-qa" / scanner["station_name"] / when.strftime("%Y-%m-%d")
                synthesize_phantom(folder, opts)
                volume, result, document, run_id, _ = run_phantom([folder], store=store, ring="none", progress=False)
                flags = _flags(store, document, control_chart, min_sd_pct)
                if flags and scanner["station_name"] not in flagged_on and not any(c.status == "fail" for c in result.checks):
                    flagged_on[scanner["station_name"]] = day
                summary.append([when.strftime("%Y-%m-%d"), scanner["station_name"], result.verdict.upper(),
                                f"{result.metrics['mass_800_5mm']:.1f}" if result.metrics.get("mass_800_5mm") else "-",
                                ", ".join(c.id for c in result.checks if c.status in ("warn", "fail")) or "-",
                                ", ".join(flags) or "-"])
                last[scanner["station_name"]] = (volume, result, document)
            if day == BASELINE_AFTER_DAYS:
                for scanner_row in store.scanners():
                    runs = store.phantom_runs(scanner_row.id, protocol_ok_only=True)[-BASELINE_AFTER_DAYS:]
                    baseline = baseline_from_results([r.metrics for r in runs], scanner_row.key, json.loads(runs[-1].configuration_key),
                                                     0, when.astimezone().isoformat(), tuple(r.id for r in runs))
                    version = store.set_baseline(scanner_row.id, baseline, reason=f"qa demo: the first {BASELINE_AFTER_DAYS} days")
                    summary.append([when.strftime("%Y-%m-%d"), scanner_row.station_name, f"baseline v{version} set", "", "", ""])
        print("")
        print(table(["day", "scanner", "verdict", "800_5mm mg", "warnings / failures", "control-chart flags"], summary,
                    align="llllll"))
        print("")
        for scanner in SCANNERS:
            name = scanner["station_name"]
            failed = [row[0] for row in summary if row[1] == name and row[2] == "FAIL"]
            if name in flagged_on:
                print(f"{name}: drift flagged by the control chart on day {flagged_on[name]}"
                      + (f", before its first failed run ({failed[0]})" if failed else ", no run failed"))
            else:
                print(f"{name}: no control-chart flag" + (f"; failed on {failed[0]}" if failed else ""))
        reports = []
        for scanner_row in store.scanners():
            volume, result, document = last[scanner_row.station_name]
            runs = store.phantom_runs(scanner_row.id, configuration_key=configuration_key(document["configuration"]),
                                      protocol_ok_only=True)
            path = out_dir / f"report-{scanner_row.station_name}.html"
            write_phantom_report(path, document, volume, result.location, runs=runs, scanner=scanner_row, min_sd_pct=min_sd_pct)
            reports.append(path)
        print("")
        print(f"last run of {SCANNERS[1]['station_name']}:")
        print_phantom(sys.stdout, last[SCANNERS[1]["station_name"]][1], last[SCANNERS[1]["station_name"]][2])
    finally:
        store.close()

    # qa score on one of the series: everything above the threshold, bone included.
    first = sorted((out_dir / "daily-qa" / SCANNERS[0]["station_name"]).iterdir())[0]
    print("")
    print(f"qa demo: qa score on one series ({first}):")
    scan = scan_inputs(first)
    volume = load_volume(select_series(scan))
    settings = scoring_settings("standard")
    score = score_volume(volume, settings)
    print_score(sys.stdout, scan, volume, score, settings, max_lesions=8)
    print("  (the bone-like 'spine' counts here; qa phantom scores the inserts only)")

    # qa check on a synthetic calcium-score exam (a scout, the 3 mm series, a thin reconstruction),
    # acquired at a heart rate of 78 bpm: the technologist's checklist warns about it.
    from qa.cli.exam import print_checklist
    from qa.compliance import check_exam
    from qa.dicom.exam import load_exam
    from qa.dose import load_dose_tables

    exam_dir = out_dir / "exam"
    common = dict(vendor="siemens", matrix=256, pixel_mm=0.8, z_start_mm=-30.0, z_end_mm=72.0, noise_hu=12.0, heart_rate_bpm=78.0,
                  station_name=SCANNERS[0]["station_name"], device_serial_number=SCANNERS[0]["device_serial_number"],
                  study_key="demo-exam")
    synthesize_phantom(exam_dir / "cascore", SynthOptions(**common, series_description="CaScore 3.0 Qr36", scout=True, seed=11))
    synthesize_phantom(exam_dir / "thin", SynthOptions(**{**common, "z_start_mm": -6.0, "z_end_mm": 6.0}, thickness_mm=1.0,
                                                       series_number=4, series_description="CaScore 1.0 Qr36", seed=12))
    exam, protocol = load_exam([exam_dir])
    ecg_path, strip_path = out_dir / "exam-ecg.csv", out_dir / "exam-ecg-strip.png"
    gating = _demo_ecg(exam, protocol, ecg_path, strip_path)
    print("")
    print(f"qa demo: qa check on a synthetic calcium-score exam ({exam_dir}) with its ECG ({ecg_path}):")
    print_checklist(sys.stdout, exam, check_exam(exam, protocol, load_dose_tables(), gating=gating))
    print(f"ECG strip: {strip_path}")
    print("")
    for path in reports:
        print(f"report:   {path}")
    print(f"database: {db_path}  (try: qa trend --db sqlite:///{db_path.resolve()} --scanner {SCANNERS[1]['station_name']})")
    return EXIT_OK


def _demo_ecg(exam, protocol, ecg_path: Path, strip_path: Path):
    """The exam's ECG (clocks synchronised, 78 bpm) with a premature ventricular beat hitting stack 2."""
    import datetime as dt

    from qa.cli.gating import gating_for_exam
    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv
    from qa.report.plots import write_ecg_strip

    h = exam.headers
    stacks = [s for s in h.stacks if s.acquisition_time]
    first = dt.datetime.fromisoformat(stacks[0].acquisition_time)
    rr_s = 60.0 / 78.0
    # the synthesiser centres each stack's exposure (from its acquisition time on) on 70 % of the RR
    first_r = first - dt.timedelta(seconds=0.70 * rr_s - h.exposure_time_ms / 2000.0)
    lead_in_s = 5.0
    trace_start = first_r - dt.timedelta(seconds=lead_in_s)  # an R-peak lead_in_s into the trace
    duration_s = lead_in_s + 2.0 * rr_s * len(stacks) + 3.0
    r_first = lead_in_s % rr_s
    beats_to_stack2 = int(round((lead_in_s - r_first) / rr_s)) + 2  # the beat that triggers the second stack
    r = beat_times(duration_s, 78.0, first_s=r_first, premature_at={beats_to_stack2 + 1: 0.6})
    t, ecg = synthesize_ecg(r, duration_s=duration_s, ventricular={beats_to_stack2 + 1}, seed=3)
    write_ecg_csv(ecg_path, t, ecg, start_time=trace_start, fs_hz=500.0)
    gating = gating_for_exam(ecg_path, exam, protocol)
    write_ecg_strip(strip_path, gating, title="qa demo: the exam's ECG")
    return gating


def _flags(store, document, control_chart, min_sd_pct: float) -> list[str]:
    """Metrics whose control chart flags the newest run (after a baseline exists)."""
    from qa.phantom.analysis import configuration_key
    from qa.trends import chart_sd

    scanner_id = store.find_scanner_id(document["scanner"])
    config = configuration_key(document["configuration"])
    baseline = store.active_baseline(scanner_id, config)
    if baseline is None or configuration_key(baseline.configuration) != config:
        return []
    runs = [r for r in store.phantom_runs(scanner_id, configuration_key=config, protocol_ok_only=True)]
    flags = set()
    for metric in ("mass_800_5mm", "mass_400_5mm", "mass_200_5mm", "total_mass"):
        stats = baseline.stats.get(metric)
        if stats is None or stats.sd <= 0:
            continue
        points = control_chart([r.metrics.get(metric) for r in runs], stats.mean, chart_sd(stats.mean, stats.sd, min_sd_pct))
        if points[-1].flags:
            flags.add(f"{metric} ({'/'.join(points[-1].flags)})")
    return sorted(flags)


def _prepare(out_dir: Path) -> None:
    """An empty demo folder; a previous demo's folder (marked by its database) is replaced."""
    from qa.errors import UsageError

    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file, not a folder", hint="choose another --out folder")
    if out_dir.exists() and any(out_dir.iterdir()):
        marker = out_dir / ".qa-demo"
        if not marker.exists():
            raise UsageError(f"{out_dir} exists and was not written by qa demo", hint="choose another --out folder")
        for child in out_dir.iterdir():  # only what a demo writes
            if child.name in ("daily-qa", "exam", "exam-ecg.csv", "exam-ecg-strip.png", "qa-demo.sqlite", ".qa-demo") or (child.name.startswith("report-") and child.suffix == ".html"):
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        if any(out_dir.iterdir()):
            raise UsageError(f"{out_dir} holds files that qa demo did not write", hint="choose another --out folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ".qa-demo").write_text("written by qa demo\n")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo", formatter_class=HelpFormatter,
        help="every workflow on synthetic data: two weeks of phantom QA on two scanners, an exam with its ECG",
        description=textwrap.dedent(
            """\
            Synthesises two weeks of daily QRM-CCI phantom scans on two scanners (one drifting),
            runs the daily QA on each, sets baselines after seven days, flags the drift on the
            control charts, writes an HTML report per scanner, scores one series with qa score, and
            checks a synthetic calcium-score exam against its protocol with qa check.
            Everything stays in the --out folder (its own SQLite database included).
            """
        ),
        epilog="examples:\n  qa demo\n  qa demo --out /tmp/qa-demo\n",
    )
    p.add_argument("--out", default="qa-demo", help="output folder (default: ./qa-demo)")
    p.set_defaults(func=cmd_demo)
