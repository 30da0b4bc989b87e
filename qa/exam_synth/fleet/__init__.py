"""A synthetic fleet of header-only exams and dose reports with known truth (``qa synth exams``).

:func:`plan_fleet` decides every study from the options and the seed (pure: scanner, date and
time, patient, protocol, settings, doses, dose reports, planted anomalies); :func:`write_fleet`
writes the plan as files; :mod:`qa.exam_synth.fleet.truth` states the ground truth (what ``qa
check`` and ``qa dose`` should find).  The folder policy (refusing a folder that is not an earlier
fleet's) belongs to the workflow (:func:`qa.workflows.synth.synthesize_exams`).
"""

from qa.exam_synth.fleet.catalogue import MODELS, Scanner, ScannerModel, fleet_scanners
from qa.exam_synth.fleet.expect import expected_checks, expected_verdict
from qa.exam_synth.fleet.options import FleetOptions
from qa.exam_synth.fleet.plan import plan_fleet
from qa.exam_synth.fleet.records import FleetRules, Patient, PlannedEvent, PlannedExam, PlannedReport, PlannedSeries
from qa.exam_synth.fleet.truth import COLUMNS, study_row, truth_csv, truth_document
from qa.exam_synth.fleet.write import write_exam, write_fleet

__all__ = [
    "COLUMNS", "MODELS", "FleetOptions", "FleetRules", "Patient", "PlannedEvent", "PlannedExam", "PlannedReport", "PlannedSeries",
    "Scanner", "ScannerModel", "expected_checks", "expected_verdict", "fleet_scanners", "plan_fleet", "study_row", "truth_csv",
    "truth_document", "write_exam", "write_fleet",
]
