"""The style of the phantom-QA report: on screen, and printed (A4 or Letter) with a running header.

Printing uses CSS paged media as Chromium implements it (page margin boxes, since Chromium 131):
every page carries the scanner and the acquisition date in its top margin, the verdict, the
analysis time and "page x of y" in its bottom margin, whether the report is printed from the browser
or turned into a PDF (:mod:`qa.report.pdf`).  Headings never stand alone at a page foot (they keep
with what follows), small sections, pictures and table rows are never split, and tables wrap their
text so that no column runs past the right edge of the page.
"""

from __future__ import annotations

# Page margins (mm): room for the running header and footer in the top and bottom margin boxes.
MARGIN_MM = {"top": 18, "right": 13, "bottom": 15, "left": 13}

CSS = """
:root { --ink: #1d1d1d; --muted: #555; --rule: #c8c8c8; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; padding: 0 2em; color: var(--ink); max-width: 62em;
       font-size: 15px; line-height: 1.35; }
h1 { font-size: 1.5em; margin: 0 0 0.2em; }
h2 { font-size: 1.15em; margin: 1.4em 0 0.4em; border-bottom: 1px solid var(--rule); break-after: avoid; page-break-after: avoid; }
p { margin: 0.4em 0; }
table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.85em; max-width: 100%; }
table.wide { width: 100%; }
th, td { border: 1px solid var(--rule); padding: 0.2em 0.45em; text-align: right; vertical-align: top; overflow-wrap: break-word; }
table.checks { table-layout: fixed; width: 100%; }
table.checks td { overflow-wrap: anywhere; }
table.checks td.id, table.checks td.status { overflow-wrap: normal; }
th { background: #f0f0f0; font-weight: bold; }
td.l, th.l { text-align: left; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.id { white-space: normal; font-family: "DejaVu Sans Mono", monospace; font-size: 0.95em; }
td.num { white-space: nowrap; }
.pass { background: #dff0d8; color: #245224; } .warn { background: #fcf3cf; color: #6b4f00; }
.fail { background: #f6d6d6; color: #7f1717; } .not_available, .incomplete { background: #e8eaf0; color: #3a3f58; }
.not_applicable { color: var(--muted); }
td.status { font-weight: bold; text-transform: uppercase; font-size: 0.85em; }
.banner { border: 2px solid currentColor; border-radius: 4px; padding: 0.6em 1em; margin: 0.8em 0 0.4em;
          break-inside: avoid; page-break-inside: avoid; }
.banner .headline { font-size: 1.3em; font-weight: bold; margin: 0 0 0.2em; }
.banner .action { font-size: 1.08em; font-weight: bold; margin: 0.3em 0; }
.banner .detail { margin: 0.2em 0; }
.banner ul { margin: 0.2em 0 0.2em 1.2em; padding: 0; }
.banner li { margin: 0.15em 0; }
.banner .ids { font-family: "DejaVu Sans Mono", monospace; font-size: 0.92em; overflow-wrap: anywhere; }
.meta, .small { font-size: 0.82em; color: var(--muted); }
footer .ids { font-family: "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
section.keep, .figure, .signoff { break-inside: avoid; page-break-inside: avoid; }
img { max-width: 100%; height: auto; display: block; margin: 0.3em auto; }
.signoff table { width: 100%; font-size: 0.95em; }
.signoff th { width: 11em; text-align: left; }
.signoff td { height: 2.1em; text-align: left; }
.signoff td.comment { height: 7em; }
.signoff .choice { margin-right: 2em; white-space: nowrap; }
@media print {
  body { margin: 0; padding: 0; max-width: none; font-size: 10pt; }
  h1 { font-size: 15pt; } h2 { font-size: 12pt; margin-top: 1em; }
  table { font-size: 8pt; }
  table.checks { width: 100%; }
  img { max-height: 225mm; object-fit: contain; }
  /* a figure keeps its heading and caption on its page: Letter holds 246 mm between the margins */
  .figure img { max-height: 190mm; }
  a { color: inherit; text-decoration: none; }
}
"""


def css_string(text: str) -> str:
    """``text`` as a CSS string literal that can neither end the string nor the style sheet:
    every character but letters, digits and a few safe signs written as a CSS hex escape."""
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.,:;()+-/#@")
    return '"' + "".join(ch if ch in safe else f"\\{ord(ch):06x} " for ch in text) + '"'


def page_rules(header_left: str, footer_left: str, page_size: str | None = None) -> str:
    """The ``@page`` rule: margins, running header and footer (texts from the files, escaped), and
    the paper size when one is given (the PDF's; a browser's print dialog chooses its own)."""
    m = MARGIN_MM
    size = f"size: {page_size}; " if page_size else ""
    small = "font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 8pt; color: #444;"
    return (
        f"@page {{ {size}margin: {m['top']}mm {m['right']}mm {m['bottom']}mm {m['left']}mm; "
        f"@top-left {{ content: {css_string(header_left)}; {small} vertical-align: bottom; padding-bottom: 3mm; }} "
        f"@bottom-left {{ content: {css_string(footer_left)}; {small} vertical-align: top; padding-top: 3mm; }} "
        f"@bottom-right {{ content: \"page \" counter(page) \" of \" counter(pages); {small} vertical-align: top; "
        "padding-top: 3mm; white-space: nowrap; text-align: right; } }"
    )
