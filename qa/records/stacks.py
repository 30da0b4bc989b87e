"""The stacks of a step-and-shoot (prospective sequential) series, from its per-slice table (pure).

One rule for every reader of stacks: the header checks and gating windows (:mod:`qa.dicom.headers`)
and the breath-hold motion analysis (:mod:`qa.motion`, which re-exports it as ``qa.motion.stacks``).

A stack is the run of slices one couch position gave: slices sharing an AcquisitionNumber, else
sharing an acquisition time (within :data:`SAME_TIME_S`).  Table position alone is per slice
(many scanners write each slice's own position) and never defines a stack.  Stacks are numbered
in acquisition order (``index`` 0 = first acquired), whichever way the slices are sorted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from qa.records.serialize import Record

# Images of one rotation share one acquisition time; a stack's rotation lasts well under 1 s and
# couch moves take longer: slices further apart than this are different stacks (our proposal,
# used by the header reader's stacks too).
SAME_TIME_S = 0.5


@dataclass(frozen=True)
class StackRun(Record):
    """One stack: its ``n_slices`` slices, the first at ``first_slice`` in the volume's slice order
    (contiguous unless stacks overlap in z, where the slices of two stacks interleave)."""

    index: int  # acquisition order, 0 = first acquired
    first_slice: int
    n_slices: int
    z_range_mm: tuple[float, float] | None  # patient z of its slices, (lowest, highest); None without positions
    acquisition_time: str | None  # ISO 8601 of its earliest slice
    acquisition_number: int | None = None
    start_s: float | None = None  # seconds after the first stack's start
    slices: tuple[int, ...] = field(default=(), metadata={"json": False})  # its slices, in slice order


@dataclass(frozen=True)
class StackSplit:
    """The stacks found, and how (or why none could be told apart)."""

    stacks: tuple[StackRun, ...]
    basis: str  # "AcquisitionNumber" | "acquisition time" | "none"
    reason: str | None = None  # why there is only one stack, or why the stacks cannot be compared


def _runs(labels: Sequence) -> list[tuple[int, int]]:
    """(start, stop) of the runs of equal consecutive labels."""
    runs, start = [], 0
    for k in range(1, len(labels) + 1):
        if k == len(labels) or labels[k] != labels[start]:
            runs.append((start, k))
            start = k
    return runs


MIN_STACK_SLICES = 2  # a stack has at least this many slices (each detector row gives one or more; our rule)


def _sizes_plausible(labels: Sequence) -> bool:
    """Every stack holds at least MIN_STACK_SLICES slices."""
    counts: dict = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return min(counts.values()) >= MIN_STACK_SLICES


def _time_labels(times: Sequence[dt.datetime]) -> list[int]:
    """Consecutive slices within SAME_TIME_S of each other get one label."""
    order = sorted(range(len(times)), key=lambda k: times[k])
    labels = [0] * len(times)
    label = 0
    for n, k in enumerate(order):
        if n and (times[k] - times[order[n - 1]]).total_seconds() > SAME_TIME_S:
            label += 1
        labels[k] = label
    return labels


def find_stacks(acquisition_numbers: Sequence[int | None], acquisition_times: Sequence[dt.datetime | None],
                z_mm: Sequence[float | None]) -> StackSplit:
    """The stacks of a series from its per-slice AcquisitionNumber, times and patient z (slice order;
    a z may be None where an image carries no position: its stack's range leaves it out), see module doc."""
    n = len(z_mm)
    numbers_known = n > 0 and all(v is not None for v in acquisition_numbers)
    times_known = n > 0 and all(t is not None for t in acquisition_times)
    candidates = []
    if numbers_known:
        candidates.append((list(acquisition_numbers), "AcquisitionNumber"))
    if times_known:
        candidates.append((_time_labels(acquisition_times), "acquisition time"))
    # A stack of a step-and-shoot scan holds several slices: labels that give every slice (or most)
    # a stack of its own are a per-image numbering or a spiral's times, not stacks.
    usable = [(labels, basis) for labels, basis in candidates if 1 < len(set(labels)) and _sizes_plausible(labels)]
    if usable:
        labels, basis = usable[0]
    else:
        one = [basis for labels, basis in candidates if len(set(labels)) == 1]
        per_slice = [basis for labels, basis in candidates if len(set(labels)) > 1]
        if one:
            why = (f"every slice has one {one[0]}: a single rotation (volume scan) or a spiral, with no stack boundaries")
        elif per_slice:
            why = (f"the {' and the '.join(per_slice)} change from slice to slice (stacks of one slice): a per-image numbering "
                   "or a spiral, not the stacks of a step-and-shoot scan")
        else:
            why = ("the slices do not all carry an AcquisitionNumber or an acquisition time: the stacks cannot be told apart")
        known = [t for t in acquisition_times if t is not None]
        return StackSplit((_stack(0, list(range(n)), z_mm, acquisition_numbers, acquisition_times, min(known) if known else None),),
                          "none", why)
    groups: dict = {}
    for k, label in enumerate(labels):
        groups.setdefault(label, []).append(k)

    def started(members: list[int]):
        ts = [acquisition_times[k] for k in members if acquisition_times[k] is not None]
        number = acquisition_numbers[members[0]]
        return (min(ts) if ts else dt.datetime.max, number if number is not None else 1 << 30, members[0])

    ordered = sorted(groups.values(), key=started)
    first = started(ordered[0])[0]
    t0 = first if first != dt.datetime.max else None
    stacks = tuple(_stack(i, members, z_mm, acquisition_numbers, acquisition_times, t0) for i, members in enumerate(ordered))
    return StackSplit(stacks, basis)


def _stack(index: int, members: Sequence[int], z_mm, numbers, times, t0) -> StackRun:
    zs = [float(z_mm[k]) for k in members if z_mm[k] is not None]
    ts = [times[k] for k in members if times[k] is not None]
    start = min(ts) if ts else None
    return StackRun(index=index, first_slice=members[0] if members else 0, n_slices=len(members),
                    z_range_mm=(min(zs), max(zs)) if zs else None,
                    acquisition_time=start.isoformat() if start else None,
                    acquisition_number=numbers[members[0]] if members else None,
                    start_s=(start - t0).total_seconds() if start is not None and t0 is not None else None,
                    slices=tuple(members))
