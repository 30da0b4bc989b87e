"""Exam compliance: a calcium-score exam against its protocol (pure: records in, a checklist out).

``protocol`` holds the protocol records, ``registry`` the exam checks (one entry per check id),
``choose`` which protocol and which series, ``checklist`` the checklist itself.  The names below
are loaded from their module on first use (PEP 562): a command that only needs a protocol record
(``qa gating``) does not import the checklist, the dose and study records (issue 17).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.compliance.checklist import (Checklist, RejudgedDose, check_exam, checklist_verdict, dose_checks, dose_not_judged_message,
                                         exam_dose, exam_reference_level, rejudge_dose, validate_protocol)
    from qa.compliance.choose import choose_protocol, names_calcium_score, protocol_matches_vendor, series_preference
    from qa.compliance.protocol import GATING_MODES, ExamProtocol, ProtocolRule
    from qa.compliance.registry import BY_ID, ESSENTIAL_CHECKS, EXAM_CHECK_IDS, EXAM_CHECKS, ExamCheck, unjudged_dose

_MODULES = {
    "checklist": ("Checklist", "RejudgedDose", "check_exam", "checklist_verdict", "dose_checks", "dose_not_judged_message", "exam_dose",
                  "exam_reference_level", "rejudge_dose", "validate_protocol"),
    "choose": ("choose_protocol", "names_calcium_score", "protocol_matches_vendor", "series_preference"),
    "protocol": ("GATING_MODES", "ExamProtocol", "ProtocolRule"),
    "registry": ("BY_ID", "ESSENTIAL_CHECKS", "EXAM_CHECK_IDS", "EXAM_CHECKS", "ExamCheck", "unjudged_dose"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "BY_ID", "ESSENTIAL_CHECKS", "EXAM_CHECKS", "dose_checks", "dose_not_judged_message", "unjudged_dose", "EXAM_CHECK_IDS",
    "GATING_MODES", "Checklist", "ExamCheck", "ExamProtocol", "ProtocolRule", "RejudgedDose", "check_exam", "checklist_verdict",
    "rejudge_dose", "choose_protocol", "exam_dose", "exam_reference_level", "names_calcium_score", "protocol_matches_vendor",
    "series_preference", "validate_protocol",
]


def __getattr__(name: str) -> Any:
    # plain import statements (not importlib): import-linter and the cycle test see them
    module = _WHERE.get(name)
    if module == "checklist":
        from qa.compliance import checklist as found
    elif module == "choose":
        from qa.compliance import choose as found
    elif module == "protocol":
        from qa.compliance import protocol as found
    elif module == "registry":
        from qa.compliance import registry as found
    else:
        raise AttributeError(f"module 'qa.compliance' has no attribute {name!r}")
    return getattr(found, name)
