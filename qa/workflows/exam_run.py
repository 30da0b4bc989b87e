"""One ``qa check`` run as a record: the ``qa.check/1`` document (the checklist, provenance, files, where it was stored)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from qa.compliance import Checklist, ExamProtocol
from qa.records.inputs import FileCounts
from qa.records.provenance import Provenance
from qa.records.serialize import Record
from qa.records.study import StoredStudies


@dataclass(frozen=True, eq=False)
class ExamCheckRun(Record):
    """One exam checked (the ``qa.check/1`` document: the checklist's fields, then these)."""

    checklist: Checklist = field(metadata={"flatten": True})
    analysis_time: dt.datetime
    provenance: Provenance
    plot: str | None = None
    files: FileCounts | None = None  # the exam's files read and skipped
    protocol_definition: ExamProtocol | None = field(default=None, repr=False, metadata={"json": False})
    stored: StoredStudies | None = None  # where --db stored the exam's study (None without --db)

    @property
    def verdict(self) -> str:
        return self.checklist.verdict
