"""Routing of received objects (``qa serve``): each settled group of the inbox through the existing workflows.

No configuration is needed (issue 15, point 3):

* a **CT series** in which the phantom of the daily procedure is found (:func:`qa.phantom.locate.locate_phantom`)
  is daily phantom QA (:func:`qa.workflows.phantom.run_phantom_qa`): stored, then its HTML report
  (and PDF when a PDF engine is installed) written into the report folder by the report thread
  (:mod:`qa.workflows.route_reports`), so a slow report never holds up the next group; a report that
  cannot be written is logged, never a reason not to store the run;
* any other **CT series** is an exam: its compliance check (:func:`qa.workflows.exam.check_exam_files`,
  as ``qa check --db``), with the dose reports of its study received so far;
* an **SR** is a dose report by its content (the X-Ray Radiation Dose SR class, or the document
  title 113701 "X-Ray Radiation Dose Report" of TID 10011; :func:`qa.dicom.rdsr.is_dose_report`):
  stored as ``qa dose --db`` stores it; another SR is kept;
* ECG waveforms, secondary captures and anything else are kept in the inbox and listed (nothing to run).

Site rules (:mod:`qa.workflows.site_rules`: by calling AE title or Patient ID) may send a CT series
to phantom QA or to the exam check without looking for the phantom, or keep anything unrun.

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

from qa.errors import DefinitionError, InputError, QAError
from qa.workflows.inbox import Group, Inbox

Log = Callable[[str], None]


@dataclass(frozen=True)
class RouteOutcome:
    state: str  # routed | failed
    route: str  # phantom-qa | exam-check | dose | kept
    result: str | None = None
    error: str | None = None


def route_group(inbox: Inbox, group: Group, *, db: str | None, report_dir: str | os.PathLike | None,
                pdf: bool = True, reports=None) -> RouteOutcome:
    """Route one settled group (module doc).  A problem of its files (:class:`~qa.errors.InputError`,
    :class:`~qa.errors.DefinitionError`) is a ``failed`` outcome naming the reason: sending them again
    will not help.  Anything else (a store that cannot be opened or is locked, a server down, a bug)
    is raised: the group stays pending and :func:`run_router` tries it again later.  ``reports``: a
    :class:`qa.workflows.route_reports.ReportWriter` that writes phantom reports in its own thread
    (without it they are written here, after the run is stored)."""
    files = [f for f in group.files if os.path.isfile(f)]
    if not files:
        return RouteOutcome("failed", "kept", error="its files are no longer in the inbox")
    if group.workflow == "keep":
        return RouteOutcome("routed", "kept", result="kept in the inbox by a site rule (nothing to run)")
    try:
        if group.kind == "ct":
            return _route_ct(inbox, group, files, db=db, report_dir=report_dir, pdf=pdf, reports=reports)
        if group.kind == "sr":
            return _route_sr(files, db=db)
    except (InputError, DefinitionError) as exc:
        field = f" ({exc.field})" if getattr(exc, "field", None) else ""
        by_rule = {"phantom": "phantom-qa", "exam": "exam-check"}.get(group.workflow or "") if group.kind == "ct" else None
        route = by_rule or _ROUTE_OF.get(group.kind, "kept")
        return RouteOutcome("failed", route, error=f"{exc.message}{field}")
    what = {"ecg": "ECG waveform", "capture": "secondary capture"}.get(group.kind, "object")
    return RouteOutcome("routed", "kept", result=f"{what} kept in the inbox (nothing to run)")


_ROUTE_OF = {"ct": "ct", "sr": "dose"}


def phantom_series(files, scan=None):
    """The series decoded (a :class:`qa.workflows.phantom.ReadSeries`) when the daily procedure's phantom
    is found in it, else None; a series that cannot be loaded raises InputError.
    ``scan``: the files' header scan when the caller has it (:func:`qa.dicom.series.scan_inputs`)."""
    from qa.dicom.series import load_volume, scan_inputs, select_series
    from qa.phantom.locate import locate_phantom
    from qa.procedures import load_phantom, load_procedure
    from qa.workflows.phantom import ReadSeries

    procedure = load_procedure("daily-phantom-qa")
    definition = load_phantom(Path(procedure.phantom_path))
    scan = scan if scan is not None else scan_inputs(files)
    volume = load_volume(select_series(scan, None))
    if volume.value_unit != "HU":
        return None
    try:
        locate_phantom(volume.hu, volume.geometry, definition,
                       slice_thickness_mm=volume.slice_thickness_mm or volume.slice_increment_mm)
    except InputError:
        return None
    return ReadSeries(scan.files, volume)


def _route_ct(inbox: Inbox, group: Group, files, *, db, report_dir, pdf: bool, reports=None) -> RouteOutcome:
    from qa.dicom.series import scan_inputs

    scan = scan_inputs(files)
    if not scan.series and scan.n_localizers and not scan.other_objects and not scan.skipped:
        # a scanner sends the scout of each phantom scan and exam as its own series: nothing to score, nothing wrong
        return RouteOutcome("routed", "kept", result=f"{scan.n_localizers} localizer image(s) kept in the inbox (never scored)")
    read = phantom_series(files, scan) if group.workflow not in ("phantom", "exam") else None
    if group.workflow == "phantom" or read is not None:
        from qa.workflows.phantom import run_phantom_qa

        del scan  # the headers are not needed once the volume is decoded
        # the series as decoded to recognise it (not read again); stored first, its report comes after (qa.workflows.route_reports)
        run = run_phantom_qa(read if read is not None else files, db=db, store=True)
        stored = f"run #{run.stored.run_id}{' (replaced)' if run.stored.replaced else ''}" if run.stored else "not stored"
        report = ""
        if report_dir is not None:
            from qa.workflows.route_reports import report_stem, write_report

            if reports is not None:
                report = f", report queued as {reports.submit(run, describe(group))}.html"
            else:
                from qa.report.pdf import pdf_engine_if_any

                engine = pdf_engine_if_any()[0] if pdf else None
                report = f"; {write_report(run, report_stem(run, report_dir), db=db, engine=engine, label=describe(group))}"
        return RouteOutcome("routed", "phantom-qa", result=f"phantom QA {run.verdict}, {stored}{report}")
    from qa.workflows.exam import check_exam_files

    reports = inbox.journal.study_files(group.study_key, "sr") if group.study_key else ()
    run = check_exam_files(list(files) + [r for r in reports if os.path.isfile(r)], db=db)
    statuses = ", ".join(f"study {s.status}" for s in run.stored.studies) if run.stored else "not stored"
    return RouteOutcome("routed", "exam-check", result=f"compliance {run.verdict} ({run.checklist.protocol.id}), {statuses}")


def _route_sr(files, *, db) -> RouteOutcome:
    """The study's SRs that are CT dose reports by content (X-Ray Radiation Dose SR class or an SR whose
    document title is TID 10011's, 113701 "X-Ray Radiation Dose Report": :func:`qa.dicom.rdsr.is_dose_report`)
    go to the dose store; a study without one keeps its SRs."""
    from qa.dicom.rdsr import is_dose_report
    from qa.workflows.dose import summarise_dose

    reports = [f for f in files if is_dose_report(f)]
    if not reports:
        return RouteOutcome("routed", "kept", result=f"structured report(s) kept in the inbox ({len(files)}; not a CT dose report)")
    summary = summarise_dose(reports, db=db)
    dlp = ", ".join(f"{r.dlp_total_mgycm:.1f}" for r in summary.reports if r.dlp_total_mgycm is not None) or "-"
    statuses = ", ".join(f"study {s.status}" for s in summary.stored.studies) if summary.stored else "not stored"
    other = f"; {len(files) - len(reports)} other SR(s) kept" if len(reports) < len(files) else ""
    return RouteOutcome("routed", "dose", result=f"dose report ({len(reports)} object(s), DLP {dlp} mGy cm), {statuses}{other}")


RETRY_FIRST_SECONDS = 5.0  # our proposal: a store outage is retried after 5 s, then 10, 20, ... up to
RETRY_MAX_SECONDS = 300.0  # five minutes between tries, for as long as the outage lasts
RETENTION_CHECK_SECONDS = 3600.0  # how often routed objects past --keep-days are looked for


def run_router(inbox: Inbox, *, db: str | None, report_dir: str | os.PathLike | None, settle_seconds: float,
               stop: threading.Event, log: Log, pdf: bool = True, poll_seconds: float | None = None,
               retry_seconds: float = RETRY_FIRST_SECONDS, keep_days: float | None = None) -> None:
    """Route every group that has settled until ``stop`` is set; the group being routed when it is set is finished first.

    A group whose routing raised anything but a problem of its files (:func:`route_group`: the store
    cannot be opened, written or is locked; a bug) stays pending and is tried again after
    ``retry_seconds``, doubled at each failure up to :data:`RETRY_MAX_SECONDS`; the reason is logged
    (with the traceback when it is not a QAError).  ``keep_days``: at start and every hour, the files
    of objects routed longer ago are deleted (:meth:`qa.workflows.inbox.Journal.expire`)."""
    poll = poll_seconds if poll_seconds is not None else max(0.2, min(2.0, settle_seconds / 4))
    reports = None
    if report_dir is not None:
        from qa.workflows.route_reports import ReportWriter

        from qa.report.pdf import pdf_engine_if_any

        engine, why_not = pdf_engine_if_any() if pdf else (None, None)
        if why_not:
            log(f"phantom reports are written as HTML only: {why_not}")
        reports = ReportWriter(db=db, report_dir=report_dir, pdf_engine=engine, log=log)
    try:
        _route_until_stopped(inbox, db=db, report_dir=report_dir, settle_seconds=settle_seconds, stop=stop, log=log, pdf=pdf,
                             poll=poll, retry_seconds=retry_seconds, reports=reports, keep_days=keep_days or None)
    finally:
        if reports is not None:
            reports.close()  # the reports queued are written before the router stops


def _route_until_stopped(inbox: Inbox, *, db, report_dir, settle_seconds: float, stop: threading.Event, log: Log, pdf: bool,
                         poll: float, retry_seconds: float, reports, keep_days: float | None) -> None:
    backoff: dict[str, tuple[float, float]] = {}  # group -> (next try, current pause)
    inbox.journal.set_keep_days(keep_days)
    next_expiry = 0.0
    while not stop.is_set():
        now = time.time()
        if keep_days is not None and now >= next_expiry:
            next_expiry = now + RETENTION_CHECK_SECONDS
            deleted = inbox.journal.expire(now - keep_days * 86400)
            if deleted:
                log(f"retention: {deleted} object(s) routed more than {keep_days:g} days ago deleted from the inbox")
        for group in inbox.journal.settled_groups(now, settle_seconds):
            if stop.is_set():
                break
            if backoff.get(group.key, (0.0, 0.0))[0] > now:
                continue
            started = time.time()
            try:
                outcome = route_group(inbox, group, db=db, report_dir=report_dir, pdf=pdf, reports=reports)
            except Exception as exc:  # noqa: BLE001 - the receiver keeps running; the group is retried
                pause = min(RETRY_MAX_SECONDS, backoff[group.key][1] * 2) if group.key in backoff else retry_seconds
                backoff[group.key] = (time.time() + pause, pause)
                reason = exc.message if isinstance(exc, QAError) else f"{type(exc).__name__}: {exc}"
                trace = "" if isinstance(exc, QAError) else "\n" + traceback.format_exc().rstrip()
                log(f"routing {describe(group)} could not finish: {reason}; it stays pending and is retried in {pause:g} s{trace}")
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
