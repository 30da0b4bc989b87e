"""One loader for every definition file: find it, read it, validate it, return its frozen record.

A definition is either a built-in one, named by its id (``qrm-cci``, ``daily-phantom-qa``,
``cac-ge``, ``dose-reference``) and found in a checkout or an installed wheel
(:mod:`qa.procedures.builtin`), or a site's own file, named by its path: a :class:`~pathlib.Path`,
a name ending in ``.toml``, or a name with a folder in it (an id is never looked up in the
working directory).  The TOML is validated against the pydantic model of its kind
(:mod:`qa.procedures.models`); every problem becomes a :class:`~qa.errors.DefinitionError` that
names the file and the dotted key (:mod:`qa.procedures.translate`).  The record carries the
file's path and SHA-256, so that every stored result can name the rules that applied.

pydantic is imported on the first load, never by ``import qa`` or ``qa --help``, and not at all when
the record of an unchanged file is in the cache of validated records (:mod:`qa.procedures.cache`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from qa.errors import DefinitionError
from qa.procedures.builtin import builtin_dir, looks_like_path
from qa.procedures.sha256 import sha256
from qa.records.checks import SEVERITIES  # noqa: F401  (re-exported: qa.procedures.SEVERITIES)

if TYPE_CHECKING:
    from qa.compliance.protocol import ExamProtocol
    from qa.dose import DoseTables
    from qa.phantom.definition import PhantomDefinition
    from qa.phantom.procedure import PhantomProcedure



@dataclass(frozen=True)
class DefinitionKind:
    """One kind of definition file: where its built-ins live and which model validates it."""

    what: str  # in messages: "phantom", "procedure", ...
    folder: str  # the built-in folder: "phantoms" or "procedures"
    model: Callable[[], Any]  # the pydantic model (imported when first needed); it has .record(path, sha256)
    is_builtin_id: Callable[[str], bool]  # which built-in files of the folder are of this kind

    def available(self) -> list[str]:
        """Ids of the built-in definitions of this kind."""
        return sorted(p.stem for p in builtin_dir(self.folder).glob("*.toml") if self.is_builtin_id(p.stem))


def _phantom_model():
    from qa.procedures.models.phantom import PhantomFile

    return PhantomFile


def _procedure_model():
    from qa.procedures.models.procedure import ProcedureFile

    return ProcedureFile


def _protocol_model():
    from qa.procedures.models.protocol import ProtocolFile

    return ProtocolFile


def _dose_tables_model():
    from qa.procedures.models.dose import DoseTablesFile

    return DoseTablesFile


PHANTOM = DefinitionKind("phantom", "phantoms", _phantom_model, lambda stem: True)
PROCEDURE = DefinitionKind("procedure", "procedures", _procedure_model, lambda stem: not stem.startswith(("cac-", "dose-")))
PROTOCOL = DefinitionKind("protocol", "procedures", _protocol_model, lambda stem: stem.startswith("cac-"))
DOSE_TABLES = DefinitionKind("dose-table", "procedures", _dose_tables_model, lambda stem: stem.startswith("dose-"))


def load_definition(kind: DefinitionKind, name_or_path: str | Path, *, context: dict | None = None) -> Any:
    """The validated record of a built-in definition (by id) or of a site's file (by path).

    ``context`` goes to the model's validation (a procedure's phantom resolver)."""
    path = _locate(kind, name_or_path)
    try:
        raw = path.read_bytes()
    except OSError as exc:  # unreadable, a FIFO that vanished, ...: the file is named, never a traceback
        raise DefinitionError(str(path), None, f"cannot be read ({exc.strerror or exc})",
                              hint=f"check the path and the permissions of the {kind.what} file") from None
    from qa.procedures.cache import cache_key, cached_record

    related: tuple[Path, ...] = ()
    extra = ""
    if kind is PROCEDURE:  # its validation reads its phantom: a built-in one, a file it names, or the caller's
        related = _phantom_files(path, raw)
        given = (context or {}).get("phantom")
        extra = "" if given is None else f"{given.id}:{given.path}:{given.sha256}"
    return cached_record(cache_key(kind.what, f"{path}|{path.resolve()}", raw, related=related, extra=extra),
                         lambda: _validate(kind, path, raw, context))


def _phantom_files(path: Path, raw: bytes) -> tuple[Path, ...]:
    """The files a procedure's validation may read for its phantom: every built-in phantom, and the file
    its ``[procedure] phantom`` names when that is a path (relative to the procedure's folder)."""
    import tomllib  # here, not at the top: only a procedure's cache key and a validation parse TOML

    files = tuple(builtin_dir("phantoms").glob("*.toml"))
    try:
        ref = tomllib.loads(raw.decode("utf-8")).get("procedure", {}).get("phantom")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError, AttributeError):
        return files  # refused by the validation, which is never cached
    if isinstance(ref, str):
        ref = ref.strip()  # as the model reads it (Text strips whitespace)
    if isinstance(ref, str) and looks_like_path(ref):
        target = Path(ref)
        files += (target if target.is_absolute() else path.parent / target,)
    return files


def _validate(kind: DefinitionKind, path: Path, raw: bytes, context: dict | None) -> Any:
    """Parse and validate a definition file's bytes (pydantic): its record, or DefinitionError."""
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DefinitionError(str(path), None, f"is not UTF-8 text, as TOML must be (byte {exc.start}: {exc.reason})",
                              hint="save the file as UTF-8 and run again") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(str(path), None, f"is not valid TOML ({exc})") from exc
    except RecursionError:  # thousands of nested arrays: no file a person writes
        raise DefinitionError(str(path), None, "is nested too deeply to be a definition file") from None
    from pydantic import ValidationError

    from qa.procedures.translate import definition_error

    model = kind.model()
    try:
        parsed = model.model_validate(data, context={"load_phantom": load_phantom, "file": path, **(context or {})})
    except ValidationError as exc:
        raise definition_error(exc.errors(), data, str(path), model) from None
    return parsed.record(str(path), sha256(raw).hexdigest())


# The largest definition file read (the built-in ones are under 20 KiB): a larger one is a mistake.
MAX_DEFINITION_BYTES = 4 * 2**20

# A built-in id: letters, digits, '.', '_' and '-' (no separator, never a path).
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def _locate(kind: DefinitionKind, name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if not looks_like_path(name_or_path):
        folder = builtin_dir(kind.folder)
        # the built-in files of the folder (one of another kind is then refused by its kind, naming it)
        if not _ID.fullmatch(text) or text not in {p.stem for p in folder.glob("*.toml")}:
            raise DefinitionError(text, None, f"no built-in {kind.what} called {text!r}",
                                  hint=f"choose one of {', '.join(kind.available())} or give the path of a .toml file")
        return folder / f"{text}.toml"
    path = Path(name_or_path)
    try:
        if path.is_dir():
            raise DefinitionError(str(path), None, "is a folder, not a definition file",
                                  hint=f"give the path of the {kind.what}'s .toml file")
        if not path.exists():
            raise DefinitionError(str(path), None, "no such file", hint=f"check the path of the {kind.what} file")
        if not path.is_file():  # a FIFO, a device or a socket: never opened (it could block forever)
            raise DefinitionError(str(path), None, "is not a regular file", hint=f"give the path of the {kind.what}'s .toml file")
        if path.stat().st_size > MAX_DEFINITION_BYTES:
            raise DefinitionError(str(path), None, f"is {path.stat().st_size} bytes: no definition file is larger than "
                                  f"{MAX_DEFINITION_BYTES // 2**20} MiB", hint=f"give the path of the {kind.what}'s .toml file")
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a folder we may not enter
        raise DefinitionError(text, None, f"cannot be used as a file name ({exc})",
                              hint=f"check the path of the {kind.what} file") from None
    return path


# ------------------------------------------------------------------------------------ the public functions


def load_phantom(name_or_path: str | Path = "qrm-cci") -> PhantomDefinition:
    """A phantom definition: built-in by id (``qrm-cci``) or a definition file by path."""
    return load_definition(PHANTOM, name_or_path)


def available_phantoms() -> list[str]:
    """Ids of the built-in phantom definitions."""
    return PHANTOM.available()


def load_procedure(name_or_path: str | Path = "daily-phantom-qa", *, phantom: PhantomDefinition | None = None) -> PhantomProcedure:
    """A phantom-QA procedure: built-in by id or a procedure file by path.

    The procedure names its phantom (``[procedure] phantom``): a built-in id, the id of ``phantom``
    (a site's own definition already loaded, e.g. from ``qa phantom --phantom PATH``), or the path
    of a definition file (relative to the procedure's folder).  The procedure is validated against
    that phantom, and given ``phantom``, it must be that phantom."""
    return load_definition(PROCEDURE, name_or_path, context={"phantom": phantom})


def available_procedures() -> list[str]:
    """Built-in phantom-QA procedures (exam protocols are cac-*, dose tables dose-*)."""
    return PROCEDURE.available()


def load_protocol(name_or_path: str | Path) -> ExamProtocol:
    """An exam protocol: built-in by id (``cac-ge``) or a protocol file by path."""
    return load_definition(PROTOCOL, name_or_path)


def available_protocols() -> list[str]:
    """Built-in exam protocols (``cac-*``)."""
    return PROTOCOL.available()


def load_dose_tables(name_or_path: str | Path = "dose-reference") -> DoseTables:
    """The k-factor and reference-level tables: built-in by id or a site's own file by path."""
    return load_definition(DOSE_TABLES, name_or_path)
