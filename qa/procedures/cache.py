"""The validated records of definition files, kept between runs: a command whose definitions have not
changed since the last run skips pydantic (its import and model building: 0.15-0.25 s of a ``qa
gating``, ``qa check`` or ``qa phantom`` process) and unpickles the frozen record instead.

* **Key**: SHA-256 of the definition's kind, path and bytes, qa's version, the size and modification
  time of every module of the ``qa`` package (a changed model or record class is a new key), and,
  for what the validation reads besides the file itself (a procedure's phantom), the bytes of the
  other definition files it may read (every ``.toml`` of its folder and of the built-in phantoms)
  and the SHA-256 of a phantom given by the caller.  Anything else that changes makes a new key;
  a stale entry is never used, only left behind.
* **Only successes are kept**: a file that fails validation is validated (and refused) every time.
* **Trust**: entries live in the user's own cache folder (``$XDG_CACHE_HOME/qa/definitions``,
  mode 0700); an entry is read only when it is a regular file owned by the user and writable by
  nobody else, and only as a record of the expected type; any problem reading it means "not cached".
  Written whole (temporary file, rename); the :data:`MAX_ENTRIES` most recent are kept.
  ``QA_DEFINITION_CACHE=off`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path
from collections.abc import Callable
from typing import Any

_FINGERPRINT: str | None = None
MAX_ENTRIES = 256  # our proposal: far more definition files than a site uses, a few MiB at most


def _code_fingerprint() -> str:
    """Size and modification time of every module of the qa package (one stat each)."""
    global _FINGERPRINT  # computed once per process: the code does not change under a run
    if _FINGERPRINT is None:
        import qa

        root = Path(qa.__file__).parent
        digest = hashlib.sha256(qa.__version__.encode())
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(folder, name))
                    digest.update(f"{os.path.relpath(os.path.join(folder, name), root)}:{st.st_size}:{st.st_mtime_ns};".encode())
        _FINGERPRINT = digest.hexdigest()
    return _FINGERPRINT


def _folder() -> Path | None:
    if os.environ.get("QA_DEFINITION_CACHE", "").lower() in ("off", "0", "no"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qa" / "definitions"


def cache_key(kind: str, path: str, raw: bytes, *, related: tuple[Path, ...] = (), extra: str = "") -> str:
    digest = hashlib.sha256(f"{kind}\0{path}\0{_code_fingerprint()}\0{extra}\0".encode())
    digest.update(hashlib.sha256(raw).digest())
    for other in sorted(set(related)):
        try:
            digest.update(f"{other}\0".encode() + hashlib.sha256(other.read_bytes()).digest())
        except OSError:
            digest.update(f"{other}\0unreadable".encode())
    return digest.hexdigest()


def _trusted(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def cached_record(key: str, build: Callable[[], Any]) -> Any:
    """The record cached under ``key``, else ``build()`` (then cached).  An entry is (key, record): one
    that holds another key or anything but a dataclass record is ignored and rebuilt."""
    folder = _folder()
    if folder is None:
        return build()
    entry = folder / f"{key}.pickle"
    if _trusted(entry) and _private_folder(folder):
        try:
            with open(entry, "rb") as fp:
                stored = pickle.load(fp)  # the user's own private file, written by qa (module doc)
            if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key and _is_record(stored[1]):
                return stored[1]
        except Exception:  # noqa: BLE001 - an unreadable or outdated entry is simply not cached
            pass
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


def _private_folder(folder: Path) -> bool:
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _store(folder: Path, entry: Path, record: Any) -> None:
    """Write the entry whole; any failure (a read-only home, a record that cannot be pickled) is ignored."""
    import secrets

    try:
        data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private_folder(folder):
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
