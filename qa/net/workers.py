"""Several receiver processes on one port (``qa serve --workers N``).

Each association runs in a Python thread under one interpreter lock, so one process receives on
one core.  With ``--workers N`` the parent process binds the listening socket once
(:func:`qa.net.scp.listening_socket`: a port taken by another program is refused once, at start,
and no other process can join the port as SO_REUSEPORT would let it) and starts N receiver
processes (``multiprocessing``, spawned: nothing of the parent's threads or database connections is
copied) that all accept on that socket; the kernel gives each connection to the process that
accepts it first.  Each receiver has its own inbox journal connection (SQLite in WAL mode: the
writers of several processes are serialised by SQLite) and writes each object exactly as a single
process does (:mod:`qa.net.receive`).  The parent keeps everything else: the inbox rescan at start,
the one router, the retention.

* **Limits**: :data:`qa.net.config.MAX_ASSOCIATIONS` open associations in all, counted in shared
  memory (:class:`SharedLimit`, one count per worker, reset when a dead worker is started again).
* **Log**: the workers write to the parent's stderr, each line whole and marked ``worker K``.
* **Stop**: SIGTERM or SIGINT to the parent is passed to each worker, which stops accepting, lets
  its associations finish (up to :data:`qa.net.lifecycle.DRAIN_SECONDS`) and exits; then the router
  stops.  A worker whose parent is gone (killed with SIGKILL) stops the same way by itself: no
  orphan keeps the port.  A worker that dies is logged and started again.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable

from qa.net.config import MAX_ASSOCIATIONS, ServeConfig

START_SECONDS = 120.0  # our proposal: how long a worker may take to import and start (a slow, shared machine)


class Workers:
    """The receiver processes (started by :meth:`start`, stopped by :meth:`stop`)."""

    def __init__(self, config: ServeConfig, listening, log: Callable[[str], None]):
        self.config, self.listening, self.log = config, listening, log
        self.count = config.workers
        self._context = multiprocessing.get_context("spawn")
        self._open = self._context.Array("i", self.count + 1)  # open associations, by worker (1..N)
        self._limit = MAX_ASSOCIATIONS
        self._procs: dict[int, multiprocessing.Process] = {}
        self._stopping = threading.Event()

    def start(self) -> None:
        for k in range(1, self.count + 1):
            self._start(k)

    def _start(self, k: int) -> None:
        from qa.errors import UsageError

        with self._open.get_lock():
            self._open[k] = 0  # the count of a worker that died with associations open
        receive, send = self._context.Pipe(duplex=False)
        proc = self._context.Process(target=worker_main, name=f"qa-serve-worker-{k}",
                                     args=(k, self.config, self.listening, send, SharedLimit(self._open, k, self._limit)))
        proc.start()
        send.close()
        try:
            if not receive.poll(START_SECONDS):
                proc.kill()
                raise UsageError(f"receiver process {k} did not start within {START_SECONDS:g} s")
            message = receive.recv()
        except EOFError:
            message = f"it exited with code {proc.join(5) or proc.exitcode}"
        finally:
            receive.close()
        if message != "ready":
            proc.join(5)
            raise UsageError(f"receiver process {k} could not start: {message}")
        self._procs[k] = proc

    def check(self) -> None:
        """Start again any worker that died (logged)."""
        for k, proc in list(self._procs.items()):
            if not proc.is_alive() and not self._stopping.is_set():  # even code 0: a worker stopped by someone else
                self.log(f"worker {k} (pid {proc.pid}) exited unexpectedly (code {proc.exitcode}); starting it again")
                self._start(k)

    def stop(self, wait_seconds: float) -> None:
        """SIGTERM to each worker; each finishes its associations; killed after ``wait_seconds``."""
        self._stopping.set()
        for proc in self._procs.values():
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + wait_seconds  # one wait for all of them, not one each
        for k, proc in self._procs.items():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                self.log(f"worker {k} (pid {proc.pid}) did not stop within {wait_seconds:g} s: killed")
                proc.kill()
                proc.join()


class SharedLimit:
    """The association limit over every receiver process: a count per worker in shared memory."""

    def __init__(self, counts, k: int, limit: int):
        self.counts, self.k, self.limit = counts, k, limit

    def acquire(self) -> bool:
        with self.counts.get_lock():
            if sum(self.counts) >= self.limit:
                return False
            self.counts[self.k] += 1
            return True

    def release(self) -> None:
        with self.counts.get_lock():
            self.counts[self.k] = max(0, self.counts[self.k] - 1)


def worker_main(k: int, config: ServeConfig, listening, ready, limit: SharedLimit) -> None:
    """One receiver process: serve on the parent's ``listening`` socket until SIGTERM, SIGINT or the parent's end."""
    from multiprocessing.connection import wait

    from qa.net.lifecycle import drain, stderr_log

    log = stderr_log(f"worker {k}")
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    try:
        from qa.net.scp import start_scp
        from qa.workflows.inbox import Inbox

        inbox = Inbox(config.inbox, rules=config.rules)
        server = start_scp(config, inbox, log, listening, limit)
    except Exception as exc:  # noqa: BLE001 - told to the parent, which refuses to start
        ready.send(f"{type(exc).__name__}: {exc}")
        ready.close()
        return
    log(f"receiver process {os.getpid()} accepting")
    ready.send("ready")
    ready.close()
    parent = multiprocessing.parent_process()
    while not stop.is_set():
        if parent is None:
            stop.wait(0.5)
        elif wait([parent.sentinel], 0.5):
            log("the parent qa serve process is gone: stopping")
            break
    try:
        drain(server, log)
    finally:
        inbox.close()
