"""``qa gating``: prospective gating timing of a CT exam against its ECG trace (:func:`qa.workflows.gating.analyse_gating`)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from qa.cli.common import EXIT_FAIL, EXIT_OK, HelpFormatter, add_verbose, fmt, json_out, one_line, positive, print_files, table
from qa.records.display import check_values


def cmd_gating(args: argparse.Namespace) -> int:
    from qa.workflows.gating import analyse_gating

    run = analyse_gating(args.ecg, series=args.series, exposures=args.exposures, protocol=args.protocol, lead=args.lead, fs_hz=args.fs,
                         series_uid=args.series_uid, plot=args.plot)
    out = sys.stderr if args.json else sys.stdout
    print_gating(out, run.report, run.protocol.id)
    print_files(out, run.files, args.verbose)
    if run.plot:
        print(f"plot     {run.plot}", file=out)
    if args.json:
        json_out(run, "qa.gating/1")
    return EXIT_FAIL if run.failed else EXIT_OK


def print_gating(out, report, protocol_id: str) -> None:
    t = report.ecg
    hr = report.heart_rate_bpm
    print(f"ECG      {one_line(t.source)}, lead {one_line(t.lead)}, {t.sampling_rate_hz:g} Hz, {t.duration_s:.1f} s"
          + (f", starts {t.start_time.isoformat()}" if t.start_time else ", no absolute start time")
          + (f", {len(t.gaps)} gap(s)" if t.gaps else ""), file=out)
    sd = f", SD {fmt(hr.sd, 1)} bpm" if hr.mean is not None else ""
    print(f"Beats    {len(report.beats.r_peak_times_s)} R-peaks; heart rate {hr.describe()}{sd}; premature beats: {len(report.premature)}"
          + ("; atrial fibrillation suspected" if report.rhythm.af_suspected else ""), file=out)
    window = report.phase_window_pct
    window_text = f"{window[0]:g}-{window[1]:g} % RR" if window else "none"
    print(f"Protocol {protocol_id}: phase window {window_text}; exposures from "
          f"{report.exposure_windows_from or '-'}", file=out)
    if report.exposures:
        rows = [[str(e.index + 1), f"{e.start_s:.3f}", f"{1000 * e.duration_s:.0f}", fmt(e.rr_predicted_ms, 0), fmt(e.rr_actual_ms, 0),
                 fmt(e.delay_ms, 0), fmt(e.phase_pct, 1), {True: "yes", False: "NO", None: "-"}[e.ends_before_next_r],
                 {True: "yes", False: "no", None: "-"}[e.ectopic_beat], e.status.upper() + (" ~" if e.approximate else "")]
                for e in report.exposures]
        print("", file=out)
        print(table(["#", "start s", "ms", "RR pred", "RR actual", "delay ms", "phase %", "before next R", "ectopic", "status"], rows,
                    align="rrrrrrrlll"), file=out)
    print("", file=out)
    rows = [[c.id, c.status.upper(), *check_values(c, ascii=True), c.message] for c in report.checks]  # display units: 98.3 bpm
    print(table(["check", "status", "measured", "expected", "message"], rows, align="lllll"), file=out)
    for note in report.notes:
        print(f"note:    {note}", file=out)
    for warning in report.warnings:
        print(f"warning: {warning}", file=out)
    print(f"VERDICT  {report.verdict.upper()}", file=out)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "gating", formatter_class=HelpFormatter,
        help="did each prospectively triggered exposure end before the next R-peak, within the protocol's phase window of its actual beat?",
        description=textwrap.dedent(
            """\
            Finds the R-peaks of an ECG trace (CSV, WFDB record or DICOM ECG), the rhythm (heart
            rate, premature beats, suspected atrial fibrillation) and, for every exposure window,
            the triggering R-peak (the last one at least 150 ms before the window), the actual and
            predicted RR, the delay, the phase in % of the actual RR (never wrapped: a premature next
            beat gives more than 100 %), and whether the exposure ended before the next R-peak.
            An exposure passes when it ended before the next R-peak with its centre within the
            protocol's phase window (60-80 % of the RR in the shipped protocols, where they expect
            diastole): that is what is measured, not diastole itself.  Heart rates come from the
            RR intervals of 0.3-2.0 s (30-200 bpm); shorter or longer ones are left out and counted.
            Exposure windows come from --exposures (start_s,duration_s on the trace's time base),
            from a CT series' stack times (--series; approximate: clocks are rarely synchronised),
            or from the trace's trigger channel plus the protocol's delay and window.
            Exit 1 when an exposure ran into the next beat.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa gating --ecg scan-ecg.csv --exposures exposures.csv
              qa gating --ecg recorder/100.hea --exposures windows.csv --plot strip.png
              qa gating --ecg ecg.csv --series /data/exams/1234 --protocol cac-siemens --json > gating.json
            """
        ),
    )
    p.add_argument("--ecg", required=True, metavar="TRACE", help="ECG trace: .csv, WFDB record (.hea) or DICOM ECG")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--exposures", metavar="CSV", help="exposure windows: start_s,duration_s on the trace's time base")
    source.add_argument("--series", nargs="+", metavar="DIR", help="the CT exam: its stack times give the windows (approximate)")
    p.add_argument("--series-uid", help="the CT series to use when the exam holds several")
    p.add_argument("--protocol", help="exam protocol id or .toml path (phase window, gating settings; default cac-standard)")
    p.add_argument("--lead", help="lead to use (default: II for DICOM ECGs, the first signal of a WFDB record)")
    p.add_argument("--fs", type=positive, metavar="HZ", help="sampling rate of a CSV trace without a time_s column")
    p.add_argument("--plot", metavar="FILE.png",
                   help="write the ECG strip with R-peaks and exposure windows (written whole; if it cannot be written: "
                        "exit 2, nothing written)")
    add_verbose(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.gating/1) on stdout")
    p.set_defaults(func=cmd_gating)
