"""Pydantic's validation errors in plain words: one :class:`DefinitionError` naming the file and the key.

Pydantic reports every problem with a location (``('checks', 3, 'tolerance_pct')``) and a type
(``missing``, ``extra_forbidden``, ``float_type``, ...).  Here the location becomes the dotted key
of the file (``checks[3].tolerance_pct``), the type a sentence a physicist understands, and of
several problems the first in file order is reported, with how many more there are.  Plain
Python: pydantic is imported by the models, never here.
"""

from __future__ import annotations

import json
import math
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from qa.errors import DefinitionError

# What a value of the wrong type should have been.
_TYPE_WORDS = {
    "float_type": "a number",
    "int_type": "a whole number",
    "string_type": "a text",
    "bool_type": "true or false",
    "list_type": "a list [...]",
    "tuple_type": "a list [...]",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def show(value: Any) -> str:
    """A value as it is written in TOML (texts in double quotes, true/false, nan, inf; a table as 'a table')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        items = [show(v) for v in value[:6]]
        return "[" + ", ".join(items + (["..."] if len(value) > 6 else [])) + "]"
    return str(value)


def dotted(parts: tuple[str | int, ...]) -> str:
    """``('checks', 3, 'tolerance_pct')`` -> ``checks[3].tolerance_pct`` (keys that are not bare TOML keys quoted)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            out += f".{name}" if out else name
    return out


def definition_error(errors: list[dict], data: dict, path: str, model: type) -> DefinitionError:
    """The first problem in file order of ``errors`` (pydantic's ``ValidationError.errors()``) as a DefinitionError."""
    problems: dict[tuple, tuple[tuple[int, ...], str]] = {}
    for error in errors:
        parts = _key_parts(error, data)
        if parts not in problems:  # one problem per key (the first pydantic found)
            problems[parts] = (_file_order(parts, data), _message(error, parts, model))
    parts, (_, message) = min(problems.items(), key=lambda item: item[1][0])
    more = len(problems) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''} in this file)"
    return DefinitionError(path, dotted(parts) or None, message)


def _key_parts(error: dict, data: Any) -> tuple[str | int, ...]:
    """The keys of the file along the error's location (pydantic's own markers such as '[key]' dropped),
    then the key a rule between keys blames."""
    parts: list[str | int] = []
    current = data
    for part in error["loc"]:
        if isinstance(current, dict) and isinstance(part, str) and part != "[key]":
            parts.append(part)
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int):
            parts.append(part)
            current = current[part] if part < len(current) else None
    cause = (error.get("ctx") or {}).get("error")
    return tuple(parts) + tuple(getattr(cause, "key", ()))


def _file_order(parts: tuple[str | int, ...], data: Any) -> tuple[int, ...]:
    """Where a key stands in the file: its position in each table along the way (missing keys last)."""
    order = []
    current = data
    for part in parts:
        if isinstance(current, dict):
            keys = list(current)
            order.append(keys.index(part) if part in current else len(keys))
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int):
            order.append(part)
            current = current[part] if part < len(current) else None
        else:
            order.append(0)
            current = None
    return tuple(order)


def _message(error: dict, parts: tuple[str | int, ...], model: type) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = f", got {show(value)}"
    if kind == "missing":
        return "is missing"
    if kind == "extra_forbidden":
        allowed = _keys_of(model, parts[:-1])
        return "unknown key" + (f"; use one of {', '.join(allowed)}" if allowed else "")
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace(" or ", ", ")
        if error["loc"] and error["loc"][-1] == "[key]":
            return f"unknown key; use one of {choices}"
        return f"must be one of {choices}{got}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}{got}"
    if kind == "finite_number":
        return f"must be a finite number{got}"
    if kind == "int_from_float":
        return f"must be a whole number{got}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _limit(kind, ctx) + got
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "pair_length":
        return f"must hold exactly two values [a, b]{got}"
    if kind in ("too_short", "too_long"):
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return f"must hold at {'least' if kind == 'too_short' else 'most'} {limit} item{'s' if limit != 1 else ''}{got}"
    return f"{error['msg']}{got}"


def _limit(kind: str, ctx: dict) -> str:
    bound = next(iter(ctx.values()))
    if kind == "greater_than":
        return "must be positive" if bound == 0 else f"must be greater than {bound:g}"
    if kind == "greater_than_equal":
        return "must not be negative" if bound == 0 else f"must be at least {bound:g}"
    return f"must be less than {bound:g}" if kind == "less_than" else f"must be at most {bound:g}"


def _keys_of(model: type, parts: tuple[str | int, ...]) -> list[str]:
    """The keys the table at ``parts`` accepts: the fields of the model found by walking the annotations."""
    current: Any = model
    for part in parts:
        current = _unwrap(current)
        fields = getattr(current, "model_fields", None)
        if fields is not None:
            field = fields.get(part) if isinstance(part, str) else None
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (list, tuple):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    fields = getattr(_unwrap(current), "model_fields", {})
    return [f.alias or name for name, f in fields.items()]  # as written in the file ([actions] pass)


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> X and ``X | None`` -> X."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation
