"""``qa demo``: everything on synthetic data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qa.cli.common import (
    EXIT_OK,
    HelpFormatter,
    Progress,
    now_iso,
)
from qa.cli.score import print_score


def cmd_demo(args: argparse.Namespace) -> int:
    from qa.calcium.scoring import score_volume, scoring_settings
    from qa.dicom.series import load_volume, scan_inputs, select_series
    from qa.phantom.synth import SynthOptions, synthesize_phantom

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        from qa.errors import UsageError

        raise UsageError(f"{out_dir} is a file, not a folder", hint="choose another --out folder")
    phantom_dir = out_dir / "phantom-series"
    clear_demo_folder(phantom_dir)
    print(f"qa demo: writing a synthetic QRM-CCI-like phantom series to {phantom_dir}")
    result = synthesize_phantom(phantom_dir, SynthOptions(scout=True, shuffle=True, seed=7), progress=Progress("writing slices"))
    truth = result.truth
    print(f"  {len(result.files)} slices + a localizer + truth.json (c_HA true {truth['c_ha_true_mg_per_cm3_hu']:.3f} mg/(cm3 HU))")
    print("")
    print(f"qa demo: scoring it (qa score {phantom_dir} --c-ha {truth['c_ha_true_mg_per_cm3_hu']:.4f})")
    scan = scan_inputs(phantom_dir)
    volume = load_volume(select_series(scan))
    settings = scoring_settings("standard")
    score = score_volume(volume, settings, c_ha_mg_per_cm3_hu=truth["c_ha_true_mg_per_cm3_hu"])
    print_score(sys.stdout, scan, volume, score, settings, max_lesions=20)
    payload = {
        "analysis_time": now_iso(),
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


def clear_demo_folder(folder: Path) -> None:
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


def add_parser(sub) -> None:
    # qa demo
    p = sub.add_parser(
        "demo", formatter_class=HelpFormatter,
        help="synthesise a phantom series, score it, write the results",
        description="Synthesise a QRM-CCI-like phantom series with known truth and score it.",
        epilog="examples:\n  qa demo\n  qa demo --out /tmp/qa-demo\n",
    )
    p.add_argument("--out", default="qa-demo", help="output folder (default: ./qa-demo)")
    p.set_defaults(func=cmd_demo)
