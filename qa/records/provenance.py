"""Provenance: which definition files (and which versions of them) a result was judged by."""

from __future__ import annotations

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
