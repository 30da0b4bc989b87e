"""Shared pieces of the procedure loaders: severities and a reader that names file and key."""

from __future__ import annotations

import hashlib
import math
import tomllib
from pathlib import Path
from typing import Callable

from qa.errors import DefinitionError

SEVERITIES = ("fail", "warn")


class _Reader:
    def __init__(self, path: str):
        self.path = path

    def error(self, key: str, message: str) -> DefinitionError:
        return DefinitionError(self.path, key, message)

    def table(self, data: dict, key: str, where: str = "", required: bool = True) -> dict:
        value = data.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"{where}{key}", "is missing or is not a table")
        return value

    def text(self, data: dict, key: str, where: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{where}.{key}", "is missing or is not a text")
        return value.strip()

    def number(self, data: dict, key: str, where: str, *, default: float | None = None, minimum: float | None = None) -> float:
        value = data.get(key, default)
        if value is None:
            raise self.error(f"{where}.{key}", "is missing")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(f"{where}.{key}", f"must be a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(f"{where}.{key}", f"must be >= {minimum}, got {value!r}")
        return float(value)

    def pair(self, item: dict, key: str, where: str) -> tuple[float, float] | None:
        """An optional [low, high] of numbers with low <= high."""
        value = item.get(key)
        if value is None:
            return None
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
                or value[0] > value[1]):
            raise self.error(f"{where}.{key}", f"must be [low, high], got {value!r}")
        return float(value[0]), float(value[1])

    def allowed(self, item: dict, where: str) -> tuple | None:
        """An optional non-empty list of allowed values."""
        value = item.get("allowed")
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            raise self.error(f"{where}.allowed", "must be a non-empty list")
        return tuple(value)

    def match(self, item: dict, where: str) -> str:
        """How text expectations match: 'exact' (default) or 'prefix'."""
        value = item.get("match", "exact")
        if value not in ("exact", "prefix"):
            raise self.error(f"{where}.match", f"must be 'exact' or 'prefix', got {value!r}")
        return value

    def severity(self, data: dict, where: str, default: str = "fail") -> str:
        value = data.get("severity", default)
        if value not in SEVERITIES:
            raise self.error(f"{where}.severity", f"must be one of {', '.join(SEVERITIES)}, got {value!r}")
        return value




def read_definition(name_or_path, *, what: str, available: Callable[[], list[str]]) -> tuple[dict, str, str]:
    """A built-in file of procedures/ by id, or a site's own .toml by path: (data, path, SHA-256).

    Names the file in every refusal: unknown id, missing file, invalid TOML.
    """
    from qa.procedures.builtin import builtin_dir

    candidate = Path(name_or_path)
    if candidate.suffix.lower() == ".toml" or candidate.exists():
        path = candidate
    else:
        path = builtin_dir("procedures") / f"{name_or_path}.toml"
        if not path.exists():
            raise DefinitionError(str(name_or_path), None, f"no built-in {what} called {name_or_path!r}",
                                  hint=f"choose one of {', '.join(available())} or give the path of a .toml file")
    if not path.exists():
        raise DefinitionError(str(path), None, "no such file", hint=f"check the path of the {what} file")
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DefinitionError(str(path), None, f"is not valid TOML ({exc})") from exc
    return data, str(path), hashlib.sha256(raw).hexdigest()
