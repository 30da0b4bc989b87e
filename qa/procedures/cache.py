"""The validated records of definition files, kept between runs: a command whose definitions have not
changed since the last run skips pydantic (its import and model building: 0.15-0.25 s of a ``qa
gating``, ``qa check`` or ``qa phantom`` process) and unpickles the frozen record instead.

* **Key**: SHA-256 of the definition's kind, path and bytes, qa's version, the size and modification
  time of every module of the ``qa`` package (a changed model or record class is a new key), and,
  for what the validation reads besides the file itself (a procedure's phantom), the bytes of the
  other definition files it may read (every built-in phantom, and the file its ``phantom`` names)
  and the SHA-256 of a phantom given by the caller.  Anything else that changes makes a new key;
  a stale entry is never used, only left behind.
* **Only successes are kept**: a file that fails validation is validated (and refused) every time.
* **Trust**: entries live in the user's own cache folder (``$XDG_CACHE_HOME/qa/definitions``,
  mode 0700); the folder and the entry are opened without following links and read only when the
  opened folder and file are owned by the user and writable by nobody else; unpickling rebuilds only
  qa's classes and standard values, and the result must be (its key, a dataclass record); any
  problem reading it means "not cached".
  Written whole (temporary file, rename); the :data:`MAX_ENTRIES` most recent are kept.
  ``QA_DEFINITION_CACHE=off`` turns the cache off.
"""

from __future__ import annotations

import functools
import os
import pickle
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.procedures.sha256 import sha256

MAX_ENTRIES = 256  # our proposal: far more definition files than a site uses, a few MiB at most


@functools.cache  # once per process: the code does not change under a run
def _code_fingerprint() -> str:
    """Size and modification time of every module of the qa package (one stat each), folder by
    folder as ``os.walk`` goes (top down, names sorted), each named by its path under the package."""
    import qa

    digest = sha256(qa.__version__.encode())
    folders = [(str(Path(qa.__file__).parent), "")]
    while folders:
        folder, rel = folders.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # a folder that cannot be listed is left out, as os.walk leaves it
            continue
        for e in entries:
            if e.name.endswith(".py") and e.is_file():
                try:
                    st = e.stat()
                except OSError:  # gone, or a link to nowhere: not a module this run can import
                    continue
                digest.update(f"{rel}{e.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        folders.extend((e.path, f"{rel}{e.name}{os.sep}") for e in reversed(entries)
                       if e.name != "__pycache__" and e.is_dir(follow_symlinks=False))
    return digest.hexdigest()


def _folder() -> Path | None:
    if os.environ.get("QA_DEFINITION_CACHE", "").lower() in ("off", "0", "no"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qa" / "definitions"


def cache_key(kind: str, path: str, raw: bytes, *, related: tuple[Path, ...] = (), extra: str = "") -> str:
    digest = sha256(f"{kind}\0{path}\0{_code_fingerprint()}\0{extra}\0".encode())
    digest.update(sha256(raw).digest())
    for other in sorted(set(related)):
        try:
            digest.update(f"{other}\0".encode() + sha256(other.read_bytes()).digest())
        except OSError:
            digest.update(f"{other}\0unreadable".encode())
    return digest.hexdigest()


def cached_record(key: str, build: Callable[[], Any]) -> Any:
    """The record cached under ``key``, else ``build()`` (then cached).  An entry is (key, record): one
    that holds another key or anything but a dataclass record is ignored and rebuilt."""
    folder = _folder()
    if folder is None:
        return build()
    entry = folder / f"{key}.pickle"
    stored = _read_entry(folder, entry.name)
    if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key and _is_record(stored[1]):
        return stored[1]
    record = build()
    _store(folder, entry, (key, record))
    return record


def _prune(folder: Path) -> None:
    """Keep the :data:`MAX_ENTRIES` most recent entries (each edit of a file leaves its old entry behind)."""
    entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:-MAX_ENTRIES]:
        try:
            old.unlink()
        except OSError:
            pass


def _is_record(value: Any) -> bool:
    import dataclasses

    return dataclasses.is_dataclass(value) and not isinstance(value, type)


class _RecordUnpickler(pickle.Unpickler):
    """Rebuilds only qa's own classes and the standard containers and values a record holds."""

    def find_class(self, module: str, name: str):
        if module == "qa" or module.startswith("qa.") or module in _SAFE_MODULES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a definition record")


_SAFE_MODULES = frozenset(("builtins", "collections", "datetime", "decimal", "fractions", "enum", "pathlib", "types", "copyreg"))


def _read_entry(folder: Path, name: str) -> Any:
    """The unpickled entry, or None: the folder and the file are opened without following links and
    checked on the descriptors themselves (owner, no write access for others) before anything is read."""
    flags = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | flags)
    except OSError:
        return None
    try:
        if not _owned_and_closed(os.fstat(dir_fd), directory=True):
            return None
        fd = os.open(name, os.O_RDONLY | flags, dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as fp:
            if not _owned_and_closed(os.fstat(fp.fileno()), directory=False):
                return None
            return _RecordUnpickler(fp).load()
    except Exception:  # noqa: BLE001 - an unreadable, foreign or outdated entry is simply not cached
        return None
    finally:
        os.close(dir_fd)


def _owned_and_closed(st: os.stat_result, *, directory: bool) -> bool:
    kind = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
    return kind and st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _store(folder: Path, entry: Path, record: Any) -> None:
    """Write the entry whole; any failure (a read-only home, a record that cannot be pickled) is ignored."""
    import secrets

    try:
        data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _owned_and_closed(os.lstat(folder), directory=True):  # (an lstat error: not cached, below)
            return
        tmp = folder / f".{entry.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as fp:
                fp.write(data)
            os.replace(tmp, entry)
            _prune(folder)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except Exception:  # noqa: BLE001 - the cache is an optimisation: never a reason to fail
        pass
