"""Long traces in pieces: the spans a trace is analysed in, so memory stays bounded whatever its length.

Each span has a *core* (whose results are kept) and up to ``overlap`` samples of context on each side
(so filters settle and look-around windows see their neighbours); the cores tile the range exactly.
A remainder no longer than ``chunk + overlap`` is taken whole, so a short trace is one span, analysed
exactly as without chunking.  Pure.
"""

from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    start: int  # first sample read
    stop: int  # one past the last sample read
    core_start: int  # results kept from here ...
    core_stop: int  # ... to here (exclusive)


def spans(start: int, stop: int, chunk: int, overlap: int) -> list[Span]:
    """Spans covering samples [start, stop): cores of ``chunk`` samples read with ``overlap`` each side."""
    chunk = max(1, int(chunk))
    out = []
    core = start
    while core < stop:
        core_end = stop if stop - core <= chunk + overlap else core + chunk
        out.append(Span(max(start, core - overlap), min(stop, core_end + overlap), core, core_end))
        core = core_end
    return out


__all__ = ["Span", "spans"]
