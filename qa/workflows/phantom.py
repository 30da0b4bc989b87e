"""Daily phantom QA: load the series, locate, analyse, judge against the stored baseline, store, report.

``run_phantom_qa`` is what ``qa phantom``, ``qa demo`` and the DICOM receiver call.  The baseline
and the configuration check always come from the store when one can be read, also when the run is
not stored (``store=False``): a run gets the same checks whether it is stored or not.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from qa.calcium.scoring import ScoringRequest
from qa.errors import UsageError
from qa.phantom.analysis import Baseline, PhantomResult, analyze_phantom, configuration_of
from qa.phantom.definition import PhantomDefinition
from qa.phantom.procedure import PhantomProcedure
from qa.phantom.ring import RING_CHOICES, determine_ring
from qa.records.inputs import FileCounts
from qa.records.serialize import Record
from qa.records.volume import CTVolume
from qa.records.provenance import Provenance
from qa.workflows.common import NO_WRITE, WRITE, StoreAccess, now, open_store, qa_version

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class StoredRun(Record):
    run_id: int
    replaced: bool  # the same series was stored before (in this configuration) and was re-analysed
    database: str


@dataclass(frozen=True, eq=False)
class PhantomRun(Record):
    """One daily phantom-QA run: the analysis, its provenance, where it was stored and reported.

    The JSON form is the ``qa.phantom/1`` document: the analysis' fields, then these."""

    result: PhantomResult = field(metadata={"flatten": True})
    analysis_time: dt.datetime
    provenance: Provenance
    stored: StoredRun | None
    baseline_from: str  # where the baseline came from, or why there is none
    report: str | None = None
    pdf: str | None = None  # the PDF report written (--pdf)
    warnings: tuple[str, ...] = ()  # the analysis' warnings, then the run's own (a report that could not be written)
    files: FileCounts | None = None  # files read and skipped under the input
    volume: CTVolume | None = field(default=None, repr=False, metadata={"json": False})
    definition: PhantomDefinition | None = field(default=None, repr=False, metadata={"json": False})
    procedure_definition: PhantomProcedure | None = field(default=None, repr=False, metadata={"json": False})

    @property
    def verdict(self) -> str:
        return self.result.verdict


@dataclass(frozen=True)
class ReadSeries:
    """A CT series the caller has already read and decoded (``qa serve``'s router decodes each
    received series to tell a phantom from an exam): :func:`run_phantom_qa` analyses it as it is,
    without reading its files again."""

    files: FileCounts  # what was read (:attr:`qa.dicom.series.InputScan.files`)
    volume: CTVolume


def run_phantom_qa(
    series: str | os.PathLike | Sequence[str | os.PathLike] | ReadSeries,
    *,
    phantom: str | None = None,
    procedure: str = "daily-phantom-qa",
    series_uid: str | None = None,
    ring: str = "unspecified",
    scoring: ScoringRequest | None = None,
    db: str | None = None,
    store: bool = True,
    report: str | os.PathLike | None = None,
    pdf: str | os.PathLike | None = None,
    page_size: str | None = None,
    progress: Callable[[str], Progress | None] | None = None,
) -> PhantomRun:
    """Analyse one phantom series against its procedure and its scanner's baseline.

    ``series``: folders, files or zips, or a :class:`ReadSeries` already decoded.  ``phantom``,
    ``procedure``: ids of built-in definitions or paths to a site's own.  ``ring``: the extension
    ring the phantom wore (``none``, ``large``), an override of the ring measured from the image (a
    contradiction is a warning); ``unspecified``: measured from the image.  ``scoring``: the
    user's scoring options (default: the procedure's method).  ``store``: keep the run in the
    results store (``db``, else ``QA_DB_URL``, else the default SQLite file); with ``store=False``
    the store is only read.  ``report``: write the HTML report there; ``pdf``: print it to this PDF
    file on ``page_size`` paper (``A4`` or ``Letter``; default: the locale's), with the engine of
    :mod:`qa.report.pdf` (missing: a UsageError before anything is read).  ``progress(label)``
    returns a progress callback for a stage (or None).
    """
    from qa.dicom.series import load_volume, scan_inputs, select_series
    from qa.procedures import load_phantom, load_procedure

    if ring not in RING_CHOICES:
        raise UsageError(f"ring must be none, large or unspecified, got {ring!r}")
    try:
        (scoring or ScoringRequest()).check()  # impossible options are refused before anything is read
    except ValueError as exc:
        raise UsageError(str(exc), hint="see qa phantom --help for the scoring options") from exc
    if report is not None:
        from qa.workflows.output_targets import check_output_file

        check_output_file(report, "--report", "html")  # a missing folder or a name of another kind: before anything is read
    if pdf is not None:
        from qa.workflows.output_targets import check_output_file

        check_output_file(pdf, "--pdf", "pdf")
    engine, paper = _pdf_options(pdf, page_size)
    given = load_phantom(phantom) if phantom is not None else None  # a site's own phantom, checked with the procedure
    proc = load_procedure(procedure, phantom=given)
    definition = given or load_phantom(Path(proc.phantom_path))  # the very file the procedure was checked against
    stage = progress or (lambda label: None)
    # The store is opened (and, to store, checked writable) before the series is read: a store
    # that cannot keep or give the result is refused before any analysis runs.
    with open_store(db, mode=WRITE if store else NO_WRITE, phantom_runs_only=True) as access:
        if isinstance(series, ReadSeries):
            volume, files = series.volume, series.files
            if series_uid is not None and volume.info.series_instance_uid != series_uid:
                raise UsageError(f"the series read is {volume.info.series_instance_uid}, not the series {series_uid} asked for")
        else:
            scan = scan_inputs(series, progress=stage("reading headers"))
            volume = load_volume(select_series(scan, series_uid), progress=stage("decoding pixels "))
            files = scan.files
            del scan  # the headers (pydicom datasets) are not needed once the volume is decoded: memory for the analysis
        try:
            settings = (scoring or ScoringRequest()).settings(volume.info.kvp, default_method=proc.scoring_method)
        except ValueError as exc:
            raise UsageError(str(exc), hint="see qa phantom --help for the scoring options") from exc
        # The ring (measured from the image unless given) is part of the configuration that picks the baseline.
        thickness = volume.slice_thickness_mm or volume.slice_increment_mm
        phantom_ring = (determine_ring(volume.hu, volume.geometry, definition, given=ring, slice_thickness_mm=thickness)
                        if volume.value_unit == "HU" else ring)  # (the analysis refuses other values with its own words)
        baseline, baseline_from = _baseline(access, volume, proc, settings, getattr(phantom_ring, "ring", ring))
        if access.store is not None:
            no_baseline = None  # the analysis says: no baseline for this scanner yet
        elif store:
            no_baseline = "no baseline for this scanner yet (its results store is created with this run)"
        else:
            no_baseline = f"no results store was read: {baseline_from}"
        result = analyze_phantom(volume, definition, proc, baseline, settings=settings, ring=phantom_ring,
                                 no_baseline_reason=no_baseline)
        analysed = now()
        provenance = Provenance(qa_version(), analysed, (proc.ref, definition.ref), tuple(volume.sop_instance_uids))
        # The run's warnings take the place of the analysis' in the flattened JSON (stored and printed): they start as those.
        run = PhantomRun(result, analysed, provenance, None, baseline_from, warnings=tuple(result.warnings), volume=volume,
                         definition=definition, procedure_definition=proc, files=files)
        warnings: list[str] = list(_identity_warnings(volume))
        if store:
            target = access.for_writing()
            run_id, replaced = target.save_phantom_run(result, provenance)
            run = replace(run, stored=StoredRun(run_id, replaced, target.display_url))
        if report is not None or pdf is not None:
            from qa.workflows.reports import write_phantom_reports

            # The run stands (stored, its verdict and exit code) even when its report cannot be written:
            # the report error is one of its warnings, and no part of the report is left (qa.outputs).
            run, report_warnings = write_phantom_reports(run, access, html=report, pdf=pdf, page_size=paper, engine=engine)
            warnings += report_warnings
        return replace(run, warnings=run.warnings + tuple(warnings))


def _pdf_options(pdf, page_size):
    """(PDF engine, paper) for ``pdf``, checked before any work: a missing engine or an unknown paper
    size is a UsageError (exit 2); the names themselves are checked by their endings (.html, .pdf), so
    the report and the PDF are never one file."""
    if pdf is None:
        if page_size is not None:
            raise UsageError("--page-size sets the paper of the PDF report: give --pdf FILE.pdf too")
        return None, None
    from qa.report.pdf import page_size_of, require_pdf_engine

    paper = page_size_of(page_size)
    return require_pdf_engine(), paper


def _identity_warnings(volume: CTVolume) -> tuple[str, ...]:
    """Say so when a scanner is identified by anything weaker than its serial number."""
    scanner = volume.info.scanner
    if scanner.identity_basis == "serial":
        return ()
    which = f"{scanner.manufacturer or 'unknown'} {scanner.model or 'unknown'}"
    if scanner.identity_basis == "model":
        return (f"the images carry no serial number, Device UID, station name or institution: this scanner ({which}) is "
                "identified by manufacturer and model only, so its runs, baseline and trend are shared with every other "
                "such scanner of this model; export the series with its Device Serial Number (0018,1000)",)
    return (f"the images carry no serial number: this scanner ({which}) is identified by its {scanner.identity}; scanners "
            "sharing that name would share runs, baseline and trend (export with the Device Serial Number (0018,1000) to "
            "avoid this)",)


def _baseline(access: StoreAccess, volume: CTVolume, procedure: PhantomProcedure, settings, ring: str) -> tuple[Baseline | None, str]:
    """The scanner's baseline for this configuration (else its latest one, so that a changed
    configuration is reported as such), read without writing anything; and where it came from."""
    if access.store is None:
        return None, access.reason or "no results store"
    store = access.store
    scanner_id = store.find_scanner_id(volume.info.scanner)
    if scanner_id is None:
        return None, f"this scanner has no runs in {store.display_url} yet"
    configuration = configuration_of(volume, procedure, settings, ring)
    baseline = store.active_baseline(scanner_id, configuration.key)
    if baseline is None:
        return None, f"this scanner has no baseline for this configuration in {store.display_url} yet"
    scanner = store.find_scanner(str(scanner_id)).label()
    return baseline, (f"baseline version {baseline.version} of scanner {scanner}, set {baseline.created_at.astimezone():%Y-%m-%d}, "
                      f"in {store.display_url}")
