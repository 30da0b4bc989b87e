"""What an input held: files read and files skipped (each by name, with the reason).

Nothing is left out silently: every file found under an input is either read or listed here.
Only file names leave this module in documents (folder names may name patients); the full path
(``label``) is for the terminal of the user who gave it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from qa.records.serialize import Record


@dataclass(frozen=True)
class SkippedFile(Record):
    """A file found under an input and not read, and why.

    ``damaged``: it looks like a DICOM file of the series (empty, too short for a DICOM header,
    or named like one) but cannot be read as one; such a file among a series' files refuses the series.
    """

    name: str  # the file name without its folders (a zip member: its name inside the archive, without folders)
    reason: str
    damaged: bool = False
    label: str = field(default="", metadata={"json": False})  # the path (or archive.zip!member) as given
    folder: str = field(default="", metadata={"json": False})  # the folder (or archive.zip!folder) holding it

    @staticmethod
    def of(label: str, reason: str, *, damaged: bool = False) -> "SkippedFile":
        """The record of the file at ``label`` (a path, or ``archive.zip!member``)."""
        return SkippedFile(name_of(label), reason, damaged, label, folder_of(label))


def _split(label: str) -> tuple[str | None, str]:
    """(archive, member) of a zip member's label, (None, path) of a file's."""
    if "!" in label and not os.path.exists(label):
        archive, member = label.split("!", 1)
        return archive, member
    return None, label


def name_of(label: str) -> str:
    """A file's name without its folders (a zip member's without the archive and its folders)."""
    _, path = _split(label)
    return os.path.basename(path.rstrip("/")) or path


def folder_of(label: str) -> str:
    """The folder holding a file (a zip member: ``archive.zip!folder/in/zip``), as a comparable key."""
    archive, path = _split(label)
    if archive is not None:
        return f"{os.path.abspath(archive)}!{os.path.dirname(path)}"
    return os.path.dirname(os.path.abspath(path))


@dataclass(frozen=True)
class FileCounts(Record):
    """The ``files`` block of a document: how many files were read, how many skipped, and which."""

    read: int
    skipped: int
    skipped_files: tuple[SkippedFile, ...]

    def summary(self) -> str:
        text = f"{self.read} file{'s' if self.read != 1 else ''} read, {self.skipped} skipped"
        damaged = sum(1 for s in self.skipped_files if s.damaged)
        return text + (f" ({damaged} unreadable)" if damaged else "")
