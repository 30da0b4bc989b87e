"""qa: cardiac CT calcium-scoring acquisition and dose QA.

The public API, for notebooks and scripts::

    import qa
    volume = qa.load_series("path/to/series")          # folder, zip or list of files
    score = qa.score_volume(volume, qa.scoring_settings("standard"))
    print(score.agatston, score.volume_mm3)

    result = qa.analyze_phantom(volume, qa.load_phantom("qrm-cci"), qa.load_procedure("daily-phantom-qa"))
    print(result.verdict, [(i.id, i.mass_mg) for i in result.inserts])

    run = qa.run_phantom_qa("path/to/series", store=False)   # the whole daily QA, as `qa phantom` runs it
    checklist = qa.check_exam_files("path/to/exam").checklist  # as `qa check` runs it

Names are imported on first use so that ``import qa`` (and ``qa --help``) stay fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    # DICOM input
    "scan_inputs": "qa.dicom.series",
    "select_series": "qa.dicom.series",
    "load_series": "qa.dicom.series",
    "load_volume": "qa.dicom.series",
    "CTVolume": "qa.records.volume",
    "InputScan": "qa.dicom.series",
    "SeriesInfo": "qa.records.volume",
    # calcium scoring
    "score_calcium": "qa.calcium.scoring",
    "score_volume": "qa.calcium.scoring",
    "scoring_settings": "qa.calcium.scoring",
    "ScoringSettings": "qa.calcium.scoring",
    "CalciumScore": "qa.calcium.scoring",
    "Lesion": "qa.calcium.scoring",
    "METHOD_PRESETS": "qa.calcium.presets",
    "ScoringRequest": "qa.calcium.scoring",
    "agatston_weight": "qa.calcium.scoring",
    "c_ha_from_rods": "qa.calcium.calibration",
    "calibrate": "qa.calcium.calibration",
    "Calibration": "qa.calcium.calibration",
    # phantoms
    "load_phantom": "qa.procedures",
    "available_phantoms": "qa.procedures",
    "PhantomDefinition": "qa.phantom.definition",
    "synthesize_phantom": "qa.workflows.synth",
    "SynthOptions": "qa.phantom.synth",
    "locate_phantom": "qa.phantom.locate",
    "PhantomLocation": "qa.phantom.locate",
    "analyze_phantom": "qa.phantom.analysis",
    "PhantomResult": "qa.phantom.analysis",
    "Baseline": "qa.phantom.analysis",
    # definitions, checks, store, control charts
    "load_procedure": "qa.procedures",
    "load_protocol": "qa.procedures",
    "load_dose_tables": "qa.procedures",
    "Check": "qa.records.checks",
    "Store": "qa.store",
    "StudyRecord": "qa.records.study",
    "control_chart": "qa.control_charts",
    # the workflows (what every command runs)
    "run_phantom_qa": "qa.workflows",
    "set_baseline": "qa.workflows",
    "show_baselines": "qa.workflows",
    "scanner_control_charts": "qa.workflows",
    "check_exam_files": "qa.workflows",
    "load_exam": "qa.workflows",
    "summarise_dose": "qa.workflows",
    "ingest": "qa.workflows",
    "store_trends": "qa.workflows",
    "analyse_gating": "qa.workflows",
    "score_series": "qa.workflows",
    "check_exam": "qa.compliance",
    # errors
    "QAError": "qa.errors",
    "InputError": "qa.errors",
    "UsageError": "qa.errors",
    "DefinitionError": "qa.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
