"""``qa trends dose|compliance``: the manager's aggregates of the stored studies.

Parses the arguments, calls :func:`qa.workflows.trends.store_trends` and prints its record: a
table per group with the units in the column heads and rounded values (the JSON and the exports
keep every digit).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TextIO

from qa.cli.common import EXIT_OK, HelpFormatter, fmt, json_out, local_time, one_line, table

# Decimals shown on the terminal: CTDIvol and mSv to 0.01, DLP to 0.1 mGy cm.
_DIGITS = {"ctdivol_mgy": 2, "dlp_total_mgycm": 1, "dose_msv": 2}
_HEADS = {"ctdivol_mgy": ("CTDIvol", "mGy"), "dlp_total_mgycm": ("DLP", "mGy cm"), "dose_msv": ("E", "mSv")}
# Outliers and studies listed on the terminal (all of them are in --json and the xlsx).
_SHOWN_OUTLIERS = 20
_SHOWN_STUDIES = 50


def cmd_trends(args: argparse.Namespace) -> int:
    from qa.workflows.trends import store_trends

    report = store_trends(args.kind, by=args.by, date_from=args.date_from, date_to=args.date_to, protocol=args.protocol,
                          scanner=args.scanner, db=args.db, csv=args.csv, xlsx=args.xlsx, dose_tables=args.dose_tables,
                          studies=args.studies)
    out = sys.stderr if args.json else sys.stdout
    print_trends(out, report)
    if args.json:
        json_out(report, "qa.trends/1")
    return EXIT_OK


def _key_cells(group, by) -> list[str]:
    cells = []
    for key in by:
        value = group.keys.get(key)
        cells.append(value.label() if key == "scanner" else (value if value is not None else "(none)"))
    return cells


def print_trends(out: TextIO, report) -> None:
    period = f"{report.period['from'] or 'the first study'} to {report.period['to'] or 'the last'}"
    grouped = ", ".join(report.by) or "nothing (one group)"
    counted = f"{report.n_studies} studies with a dose report"
    if report.kind == "compliance":  # compliance counts checklists: say how many studies have one
        counted = f"{sum(g.n_checked for g in report.groups)} studies with a checklist ({report.n_studies} with a dose report)"
    print(f"Trends   {report.kind}: {len(report.groups)} group(s) by {grouped}; {counted}, {period}", file=out)
    if report.filters.scanner_matched is not None:
        print(f"Scanner  {one_line(report.filters.scanner_matched.label())}", file=out)
    if report.filters.protocol is not None:
        print(f"Protocol {one_line(report.filters.protocol)}", file=out)
    for warning in report.warnings:
        print(f"warning: {warning}", file=out)
    if report.groups:
        (print_dose if report.kind == "dose" else print_compliance)(out, report)
    if report.exported:
        print(f"\nwritten  {report.exported}", file=out)


def print_dose(out: TextIO, report) -> None:
    heads = [k for k in report.by] + ["studies", "QA", "no report"]
    for name, (label, unit) in _HEADS.items():
        heads += [f"{label} n", f"{label} median ({unit})", f"{label} p75 ({unit})"]
    heads += ["events/study median", "Dose Check alert/notif.", "reference levels"]
    rows = []
    for g in report.groups:
        row = _key_cells(g, report.by) + [str(g.n_studies), str(g.n_qa_studies), str(g.n_without_dose_report)]
        for name in _HEADS:
            d = getattr(g, name)
            row += [str(d.n), fmt(d.median, _DIGITS[name]), fmt(d.p75, _DIGITS[name])]
        c = g.dose_check
        row += [fmt(g.events_per_study.median, 1), f"{c.n_alert_exceeded}/{c.n_notification_exceeded} of {c.n_events}"]
        row.append(_levels_text(g.reference_levels))
        rows.append(row)
    print("\n" + table(heads, rows, align="l" * len(report.by) + "r" * (len(heads) - len(report.by) - 1) + "l"), file=out)
    print("(studies: holding a CT dose report; p75: 75th percentile; E: effective dose; QA studies are counted in 'studies' and "
          "left out of the doses; no report: studies stored without a dose report, counted apart, not in the doses; Dose Check: "
          "irradiation events whose CT Dose Check alert / notification value was exceeded, of the events of the studies with a "
          "dose report)", file=out)
    if report.outliers:
        print(f"\nOutliers: |robust z| > {report.methods.outlier_threshold:g} within the scanner + protocol group "
              f"({len(report.outliers)})", file=out)
        rows = [[o.study_key, local_time(o.study_datetime), one_line(o.scanner.label()), o.protocol or "(none)",
                 f"{_HEADS[o.quantity][0]} ({_HEADS[o.quantity][1]})", fmt(o.value, _DIGITS[o.quantity]),
                 fmt(o.median, _DIGITS[o.quantity]), f"{o.z:+.1f}"] for o in report.outliers[:_SHOWN_OUTLIERS]]
        print(table(["study", "date", "scanner", "protocol", "quantity", "value", "group median", "z"], rows, align="llllrrrr"),
              file=out)
        if len(report.outliers) > _SHOWN_OUTLIERS:
            print(f"... and {len(report.outliers) - _SHOWN_OUTLIERS} more (--json or --xlsx lists them all)", file=out)
    if report.studies is not None:
        print_studies(out, report.studies)


def print_studies(out: TextIO, studies) -> None:
    print(f"\nStudies ({len(studies)}, by date)", file=out)
    rows = [[s.study_key, local_time(s.study_datetime) if s.study_datetime else "-", one_line(s.scanner.label()),
             one_line(s.protocol or "(none)"), ("QA " if s.is_qa else "") + ("" if s.has_dose_report else "no report"),
             str(s.n_events), fmt(s.ctdivol_mgy, 2), fmt(s.dlp_total_mgycm, 1), fmt(s.dose_msv, 2),
             f"{s.n_dose_check_alerts}/{s.n_dose_check_notifications}"] for s in studies[:_SHOWN_STUDIES]]
    print(table(["study", "date", "scanner", "protocol", "flags", "events", "CTDIvol (mGy)", "DLP (mGy cm)", "E (mSv)",
                 "Dose Check alert/notif."], rows, align="lllllrrrrr"), file=out)
    if len(studies) > _SHOWN_STUDIES:
        print(f"... and {len(studies) - _SHOWN_STUDIES} more (--json, --csv or --xlsx lists them all, with their events)", file=out)


def _levels_text(levels) -> str:
    """Each level on one line of text: a DRL's median (ABOVE when it is), a per-exam level's count above."""
    names = {"ctdivol_mgy": "CTDIvol", "dlp_mgycm": "DLP", "dose_msv": "E"}
    parts: dict[str, list[str]] = {}
    for lv in levels:
        if lv.compares == "median":
            text = f"{names[lv.quantity]} median {lv.value:.4g} {'ABOVE' if lv.exceeded else 'within'} {lv.limit:g} {lv.unit}"
        else:
            text = f"{names[lv.quantity]} {lv.n_above}/{lv.n} above {lv.limit:g} {lv.unit}"
        parts.setdefault(f"{lv.id} ({'DRL' if lv.compares == 'median' else 'per exam'})", []).append(text)
    return "; ".join(f"{level}: {', '.join(texts)}" for level, texts in parts.items()) or "-"


def print_compliance(out: TextIO, report) -> None:
    from qa.records.trends import PASS_RATE_MEANS  # here: every other command builds this parser too

    print(f"Verdicts incomplete: nothing failed or warned, but a check could not be run (never a pass); "
          f"pass rate = {PASS_RATE_MEANS}", file=out)
    for g in report.groups:
        keys = ", ".join(f"{k} {c}" for k, c in zip(report.by, _key_cells(g, report.by))) or "all studies"
        v = g.verdicts
        rate = f"{fmt(100.0 * g.pass_rate, 1)} %" if g.pass_rate is not None else "-"
        print(f"\n{keys}: {g.n_checked} studies with a checklist (verdicts: {v['pass']} pass, {v['incomplete']} incomplete, "
              f"{v['warn']} warn, {v['fail']} fail; pass rate {rate}); {g.n_studies} studies with a dose report", file=out)
        if not g.checks:
            continue
        rows = [[c.id, str(c.counts["fail"]), str(c.counts["warn"]), str(c.counts["pass"]), str(c.counts["not_available"]),
                 str(c.counts["not_applicable"]), fmt(100.0 * c.failure_rate, 1) if c.failure_rate is not None else "-"]
                for c in g.checks]
        print(textwrap.indent(table(["check", "fail", "warn", "pass", "n/a", "not applicable", "failure rate (%)"], rows), "  "),
              file=out)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "trends", formatter_class=HelpFormatter,
        help="dose and compliance aggregates of the stored studies, per scanner, protocol and month",
        description=textwrap.dedent(
            """\
            The manager's view of the stored studies (qa ingest, qa check --db, qa dose --db), computed
            in the database.  dose: per group, the studies with a CT dose report (QA studies counted
            apart and left out of the doses), and of CTDIvol, DLP and effective dose the count, median,
            75th percentile (linear interpolation, as numpy and PostgreSQL's percentile_cont) and mean;
            each reference level the studies take (a DRL against the median, a per-exam alert level
            against each exam); the outliers (robust z over the scanner + protocol group, |z| > 3.5).
            compliance: per group, the latest checklists' verdicts (pass, incomplete: nothing failed or
            warned but a check could not be run, warn, fail) and the pass rate = pass / checked
            studies (incomplete, warn and fail count as not passed); per check, the counts by status
            and the failure rate (fail / judged).  The store is only read.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa trends dose
              qa trends dose --by scanner,month --from 2026-01 --to 2026-06
              qa trends dose --scanner CT1 --protocol "*calcium*" --xlsx dose.xlsx
              qa trends dose --from 2026-03 --to 2026-03 --studies --xlsx march.xlsx   ... every study and event
              qa trends compliance --by protocol --from 2026-03-01 --csv compliance.csv
              qa trends dose --db postgresql+psycopg://qa@db/qa --json > trends.json
            """
        ),
    )
    p.add_argument("kind", choices=["dose", "compliance"], help="what to aggregate")
    p.add_argument("--by", default="scanner,protocol,month", metavar="KEYS",
                   help="group by any of scanner,protocol,month, comma-separated, in sort order (default scanner,protocol,month; "
                        "none: one group)")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first day (YYYY-MM-DD, or YYYY-MM: from the month's first day)")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day, included (YYYY-MM-DD, or YYYY-MM: to the month's last day)")
    p.add_argument("--protocol", metavar="PATTERN", help="only protocols (as the scanner wrote them) matching this pattern "
                   "(* and ?, case ignored)")
    p.add_argument("--scanner", metavar="ID", help="only this scanner (id, station name or serial number)")
    p.add_argument("--db", metavar="URL", help="database URL (default: $QA_DB_URL, else a SQLite file in your data folder)")
    p.add_argument("--dose-tables", default="dose-reference", metavar="ID|PATH",
                   help="the reference levels (default dose-reference)")
    exports = p.add_mutually_exclusive_group()
    exports.add_argument("--csv", metavar="FILE", help="write one row per group as CSV (units in the column heads)")
    exports.add_argument("--xlsx", metavar="FILE", help="write one row per group (and the outliers) as an Excel workbook")
    p.add_argument("--studies", action="store_true",
                   help="dose: also list every study kept, by date, with its events and Dose Check counts (the CSV then holds one "
                        "row per study; the xlsx adds a studies and an events sheet)")
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.trends/1) on stdout")
    p.set_defaults(func=cmd_trends)
