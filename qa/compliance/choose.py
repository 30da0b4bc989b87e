"""Which protocol an exam is checked against, and which of its series is the calcium score (pure)."""

from __future__ import annotations

from qa.compliance.protocol import ExamProtocol
from qa.records.checks import matches
from qa.records.identity import vendor_of


def protocol_matches_vendor(protocol: ExamProtocol, manufacturer: str | None) -> bool:
    if not protocol.vendors:
        return True
    return vendor_of(manufacturer) in {vendor_of(v) for v in protocol.vendors}


def choose_protocol(manufacturer: str | None, descriptions: list[str], protocols: list[ExamProtocol]) -> tuple[ExamProtocol, str]:
    """The vendor's protocol (else the vendor-neutral one), and why."""
    vendor_specific = [p for p in protocols if p.vendors and protocol_matches_vendor(p, manufacturer)]
    neutral = [p for p in protocols if not p.vendors]
    texts = [d.lower() for d in descriptions if d]
    for candidate in vendor_specific + neutral:
        hit = next((t for t in texts if any(pattern in t for pattern in candidate.series_patterns)), None)
        if hit is not None:
            kind = f"vendor {manufacturer}" if candidate.vendors else "vendor-neutral"
            return candidate, f"{candidate.id}: {kind} protocol; series description {hit!r} names a calcium score"
    chosen = (vendor_specific + neutral)[0]
    return chosen, (f"{chosen.id}: by vendor ({manufacturer or 'unknown'}); no series description names a calcium score, "
                    "check that this is a calcium-score exam or pass --protocol")


def names_calcium_score(protocol: ExamProtocol, description: str | None) -> bool:
    return any(p in (description or "").lower() for p in protocol.series_patterns)


def series_preference(protocol: ExamProtocol, description: str, thickness: float | None, kernel: str | None,
                      increment: float | None = None, iterative: bool = False) -> tuple:
    """Sort key of candidate series: named as a calcium score, thickness closest to the protocol's,
    kernel allowed, contiguous (increment = thickness), without iterative reconstruction."""
    named = names_calcium_score(protocol, description)
    rule = protocol.rule("slice_thickness")
    target = rule.expected if rule is not None and rule.expected is not None else 3.0
    off = abs((thickness if thickness is not None else 99.0) - float(target))
    kernel_rule = protocol.rule("kernel")
    kernel_ok = kernel_rule is None or (kernel is not None and matches(
        kernel, list(kernel_rule.allowed) if kernel_rule.allowed is not None else [kernel_rule.expected],
        tolerance=kernel_rule.tolerance, match=kernel_rule.match))
    contiguous = increment is not None and thickness is not None and abs(increment - thickness) <= 0.1
    return (0 if named else 1, round(off, 3), 0 if kernel_ok else 1, 0 if contiguous else 1, 1 if iterative else 0)
