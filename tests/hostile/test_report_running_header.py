"""Header text from the images goes into the report's printed running header (a CSS string in its
style sheet): a station name written to end that string, the rule or the style sheet must show as
itself on every page and change nothing else (no script, no page hidden, the banner still there)."""

from __future__ import annotations

import subprocess

from qa.cli import main
from tests.conftest import require_tool

# Ends the CSS string and the @page rule, hides the body, ends the style sheet and starts a script; the
# backslash (CSS's escape character, and DICOM's value separator) sits between two values so it is shown.
HOSTILE = '"}@page{@top-left{content:"ALL CLEAR"}}body{display:none}</style><script>x()</script>\\x'


def test_a_station_name_cannot_break_out_of_the_printed_header(tmp_path, capsys):
    require_tool("chromium")
    series = tmp_path / "series"
    assert main(["synth", "phantom", str(series), "--matrix", "256", "--pixel-mm", "0.9", "--station-name", HOSTILE]) == 0
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    code = main(["phantom", str(series), "--no-store", "--report", str(html), "--pdf", str(pdf)])
    capsys.readouterr()
    assert code in (0, 1)
    text = html.read_text()
    style = text.split("<style>")[1].split("</style>")[0]
    assert text.count("</style>") == 1 and "<script" not in text and "{display:none}" not in style
    assert 'content:"ALL CLEAR"' not in style and style.count("@page {") == 1  # only escaped, inside the header's string
    pages = int(next(line.split()[1] for line in subprocess.run([require_tool("pdfinfo"), str(pdf)], capture_output=True, text=True,
                                                                 check=True).stdout.splitlines() if line.startswith("Pages:")))
    first = subprocess.run([require_tool("pdftotext"), "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    flat = " ".join(first.split())
    assert f"Calcium phantom QA · {' '.join(HOSTILE.split())}, " in flat  # shown as itself, in the header
    assert "Action:" in flat and f"page 1 of {pages}" in flat  # the body and the page numbers are still there
