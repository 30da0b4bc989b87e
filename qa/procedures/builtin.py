"""Where the built-in definitions live (``phantoms/`` and ``procedures/``), and what names one (an id, not a path).

In a checkout they are the repository's top-level folders; in an installed wheel they are shipped
as the packages ``qa._builtin.phantoms`` and ``qa._builtin.procedures`` (see pyproject.toml).
"""

from __future__ import annotations

import os
from pathlib import Path

_KINDS = ("phantoms", "procedures", "schemas")


def builtin_dir(kind: str) -> Path:
    """The folder of built-in ``kind`` files: ``phantoms``, ``procedures`` or ``schemas`` (the JSON Schema
    of document ``qa.<name>/1`` is ``qa.<name>-1.schema.json`` there)."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}")
    checkout = Path(__file__).resolve().parents[2] / kind
    if checkout.is_dir() and (checkout.parent / "pyproject.toml").exists():
        return checkout
    # Installed: qa/_builtin/<kind>/ inside site-packages (qa._builtin is a regular package).  importlib.resources
    # only here: it imports tempfile, shutil and the compression modules (~5 ms of every command in a checkout).
    from importlib import resources

    return Path(str(resources.files("qa._builtin").joinpath(kind)))


def looks_like_path(name_or_path: str | Path) -> bool:
    """Whether a definition argument names a file (a Path, a name ending in .toml, or one with a
    folder separator in it) rather than a built-in id.  An id is never looked up in the working
    directory: ``qrm-cci`` is the built-in phantom even when a file ./qrm-cci exists."""
    text = str(name_or_path)
    return isinstance(name_or_path, Path) or text.lower().endswith(".toml") or any(sep in text for sep in {"/", os.sep})
