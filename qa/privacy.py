"""The site secret and the site's pseudonymiser (keyed HMAC-SHA-256; see :mod:`qa.records.identity`).

Identifiers never reach the store, a report, JSON output or a log in clear text: readers replace
them by pseudonyms as they read (the workflow hands them :func:`site_pseudonymiser`).  The same
value gets the same pseudonym wherever the same site secret is used; without the secret the
pseudonym cannot be reversed or recomputed.

The site secret (32 random bytes) is created on first use in the user's configuration folder
(``platformdirs.user_config_dir("qa")/site-secret``) with file mode 0600, atomically (a private
candidate file linked into place: the first of several processes wins, the others read it);
``QA_SECRET_FILE`` points elsewhere.  A secret that is a symbolic link, not exactly 32 bytes,
readable by others, owned by another user, or in a folder anyone may write is refused, saying
what to do: a key that others could read or choose would make the pseudonyms reversible.  It is never stored in the database.  **Several workstations, one site**: give
them the same secret, so that one study gets one pseudonym everywhere: create it once (any ``qa``
command that reads an exam does), copy the file to each workstation over a secure channel
(``install -m 600 site-secret ~/.config/qa/site-secret``) or point ``QA_SECRET_FILE`` at a copy
on a share only the QA accounts can read; keep a backup, since pseudonyms made with a lost secret
can never be matched again.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from qa.errors import UsageError
from qa.outputs import sync_folder
from qa.records.identity import Pseudonymiser

# Bytes of the site secret: 256 bits, the HMAC-SHA-256 block of key strength (RFC 2104 sec. 3).
SECRET_BYTES = 32


def secret_path() -> Path:
    env = os.environ.get("QA_SECRET_FILE")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("qa")) / "site-secret"


def site_secret(path: Path | None = None) -> bytes:
    """The site secret (exactly :data:`SECRET_BYTES` bytes), created on first use.

    Creation is atomic and safe when several processes start together: each writes its own
    candidate to a new, uniquely named file beside the secret (``O_CREAT | O_EXCL | O_NOFOLLOW``,
    mode 0600, flushed to disk) and *links* it to the secret's name; the first link wins and every
    other process reads the winner.  A half-written secret is never visible under its name.

    Refused, with what to do: a secret that is a symbolic link or not a regular file, that others
    may read or write, that belongs to another user, or that does not hold exactly
    :data:`SECRET_BYTES` bytes (an empty one included); and a folder anyone may replace it in.
    """
    path = Path(path or secret_path())
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    _check_folder(path.parent, create=True)
    candidate = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    data = secrets.token_bytes(SECRET_BYTES)
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(candidate, path)  # atomic; fails when the secret exists (another process won)
        except FileExistsError:
            pass
        except OSError as exc:  # a file system without hard links
            raise UsageError(f"cannot create the site secret {path}: {exc.strerror or exc}",
                             hint="keep the secret on a local disk (QA_SECRET_FILE), or copy an existing one there (install -m 600)") from exc
        sync_folder(path.parent)
    finally:
        candidate.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    """The secret at ``path``, checked (see :func:`site_secret`); FileNotFoundError when absent."""
    if path.parent.is_dir():  # an existing secret in a folder anyone may write is refused too, not only a new one
        _check_folder(path.parent, create=False)
    if path.is_symlink():
        raise UsageError(f"the site secret {path} is a symbolic link; qa reads the secret only from a real file, so that "
                         "nobody can point it at a key of their choosing",
                         hint=f"point QA_SECRET_FILE at the real file ({os.path.realpath(path)}) after checking it, "
                              "or replace the link with a copy of the secret (install -m 600)")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UsageError(f"the site secret {path} cannot be read: {exc.strerror or exc}",
                         hint="run qa as the user the secret belongs to, or point QA_SECRET_FILE at your own copy") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"the site secret {path} is not a regular file", hint="restore the secret from your backup")
        if os.name == "posix":
            if info.st_mode & 0o077:
                raise UsageError(f"the site secret {path} is readable by others or may be changed by them (mode {info.st_mode & 0o777:o})",
                                 hint=f"chmod 600 {path}, and if others may have read it, tell your information-security "
                                      "officer: pseudonyms made with it can be recomputed by whoever read it")
            if info.st_uid != os.geteuid():
                raise UsageError(f"the site secret {path} belongs to another user (uid {info.st_uid})",
                                 hint=f"check where it came from; then chown it to the user who runs qa (chown $USER {path})")
        data = b""
        while len(data) <= SECRET_BYTES:
            chunk = os.read(fd, SECRET_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) != SECRET_BYTES:
        held = "nothing (it is empty)" if not data else f"more than {SECRET_BYTES} bytes" if len(data) > SECRET_BYTES else f"{len(data)} bytes"
        raise UsageError(f"the site secret {path} holds {held}; a site secret is exactly {SECRET_BYTES} bytes", hint="restore it from your backup (pseudonyms made with another secret can "
                         "never be matched); only if no result was ever pseudonymised with it, delete it and qa makes a new one")
    return data


def _check_folder(folder: Path, *, create: bool) -> None:
    """The secret's folder: created (mode 0700) when missing; refused when anyone may replace files in it."""
    if create:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        mode = folder.stat().st_mode
        if mode & 0o002 and not mode & stat.S_ISVTX:
            raise UsageError(f"the folder {folder} of the site secret may be written by anyone: the secret could be replaced",
                             hint="keep the secret in a folder only you may write (QA_SECRET_FILE), for example ~/.config/qa")


def site_pseudonymiser(path: Path | None = None) -> Pseudonymiser:
    """The pseudonymiser keyed with the site secret (pseudonyms ``p-...``)."""
    return Pseudonymiser(site_secret(path), prefix="p-")
