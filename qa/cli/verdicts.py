"""The checks table and the verdict banner on the terminal (``qa phantom``, ``qa check``, ``qa demo``).

Failing rows first, values in display units; then the banner: the verdict with its counts, the
procedure's action for that level, the failed checks with their messages, the warnings (not
failures), and the checks that could not be run: grouped by a reason several share, else named
with a pointer to their rows of the checks table (where each says why), so no reason is printed twice.
"""

from __future__ import annotations

from typing import TextIO

from qa.cli.common import one_line, table
from qa.records.display import check_values
from qa.records.verdicts import failing_first, verdict_detail

# Check ids listed per "not run" reason before "and N more".
SHOWN_IDS = 8


def print_checks(out: TextIO, checks) -> None:
    """The checks table: failed, warned, not available, passed, not applicable."""
    rows = []
    for c in failing_first(checks):
        measured, expected = check_values(c, ascii=True)
        rows.append([c.id, c.status.upper(), measured, expected, c.message])
    print(table(["check", "status", "measured", "expected", "message"], rows, align="lllll"), file=out)


def print_verdict(out: TextIO, summary, verdict_message: str, checks) -> None:
    """The banner (one line starts with VERDICT: its second word is the level)."""
    print(f"VERDICT  {one_line(summary.headline)}", file=out)
    detail = verdict_detail(summary, verdict_message)
    if detail:
        print(f"         {one_line(detail)}", file=out)
    print(f"ACTION   {one_line(summary.action)}", file=out)
    by_id = {c.id: c for c in checks}
    for check_id in summary.failed:
        print(f"failed   {one_line(check_id)}: {one_line(by_id[check_id].message)}", file=out)
    if summary.warned:
        print(f"warned   {_ids(summary.warned)} (warnings, not failures)", file=out)
    # a reason shared by several checks is said once here; a check not run for its own reason says why in its row of the
    # checks table above (a long motion reason is never printed twice)
    alone = tuple(i for group in summary.not_run if len(group.checks) == 1 for i in group.checks)
    for group in summary.not_run:
        if len(group.checks) > 1:
            print(f"not run  {len(group.checks)} checks: {one_line(group.reason)}: {_ids(group.checks)}", file=out)
    if alone:
        where = "its row" if len(alone) == 1 else "each one's row"
        print(f"not run  {len(alone)} check{'s' if len(alone) != 1 else ''}: {_ids(alone)} ({where} of the checks table above "
              "says why)", file=out)


def _ids(ids) -> str:
    shown = ", ".join(one_line(i) for i in ids[:SHOWN_IDS])
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")
