"""Reading thousands of headers without Python's cyclic garbage collector walking them again and again.

A header scan creates hundreds of thousands of small objects that stay alive (the datasets it
returns).  The cyclic collector runs every 700 new objects and, as the scan goes on, walks an ever
larger set of live objects it cannot free: a third of a scan's time (1,000 CT headers: 0.68 s with
it, 0.45 s without; a bare ``pydicom.dcmread`` loop 0.49 s and 0.37 s).  Inside
:func:`collector_paused` it is off; when the block ends it is switched back on (switching it on
collects nothing by itself: the next automatic collection walks what the block made once more,
and frees the cycles among it).  Reference counting frees everything else as usual meanwhile.
Cycles are few but real: a header whose private elements were looked up (pydicom's
``private_block``) refers to itself through that block, so every vendor header read so is one.

A process that runs one command on one input and exits (``qa score``, ``qa phantom``, ``qa check``,
``qa motion``, ``qa gating`` run from the shell: :func:`freeze_after_scans`) also freezes what is
alive when its scan ends (``gc.freeze``), so the collector never walks the headers again (one
walk of every header: 0.07 s per 1,000 CT headers, 6 % of a ``qa check``).  A frozen object is
still freed by reference counting; a frozen cycle (a vendor header, say) only when the process
exits: bounded by the one scan the command makes.  Never in a process that reads input after
input (``qa ingest`` and its workers, ``qa serve``, ``qa demo``, a notebook, the tests), and never
in a forked child (the flag is cleared at fork).

Exit: the interpreter's last act is one more collection, which walks every object still alive
(numpy's and qa's modules included: 10-15 ms of a 0.2 s ``qa gating``).  A one-shot process
therefore freezes everything as it exits (:func:`freeze_at_exit`, an ``atexit`` hook, so after the
command has written its output and closed its files, and after the other exit hooks registered
later): the exit skips that walk.  Cycles still alive then go with the process, unfinalised.

Thread-safe: several threads may scan at once (``qa serve``'s router while another thread scans, a
notebook): the collector is on again when the last paused block ends, and is never switched on by
a block if it was off before the first one began.  While a block runs, every thread of the process
goes without cyclic collection (their cycles wait for its end).  Someone else's ``gc.disable()``
inside a block is undone when the block ends (the collector cannot say who switched it off).
"""

from __future__ import annotations

import atexit
import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pauses:
    """The paused blocks running now: the collector is process-wide, so this is too (one instance)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.resume = False  # whether the collector was on when the first paused block began
        self.freeze = False  # a one-shot process: freeze the survivors when the last paused block ends


_PAUSES = _Pauses()


def _after_fork_in_child() -> None:
    """A forked child (an ingest worker) is not the one-shot process its parent may be, and holds
    none of its parent's paused blocks: the collector as it was before them, the flag cleared."""
    if _PAUSES.depth and _PAUSES.resume:
        gc.enable()
    _PAUSES.reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (see the module doc)."""
    entered = False
    try:
        with _PAUSES.lock:
            if _PAUSES.depth == 0:
                _PAUSES.resume = gc.isenabled()
                gc.disable()
            _PAUSES.depth += 1
            entered = True
        yield
    finally:
        if entered:
            with _PAUSES.lock:
                _PAUSES.depth -= 1
                if _PAUSES.depth == 0 and _PAUSES.resume:
                    if _PAUSES.freeze:
                        gc.freeze()
                    gc.enable()


def freeze_after_scans() -> None:
    """Declare this process one-shot: from now on, what is alive when a paused block ends is frozen
    out of the collector's walks (see the module doc).  Only for a process that runs one command on
    one input and exits; a forked child starts without it."""
    with _PAUSES.lock:
        _PAUSES.freeze = True


def freeze_at_exit() -> None:
    """Declare this process one-shot at its exit: everything alive is frozen before the interpreter's
    last collection (see the module doc).  Only the process that calls this: a forked child that
    runs the exit hooks skips it."""
    pid = os.getpid()

    def _freeze() -> None:
        if os.getpid() == pid:
            gc.freeze()

    atexit.register(_freeze)


__all__ = ["collector_paused", "freeze_after_scans", "freeze_at_exit"]
