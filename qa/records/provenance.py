"""Provenance: which definition files (and which versions of them) a result was judged by."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from qa.records.serialize import Record


@dataclass(frozen=True)
class DefinitionRef(Record):
    """A procedure, protocol, phantom or dose-table file a result depends on, by id and content hash."""

    id: str
    name: str
    version: str
    path: str
    sha256: str


@dataclass(frozen=True)
class Provenance(Record):
    """What a result was made with: toolkit version, time (aware), the definition files (by content
    hash) and the source images' SOP Instance UIDs."""

    qa_version: str
    analysis_time: dt.datetime
    definitions: tuple[DefinitionRef, ...]
    sop_instance_uids: tuple[str, ...] = ()
