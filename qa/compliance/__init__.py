"""Exam compliance: a calcium-score exam against its protocol (pure: records in, a checklist out).

``protocol`` holds the protocol records, ``registry`` the exam checks (one entry per check id),
``choose`` which protocol and which series, ``checklist`` the checklist itself.
"""

from qa.compliance.checklist import (Checklist, RejudgedDose, check_exam, checklist_verdict, dose_checks, dose_not_judged_message,
                                     exam_dose, exam_reference_level, rejudge_dose, validate_protocol)
from qa.compliance.choose import choose_protocol, names_calcium_score, protocol_matches_vendor, series_preference
from qa.compliance.protocol import GATING_MODES, ExamProtocol, ProtocolRule
from qa.compliance.registry import BY_ID, ESSENTIAL_CHECKS, EXAM_CHECK_IDS, EXAM_CHECKS, ExamCheck, unjudged_dose

__all__ = [
    "BY_ID", "ESSENTIAL_CHECKS", "EXAM_CHECKS", "dose_checks", "dose_not_judged_message", "unjudged_dose", "EXAM_CHECK_IDS", "GATING_MODES", "Checklist", "ExamCheck", "ExamProtocol",
    "ProtocolRule", "RejudgedDose", "check_exam", "checklist_verdict", "rejudge_dose", "choose_protocol", "exam_dose", "exam_reference_level", "names_calcium_score",
    "protocol_matches_vendor", "series_preference", "validate_protocol",
]
