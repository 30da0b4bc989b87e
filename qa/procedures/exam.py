"""Exam protocols (``kind = "exam-protocol"``, ``procedures/cac-*.toml``): what qa check expects."""

from __future__ import annotations

from pathlib import Path

from qa.compliance.protocol import GATING_MODES, ExamProtocol, ProtocolRule
from qa.compliance.registry import BY_ID as EXAM_CHECKS
from qa.ecg.gating import GatingSettings
from qa.procedures.common import SEVERITIES, _Reader, read_definition
from qa.procedures.builtin import builtin_dir

# Rule keys every check accepts; the registry adds those only one check accepts (equal_to, reference, ...).
_COMMON_RULE_KEYS = frozenset({"expected", "allowed", "range", "maximum", "minimum", "tolerance", "match", "severity", "source"})


def available_protocols() -> list[str]:
    return sorted(p.stem for p in builtin_dir("procedures").glob("cac-*.toml"))


def load_protocol(name_or_path: str | Path) -> ExamProtocol:
    """Load a built-in exam protocol by id (``cac-ge``) or a protocol file by path."""
    data, path, sha256 = read_definition(name_or_path, what="protocol", available=available_protocols)
    return _parse_exam_protocol(data, path, sha256)


def _parse_exam_protocol(data: dict, path: str, sha256: str) -> ExamProtocol:
    r = _Reader(path)
    head = r.table(data, "protocol")
    if head.get("kind") != "exam-protocol":
        raise r.error("protocol.kind", f"is {head.get('kind')!r}; qa check needs an 'exam-protocol'")
    for key in ("vendors", "series_patterns"):
        value = head.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise r.error(f"protocol.{key}", "must be a list of texts")
    rules: dict[str, ProtocolRule] = {}
    for check_id, item in r.table(data, "rules").items():
        where = f"rules.{check_id}"
        if check_id not in EXAM_CHECKS:
            raise r.error(where, f"unknown check; use one of {', '.join(EXAM_CHECKS)}")
        if not isinstance(item, dict):
            raise r.error(where, "must be a table")
        spec = EXAM_CHECKS[check_id]
        allowed_keys = _COMMON_RULE_KEYS | spec.rule_keys
        unknown = sorted(set(item) - allowed_keys)
        if unknown:
            raise r.error(f"{where}.{unknown[0]}", f"unknown key for {check_id}; use {', '.join(sorted(allowed_keys))}")
        rng = r.pair(item, "range", where)
        allowed = r.allowed(item, where)
        match = r.match(item, where)
        equal_to = item.get("equal_to")
        if equal_to is not None and equal_to != "slice_thickness":
            raise r.error(f"{where}.equal_to", "can only be 'slice_thickness'")
        reference = item.get("reference")
        if reference is not None and reference != "level":
            raise r.error(f"{where}.reference", "can only be 'level' (the protocol's reference level)")
        modes = []
        for mode in ("retrospective", "none"):
            if mode in item:
                if item[mode] not in SEVERITIES:
                    raise r.error(f"{where}.{mode}", "is a severity (fail or warn) of the gating_mode rule")
                modes.append((mode, item[mode]))
        kinds = {k if k not in ("maximum", "minimum") else "maximum/minimum"
                 for k in ("expected", "allowed", "range", "maximum", "minimum", "equal_to", "reference") if k in item}
        if len(kinds) != 1:
            raise r.error(where, "needs exactly one expectation: expected, allowed, range, maximum/minimum, equal_to or reference"
                                 + (f" (got {', '.join(sorted(kinds))})" if kinds else ""))
        values = ([item["expected"]] if "expected" in item else []) + list(allowed or [])
        if spec.value_kind == "number" and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise r.error(f"{where}.{'expected' if 'expected' in item else 'allowed'}", f"must be numbers for {check_id}, got {values!r}")
        if spec.value_kind == "text" and not all(isinstance(v, str) and v.strip() for v in values):
            raise r.error(f"{where}.{'expected' if 'expected' in item else 'allowed'}", f"must be texts for {check_id}, got {values!r}")
        if spec.value_kind == "mode" and item.get("expected") not in GATING_MODES:
            raise r.error(f"{where}.expected", f"must be one of {', '.join(GATING_MODES)}, got {item.get('expected')!r}")
        rules[check_id] = ProtocolRule(
            check_id=check_id,
            severity=r.severity(item, where),
            source=r.text(item, "source", where),
            expected=item.get("expected"),
            allowed=allowed,
            range=rng,
            maximum=r.number(item, "maximum", where) if "maximum" in item else None,
            minimum=r.number(item, "minimum", where) if "minimum" in item else None,
            tolerance=r.number(item, "tolerance", where, default=0.0, minimum=0.0),
            match=match,
            equal_to=equal_to,
            mode_severity=tuple(modes),
            reference=reference,
            delay_range_ms=r.pair(item, "delay_range_ms", where),
        )
    for check_id, rule in rules.items():
        if rule.reference == "level" and not head.get("reference_level"):
            raise r.error(f"rules.{check_id}.reference", "needs protocol.reference_level (an id in procedures/dose-reference.toml)")
    g = r.table(data, "gating", required=False)
    unknown = sorted(set(g) - {"min_lead_ms", "predict_beats", "trigger_latency_max_ms", "delay_pct", "delay_ms", "window_ms"})
    if unknown:
        raise r.error(f"gating.{unknown[0]}", "unknown key; use min_lead_ms, predict_beats, trigger_latency_max_ms, delay_pct, delay_ms, window_ms")
    if "delay_pct" in g and "delay_ms" in g:
        raise r.error("gating", "give the trigger delay either in % (delay_pct) or in ms (delay_ms)")
    d = GatingSettings()  # the defaults
    predict_beats = r.number(g, "predict_beats", "gating", default=d.predict_beats, minimum=1)
    if predict_beats != int(predict_beats):
        raise r.error("gating.predict_beats", f"must be a whole number of beats, got {g['predict_beats']!r}")
    gating = GatingSettings(
        min_lead_ms=r.number(g, "min_lead_ms", "gating", default=d.min_lead_ms, minimum=0.0),
        predict_beats=int(predict_beats),
        trigger_latency_max_ms=r.number(g, "trigger_latency_max_ms", "gating", default=d.trigger_latency_max_ms, minimum=0.0),
        delay_pct=r.number(g, "delay_pct", "gating", minimum=0.0) if "delay_pct" in g else (None if "delay_ms" in g else d.delay_pct),
        delay_ms=r.number(g, "delay_ms", "gating", minimum=0.0) if "delay_ms" in g else None,
        window_ms=r.number(g, "window_ms", "gating", default=d.window_ms, minimum=1.0),
    )
    return ExamProtocol(
        id=r.text(head, "id", "protocol"),
        name=r.text(head, "name", "protocol"),
        version=str(head.get("version", "")),
        source=r.text(head, "source", "protocol"),
        vendors=tuple(v.upper() for v in head.get("vendors", [])),
        series_patterns=tuple(v.lower() for v in head.get("series_patterns", [])),
        k_factor=head.get("k_factor"),
        reference_level=head.get("reference_level"),
        rules=rules,
        gating=gating,
        path=path,
        sha256=sha256,
    )


