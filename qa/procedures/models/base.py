"""What every definition-file model shares: strict tables, the value types, and rule errors with their key.

A :class:`Table` is one TOML table.  It refuses keys it does not know (``extra="forbid"``),
checks types strictly (``"3"`` is no number, ``true`` is no number, ``3.5`` is no whole number;
NaN and infinity are refused) and is frozen.  A rule that spans several keys raises
:class:`RuleError` naming the key it blames, relative to the table it is checked in; the loader
turns it, like any pydantic error, into a :class:`qa.errors.DefinitionError` with the dotted key.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, Strict, StringConstraints
from pydantic_core import PydanticCustomError

from qa.records.checks import SEVERITIES
from qa.records.verdicts import Actions
from qa.records.plausibility import RANGES
from qa.procedures.translate import show


class RuleError(ValueError):
    """A broken rule between keys: ``key`` (parts, relative to the table that checks it) and what is wrong."""

    def __init__(self, message: str, *key: str | int) -> None:
        super().__init__(message)
        self.key = key


class Table(BaseModel):
    """One TOML table of a definition file."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def kind_first(data: Any, head: str, kind: str, reader: str) -> Any:
    """Refuse a file of another kind before anything else (its keys would all be 'unknown'): by the
    ``kind`` of its ``[head]`` table or, when it has none, of the first table that names one."""
    if not isinstance(data, dict):
        return data
    if isinstance(data.get(head), dict):
        named = [(head, data[head])]
    else:
        named = [(name, table) for name, table in data.items() if isinstance(table, dict)]
    for name, table in named:
        if "kind" in table:
            if name != head or table["kind"] != kind:
                raise RuleError(f"is {show(table['kind'])}; {reader} needs [{head}] kind = {show(kind)}", name, "kind")
            break
    return data


def _non_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("string_too_short", "must not be empty")
    return value


def _two_values(value: Any) -> Any:
    if isinstance(value, list) and len(value) != 2:
        raise PydanticCustomError("pair_length", "must hold exactly two values")
    return value


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    if pair[0] > pair[1]:
        raise ValueError(f"must be [low, high] with low <= high, got [{pair[0]:g}, {pair[1]:g}]")
    return pair


def _whole(value: float) -> int:
    if not value.is_integer():
        raise PydanticCustomError("int_from_float", "must be a whole number")
    return int(value)


def _as_written(value: Any) -> int | float:
    """A finite int or float, kept as written (an expected 120 kV stays 120, not 120.0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("float_type", "must be a number")
    if not math.isfinite(value):
        raise PydanticCustomError("finite_number", "must be a finite number")
    return value


def check_within(quantity: str, value: float) -> float:
    """``value`` when it lies within the plausibility limits of ``quantity`` (qa.records.plausibility)."""
    p = RANGES[quantity]
    if not p.is_possible(value):
        raise PydanticCustomError("out_of_range", "must be from {limits} ({source})",
                                  {"limits": p.describe_limits(), "source": p.source})
    return value


def within(quantity: str) -> AfterValidator:
    """A number (or each number of a pair) within the plausibility limits of ``quantity``."""
    RANGES[quantity]  # an unknown quantity is a bug, found when the models are built

    def check(value: Any) -> Any:
        for item in value if isinstance(value, tuple) else (value,):
            check_within(quantity, item)
        return value

    return AfterValidator(check)


def _unique(values: list) -> list:
    seen: list = []
    for n, value in enumerate(values):
        if value in seen:
            raise RuleError(f"{show(value)} is given twice", n)
        seen.append(value)
    return values


# Texts: identity and provenance texts are stripped; values that are matched are kept as written.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
NonBlank = Annotated[str, AfterValidator(_non_blank)]
# Numbers: float fields accept a TOML integer; the model config refuses NaN and infinity.
Number = float
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Whole = Annotated[float, AfterValidator(_whole)]
NumberAsWritten = Annotated[int | float, PlainValidator(_as_written)]
# Two values: TOML writes them as an array (a list), so a pair alone is not strict about its container.
Pair = Annotated[tuple[float, float], Strict(False), BeforeValidator(_two_values)]
Range = Annotated[Pair, AfterValidator(_ordered)]
Severity = Literal[SEVERITIES]
Match = Literal["exact", "prefix"]
# A DICOM code: ["CodeValue", "CodingSchemeDesignator"].
Code = Annotated[tuple[Text, Text], Strict(False), BeforeValidator(_two_values)]
# A list whose items are all different (a duplicate is a mistake that would be silently merged).
Unique = AfterValidator(_unique)
# Quantities with plausibility limits.
Percent = Annotated[float, within("percent")]
Length = Annotated[float, Field(gt=0), within("length_mm")]
Position = Annotated[float, within("phantom_position_mm")]
BeatTime = Annotated[float, within("beat_time_ms")]


class ActionsTable(Table):
    """``[actions]``: what to do at each level of the verdict (a sentence each; the built-in texts where not given)."""

    fail: Text | None = None
    warn: Text | None = None
    incomplete: Text | None = None
    pass_: Text | None = Field(default=None, alias="pass")

    def record(self, defaults: Actions) -> Actions:
        return Actions(fail=self.fail or defaults.fail, warn=self.warn or defaults.warn,
                       incomplete=self.incomplete or defaults.incomplete, pass_=self.pass_ or defaults.pass_)
