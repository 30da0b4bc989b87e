"""``qa synth phantom``: synthetic phantom series with known truth; ``qa synth exam``: a calcium-score exam with known motion;
``qa synth exams``: a fleet of header-only exams with dose reports and a ground-truth table."""

from __future__ import annotations

import argparse
import sys
import textwrap

from qa.cli.common import (
    EXIT_OK,
    HelpFormatter,
    Progress,
    count,
    finite,
    json_out,
    non_negative,
    positive,
)


def synth_options(args: argparse.Namespace):
    from qa.workflows.synth import SynthOptions

    return SynthOptions(
        phantom=args.phantom,
        kvp=args.kvp,
        pixel_mm=args.pixel_mm,
        matrix=args.matrix,
        thickness_mm=args.thickness_mm,
        increment_mm=args.increment_mm,
        z_start_mm=args.z_range[0],
        z_end_mm=args.z_range[1],
        table_z_mm=args.table_z_mm,
        shift_mm=tuple(args.shift_mm),
        rotation_deg=args.rotation_deg,
        noise_hu=args.noise_hu,
        blur_fwhm_mm=args.blur_fwhm_mm,
        ring=args.ring,
        patient_position=args.patient_position,
        vendor=args.vendor,
        pixel_style=args.pixel_style,
        shuffle=args.shuffle,
        seed=args.seed,
        scout=args.scout,
        heart_rate_bpm=args.heart_rate_bpm,
        phase_pct=args.phase_pct,
        ctdivol_mgy=args.ctdivol_mgy,
        station_name=args.station_name,
        device_serial_number=args.serial,
        acquisition_datetime=args.datetime,
    )


def cmd_synth_phantom(args: argparse.Namespace) -> int:
    from qa.workflows.synth import synthesize_phantom

    opts = synth_options(args)
    result = synthesize_phantom(args.out_dir, opts, progress=Progress("writing slices"))
    out = sys.stderr if args.json else sys.stdout
    print(f"wrote {len(result.files)} slices to {result.out_dir}", file=out)
    print(f"series {result.series_instance_uid}", file=out)
    print(f"truth  {result.truth_path}", file=out)
    if args.json:
        json_out(result, "qa.synth/1")
    return EXIT_OK


def add_parser(sub) -> None:
    # qa synth phantom
    p = sub.add_parser(
        "synth", formatter_class=HelpFormatter,
        help="write synthetic test series with known truth",
        description="Write synthetic DICOM series with known truth.",
    )
    synth_sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    sp = synth_sub.add_parser(
        "phantom", formatter_class=HelpFormatter,
        help="a QRM-CCI-like calcium phantom series",
        description=textwrap.dedent(
            """\
            Write a synthetic QRM-CCI-like calcium phantom series (CT Image Storage files) and a
            truth.json sidecar.  Lengths in mm; the scan range is in the phantom frame (0 = centre
            of the calcification slab, rods at +35 mm).
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa synth phantom /tmp/p1
              qa synth phantom /tmp/p2 --thickness-mm 1.5 --increment-mm 1.0 --noise-hu 25 --ring
              qa synth phantom /tmp/p3 --vendor siemens --rotation-deg 37 --shift-mm 12 -8 --shuffle
              qa synth phantom /tmp/p4 --patient-position FFS --table-z-mm 640 --kvp 100
            """
        ),
    )
    sp.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (created; must not hold a series)")
    sp.add_argument("--phantom", default="qrm-cci", help="phantom definition id or .toml path (default qrm-cci)")
    sp.add_argument("--kvp", type=positive, default=120.0, help="tube voltage, 70-140 kV (the synthetic HU model's range; default 120)")
    sp.add_argument("--pixel-mm", type=positive, default=0.488, help="pixel spacing, mm (default 0.488: a 250 mm field at 512)")
    sp.add_argument("--matrix", type=count, default=512, help="rows and columns of each image (default 512)")
    sp.add_argument("--thickness-mm", type=positive, default=3.0, help="reconstructed slice thickness, mm (default 3)")
    sp.add_argument("--increment-mm", type=positive, default=None, help="default: equal to the thickness")
    sp.add_argument("--z-range", type=finite, nargs=2, default=(-55.0, 55.0), metavar=("START", "END"),
                    help="scan range in the phantom frame, mm (0 = calcification slab centre, rods at +35; default -55 55)")
    sp.add_argument("--table-z-mm", type=finite, default=0.0, help="patient z of the phantom origin, mm (default 0)")
    sp.add_argument("--shift-mm", type=finite, nargs=2, default=(0.0, 0.0), metavar=("DX", "DY"),
                    help="in-plane offset of the phantom from the isocentre, mm (default 0 0)")
    sp.add_argument("--rotation-deg", type=finite, default=0.0, help="rotation of the insert about its axis, degrees (default 0)")
    sp.add_argument("--noise-hu", type=non_negative, default=15.0, help="image noise SD, HU (default 15)")
    sp.add_argument("--blur-fwhm-mm", type=positive, default=1.5, help="in-plane blur (the scanner's resolution), FWHM mm (default 1.5)")
    sp.add_argument("--ring", action="store_true", help="add the large extension ring (400 x 300 mm)")
    sp.add_argument("--patient-position", choices=["HFS", "FFS"], default="HFS",
                    help="head first or feet first supine (FFS mirrors x and z; default HFS)")
    sp.add_argument("--vendor", choices=["generic", "siemens", "ge", "philips", "canon"], default="generic",
                    help="header style: manufacturer, model, kernel, private tags and pixel storage of that vendor (default generic)")
    sp.add_argument(
        "--pixel-style",
        choices=["unsigned-1024", "unsigned12-1024", "signed-0", "signed-1024", "unsigned-slope0.5", "signed-slope2"],
        help="how CT numbers are stored (default: the vendor's usual style)",
    )
    sp.add_argument("--shuffle", action="store_true", help="opaque, unordered file names")
    sp.add_argument("--seed", type=int, default=0, help="noise seed: the same seed writes the same pixels (default 0)")
    sp.add_argument("--scout", action="store_true", help="also write a localizer")
    sp.add_argument("--heart-rate-bpm", type=positive, default=60.0, help="heart rate written in the headers, bpm (default 60)")
    sp.add_argument("--phase-pct", type=non_negative, default=70.0, help="cardiac trigger phase written in the headers, %% of the RR "
                    "(default 70)")
    sp.add_argument("--ctdivol-mgy", type=non_negative, default=4.0, help="CTDIvol written in the headers, mGy (default 4)")
    sp.add_argument("--station-name", default="QA-SYNTH-1", help="StationName: the scanner as qa phantom and qa trend name it")
    sp.add_argument("--serial", default="SYN0001", help="DeviceSerialNumber: the scanner's identity for its baseline")
    sp.add_argument("--datetime", default="2026-01-05T07:30:00", help="acquisition start (ISO 8601)")
    sp.add_argument("--json", action="store_true", help="print the truth as JSON (qa.synth/1) on stdout")
    sp.set_defaults(func=cmd_synth_phantom)
    add_exam_parser(synth_sub)
    add_exams_parser(synth_sub)


def stack_shift(text: str) -> tuple[int, float, float, float]:
    """``K:LR,AP,CC`` (mm) -> (K, LR, AP, CC)."""
    stack, sep, rest = text.partition(":")
    parts = rest.split(",")
    if not sep or len(parts) != 3:
        raise argparse.ArgumentTypeError(f"{text!r} is not K:LR,AP,CC (for example 2:1.5,-2,0)")
    try:
        k = int(stack)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the stack {stack!r} is not a whole number") from None
    return (k, *(finite(v) for v in parts))


def exam_options(args: argparse.Namespace):
    from qa.workflows.synth import ExamSynthOptions

    return ExamSynthOptions(
        seed=args.seed, matrix=args.matrix, pixel_mm=args.pixel_mm, thickness_mm=args.thickness_mm, increment_mm=args.increment_mm,
        stacks=args.stacks, stack_mm=args.stack_mm, overlap_mm=args.overlap_mm, shifts_mm=tuple(args.shift),
        noise_hu=args.noise_hu, blur_fwhm_mm=args.blur_fwhm_mm, table_z_mm=args.table_z_mm, heart_rate_bpm=args.heart_rate_bpm,
        heart_rate_change_bpm=args.heart_rate_change_bpm, beats_per_stack=args.beats_per_stack, phase_pct=args.phase_pct,
        ecg=args.ecg, resp=args.resp, kvp=args.kvp, ctdivol_mgy=args.ctdivol_mgy, vendor=args.vendor,
        station_name=args.station_name, device_serial_number=args.serial, acquisition_datetime=args.datetime,
    )


def cmd_synth_exam(args: argparse.Namespace) -> int:
    from qa.workflows.synth import synthesize_exam

    result = synthesize_exam(args.out_dir, exam_options(args), progress=Progress("writing slices"))
    out = sys.stderr if args.json else sys.stdout
    truth = result.truth
    print(f"wrote {len(result.files)} slices in {len(truth['stacks'])} stacks to {result.out_dir}", file=out)
    for stack in truth["stacks"]:
        shift = stack["shift_mm"]
        print(f"  stack {stack['index']}  acquisition {stack['acquisition_number']}  {stack['acquisition_time'][11:23]}  "
              f"{stack['n_slices']:3d} slices  shift LR {shift['lr']:+.2f} AP {shift['ap']:+.2f} CC {shift['cc']:+.2f} mm", file=out)
    if result.ecg_path:
        hold = truth["breath_hold"]
        print(f"ecg    {result.ecg_path} (breath {hold['mode']}"
              + (f", released at {hold['release_s']:.1f} s" if hold["release_s"] is not None else "") + ")", file=out)
    print(f"truth  {result.truth_path}", file=out)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        json_out(result, "qa.synth/1")
    return EXIT_OK


def add_exam_parser(synth_sub) -> None:
    ep = synth_sub.add_parser(
        "exam", formatter_class=HelpFormatter,
        help="a patient-like calcium-score exam with known breath-hold motion",
        description=textwrap.dedent(
            """\
            Write a synthetic calcium-score exam: a patient-like thorax (skin, chest wall, lungs above the
            diaphragm domes, heart with coronary calcifications, aorta, vertebrae, ribs) acquired as
            prospective ECG-triggered step-and-shoot stacks, each with its own AcquisitionNumber and
            AcquisitionTime (--beats-per-stack beats apart), TablePosition and SliceLocation; and truth.json
            (qa.synth-exam/1) with every stack, shift and calcification and the breath-hold time line.

            Stack 0 is the first acquired and the most cranial (the scan runs head to feet).  --shift
            K:LR,AP,CC displaces the anatomy of stack K rigidly relative to stack 0, in mm: LR +x toward
            the patient's left, AP +y posterior, CC +z toward the head.  Partial volume in-plane and along
            z renders sub-pixel and sub-slice shifts faithfully.  --ecg adds ecg.csv (time_s, ecg_uv, resp)
            on the exam's clock; --resp says what the breath does: held for the scan, free (never held), or
            released-at-S (S seconds after the first exposure starts).
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa synth exam /tmp/e1                                         4 stacks, no motion
              qa synth exam /tmp/e2 --shift 2:2,-1.5,0 --shift 3:2,-1.5,-1  stacks 2 and 3 displaced
              qa synth exam /tmp/e3 --ecg --resp released-at-3.5 --shift 2:0,3,4 --shift 3:0,3,4
              qa synth exam /tmp/e4 --thickness-mm 1.5 --increment-mm 1.5 --matrix 256 --pixel-mm 1.4 --noise-hu 30
            """
        ),
    )
    ep.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (created; must not hold an exam)")
    ep.add_argument("--seed", type=int, default=0, help="noise seed")
    ep.add_argument("--matrix", type=count, default=512, help="rows and columns of each image (default 512)")
    ep.add_argument("--pixel-mm", type=positive, default=0.5, help="pixel spacing (default 0.5: a 256 mm cardiac field; 0.7 shows the whole thorax)")
    ep.add_argument("--thickness-mm", type=positive, default=3.0, help="reconstructed slice thickness, mm (default 3)")
    ep.add_argument("--increment-mm", type=positive, default=None, help="default: equal to the thickness")
    ep.add_argument("--stacks", type=count, default=4, help="number of stacks (default 4)")
    ep.add_argument("--stack-mm", type=positive, default=40.0, help="detector coverage of one stack (default 40)")
    ep.add_argument("--overlap-mm", type=non_negative, default=4.0, help="overlap of adjacent stacks (default 4)")
    ep.add_argument("--shift", type=stack_shift, action="append", default=[], metavar="K:LR,AP,CC",
                    help="rigid shift of stack K's anatomy relative to stack 0, mm (repeat per stack)")
    ep.add_argument("--noise-hu", type=non_negative, default=20.0, help="image noise SD (default 20)")
    ep.add_argument("--blur-fwhm-mm", type=positive, default=1.0, help="in-plane blur, FWHM mm (default 1)")
    ep.add_argument("--table-z-mm", type=finite, default=0.0, help="patient z of the first stack's cranial edge")
    ep.add_argument("--heart-rate-bpm", type=positive, default=60.0, help="heart rate, bpm (default 60)")
    ep.add_argument("--heart-rate-change-bpm", type=finite, default=0.0, help="heart-rate change across the breath-hold")
    ep.add_argument("--beats-per-stack", type=count, default=2, help="beats from one stack to the next (default 2)")
    ep.add_argument("--phase-pct", type=non_negative, default=70.0, help="exposure phase, %% of the RR (default 70)")
    ep.add_argument("--ecg", action="store_true", help="also write ecg.csv with a resp (bellows) column")
    ep.add_argument("--resp", default="held", metavar="held|free|released-at-S", help="the breath during the scan (default held)")
    ep.add_argument("--kvp", type=positive, default=120.0, help="tube voltage, kV (default 120)")
    ep.add_argument("--ctdivol-mgy", type=non_negative, default=2.5, help="CTDIvol written in the headers, mGy (default 2.5)")
    ep.add_argument("--vendor", choices=["generic", "siemens", "ge", "philips", "canon"], default="generic",
                    help="header style of that vendor (default generic)")
    ep.add_argument("--station-name", default="QA-SYNTH-1", help="StationName")
    ep.add_argument("--serial", default="SYN0001", help="DeviceSerialNumber")
    ep.add_argument("--datetime", default="2026-01-05T09:15:00", help="start of the study and of the ECG trace (ISO 8601)")
    ep.add_argument("--json", action="store_true", help="print what was written, with the truth, as JSON (qa.synth/1) on stdout")
    ep.set_defaults(func=cmd_synth_exam)


def fleet_options(args: argparse.Namespace):
    from qa.workflows.synth import FleetOptions

    return FleetOptions(exams=args.exams, scanners=args.scanners, months=args.months, seed=args.seed, start=args.start)


def cmd_synth_exams(args: argparse.Namespace) -> int:
    from qa.workflows.synth import synthesize_exams

    result = synthesize_exams(args.out_dir, fleet_options(args), workers=args.workers, progress=Progress("writing studies"))
    out = sys.stderr if args.json else sys.stdout
    counts = result.counts
    print(f"wrote {result.n_studies} studies ({result.n_patient_studies} patient studies, "
          f"{counts['by_kind'].get('phantom_qa', 0)} phantom QA) in {result.n_files} files to {result.out_dir} "
          f"({result.seconds:.1f} s, {result.files_per_second:.0f} files/s, {result.workers} worker(s))", file=out)
    kinds = ", ".join(f"{n} {kind}" for kind, n in counts["by_kind"].items())
    print(f"  studies: {kinds}; {counts['without_dose_report']} without a dose report, "
          f"{counts['cumulative_resends']} with a cumulative re-sent report", file=out)
    for scanner in result.scanners:
        drift = "  (drifts)" if scanner["drifts"] else ""
        serial = f"serial {scanner['device_serial_number']}" if scanner["device_serial_number"] else "no serial number"
        print(f"  scanner {scanner['index'] + 1}: {scanner['manufacturer']} {scanner['model']}, {serial}, station "
              f"{scanner['station_name']}, cardiac tags: {scanner['cardiac_tags']}{drift}", file=out)
    drift = result.drift
    if drift["scanner"]:
        print(f"  drift:   CTDIvol of {drift['station_name']} rises {drift['pct_per_month']:g} % a month from {drift['start_month']}",
              file=out)
    planted = ", ".join(f"{name} {n}" for name, n in counts["planted"].items())
    print(f"  planted: {planted or 'none'}", file=out)
    print(f"truth  {result.truth_csv}", file=out)
    print(f"truth  {result.truth_json}", file=out)
    if args.json:
        json_out(result, "qa.synth-exams/1")
    return EXIT_OK


def add_exams_parser(synth_sub) -> None:
    xp = synth_sub.add_parser(
        "exams", formatter_class=HelpFormatter,
        help="a fleet of header-only exams with their dose reports and a ground-truth table",
        description=textwrap.dedent(
            """\
            Write a synthetic fleet for the manager's workflows (ingest, trends, dashboard): N patient
            studies (mostly calcium scores, some coronary CT angiographies and chest CTs) on K scanners
            (Siemens, GE, Philips and Canon models; the last scanner writes no serial number) over M
            months of working days, plus one phantom QA study per scanner a week.  Each study is a
            folder: localizer(s), a header-only image series (32 x 32 pixels: the headers are the
            data) and an X-Ray Radiation Dose SR (TID 10011); some studies have no dose report,
            some a cumulative re-sent one.  Planted: heart rates over 70 bpm, wrong kernels and slice
            thicknesses, 100 kV, iterative reconstruction, retrospective gating, a CTDIvol drift on
            the first scanner, dose outliers (3-5 x the scanner's median DLP) and exams above the
            calcium-score reference level.  Patient identifiers are in the files (synthetic), so
            that pseudonymisation can be tested.

            OUT_DIR/truth.csv holds one row per study (scanner, date, protocol, dose, planted
            anomalies, what qa check should say by check id); truth.json the same with the options
            and the drift (qa.synth-exams-truth/1).  The same seed writes the same bytes.  OUT_DIR
            must be new, empty, or an earlier qa synth exams folder holding only what it wrote
            (it is emptied first); anything else is refused and nothing is touched.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa synth exams /tmp/fleet                                    200 studies, 4 scanners, 12 months
              qa synth exams /tmp/year --exams 2000 --scanners 4 --months 12 --seed 7
              qa synth exams /tmp/small --exams 30 --scanners 3 --months 3 --start 2026-01
              qa check /tmp/small/$(awk -F, '$3=="cac" {print $1; exit}' /tmp/small/truth.csv)
              qa dose /tmp/small/exams --json                                every dose report
            """
        ),
    )
    xp.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (new, empty, or an earlier fleet's)")
    xp.add_argument("--exams", type=count, default=200, help="patient studies (default 200; phantom QA studies come on top)")
    xp.add_argument("--scanners", type=count, default=4, help="scanners (1-12, default 4)")
    xp.add_argument("--months", type=count, default=12, help="months of working days (default 12)")
    xp.add_argument("--seed", type=int, default=0, help="the seed every choice comes from (default 0)")
    xp.add_argument("--start", default="2025-01", metavar="YYYY-MM", help="the first month (default 2025-01)")
    xp.add_argument("--workers", type=count, default=None, help="processes writing the studies (default: the CPUs, at most 4)")
    xp.add_argument("--json", action="store_true", help="print what was written as JSON (qa.synth-exams/1) on stdout")
    xp.set_defaults(func=cmd_synth_exams)
