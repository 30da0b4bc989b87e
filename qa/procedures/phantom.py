"""Phantom-QA procedures (``kind = "phantom-qa"``): expected acquisition, detections, metric checks."""

from __future__ import annotations

from pathlib import Path

from qa.errors import DefinitionError
from qa.phantom.metrics import GLOBAL_METRICS, INSERT_METRICS
from qa.phantom.procedure import ACQUISITION_KEYS, AcquisitionRule, MetricRule, PhantomProcedure
from qa.procedures.common import _Reader, read_definition
from qa.procedures.builtin import builtin_dir

def available_procedures() -> list[str]:
    """Built-in phantom-QA procedures (exam protocols are cac-*, dose tables dose-*)."""
    return sorted(p.stem for p in builtin_dir("procedures").glob("*.toml") if not p.stem.startswith(("cac-", "dose-")))


def load_procedure(name_or_path: str | Path = "daily-phantom-qa") -> PhantomProcedure:
    """Load a built-in procedure by id or a procedure file by path."""
    data, path, sha256 = read_definition(name_or_path, what="procedure", available=available_procedures)
    kind = data.get("procedure", {}).get("kind") if isinstance(data.get("procedure"), dict) else None
    if kind != "phantom-qa":
        raise DefinitionError(str(path), "procedure.kind", f"is {kind!r}; qa phantom needs a 'phantom-qa' procedure")
    return _parse_phantom_procedure(data, path, sha256)


def _parse_phantom_procedure(data: dict, path: str, sha256: str) -> PhantomProcedure:
    from qa.calcium.scoring import METHOD_PRESETS
    from qa.procedures.phantoms import load_phantom

    r = _Reader(path)
    head = r.table(data, "procedure")
    phantom_id = r.text(head, "phantom", "procedure")
    try:
        phantom = load_phantom(phantom_id)
    except DefinitionError as exc:
        raise r.error("procedure.phantom", f"names {phantom_id!r}, which cannot be loaded: {exc.message}") from exc
    insert_ids = {c.id for c in phantom.calcifications}
    scoring = r.table(data, "scoring", required=False)
    method = scoring.get("method", "standard")
    if method not in METHOD_PRESETS:
        raise r.error("scoring.method", f"must be one of {', '.join(METHOD_PRESETS)}, got {method!r}")

    rules = []
    for key, item in r.table(data, "acquisition", required=False).items():
        where = f"acquisition.{key}"
        if key not in ACQUISITION_KEYS:
            raise r.error(where, f"unknown setting; use one of {', '.join(ACQUISITION_KEYS)}")
        if not isinstance(item, dict):
            raise r.error(where, "must be a table (expected = ..., allowed = [...] or range = [low, high])")
        kinds = [k for k in ("expected", "allowed", "range") if k in item]
        if len(kinds) != 1:
            raise r.error(where, "needs exactly one of expected, allowed or range")
        rng = r.pair(item, "range", where)
        allowed = r.allowed(item, where)
        match = r.match(item, where)
        unknown = sorted(set(item) - {"expected", "allowed", "range", "tolerance", "match", "severity", "baseline_tolerance_pct"})
        if unknown:
            raise r.error(f"{where}.{unknown[0]}", "unknown key; use expected, allowed, range, tolerance, match, severity, "
                                                   "baseline_tolerance_pct")
        baseline_pct = item.get("baseline_tolerance_pct")
        if baseline_pct is not None:
            if key not in ("ctdivol_mgy", "exposure_mas"):
                raise r.error(f"{where}.baseline_tolerance_pct", "applies to ctdivol_mgy and exposure_mas only")
            baseline_pct = r.number(item, "baseline_tolerance_pct", where, minimum=0.0)
        rules.append(
            AcquisitionRule(
                key=key,
                severity=r.severity(item, where),
                expected=item.get("expected"),
                allowed=allowed,
                range=rng,
                tolerance=r.number(item, "tolerance", where, default=0.0, minimum=0.0),
                match=match,
                baseline_tolerance_pct=baseline_pct,
            )
        )

    detection = r.table(data, "detection", required=False)
    required = detection.get("required", [])
    if not isinstance(required, list) or not all(isinstance(v, str) for v in required):
        raise r.error("detection.required", "must be a list of insert ids")
    for insert in required:
        if insert not in insert_ids:
            raise r.error("detection.required", f"{insert!r} is not an insert of {phantom_id} ({', '.join(sorted(insert_ids))})")

    checks = []
    seen = set()
    for n, item in enumerate(data.get("checks", []) or []):
        where = f"checks[{n}]"
        if not isinstance(item, dict):
            raise r.error(where, "must be a table ([[checks]])")
        check_id = r.text(item, "id", where)
        if check_id in seen:
            raise r.error(f"{where}.id", f"duplicate check id {check_id!r}")
        seen.add(check_id)
        metric = r.text(item, "metric", where)
        insert = item.get("insert")
        if insert is None and metric not in GLOBAL_METRICS:
            raise r.error(f"{where}.metric", f"{metric!r} is not a whole-phantom metric ({', '.join(GLOBAL_METRICS)}); per-insert metrics need 'insert'")
        if insert is not None:
            if metric not in INSERT_METRICS:
                raise r.error(f"{where}.metric", f"{metric!r} is not a per-insert metric ({', '.join(INSERT_METRICS)})")
            if insert not in insert_ids:
                raise r.error(f"{where}.insert", f"{insert!r} is not an insert of {phantom_id}")
        reference = item.get("reference")
        if reference not in ("baseline", "physical"):
            raise r.error(f"{where}.reference", f"must be 'baseline' or 'physical', got {reference!r}")
        if reference == "physical" and not (insert is not None and metric in ("mass_mg", "volume_mm3")):
            raise r.error(f"{where}.reference", "the physical truth is known for insert mass_mg and volume_mm3 only")
        relative = "tolerance_pct" in item or "action_pct" in item
        if relative and ("tolerance" in item or "action" in item):
            raise r.error(where, "give the levels either in % (tolerance_pct, action_pct) or absolute (tolerance, action)")
        tol_key, act_key = ("tolerance_pct", "action_pct") if relative else ("tolerance", "action")
        tolerance = r.number(item, tol_key, where, minimum=0.0)
        action = r.number(item, act_key, where, minimum=0.0)
        if action < tolerance:
            raise r.error(f"{where}.{act_key}", f"the action level ({action:g}) must not be tighter than the tolerance ({tolerance:g})")
        checks.append(MetricRule(check_id, metric, insert, reference, tolerance, action, relative))

    base = r.table(data, "baseline", required=False)
    min_runs = int(r.number(base, "min_runs", "baseline", default=5, minimum=2))
    return PhantomProcedure(
        id=r.text(head, "id", "procedure"),
        name=r.text(head, "name", "procedure"),
        version=str(head.get("version", "")),
        source=str(head.get("source", "")),
        phantom=phantom_id,
        scoring_method=method,
        acquisition=tuple(rules),
        required_detections=tuple(required),
        detection_severity=r.severity(detection, "detection") if detection else "fail",
        checks=tuple(checks),
        baseline_min_runs=min_runs,
        tighten_after_runs=int(r.number(base, "tighten_after_runs", "baseline", default=20, minimum=min_runs)),
        tighten_sd=r.number(base, "tighten_sd", "baseline", default=3.0, minimum=1.0),
        min_sd_pct=r.number(base, "min_sd_pct", "baseline", default=2.0, minimum=0.0),
        path=path,
        sha256=sha256,
    )


