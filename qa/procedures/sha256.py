"""SHA-256 for the definition files' digests and cache keys, without loading OpenSSL.

``import hashlib`` loads the OpenSSL library (3 ms of a 0.18 s ``qa gating``, which needs one
digest of a few kB).  CPython ships its own SHA-256 module: the same digests (FIPS 180-4), used when
it is there; otherwise :func:`hashlib.sha256`.
"""

from __future__ import annotations

try:
    from _sha2 import sha256  # CPython 3.12 and later
except ImportError:
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        from hashlib import sha256

__all__ = ["sha256"]
