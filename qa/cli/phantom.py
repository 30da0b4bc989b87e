"""``qa phantom``, ``qa baseline`` and ``qa trend``: daily phantom QA, baselines, control charts."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TextIO

from qa.cli.common import EXIT_FAIL, EXIT_OK, HelpFormatter, Progress, count, fmt, json_out, now_iso, short, table
from qa.cli.score import add_scoring_options, settings_from_args


def _open_store(args):
    from qa.store import Store

    return Store(getattr(args, "db", None))


def run_phantom(series, *, phantom=None, procedure="daily-phantom-qa", series_uid=None, store=None, ring="unspecified",
                settings_args=None, progress=True):
    """Load, analyse and (optionally) store one phantom series; returns (volume, result, document, run_id, replaced)."""
    from qa import __version__
    from qa.dicom.series import load_volume, scan_inputs, select_series
    from qa.phantom.analysis import analyze_phantom, configuration_key, configuration_of
    from qa.phantom.definition import load_phantom
    from qa.procedures import load_procedure

    proc = load_procedure(procedure)
    definition = load_phantom(phantom or proc.phantom)
    scan = scan_inputs(series, progress=Progress("reading headers") if progress else None)
    volume = load_volume(select_series(scan, series_uid), progress=Progress("decoding pixels ") if progress else None)
    if settings_args is not None:
        settings_args.method = settings_args.method or proc.scoring_method
        settings = settings_from_args(settings_args, volume.info.kvp)
    else:
        from qa.calcium.scoring import scoring_settings

        settings = scoring_settings(proc.scoring_method)
    baseline = None
    if store is not None:
        scanner = {"manufacturer": volume.info.manufacturer, "model": volume.info.model,
                   "device_serial_number": volume.info.device_serial_number, "station_name": volume.info.station_name}
        # Read only: a scan that turns out unusable must leave no trace in the store.
        scanner_id = store.find_scanner_id(scanner)
        config = configuration_key(configuration_of(volume, proc, settings, ring))
        baseline = store.active_baseline(scanner_id, config) if scanner_id is not None else None
    result = analyze_phantom(volume, definition, proc, baseline, settings=settings, ring=ring)
    analysed_at = now_iso()
    document = result.to_dict()
    document["analysis_time"] = analysed_at
    document["provenance"]["qa_version"] = __version__
    document["provenance"]["analysis_time"] = analysed_at
    run_id, replaced = None, False
    if store is not None:
        run_id, replaced = store.save_phantom_run(document, analysed_at=analysed_at, qa_version=__version__)
        document["stored"] = {"run_id": run_id, "replaced_earlier_analysis": replaced, "database": store.display_url}
    return volume, result, document, run_id, replaced


def cmd_phantom(args: argparse.Namespace) -> int:
    store = None if args.no_store else _open_store(args)
    try:
        volume, result, document, run_id, replaced = run_phantom(
            args.series, phantom=args.phantom, procedure=args.procedure, series_uid=args.series_uid, store=store,
            ring=args.ring, settings_args=args,
        )
        out = sys.stderr if args.json else sys.stdout
        print_phantom(out, result, document)
        if run_id is not None:
            print(f"stored   run #{run_id} in {store.display_url}" + (" (replaced the earlier analysis of this series)" if replaced else ""),
                  file=out)
        elif args.no_store:
            print("stored   no (--no-store)", file=out)
        if args.report:
            from qa.report.phantom import write_phantom_report

            from qa.procedures import load_procedure

            runs, scanner_row = _trend_runs(store, document) if store is not None else ([], None)
            write_phantom_report(args.report, document, volume, result.location, runs=runs, scanner=scanner_row,
                                 min_sd_pct=load_procedure(args.procedure).min_sd_pct)
            print(f"report   {args.report}", file=out)
    finally:
        if store is not None:
            store.close()
    if args.json:
        json_out(document, "qa.phantom/1")
    return EXIT_FAIL if result.verdict == "fail" else EXIT_OK


def _trend_runs(store, document):
    """The stored runs charted beside a report: this configuration, protocol followed."""
    from qa.phantom.analysis import configuration_key

    scanner_id = store.find_scanner_id(document["scanner"])
    row = next((s for s in store.scanners() if s.id == scanner_id), None)
    if row is None:
        return [], None
    config = configuration_key(document["configuration"])
    return store.phantom_runs(scanner_id, configuration_key=config, protocol_ok_only=True), row


def print_phantom(out: TextIO, result, document) -> None:
    loc = result.location
    s = result.scanner
    print(f"Phantom  {result.phantom_id}: axis ({loc.insert_center_mm[0]:.1f}, {loc.insert_center_mm[1]:.1f}) mm, "
          f"rotation {loc.rotation_deg:+.1f} deg{' (mirrored)' if loc.mirrored else ''}, calcifications at z "
          f"{loc.calcification_slab_z_mm:.1f} mm, rods at z {loc.rod_slab_z_mm:.1f} mm", file=out)
    print(f"Scanner  {s['manufacturer']} {s['model']}, serial {s['device_serial_number'] or '?'}, station "
          f"{s['station_name'] or '?'}", file=out)
    a = result.acquisition
    print(f"Scan     {fmt(a['kvp'], 0)} kVp, {fmt(a['slice_thickness_mm'], 2)} mm, kernel {a['kernel']}, CTDIvol "
          f"{fmt(a['ctdivol_mgy'], 2)} mGy, ring {a['ring']}, acquired {a['acquisition_datetime'] or '?'}", file=out)
    cal = result.calibration
    if cal is not None:
        print(f"Rods     water {cal.water_hu:.1f} HU (noise SD {cal.noise_hu:.1f} HU), HA-200 {cal.ha_hu:.1f} HU, "
              f"c_HA {cal.c_ha_mg_per_cm3_hu:.4f} mg/(cm3 HU)", file=out)
    else:
        print("Rods     no calibration: masses are not available", file=out)
    print("", file=out)
    rows = []
    for i in result.inserts:
        c = i.centroid_mm
        rows.append([
            i.id, "yes" if i.detected else "no", str(i.n_lesions), fmt(i.agatston, 1), fmt(i.volume_mm3, 1),
            fmt(i.mass_mg, 2), fmt(i.physical_mass_mg, 2), f"{i.mass_error_pct:+.1f}" if i.mass_error_pct is not None and i.detected else "-",
            f"{fmt(c[0])}, {fmt(c[1])}, {fmt(c[2])}",
        ])
    t = result.totals
    rows.append(["total", str(t["n_detected"]), "", fmt(t["agatston"], 1), fmt(t["volume_mm3"], 1), fmt(t["mass_mg"], 2),
                 fmt(t["physical_mass_mg"], 2), "", ""])
    print(table(["insert", "detected", "lesions", "Agatston", "volume mm3", "mass mg", "physical mg", "error %", "centroid x, y, z mm"],
                rows, align="llrrrrrrl"), file=out)
    o = result.other_lesions
    print(f"         other lesions inside the insert (noise, not an insert): {o['n_lesions']}, Agatston {o['agatston']:.1f}", file=out)
    print("", file=out)
    check_rows = [[c.id, c.status.upper(), short(c.measured), short(c.expected), c.message] for c in result.checks]
    print(table(["check", "status", "measured", "expected", "message"], check_rows, align="lllll"), file=out)
    print("", file=out)
    for w in result.warnings:
        print(f"warning: {w}", file=out)
    print(f"VERDICT  {result.verdict_message}", file=out)


# ------------------------------------------------------------------------------------------ baseline


def cmd_baseline(args: argparse.Namespace) -> int:
    import json

    from qa.phantom.analysis import baseline_from_results
    from qa.procedures import load_procedure
    from qa.errors import UsageError

    store = _open_store(args)
    try:
        scanner = store.find_scanner(args.scanner)
        out = sys.stderr if args.json else sys.stdout
        if args.action == "show":
            entries = store.baselines(scanner.id)
            print(f"Scanner  {scanner.label()}", file=out)
            if not entries:
                print("no baseline yet: run the daily QA at least 5 times, then: qa baseline set --scanner "
                      f"{scanner.id} --from-last 5", file=out)
            for baseline, active, by, reason in entries:
                print(f"\nversion {baseline.version}{' (active)' if active else ''}, set {baseline.created_at.isoformat()} by {by}"
                      f"{', reason: ' + reason if reason else ''}; {baseline.n_runs} runs {list(baseline.run_ids)}", file=out)
                print(f"  configuration: {json.dumps(baseline.configuration, sort_keys=True)}", file=out)
                rows = [[k, f"{v.mean:.4g}", f"{v.sd:.3g}", f"{100 * v.sd / v.mean:.1f}" if v.mean else "-", str(v.n)]
                        for k, v in sorted(baseline.stats.items()) if not k.startswith(("volume_", "agatston_"))]
                print(textwrap.indent(table(["metric", "mean", "SD", "CV %", "n"], rows), "  "), file=out)
            if args.json:
                json_out({"scanner": scanner.to_dict(),
                          "baselines": [b.to_dict() | {"active": a, "created_by": by, "reason": r} for b, a, by, r in entries]},
                         "qa.baseline/1")
            return EXIT_OK
        # set
        procedure = load_procedure(args.procedure)
        n = args.from_last
        if n < procedure.baseline_min_runs:
            raise UsageError(f"a baseline needs at least {procedure.baseline_min_runs} runs (procedure {procedure.id}); got --from-last {n}",
                             hint=f"use --from-last {procedure.baseline_min_runs} or more")
        runs = store.phantom_runs(scanner.id, protocol_ok_only=True)
        if not runs:
            raise UsageError(f"no usable runs stored for {scanner.label()}", hint="run qa phantom on this scanner's phantom scans first")
        config_key = runs[-1].configuration_key
        same = [r for r in runs if r.configuration_key == config_key]
        if len(same) < n:
            raise UsageError(
                f"only {len(same)} run(s) of {scanner.label()} share the latest acquisition configuration; {n} are needed",
                hint="acquire more daily runs, or use a smaller --from-last (at least the procedure's minimum)",
            )
        chosen = same[-n:]
        failed = [r.id for r in chosen if r.verdict == "fail"]
        if failed and not args.include_failed:
            raise UsageError(f"runs {failed} among the last {n} failed their checks",
                             hint="investigate them first, or pass --include-failed to use them anyway")
        baseline = baseline_from_results([r.metrics for r in chosen], scanner.key, json.loads(config_key), 0, now_iso(),
                                         tuple(r.id for r in chosen))
        version = store.set_baseline(scanner.id, baseline, reason=args.reason)
        print(f"baseline version {version} set for {scanner.label()} from runs {[r.id for r in chosen]}", file=out)
        print(f"  configuration: {config_key}", file=out)
        for key in ("mass_800_5mm", "mass_400_5mm", "mass_200_5mm", "total_mass", "c_ha", "water_hu", "noise_hu"):
            stats = baseline.stats.get(key)
            if stats:
                print(f"  {key:14s} {stats.mean:10.4g} +- {stats.sd:.3g} (n={stats.n})", file=out)
        if args.json:
            json_out({"scanner": scanner.to_dict(), "version": version, "baseline": baseline.to_dict()}, "qa.baseline/1")
        return EXIT_OK
    finally:
        store.close()


# ------------------------------------------------------------------------------------------ trend


def cmd_trend(args: argparse.Namespace) -> int:
    from qa.procedures import load_procedure
    from qa.trends import chart_sd, control_chart, default_trend_metrics, monthly_summary, runs_table

    procedure = load_procedure(args.procedure)
    store = _open_store(args)
    try:
        scanner = store.find_scanner(args.scanner)
        runs = store.phantom_runs(scanner.id)
        out = sys.stderr if args.json else sys.stdout
        print(f"Scanner  {scanner.label()}: {len(runs)} run(s)", file=out)
        if not runs:
            if args.json:
                json_out({"scanner": scanner.to_dict(), "metrics": {}}, "qa.trend/1")
            return EXIT_OK
        # Chart the configuration of the active baseline; without one, that of the latest run that
        # followed the protocol (an off-protocol run never decides what is charted).
        import json

        from qa.phantom.analysis import configuration_key

        baseline = store.active_baseline(scanner.id)
        followed = [r for r in runs if r.protocol_ok]
        if baseline is not None:
            config_key = configuration_key(baseline.configuration)
        else:
            config_key = (followed or runs)[-1].configuration_key
        current = [r for r in runs if r.configuration_key == config_key and r.protocol_ok]
        deviating = [r for r in runs if not r.protocol_ok]
        other_config = [r for r in runs if r.protocol_ok and r.configuration_key != config_key]
        if deviating:
            print(f"         not charted, protocol deviation: run(s) {', '.join('#' + str(r.id) for r in deviating)}", file=out)
        if other_config:
            print(f"         not charted, another configuration than the charted one: run(s) "
                  f"{', '.join('#' + str(r.id) for r in other_config)}", file=out)
        metrics = [args.metric] if args.metric else default_trend_metrics()
        result = {"scanner": scanner.to_dict(), "baseline_version": baseline.version if baseline else None,
                  "configuration": json.loads(config_key), "not_charted": {
                      "protocol_deviation": [r.id for r in deviating], "other_configuration": [r.id for r in other_config]},
                  "metrics": {}}
        if baseline is None:
            print("no baseline for the current configuration: values are listed without control limits "
                  f"(qa baseline set --scanner {scanner.id} --from-last 5)", file=out)
        for metric in metrics:
            values = [r.metrics.get(metric) for r in current]
            stats = baseline.stats.get(metric) if baseline else None
            sd = chart_sd(stats.mean, stats.sd, procedure.min_sd_pct) if stats else None
            points = control_chart(values, stats.mean, sd) if stats and sd > 0 else None
            flagged = [p for p in points if p.flags] if points else []
            print(f"\n{metric}" + (f": baseline {stats.mean:.4g} +- {stats.sd:.3g} (n={stats.n}; chart SD {sd:.3g}), limits "
                                   f"[{stats.mean - 3 * sd:.4g}, {stats.mean + 3 * sd:.4g}]" if stats else ""), file=out)
            rows = []
            for n, r in enumerate(current[-args.last:] if args.last else current):
                index = len(current) - len(current[-args.last:]) + n if args.last else n
                p = points[index] if points else None
                rows.append([str(r.id), (r.acquired_at or r.analysed_at).astimezone().strftime("%Y-%m-%dT%H:%M"), fmt(values[index], 4) if values[index] is not None else "-",
                             f"{p.z:+.2f}" if p and p.z is not None else "-", ",".join(p.flags) if p else "", r.verdict])
            print(textwrap.indent(table(["run", "acquired", "value", "z", "flags", "verdict"], rows, align="llrrll"), "  "), file=out)
            if flagged:
                print(f"  FLAGGED from run #{current[flagged[0].index].id}: {', '.join(flagged[0].flags)}", file=out)
            result["metrics"][metric] = {
                "baseline": {"mean": stats.mean, "sd": stats.sd, "n": stats.n, "chart_sd": sd} if stats else None,
                "runs": [{"run_id": r.id, "acquired_at": r.acquired_at and r.acquired_at.astimezone().isoformat(), "value": v, "z": p.z if p else None,
                          "flags": list(p.flags) if p else []} for r, v, p in zip(current, values, points or [None] * len(current))],
            }
        summary = monthly_summary(runs_table(current, metrics))
        if not summary.empty:
            print("\nPer month", file=out)
            print(textwrap.indent(summary.round(4).to_string(), "  "), file=out)
        if args.plot:
            from qa.report.plots import trend_figure_png

            with open(args.plot, "wb") as fp:
                fp.write(trend_figure_png(current, metrics, baseline, min_sd_pct=procedure.min_sd_pct))
            print(f"\nplot     {args.plot}", file=out)
        if args.json:
            json_out(result, "qa.trend/1")
        return EXIT_OK
    finally:
        store.close()


# ------------------------------------------------------------------------------------------ parsers


def _add_db(p) -> None:
    p.add_argument("--db", metavar="URL", help="database URL (default: $QA_DB_URL, else a SQLite file in your data folder)")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "phantom", formatter_class=HelpFormatter,
        help="daily phantom QA: locate, score each insert, check, store",
        description=textwrap.dedent(
            """\
            Daily calcium-phantom QA.  Finds the QRM Cardiac Calcification Insert, its rods and its
            nine calcifications (no clicks), scores each insert (Agatston, volume, mass with c_HA from
            the rods), checks the acquisition and every metric against the procedure and the
            scanner's baseline, stores the run and prints the verdict.  Exit 0 pass (warnings
            allowed), 1 a check failed, 2 unusable input.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa phantom /data/qa/2026-03-02/CT1
              qa phantom /data/qa/CT2 --ring large --report ct2.html
              qa phantom phantom.zip --json > run.json
              qa phantom series/ --no-store --method siemens
              qa phantom series/ --procedure /etc/qa/our-phantom-qa.toml --db postgresql+psycopg://qa@db/qa
            """
        ),
    )
    p.add_argument("series", nargs="+", metavar="SERIES", help="folder, zip file or DICOM files of the phantom scan")
    p.add_argument("--series-uid", help="pick this series when the input holds several")
    p.add_argument("--phantom", help="phantom definition id or .toml path (default: the procedure's)")
    p.add_argument("--procedure", default="daily-phantom-qa", help="procedure id or .toml path (default daily-phantom-qa)")
    p.add_argument("--ring", choices=["none", "large", "unspecified"], default="unspecified",
                   help="the extension ring the phantom wore (part of the baseline configuration)")
    add_scoring_options(p)
    p.set_defaults(method=None)
    _add_db(p)
    p.add_argument("--no-store", action="store_true", help="do not store the run")
    p.add_argument("--report", metavar="FILE.html", help="write a self-contained HTML report")
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.phantom/1) on stdout")
    p.set_defaults(func=cmd_phantom)

    p = sub.add_parser(
        "baseline", formatter_class=HelpFormatter,
        help="set or show a scanner's phantom-QA baseline",
        description=textwrap.dedent(
            """\
            A baseline belongs to a scanner and an acquisition configuration (phantom, ring, kV,
            kernel, slice thickness, scoring settings).  Setting one makes a new version, keeps the
            old ones, and is recorded in the audit trail.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa baseline show --scanner CT1
              qa baseline set --scanner CT1 --from-last 10 --reason "after tube change"
              qa baseline set --scanner 3 --from-last 5
            """
        ),
    )
    p.add_argument("action", choices=["set", "show"])
    p.add_argument("--scanner", required=True, help="scanner id, station name or serial number")
    p.add_argument("--from-last", type=count, default=5, metavar="N", help="use the last N runs (at least 5)")
    p.add_argument("--reason", help="why the baseline changes (kept in the audit trail)")
    p.add_argument("--include-failed", action="store_true", help="allow runs that failed their checks")
    p.add_argument("--procedure", default="daily-phantom-qa", help="procedure id or .toml path")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.baseline/1) on stdout")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser(
        "trend", formatter_class=HelpFormatter,
        help="control charts of a scanner's stored phantom runs",
        description=textwrap.dedent(
            """\
            Per metric, the scanner's runs (current configuration, protocol followed) against the
            baseline mean +- 3 SD, with the Western Electric rules and a CUSUM that flag drift
            before it fails; a per-month summary; optionally a PNG of the control charts.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa trend --scanner CT1
              qa trend --scanner CT1 --metric mass_800_5mm --plot ct1.png
              qa trend --scanner 2 --json > trend.json
            """
        ),
    )
    p.add_argument("--scanner", required=True, help="scanner id, station name or serial number")
    p.add_argument("--metric", help="one metric id (default: the main ones)")
    p.add_argument("--last", type=count, default=0, metavar="N", help="list only the last N runs (charts use all)")
    p.add_argument("--plot", metavar="FILE.png", help="write the control charts as a PNG")
    p.add_argument("--procedure", default="daily-phantom-qa", help="procedure id or .toml path (chart settings)")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (qa.trend/1) on stdout")
    p.set_defaults(func=cmd_trend)
