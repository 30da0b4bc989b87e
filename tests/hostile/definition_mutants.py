"""Seeded, deterministic mutants of the built-in definition files, for the fuzz tests of issue 11.

A mutant is the parsed TOML of a built-in file with one change at one key (deleted, or given a
hostile value: a wrong type, an empty list or table, NaN, infinity, a negative, zero, a huge
number, an empty or odd text, ...), written back as TOML by :func:`to_toml`; or the file's text
with one textual change (a duplicated table, a cut, a stray byte).  Plain Python: nothing here
imports qa.
"""

from __future__ import annotations

import copy
import json
import math
import random
from dataclasses import dataclass
from typing import Any

# The hostile values a key may be given (each mutant picks one).
HOSTILE_VALUES: tuple[Any, ...] = (
    [], {}, [[]], [{}], math.nan, math.inf, -math.inf, -1, -1.0, 0, 0.0, 1e308, -1e308, 9223372036854775807,
    -9223372036854775808, 1e-300, "", " ", "\u00e9\u2603\U0001f600", "x" * 10_000, "nan", "-1", True, False, [1, 2],
    ["a", "b"], [1.0, math.nan], [math.inf, 0.0], [-1.0, -2.0], {"x": 1}, {"": ""}, "../../etc/passwd", "\u202e",
)


@dataclass(frozen=True)
class Mutant:
    """One mutated file: what was changed (for the failure message) and the TOML text."""

    what: str
    text: str


# ------------------------------------------------------------------------------------ TOML out


def _key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON escapes are TOML basic-string escapes; DEL is the one control character JSON leaves as it is
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(data: dict) -> str:
    """A TOML document of ``data``: every top-level key on its own line, tables inline."""
    return "".join(f"{_key(k)} = {_value(v)}\n" for k, v in data.items())


# ------------------------------------------------------------------------------------ mutations


def key_paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of ``data`` (dict keys and list indices), tables and lists included."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append(prefix + (k,))
            out += key_paths(v, prefix + (k,))
    elif isinstance(data, list):
        for n, v in enumerate(data):
            out.append(prefix + (n,))
            out += key_paths(v, prefix + (n,))
    return out


def _parent(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _at(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def _structural(data: dict, path: tuple, rng: random.Random) -> tuple[str, dict]:
    """One change at ``path``: delete it, give it a hostile value, duplicate or empty a list, rename a key."""
    out = copy.deepcopy(data)
    parent, last = _parent(out, path), path[-1]
    where = ".".join(map(str, path))
    choice = rng.random()
    if choice < 0.15:
        del parent[last]
        return f"delete {where}", out
    if choice < 0.22 and isinstance(parent, dict):
        parent[f"{last}_"] = parent.pop(last)
        return f"rename {where}", out
    if choice < 0.30 and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
        return f"duplicate {where}", out
    if choice < 0.38 and isinstance(parent[last], (int, float)) and not isinstance(parent[last], bool):
        factor = rng.choice((-1, 0, 1e-9, 1e9, 1e300, -1e300))
        parent[last] = parent[last] * factor
        return f"scale {where} by {factor:g}", out
    value = copy.deepcopy(rng.choice(HOSTILE_VALUES))
    parent[last] = value
    shown = _value(value)
    return f"set {where} = {shown[:40]}", out


def _textual(text: str, rng: random.Random) -> tuple[str, str]:
    """One change to the text: a table header duplicated, the file cut short, a stray byte, a line twice."""
    lines = text.splitlines(keepends=True)
    choice = rng.random()
    if choice < 0.3:
        headers = [n for n, line in enumerate(lines) if line.startswith("[") and not line.startswith("[[")]
        if headers:
            n = rng.choice(headers)
            return f"duplicate table {lines[n].strip()}", text + "\n" + lines[n]
    if choice < 0.55:
        cut = rng.randrange(len(text))
        return f"cut at {cut}", text[:cut]
    if choice < 0.8:
        n = rng.randrange(len(lines))
        return f"line {n + 1} twice", "".join(lines[:n + 1] + lines[n:])
    at = rng.randrange(len(text))
    stray = rng.choice(("\x00", "\x1b[2J", "\ufeff", "]", "=", '"', "\\", "\ud800"))
    return f"{stray!r} at {at}", text[:at] + stray + text[at:]


def mutants(text: str, data: dict, n: int, seed: int, textual_share: float = 0.1) -> list[Mutant]:
    """``n`` mutants of one definition file (``text`` as written, ``data`` as parsed), the same for the same seed."""
    rng = random.Random(seed)
    paths = key_paths(data)
    out = []
    for _ in range(n):
        if rng.random() < textual_share:
            what, mutated = _textual(text, rng)
            out.append(Mutant(what, mutated))
            continue
        what, mutated_data = _structural(data, rng.choice(paths), rng)
        if rng.random() < 0.2:  # a second change somewhere else
            more = key_paths(mutated_data)
            if more:
                what2, mutated_data = _structural(mutated_data, rng.choice(more), rng)
                what += "; " + what2
        out.append(Mutant(what, to_toml(mutated_data)))
    return out
