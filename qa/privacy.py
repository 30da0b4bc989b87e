"""The site secret and the site's pseudonymiser (keyed HMAC-SHA-256; see :mod:`qa.records.identity`).

Identifiers never reach the store, a report, JSON output or a log in clear text: readers replace
them by pseudonyms as they read (the workflow hands them :func:`site_pseudonymiser`).  The same
value gets the same pseudonym wherever the same site secret is used; without the secret the
pseudonym cannot be reversed or recomputed.

The site secret (32 random bytes) is created on first use in the user's configuration folder
(``platformdirs.user_config_dir("qa")/site-secret``) with file mode 0600; ``QA_SECRET_FILE``
points elsewhere.  It is never stored in the database.  **Several workstations, one site**: give
them the same secret, so that one study gets one pseudonym everywhere: create it once (any ``qa``
command that reads an exam does), copy the file to each workstation over a secure channel
(``install -m 600 site-secret ~/.config/qa/site-secret``) or point ``QA_SECRET_FILE`` at a copy
on a share only the QA accounts can read; keep a backup, since pseudonyms made with a lost secret
can never be matched again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from qa.errors import UsageError
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
    """The site secret, created (mode 0600) on first use; refused when short or readable by others."""
    path = path or secret_path()
    if path.exists():
        data = path.read_bytes()
        if len(data) < SECRET_BYTES:
            raise UsageError(f"the site secret {path} is shorter than {SECRET_BYTES} bytes", hint="restore it from your backup")
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise UsageError(f"the site secret {path} is readable by others", hint=f"chmod 600 {path}")
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(SECRET_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile: use theirs
        return site_secret(path)
    with os.fdopen(fd, "wb") as fp:
        fp.write(data)
        fp.flush()
        os.fsync(fp.fileno())
    return data


def site_pseudonymiser(path: Path | None = None) -> Pseudonymiser:
    """The pseudonymiser keyed with the site secret (pseudonyms ``p-...``)."""
    return Pseudonymiser(site_secret(path), prefix="p-")
