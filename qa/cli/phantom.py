"""``qa phantom``, ``qa baseline`` and ``qa trend``: daily phantom QA, baselines, control charts.

Each command parses its arguments, calls one workflow (:mod:`qa.workflows.phantom`,
:mod:`qa.workflows.baselines`, :mod:`qa.workflows.charts`) and prints its record.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from typing import TextIO

from qa.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    HelpFormatter,
    add_verbose,
    count,
    fmt,
    json_out,
    local_time,
    one_line,
    print_files,
    progress_stages,
    table,
)
from qa.cli.score import add_scoring_options, scoring_request
from qa.cli.verdicts import print_checks, print_verdict


def cmd_phantom(args: argparse.Namespace) -> int:
    from qa.workflows.phantom import run_phantom_qa

    run = run_phantom_qa(args.series, phantom=args.phantom, procedure=args.procedure, series_uid=args.series_uid, ring=args.ring,
                         scoring=scoring_request(args), db=args.db, store=not args.no_store, report=args.report,
                         pdf=args.pdf, page_size=args.page_size, progress=progress_stages())
    out = sys.stderr if args.json else sys.stdout
    print_phantom(out, run.result)
    print_files(out, run.files, args.verbose)
    if run.stored is not None:
        print(f"stored   run #{run.stored.run_id} in {run.stored.database}"
              + (" (replaced the earlier analysis of this series)" if run.stored.replaced else ""), file=out)
    else:
        if run.result.baseline is not None:
            print(f"stored   no (--no-store): this run was compared with the stored {one_line(run.baseline_from)}, "
                  "but was not stored", file=out)
        else:
            print(f"stored   no (--no-store): this run was not stored, and no baseline was compared with it "
                  f"({one_line(run.baseline_from)})", file=out)
    if run.report:
        print(f"report   {run.report}", file=out)
    if run.pdf:
        print(f"pdf      {run.pdf}", file=out)
    for w in run.warnings[len(run.result.warnings):]:  # the analysis' own were printed with it
        print(f"warning: {one_line(w)}", file=out)
    if args.json:
        json_out(run, "qa.phantom/1")
    return EXIT_FAIL if run.verdict == "fail" else EXIT_OK


def print_phantom(out: TextIO, result) -> None:
    loc = result.location
    s = result.scanner
    print(f"Phantom  {result.phantom}: axis ({loc.insert_center_mm[0]:.1f}, {loc.insert_center_mm[1]:.1f}) mm, "
          f"rotation {loc.rotation_deg:+.1f} deg{' (mirrored)' if loc.mirrored else ''}, calcifications at z "
          f"{loc.calcification_slab_z_mm:.1f} mm, rods at z {loc.rod_slab_z_mm:.1f} mm", file=out)
    print(f"Scanner  {one_line(s.manufacturer)} {one_line(s.model)}, serial {one_line(s.device_serial_number or None)}, station "
          f"{one_line(s.station_name or None)}; identified by {one_line(s.identity)}", file=out)
    a = result.acquisition
    print(f"Scan     {fmt(a.kvp, 0)} kVp, {fmt(a.slice_thickness_mm, 2)} mm, kernel {one_line(a.kernel)}, CTDIvol "
          f"{fmt(a.ctdivol_mgy, 2)} mGy, ring {a.ring} ({a.ring_source}), acquired {one_line(a.acquisition_datetime or None)}", file=out)
    cal = result.calibration
    if cal.c_ha_mg_per_cm3_hu is not None:
        print(f"Rods     water {cal.water_hu:.1f} HU (noise SD {cal.noise_hu:.1f} HU), HA-200 {cal.ha200_hu:.1f} HU, "
              f"c_HA {cal.c_ha_mg_per_cm3_hu:.4f} mg/(cm3 HU)", file=out)
    else:
        print("Rods     no calibration: masses are not available", file=out)
    print("", file=out)
    rows = []
    for i in result.inserts:
        c = i.centroid_mm
        rows.append([
            i.id, "yes" if i.detected else "no", str(i.n_lesions), fmt(i.agatston, 1), fmt(i.volume_mm3, 1),
            fmt(i.mass_mg, 2), fmt(i.physical_mass_mg, 2), f"{i.mass_error_pct:+.1f}" if i.mass_error_pct is not None and i.detected else "-",
            f"{fmt(c[0])}, {fmt(c[1])}, {fmt(c[2])}",
        ])
    t = result.totals
    rows.append(["total", str(t.n_detected), "", fmt(t.agatston, 1), fmt(t.volume_mm3, 1), fmt(t.mass_mg, 2),
                 fmt(t.physical_mass_mg, 2), "", ""])
    print(table(["insert", "detected", "lesions", "Agatston", "volume mm3", "mass mg", "physical mg", "error %", "centroid x, y, z mm"],
                rows, align="llrrrrrrl"), file=out)
    o = result.other_lesions
    print(f"         other lesions inside the insert (noise, not an insert): {o.n_lesions}, Agatston {o.agatston:.1f}", file=out)
    print("", file=out)
    print_checks(out, result.checks)
    print("", file=out)
    for w in result.warnings:
        print(f"warning: {one_line(w)}", file=out)
    print_verdict(out, result.summary, result.verdict_message, result.checks)


# ------------------------------------------------------------------------------------------ baseline


def cmd_baseline(args: argparse.Namespace) -> int:
    from qa.workflows.baselines import set_baseline, set_command, show_baselines

    out = sys.stderr if args.json else sys.stdout
    if args.action == "show":
        history = show_baselines(scanner=args.scanner, db=args.db, procedure=args.procedure, phantom=args.phantom)
        print_baselines(out, history, set_command(args.scanner, args.db, args.procedure, args.phantom))
        if args.json:
            json_out(history, "qa.baseline/1")
        return EXIT_OK
    change = set_baseline(scanner=args.scanner, from_last=args.from_last, reason=args.reason, include_failed=args.include_failed,
                          procedure=args.procedure, phantom=args.phantom, ring=args.ring, like_run=args.like_run, db=args.db)
    b = change.baseline
    print(f"baseline version {change.version} set for {one_line(change.scanner.label())} from runs {list(b.run_ids)}", file=out)
    print(f"  configuration: {change.configuration_text}", file=out)
    print_run_choices(out, change)
    for key in change.shown_metrics:
        stats = b.stats.get(key)
        if stats:
            print(f"  {key:14s} {stats.mean:10.4g} +- {stats.sd:.3g} (n={stats.n})", file=out)
    if args.json:
        json_out(change, "qa.baseline/1")
    return EXIT_OK


def print_run_choices(out: TextIO, change, *, at_most: int = 12) -> None:
    """The runs a baseline was set from, and the most recent of those left out (with the reason)."""
    print("  selected: " + ", ".join(f"#{r.run_id} {local_time(r.acquired_at)}" for r in change.selected), file=out)
    if change.left_out:
        shown = change.left_out[-at_most:]
        earlier = len(change.left_out) - len(shown)
        print(f"  left out ({len(change.left_out)}{f', the last {len(shown)} listed' if earlier else ''}):", file=out)
        for r in shown:
            print(f"    #{r.run_id} {local_time(r.acquired_at)}: {one_line(r.why)}", file=out)


def print_baselines(out: TextIO, history, command: str = "qa baseline set --scanner ID") -> None:
    """A scanner's baseline history; ``command``: the ``qa baseline set`` to paste when there is none."""
    print(f"Scanner  {one_line(history.scanner.label())}", file=out)
    if not history.baselines:
        n = history.baseline_min_runs
        print(f"no baseline yet: run the daily QA at least {n} times, then: {one_line(command)} --from-last {n}", file=out)
    for entry in history.baselines:
        b = entry.baseline
        print(f"\nversion {b.version}{' (active)' if entry.active else ''}, set {local_time(b.created_at, minutes=False)} by "
              f"{entry.created_by}{', reason: ' + one_line(entry.reason) if entry.reason else ''}; {b.n_runs} runs {list(b.run_ids)}", file=out)
        print(f"  configuration: {b.configuration.key}", file=out)
        rows = [[k, f"{v.mean:.4g}", f"{v.sd:.3g}", f"{100 * v.sd / v.mean:.1f}" if v.mean else "-", str(v.n)]
                for k, v in ((k, b.stats[k]) for k in entry.summary_metrics)]
        print(textwrap.indent(table(["metric", "mean", "SD", "CV %", "n"], rows), "  "), file=out)


# ------------------------------------------------------------------------------------------ trend


def cmd_trend(args: argparse.Namespace) -> int:
    from qa.workflows.baselines import set_command
    from qa.workflows.charts import scanner_control_charts

    charts = scanner_control_charts(scanner=args.scanner, metric=args.metric, procedure=args.procedure,
                                    phantom=args.phantom, db=args.db, plot=args.plot)
    out = sys.stderr if args.json else sys.stdout
    print_charts(out, charts, last=args.last, set_command=set_command(args.scanner, args.db, args.procedure, args.phantom))
    if args.json:
        json_out(charts, "qa.trend/1")
    return EXIT_OK


def print_charts(out: TextIO, charts, *, last: int = 0, set_command: str = "qa baseline set --scanner ID") -> None:
    print(f"Scanner  {one_line(charts.scanner.label())}: {charts.n_runs} run(s)", file=out)
    if not charts.n_runs:
        return
    nc = charts.not_charted
    if nc.protocol_deviation:
        print(f"         not charted, protocol deviation: run(s) {', '.join('#' + str(r) for r in nc.protocol_deviation)}", file=out)
    if nc.other_configuration:
        print(f"         not charted, another configuration than the charted one: run(s) "
              f"{', '.join('#' + str(r) for r in nc.other_configuration)}", file=out)
    if charts.baseline_version is None:
        n = charts.baseline_min_runs
        print(f"no baseline for the current configuration: values are listed without control limits (once {n} runs of it are "
              f"stored: {one_line(set_command)} --from-last {n})", file=out)
    for note in charts.notes:
        print(f"note:    {note}", file=out)
    print_chart_legend(out, charts)
    for metric, chart in charts.metrics.items():
        b, limits = chart.baseline, chart.verdict_limits
        unit = f" {chart.unit}" if chart.unit else ""
        digits = _decimals(chart)
        print(f"\n{one_line(chart.title or metric)}  [{metric}]", file=out)
        if b is not None:
            floor = f"the {b.min_sd_pct:g} % floor" if b.sd_floored else "the baseline SD"
            print(f"  baseline        {b.mean:.{digits}f}{unit} +- {b.sd:.3g} (n={b.n}); chart SD {b.chart_sd:.3g}{unit} ({floor})", file=out)
            print(f"  control limits  +-2 SD [{_num(b.mean - 2 * b.chart_sd, digits)}, {_num(b.mean + 2 * b.chart_sd, digits)}], "
                  f"+-3 SD [{_num(b.mean - 3 * b.chart_sd, digits)}, {_num(b.mean + 3 * b.chart_sd, digits)}]", file=out)
        if limits is not None:
            (t0, t1), (a0, a1) = limits.tolerance, limits.action
            print(f"  verdict limits  warn outside [{_num(t0, digits)}, {_num(t1, digits)}], fail outside [{_num(a0, digits)}, "
                  f"{_num(a1, digits)}] ({limits.describe(chart.unit)})", file=out)
        elif b is not None:
            print("  verdict limits  none: the procedure does not check this metric against the baseline", file=out)
        shown = chart.runs[-last:] if last else chart.runs
        rows = [[str(r.run_id), local_time(r.acquired_at), _num(r.value, digits),
                 f"{r.z:+.2f}" if r.z is not None else "-", ",".join(r.flags), r.verdict.upper()] for r in shown]
        print(textwrap.indent(table(["run", "acquired", f"value ({chart.unit})" if chart.unit else "value", "z", "flags", "verdict"], rows, align="llrrll"), "  "),
              file=out)
        flagged = next((r for r in chart.runs if r.flags), None)
        if flagged is not None:
            print(f"  FLAGGED from run #{flagged.run_id}: {', '.join(flagged.flags)}", file=out)
    if charts.months:
        metrics = list(charts.metrics)
        print("\nPer month (the mean of each metric over the month's charted runs)", file=out)
        headers = ["month", "runs", "failed runs"] + [f"{m} ({c.unit})" if c.unit else m for m, c in charts.metrics.items()]
        rows = [[m.month, str(m.n_runs), str(m.n_fail)] + [_num(m.means.get(k), _decimals(charts.metrics[k])) for k in metrics]
                for m in charts.months]
        print(textwrap.indent(table(headers, rows, align="l" + "r" * (2 + len(metrics))), "  "), file=out)
    if charts.plot:
        print(f"\nplot     {charts.plot}", file=out)


def print_chart_legend(out: TextIO, charts) -> None:
    """What the columns of the run tables mean, printed once before them."""
    floor = f"{charts.min_sd_pct:g} %" if charts.min_sd_pct is not None else "min_sd_pct"
    width = max(len(k) for k in charts.flag_meanings)
    lines = [
        "",
        "How to read the tables below:",
        "  value      the run's measurement, in the metric's unit",
        "  z          (value - baseline mean) / chart SD",
        f"  chart SD   the baseline's SD, but never below {floor} of the baseline mean (the procedure's",
        "             [baseline] min_sd_pct): a short baseline underestimates the spread",
        "  control    baseline mean +- 2 and +- 3 chart SD: the Western Electric rules and the CUSUM",
        "  limits     compare runs with them, to show drift early",
        "  flags      the rules a run completes (empty: none):",
        *(f"             {k.ljust(width)}  {v}" for k, v in charts.flag_meanings.items()),
        "  verdict    the run's overall verdict (all its checks): a metric warns outside its tolerance",
        "             and fails outside its action level (each metric's verdict limits); flags never",
        "             change a verdict; INCOMPLETE: none failed or warned but some could not be",
        "             run (no baseline yet): not all clear",
    ]
    print("\n".join(lines), file=out)


def _decimals(chart) -> int:
    """Decimals that show a metric's day-to-day spread: two significant digits of the baseline SD
    (else four significant digits of the values)."""
    if chart.baseline is not None and chart.baseline.sd > 0:
        return max(0, min(6, 1 - math.floor(math.log10(chart.baseline.sd))))
    values = [abs(r.value) for r in chart.runs if r.value is not None and math.isfinite(r.value) and r.value != 0]
    if not values:
        return 2
    return max(0, min(6, 3 - math.floor(math.log10(max(values)))))


def _num(value, digits: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


# ------------------------------------------------------------------------------------------ parsers


def _add_db(p) -> None:
    p.add_argument("--db", metavar="URL", help="database URL (default: $QA_DB_URL, else a SQLite file in your data folder)")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "phantom", formatter_class=HelpFormatter,
        help="daily phantom QA: locate, score each insert, check, store",
        description=textwrap.dedent(
            """\
            Daily calcium-phantom QA.  Finds the QRM Cardiac Calcification Insert, its rods and its
            nine calcifications (no clicks), scores each insert (Agatston, volume, mass with c_HA from
            the rods), checks the acquisition and every metric against the procedure and the
            scanner's baseline, stores the run and prints the verdict.  Exit 0 pass (warnings
            allowed), 1 a check failed, 2 unusable input.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa phantom /data/qa/2026-03-02/CT1
              qa phantom /data/qa/CT2 --ring large --report ct2.html
              qa phantom /data/qa/CT2 --report ct2.html --pdf ct2.pdf --page-size Letter
              qa phantom phantom.zip --json > run.json
              qa phantom series/ --no-store --method siemens
              qa phantom series/ --procedure /etc/qa/our-phantom-qa.toml --db postgresql+psycopg://qa@db/qa
              qa phantom series/ --phantom /etc/qa/our-cci.toml --procedure /etc/qa/our-cci-qa.toml

            An id (qrm-cci, daily-phantom-qa) is always a built-in definition, never a file of the
            working directory; a site's own file is named by its path (with a folder, or ending in
            .toml).  A site's own phantom is used with a procedure that names its id.
            """
        ),
    )
    p.add_argument("series", nargs="+", metavar="SERIES", help="folder, zip file or DICOM files of the phantom scan")
    p.add_argument("--series-uid", help="pick this series when the input holds several")
    p.add_argument("--phantom", help="phantom definition id or .toml path (default: the procedure's); the procedure must name it")
    p.add_argument("--procedure", default="daily-phantom-qa", help="procedure id or .toml path (default daily-phantom-qa)")
    p.add_argument("--ring", choices=["none", "large", "unspecified"], default="unspecified",
                   help="the extension ring the phantom wore (part of the baseline configuration); default: measured from the "
                   "image's body outline; given, it overrides the image, with a warning when they disagree")
    add_scoring_options(p, method_default=None, c_ha=False)  # c_HA comes from the phantom's own rods
    _add_db(p)
    p.add_argument("--no-store", action="store_true", help="do not store the run")
    p.add_argument("--report", metavar="FILE.html", help="write a self-contained HTML report (written whole or not at all; if it cannot be "
                   "written, the run still stands: stored, exit 0/1, the error in the warnings)")
    p.add_argument("--pdf", metavar="FILE.pdf", help="print the report to a PDF to sign: every page with the scanner, the acquisition "
                   "date and page x of y, a sign-off block at the end (printed by a Chromium on this machine through Playwright: "
                   "pip install 'qa[pdf]'; without them: exit 2 before anything runs; written whole or not at all)")
    p.add_argument("--page-size", choices=["A4", "Letter", "a4", "letter"], metavar="A4|Letter",
                   help="paper of the PDF (default: Letter where the locale's territory uses it, US, CA, MX, ...; else A4)")
    add_verbose(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.phantom/1) on stdout")
    p.set_defaults(func=cmd_phantom)

    p = sub.add_parser(
        "baseline", formatter_class=HelpFormatter,
        help="set or show a scanner's phantom-QA baseline",
        description=textwrap.dedent(
            """\
            A baseline is the reference a scanner's daily phantom QA is compared with: the mean and
            SD of each metric (insert masses, c_HA, water HU, noise) over a set of its stored runs.
            It belongs to a scanner and an acquisition configuration (phantom, ring, kV, kernel,
            slice thickness, scoring settings).

              set   makes a new baseline version from the scanner's last --from-last N stored runs of
                    one configuration (at least the procedure's min_runs, 5 in daily-phantom-qa;
                    failed runs only with --include-failed), keeps
                    the old versions, and records who set it and --reason in the audit trail.  Set
                    it after commissioning, and again after a change that moves the values on
                    purpose (tube change, new software): never to hide a drift.
              show  lists every baseline version of the scanner (the active one marked): when it
                    was set, from which runs, the reason, and each metric's mean and SD.  It
                    changes nothing.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa baseline show --scanner CT1
              qa baseline set --scanner CT1 --from-last 10 --reason "after tube change"
              qa baseline set --scanner 3 --from-last 5
              qa baseline set --scanner CT1 --ring large --from-last 5

            The runs are those of one configuration (by default the latest run's; the ring as
            measured from the image or given with qa phantom --ring): the command lists the runs
            it selected and those it left out, and why.
            """
        ),
    )
    p.add_argument("action", choices=["set", "show"], metavar="set|show",
                   help="set: a new baseline version from the last N runs; show: list the baseline versions (changes nothing)")
    p.add_argument("--scanner", required=True, help="scanner id, station name or serial number (qa trend and qa phantom print them)")
    p.add_argument("--from-last", type=count, metavar="N", help="set: use the scanner's last N stored runs of one "
                   "configuration (at least the procedure's minimum, min_runs: 5 in daily-phantom-qa; default that minimum)")
    p.add_argument("--reason", help="set: why the baseline changes (kept in the audit trail)")
    p.add_argument("--include-failed", action="store_true", help="set: allow runs that failed their checks")
    p.add_argument("--ring", choices=["none", "large"], help="set: the baseline of the latest runs with this ring (default: the "
                   "configuration of the latest run)")
    p.add_argument("--like-run", type=count, metavar="RUN", help="set: the baseline of the configuration of this stored run")
    p.add_argument("--procedure", default="daily-phantom-qa", help="procedure id or .toml path")
    p.add_argument("--phantom", help="the .toml path of a site's own phantom that the procedure names (by its id)")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.baseline/1) on stdout")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser(
        "trend", formatter_class=HelpFormatter,
        help="control charts of a scanner's stored phantom runs",
        description=textwrap.dedent(
            """\
            Per metric, the scanner's runs (current configuration, protocol followed) against two
            kinds of limits: the procedure's tolerance and action level, which decide whether a run
            passes, warns or fails; and the statistical control limits (baseline mean +- 2 and 3
            chart SD, the SD never below the procedure's min_sd_pct of the mean), where the Western
            Electric rules and a CUSUM flag drift before it fails.  The columns and flags are
            explained above the tables; a per-month summary; optionally a PNG of the control charts.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa trend --scanner CT1
              qa trend --scanner CT1 --metric mass_800_5mm --plot ct1.png
              qa trend --scanner 2 --json > trend.json
            """
        ),
    )
    p.add_argument("--scanner", required=True, help="scanner id, station name or serial number")
    p.add_argument("--metric", help="one metric id (default: the main ones)")
    p.add_argument("--last", type=count, default=0, metavar="N", help="list only the last N runs (charts use all)")
    p.add_argument("--plot", metavar="FILE.png", help="write the control charts as a PNG (written whole; if it cannot be "
                   "written: exit 2, nothing written)")
    p.add_argument("--procedure", default="daily-phantom-qa", help="procedure id or .toml path (chart settings)")
    p.add_argument("--phantom", help="the .toml path of a site's own phantom that the procedure names (by its id)")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.trend/1) on stdout")
    p.set_defaults(func=cmd_trend)
