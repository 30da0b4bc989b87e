"""``qa motion``: breath-hold motion between the stacks of a CT series (:func:`qa.workflows.motion.analyse_series_motion`)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from qa.cli.common import (EXIT_FAIL, EXIT_OK, HelpFormatter, add_verbose, fmt, json_out, one_line, positive, print_files,
                           progress_stages, table)


def cmd_motion(args: argparse.Namespace) -> int:
    from qa.workflows.motion import analyse_series_motion

    out = sys.stderr if args.json else sys.stdout
    run = analyse_series_motion(args.series, protocol=args.protocol, series_uid=args.series_uid, plot=args.plot, ecg=args.ecg,
                                lead=args.lead, fs_hz=args.fs, progress=progress_stages(out.isatty()))
    print_motion(out, run)
    print_files(out, run.files, args.verbose)
    if run.plot:
        print(f"plot     {run.plot}", file=out)
    if args.json:
        json_out(run, "qa.motion/1")
    return EXIT_FAIL if run.failed else EXIT_OK


def print_motion(out, run) -> None:
    a, s = run.analysis, run.series
    print(f"Series   {one_line(s.series_description) or '(no description)'}: {s.n_slices} slices, "
          f"thickness {fmt(s.slice_thickness_mm, 2)} mm, increment {s.slice_increment_mm:g} mm", file=out)
    print(f"Stacks   {len(a.stacks)} (told apart by {a.stack_basis}); protocol {run.protocol.id} [motion]: "
          f"{a.settings.source}", file=out)
    rows = [[str(st.index), str(st.first_slice), str(st.n_slices), f"{st.z_range_mm[0]:.1f} .. {st.z_range_mm[1]:.1f}" if st.z_range_mm else "-",
             one_line(st.acquisition_time or "-")] for st in a.stacks]
    print(table(["stack", "first slice", "slices", "z mm", "acquired"], rows, align="rrrll"), file=out)
    if a.boundaries:
        print("", file=out)
        rows = [[f"{b.between[0]} -> {b.between[1]}", fmt(b.z_mm, 1), fmt(b.shift_mm.lr, 2), fmt(b.shift_mm.ap, 2),
                 fmt(b.shift_mm.cc, 2), fmt(b.ncc, 3), fmt(b.robust_z, 1), b.status.upper(), b.message]
                for b in a.boundaries]
        print(table(["stacks", "z mm", "lr mm", "ap mm", "cc mm", "NCC", "robust z", "status", "message"], rows,
                    align="lrrrrrrll"), file=out)
    r = a.respiration
    if r is not None:
        print(f"\nTrace    {r.source}: {r.status.upper()}: {r.message}", file=out)
    for note in run.notes:
        print(f"note:    {note}", file=out)
    for warning in run.warnings:
        print(f"warning: {warning}", file=out)
    print(f"MOTION   {a.status.upper()}: {a.message}", file=out)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "motion", formatter_class=HelpFormatter,
        help="breath-hold motion between the stacks of a step-and-shoot series (stair-step artefacts)",
        description=textwrap.dedent(
            """\
            Finds the stacks of a prospective sequential (step-and-shoot) series from each slice's
            AcquisitionNumber (else its acquisition time), numbers them in acquisition order (0 =
            first acquired) and measures, at each boundary between a stack and the next acquired,
            the displacement of the later stack's anatomy relative to the earlier one: left-right
            (+ toward the patient's left) and anterior-posterior (+ posterior) by sub-pixel phase
            correlation of the edge slices, craniocaudal (+ toward the head) where the stacks
            overlap in z, and a discontinuity score (the edge slices' correlation against the
            correlation of neighbouring slices inside the stacks, as a robust z-score).
            Each boundary is judged by the protocol's [motion] table: the qa developers' proposal,
            as no published threshold exists (warn above half a slice thickness or robust z 3, fail
            above one slice thickness).  One stack (a volume scan or spiral) is not applicable.
            With --ecg, the trace recorded with the scan adds the breathing amplitude during the
            stacks against the 20 s before them (its resp column; without one, ECG-derived
            respiration, a weaker estimate), when the breath was released, and the heart-rate
            change; breathing during the scan is a warning.  Exit 1 when a boundary fails.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa motion /data/exams/1234/cacs
              qa motion exam.zip --series-uid 1.2.3.4 --plot motion.png
              qa motion /data/exams/1234 --protocol cac-siemens --json > motion.json
              qa motion /data/exams/1234/cacs --ecg scan-ecg.csv     with the breathing trace
            """
        ),
    )
    p.add_argument("series", nargs="+", metavar="SERIES", help="the CT series: a folder, a zip file or files")
    p.add_argument("--series-uid", help="the series to analyse when the input holds several")
    p.add_argument("--protocol", help="exam protocol id or .toml path (its [motion] limits; default cac-standard)")
    p.add_argument("--ecg", metavar="TRACE",
                   help="the trace recorded with the scan (.csv, WFDB .hea, DICOM ECG): breathing before and during the scan "
                        "from its resp column, else ECG-derived (weaker), and the heart-rate change")
    p.add_argument("--lead", help="ECG lead to use (default: II for DICOM ECGs, the first signal of a WFDB record)")
    p.add_argument("--fs", type=positive, metavar="HZ", help="sampling rate of a CSV trace without a time_s column")
    p.add_argument("--plot", metavar="FILE.png",
                   help="write sagittal and coronal reformats with the stack boundaries and their shifts (written whole; "
                        "if it cannot be written: exit 2, nothing written)")
    add_verbose(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.motion/1) on stdout")
    p.set_defaults(func=cmd_motion)
