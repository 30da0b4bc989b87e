"""CTDIvol, DLP and effective dose: k-factors, reference levels, DLP estimated from headers.

E = k x DLP.  The k comes from the protocol, else from the event's target region (a table in
``procedures/dose-reference.toml`` with its sources), else a labelled default chosen by the
event's CTDI phantom.  Every mSv value carries its k, ``k_source`` and ``icrp_basis`` (60 or 103).
Head (16 cm) and body (32 cm) phantom DLPs are never added into one dose estimate: the dose is
summed event by event, each with its own k.

Pure functions over records; the tables are loaded by :func:`qa.procedures.load_dose_tables`.
:mod:`qa.dose.effective` holds the tables and the effective dose, :mod:`qa.dose.levels` the dose
values a reference level judges (never less than the sum of the events; lower bounds marked) and
the comparison itself.
"""

from qa.dose.effective import (
    COMPARISONS,
    EACH_EXAM,
    LEVEL_K_TOLERANCE,
    MEDIAN,
    DoseEstimate,
    DoseTables,
    EventDose,
    KFactor,
    ReferenceLevel,
    dose_from_headers,
    estimated_dlp,
    event_dose,
    header_region,
    study_dose,
)
from qa.dose.levels import (
    ABOVE,
    AUDIT_LEVEL,
    LEVEL_QUANTITIES,
    LOWER_BOUND_WITHIN,
    NO_LEVEL,
    NO_VALUE,
    WITHIN,
    ComparedDose,
    DoseValues,
    LevelComparison,
    compare_with_level,
    compared_dose,
    study_dlp_mgycm,
    dose_values_from_headers,
    dose_values_from_report,
    level_of_rank,
    level_rank,
    level_status,
    reference_level_for,
)
from qa.records.dose import PHANTOM_KEYS  # the dose report's CTDI phantom keys

__all__ = [
    "ABOVE", "AUDIT_LEVEL", "COMPARISONS", "EACH_EXAM", "LEVEL_K_TOLERANCE", "LEVEL_QUANTITIES", "MEDIAN", "LOWER_BOUND_WITHIN", "NO_LEVEL", "NO_VALUE", "PHANTOM_KEYS", "WITHIN", "ComparedDose", "DoseEstimate",
    "DoseTables", "DoseValues", "EventDose", "KFactor", "LevelComparison", "ReferenceLevel", "compare_with_level", "compared_dose", "study_dlp_mgycm",
    "dose_from_headers", "dose_values_from_headers", "dose_values_from_report", "estimated_dlp", "event_dose", "header_region", "level_of_rank", "level_rank", "level_status",
    "reference_level_for", "study_dose",
]
