"""Shared pieces of the command line: exit codes, terminal safety, progress, tables, JSON, option types."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from qa.records.text import escape_controls

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

def one_line(value: Any) -> str:
    """A value read from a file (a DICOM header, a file name, an ECG comment), shown on one line:
    control characters escaped (:func:`escape_controls`), newlines too (``\\n``), so that it can
    never start a line of its own, such as a fake ``VERDICT``.  ``None`` shows as ``?``."""
    return "?" if value is None else escape_controls(str(value)).replace("\n", "\\n")


class SafeStream:
    """A text stream whose ``write`` escapes control characters (:func:`escape_controls`).

    Everything the command line prints goes through it (``safe_terminal``): text read from DICOM
    headers, file names, ECG comments and error messages alike.  ``write_raw`` is for qa's own
    cursor control (the progress bar, the live status line), which is written only to a terminal."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(escape_controls(text))

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def write_raw(self, text: str) -> int:
        return self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def write_raw(stream: TextIO, text: str) -> None:
    """Write qa's own control sequences (callers check ``stream.isatty()`` first)."""
    getattr(stream, "write_raw", stream.write)(text)


@contextlib.contextmanager
def safe_terminal() -> Iterator[None]:
    """stdout and stderr escape control characters while the command runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout = SafeStream(sys.stdout)  # type: ignore[assignment]
    sys.stderr = SafeStream(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class Progress:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        write_raw(self.stream, "\r")
        self.stream.write(f"{self.label} [{bar}] {done}/{total} {now - self.start:5.1f}s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{round(value, digits) + 0.0:.{digits}f}"
    return str(value)


def table(headers: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A plain-text table; ``align`` is a string of 'l'/'r' per column.  Cells are escaped
    (:func:`escape_controls`) before they are measured, so that a hostile cell keeps its column."""
    align = align or "l" + "r" * (len(headers) - 1)
    rows = [[one_line(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = []
        for cell, width, a in zip(cells, widths, align):
            out.append(cell.ljust(width) if a == "l" else cell.rjust(width))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def json_out(payload: Any, schema: str) -> None:
    """Print one JSON document on stdout: ``schema``, ``qa_version``, ``warnings`` first, then the
    record's (or mapping's) own fields, derived from its dataclass."""
    from qa import __version__
    from qa.records.serialize import to_jsonable

    body = to_jsonable(payload)
    out = {"schema": schema, "qa_version": __version__, "warnings": [str(w) for w in body.pop("warnings", None) or []]}
    out.update(body)
    import json  # only for --json: the text output never needs it

    sys.stdout.write(json.dumps(out, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def progress_stages(enabled: bool = True):
    """A ``progress(label)`` factory for the workflows: a progress bar per stage on a terminal."""
    return (lambda label: Progress(label)) if enabled else (lambda label: None)


def local_time(value: Any, *, minutes: bool = True) -> str:
    """A stored time for people: local wall-clock time (aware values), else as it was written."""
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        shown = value.astimezone() if value.tzinfo is not None else value
        return shown.strftime("%Y-%m-%dT%H:%M" if minutes else "%Y-%m-%dT%H:%M:%S")
    return str(value)[:16] if minutes else str(value)


def finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive(text: str) -> float:
    value = finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def non_negative(text: str) -> float:
    value = finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def short(value: Any) -> str:
    """A measured or expected value for a terminal table: 4 significant digits, lists in brackets."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(short(v) for v in value) + "]"
    return str(value)


def add_verbose(p: argparse.ArgumentParser) -> None:
    """``--verbose``: list every skipped file by name (they are always counted)."""
    p.add_argument("-v", "--verbose", action="store_true", help="list every file skipped, with the reason (always counted)")


def print_files(out: TextIO, files, verbose: bool) -> None:
    """The ``Files`` line: files read and skipped; with ``verbose`` each skipped file and why."""
    if files is None:
        return
    hint = " (--verbose lists them)" if files.skipped and not verbose else ""
    print(f"Files    {files.summary()}{hint}", file=out)
    if verbose:
        print_files_skipped(out, files)


# ------------------------------------------------------------------------------------ commands a user can paste


def invocation() -> str:
    """How to run qa again, as this process was run, for a command printed to be pasted: the
    console script by the path it was called with (``.venv/bin/qa`` from the project folder, an
    absolute path elsewhere; plain ``qa`` when it was found on the PATH), else
    ``<python> -m qa`` with this interpreter."""
    import os
    import shlex

    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if os.path.basename(argv0) in ("qa", "qa.exe"):
        if os.sep not in argv0 and "/" not in argv0:
            return "qa"
        return shlex.quote(pastable_path(argv0))
    return f"{shlex.quote(pastable_path(sys.executable))} -m qa"


def pastable_path(path: str | os.PathLike) -> str:
    """``path`` relative to the working folder when it lies inside it (``qa-demo/exam``), else absolute."""
    full = os.path.abspath(path)
    here = os.getcwd()
    if full == here or full.startswith(here.rstrip(os.sep) + os.sep):
        return os.path.relpath(full, here)
    return full


def command_line(*words: str | os.PathLike) -> str:
    """One command a user can paste: qa as this process was run (:func:`invocation`), then ``words``
    quoted for a POSIX shell."""
    import shlex

    return " ".join([invocation()] + [shlex.quote(str(w)) for w in words])


def print_files_skipped(out: TextIO, files) -> None:
    """Each skipped file and why (no control characters)."""
    for s in files.skipped_files:
        shown = (s.label or s.name).encode("unicode_escape", "backslashreplace").decode("ascii")  # no control characters
        print(f"skipped: {shown}: {s.reason}", file=out)
