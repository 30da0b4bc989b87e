"""Reports of workflow results: the daily phantom-QA report with the scanner's control charts."""

from __future__ import annotations

import os

from qa.phantom.metrics import default_chart_metrics
from qa.workflows.charts import metric_charts
from qa.workflows.common import StoreAccess


def write_phantom_report(run, path: str | os.PathLike, access: StoreAccess) -> str:
    """Write ``run``'s HTML report to ``path``, with the stored runs of its configuration (protocol
    followed) charted against the baseline when that baseline is of the same configuration, and
    against the limits the procedure's checks use (as ``qa trend`` charts them)."""
    from qa.report.phantom import write_phantom_report as write

    result = run.result
    runs, baseline = [], None
    store = access.store
    if store is not None:
        scanner_id = store.find_scanner_id(result.scanner)
        if scanner_id is not None:
            runs = store.phantom_runs(scanner_id, configuration_key=result.configuration.key, protocol_ok_only=True)
    if result.baseline is not None and result.baseline.configuration == result.configuration:
        baseline = result.baseline
    charts = (metric_charts(runs, default_chart_metrics(run.definition), baseline, run.procedure_definition, run.definition)
              if runs else None)
    s = result.scanner
    scanner_label = f"{s.station_name or '?'} ({s.manufacturer} {s.model}, serial {s.device_serial_number or '?'})"
    return write(path, run.to_dict(), result, run.volume, run.definition, charts=charts, scanner=scanner_label,
                 baseline_version=baseline.version if baseline is not None else None)
