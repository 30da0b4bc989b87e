"""Pseudonymisation of patient identifiers (keyed HMAC-SHA-256 with a site secret).

Identifiers never reach the store, a report, JSON output or a log in clear text: they are
replaced by ``pseudonym(value)``, the same for the same value at one site, not reversible, and
different at another site.  The site secret (32 random bytes) is created on first use in the
user's configuration folder with file mode 0600; ``QA_SECRET_FILE`` points elsewhere.  It is
never stored in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from qa.errors import UsageError


def secret_path() -> Path:
    env = os.environ.get("QA_SECRET_FILE")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("qa")) / "site-secret"


def site_secret(path: Path | None = None) -> bytes:
    """The site secret, created (mode 0600) on first use."""
    path = path or secret_path()
    if path.exists():
        data = path.read_bytes()
        if len(data) < 32:
            raise UsageError(f"the site secret {path} is shorter than 32 bytes", hint="restore it from your backup")
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise UsageError(f"the site secret {path} is readable by others", hint=f"chmod 600 {path}")
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fp:
        fp.write(data)
    return data


def pseudonym(value: str | None, *, secret: bytes | None = None) -> str | None:
    """A stable, non-reversible pseudonym of ``value`` (None stays None)."""
    if value is None or str(value).strip() == "":
        return None
    key = secret if secret is not None else site_secret()
    digest = hmac.new(key, str(value).strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return f"p-{digest[:20]}"
