"""Reports of workflow results: the daily phantom-QA report (HTML, PDF) with the scanner's control charts."""

from __future__ import annotations

import os
from dataclasses import replace

from qa.phantom.metrics import default_chart_metrics
from qa.workflows.charts import metric_charts
from qa.workflows.common import StoreAccess


def write_phantom_reports(run, access: StoreAccess, *, html: str | os.PathLike | None = None, pdf: str | os.PathLike | None = None,
                          page_size: str | None = None, engine=None):
    """Write ``run``'s HTML report to ``html`` and its PDF (printed on ``page_size`` paper by
    ``engine``, :func:`qa.report.pdf.require_pdf_engine`) to ``pdf``; (the run with the files
    written, warnings).  The run stands when a report cannot be written: the reason becomes a
    warning, and no part of that file is left (qa.outputs)."""
    from qa.report.phantom import phantom_report_html, report_images
    from qa.report.plots import write_whole

    result = run.result
    runs, baseline = [], None
    store = access.store
    if store is not None:
        scanner_id = store.find_scanner_id(result.scanner)
        if scanner_id is not None:
            runs = store.phantom_runs(scanner_id, configuration_key=result.configuration.key, protocol_ok_only=True)
    if result.baseline is not None and result.baseline.configuration == result.configuration:
        baseline = result.baseline
    warnings: list[str] = []
    try:
        charts = (metric_charts(runs, default_chart_metrics(run.definition), baseline, run.procedure_definition, run.definition)
                  if runs else None)
        s = result.scanner
        scanner_label = f"{s.station_name or '?'} ({s.manufacturer} {s.model}, serial {s.device_serial_number or '?'})"
        images = report_images(result, run.volume, run.definition, charts=charts, scanner=scanner_label,
                               baseline_version=baseline.version if baseline is not None else None)
    except Exception as exc:  # noqa: BLE001 - a bug in a picture must not contradict the stored run
        return run, [f"the report {path} could not be written: internal error ({type(exc).__name__}: {exc}); please report it"
                     for path in (html, pdf) if path is not None]
    document = run.to_dict()
    if html is not None:
        written = _written(html, warnings, lambda: write_whole(html, phantom_report_html(document, *images)))
        run = replace(run, report=written)
    if pdf is not None:
        from qa.report.pdf import write_pdf

        written = _written(pdf, warnings, lambda: write_pdf(pdf, phantom_report_html(document, *images, page_size=page_size), engine))
        run = replace(run, pdf=written)
    return run, warnings


def _written(path, warnings: list[str], write) -> str | None:
    try:
        return write()
    except OSError as exc:
        warnings.append(f"the report {path} could not be written: {exc}")
    except Exception as exc:  # noqa: BLE001 - a bug in the report must not contradict the stored run
        warnings.append(f"the report {path} could not be written: internal error ({type(exc).__name__}: {exc}); please report it")
    return None
