"""Running ``qa serve`` as a real process on loopback for the tests, and sending to it.

:class:`Server` starts ``qa serve`` (this environment's console script) on a free port picked at
run time, with its own inbox, store, site secret and data folders, waits for its "listening" line,
and reads its log (stderr, written to a file).  :func:`pynetdicom_store` sends files with a
pynetdicom SCU and returns the C-STORE statuses.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

QA = str(Path(sys.executable).parent / "qa")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "XDG_"))}
    env.update(QA_SECRET_FILE=str(root / "site-secret"), XDG_DATA_HOME=str(root / "data"), XDG_CONFIG_HOME=str(root / "config"),
               MPLBACKEND="Agg")
    return env


class Server:
    """One ``qa serve`` process (use as a context manager: stopped with SIGTERM on exit)."""

    def __init__(self, root: Path, *args: str, allow=("CT1",), settle: float = 1.0, port: int | None = None,
                 inbox: Path | None = None, db: str | None = None, preexec_fn=None, wait: bool = True):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.inbox = inbox or self.root / "inbox"
        self.db = db or f"sqlite:///{self.root / 'store.sqlite'}"
        self.log_path = self.root / f"serve-{self.port}-{time.monotonic_ns()}.log"
        argv = [QA, "serve", "--aet", "QA", "--port", str(self.port), "--inbox", str(self.inbox), "--db", self.db,
                "--settle-seconds", str(settle), "--no-pdf"]
        for peer in allow:
            argv += ["--allow", peer]
        argv += list(args)
        self.env = environment(self.root)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self._log, env=self.env, preexec_fn=preexec_fn)
        if wait:
            self.wait_for("listening on", timeout=60)

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, *, timeout: float = 60.0, count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log
            if log.count(text) >= count:
                return log
            if self.proc.poll() is not None:
                raise AssertionError(f"qa serve exited ({self.proc.returncode}) before {text!r}:\n{log}")
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} (x{count}) in the log after {timeout} s:\n{self.log}")

    def status(self) -> dict:
        out = subprocess.run([QA, "serve", "--status", "--inbox", str(self.inbox), "--json"], capture_output=True, text=True,
                             env=self.env, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def wait_routed(self, n_groups: int, *, timeout: float = 120.0) -> dict:
        """The inbox status once ``n_groups`` groups are routed or failed and none is pending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if not status["pending"] and len(status["routed"]) + len(status["failed"]) >= n_groups:
                return status
            time.sleep(0.3)
        raise AssertionError(f"not routed after {timeout} s: {self.status()}\n{self.log}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def dcmtk(tool: str, *files, port: int, calling: str = "CT1", called: str = "QA", options=(),
          timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run a dcmtk SCU (echoscu, storescu) against 127.0.0.1:port."""
    from tests.conftest import require_tool

    argv = [require_tool(tool), "-aet", calling, "-aec", called, *map(str, options), "127.0.0.1", str(port), *map(str, files)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def pynetdicom_store(port: int, files, *, calling: str = "CT1", called: str = "QA", bind: str | None = None,
                     tls=None) -> tuple[bool, list[int]]:
    """(association accepted, the C-STORE status of each file) with a pynetdicom SCU."""
    import pydicom
    from pynetdicom import AE

    datasets = [f if isinstance(f, pydicom.Dataset) else pydicom.dcmread(f) for f in files]
    ae = AE(ae_title=calling)
    for uid in sorted({str(ds.SOPClassUID) for ds in datasets}) or ["1.2.840.10008.1.1"]:
        ae.add_requested_context(uid)
    kwargs = {"ae_title": called}
    if bind is not None:
        kwargs["bind_address"] = (bind, 0)
    if tls is not None:
        kwargs["tls_args"] = (tls, "127.0.0.1")
    assoc = ae.associate("127.0.0.1", port, **kwargs)
    if not assoc.is_established:
        return False, []
    statuses = []
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            statuses.append(int(status.Status) if "Status" in status else -1)
    finally:
        assoc.release()
    return True, statuses
