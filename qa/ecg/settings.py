"""How ECG gating timing is judged: the ``[gating]`` settings of a protocol.

Apart from :mod:`qa.ecg.gating` so that loading a protocol (every ``qa check``, with or without an ECG
trace) does not import the ECG analysis (issue 17: each command imports what it uses).
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.records.serialize import Record


@dataclass(frozen=True)
class GatingSettings(Record):
    """How ECG gating timing is judged (``[gating]`` of a protocol)."""

    min_lead_ms: float = 150.0
    predict_beats: int = 3
    trigger_latency_max_ms: float = 35.0
    delay_pct: float | None = 70.0
    delay_ms: float | None = None
    window_ms: float = 200.0


__all__ = ["GatingSettings"]
