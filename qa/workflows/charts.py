"""Control charts of a scanner's stored phantom runs (``qa trend``): which runs, which limits, which flags.

The charted runs are those of one configuration (the active baseline's; without one, that of the
latest run that followed the protocol) that followed the protocol: a protocol deviation or a run
in another configuration is listed as not charted, never shown as drift.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from qa.control_charts import (
    FLAG_MEANINGS,
    MetricChart,
    MonthSummary,
    metric_chart,
    monthly_summary,
)
from qa.errors import DefinitionError, UsageError
from qa.phantom.baseline import Baseline, Configuration
from qa.phantom.definition import DEFAULT_CHART_METRICS_GLOBAL, PhantomDefinition
from qa.phantom.limits import baseline_verdict_limits, scale_band
from qa.phantom.metrics import default_chart_metrics, metric_name
from qa.phantom.procedure import PhantomProcedure
from qa.records.serialize import Record
from qa.store import RunRow, ScannerRow
from qa.workflows.common import READ, open_store


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
    min_sd_pct: float | None = None  # the procedure's floor of the chart SD (% of the baseline mean)
    baseline_min_runs: int | None = None  # the procedure's minimum number of runs for a baseline (the hint asks for it)
    flag_meanings: dict[str, str] = field(default_factory=lambda: dict(FLAG_MEANINGS))  # what each flag of a run means
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
            return ScannerCharts(row, 0, None, None, NotCharted((), ()), {}, (), min_sd_pct=proc.min_sd_pct,
                                 baseline_min_runs=proc.baseline_min_runs)
        baseline = store.active_baseline(row.id)
        followed = [r for r in runs if r.protocol_ok]
        config_key = baseline.configuration.key if baseline is not None else (followed or runs)[-1].configuration_key
    configuration = Configuration.from_mapping(json.loads(config_key))
    current = [r for r in runs if r.configuration_key == config_key and r.protocol_ok]
    not_charted = NotCharted(tuple(r.id for r in runs if not r.protocol_ok),
                             tuple(r.id for r in runs if r.protocol_ok and r.configuration_key != config_key))
    notes: list[str] = []
    known = sorted({k for r in runs for k in r.metrics})
    if metric and metric not in known:
        raise UsageError(f"no stored run of {row.label()} has a metric {metric!r}",
                         hint=f"choose one of {', '.join(known)} (or leave --metric out for the phantom's chart metrics)")
    definition, note = _definition(configuration.phantom, given)
    notes += [note] if note and not metric else []
    metrics = (metric,) if metric else (default_chart_metrics(definition) if definition else DEFAULT_CHART_METRICS_GLOBAL)
    charts = metric_charts(current, metrics, baseline, proc, definition)
    months = monthly_summary([_month(r.acquired_at or r.analysed_at) for r in current], [r.verdict for r in current],
                             {m: [r.metrics.get(m) for r in current] for m in metrics})
    written = None
    if plot is not None:
        from qa.report.plots import trend_figure_png, write_whole

        label = f"{row.station_name or '?'} ({row.manufacturer} {row.model}, serial {row.serial or '?'})"
        written = write_whole(plot, trend_figure_png(charts, scanner=label, baseline_version=baseline.version if baseline else None))
    return ScannerCharts(row, len(runs), baseline.version if baseline else None, configuration, not_charted, charts, tuple(months),
                         written, tuple(notes), proc.min_sd_pct, baseline_min_runs=proc.baseline_min_runs, charted=tuple(current))


def metric_charts(runs: Sequence[RunRow], metrics: Sequence[str], baseline: Baseline | None, procedure: PhantomProcedure,
                  definition: PhantomDefinition | None) -> dict[str, MetricChart]:
    """The control chart of each metric over ``runs`` (stored, in order) against ``baseline`` (of
    their configuration, or None): statistical limits with the procedure's SD floor, and the
    tolerance and action limits the procedure's checks judge a run by (what ``qa trend`` lists and
    every chart figure draws)."""
    limits = baseline_verdict_limits(procedure, baseline)
    charts = {}
    for m in metrics:
        stats = baseline.stats.get(m) if baseline is not None else None
        name, unit = metric_name(m, definition)
        band = None if m in limits else scale_band(procedure, m, [r.metrics.get(m) for r in runs])  # no limits: a y-axis span
        charts[m] = metric_chart([(r.id, r.acquired_at or r.analysed_at, r.metrics.get(m), r.verdict) for r in runs],
                                 (stats.mean, stats.sd, stats.n) if stats else None, min_sd_pct=procedure.min_sd_pct,
                                 name=name, unit=unit, verdict_limits=limits.get(m), scale_band=band)
    return charts


def _definition(phantom_id: str, given=None) -> tuple[PhantomDefinition | None, str | None]:
    """The phantom definition of the charted runs (None, with a note, when it is not a built-in one)."""
    from qa.procedures import load_phantom

    if given is not None and given.id == phantom_id:
        return given, None
    try:
        return load_phantom(phantom_id), None
    except DefinitionError:
        return None, (f"the phantom {phantom_id!r} of these runs is not a built-in definition: "
                      "the whole-phantom metrics are charted (--metric charts another)")


def _month(when: dt.datetime) -> str:
    """The calendar month (YYYY-MM) of a stored (aware) time, on the site's wall clock."""
    return when.astimezone().strftime("%Y-%m")
