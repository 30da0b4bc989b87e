"""Site routing rules of ``qa serve`` (the ``[[route]]`` tables of its TOML configuration).

Routing needs no configuration (:mod:`qa.workflows.route`); a site may add rules that decide the
workflow of what a given sender sends, or of a given Patient ID (the accounts under which the
physicist scans the phantom, or research scans that must not be checked)::

    [[route]]
    calling_aet = "CT1"          # what CT1 sends ...
    patient_id = "PHANTOM*"      # ... under a Patient ID matching this pattern (* ? [..], case-sensitive)
    workflow = "phantom"         # phantom | exam | keep

A rule names a calling AE title, a Patient ID pattern, or both (both must match); the first rule
that matches an object decides (in file order).  ``phantom``: a CT series goes to daily phantom QA
without looking for the phantom first (one that is not found then fails, saying why); ``exam``: a
CT series goes to the exam check without looking for the phantom; ``keep``: anything is kept in
the inbox and nothing is run.  Dose reports follow ``keep`` only.  The Patient ID is matched when
the object is received and never stored: the journal keeps only the workflow the rule chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

WORKFLOWS = ("phantom", "exam", "keep")


@dataclass(frozen=True)
class RouteRule:
    workflow: str  # one of WORKFLOWS
    calling_aet: str | None = None
    patient_id: str | None = None  # a glob pattern (fnmatch, case-sensitive)

    def matches(self, calling_aet: str | None, patient_id: str | None) -> bool:
        if self.calling_aet is not None and calling_aet != self.calling_aet:
            return False
        if self.patient_id is not None and (patient_id is None or not fnmatchcase(patient_id, self.patient_id)):
            return False
        return True


def workflow_for(rules, calling_aet: str | None, patient_id: str | None) -> str | None:
    """The workflow of the first rule that matches, None when none does (routing by content)."""
    return next((r.workflow for r in rules if r.matches(calling_aet, patient_id)), None)
