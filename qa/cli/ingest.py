"""``qa ingest``: exams and dose reports into the store (:func:`qa.workflows.ingest.ingest`)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from qa.cli.common import HelpFormatter, add_verbose, json_out, one_line, print_files_skipped, progress_stages


def positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def cmd_ingest(args: argparse.Namespace) -> int:
    from qa.workflows.ingest import ingest

    out = sys.stderr if args.json else sys.stdout
    run = ingest(args.paths, db=args.db, workers=args.workers, progress=progress_stages(sys.stderr.isatty()))
    print_ingest(out, run, args.verbose)
    if args.json:
        json_out(run, "qa.ingest/1")
    return run.exit_code


def print_ingest(out, run, verbose: bool) -> None:
    s = run.studies
    print(f"Store    {run.database}", file=out)
    print(f"Studies  {s.added} added, {s.updated} updated, {s.unchanged} unchanged, {s.not_stored} not stored, "
          f"{s.refused} refused", file=out)
    o = run.objects
    print(f"Objects  {o.found} DICOM objects found ({o.already_stored} of them stored before); {o.read} read in full (every "
          f"object of a study with anything new); {run.dose_reports} dose report(s), {run.checklists} checklist(s) stored", file=out)
    if run.files is not None:  # the first pass opens every file for its headers, stored before or not
        hint = " (--verbose lists them)" if run.files.skipped and not verbose else ""
        print(f"Files    {run.files.read} file(s) opened for their headers, {run.files.skipped} skipped{hint}", file=out)
        if verbose:
            print_files_skipped(out, run.files)
    for note in run.not_stored:
        print(f"not stored: study {note.study_key}: {one_line(note.reason)}", file=out)
    for note in run.refused:
        where = f" ({one_line(note.file)})" if note.file else ""
        print(f"refused: study {note.study_key}{where}: {one_line(note.reason)}", file=out)
    if verbose:
        for warning in run.warnings:
            print(f"note:    {one_line(warning)}", file=out)
    elif run.warnings:
        print(f"notes    {len(run.warnings)} (--verbose lists them)", file=out)
    print(f"Done     in {run.elapsed_s:.1f} s with {run.workers} worker(s)", file=out)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ingest", formatter_class=HelpFormatter,
        help="exams and dose reports into the store, study by study (idempotent; the manager's trends)",
        description=textwrap.dedent(
            """\
            Reads folders, zips and files of exams and CT dose reports (headers only), groups them by
            study and stores each study with its scanner, date, protocol, dose events (merged by
            Irradiation Event UID), effective dose with its k and, for calcium-score exams, the full
            qa check checklist (breath_hold_motion is not_available: headers only).  Identifiers are
            stored only as keyed pseudonyms (the operator's name in clear only with
            QA_OPERATOR_NAMES=clear).  Objects stored before are skipped: running it again adds
            nothing, and a run killed midway loses and duplicates nothing.  Phantom QA series
            without a dose report are phantom runs (qa phantom), not studies: listed, not stored.
            Unreadable files are listed with the reason and never stop the run.
            Exit 0 every readable object stored (or listed as not stored), 1 a study was refused
            (listed with the reason), 2 nothing could be read or the database cannot be used.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa ingest /data/exams                     into the default store
              qa ingest /data/exams /data/dose-reports --db postgresql+psycopg://qa@dbhost/qa --workers 4
              qa ingest export.zip --json > ingest.json
              qa ingest /data/exams --verbose           every skipped file and note listed
            """
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders, zip files or DICOM files of exams and dose reports")
    p.add_argument("--db", metavar="URL", help="database URL (default: QA_DB_URL, else the SQLite file in your data folder)")
    p.add_argument("--workers", type=positive_count, default=1, metavar="N", help="processes reading and storing studies (default 1)")
    add_verbose(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.ingest/1) on stdout")
    p.set_defaults(func=cmd_ingest)
