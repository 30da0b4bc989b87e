"""What the serving process and each receiver process share to run and stop: the log line writer
and the drain of an association server (stdlib only, so :mod:`qa.net.server` and
:mod:`qa.net.workers` both import it without importing each other)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

DRAIN_SECONDS = 30.0  # our proposal: how long running associations may go on after a stop request


def stderr_log(worker: str | None = None) -> Callable[[str], None]:
    """One timestamped line (or a traceback's lines) per call on stderr, whole even from several threads
    (and from several processes: one write each); ``worker`` names the receiver process in each line."""
    lock = threading.Lock()
    who = f"qa serve: {worker}:" if worker else "qa serve:"

    def log(message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        text = message.replace("\n", "\n    ")
        with lock:
            sys.stderr.write(f"{stamp} {who} {text}\n")
            sys.stderr.flush()

    return log


def drain(server, log) -> None:
    """Stop accepting; let the associations in progress finish (up to :data:`DRAIN_SECONDS`), then abort them."""
    server.shutdown()  # no new association (the listening socket is closed in this process)
    deadline = time.monotonic() + DRAIN_SECONDS
    while server.active_associations and time.monotonic() < deadline:
        time.sleep(0.1)
    left = server.active_associations
    for assoc in left:
        assoc.abort()
    if left:
        log(f"{len(left)} association(s) still open after {DRAIN_SECONDS:g} s were aborted")


__all__ = ["DRAIN_SECONDS", "drain", "stderr_log"]
