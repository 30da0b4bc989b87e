"""pydicom's warnings about values that break the standard's rules, collected rather than printed.

pydicom reads a value that breaks its VR's rules as written (a 84-character LO, a UID with a
letter, a malformed number) and says so with a ``UserWarning`` on stderr when the value is first
used.  A run over thousands of files then floods the terminal with lines that name no file, and a
``--json`` reader's stderr with noise.  Inside :func:`collected`, such warnings go to a list
instead, each with the file being read (:func:`reading` says which: the readers set it around
each file), so that the workflow can report them in its ``warnings``, by file and counted
(:func:`summary_lines`): nothing is lost, nothing is printed.  Other warnings pass through as usual.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from qa.records.inputs import name_of

_FILE: ContextVar[str | None] = ContextVar("qa_dicom_file_read", default=None)
# The modules whose UserWarnings are pydicom's (warnings.filterwarnings matches the module the warning points at).
_PYDICOM = r"pydicom(\..*)?$"
# File names shown per message in a summary line (the count says how many files in all).
_NAMES_SHOWN = 3


@dataclass(frozen=True)
class ValueWarning:
    """One pydicom warning: the file being read (its label, None when no reader said) and the message."""

    file: str | None
    message: str


@contextlib.contextmanager
def reading(label: str | None) -> Iterator[None]:
    """The values read in this block are the file ``label``'s (for the warnings :func:`collected` keeps)."""
    token = _FILE.set(label)
    try:
        yield
    finally:
        _FILE.reset(token)


def now_reading(label: str | None) -> None:
    """The values read from now on are the file ``label``'s (within an enclosing :func:`reading`,
    which restores what was read before when it ends)."""
    _FILE.set(label)


@contextlib.contextmanager
def collected(sink: list[ValueWarning]) -> Iterator[list[ValueWarning]]:
    """UserWarnings raised in this block (pydicom's: every one) are appended to ``sink``, with the
    file :func:`reading` names, never shown; other warnings are shown as before."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, UserWarning):  # pydicom's (or a reader's): about the data, for the run's warnings
                sink.append(ValueWarning(_FILE.get(), str(message)))
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.filterwarnings("always", category=UserWarning, module=_PYDICOM)  # each occurrence counts
        yield sink


def summary_lines(caught: list[ValueWarning]) -> tuple[str, ...]:
    """One line per distinct message: how many times, in which files (names only, without folders:
    they may name patients; the first few, and how many more)."""
    by_message: dict[str, list[str | None]] = {}
    for w in caught:
        by_message.setdefault(w.message, []).append(w.file)
    lines = []
    for message, files in by_message.items():
        names = list(dict.fromkeys(name_of(f) for f in files if f))
        where = ", ".join(names[:_NAMES_SHOWN]) + (f" and {len(names) - _NAMES_SHOWN} more file(s)" if len(names) > _NAMES_SHOWN else "")
        lines.append(f"a DICOM value breaks the standard's rules and was read as written ({len(files)} time(s)"
                     f"{', in ' + where if where else ''}): {' '.join(message.split())}")
    return tuple(lines)
