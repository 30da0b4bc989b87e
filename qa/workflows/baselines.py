"""A scanner's phantom-QA baselines: set a new version from its latest runs, show the history."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace

from qa.errors import UsageError
from qa.phantom.analysis import Baseline, Configuration, baseline_from_results
from qa.phantom.metrics import summary_metrics
from qa.phantom.ring import RINGS
from qa.records.serialize import Record
from qa.store import ScannerRow
from qa.store.phantom_runs import RunRow
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
    baseline_min_runs: int  # the procedure's minimum number of runs for a baseline (the hint asks for it)


@dataclass(frozen=True)
class RunChoice(Record):
    """A stored run as ``qa baseline set`` saw it: selected (``why`` None) or left out, and why."""

    run_id: int
    acquired_at: dt.datetime | None
    configuration: str  # Configuration.describe()
    why: str | None = None


@dataclass(frozen=True)
class BaselineChange(Record):
    """A baseline just set (the ``qa.baseline/1`` document of ``qa baseline set``)."""

    scanner: ScannerRow
    version: int
    baseline: Baseline
    database: str
    chart_metrics: tuple[str, ...] = ()  # what the control charts follow (the phantom definition's choice)
    configuration_text: str = ""  # the baseline's configuration, for people (Configuration.describe)
    selected: tuple[RunChoice, ...] = ()  # the runs it was computed from
    left_out: tuple[RunChoice, ...] = ()  # the scanner's other runs, each with the reason

    @property
    def shown_metrics(self) -> list[str]:
        """The metrics a summary of the new baseline shows: the chart metrics, else the summary ones."""
        return [m for m in self.chart_metrics if m in self.baseline.stats] or summary_metrics(self.baseline.stats)


def show_baselines(*, scanner: str, db: str | None = None, procedure: str = "daily-phantom-qa",
                   phantom: str | None = None) -> BaselineHistory:
    """The baseline history of ``scanner`` (id, station name or serial number), with ``procedure``'s
    minimum number of runs for a baseline (what a hint to set one asks for); nothing is written."""
    from qa.procedures import load_phantom, load_procedure

    proc = load_procedure(procedure, phantom=load_phantom(phantom) if phantom is not None else None)
    with open_store(db, mode=READ) as access:
        if access.store is None:
            raise UsageError(f"no results store to read: {access.reason}", hint="run qa phantom first, or give --db")
        row = access.store.find_scanner(scanner)
        versions = tuple(BaselineVersion(b, active, by, reason) for b, active, by, reason in access.store.baselines(row.id))
        return BaselineHistory(row, versions, proc.baseline_min_runs)


# The audit trail's "why": one line (shown in qa baseline show, never able to start a line of its own).
_MAX_REASON_CHARS = 500


def set_baseline(*, scanner: str, from_last: int | None = None, reason: str | None = None, include_failed: bool = False,
                 procedure: str = "daily-phantom-qa", phantom: str | None = None, ring: str | None = None,
                 like_run: int | None = None, db: str | None = None) -> BaselineChange:
    """A new baseline version for ``scanner`` from its last ``from_last`` runs (default: the
    procedure's minimum) of one configuration that followed the protocol (audited: who, when, why).

    The configuration is that of the scanner's latest such run; ``ring`` (``none``, ``large``)
    picks the latest run wearing that ring instead, ``like_run`` the configuration of that run.
    The change lists the runs selected and those left out (another configuration, a protocol
    deviation).  Refused with fewer runs than the procedure's minimum (or ``from_last``), the hint
    naming a command that works; and (unless ``include_failed``) when a selected run failed."""
    from qa.procedures import load_phantom, load_procedure

    if reason is not None and (len(reason) > _MAX_REASON_CHARS or not reason.isprintable()):
        raise UsageError(f"--reason must be one line of at most {_MAX_REASON_CHARS} printable characters (it is kept in the "
                         "audit trail and shown on one line)", hint="write the reason on one line, without control characters")
    if ring is not None and like_run is not None:
        raise UsageError("give --ring or --like-run, not both", hint="--like-run picks a configuration in full, the ring included")
    if ring is not None and ring not in RINGS:
        raise UsageError(f"--ring must be one of {', '.join(RINGS)}, got {ring!r}")
    given = load_phantom(phantom) if phantom is not None else None  # a site's own phantom, named by its procedure
    proc = load_procedure(procedure, phantom=given)
    if from_last is None:  # the procedure's minimum
        from_last = proc.baseline_min_runs
    if from_last < proc.baseline_min_runs:
        raise UsageError(f"a baseline needs at least {proc.baseline_min_runs} runs (procedure {proc.id}); got --from-last {from_last}",
                         hint=f"use --from-last {proc.baseline_min_runs} or more")
    with open_store(db, mode=WRITE) as access:
        if access.store is None:
            raise UsageError(f"no results store to read: {access.reason}", hint="run qa phantom first, or give --db")
        store = access.store
        row = store.find_scanner(scanner)
        runs = store.phantom_runs(row.id)
        usable = [r for r in runs if r.protocol_ok]
        if not usable:
            deviations = f" ({len(runs)} deviated from the protocol)" if runs else ""
            raise UsageError(f"no usable runs stored for {row.label()}{deviations}",
                             hint="run qa phantom on this scanner's phantom scans (acquired as the procedure expects) first")
        target = _target_run(usable, runs, row, ring, like_run)
        config_key = target.configuration_key
        config = Configuration.from_mapping(json.loads(config_key))
        same = [r for r in usable if r.configuration_key == config_key]
        if len(same) < from_last:
            error = _too_few(row, proc, usable, same, config, from_last, ring, like_run, set_command(scanner, db, procedure, phantom))
            if "***" in (error.hint or "") and db is not None and "***" not in db:
                error.hint += " (with your password in place of ***)"
            raise error
        chosen = same[-from_last:]
        failed = [r.id for r in chosen if r.verdict == "fail"]
        if failed and not include_failed:
            raise UsageError(f"runs {failed} among the last {from_last} failed their checks",
                             hint="investigate them first, or pass --include-failed to use them anyway")
        baseline = baseline_from_results([r.metrics for r in chosen], row.key, config, 0, now(), tuple(r.id for r in chosen))
        version = store.set_baseline(row.id, baseline, reason=reason)
        from dataclasses import replace

        selected, left_out = _listing(runs, chosen, config)
        return BaselineChange(row, version, replace(baseline, version=version), store.display_url,
                              _chart_metrics(baseline.configuration.phantom, given), config.describe(), selected, left_out)


def _target_run(usable: list[RunRow], runs: list[RunRow], row: ScannerRow, ring: str | None, like_run: int | None) -> RunRow:
    """The run whose configuration the baseline takes (see :func:`set_baseline`)."""
    if like_run is not None:
        match = next((r for r in runs if r.id == like_run), None)
        if match is None:
            raise UsageError(f"run #{like_run} is not a stored run of {row.label()}", hint=f"see qa trend --scanner {row.id}")
        if not match.protocol_ok:
            raise UsageError(f"run #{like_run} deviated from the protocol: its configuration is not one to set a baseline for",
                             hint="pick a run acquired as the procedure expects")
        return match
    if ring is not None:
        match = next((r for r in reversed(usable) if _config(r).ring == ring), None)
        if match is None:
            found = sorted({_config(r).ring for r in usable})
            raise UsageError(f"no usable run of {row.label()} has the ring {ring} (their rings: {', '.join(found)})",
                             hint=f"run qa phantom on scans of the phantom with the {ring} ring, or give another --ring")
        return match
    return usable[-1]


def _config(run: RunRow) -> Configuration:
    return Configuration.from_mapping(json.loads(run.configuration_key))


def set_command(scanner: str, db: str | None, procedure: str = "daily-phantom-qa", phantom: str | None = None) -> str:
    """``qa baseline set`` for ``scanner`` as the user named it, with the ``--db`` they gave (a
    password shown as ***, never in clear) and the procedure (and phantom) they gave when not the
    default one (whose minimum number of runs the hint asks for), quoted for a POSIX shell: a hint
    one can paste."""
    import shlex

    words = ["qa", "baseline", "set", "--scanner", shlex.quote(scanner)]
    if procedure != "daily-phantom-qa":
        words += ["--procedure", shlex.quote(str(procedure))]
    if phantom is not None:
        words += ["--phantom", shlex.quote(str(phantom))]
    if db is not None:
        from qa.store.engine import display_url

        shown = display_url(db)
        words += ["--db", shlex.quote(shown)]  # a password is never printed in clear: shown as ***
    return " ".join(words)


def _too_few(row: ScannerRow, proc, usable: list[RunRow], same: list[RunRow], config: Configuration, from_last: int,
             ring: str | None, like_run: int | None, base: str) -> UsageError:
    """Too few runs in the chosen configuration: say which exist, and name a command that works
    (``base``: ``qa baseline set`` with the scanner and store the user gave, :func:`set_command`)."""
    chosen_by = f" --ring {ring}" if ring else f" --like-run {like_run}" if like_run is not None else ""
    others: dict[str, list[RunRow]] = {}
    for r in usable:
        if r.configuration_key != same[-1].configuration_key:
            others.setdefault(r.configuration_key, []).append(r)
    listing = "; ".join(f"{len(rs)} of {_config(rs[-1]).describe()}" for rs in sorted(others.values(), key=lambda rs: -rs[-1].id))
    message = (f"only {len(same)} usable run(s) of {row.label()} have the configuration {config.describe()}; {from_last} are needed"
               + (f" (other configurations: {listing})" if listing else ""))
    if len(same) >= proc.baseline_min_runs:
        return UsageError(message, hint=f"use the {len(same)} there are: {base}{chosen_by} --from-last {len(same)}")
    enough = [rs for rs in others.values() if len(rs) >= proc.baseline_min_runs]
    if enough:
        best = max(enough, key=lambda rs: usable.index(rs[-1]))  # the most recent configuration with enough runs
        wanted = _config(best[-1])
        # --ring picks the latest run with that ring: it names this configuration when that run is of it
        latest_with_ring = next(r for r in reversed(usable) if _config(r).ring == wanted.ring)
        pick = (f" --ring {wanted.ring}" if wanted.ring in RINGS and latest_with_ring.configuration_key == best[-1].configuration_key
                else f" --like-run {best[-1].id}")
        return UsageError(message, hint=f"acquire {proc.baseline_min_runs - len(same)} more run(s) in this configuration, or set the "
                                        f"baseline of {wanted.describe()}: {base}{pick} --from-last {min(len(best), from_last)}")
    return UsageError(message, hint=f"acquire {proc.baseline_min_runs - len(same)} more daily run(s) in this configuration "
                                    f"(the procedure's minimum is {proc.baseline_min_runs}), then: {base}{chosen_by} "
                                    f"--from-last {proc.baseline_min_runs}")


def _listing(runs: list[RunRow], chosen: list[RunRow], config: Configuration) -> tuple[tuple[RunChoice, ...], tuple[RunChoice, ...]]:
    """The runs selected, and those left out with the reason (another configuration, a protocol deviation)."""
    chosen_ids = {r.id for r in chosen}
    selected, left_out = [], []
    for r in runs:
        theirs = _config(r)
        choice = RunChoice(r.id, r.acquired_at, theirs.describe(), None)
        if r.id in chosen_ids:
            selected.append(choice)
        elif r.configuration_key != chosen[-1].configuration_key:
            left_out.append(replace(choice, why=f"another configuration: {', '.join(theirs.differences(config))}"))
        elif not r.protocol_ok:
            left_out.append(replace(choice, why="deviated from the protocol"))
        else:  # the same configuration, before the last runs
            left_out.append(replace(choice, why="older than the runs selected"))
    return tuple(selected), tuple(left_out)


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
