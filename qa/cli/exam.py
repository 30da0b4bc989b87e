"""``qa check`` (an exam against its protocol) and ``qa dose`` (dose reports: events, DLP, mSv).

Each parses its arguments, calls one workflow (:func:`qa.workflows.exam.check_exam_files`,
:func:`qa.workflows.dose.summarise_dose`) and prints its record.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from qa.cli.common import EXIT_FAIL, EXIT_OK, HelpFormatter, Progress, add_verbose, fmt, json_out, one_line, print_files, short, table
from qa.cli.verdicts import print_checks, print_verdict


# ------------------------------------------------------------------------------------ check


def cmd_check(args: argparse.Namespace) -> int:
    from qa.workflows.exam import check_exam_files

    run = check_exam_files(args.exam, protocol=args.protocol, series_uid=args.series_uid, dose_tables=args.dose_tables, ecg=args.ecg,
                           lead=args.lead, plot=args.plot, progress=None if args.json else Progress("reading headers"), db=args.db)
    out = sys.stderr if args.json else sys.stdout
    print_checklist(out, run.checklist)
    print_files(out, run.files, args.verbose)
    if run.plot:
        print(f"plot     {run.plot}", file=out)
    print_stored(out, run.stored)
    if args.json:
        json_out(run, "qa.check/1")
    return EXIT_FAIL if run.verdict == "fail" else EXIT_OK


def print_stored(out, stored) -> None:
    """Where --db stored the studies (nothing without --db)."""
    if stored is None:
        return
    for ref in stored.studies:
        print(f"Stored   study {ref.study_key} ({ref.status}, #{ref.study_id}) in {stored.database}", file=out)


def print_checklist(out, checklist) -> None:
    exam = checklist.exam
    h = exam.headers
    print(f"Exam     {one_line(h.manufacturer or None)} {one_line(h.model or '')}, station {one_line(h.station_name or None)}; "
          f"study {one_line(exam.study_key or None)}", file=out)
    print(f"Series   {one_line(h.series_description or '(no description)')}: {h.n_images} images, "
          f"{fmt(h.slice_thickness_mm, 2)} mm, kernel {one_line(h.kernel or None)}", file=out)
    for s in exam.series:
        if s.role != "checked":
            print(f"         also in the exam: '{one_line(s.description or '(no description)')}' ({s.n_images} images, "
                  f"{fmt(s.slice_thickness_mm, 2)} mm) {s.series_instance_uid}", file=out)
    print(f"Protocol {exam.protocol_choice}", file=out)
    print("", file=out)
    print_checks(out, checklist.checks)
    print("", file=out)
    dose = checklist.dose
    d = dose.effective
    if d.dose_msv is not None:
        print(f"Dose     DLP {fmt(dose.dlp_mgycm, 1)} mGy cm ({dose.dlp_source}); E {d.dose_msv:.2f} mSv"
              f"{' (lower bound)' if d.lower_bound else ''}, k {d.k_msv_per_mgycm if d.k_msv_per_mgycm is not None else 'per event'}"
              f" mSv/(mGy cm), ICRP {d.icrp_basis or '-'}", file=out)
    for w in checklist.warnings:
        print(f"note:    {w}", file=out)
    print_verdict(out, checklist.summary, checklist.verdict_message, checklist.checks)


# ------------------------------------------------------------------------------------ dose


def cmd_dose(args: argparse.Namespace) -> int:
    from qa.workflows.dose import summarise_dose

    summary = summarise_dose(args.paths, k_factor=args.k_factor, protocol=args.protocol, dose_tables=args.dose_tables, db=args.db)
    out = sys.stderr if args.json else sys.stdout
    for study in summary.reports:
        print_study_dose(out, study)
    print_files(out, summary.files, args.verbose)
    print_stored(out, summary.stored)
    if args.json:
        json_out(summary, "qa.dose/1")
    return EXIT_FAIL if summary.verdict == "fail" else EXIT_OK


def print_study_dose(out, study) -> None:
    print(f"\nStudy    {one_line(study.manufacturer or None)} {one_line(study.model or '')} {one_line(study.study_datetime or '')}: "
          f"{len(study.events)} event(s) "
          f"from {len(study.sop_instance_uids)} report(s); study {study.study_key or '?'}", file=out)
    rows = [[str(n + 1), e.acquisition_type or "-", one_line(e.protocol or "-"), one_line(e.target_region or "-"),
             "/".join(short(k) for k in e.kvp) or "-", short(e.ctdivol_mgy), short(e.dlp_mgycm), e.phantom or "-",
             short(e.dose_msv), short(e.k_msv_per_mgycm)]
            for n, e in enumerate(study.events)]
    print(table(["#", "type", "protocol", "region", "kVp", "CTDIvol mGy", "DLP mGy cm", "phantom", "E mSv", "k"], rows,
                align="lllllrrlrr"), file=out)
    for n, e in enumerate(study.events):
        if e.dose_check is not None:
            print(f"Dose Check #{n + 1}: {dose_check_text(e.dose_check)}", file=out)
    by_phantom = ", ".join(f"{k} {v:g}" for k, v in study.dlp_by_phantom_mgycm.items() if v)
    print(f"DLP      total {short(study.dlp_total_mgycm)} mGy cm ({study.dlp_total_method}); by phantom: {by_phantom or '-'}", file=out)
    if study.phantom_qa is not None:
        print(f"E        none: {study.k_source}", file=out)
    else:
        print(f"E        {short(study.effective_dose_msv)} mSv; k {study.k_source}; ICRP {study.icrp_basis or 'mixed'}", file=out)
    level = study.reference_level
    if level is not None:
        print(f"Level    {level.name}: a {level.what} ({study.reference_level_choice})", file=out)
        for c in study.checks:
            shown = "shown for context, not judged" if c.status == "not_applicable" else c.status.upper()
            print(f"         {c.id}: {c.message}: {shown}", file=out)
    else:
        print(f"Level    none: {study.reference_level_choice}", file=out)
    for w in study.warnings:
        print(f"note:    {w}", file=out)
    print(f"Verdict  {study.verdict_message}", file=out)


def dose_check_text(d) -> str:
    """An event's Dose Check (TID 10015) on one line: the alert and the notification, each with its
    configured values, EXCEEDED with the scanner's estimate, the reason and who authorised it (a pseudonym)."""
    parts = []
    for kind, dlp, ctdi, dlp_estimate, ctdi_estimate, reason, person, exceeded in (
            ("alert", d.alert_dlp_mgycm, d.alert_ctdivol_mgy, d.alert_accumulated_dlp_forward_estimate_mgycm,
             d.alert_accumulated_ctdivol_forward_estimate_mgy, d.alert_reason, d.alert_person_key, d.alert_exceeded),
            ("notification", d.notification_dlp_mgycm, d.notification_ctdivol_mgy, d.notification_dlp_forward_estimate_mgycm,
             d.notification_ctdivol_forward_estimate_mgy, d.notification_reason, d.notification_person_key, d.notification_exceeded)):
        if exceeded is None:
            parts.append(f"{kind} not reported")
            continue
        values = [f"{name} {value:g} {unit}" + (f" (estimate {estimate:g})" if estimate is not None else "")
                  for name, value, estimate, unit in (("DLP", dlp, dlp_estimate, "mGy cm"), ("CTDIvol", ctdi, ctdi_estimate, "mGy"))
                  if value is not None]
        if not values and not exceeded:
            parts.append(f"{kind} not configured")
            continue
        text = f"{kind} {', '.join(values) or '(values not reported)'}: {'EXCEEDED' if exceeded else 'not exceeded'}"
        if reason is not None:
            text += f", reason {one_line(reason)!r}"
        if person is not None:
            text += f", authorised by {person}"
        parts.append(text)
    return "; ".join(parts)


# ------------------------------------------------------------------------------------ parsers


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check", formatter_class=HelpFormatter,
        help="check a calcium-score exam against its protocol (headers, dose, ECG)",
        description=textwrap.dedent(
            """\
            The technologist's checklist of one calcium-score exam: picks the calcium-score series
            (named as such, thickness and kernel closest to the protocol), reads its headers (standard
            tags, then the vendor's private tags), the exam's dose report when present, and checks
            kVp, thickness, increment, kernel, reconstruction, field of view, gating mode, phase,
            heart rate, coverage, CTDIvol, DLP and effective dose.  Exit 0 pass (warnings allowed),
            1 a check failed, 2 unusable input.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa check /data/exams/1234                 the protocol is chosen by vendor and description
              qa check exam/ --protocol cac-siemens     a given protocol (id or .toml path)
              qa check exam/ --series-uid 1.2.3... --json > check.json
              qa check exam/ --ecg exam-ecg.csv         adds heart rate, rhythm and exposure timing from the trace
              qa check exam/ --ecg exam-ecg.csv --plot strip.png   ... and draws the ECG strip
              qa check exam/ --db sqlite:////data/qa.sqlite        ... and stores the study and its checklist (qa trends)
            """
        ),
    )
    p.add_argument("exam", nargs="+", metavar="EXAM", help="folder, zip file or DICOM files of the exam")
    p.add_argument("--protocol", help="exam protocol id (cac-standard, cac-ge, ...) or .toml path")
    p.add_argument("--series-uid", help="check this series instead of the one the protocol prefers")
    p.add_argument("--dose-tables", default="dose-reference", help="k-factor and reference-level tables (id or .toml path)")
    p.add_argument("--ecg", metavar="TRACE", help="the exam's ECG trace: adds heart_rate from the trace, rhythm and exposure_timing")
    p.add_argument("--lead", help="ECG lead to use (with --ecg)")
    p.add_argument("--db", metavar="URL", help="store the exam's study, dose and checklist in this database (as qa ingest does); "
                                               "without it nothing is stored")
    p.add_argument("--plot", metavar="FILE.png",
                   help="with --ecg: write the ECG strip with R-peaks and the stacks' exposure windows (written whole; "
                        "if it cannot be written: exit 2, nothing written)")
    add_verbose(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.check/1) on stdout")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "dose", formatter_class=HelpFormatter,
        help="dose reports: events, DLP, CTDIvol, effective dose, reference levels",
        description=textwrap.dedent(
            """\
            Reads CT Radiation Dose SRs (X-Ray Radiation Dose SR or Enhanced SR) and Philips dose
            info captures; merges cumulative re-sends of a study by Irradiation Event UID; prints per
            study the events, the report's own DLP total with head/body subtotals, the effective dose
            with its k, k source and ICRP basis, and the comparison with the reference level chosen
            by protocol name or target region: a per-exam alert level judges the exam (a warning
            above it); a diagnostic reference level (DRL) is an audit level for the median of many
            exams (qa trends dose) and is shown beside the exam for context, never judging it.  A
            phantom QA study (a description naming phantom, QA, QC or physics) gets no patient
            effective dose and no reference level, and says so.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa dose /data/dose-reports/
              qa dose rdsr1.dcm rdsr2.dcm --json > dose.json
              qa dose report.dcm --k-factor cardiac --protocol cac-standard
              qa dose /data/dose-reports/ --db postgresql+psycopg://qa@dbhost/qa   ... and stores each study
            """
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="dose report files or folders")
    p.add_argument("--k-factor", help="use this k-factor id for body events (default: by target region)")
    p.add_argument("--protocol", help="exam protocol id, to choose the reference level")
    p.add_argument("--dose-tables", default="dose-reference", help="k-factor and reference-level tables (id or .toml path)")
    p.add_argument("--db", metavar="URL", help="store each study and its dose events in this database, exactly as qa ingest "
                                               "stores them (a calcium score judged by the protocol qa check would choose, "
                                               "unless --protocol; --k-factor changes only what is printed); without it nothing "
                                               "is stored")
    add_verbose(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.dose/1) on stdout")
    p.set_defaults(func=cmd_dose)
