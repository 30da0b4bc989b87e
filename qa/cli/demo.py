"""``qa demo``: every workflow on synthetic data (:func:`qa.workflows.demo.run_demo`), printed."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from qa.cli.common import EXIT_OK, HelpFormatter, Progress, command_line, fmt, table


def cmd_demo(args: argparse.Namespace) -> int:
    from qa.cli.exam import print_checklist
    from qa.cli.phantom import print_phantom
    from qa.cli.score import print_score
    from qa.workflows.demo import BASELINE_AFTER_DAYS, DAYS, DRIFT_PER_DAY, SCANNERS, run_demo

    out = sys.stdout
    print(f"qa demo: {DAYS} days of daily phantom QA on two synthetic scanners, stored in {Path(args.out) / 'qa-demo.sqlite'}", file=out)
    print(f"         ({SCANNERS[1]['station_name']} drifts: its calcium contrast grows {100 * DRIFT_PER_DAY:.1f} % a day "
          f"after day {BASELINE_AFTER_DAYS}; baselines are set from the first {BASELINE_AFTER_DAYS} days)", file=out)
    demo = run_demo(args.out, progress=Progress("qa demo"))
    print("", file=out)
    rows = [[d.date, d.station, d.event, fmt(d.mass_800_5mm_mg, 1), ", ".join(d.issues) or ("" if "baseline" in d.event else "-"),
             ", ".join(d.flags) or ("" if "baseline" in d.event else "-")] for d in demo.days]
    print(table(["day", "scanner", "verdict", "800_5mm mg", "warnings / failures", "control-chart flags"], rows, align="llllll"),
          file=out)
    print("", file=out)
    for scanner in SCANNERS:
        name = scanner["station_name"]
        failed = demo.first_failure.get(name)
        if name in demo.flagged_on:
            print(f"{name}: drift flagged by the control chart on day {demo.flagged_on[name]}"
                  + (f", before its first failed run ({failed})" if failed else ", no run failed"), file=out)
        else:
            print(f"{name}: no control-chart flag" + (f"; failed on {failed}" if failed else ""), file=out)
    drifting = SCANNERS[1]["station_name"]
    print(f"\nlast run of {drifting}:", file=out)
    print_phantom(out, demo.last_runs[drifting].result)
    print(f"\nqa demo: qa score on one series ({demo.scored_series}):", file=out)
    print_score(out, demo.score, max_lesions=8)
    print(f"\nqa demo: qa check on a synthetic calcium-score exam with its ECG ({demo.ecg}):", file=out)
    print_checklist(out, demo.exam.checklist)
    print(f"ECG strip: {demo.strip}", file=out)
    if demo.motion is not None:
        from qa.cli.motion import print_motion

        print(f"\nqa demo: qa motion on an exam whose breath was released mid-scan ({Path(demo.out_dir) / 'breath-hold'}):",
              file=out)
        print_motion(out, demo.motion)
        print(f"reformats: {demo.motion.plot}", file=out)
    if demo.ingested is not None:
        i, f = demo.ingested, demo.fleet
        print(f"\nqa demo: the manager's year: qa synth exams wrote {f.n_studies} studies on {len(f.scanners)} scanners "
              f"({Path(demo.out_dir) / 'fleet'}); qa ingest stored {i.studies.added} studies, {i.dose_reports} dose reports and "
              f"{i.checklists} checklists in {i.elapsed_s:.0f} s", file=out)
        print(f"dashboard: {Path(demo.dashboard.out) / 'index.html'}  (open it in a browser: the fleet, dose against the reference "
              "levels, compliance, phantom QA)", file=out)
    print("", file=out)
    for path in demo.reports:
        print(f"report:   {path}", file=out)
    for path in demo.pdfs:
        print(f"pdf:      {path}", file=out)
    if demo.pdf_note:
        print(f"pdf:      not printed: {demo.pdf_note}", file=out)
    print(f"database: {demo.database}", file=out)
    print("\nqa demo: try next (paste any line; none writes into the demo folder):", file=out)
    for words in demo.try_next:
        print("  " + command_line(*words), file=out)
    print("\nqa demo: every workflow ran; the failures above were planted (a drifting scanner, a premature beat, "
          "a high heart rate, a breath released mid-scan) to show how qa reports them.", file=out)
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo", formatter_class=HelpFormatter,
        help="every workflow on synthetic data: two weeks of phantom QA on two scanners, an exam with its ECG, "
             "an exam whose breath was released mid-scan, a fleet's year and its dashboard",
        description=textwrap.dedent(
            """\
            Synthesises two weeks of daily QRM-CCI phantom scans on two scanners (one drifting),
            runs the daily QA on each, sets baselines after seven days, flags the drift on the
            control charts, writes an HTML report per scanner (and its PDF when Playwright and a
            Chromium are installed: the output says why not otherwise), scores one series with qa score,
            checks a synthetic calcium-score exam against its protocol with qa check, and measures
            the breath-hold motion of an exam whose breath was released mid-scan with qa motion,
            and gives the manager a year of exams on three scanners (qa synth exams, qa ingest)
            and its dashboard (qa dashboard).  Everything stays in the --out folder (its own SQLite database included).
            A folder that exists must be empty or an earlier demo's (marked by its .qa-demo file,
            holding only what the demo writes): everything is checked before anything is deleted;
            a symbolic link, the root or the home folder is refused.
            """
        ),
        epilog="examples:\n  qa demo\n  qa demo --out /tmp/qa-demo\n",
    )
    p.add_argument("--out", default="qa-demo", help="output folder (default: ./qa-demo)")
    p.set_defaults(func=cmd_demo)
