"""`qa serve` under load against dcmtk's `storescp` (issue 15, point 5: >= 0.5x), every object stored and routed.

    .venv/bin/python benchmarks/bench_serve.py [--associations 8] [--images 60] [--repeats 3] [--workers N] [--pdu-sweep] [--quick]

Two 60-image series of 512 x 512 CT images are synthesised once (``qa synth phantom``, and ``qa synth
exam`` with 5 stacks of 12 slices) and cached in ``--data``; each association gets its own copy
with new Study, Series and SOP Instance UIDs (even associations a phantom series, odd ones an
exam), so every association is a distinct series of a distinct study.

One measurement: ``--associations`` dcmtk ``storescu`` processes started together, each sending its
series over one association, timed from their start until the last one has exited (every object
answered).  The same senders go alternately (``--repeats`` times, medians printed) to

* dcmtk ``storescp --fork`` (one process per association, files written as received but never
  synced; the time to sync its files afterwards, all at once, is printed beside it), and
* ``qa serve`` (a fresh inbox and SQLite store each time; routing held back with a long settle
  time so that the receive is measured alone; each object synced and journalled before success;
  ``--workers`` receiver processes, by default qa serve's own default: one per core, at most 4).

Both accept the same largest PDU where storescp can (it stops at 131072 bytes).  After each
measurement the received objects are counted (storescp's folder; qa serve's journal and inbox).
After the last ``qa serve`` measurement that server is stopped and started again on the same inbox
with a settle time of 0 (the restart path: everything journalled and pending is routed), and the
routing is timed until nothing is pending; then the store is read back: one phantom run per phantom
series, one checked study per exam.  ``--pdu-sweep`` measures ``qa serve`` alone at 16, 64, 128 and
256 kB and without a limit (one send each).

The machine's other work shares the cores: the times are noisy; the ratio is what compares.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
QA = str(BIN / "qa")
STORESCP_MAX_PDU = 131072  # storescp --max-pdu accepts 4096..131072 (dcmtk 3.6)
SWEEP = (16384, 65536, 131072, 262144, 0)
# dcmtk 3.6.7 leaves Nagle's algorithm on unless TCP_NODELAY=1 is in the environment: each C-STORE
# response then waits for the peer's delayed ACK (about 40 ms), and storescp receives 8 times slower.
# Both dcmtk programs run at their best here.
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool(name: str) -> str:
    import shutil

    path = shutil.which(name)
    if path is None:
        sys.exit(f"{name} (dcmtk) is not installed: apt-get install dcmtk")
    return path


def base_series(data: Path, images: int) -> dict[str, list[Path]]:
    """The phantom series and the exam (``images`` CT images of 512 x 512 each), written once."""
    from qa.workflows.synth import ExamSynthOptions, SynthOptions, synthesize_exam, synthesize_phantom

    phantom, exam = data / "phantom-512", data / "exam-512"
    if not phantom.is_dir():
        # -88.5 .. 88.5 mm at 3 mm: 60 slices with the calcification slab and the rods inside
        synthesize_phantom(phantom, SynthOptions(z_start_mm=-88.5, z_end_mm=88.5, seed=3, station_name="CT1-BENCH",
                                                 device_serial_number="SN-BENCH"))
    if not exam.is_dir():
        # 5 step-and-shoot stacks of 36 mm at 3 mm: 60 slices
        synthesize_exam(exam, ExamSynthOptions(seed=3, stacks=5, stack_mm=36.0, overlap_mm=0.0, station_name="CT1-BENCH",
                                               device_serial_number="SN-BENCH"))
    out = {}
    for name, folder in (("phantom", phantom), ("exam", exam)):
        files = sorted(folder.rglob("*.dcm"))
        if len(files) < images:
            sys.exit(f"{folder} holds {len(files)} images, fewer than --images {images}")
        middle = (len(files) - images) // 2
        out[name] = files[middle:middle + images]
    return out


def association_sets(data: Path, base: dict[str, list[Path]], n: int, images: int) -> list[list[Path]]:
    """``n`` folders of ``images`` files each, a distinct study and series per folder (re-UIDed copies)."""
    import pydicom
    from pydicom.uid import generate_uid

    sets = []
    for k in range(n):
        kind = "phantom" if k % 2 == 0 else "exam"
        folder = data / f"assoc-{images}-{k:02d}"
        done = folder / ".complete"
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            study = generate_uid(entropy_srcs=["bench-serve-study", str(k)])
            series = generate_uid(entropy_srcs=["bench-serve-series", str(k)])
            for i, source in enumerate(base[kind]):
                ds = pydicom.dcmread(source)
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
                ds.SOPInstanceUID = generate_uid(entropy_srcs=["bench-serve-sop", str(k), str(i)])
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                ds.save_as(folder / f"{i:03d}.dcm", enforce_file_format=True)
            done.touch()
        sets.append(sorted(folder.glob("*.dcm")))
    return sets


def send_all(sets: list[list[Path]], port: int) -> float:
    """Every set over its own association, all at once (dcmtk storescu); seconds until the last is answered."""
    storescu = tool("storescu")
    started = time.perf_counter()
    senders = [subprocess.Popen([storescu, "-aet", "CT1", "-aec", "QA", "127.0.0.1", str(port), *map(str, files)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=DCMTK_ENV) for files in sets]
    errors = [(p.wait(), p.stderr.read()) for p in senders]
    took = time.perf_counter() - started
    bad = [e for rc, e in errors if rc != 0]
    if bad:
        raise SystemExit(f"{len(bad)} storescu sender(s) failed:\n{bad[0]}")
    return took


def wait_for_echo(port: int, timeout: float = 60.0) -> None:
    echoscu = tool("echoscu")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run([echoscu, "-aet", "CT1", "-aec", "QA", "127.0.0.1", str(port)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing answers C-ECHO on port {port} after {timeout} s")


def run_storescp(sets, tmp: Path, pdu: int) -> float:
    out = Path(tempfile.mkdtemp(prefix="storescp-", dir=tmp))
    port = free_port()
    size = min(pdu or STORESCP_MAX_PDU, STORESCP_MAX_PDU)
    scp = subprocess.Popen([tool("storescp"), "--fork", "-aet", "QA", "-pdu", str(size), "-od", str(out), str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=DCMTK_ENV)
    try:
        wait_for_echo(port)
        took = send_all(sets, port)
    finally:
        scp.send_signal(signal.SIGTERM)
        scp.wait()
    expected = sum(len(s) for s in sets)
    got = sum(1 for p in out.iterdir() if p.is_file())
    if got != expected:
        raise SystemExit(f"storescp wrote {got} files, {expected} were sent")
    started = time.perf_counter()
    sync_files(out)
    synced = time.perf_counter() - started
    _remove(out)
    return took, synced


def sync_files(folder: Path) -> None:
    """What storescp leaves undone: its files and folder synced to disk (after the fact, all at once)."""
    for p in folder.iterdir():
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Serve:
    """One ``qa serve`` process with its own inbox, store, site secret and data folders."""

    def __init__(self, root: Path, *, settle: float, pdu: int, port: int | None = None, workers: int | None = None):
        self.root, self.port = root, port or free_port()
        self.inbox, self.db = root / "inbox", f"sqlite:///{root / 'store.sqlite'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "XDG_"))}
        self.env.update(QA_SECRET_FILE=str(root / "site-secret"), XDG_DATA_HOME=str(root / "data"),
                        XDG_CONFIG_HOME=str(root / "config"), MPLBACKEND="Agg")
        self.log_path = root / f"serve-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([QA, "serve", "--aet", "QA", "--port", str(self.port), "--allow", "CT1", "--inbox", str(self.inbox),
                                      "--db", self.db, "--settle-seconds", str(settle), "--no-pdf", "--max-pdu", str(pdu)]
                                     + ([] if workers is None else ["--workers", str(workers)]),
                                     stdout=subprocess.DEVNULL, stderr=self._log, env=self.env)
        deadline = time.monotonic() + 120
        while "listening on" not in self.log_path.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"qa serve did not start:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def status(self) -> dict:
        out = subprocess.run([QA, "serve", "--status", "--inbox", str(self.inbox), "--json"], capture_output=True, text=True,
                             env=self.env, check=True)
        return json.loads(out.stdout)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        self._log.close()


def run_serve(sets, tmp: Path, pdu: int, *, keep: bool = False, workers: int | None = None) -> tuple[float, Serve]:
    root = Path(tempfile.mkdtemp(prefix="serve-", dir=tmp))
    server = Serve(root, settle=86400, pdu=pdu, workers=workers)
    try:
        took = send_all(sets, server.port)
        status = server.status()
    finally:
        server.stop()
    expected = sum(len(s) for s in sets)
    files = sum(1 for p in server.inbox.glob("*.dcm"))
    if status["objects"] != expected or files != expected:
        raise SystemExit(f"qa serve journalled {status['objects']} objects and holds {files} files; {expected} were sent")
    if not keep:
        _remove(root)
    return took, server


def route_all(server: Serve, sets, pdu: int) -> tuple[float, dict]:
    """Restart on the same inbox with settle 0; seconds until nothing is pending; what the store holds."""
    started = time.perf_counter()
    again = Serve(server.root, settle=0, pdu=pdu)
    try:
        while True:
            status = again.status()
            if not status["pending"] and len(status["routed"]) + len(status["failed"]) >= len(sets):
                break
            if again.proc.poll() is not None:
                raise SystemExit(f"qa serve stopped while routing:\n{again.log_path.read_text()}")
            time.sleep(0.5)
        took = time.perf_counter() - started
    finally:
        again.stop()
    return took, status | {"store": store_counts(again)}


def store_counts(server: Serve) -> dict:
    os.environ["QA_SECRET_FILE"] = server.env["QA_SECRET_FILE"]
    from qa.store import Store

    store = Store(server.db)
    try:
        runs = sum(len(store.phantom_runs(s.id)) for s in store.scanners())
        checked = sum(1 for s in store.studies() if s.record.exam_checks)
    finally:
        store.close()
    return {"phantom_runs": runs, "checked_studies": checked}


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--associations", type=int, default=8)
    parser.add_argument("--images", type=int, default=60, help="CT images per association (512 x 512)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pdu", type=int, default=None, help="qa serve's --max-pdu (default: qa serve's own default)")
    parser.add_argument("--pdu-sweep", action="store_true", help="also measure qa serve at 16, 64, 128, 256 kB and without a limit")
    parser.add_argument("--workers", type=int, default=None, help="qa serve's --workers (default: qa serve's own default)")
    parser.add_argument("--quick", action="store_true", help="2 associations, 1 repeat, no sweep")
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "qa-bench-serve"), help="cache of the synthetic series")
    args = parser.parse_args(argv)
    if args.quick:
        args.associations, args.repeats, args.pdu_sweep = 2, 1, False
    from qa.net.config import DEFAULT_MAX_PDU
    from qa.net.config import default_workers

    pdu = DEFAULT_MAX_PDU if args.pdu is None else args.pdu
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    sets = association_sets(data, base_series(data, args.images), args.associations, args.images)
    n = sum(len(s) for s in sets)
    megabytes = sum(p.stat().st_size for s in sets for p in s) / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="run-", dir=data))
    print(f"{args.associations} associations x {args.images} CT images of 512 x 512 ({n} objects, {megabytes:.0f} MB); "
          f"qa serve max PDU {pdu or 'unlimited'}, storescp {min(pdu or STORESCP_MAX_PDU, STORESCP_MAX_PDU)}; qa serve --workers {args.workers or default_workers()}; {os.cpu_count()} cores")
    run_storescp(sets, tmp, pdu)  # untimed: warms the OS cache and both programs' imports
    run_serve(sets, tmp, pdu)
    times: dict[str, list[float]] = {"storescp": [], "storescp + sync": [], "qa serve": []}
    last = None
    for r in range(args.repeats):
        took, synced = run_storescp(sets, tmp, pdu)
        times["storescp"].append(took)
        times["storescp + sync"].append(took + synced)
        took, server = run_serve(sets, tmp, pdu, keep=r == args.repeats - 1, workers=args.workers)
        times["qa serve"].append(took)
        last = server
        print(f"  repeat {r + 1}: storescp {times['storescp'][-1]:.2f} s (+ {synced:.2f} s to sync its files afterwards), "
              f"qa serve {took:.2f} s", flush=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, t in medians.items():
        print(f"{name:15s} {n / t:7.1f} objects/s  {megabytes / t:6.1f} MB/s  (median of {len(times[name])}: {t:.2f} s)")
    ratio = medians["storescp"] / medians["qa serve"]
    print(f"ratio qa serve / storescp: {ratio:.2f}x (target >= 0.5x); to storescp with its files synced afterwards: "
          f"{medians['storescp + sync'] / medians['qa serve']:.2f}x (qa serve syncs each object before answering)")
    if args.pdu_sweep:
        for size in SWEEP:
            took, _ = run_serve(sets, tmp, size)
            print(f"  qa serve max PDU {size or 'unlimited':>9}: {n / took:6.1f} objects/s  {megabytes / took:6.1f} MB/s", flush=True)
    took, status = route_all(last, sets, pdu)
    store = status["store"]
    routes = [r["route"] for r in status["routed"]]
    phantoms, exams = (args.associations + 1) // 2, args.associations // 2
    print(f"routing after a restart: {len(status['routed'])} series routed ({routes.count('phantom-qa')} phantom QA, "
          f"{routes.count('exam-check')} exam checks), {len(status['failed'])} failed, in {took:.1f} s; store: "
          f"{store['phantom_runs']} phantom runs, {store['checked_studies']} checked studies")
    ok = (status["objects"] == n and not status["failed"] and routes.count("phantom-qa") == phantoms
          and routes.count("exam-check") == exams and store["phantom_runs"] == phantoms and store["checked_studies"] == exams)
    print("every object stored and routed" if ok else "NOT every object stored and routed")
    _remove(tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
