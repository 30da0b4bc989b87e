"""The phantom reports of ``qa serve``, written after the run is stored and never in the router's way.

The router stores each phantom run first (:func:`qa.workflows.route.route_group`), then hands the
run to :class:`ReportWriter`, one thread that writes its HTML report (and the PDF, when a PDF engine
is installed) while the router goes on with the next group: a slow PDF holds up only the reports
queued after it.  The queue holds at most :data:`QUEUE_LENGTH` runs (each keeps its volume in
memory); when it is full the router waits for a free place.  A report that cannot be written is
logged, never a reason to fail the stored run.

Report files are named from the acquisition date, the scanner and the stored run's number
(:func:`report_stem`): ``phantom-2026-03-02_CT1-CARDIO_run12.html``.  No patient or study identifier
appears; another run (another day, another series of the same day) never takes the name of
another's report; the same series routed again replaces its run and so its own report.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable
from pathlib import Path

QUEUE_LENGTH = 4  # our proposal: runs waiting for their report (a 512 x 512 x 60 volume is about 60 MB)
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def report_stem(run, report_dir: str | os.PathLike) -> Path:
    """``<report_dir>/phantom-<acquisition date>_<scanner>_run<id>`` (module doc)."""
    result = run.result
    when = (result.acquisition.acquisition_datetime or "")[:10] or "undated"
    scanner = result.scanner.station_name or result.scanner.device_serial_number or "scanner"
    scanner = _UNSAFE.sub("-", scanner).strip("-.")[:40] or "scanner"
    run_id = f"run{run.stored.run_id}" if run.stored is not None else "unstored"
    return Path(report_dir) / f"phantom-{_UNSAFE.sub('-', when)}_{scanner}_{run_id}"


class ReportWriter:
    """One thread writing the queued runs' reports (module doc); :meth:`close` writes what is queued, then stops."""

    def __init__(self, *, db: str | None, report_dir: str | os.PathLike, pdf_engine, log: Callable[[str], None]):
        self.db, self.report_dir, self.engine, self.log = db, Path(report_dir), pdf_engine, log
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_LENGTH)
        self._thread = threading.Thread(target=self._work, name="qa-reports", daemon=True)
        self._thread.start()

    def submit(self, run, label: str) -> str:
        """Queue ``run``'s report; the stem it will be written under."""
        stem = report_stem(run, self.report_dir)
        self._queue.put((run, stem, label))
        return str(stem)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            run, stem, label = job
            self.log(write_report(run, stem, db=self.db, engine=self.engine, label=label))


def write_report(run, stem: Path, *, db: str | None, engine, label: str) -> str:
    """Write the HTML (and PDF with ``engine``) report of a stored ``run``; the log line saying what came of it."""
    from qa.workflows.common import NO_WRITE, open_store
    from qa.workflows.reports import write_phantom_reports

    html, pdf = f"{stem}.html", (f"{stem}.pdf" if engine is not None else None)
    try:
        with open_store(db, mode=NO_WRITE) as access:
            written, warnings = write_phantom_reports(run, access, html=html, pdf=pdf, engine=engine)
    except Exception as exc:  # noqa: BLE001 - the run is stored; its report's failure is only logged
        return f"report of {label} could not be written: {type(exc).__name__}: {exc}"
    files = ", ".join(p for p in (written.report, written.pdf) if p)
    problems = "; ".join(warnings)
    return f"report of {label}: {files or 'none written'}" + (f"; {problems}" if problems else "")
