"""Control charts of a scanner's stored phantom runs (``qa trend``): which runs, which limits, which flags.

The charted runs are those of one configuration (the active baseline's; without one, that of the
latest run that followed the protocol) that followed the protocol: a protocol deviation or a run
in another configuration is listed as not charted, never shown as drift.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field

from qa.control_charts import MonthSummary, chart_sd, control_chart, monthly_summary
from qa.errors import DefinitionError, UsageError
from qa.phantom.analysis import Configuration
from qa.phantom.definition import DEFAULT_CHART_METRICS_GLOBAL
from qa.phantom.metrics import default_chart_metrics
from qa.records.serialize import Record
from qa.store import RunRow, ScannerRow
from qa.workflows.common import READ, open_store


@dataclass(frozen=True)
class ChartBaseline(Record):
    mean: float
    sd: float
    n: int
    chart_sd: float  # the SD the limits use: the baseline's, floored at the procedure's min_sd_pct of the mean


@dataclass(frozen=True)
class ChartRun(Record):
    run_id: int
    acquired_at: dt.datetime  # of the acquisition (else of the analysis), aware
    value: float | None
    z: float | None
    flags: tuple[str, ...]
    verdict: str


@dataclass(frozen=True)
class MetricChart(Record):
    baseline: ChartBaseline | None
    runs: tuple[ChartRun, ...]


@dataclass(frozen=True)
class NotCharted(Record):
    protocol_deviation: tuple[int, ...]
    other_configuration: tuple[int, ...]


@dataclass(frozen=True)
class ScannerCharts(Record):
    """The ``qa.trend/1`` document."""

    scanner: ScannerRow
    n_runs: int
    baseline_version: int | None
    configuration: Configuration | None
    not_charted: NotCharted
    metrics: dict[str, MetricChart]
    months: tuple[MonthSummary, ...]
    plot: str | None = None
    notes: tuple[str, ...] = ()
    charted: tuple[RunRow, ...] = field(default=(), repr=False, metadata={"json": False})  # the stored runs charted


def scanner_control_charts(*, scanner: str, metric: str | None = None, procedure: str = "daily-phantom-qa",
                           phantom: str | None = None, db: str | None = None,
                           plot: str | os.PathLike | None = None) -> ScannerCharts:
    """Control charts of ``scanner``'s stored runs (nothing is written to the store).

    ``metric``: one metric id (default: the phantom definition's chart metrics).  ``plot``: write
    the charts as a PNG there."""
    from qa.procedures import load_phantom, load_procedure

    given = load_phantom(phantom) if phantom is not None else None  # a site's own phantom, named by its procedure
    proc = load_procedure(procedure, phantom=given)
    if plot is not None:
        from qa.workflows.output_targets import check_output_file

        check_output_file(plot, "--plot", "png")  # before the store is read
    with open_store(db, mode=READ) as access:
        if access.store is None:
            raise UsageError(f"no results store to read: {access.reason}", hint="run qa phantom first, or give --db")
        store = access.store
        row = store.find_scanner(scanner)
        runs = store.phantom_runs(row.id)
        if not runs:
            return ScannerCharts(row, 0, None, None, NotCharted((), ()), {}, ())
        baseline = store.active_baseline(row.id)
        followed = [r for r in runs if r.protocol_ok]
        config_key = baseline.configuration.key if baseline is not None else (followed or runs)[-1].configuration_key
    configuration = Configuration.from_mapping(json.loads(config_key))
    current = [r for r in runs if r.configuration_key == config_key and r.protocol_ok]
    not_charted = NotCharted(tuple(r.id for r in runs if not r.protocol_ok),
                             tuple(r.id for r in runs if r.protocol_ok and r.configuration_key != config_key))
    notes = []
    known = sorted({k for r in runs for k in r.metrics})
    if metric and metric not in known:
        raise UsageError(f"no stored run of {row.label()} has a metric {metric!r}",
                         hint=f"choose one of {', '.join(known)} (or leave --metric out for the phantom's chart metrics)")
    if metric:
        metrics = (metric,)
    else:
        metrics, note = _chart_metrics(configuration.phantom, given)
        notes += [note] if note else []
    charts = {}
    for m in metrics:
        values = [r.metrics.get(m) for r in current]
        stats = baseline.stats.get(m) if baseline else None
        sd = chart_sd(stats.mean, stats.sd, proc.min_sd_pct) if stats else None
        points = control_chart(values, stats.mean, sd) if stats and sd > 0 else None
        charts[m] = MetricChart(
            ChartBaseline(stats.mean, stats.sd, stats.n, sd) if stats else None,
            tuple(ChartRun(r.id, r.acquired_at or r.analysed_at, v, p.z if p else None, tuple(p.flags) if p else (), r.verdict)
                  for r, v, p in zip(current, values, points or [None] * len(current))),
        )
    months = monthly_summary([_month(r.acquired_at or r.analysed_at) for r in current], [r.verdict for r in current],
                             {m: [r.metrics.get(m) for r in current] for m in metrics})
    written = None
    if plot is not None:
        from qa.report.plots import trend_figure_png, write_whole

        written = write_whole(plot, trend_figure_png(current, list(metrics), baseline, min_sd_pct=proc.min_sd_pct))
    return ScannerCharts(row, len(runs), baseline.version if baseline else None, configuration, not_charted, charts, tuple(months),
                         written, tuple(notes), tuple(current))


def _chart_metrics(phantom_id: str, given=None) -> tuple[tuple[str, ...], str | None]:
    from qa.procedures import load_phantom

    if given is not None and given.id == phantom_id:
        return default_chart_metrics(given), None
    try:
        return default_chart_metrics(load_phantom(phantom_id)), None
    except DefinitionError:
        return DEFAULT_CHART_METRICS_GLOBAL, (f"the phantom {phantom_id!r} of these runs is not a built-in definition: "
                                              "the whole-phantom metrics are charted (--metric charts another)")


def _month(when: dt.datetime) -> str:
    """The calendar month (YYYY-MM) of a stored (aware) time, on the site's wall clock."""
    return when.astimezone().strftime("%Y-%m")
