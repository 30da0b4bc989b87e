"""Text read from files, made safe to show: control characters become visible escapes.

A station name, file name, ECG comment or protocol name comes from outside.  Shown as it is, an
ESC could move the terminal's cursor, clear or recolour a line (hiding a ``VERDICT``), and a
bidirectional override could reorder what a reader sees.  The terminal (``qa.cli``) and the HTML
reports (``qa.report``) both show such text through :func:`escape_controls`.
"""

from __future__ import annotations

import re

# Characters a terminal acts on instead of showing: C0 controls but newline and tab (ESC starts the
# sequences that move the cursor, clear lines, recolour or retitle; CR returns to the line's
# start), DEL, the C1 controls (U+009B is a one-character CSI), the line and paragraph separators
# and the bidirectional overrides and isolates (which reorder what is shown: "Trojan Source",
# CVE-2021-42574).  HTML forbids the C0/C1 controls in text too (WHATWG HTML, "control" code points).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character shown as an escape (ESC as ``\\x1b``): a station
    name, file name or ECG comment can never move the cursor, recolour or hide a line."""
    return _CONTROL.sub(_escaped, text)
