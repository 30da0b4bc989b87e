"""``qa check`` (an exam against its protocol) and ``qa dose`` (dose reports: events, DLP, mSv)."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from qa.cli.common import EXIT_FAIL, EXIT_OK, HelpFormatter, Progress, fmt, json_out, now_iso, short, table


# ------------------------------------------------------------------------------------ check


def cmd_check(args: argparse.Namespace) -> int:
    from qa import __version__
    from qa.compliance import check_exam
    from qa.dicom.exam import load_exam
    from qa.dose import load_dose_tables
    from qa.errors import UsageError

    if args.plot and args.ecg is None:
        raise UsageError("--plot draws the exam's ECG strip and needs --ecg TRACE", hint="add --ecg with the exam's ECG trace")
    tables = load_dose_tables(args.dose_tables)
    given = None
    if args.protocol is not None:
        from qa.compliance import validate_protocol
        from qa.procedures import load_protocol

        given = load_protocol(args.protocol)
        validate_protocol(given, tables)  # before reading the exam
    exam, protocol = load_exam(args.exam, protocol=given, series_uid=args.series_uid,
                               progress=None if args.json else Progress("reading headers"))
    gating = None
    if args.ecg is not None:
        from qa.cli.gating import gating_for_exam

        gating = gating_for_exam(args.ecg, exam, protocol, lead=args.lead)
    checklist = check_exam(exam, protocol, tables, gating=gating)
    out = sys.stderr if args.json else sys.stdout
    print_checklist(out, exam, checklist)
    if args.plot:
        from qa.report.plots import write_ecg_strip

        print(f"plot     {write_ecg_strip(args.plot, gating)}", file=out)
    if args.json:
        document = checklist.to_dict()
        document["analysis_time"] = now_iso()
        document["provenance"] = {"qa_version": __version__, "analysis_time": document["analysis_time"], "protocol": protocol.id,
                                  "protocol_sha256": protocol.sha256, "dose_tables_sha256": tables.sha256,
                                  "sop_instance_uids": list(exam.headers.sop_instance_uids)}
        json_out(document, "qa.check/1")
    return EXIT_FAIL if checklist.verdict == "fail" else EXIT_OK


def print_checklist(out, exam, checklist) -> None:
    h = exam.headers
    print(f"Exam     {h.manufacturer or '?'} {h.model or ''}, station {h.station_name or '?'}; study {exam.study_key or '?'}", file=out)
    print(f"Series   {h.series_description or '(no description)'}: {h.n_images} images, {fmt(h.slice_thickness_mm, 2)} mm, "
          f"kernel {h.kernel or '?'}", file=out)
    others = [s for s in exam.series if s.role != "checked"]
    for s in others:
        print(f"         also in the exam: '{s.description or '(no description)'}' ({s.n_images} images, "
              f"{fmt(s.slice_thickness_mm, 2)} mm) {s.series_instance_uid}", file=out)
    print(f"Protocol {exam.protocol_choice}", file=out)
    print("", file=out)
    rows = [[c.id, c.status.upper(), short(c.measured), short(c.expected), c.message] for c in checklist.checks]
    print(table(["check", "status", "measured", "expected", "message"], rows, align="lllll"), file=out)
    print("", file=out)
    d = checklist.effective_dose
    if d.dose_msv is not None:
        print(f"Dose     DLP {fmt(checklist.dlp_mgycm, 1)} mGy cm ({checklist.dlp_source}); E {d.dose_msv:.2f} mSv"
              f"{' (lower bound)' if d.lower_bound else ''}, k {d.k_msv_per_mgycm if d.k_msv_per_mgycm is not None else 'per event'}"
              f" mSv/(mGy cm), ICRP {d.icrp_basis or '-'}", file=out)
    for w in checklist.warnings:
        print(f"note:    {w}", file=out)
    print(f"VERDICT  {checklist.verdict_message}", file=out)


# ------------------------------------------------------------------------------------ dose


def cmd_dose(args: argparse.Namespace) -> int:
    from qa.dicom import files
    from qa.dicom.rdsr import merge_reports, read_dose_report
    from qa.dose import compared_dose, load_dose_tables, reference_level_for, region_of, study_dose
    from qa.errors import InputError

    from qa.errors import UsageError

    tables = load_dose_tables(args.dose_tables)
    if args.k_factor is not None and args.k_factor not in tables.k_factors:
        raise UsageError(f"--k-factor {args.k_factor!r} is not in {tables.path}", hint=f"choose one of {', '.join(tables.k_factors)}")
    protocol = None
    if args.protocol is not None:
        from qa.procedures import load_protocol

        protocol = load_protocol(args.protocol)  # a protocol that does not exist is an error, never ignored
    sources = files.expand_inputs(args.paths)
    reports, skipped = [], []
    with files.Reader(headers_only=True) as reader:  # zip members are read from its temporary copies
        for src in sources:
            path = src.path
            if path is None:
                ds = reader.read(src)
                path = getattr(ds, "filename", None) if ds is not None else None
                if not isinstance(path, str):
                    skipped.append(f"{os.path.basename(src.label)}: not a DICOM file")
                    continue
            try:
                reports.append(read_dose_report(path, label=src.label))
            except InputError as exc:
                if len(sources) == 1:
                    raise
                skipped.append(f"{os.path.basename(src.label)}: {exc.message}")
    if not reports:
        raise InputError(args.paths[0] if len(args.paths) == 1 else None, None,
                         "no CT dose report among the input" + (":\n  " + "\n  ".join(skipped) if skipped else ""),
                         hint="pass CT Radiation Dose SR files (or a folder holding them)")
    out = sys.stderr if args.json else sys.stdout
    studies = []
    for study in merge_reports(reports):
        names = [e.acquisition_protocol for e in study.events]
        level, why = reference_level_for(tables, protocol_id=protocol.id if protocol else None, names=names,
                                         region_codes=[region_of(e) for e in study.events],
                                         named_level=protocol.reference_level if protocol else None)
        estimate = study_dose(study.events, tables, protocol_k=args.k_factor, dlp_total_mgycm=study.dlp_total_mgycm,
                              k_origin="--k-factor")
        compared = compared_dose(study.events, study.dlp_total_mgycm, study.dlp_by_phantom_mgycm)
        mixed, compared_dlp, compared_ctdivol = compared.mixed, compared.dlp_mgycm, compared.ctdivol_mgy
        ctdivol = compared_dose(study.events, None, {}).ctdivol_mgy  # the study's highest, whatever the phantom
        comparisons = []
        if level is not None:
            for quantity, value, unit in (("ctdivol_mgy", compared_ctdivol, "mGy"), ("dlp_mgycm", compared_dlp, "mGy cm"),
                                          ("dose_msv", estimate.dose_msv, "mSv")):
                limit = getattr(level, quantity)
                if limit is not None and value is not None:
                    comparisons.append({"quantity": quantity, "value": value, "level": limit, "unit": unit,
                                        "phantom": "body32" if mixed and quantity != "dose_msv" else None,
                                        "status": "pass" if value <= limit else "warn"})
        print(f"\nStudy    {study.manufacturer or '?'} {study.model or ''} {study.study_datetime or ''}: {len(study.events)} event(s) "
              f"from {len(study.sop_instance_uids)} report(s)", file=out)
        rows = [[str(n + 1), e.acquisition_type or "-", (e.acquisition_protocol or "-")[:28], (e.target_region or "-")[:16],
                 "/".join(short(k) for k in e.kvp) or "-", short(e.ctdivol_mgy), short(e.dlp_mgycm), e.phantom or "-",
                 short(ev.dose_msv), short(ev.k_msv_per_mgycm)]
                for n, (e, ev) in enumerate(zip(study.events, estimate.events))]
        print(table(["#", "type", "protocol", "region", "kVp", "CTDIvol mGy", "DLP mGy cm", "phantom", "E mSv", "k"], rows,
                    align="lllllrrlrr"), file=out)
        by_phantom = ", ".join(f"{k} {v:g}" for k, v in study.dlp_by_phantom_mgycm.items() if v)
        print(f"DLP      total {short(study.dlp_total_mgycm)} mGy cm ({study.dlp_total_method}); by phantom: {by_phantom or '-'}", file=out)
        print(f"E        {short(estimate.dose_msv)} mSv; k {estimate.k_source}; ICRP {estimate.icrp_basis or 'mixed'}", file=out)
        if level is not None:
            listing = "; ".join(f"{c['quantity']} {c['value']:.4g} vs {c['level']:g} {c['unit']}: {c['status'].upper()}" for c in comparisons)
            print(f"Level    {level.name} [{level.kind}] ({why}): {listing or 'nothing to compare'}", file=out)
        else:
            print(f"Level    none ({why})", file=out)
        for w in list(study.warnings) + list(estimate.notes):
            print(f"note:    {w}", file=out)
        names_only = [os.path.basename(path) for path in study.paths]  # file names only: folders may name patients
        studies.append({
            "source_file": names_only[-1] if names_only else None,
            "source_files": names_only,
            "study_instance_uid": study.study_instance_uid,
            "sop_instance_uids": list(study.sop_instance_uids),
            "superseded_sop_instance_uids": list(study.superseded_sop_instance_uids),
            "manufacturer": study.manufacturer,
            "model": study.model,
            "station_name": study.station_name,
            "study_datetime": study.study_datetime,
            "events": [
                {"irradiation_event_uid": e.irradiation_event_uid, "acquisition_type": e.acquisition_type,
                 "protocol": e.acquisition_protocol, "target_region": e.target_region,
                 "target_region_code": [e.target_region_code, e.target_region_scheme] if e.target_region_code else None,
                 "kvp": list(e.kvp), "tube_current_ma": list(e.tube_current_ma), "ctdivol_mgy": e.ctdivol_mgy,
                 "dlp_mgycm": e.dlp_mgycm, "phantom": e.phantom, "k_msv_per_mgycm": ev.k_msv_per_mgycm,
                 "k_source": ev.k_source, "icrp_basis": ev.icrp_basis, "dose_msv": ev.dose_msv, "sources": dict(e.sources)}
                for e, ev in zip(study.events, estimate.events)
            ],
            "ctdivol_mgy": ctdivol,
            "dlp_total_mgycm": study.dlp_total_mgycm,
            "dlp_total_method": study.dlp_total_method,
            "dlp_by_phantom_mgycm": dict(study.dlp_by_phantom_mgycm),
            "effective_dose_msv": estimate.dose_msv,
            "k_msv_per_mgycm": estimate.k_msv_per_mgycm,
            "k_source": estimate.k_source,
            "icrp_basis": estimate.icrp_basis,
            "effective_dose": estimate.to_dict(),
            "reference_level": level.to_dict() if level is not None else None,
            "reference_level_choice": why,
            "comparisons": comparisons,
            "warnings": list(study.warnings) + list(estimate.notes),
        })
    for s in skipped:
        print(f"skipped: {s}", file=out)
    if args.json:
        json_out({"reports": studies, "skipped": skipped, "dose_tables_sha256": tables.sha256}, "qa.dose/1")
    return EXIT_OK


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
            """
        ),
    )
    p.add_argument("exam", nargs="+", metavar="EXAM", help="folder, zip file or DICOM files of the exam")
    p.add_argument("--protocol", help="exam protocol id (cac-standard, cac-ge, ...) or .toml path")
    p.add_argument("--series-uid", help="check this series instead of the one the protocol prefers")
    p.add_argument("--dose-tables", default="dose-reference", help="k-factor and reference-level tables (id or .toml path)")
    p.add_argument("--ecg", metavar="TRACE", help="the exam's ECG trace: adds heart_rate from the trace, rhythm and exposure_timing")
    p.add_argument("--lead", help="ECG lead to use (with --ecg)")
    p.add_argument("--plot", metavar="FILE.png", help="with --ecg: write the ECG strip with R-peaks and the stacks' exposure windows")
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
            by protocol name or target region.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa dose /data/dose-reports/
              qa dose rdsr1.dcm rdsr2.dcm --json > dose.json
              qa dose report.dcm --k-factor cardiac --protocol cac-standard
            """
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="dose report files or folders")
    p.add_argument("--k-factor", help="use this k-factor id for body events (default: by target region)")
    p.add_argument("--protocol", help="exam protocol id, to choose the reference level")
    p.add_argument("--dose-tables", default="dose-reference", help="k-factor and reference-level tables (id or .toml path)")
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.dose/1) on stdout")
    p.set_defaults(func=cmd_dose)
