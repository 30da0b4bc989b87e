"""The daily phantom-QA report: one self-contained HTML file (images inline), fit to print."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

from qa.control_charts import MetricChart
from qa.phantom.analysis import PhantomResult
from qa.phantom.definition import PhantomDefinition
from qa.records.text import escape_controls
from qa.records.volume import CTVolume
from qa.report.plots import phantom_overlay_png, trend_figure_png

_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em; color: #222; max-width: 60em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.5em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
.verdict { font-size: 1.2em; font-weight: bold; padding: 0.6em 1em; border-radius: 4px; }
.pass { background: #dff0d8; color: #2d572c; } .warn { background: #fcf8e3; color: #7a5b00; }
.fail { background: #f2dede; color: #8a1f1f; } .not_available { background: #eee; color: #555; }
img { max-width: 100%; } .small { font-size: 0.8em; color: #555; }
@media print { body { margin: 0.5cm; } h2 { page-break-after: avoid; } img, table, .figure { page-break-inside: avoid; } }
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v, digits) for v in value) + "]"
    return html.escape(escape_controls(str(value)))


def phantom_report_html(document: dict, overlay_png: bytes, trend_png: bytes | None) -> str:
    d = document
    s, a = d["scanner"], d["acquisition"]
    cal = d["calibration"]
    def e(text: str) -> str:  # text from the files: HTML-escaped, control characters shown as escapes
        return html.escape(escape_controls(text))

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Phantom QA {e(str(s.get('station_name') or ''))} {e(str(a.get('acquisition_datetime') or ''))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Calcium phantom QA: {e(str(s.get('station_name') or '?'))}</h1>",
        f"<p class='small'>{e(str(s.get('manufacturer')))} {e(str(s.get('model')))}, serial {e(str(s.get('device_serial_number')))}"
        f" (identified by {e(str(s.get('identity') or 'serial number'))})"
        f" &middot; acquired {e(str(a.get('acquisition_datetime')))} &middot; analysed {e(str(d.get('analysis_time')))}"
        f" &middot; procedure {e(d['procedure']['id'])} v{e(str(d['procedure']['version']))}"
        f" &middot; qa {e(str(d['provenance'].get('qa_version')))}</p>",
        f"<div class='verdict {e(d['verdict'])}'>{e(d['verdict_message'])}</div>",
        "<h2>Acquisition</h2><table><tr>" + "".join(f"<th>{k}</th>" for k in ("kVp", "thickness mm", "increment mm", "kernel", "CTDIvol mGy", "ring")) + "</tr>",
        f"<tr><td>{_fmt(a['kvp'], 0)}</td><td>{_fmt(a['slice_thickness_mm'])}</td><td>{_fmt(a['slice_increment_mm'])}</td>"
        f"<td>{_fmt(a['kernel'])}</td><td>{_fmt(a['ctdivol_mgy'])}</td><td>{_fmt(a['ring'])}{' (' + _fmt(a['ring_source']) + ')' if a.get('ring_source') else ''}</td></tr></table>",
        "<h2>Inserts</h2><table><tr><th class='l'>insert</th><th>detected</th><th>lesions</th><th>Agatston</th><th>volume mm&sup3;</th>"
        "<th>mass mg</th><th>physical mg</th><th>error %</th><th class='l'>centroid x, y, z mm</th></tr>",
    ]
    for i in d["inserts"]:
        c = i["centroid_mm"]
        err = f"{i['mass_error_pct']:+.1f}" if i["mass_error_pct"] is not None and i["detected"] else "-"
        parts.append(
            f"<tr><td class='l'>{e(i['id'])}</td><td>{_fmt(i['detected'])}</td><td>{i['n_lesions']}</td><td>{_fmt(i['agatston'], 1)}</td>"
            f"<td>{_fmt(i['volume_mm3'], 1)}</td><td>{_fmt(i['mass_mg'])}</td><td>{_fmt(i['physical_mass_mg'])}</td><td>{err}</td>"
            f"<td class='l'>{c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f}</td></tr>"
        )
    t = d["totals"]
    parts.append(f"<tr><th class='l'>total</th><th>{t['n_detected']}</th><th></th><th>{_fmt(t['agatston'], 1)}</th><th>{_fmt(t['volume_mm3'], 1)}</th>"
                 f"<th>{_fmt(t['mass_mg'])}</th><th>{_fmt(t['physical_mass_mg'])}</th><th></th><th></th></tr></table>")
    parts.append(
        f"<p>Calibration rods: water {_fmt(cal['water_hu'], 1)} HU (noise SD {_fmt(cal['noise_hu'], 1)} HU), HA-200 {_fmt(cal['ha200_hu'], 1)} HU, "
        f"c<sub>HA</sub> {_fmt(cal['c_ha_mg_per_cm3_hu'], 4)} mg/(cm&sup3; HU). Other lesions inside the insert (noise): "
        f"{d['other_lesions']['n_lesions']}, Agatston {_fmt(d['other_lesions']['agatston'], 1)}.</p>"
    )
    parts.append("<div class='figure'><h2>Located phantom</h2>" + _img(overlay_png, "located inserts and rods") +
                 "<p class='small'>Each insert is circled and labelled with its id in the table above: a solid circle where it was "
                 "detected, a dashed one at its expected position where it was not; the calibration rods likewise (solid: found). "
                 "Grey scale: window 700 HU, level 150 HU.</p></div>")
    parts.append("<h2>Checks</h2><table><tr><th class='l'>check</th><th class='l'>status</th><th>measured</th><th>expected (tolerance)</th>"
                 "<th>action level</th><th class='l'>message</th></tr>")
    for c in d["checks"]:
        action = c.get("source", {}).get("action")
        parts.append(
            f"<tr><td class='l'>{e(c['id'])}</td><td class='l {e(c['status'])}'>{e(c['status'])}</td><td>{_fmt(c['measured'], 3)}</td>"
            f"<td>{_fmt(c['expected'], 3)}</td><td>{_fmt(action, 3)}</td><td class='l'>{e(c['message'])}</td></tr>"
        )
    parts.append("</table>")
    b = d.get("baseline")
    if b is None:
        baseline_text = "none yet"
    else:
        baseline_text = f"version {b['version']}, {b['n_runs']} runs, set {e(str(b['created_at']))}"
        if b["configuration"] != d["configuration"]:
            baseline_text += " (of another configuration: this run is not compared with it)"
    parts.append(f"<p class='small'>Baseline: {baseline_text}.</p>")
    if trend_png is not None:
        parts.append("<div class='figure'><h2>Trends</h2><p class='small'>Each chart shows the limits this report's checks use: "
                     "the tolerance band (within: pass), the zone beyond it (hatched: warn) and the action level (solid line: fail "
                     "beyond). Drawn apart from them, the statistical control limits: baseline mean (solid), &plusmn;2 SD (dotted) "
                     "and &plusmn;3 SD (dashed) of the chart SD, which is the baseline's SD but never less than the procedure's "
                     "<code>min_sd_pct</code> of the mean (a short baseline underestimates the spread). Diamonds: runs flagged by a "
                     "Western Electric rule or the CUSUM: drift to look at, which need not fail a check.</p>"
                     + _img(trend_png, "control charts") + "</div>")
    if d.get("warnings"):
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(w)}</li>" for w in d["warnings"]) + "</ul>")
    parts.append(f"<p class='small'>Series {e(d['series']['series_instance_uid'])}, {d['series']['n_slices']} slices; "
                 f"procedure SHA-256 {e(d['procedure']['sha256'][:16])}&hellip;</p></body></html>")
    return "".join(parts)


def write_phantom_report(path, document: dict, result: PhantomResult, volume: CTVolume, definition: PhantomDefinition, *,
                         charts: Mapping[str, MetricChart] | None = None, scanner: str = "", baseline_version: int | None = None) -> str:
    """Write the report of one run (``document``: its ``qa.phantom/1`` form); ``charts``: the control
    charts of the stored runs (metric id -> chart), drawn when given.  The file appears complete or not at all."""
    from qa.report.plots import write_whole

    overlay = phantom_overlay_png(volume, result.location, result.inserts, definition)
    trend = trend_figure_png(charts, scanner=scanner, baseline_version=baseline_version) if charts else None
    return write_whole(path, phantom_report_html(document, overlay, trend))
