"""The application layer: every entry point (the command line, the demo, the DICOM receiver, the
dashboard, a notebook) runs these workflows, never ``qa.cli``.

Each workflow is a function with keyword arguments that reads its inputs, runs the pure analysis,
stores or reports as asked, and returns a frozen record whose JSON form is the ``qa.*/1`` document.

==========================================  =======================================
``run_phantom_qa``                          daily phantom QA (``qa phantom``)
``set_baseline`` / ``show_baselines``       a scanner's baselines (``qa baseline``)
``scanner_control_charts``                  control charts (``qa trend``)
``check_exam_files`` / ``load_exam``        an exam against its protocol (``qa check``)
``summarise_dose``                          dose reports (``qa dose``)
``ingest``                                  exams and dose reports into the store (``qa ingest``)
``store_trends``                            dose and compliance trends of the store (``qa trends``)
``analyse_gating`` / ``gating_for_exam``    prospective gating timing (``qa gating``)
``analyse_series_motion``                   breath-hold motion between stacks (``qa motion``)
``score_series``                            calcium scores of a series (``qa score``)
``record_ecg``                              live ECG capture (``qa ecg record``)
``synthesize_phantom``                      synthetic phantom series (``qa synth phantom``)
``synthesize_exam``                         synthetic exam with known motion (``qa synth exam``)
``synthesize_exams``                        a synthetic fleet of exams and dose reports (``qa synth exams``)
``run_demo``                                everything on synthetic data (``qa demo``)
``build_dashboard``                         the fleet as a web page (``qa dashboard``)
``inbox_status`` / ``route_group``          the DICOM receiver's inbox and its routing (``qa serve``)
==========================================  =======================================
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "run_phantom_qa": "qa.workflows.phantom",
    "PhantomRun": "qa.workflows.phantom",
    "set_baseline": "qa.workflows.baselines",
    "show_baselines": "qa.workflows.baselines",
    "scanner_control_charts": "qa.workflows.charts",
    "check_exam_files": "qa.workflows.exam",
    "load_exam": "qa.workflows.exam_files",
    "summarise_dose": "qa.workflows.dose",
    "ingest": "qa.workflows.ingest",
    "store_trends": "qa.workflows.trends",
    "analyse_gating": "qa.workflows.gating",
    "gating_for_exam": "qa.workflows.gating",
    "analyse_series_motion": "qa.workflows.motion",
    "score_series": "qa.workflows.score",
    "record_ecg": "qa.workflows.ecg",
    "synthesize_phantom": "qa.workflows.synth",
    "synthesize_exam": "qa.workflows.synth",
    "synthesize_exams": "qa.workflows.synth",
    "run_demo": "qa.workflows.demo",
    "build_dashboard": "qa.workflows.dashboard",
    "inbox_status": "qa.workflows.inbox",
    "route_group": "qa.workflows.route",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qa.workflows' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
