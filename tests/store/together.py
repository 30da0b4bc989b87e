"""A helper of the store tests: run workers at the same moment, in threads, and collect what they raise."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_together(n: int, worker: Callable[[int], None]) -> list[str]:
    """``worker(0) .. worker(n - 1)`` in n threads released at once (a barrier); the exceptions they
    raised (as ``repr``), none when all succeeded."""
    barrier = threading.Barrier(n)
    errors: list[str] = []

    def run(k: int) -> None:
        try:
            barrier.wait()
            worker(k)
        except Exception as exc:  # collected and reported by the test
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
