"""``qa synth phantom``: synthetic phantom series with known truth."""

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
    sp.add_argument("--kvp", type=positive, default=120.0, help="70-140 (the synthetic HU model's range)")
    sp.add_argument("--pixel-mm", type=positive, default=0.488)
    sp.add_argument("--matrix", type=count, default=512)
    sp.add_argument("--thickness-mm", type=positive, default=3.0)
    sp.add_argument("--increment-mm", type=positive, default=None, help="default: equal to the thickness")
    sp.add_argument("--z-range", type=finite, nargs=2, default=(-55.0, 55.0), metavar=("START", "END"))
    sp.add_argument("--table-z-mm", type=finite, default=0.0, help="patient z of the phantom origin")
    sp.add_argument("--shift-mm", type=finite, nargs=2, default=(0.0, 0.0), metavar=("DX", "DY"))
    sp.add_argument("--rotation-deg", type=finite, default=0.0, help="rotation of the insert")
    sp.add_argument("--noise-hu", type=non_negative, default=15.0)
    sp.add_argument("--blur-fwhm-mm", type=positive, default=1.5)
    sp.add_argument("--ring", action="store_true", help="add the large extension ring (400 x 300 mm)")
    sp.add_argument("--patient-position", choices=["HFS", "FFS"], default="HFS")
    sp.add_argument("--vendor", choices=["generic", "siemens", "ge", "philips", "canon"], default="generic")
    sp.add_argument(
        "--pixel-style",
        choices=["unsigned-1024", "unsigned12-1024", "signed-0", "signed-1024", "unsigned-slope0.5", "signed-slope2"],
        help="how CT numbers are stored (default: the vendor's usual style)",
    )
    sp.add_argument("--shuffle", action="store_true", help="opaque, unordered file names")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--scout", action="store_true", help="also write a localizer")
    sp.add_argument("--heart-rate-bpm", type=positive, default=60.0)
    sp.add_argument("--phase-pct", type=non_negative, default=70.0)
    sp.add_argument("--ctdivol-mgy", type=non_negative, default=4.0)
    sp.add_argument("--station-name", default="QA-SYNTH-1")
    sp.add_argument("--serial", default="SYN0001", help="DeviceSerialNumber")
    sp.add_argument("--datetime", default="2026-01-05T07:30:00", help="acquisition start (ISO 8601)")
    sp.add_argument("--json", action="store_true", help="print the truth as JSON (qa.synth/1) on stdout")
    sp.set_defaults(func=cmd_synth_phantom)
