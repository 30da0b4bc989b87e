"""The fleet dashboard page (``qa dashboard``): one static HTML file, its CSS, JavaScript and data inline.

The page is built from package data files (``page.html``, ``dashboard.css``, ``stats.js``,
``charts.js``, ``page.js``: shipped in the wheel) and the workflow's data (a JSON-ready mapping,
see :mod:`qa.workflows.dashboard`).  Nothing is fetched: no server, no network, no library from a
CDN; the Content-Security-Policy of the page forbids any request.  Every text from the store
(scanner names, protocol names) reaches the page as JSON data and is put in the document as text
(``textContent``), never as markup.
"""

from __future__ import annotations

import json
import re
from importlib import resources

# The page's parts, in the order the template names them.
SCRIPTS = ("stats.js", "charts.js", "page.js")
_MARKER = re.compile(r"/\*(CSS|JS|DATA|TITLE)\*/")


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def embedded_json(data) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>`` or
    ``&`` (so no ``</script>`` or ``<!--`` can end or bend the element), no line separators."""
    text = json.dumps(data, sort_keys=True, allow_nan=False, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def render_dashboard(page: dict, *, title: str = "Calcium-score CT fleet") -> str:
    """The dashboard's HTML: the template with its CSS, scripts and ``page`` (the data) inline.
    One pass over the template: a value is never searched for markers itself."""
    import html

    parts = {
        "CSS": _asset("dashboard.css"),
        "JS": "\n".join(_asset(name) for name in SCRIPTS),
        "DATA": embedded_json(page),
        "TITLE": html.escape(title),
    }
    for name in ("CSS", "JS"):
        if "</" in parts[name]:
            raise ValueError(f"the dashboard's {name} must not hold '</' (it would end its element)")
    return _MARKER.sub(lambda m: parts[m.group(1)], _asset("page.html"))
