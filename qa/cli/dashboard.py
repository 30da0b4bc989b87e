"""``qa dashboard``: the manager's fleet view as a static web page (:mod:`qa.workflows.dashboard`)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from qa.cli.common import EXIT_OK, HelpFormatter, count, json_out, one_line


def cmd_dashboard(args: argparse.Namespace) -> int:
    from qa.workflows.dashboard import build_dashboard

    board = build_dashboard(out=args.out, db=args.db, months=args.months, procedures=args.procedure)
    out = sys.stderr if args.json else sys.stdout
    w = board.window
    print(f"Window   {w.start} to {w.end} ({w.months} months), {board.n_studies} studies, {len(board.scanners)} scanners "
          f"from {one_line(board.database)}", file=out)
    for s in board.scanners:
        qa = s.last_qa
        last = "no phantom QA stored" if qa is None else (f"last QA {qa.verdict} {qa.age_days} d ago"
                                                          + (" OVERDUE" if qa.overdue else ""))
        print(f"  {one_line(s.label)}: {s.n_studies} studies ({s.n_calcium_score} calcium score); {last}", file=out)
    for warning in board.warnings:
        print(f"warning: {one_line(warning)}", file=out)
    print(f"page     {one_line(board.files[-1])}", file=out)
    if args.json:
        json_out(board, "qa.dashboard/1")
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser(
        "dashboard", formatter_class=HelpFormatter,
        help="the fleet as a web page: phantom QA, dose against reference levels, compliance",
        description=textwrap.dedent(
            """\
            Writes a static web page (OUT/index.html) that a manager opens in a browser from a file
            share, without a server: each scanner's last phantom QA and whether it is overdue, the
            dose medians of its calcium-score studies against the reference levels, the compliance
            rate of its checklists; a section per scanner with monthly trends, its phantom QA runs
            and its outliers.  Filters in the page (dates, protocol, scanner) recompute the numbers.
            The store is only read.  The page holds pseudonyms and numbers, no identifier.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa dashboard --out /srv/share/ct-dashboard
              qa dashboard --db postgresql+psycopg://qa@db/qa --out dashboard --months 25
              qa dashboard --out dashboard --json
              qa dashboard --out dashboard --procedure /etc/qa/weekly-phantom-qa.toml
            """
        ),
    )
    p.add_argument("--db", metavar="URL", help="database URL (default: $QA_DB_URL, else a SQLite file in your data folder)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the page (created when missing; its files are replaced)")
    p.add_argument("--months", type=count, default=13, metavar="N",
                   help="calendar months shown, ending with this month (default 13)")
    p.add_argument("--procedure", action="append", default=[], metavar="FILE.toml",
                   help="a site's own phantom-QA procedure file, for how often its QA is due (its interval_days); "
                        "repeat for several (built-in procedures need none)")
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.dashboard/1) on stdout")
    p.set_defaults(func=cmd_dashboard)
