"""``qa score``: calcium scores of a CT series (:func:`qa.workflows.score.score_series`)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TextIO

from qa.cli.common import (
    EXIT_OK,
    HelpFormatter,
    add_verbose,
    count,
    finite,
    fmt,
    json_out,
    non_negative,
    one_line,
    positive,
    print_files,
    progress_stages,
    table,
)


def add_scoring_options(p: argparse.ArgumentParser, *, method_default: str | None = "standard", c_ha: bool = True) -> None:
    """The scoring options.  ``method_default`` None: the caller's default (a procedure's method);
    ``c_ha``: offer --c-ha (not where the calibration comes from the phantom's own rods)."""
    g = p.add_argument_group("scoring (explicit options override the --method preset)")
    from qa.workflows.choices import METHOD_PRESETS

    g.add_argument(
        "--method", default=method_default, choices=list(METHOD_PRESETS),
        help=("parameter preset (default: standard = HU >= 130, area >= 1 mm2, 4-connected, plain volume)" if method_default
              else "parameter preset (default: the procedure's scoring method)"),
    )
    g.add_argument("--threshold-hu", type=finite, metavar="HU", help="calcium threshold in HU (standard: 130)")
    g.add_argument("--min-area-mm2", type=non_negative, metavar="MM2", help="minimum lesion area in mm2 (standard: 1.0)")
    g.add_argument("--connectivity", type=int, choices=[4, 8], help="2-D connectivity of a lesion (standard: 4)")
    g.add_argument(
        "--volume-method", choices=["plain", "isotropic"],
        help="plain: voxels x pixel area x increment; isotropic: on data interpolated to cubic voxels",
    )
    g.add_argument(
        "--kv-adapted", action="store_true",
        help="use the kV-adapted threshold and weights of Grani et al. 2018 for the series' kVp",
    )
    if c_ha:
        g.add_argument(
            "--c-ha", type=positive, metavar="MG_PER_CM3_HU", dest="c_ha",
            help="HA calibration factor c_HA in mg/(cm3 HU) for the mass score (typical 0.7-0.9 at 120 kVp)",
        )


def scoring_request(args: argparse.Namespace):
    """The scoring options of the command line as a :class:`qa.calcium.scoring.ScoringRequest`."""
    from qa.workflows.score import ScoringRequest

    return ScoringRequest(method=args.method, threshold_hu=args.threshold_hu, min_area_mm2=args.min_area_mm2,
                          connectivity=args.connectivity, volume_method=args.volume_method, kv_adapted=args.kv_adapted)


def describe_settings(s) -> str:
    area = f"area >= {s.min_area_mm2:g} mm2" if s.min_pixels <= 1 else f">= {s.min_pixels} pixels"
    if s.min_pixels > 1 and s.min_area_mm2 > 0:
        area += f" and >= {s.min_area_mm2:g} mm2"
    return (
        f"{s.method}: HU >= {s.threshold_hu:g}, {area}, {s.connectivity}-connected, "
        f"weights at {'/'.join(f'{b:g}' for b in s.weight_breaks_hu)} HU, {s.volume_method} volume"
        + (f", {s.threshold_rule}" if s.threshold_rule != "fixed" else "")
    )


def cmd_score(args: argparse.Namespace) -> int:
    from qa.workflows.score import score_series

    run = score_series(args.series, series_uid=args.series_uid, scoring=scoring_request(args), c_ha_mg_per_cm3_hu=args.c_ha,
                       progress=progress_stages())
    print_score(sys.stderr if args.json else sys.stdout, run, args.max_lesions)
    print_files(sys.stderr if args.json else sys.stdout, run.files, args.verbose)
    if args.json:
        json_out(run, "qa.score/1")
    return EXIT_OK


def print_score(out: TextIO, run, max_lesions: int) -> None:
    volume, score, settings = run.volume, run.score, run.score.settings
    info = volume.info
    print(f"Input    {run.input_summary.summary}", file=out)
    print(
        f"Series   {one_line(info.series_instance_uid)}  '{one_line(info.series_description)}'  "
        f"{one_line(info.manufacturer or None)} {one_line(info.model or '')}".rstrip(),
        file=out,
    )
    print(
        f"         {volume.n_slices} slices {volume.shape[1]}x{volume.shape[2]}, pixel "
        f"{volume.pixel_spacing_mm[0]:g} x {volume.pixel_spacing_mm[1]:g} mm, thickness "
        f"{fmt(volume.slice_thickness_mm, 2)} mm, increment {volume.slice_increment_mm:.2f} mm, "
        f"{fmt(info.kvp, 0)} kVp, kernel {one_line(info.convolution_kernel or None)}",
        file=out,
    )
    print(f"Method   {describe_settings(settings)}", file=out)
    rows = []
    for n, lesion in enumerate(score.lesions[:max_lesions], start=1):
        c = lesion.centroid_mm
        rows.append([
            str(n), str(lesion.slice_index), fmt(lesion.z_mm, 1), fmt(lesion.area_mm2, 1),
            fmt(lesion.peak_hu, 0), fmt(lesion.mean_hu, 0), str(lesion.weight),
            fmt(lesion.agatston, 1), fmt(lesion.volume_mm3, 1), fmt(lesion.mass_mg, 2),
            f"{fmt(c[0])}, {fmt(c[1])}" if c else "-",
        ])
    if rows:
        print("", file=out)
        print(table(
            ["#", "slice", "z mm", "area mm2", "peak HU", "mean HU", "w", "Agatston", "vol mm3", "mass mg", "x, y mm"],
            rows,
        ), file=out)
        if score.n_lesions > max_lesions:
            print(f"... {score.n_lesions - max_lesions} more lesions (--max-lesions N, or --json for all)", file=out)
    print("", file=out)
    mass = (
        f"{score.mass_mg:.2f} mg (c_HA {score.c_ha_mg_per_cm3_hu:g} mg/(cm3 HU))"
        if score.mass_mg is not None
        else "- (no calibration: give --c-ha)"
    )
    print(
        f"Total    Agatston {score.agatston:.1f}   volume {score.volume_mm3:.1f} mm3   mass {mass}   "
        f"{score.n_lesions} lesion(s); {score.n_components_below_min_area} component(s) below the minimum area",
        file=out,
    )
    for note in run.notes:
        print(f"note:    {note}", file=out)
    for warning in score.warnings:
        print(f"warning: {one_line(warning)}", file=out)


def add_parser(sub) -> None:
    # qa score
    p = sub.add_parser(
        "score", formatter_class=HelpFormatter,
        help="calcium scores (Agatston, volume, mass) of a CT series",
        description=textwrap.dedent(
            """\
            Calcium scores of everything in a CT series: every 2-D component above the threshold
            in every slice counts (bone included).  SERIES is a folder (searched recursively), a
            zip file or a list of files; localizers are left out, non-DICOM files skipped.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa score /data/cacs/series1
              qa score /data/cacs/series1 --method siemens --c-ha 0.78
              qa score exam.zip --series-uid 1.2.840.113619.2.55.3 --json > score.json
              qa score series/ --threshold-hu 130 --min-area-mm2 1 --connectivity 8
              qa score series_100kv/ --kv-adapted
            """
        ),
    )
    p.add_argument("series", nargs="+", metavar="SERIES", help="folder, zip file or DICOM files")
    p.add_argument("--series-uid", help="pick this series when the input holds several")
    add_scoring_options(p)
    add_verbose(p)
    p.add_argument("--max-lesions", type=count, default=50, metavar="N", help="lesion rows shown (default 50)")
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.score/1) on stdout")
    p.set_defaults(func=cmd_score)
