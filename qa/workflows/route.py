"""Routing of received objects (``qa serve``): each settled group of the inbox through the existing workflows.

No configuration is needed (issue 15, point 3):

* a **CT series** in which the phantom of the daily procedure is found (:func:`qa.phantom.locate.locate_phantom`)
  is daily phantom QA (:func:`qa.workflows.phantom.run_phantom_qa`): stored, and its HTML report
  (and PDF when a PDF engine is installed) written into the report folder; a report that cannot be
  written is a warning of the run, never a reason not to store it;
* any other **CT series** is an exam: its compliance check (:func:`qa.workflows.exam.check_exam_files`,
  as ``qa check --db``), with the dose reports of its study received so far;
* an **SR** is a dose report when it carries TID 10011: stored as ``qa dose --db`` stores it;
  another SR is kept;
* ECG waveforms, secondary captures and anything else are kept in the inbox and listed (nothing to run).

Idempotent: routing a group again (new objects joined it, or the process died before its outcome
was journalled) stores nothing twice: the store replaces a phantom run of the same series
(``replaced``) and merges a study with what it holds (``unchanged`` when nothing is new).
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InputError, QAError
from qa.workflows.inbox import Group, Inbox

Log = Callable[[str], None]


@dataclass(frozen=True)
class RouteOutcome:
    state: str  # routed | failed | retry
    route: str  # phantom-qa | exam-check | dose | kept
    result: str | None = None
    error: str | None = None


def route_group(inbox: Inbox, group: Group, *, db: str | None, report_dir: str | os.PathLike | None,
                pdf: bool = True) -> RouteOutcome:
    """Route one settled group (module doc); QAErrors become a ``failed`` outcome naming the reason."""
    files = [f for f in group.files if os.path.isfile(f)]
    if not files:
        return RouteOutcome("failed", "kept", error="its files are no longer in the inbox")
    try:
        if group.kind == "ct":
            return _route_ct(inbox, group, files, db=db, report_dir=report_dir, pdf=pdf)
        if group.kind == "sr":
            return _route_sr(files, db=db)
    except QAError as exc:
        field = f" ({exc.field})" if getattr(exc, "field", None) else ""
        return RouteOutcome("failed", _ROUTE_OF.get(group.kind, "kept"), error=f"{exc.message}{field}")
    what = {"ecg": "ECG waveform", "capture": "secondary capture"}.get(group.kind, "object")
    return RouteOutcome("routed", "kept", result=f"{what} kept in the inbox (nothing to run)")


_ROUTE_OF = {"ct": "ct", "sr": "dose"}


def is_phantom_series(files) -> bool:
    """Is the daily procedure's phantom found in this CT series?  (A series that cannot be loaded raises InputError.)"""
    from qa.dicom.series import load_volume, scan_inputs, select_series
    from qa.phantom.locate import locate_phantom
    from qa.procedures import load_phantom, load_procedure

    procedure = load_procedure("daily-phantom-qa")
    definition = load_phantom(Path(procedure.phantom_path))
    volume = load_volume(select_series(scan_inputs(files), None))
    if volume.value_unit != "HU":
        return False
    try:
        locate_phantom(volume.hu, volume.geometry, definition,
                       slice_thickness_mm=volume.slice_thickness_mm or volume.slice_increment_mm)
    except InputError:
        return False
    return True


def _route_ct(inbox: Inbox, group: Group, files, *, db, report_dir, pdf: bool) -> RouteOutcome:
    if is_phantom_series(files):
        from qa.workflows.phantom import run_phantom_qa

        html = pdf_path = None
        if report_dir is not None:
            stem = Path(report_dir) / f"phantom-{time.strftime('%Y-%m-%d')}-{(group.series_key or 'series')[:14]}"
            html = f"{stem}.html"
            pdf_path = f"{stem}.pdf" if pdf and _pdf_available() else None
        run = run_phantom_qa(files, db=db, store=True, report=html, pdf=pdf_path)
        stored = f"run #{run.stored.run_id}{' (replaced)' if run.stored.replaced else ''}" if run.stored else "not stored"
        reports = ", ".join(p for p in (run.report, run.pdf) if p)
        problems = [w for w in run.warnings if "could not be written" in w]
        return RouteOutcome("routed", "phantom-qa", result=f"phantom QA {run.verdict}, {stored}"
                            + (f", report {reports}" if reports else "") + (f"; {'; '.join(problems)}" if problems else ""))
    from qa.workflows.exam import check_exam_files

    reports = inbox.journal.study_files(group.study_key, "sr") if group.study_key else ()
    run = check_exam_files(list(files) + [r for r in reports if os.path.isfile(r)], db=db)
    statuses = ", ".join(f"study {s.status}" for s in run.stored.studies) if run.stored else "not stored"
    return RouteOutcome("routed", "exam-check", result=f"compliance {run.verdict} ({run.checklist.protocol.id}), {statuses}")


def _route_sr(files, *, db) -> RouteOutcome:
    from qa.workflows.dose import summarise_dose

    try:
        summary = summarise_dose(files, db=db)
    except InputError as exc:
        if "dose report" in exc.message.lower():  # an SR that is not a CT dose report (no TID 10011): kept
            return RouteOutcome("routed", "kept", result="structured report kept in the inbox (not a CT dose report)")
        raise
    dlp = ", ".join(f"{r.dlp_total_mgycm:.1f}" for r in summary.reports if r.dlp_total_mgycm is not None) or "-"
    statuses = ", ".join(f"study {s.status}" for s in summary.stored.studies) if summary.stored else "not stored"
    return RouteOutcome("routed", "dose", result=f"dose report ({len(summary.reports)} study, DLP {dlp} mGy cm), {statuses}")


_PDF: list[bool] = []


def _pdf_available() -> bool:
    if not _PDF:
        try:
            from qa.report.pdf import require_pdf_engine

            require_pdf_engine()
            _PDF.append(True)
        except QAError:
            _PDF.append(False)
    return _PDF[0]


def run_router(inbox: Inbox, *, db: str | None, report_dir: str | os.PathLike | None, settle_seconds: float,
               stop: threading.Event, log: Log, pdf: bool = True, poll_seconds: float | None = None) -> None:
    """Route every group that has settled until ``stop`` is set; the group being routed when it is set is finished first.

    A group whose routing raised anything but a QAError (a bug, a store that went away) stays
    pending and is tried again after a pause; its error is logged with the traceback."""
    poll = poll_seconds if poll_seconds is not None else max(0.2, min(2.0, settle_seconds / 4))
    backoff: dict[str, float] = {}
    while not stop.is_set():
        now = time.time()
        for group in inbox.journal.settled_groups(now, settle_seconds):
            if stop.is_set():
                break
            if backoff.get(group.key, 0.0) > now:
                continue
            started = time.time()
            try:
                outcome = route_group(inbox, group, db=db, report_dir=report_dir, pdf=pdf)
            except Exception as exc:  # noqa: BLE001 - the receiver keeps running; the group is retried
                backoff[group.key] = time.time() + 60.0
                log(f"routing {describe(group)} raised {type(exc).__name__}: {exc}; it stays pending and is retried in 60 s\n"
                    + traceback.format_exc().rstrip())
                continue
            backoff.pop(group.key, None)
            inbox.journal.mark(group.members, state=outcome.state, route=outcome.route, result=outcome.result,
                               error=outcome.error, received_before=group.last_received_at, at=time.time())
            took = time.time() - started
            text = outcome.result if outcome.state == "routed" else f"FAILED: {outcome.error}"
            log(f"routed {describe(group)} -> {outcome.route}: {text} ({took:.1f} s)")
        stop.wait(poll)


def describe(group: Group) -> str:
    """A group for a log line: its kind, pseudonyms and size, never a clear UID."""
    n = len(group.members)
    if group.key.startswith("series:"):
        return f"CT series {group.series_key} of study {group.study_key} ({n} objects)"
    if group.key.startswith("study:"):
        return f"SR of study {group.study_key} ({n} objects)"
    return f"{group.kind} object of study {group.study_key}"
