"""Serialisation derived from the dataclasses: ``to_jsonable(record)`` and the ``Record`` mixin.

A record's JSON form is its fields, recursively: dataclasses by their fields (a field with
``metadata={"json": False}`` is left out, one with ``metadata={"flatten": True}`` has its own
fields merged into its parent's; properties named in ``__json_properties__`` are added),
mappings and sequences element by element, numpy scalars and arrays as numbers and lists,
datetimes as ISO 8601, paths as text.  Non-finite floats (NaN marks "no value", e.g. an RR interval
across a recording gap) become ``null``: JSON has no NaN.  Nothing is written by hand per class.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON-compatible data (dicts, lists, str, int, float, bool, None)."""
    kind = type(value)
    # The common exact types first (a study's record and checklist hold thousands of values).
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_jsonable(v) for v in value]
    plan = _PLANS.get(kind)
    if plan is None and dataclasses.is_dataclass(kind):
        plan = _plan(kind)
    if plan is not None:
        fields, properties = plan
        out = {}
        for name, flatten in fields:
            item = to_jsonable(getattr(value, name))
            if flatten and isinstance(item, dict):
                out.update(item)
            else:
                out[name] = item
        for name in properties:
            out[name] = to_jsonable(getattr(value, name))
        return out
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    numpy_value = _numpy(value)
    if numpy_value is not _NOT_NUMPY:
        return numpy_value
    raise TypeError(f"cannot serialise a {type(value).__name__}: add it to qa.records.serialize or leave the field out")


# Per dataclass: its JSON fields (name, flatten) and its __json_properties__, found once.
_PLANS: dict[type, tuple[tuple[tuple[str, bool], ...], tuple[str, ...]]] = {}


def _plan(kind: type) -> tuple[tuple[tuple[str, bool], ...], tuple[str, ...]]:
    fields = tuple((f.name, bool(f.metadata.get("flatten"))) for f in dataclasses.fields(kind) if f.metadata.get("json", True))
    plan = _PLANS[kind] = (fields, tuple(getattr(kind, "__json_properties__", ())))
    return plan


_NOT_NUMPY = object()


def _numpy(value: Any) -> Any:
    """numpy scalars and arrays without importing numpy here (records stay cheap to import)."""
    module = type(value).__module__
    if not module.startswith("numpy"):
        return _NOT_NUMPY
    if hasattr(value, "tolist"):
        return to_jsonable(value.tolist())
    return _NOT_NUMPY


class Record:
    """Mixin for frozen dataclasses: ``to_dict()`` derived from the fields (see module doc)."""

    __slots__ = ()

    def to_dict(self) -> dict:
        return to_jsonable(self)
