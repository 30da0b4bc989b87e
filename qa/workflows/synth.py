"""Synthetic data with known truth: a phantom series (the definition loaded from ``options.phantom``), a
calcium-score exam with known breath-hold motion between its stacks, and a fleet of header-only exams
with their dose reports (``qa synth exams``)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import UsageError
from qa.exam_synth import ExamSynthOptions, ExamSynthResult
from qa.exam_synth import synthesize_exam as _synthesize_exam
from qa.exam_synth.fleet import FleetOptions, FleetRules
from qa.outputs import write_file
from qa.phantom.synth import SynthOptions, SynthResult
from qa.phantom.synth import synthesize_phantom as _synthesize
from qa.procedures import load_phantom
from qa.records.serialize import Record
from qa.workflows.owned_folder import OwnedFolder

__all__ = ["ExamSynthOptions", "ExamSynthResult", "FleetOptions", "FleetResult", "SynthOptions", "SynthResult", "fleet_rules",
           "synthesize_exam", "synthesize_exams", "synthesize_phantom"]


def synthesize_phantom(out_dir: str | os.PathLike, options: SynthOptions | None = None, *,
                       progress: Callable[[int, int], None] | None = None) -> SynthResult:
    """Write a synthetic phantom series and its ``truth.json`` into ``out_dir`` (see :mod:`qa.phantom.synth`)."""
    options = options or SynthOptions()
    return _synthesize(out_dir, options, definition=load_phantom(options.phantom), progress=progress)


def synthesize_exam(out_dir: str | os.PathLike, options: ExamSynthOptions | None = None, *,
                    progress: Callable[[int, int], None] | None = None) -> ExamSynthResult:
    """Write a synthetic calcium-score exam with known breath-hold motion into ``out_dir`` (see :mod:`qa.exam_synth`)."""
    return _synthesize_exam(out_dir, options, progress=progress)


# ------------------------------------------------------------------------------------ qa synth exams

def _fleet_writes(name: str) -> bool:
    return name in ("exams", "truth.csv", "truth.json")


# A fleet's folder: marked by .qa-synth-exams, its files listed in .qa-synth-exams-files; a later
# run empties it only when it holds nothing else (qa.workflows.owned_folder).
FLEET_FOLDER = OwnedFolder(command="qa synth exams", marker=".qa-synth-exams", manifest=".qa-synth-exams-files", option="OUT_DIR",
                           writes=_fleet_writes)
_VENDORS = ("siemens", "ge", "philips", "canon")


@dataclass(frozen=True)
class FleetResult(Record):
    """What ``qa synth exams`` wrote (its ``qa.synth-exams/1`` document); the truth itself is in
    ``truth.json`` (``qa.synth-exams-truth/1``) and ``truth.csv``."""

    out_dir: str
    options: FleetOptions
    n_studies: int
    n_patient_studies: int
    n_files: int
    truth_csv: str
    truth_json: str
    scanners: tuple[dict, ...]
    drift: dict
    counts: dict
    workers: int
    seconds: float  # the time it took (this run; never written into the files)
    files_per_second: float
    warnings: tuple[str, ...] = ()


def fleet_rules(dose_tables: str = "dose-reference") -> FleetRules:
    """What a fleet's truth is judged by: the protocol ``qa check`` chooses for each vendor's
    calcium scores (by the same rule), its reference level and k-factor, the dose tables' k by region."""
    from qa.compliance import choose_protocol
    from qa.dicom.rdsr_codes import TARGET_REGIONS
    from qa.dose import reference_level_for
    from qa.exam_synth.fleet import MODELS
    from qa.procedures import available_protocols, load_dose_tables, load_protocol

    tables = load_dose_tables(dose_tables)
    loaded = [load_protocol(p) for p in available_protocols()]
    protocols = {}
    for vendor in _VENDORS:
        model = next(m for m in MODELS if m.vendor == vendor)
        protocols[vendor], _ = choose_protocol(model.manufacturer, [model.cac_description.format(t=3, k=model.cac_kernel)], loaded)
    cac = protocols["siemens"]
    cac_level, _ = reference_level_for(tables, protocol_id=cac.id, named_level=cac.reference_level)
    if cac_level is None:
        raise UsageError(f"{tables.path} has no reference level for the calcium-score protocol {cac.id}",
                         hint="the fleet plants exams above it: give the dose tables a calcium-score level")
    ccta_level, _ = reference_level_for(tables, names=["Coronary CTA"])
    k_by_region = {region: k.k_msv_per_mgycm for region, codes in TARGET_REGIONS.items()
                   if (k := tables.k_for_region(codes["SCT"])) is not None}
    sources = {"dose-tables": tables.sha256} | {p.id: p.sha256 for p in sorted(protocols.values(), key=lambda p: p.id)}
    return FleetRules(protocols, cac_level, ccta_level, k_by_region, tables.k_factors[tables.defaults["body32"]].k_msv_per_mgycm,
                      tables.k_factors[cac.k_factor].k_msv_per_mgycm, sources)


def synthesize_exams(out_dir: str | os.PathLike, options: FleetOptions | None = None, *, workers: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> FleetResult:
    """Write a synthetic fleet (header-only exams and dose reports, :mod:`qa.exam_synth.fleet`) and
    its truth into ``out_dir``: a new or empty folder, or an earlier fleet's (emptied first; anything
    else is refused before a file is touched).  ``workers`` processes write the studies (default: the
    CPUs, at most 4); the files are the same whatever their number.  A failed run removes what it wrote."""
    import time

    from qa.exam_synth.fleet import fleet_scanners, plan_fleet, study_row, truth_csv, truth_document, write_fleet

    opts = (options or FleetOptions()).validated()
    if workers is not None and not 1 <= workers <= 64:
        raise UsageError(f"workers must be between 1 and 64, not {workers}", hint="see qa synth exams --help")
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    rules = fleet_rules()
    started = time.monotonic()
    plan = plan_fleet(opts, rules)
    scanners = fleet_scanners(opts.scanners)
    out = Path(out_dir)
    made = not out.exists()
    FLEET_FOLDER.prepare(out)
    try:
        n_files = write_fleet(out, plan, scanners, workers=workers, progress=progress)
        rows = [study_row(exam, scanners[exam.scanner], rules) for exam in plan]
        document = truth_document(opts, scanners, rules, rows)
        csv_path = write_file(out / "truth.csv", truth_csv(rows), replace=False)
        json_path = write_file(out / "truth.json", json.dumps(document, indent=1) + "\n", replace=False)
        FLEET_FOLDER.write_manifest(out)
    except BaseException:
        FLEET_FOLDER.discard(out, made=made)
        raise
    seconds = time.monotonic() - started
    n_files += 2
    return FleetResult(str(out), opts, len(plan), document["counts"]["patient_studies"], n_files, csv_path, json_path,
                       tuple(document["scanners"]), document["drift"], document["counts"], workers, round(seconds, 2),
                       round(n_files / seconds, 1) if seconds > 0 else 0.0)
