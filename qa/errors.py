"""Exceptions of the qa toolkit.

Every error says what went wrong, where (file and DICOM field when there is one) and what the
user can do next.  The command line turns any :class:`QAError` into exit code 2 and a message on
stderr; library users catch them like any other exception.
"""

from __future__ import annotations


class QAError(Exception):
    """Base class: a problem the user can fix (bad input, bad usage, bad configuration)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict:
        return {"type": type(self).__name__, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        return self.message


class InputError(QAError):
    """An input file or set of files cannot be used.

    ``path`` names the file (or folder, or ``archive.zip!member``) and ``field`` the DICOM
    attribute or column concerned, when the problem is about one.
    """

    def __init__(
        self,
        path: str | None,
        field: str | None,
        message: str,
        *,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = None if path is None else str(path)
        self.field = field

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update({"path": self.path, "field": self.field})
        return out

    def __str__(self) -> str:
        where = []
        if self.path:
            where.append(self.path.replace("\n", "\\n"))  # a file name holding a newline stays on its line
        if self.field:
            where.append(self.field)
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UsageError(QAError):
    """The command or function was called with options that do not fit together."""


class DefinitionError(QAError):
    """A phantom or procedure definition file is malformed."""

    def __init__(self, path: str | None, key: str | None, message: str, *, hint: str | None = None):
        if hint is None:
            hint = (
                f"correct {key or 'the file'} and run again; the format is described in the README "
                "of the folder that holds the built-in definitions (phantoms/README.md, procedures/README.md)"
            )
        super().__init__(message, hint=hint)
        self.path = None if path is None else str(path)
        self.key = key

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update({"path": self.path, "key": self.key})
        return out

    def __str__(self) -> str:
        where = [w for w in (self.path, self.key) if w]
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

