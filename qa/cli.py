"""The ``qa`` command line: parses, calls the library, prints.  No analysis of its own.

Exit codes: 0 pass (warnings allowed), 1 at least one check failed, 2 unusable input or usage,
3 an internal error (a bug: please report it).  With ``--json`` stdout carries exactly one JSON
object; human text goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import textwrap
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


# --------------------------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------------------------


class _Progress:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total} {now - self.start:5.1f}s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{round(value, digits) + 0.0:.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A plain-text table; ``align`` is a string of 'l'/'r' per column."""
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = []
        for cell, width, a in zip(cells, widths, align):
            out.append(cell.ljust(width) if a == "l" else cell.rjust(width))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def _json_out(payload: dict, schema: str) -> None:
    from qa import __version__

    out = {"schema": schema, "qa_version": __version__}
    out.update(payload)
    sys.stdout.write(json.dumps(out, indent=2, default=_json_default, allow_nan=False) + "\n")
    sys.stdout.flush()


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _non_negative(text: str) -> float:
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


# --------------------------------------------------------------------------------------------
# qa score
# --------------------------------------------------------------------------------------------


def _add_scoring_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scoring (explicit options override the --method preset)")
    g.add_argument(
        "--method", default="standard", choices=["standard", "siemens", "ge", "philips", "canon"],
        help="parameter preset (default: standard = HU >= 130, area >= 1 mm2, 4-connected, plain volume)",
    )
    g.add_argument("--threshold-hu", type=_finite, metavar="HU", help="calcium threshold in HU (standard: 130)")
    g.add_argument("--min-area-mm2", type=_non_negative, metavar="MM2", help="minimum lesion area in mm2 (standard: 1.0)")
    g.add_argument("--connectivity", type=int, choices=[4, 8], help="2-D connectivity of a lesion (standard: 4)")
    g.add_argument(
        "--volume-method", choices=["plain", "isotropic"],
        help="plain: voxels x pixel area x increment; isotropic: on data interpolated to cubic voxels",
    )
    g.add_argument(
        "--kv-adapted", action="store_true",
        help="use the kV-adapted threshold and weights of Grani et al. 2018 for the series' kVp",
    )
    g.add_argument(
        "--c-ha", type=_positive, metavar="MG_PER_CM3_HU", dest="c_ha",
        help="HA calibration factor c_HA in mg/(cm3 HU) for the mass score (typical 0.7-0.9 at 120 kVp)",
    )


def _settings_from_args(args: argparse.Namespace, kvp: float | None):
    from qa.calcium.scoring import scoring_settings
    from qa.errors import UsageError

    try:
        return scoring_settings(
            args.method,
            threshold_hu=args.threshold_hu,
            min_area_mm2=args.min_area_mm2,
            connectivity=args.connectivity,
            volume_method=args.volume_method,
            kv_adapted=args.kv_adapted,
            kvp=kvp,
        )
    except ValueError as exc:
        raise UsageError(str(exc), hint="see qa score --help") from exc


def _describe_settings(s) -> str:
    area = f"area >= {s.min_area_mm2:g} mm2" if s.min_pixels <= 1 else f">= {s.min_pixels} pixels"
    if s.min_pixels > 1 and s.min_area_mm2 > 0:
        area += f" and >= {s.min_area_mm2:g} mm2"
    return (
        f"{s.method}: HU >= {s.threshold_hu:g}, {area}, {s.connectivity}-connected, "
        f"weights at {'/'.join(f'{b:g}' for b in s.weight_breaks_hu)} HU, {s.volume_method} volume"
        + (f", {s.threshold_rule}" if s.threshold_rule != "fixed" else "")
    )


def cmd_score(args: argparse.Namespace) -> int:
    from qa.calcium.scoring import score_volume
    from qa.dicom.series import load_volume, scan_inputs, select_series

    err = sys.stderr
    scan = scan_inputs(args.series, progress=_Progress("reading headers"))
    group = select_series(scan, args.series_uid)
    volume = load_volume(group, progress=_Progress("decoding pixels "))
    settings = _settings_from_args(args, volume.info.kvp)
    score = score_volume(volume, settings, c_ha_mg_per_cm3_hu=args.c_ha)
    payload = {
        "analysis_time": _now_iso(),
        "input_summary": scan.to_dict() | {"summary": scan.summary()},
        "series": volume.summary_dict(),
        **score.to_dict(),
        "notes": list(volume.notes),
        "provenance": {
            "sop_instance_uids": list(volume.sop_instance_uids),
        },
    }
    out = err if args.json else sys.stdout
    _print_score(out, scan, volume, score, settings, args.max_lesions)
    if args.json:
        _json_out(payload, "qa.score/1")
    return EXIT_OK


def _print_score(out: TextIO, scan, volume, score, settings, max_lesions: int) -> None:
    info = volume.info
    print(f"Input    {scan.summary()}", file=out)
    print(
        f"Series   {info.series_instance_uid}  '{info.series_description}'  "
        f"{info.manufacturer or '?'} {info.model or ''}".rstrip(),
        file=out,
    )
    print(
        f"         {volume.n_slices} slices {volume.shape[1]}x{volume.shape[2]}, pixel "
        f"{volume.pixel_spacing_mm[0]:g} x {volume.pixel_spacing_mm[1]:g} mm, thickness "
        f"{_fmt(volume.slice_thickness_mm, 2)} mm, increment {volume.slice_increment_mm:.2f} mm, "
        f"{_fmt(info.kvp, 0)} kVp, kernel {info.convolution_kernel or '?'}",
        file=out,
    )
    print(f"Method   {_describe_settings(settings)}", file=out)
    rows = []
    for n, lesion in enumerate(score.lesions[:max_lesions], start=1):
        c = lesion.centroid_mm
        rows.append([
            str(n), str(lesion.slice_index), _fmt(lesion.z_mm, 1), _fmt(lesion.area_mm2, 1),
            _fmt(lesion.peak_hu, 0), _fmt(lesion.mean_hu, 0), str(lesion.weight),
            _fmt(lesion.agatston, 1), _fmt(lesion.volume_mm3, 1), _fmt(lesion.mass_mg, 2),
            f"{_fmt(c[0])}, {_fmt(c[1])}" if c else "-",
        ])
    if rows:
        print("", file=out)
        print(_table(
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
    for note in volume.notes:
        print(f"note:    {note}", file=out)
    for warning in score.warnings:
        print(f"warning: {warning}", file=out)


# --------------------------------------------------------------------------------------------
# qa synth phantom
# --------------------------------------------------------------------------------------------


def _synth_options(args: argparse.Namespace):
    from qa.phantom.synth import SynthOptions

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
    from qa.phantom.synth import synthesize_phantom

    opts = _synth_options(args)
    result = synthesize_phantom(args.out_dir, opts, progress=_Progress("writing slices"))
    out = sys.stderr if args.json else sys.stdout
    print(f"wrote {len(result.files)} slices to {result.out_dir}", file=out)
    print(f"series {result.series_instance_uid}", file=out)
    print(f"truth  {result.truth_path}", file=out)
    if args.json:
        _json_out({"out_dir": result.out_dir, "n_files": len(result.files), "truth": result.truth}, "qa.synth/1")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# qa demo
# --------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from qa.calcium.scoring import score_volume, scoring_settings
    from qa.dicom.series import load_volume, scan_inputs, select_series
    from qa.phantom.synth import SynthOptions, synthesize_phantom

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        from qa.errors import UsageError

        raise UsageError(f"{out_dir} is a file, not a folder", hint="choose another --out folder")
    phantom_dir = out_dir / "phantom-series"
    _clear_demo_folder(phantom_dir)
    print(f"qa demo: writing a synthetic QRM-CCI-like phantom series to {phantom_dir}")
    result = synthesize_phantom(phantom_dir, SynthOptions(scout=True, shuffle=True, seed=7), progress=_Progress("writing slices"))
    truth = result.truth
    print(f"  {len(result.files)} slices + a localizer + truth.json (c_HA true {truth['c_ha_true_mg_per_cm3_hu']:.3f} mg/(cm3 HU))")
    print("")
    print(f"qa demo: scoring it (qa score {phantom_dir} --c-ha {truth['c_ha_true_mg_per_cm3_hu']:.4f})")
    scan = scan_inputs(phantom_dir)
    volume = load_volume(select_series(scan))
    settings = scoring_settings("standard")
    score = score_volume(volume, settings, c_ha_mg_per_cm3_hu=truth["c_ha_true_mg_per_cm3_hu"])
    _print_score(sys.stdout, scan, volume, score, settings, max_lesions=20)
    payload = {
        "analysis_time": _now_iso(),
        "series": volume.summary_dict(),
        **score.to_dict(),
        "provenance": {"sop_instance_uids": list(volume.sop_instance_uids)},
    }
    from qa import __version__

    score_path = out_dir / "score.json"
    score_path.write_text(json.dumps({"schema": "qa.score/1", "qa_version": __version__, **payload}, indent=2))
    print("")
    print("The bone-like 'spine' of the thorax is scored too: qa score scores everything above the")
    print("threshold.  Daily phantom QA (qa phantom) isolates the nine inserts.")
    print(f"qa demo: wrote {score_path}")
    return EXIT_OK


def _clear_demo_folder(folder: Path) -> None:
    """Remove a previous demo's files: only those its truth.json lists as written by the synthesiser."""
    from qa.errors import UsageError

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder", hint="choose another --out folder")
    if not folder.exists():
        return
    truth_path = folder / "truth.json"
    try:
        written = json.loads(truth_path.read_text()).get("files", []) if truth_path.exists() else None
    except (OSError, ValueError):
        written = None
    if written is None:
        if any(folder.iterdir()):
            raise UsageError(f"{folder} exists and was not written by qa demo", hint="choose another --out folder")
        return
    for name in written:
        target = folder / Path(name).name  # names only: never a path from the file's contents
        if target.is_file():
            target.unlink()
    truth_path.unlink()
    if any(folder.iterdir()):
        raise UsageError(f"{folder} holds files that qa demo did not write", hint="choose another --out folder")


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def build_parser() -> argparse.ArgumentParser:
    from qa import __version__

    parser = argparse.ArgumentParser(
        prog="qa",
        formatter_class=_Formatter,
        description="Cardiac CT calcium-scoring acquisition and dose QA.",
        epilog=textwrap.dedent(
            """\
            examples:
              qa demo                                   synthesise a phantom series and score it
              qa score /data/cacs/series1               calcium scores of a CT series
              qa score exam.zip --series-uid 1.2.3...   one series out of several
              qa synth phantom /tmp/phantom --noise-hu 25 --rotation-deg 30

            exit codes: 0 done (warnings allowed), 1 a check failed, 2 unusable input or usage,
                        3 internal error (please report it)
            """
        ),
    )
    parser.add_argument("--version", action="version", version=f"qa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # qa demo
    p = sub.add_parser(
        "demo", formatter_class=_Formatter,
        help="synthesise a phantom series, score it, write the results",
        description="Synthesise a QRM-CCI-like phantom series with known truth and score it.",
        epilog="examples:\n  qa demo\n  qa demo --out /tmp/qa-demo\n",
    )
    p.add_argument("--out", default="qa-demo", help="output folder (default: ./qa-demo)")
    p.set_defaults(func=cmd_demo)

    # qa score
    p = sub.add_parser(
        "score", formatter_class=_Formatter,
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
    _add_scoring_options(p)
    p.add_argument("--max-lesions", type=_count, default=50, metavar="N", help="lesion rows shown (default 50)")
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.score/1) on stdout")
    p.set_defaults(func=cmd_score)

    # qa synth phantom
    p = sub.add_parser(
        "synth", formatter_class=_Formatter,
        help="write synthetic test series with known truth",
        description="Write synthetic DICOM series with known truth.",
    )
    synth_sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    sp = synth_sub.add_parser(
        "phantom", formatter_class=_Formatter,
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
    sp.add_argument("--kvp", type=_positive, default=120.0, help="70-140 (the synthetic HU model's range)")
    sp.add_argument("--pixel-mm", type=_positive, default=0.488)
    sp.add_argument("--matrix", type=_count, default=512)
    sp.add_argument("--thickness-mm", type=_positive, default=3.0)
    sp.add_argument("--increment-mm", type=_positive, default=None, help="default: equal to the thickness")
    sp.add_argument("--z-range", type=_finite, nargs=2, default=(-55.0, 55.0), metavar=("START", "END"))
    sp.add_argument("--table-z-mm", type=_finite, default=0.0, help="patient z of the phantom origin")
    sp.add_argument("--shift-mm", type=_finite, nargs=2, default=(0.0, 0.0), metavar=("DX", "DY"))
    sp.add_argument("--rotation-deg", type=_finite, default=0.0, help="rotation of the insert")
    sp.add_argument("--noise-hu", type=_non_negative, default=15.0)
    sp.add_argument("--blur-fwhm-mm", type=_positive, default=1.5)
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
    sp.add_argument("--heart-rate-bpm", type=_positive, default=60.0)
    sp.add_argument("--phase-pct", type=_non_negative, default=70.0)
    sp.add_argument("--ctdivol-mgy", type=_non_negative, default=4.0)
    sp.add_argument("--station-name", default="QA-SYNTH-1")
    sp.add_argument("--serial", default="SYN0001", help="DeviceSerialNumber")
    sp.add_argument("--datetime", default="2026-01-05T07:30:00", help="acquisition start (ISO 8601)")
    sp.add_argument("--json", action="store_true", help="print the truth as JSON (qa.synth/1) on stdout")
    sp.set_defaults(func=cmd_synth_phantom)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_INPUT
    from qa.errors import QAError

    try:
        return int(args.func(args))
    except QAError as exc:
        _report_error(exc, getattr(args, "json", False), args.command)
        return EXIT_INPUT
    except OSError as exc:  # the file system said no: a usage problem, not a bug
        from qa.errors import UsageError

        error = UsageError(str(exc), hint="check the path, its permissions and the free disk space")
        _report_error(error, getattr(args, "json", False), args.command)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: say so plainly, with the traceback
        traceback.print_exc()
        print(f"\nqa: internal error ({type(exc).__name__}: {exc}); please report it", file=sys.stderr)
        return EXIT_INTERNAL


def _report_error(exc, as_json: bool, command: str) -> None:
    print(f"qa: error: {exc}", file=sys.stderr)
    if exc.hint:
        print(f"    what to do: {exc.hint}", file=sys.stderr)
    if as_json:
        # The command's own schema, carrying the error instead of results.
        _json_out({"error": exc.to_dict()}, f"qa.{command}/1")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
