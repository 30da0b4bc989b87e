"""A scanner's phantom-QA baselines: set a new version from its latest runs, show the history."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from qa.errors import UsageError
from qa.phantom.analysis import Baseline, Configuration, baseline_from_results
from qa.phantom.metrics import summary_metrics
from qa.records.serialize import Record
from qa.store import ScannerRow
from qa.workflows.common import READ, WRITE, now, open_store


@dataclass(frozen=True)
class BaselineVersion(Record):
    """One version of a scanner's baseline, with whether it is active and who set it why."""

    baseline: Baseline = field(metadata={"flatten": True})
    active: bool
    created_by: str
    reason: str | None

    @property
    def summary_metrics(self) -> list[str]:
        """The metrics a summary of this version shows (:func:`qa.phantom.metrics.summary_metrics`)."""
        return summary_metrics(self.baseline.stats)


@dataclass(frozen=True)
class BaselineHistory(Record):
    """Every baseline version of a scanner (the ``qa.baseline/1`` document of ``qa baseline show``)."""

    scanner: ScannerRow
    baselines: tuple[BaselineVersion, ...]


@dataclass(frozen=True)
class BaselineChange(Record):
    """A baseline just set (the ``qa.baseline/1`` document of ``qa baseline set``)."""

    scanner: ScannerRow
    version: int
    baseline: Baseline
    database: str
    chart_metrics: tuple[str, ...] = ()  # what the control charts follow (the phantom definition's choice)

    @property
    def shown_metrics(self) -> list[str]:
        """The metrics a summary of the new baseline shows: the chart metrics, else the summary ones."""
        return [m for m in self.chart_metrics if m in self.baseline.stats] or summary_metrics(self.baseline.stats)


def show_baselines(*, scanner: str, db: str | None = None) -> BaselineHistory:
    """The baseline history of ``scanner`` (id, station name or serial number); nothing is written."""
    with open_store(db, mode=READ) as access:
        if access.store is None:
            raise UsageError(f"no results store to read: {access.reason}", hint="run qa phantom first, or give --db")
        row = access.store.find_scanner(scanner)
        versions = tuple(BaselineVersion(b, active, by, reason) for b, active, by, reason in access.store.baselines(row.id))
        return BaselineHistory(row, versions)


# The audit trail's "why": one line (shown in qa baseline show, never able to start a line of its own).
_MAX_REASON_CHARS = 500


def set_baseline(*, scanner: str, from_last: int, reason: str | None = None, include_failed: bool = False,
                 procedure: str = "daily-phantom-qa", phantom: str | None = None, db: str | None = None) -> BaselineChange:
    """A new baseline version for ``scanner`` from its last ``from_last`` runs that followed the
    protocol in its latest configuration (audited: who, when, why).  Refused with fewer runs than
    the procedure's minimum, and (unless ``include_failed``) when one of them failed its checks."""
    from qa.procedures import load_phantom, load_procedure

    if reason is not None and (len(reason) > _MAX_REASON_CHARS or not reason.isprintable()):
        raise UsageError(f"--reason must be one line of at most {_MAX_REASON_CHARS} printable characters (it is kept in the "
                         "audit trail and shown on one line)", hint="write the reason on one line, without control characters")
    given = load_phantom(phantom) if phantom is not None else None  # a site's own phantom, named by its procedure
    proc = load_procedure(procedure, phantom=given)
    if from_last < proc.baseline_min_runs:
        raise UsageError(f"a baseline needs at least {proc.baseline_min_runs} runs (procedure {proc.id}); got --from-last {from_last}",
                         hint=f"use --from-last {proc.baseline_min_runs} or more")
    with open_store(db, mode=WRITE) as access:
        if access.store is None:
            raise UsageError(f"no results store to read: {access.reason}", hint="run qa phantom first, or give --db")
        store = access.store
        row = store.find_scanner(scanner)
        runs = store.phantom_runs(row.id, protocol_ok_only=True)
        if not runs:
            raise UsageError(f"no usable runs stored for {row.label()}", hint="run qa phantom on this scanner's phantom scans first")
        config_key = runs[-1].configuration_key
        same = [r for r in runs if r.configuration_key == config_key]
        if len(same) < from_last:
            raise UsageError(
                f"only {len(same)} run(s) of {row.label()} share the latest acquisition configuration; {from_last} are needed",
                hint="acquire more daily runs, or use a smaller --from-last (at least the procedure's minimum)",
            )
        chosen = same[-from_last:]
        failed = [r.id for r in chosen if r.verdict == "fail"]
        if failed and not include_failed:
            raise UsageError(f"runs {failed} among the last {from_last} failed their checks",
                             hint="investigate them first, or pass --include-failed to use them anyway")
        baseline = baseline_from_results([r.metrics for r in chosen], row.key, Configuration.from_mapping(json.loads(config_key)), 0,
                                         now(), tuple(r.id for r in chosen))
        version = store.set_baseline(row.id, baseline, reason=reason)
        from dataclasses import replace

        return BaselineChange(row, version, replace(baseline, version=version), store.display_url,
                              _chart_metrics(baseline.configuration.phantom, given))


def _chart_metrics(phantom_id: str, given=None) -> tuple[str, ...]:
    from qa.errors import DefinitionError
    from qa.phantom.metrics import default_chart_metrics
    from qa.procedures import load_phantom

    if given is not None and given.id == phantom_id:
        return default_chart_metrics(given)
    try:
        return default_chart_metrics(load_phantom(phantom_id))
    except DefinitionError:  # a site's own phantom, not a built-in: no chart metrics to name
        return ()
