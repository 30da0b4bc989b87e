"""The verdict banner: what was found and what to do, from a run's checks and its procedure's actions.

A verdict alone ("pass") can read as all clear when half the checks could not be run.  The
summary here says, in this order: the level (fail, warn, incomplete, pass), the action the
procedure writes for that level, the failed checks (first), the warnings (never listed as
failures), and how many checks could not be run and why (grouped by reason).  Pure: checks in,
a record out; the terminal, the HTML report and the PDF all show the same record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qa.records.checks import FAIL, NOT_APPLICABLE, NOT_AVAILABLE, PASS, WARN, Check, verdict
from qa.records.serialize import Record

# The banner's levels: a verdict, and "incomplete" for a pass with checks that could not be run.
INCOMPLETE = "incomplete"
LEVELS = (FAIL, WARN, INCOMPLETE, PASS)
# Rows of a checks table: failures first, then warnings, what could not be run, passes, what does not apply.
_ORDER = {FAIL: 0, WARN: 1, NOT_AVAILABLE: 2, PASS: 3, NOT_APPLICABLE: 4}
_WORDS = {FAIL: "FAIL", WARN: "WARN", INCOMPLETE: "INCOMPLETE", PASS: "PASS"}


@dataclass(frozen=True)
class Actions:
    """What to do at each level of the verdict: the procedure's (or protocol's) ``[actions]``."""

    fail: str
    warn: str
    incomplete: str
    pass_: str

    def for_level(self, level: str) -> str:
        return {FAIL: self.fail, WARN: self.warn, INCOMPLETE: self.incomplete, PASS: self.pass_}[level]


@dataclass(frozen=True)
class NotRun(Record):
    """Checks that could not be run for one reason."""

    reason: str
    checks: tuple[str, ...]


@dataclass(frozen=True)
class VerdictSummary(Record):
    """The banner of a run: ``level`` (fail | warn | incomplete | pass), a one-line ``headline``,
    the procedure's ``action`` for that level, and the checks behind it."""

    level: str
    headline: str
    action: str
    failed: tuple[str, ...]
    warned: tuple[str, ...]
    not_run: tuple[NotRun, ...]
    n_checks: int
    n_not_run: int


def run_verdict(checks: Sequence[Check]) -> str:
    """A run's (or exam's) verdict: ``fail`` if a check failed, else ``warn`` if one warned, else
    ``incomplete`` if a check could not be run (never all clear), else ``pass``."""
    final = verdict(checks)
    return INCOMPLETE if final == PASS and any(c.status == NOT_AVAILABLE for c in checks) else final


def worst_verdict(verdicts: Iterable[str]) -> str:
    """The worst of some verdicts: fail over warn over incomplete over pass (a document of many studies)."""
    seen = set(verdicts)
    return next((v for v in LEVELS if v in seen), PASS)


def failing_first(checks: Iterable[Check]) -> list[Check]:
    """The rows of a checks table: failed, warned, not available, passed, not applicable (stable within each)."""
    return sorted(checks, key=lambda c: _ORDER.get(c.status, 5))


def summarise_verdict(checks: Sequence[Check], verdict: str, actions: Actions) -> VerdictSummary:
    """The banner of ``checks`` whose verdict (fail | warn | incomplete | pass) is ``verdict``.

    A pass with checks that could not be run is ``incomplete``: never all clear.  A warn verdict
    with no warned check (an essential setting missing from the headers) stays ``warn``; a warn
    with checks not run takes the incomplete action (never the warn one, "may be used"), the
    warnings named after it."""
    failed = tuple(c.id for c in checks if c.status == FAIL)
    warned = tuple(c.id for c in checks if c.status == WARN)
    groups: dict[str, list[str]] = {}
    for c in checks:
        if c.status == NOT_AVAILABLE:
            groups.setdefault(c.message, []).append(c.id)
    not_run = tuple(NotRun(reason, tuple(ids)) for reason, ids in groups.items())
    n_not_run = sum(len(g.checks) for g in not_run)
    level = verdict if verdict in (FAIL, WARN) else (INCOMPLETE if n_not_run else PASS)
    counted = [c for c in checks if c.status != NOT_APPLICABLE]
    clauses = []
    if failed:
        clauses.append(f"{len(failed)} failed")
    if warned:
        clauses.append(f"{len(warned)} warned")
    if n_not_run:
        clauses.append(f"{n_not_run} could not be run")
    if clauses:
        headline = f"{_WORDS[level]}: {_of(clauses[0], len(counted))}" + "".join(f", {c}" for c in clauses[1:])
    else:
        headline = f"{_WORDS[level]}: all {len(counted)} checks passed"
    action = actions.for_level(level)
    if level == WARN and n_not_run:
        # warnings and checks not run: never "may be used" (the warn action) while a check is missing
        action = f"{actions.incomplete} Review the warnings too: {', '.join(warned)}." if warned else actions.incomplete
    return VerdictSummary(level, headline, action, failed, warned, not_run, len(checks), n_not_run)


def _of(clause: str, total: int) -> str:
    count, _, rest = clause.partition(" ")
    return f"{count} of {total} check{'s' if total != 1 else ''} {rest}"


def verdict_detail(summary: VerdictSummary, verdict_message: str) -> str | None:
    """``verdict_message`` when it says more than the banner already does (a protocol change, the
    baseline checks not run and why), None when it only repeats the failed or warned check ids."""
    failed, warned = ", ".join(summary.failed), ", ".join(summary.warned)
    plain = {"PASS", "WARN", "INCOMPLETE", f"FAIL: {failed}", f"PASS with warnings: {warned}", f"WARN: {warned}",
             f"FAIL: {failed}; warnings: {warned}"}
    return None if verdict_message in plain else verdict_message
