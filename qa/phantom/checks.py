"""The checks of a phantom run: acquisition against the procedure and the baseline, configuration,
rods, detections, metrics against the physical truth and the baseline, and the verdict's words.

Pure: a run's measurements, the procedure and the baseline in, :class:`~qa.records.checks.Check`
records out.  Every check says what it compared with what, and where the limits came from.
"""

from __future__ import annotations

from typing import Any

from qa.phantom.baseline import Baseline, Configuration
from qa.phantom.limits import verdict_limits
from qa.phantom.procedure import AcquisitionRule, MetricRule
from qa.phantom.result import InsertResult, PhantomAcquisition
from qa.records.checks import FAIL, NOT_AVAILABLE, PASS, WARN, Check, matches
from qa.records.display import display, label_of, said, unit_of
from qa.records.serialize import to_jsonable


def acquisition_check(rule: AcquisitionRule, acquisition: PhantomAcquisition) -> Check:
    check_id = f"acquisition_{rule.key}"
    value = getattr(acquisition, rule.key)
    source = {"rule": f"acquisition.{rule.key}", "severity": rule.severity} | rule.source_dict()
    expected = rule.describe()
    if rule.key == "ring" and value == "unspecified":
        return Check(check_id, NOT_AVAILABLE, None, expected, "the ring the phantom wore cannot be measured from the image and was "
                     "not given (qa phantom --ring none|large)", source)
    if value is None:
        return Check(check_id, NOT_AVAILABLE, None, expected, f"{label_of(rule.key)} is not in the image headers", source)
    ok = _acquisition_matches(rule, value)
    status = PASS if ok else (FAIL if rule.severity == "fail" else WARN)
    wanted = display(expected, unit_of(rule.key)) if isinstance(expected, (int, float, list)) else expected
    message = (
        f"{said(rule.key, value)} as the procedure expects"
        if ok
        else f"{label_of(rule.key)} is {display(value, unit_of(rule.key))}, the procedure expects {wanted}: a protocol change, not drift"
    )
    return Check(check_id, status, value, expected, message, source)


def acquisition_vs_baseline(rule: AcquisitionRule, acquisition: PhantomAcquisition, baseline: Baseline | None) -> Check:
    """A technique setting (CTDIvol, mAs) against the baseline's: a change is a protocol change, not drift."""
    check_id = f"acquisition_{rule.key}_vs_baseline"
    value = getattr(acquisition, rule.key)
    pct = rule.baseline_tolerance_pct
    source = {"rule": f"acquisition.{rule.key}.baseline_tolerance_pct", "tolerance_pct": pct}
    stats = baseline.stats.get(rule.key) if baseline is not None else None
    if stats is None:
        why = "no baseline of this configuration" if baseline is None else f"the baseline holds no {rule.key}"
        # one message for every technique setting, so that the verdict banner lists them under one reason
        return Check(check_id, NOT_AVAILABLE, value, None, f"technique not compared with a baseline: {why}", source)
    if value is None:
        return Check(check_id, NOT_AVAILABLE, None, stats.mean, f"{label_of(rule.key)} is not in the image headers", source)
    unit = unit_of(rule.key)
    low, high = stats.mean * (1 - pct / 100.0), stats.mean * (1 + pct / 100.0)
    source.update(reference_value=stats.mean, baseline_version=baseline.version)
    deviation = 100.0 * (float(value) - stats.mean) / stats.mean if stats.mean else float("inf")
    if low <= float(value) <= high:
        return Check(check_id, PASS, value, [low, high], f"{said(rule.key, value)} as in the baseline ({display(stats.mean, unit)}, {deviation:+.1f} %)",
                     source)
    return Check(
        check_id, FAIL, value, [low, high],
        f"{label_of(rule.key)} is {display(value, unit)}, the baseline's {display(stats.mean, unit)} ({deviation:+.1f} %, more than +-{pct:g} %): the technique "
        "changed, a protocol change, not drift; rescan with the QA protocol (or set a new baseline if the change is intended)",
        source,
    )


def changed_keys(baseline: Baseline | None, configuration: Configuration) -> list[str]:
    """The configuration keys in which a run differs from the baseline (none without a baseline)."""
    if baseline is None:
        return []
    mine, theirs = to_jsonable(configuration), to_jsonable(baseline.configuration)
    return sorted(k for k in set(mine) | set(theirs) if theirs.get(k) != mine.get(k))



def configuration_check(baseline: Baseline | None, configuration: Configuration, changed: list[str], no_baseline: str) -> Check:
    """Is this run comparable with the scanner's baseline (same phantom ring, kV, kernel, thickness, scoring)?"""
    source = {"rule": "baseline.configuration"}
    if baseline is None:
        return Check("configuration", NOT_AVAILABLE, None, None, no_baseline, source)
    source["baseline_version"] = baseline.version
    if not changed:
        return Check("configuration", PASS, "as baseline", "as baseline",
                     f"same acquisition and scoring configuration as baseline version {baseline.version}", source)
    mine, theirs = to_jsonable(configuration), to_jsonable(baseline.configuration)
    listing = ", ".join(f"{k} {_plain(mine.get(k))} (baseline {_plain(theirs.get(k))})" for k in changed)
    source["changed"] = changed
    return Check(
        "configuration", WARN, ", ".join(changed), "as baseline",
        f"configuration change, not drift: {listing}; baseline checks are not available for this run (set a baseline "
        "for the new configuration once it has enough runs)",
        source,
    )


def _plain(value: Any) -> str:
    return "-" if value is None else str(value)


def rod_check(obj) -> Check:
    check_id = f"rod_{obj.id}_found"
    if obj.found:
        return Check(check_id, PASS, "found", "found", f"{obj.id} rod found ({obj.contrast_hu:+.0f} HU against the insert)",
                     {"rule": "calibration.rods"})
    return Check(check_id, FAIL, "not found", "found",
                 f"the {obj.id} rod was not seen at its place: no mass calibration, masses and c_HA are not available",
                 {"rule": "calibration.rods"})


def _acquisition_matches(rule: AcquisitionRule, value: Any) -> bool:
    if rule.range is not None:
        try:
            return rule.range[0] <= float(value) <= rule.range[1]
        except (TypeError, ValueError):
            return False
    options = list(rule.allowed) if rule.allowed is not None else [rule.expected]
    return matches(value, options, tolerance=rule.tolerance, match=rule.match)


def detection_check(insert_id: str, inserts: list[InsertResult], severity: str) -> Check:
    insert = next(i for i in inserts if i.id == insert_id)
    if insert.detected:
        return Check(f"detected_{insert_id}", PASS, "detected", "detected", f"insert {insert_id} detected ({insert.n_lesions} lesion(s))",
                     {"rule": "detection.required"})
    return Check(
        f"detected_{insert_id}", FAIL if severity == "fail" else WARN, "not detected", "detected",
        f"insert {insert_id} was not detected: no lesion >= the threshold within it", {"rule": "detection.required"},
    )


def baseline_usable(baseline: Baseline | None, changed: list[str], deviations: list[str], technique_changes: list[str],
                    no_baseline: str) -> tuple[bool, str]:
    if deviations:
        return False, "the acquisition deviates from the procedure: not compared with the baseline"
    if technique_changes:
        return False, "the technique differs from the baseline's: not compared with the baseline"
    if baseline is None:
        return False, no_baseline
    if changed:
        return False, f"the configuration differs from the baseline's ({', '.join(changed)})"
    return True, ""


def metric_check(rule: MetricRule, metrics, inserts, baseline, reason, tightened, tighten_sd) -> Check:
    key = rule.metric_key
    value = metrics.get(key)
    source: dict[str, Any] = {"rule": rule.id, "reference": rule.reference, "metric": key}
    if rule.reference == "physical":
        insert = next(i for i in inserts if i.id == rule.insert)
        reference = insert.physical_mass_mg if rule.metric == "mass_mg" else insert.physical_volume_mm3
        source["reference_value"] = reference
    else:
        if baseline is None:
            return Check(rule.id, NOT_AVAILABLE, value, None, reason, source)
        stats = baseline.stats.get(key)
        if stats is None:
            return Check(rule.id, NOT_AVAILABLE, value, None, f"the baseline holds no value for {key}", source)
        reference = stats.mean
        source.update(reference_value=reference, baseline_version=baseline.version, baseline_n=stats.n, baseline_sd=stats.sd)
    if value is None:
        return Check(rule.id, NOT_AVAILABLE, None, None, f"{key} was not measured (insert not detected or no calibration)", source)
    limits = verdict_limits(rule, reference, stats.sd if rule.reference == "baseline" else None, tightened=tightened,
                            tighten_sd=tighten_sd)
    low_t, high_t = limits.tolerance
    low_a, high_a = limits.action
    if tightened and rule.reference == "baseline" and stats.sd > 0:
        source["tightened_to_sd"] = True
    source.update(tolerance=[low_t, high_t], action=[low_a, high_a])
    deviation = value - reference
    pct = 100.0 * deviation / reference if reference else float("nan")
    described = f"{value:.4g} vs {rule.reference} {reference:.4g} ({deviation:+.3g}, {pct:+.1f} %)"
    if low_t <= value <= high_t:
        return Check(rule.id, PASS, value, [low_t, high_t], f"{key} {described}: within tolerance", source)
    if low_a <= value <= high_a:
        return Check(rule.id, WARN, value, [low_t, high_t], f"{key} {described}: beyond tolerance, within action level", source)
    return Check(rule.id, FAIL, value, [low_t, high_t], f"{key} {described}: beyond the action level [{low_a:.4g}, {high_a:.4g}]", source)


def verdict_message(final, checks, deviations: list[str], technique_changes: list[str], baseline, usable, reason) -> str:
    failed = [c.id for c in checks if c.status == FAIL]
    warned = [c.id for c in checks if c.status == WARN]
    parts = []
    if deviations:
        parts.append("PROTOCOL CHANGE: the scan was not acquired as the procedure expects")
    if technique_changes:
        version = f" v{baseline.version}" if baseline is not None else ""
        names = [k.removeprefix("acquisition_").removesuffix("_vs_baseline") for k in technique_changes]
        parts.append(f"TECHNIQUE CHANGE: {' and '.join(names)} {'differs' if len(names) == 1 else 'differ'} from "
                     f"baseline{version} (a protocol change, not drift)")
    not_run = any(c.status == NOT_AVAILABLE for c in checks)
    if final == FAIL:
        parts.append(f"FAIL: {', '.join(failed)}")
    elif final == WARN:
        # with checks not run, a warning is no "pass with warnings"
        parts.append(f"WARN: {', '.join(warned)}" if not_run else f"PASS with warnings: {', '.join(warned)}")
    else:
        parts.append("INCOMPLETE" if not_run else "PASS")
    if not usable:
        parts.append(f"baseline checks not available ({reason})")
    return "; ".join(parts)
