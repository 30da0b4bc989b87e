"""The daily phantom-QA report: one self-contained HTML file (images inline), fit to print and sign.

From the top: the scanner and when it was scanned; the verdict banner (the level, the action the
procedure writes for it, the failed checks first, the warnings apart, the checks that could not be
run and why); the acquisition, the inserts and the calibration; the located phantom; every check,
failing rows first, in display units; the baseline and the trends; the notes; and a sign-off block
(reviewed by, date, decision, comment).  Printed (:mod:`qa.report.phantom_style`) every page
carries the scanner, the acquisition date and "page x of y".
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

from qa.control_charts import MetricChart
from qa.phantom.analysis import PhantomResult
from qa.phantom.definition import PhantomDefinition
from qa.records.display import display, number, unit_of
from qa.records.text import escape_controls
from qa.records.verdicts import VerdictSummary, failing_first, verdict_detail
from qa.records.volume import CTVolume
from qa.report.phantom_style import CSS, page_rules
from qa.report.plots import phantom_overlay_png, trend_figure_png

# Check ids listed per "could not be run" reason in the banner before "and N more".
_SHOWN_IDS = 10


def e(value) -> str:
    """Text from the files or the analysis: HTML-escaped, control characters shown as escapes."""
    return html.escape(escape_controls("" if value is None else str(value)))


def _id(text: str) -> str:
    """A check or insert id that may wrap after its underscores (long ids never widen a column)."""
    return e(text).replace("_", "_<wbr>")


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _num(value, digits: int | None = None) -> str:
    """A number for a table cell: ``digits`` decimals, or four significant digits; '-' for none."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}" if digits is not None else number(value)
    return e(value)


def _when(value) -> str:
    """An ISO date-time as people read it: 2026-03-15 07:30:02 (no T, no microseconds)."""
    if not value:
        return "unknown"
    text = str(value).replace("T", " ", 1)
    return text.split(".", 1)[0] if "." in text[:20] else text


def scanner_line(document: dict) -> str:
    s = document["scanner"]
    parts = [str(s.get("station_name") or "station ?"), f"{s.get('manufacturer') or '?'} {s.get('model') or '?'}",
             f"serial {s.get('device_serial_number') or '?'}"]
    return ", ".join(escape_controls(p) for p in parts)


def running_texts(document: dict) -> tuple[str, str]:
    """(header, footer) of every printed page: scanner and acquisition date; verdict and analysis time."""
    header = f"Calcium phantom QA · {scanner_line(document)} · acquired {_when(document['acquisition'].get('acquisition_datetime'))}"
    summary = document.get("summary") or {}
    footer = (f"{(summary.get('headline') or document['verdict']).split(':')[0]} · analysed {_when(document.get('analysis_time'))}"
              f" · procedure {escape_controls(document['procedure']['id'])} v{escape_controls(str(document['procedure']['version']))}"
              f" · qa {escape_controls(str(document['provenance'].get('qa_version')))}")
    return header, footer


def _banner(d: dict) -> str:
    s = d["summary"]
    checks = {c["id"]: c for c in d["checks"]}
    out = [f"<section class='banner {e(s['level'])}' id='verdict'>",
           f"<p class='headline'>{e(s['headline'])}</p>",
           f"<p class='action'>Action: {e(s['action'])}</p>"]
    detail = verdict_detail(VerdictSummary(**{**s, "not_run": ()}), d["verdict_message"])
    if detail:
        out.append(f"<p class='detail'>{e(detail)}</p>")
    if s["failed"]:
        out.append("<p class='detail'><b>Failed:</b></p><ul class='failed'>"
                   + "".join(f"<li><span class='ids'>{_id(i)}</span>: {e(checks[i]['message'])}</li>" for i in s["failed"])
                   + "</ul>")
    if s["warned"]:
        out.append(f"<p class='detail'><b>Warnings</b> (not failures): <span class='ids'>{_ids(s['warned'])}</span></p>")
    if s["not_run"]:
        out.append(f"<p class='detail'><b>{s['n_not_run']} of {s['n_checks']} checks could not be run:</b></p><ul class='not-run'>"
                   + "".join(f"<li>{e(g['reason'])}: <span class='ids'>{_ids(g['checks'])}</span></li>" for g in s["not_run"])
                   + "</ul>")
    out.append("</section>")
    return "".join(out)


def _ids(ids) -> str:
    shown = ", ".join(_id(i) for i in ids[:_SHOWN_IDS])
    return shown + (f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else "")


def _acquisition(a: dict) -> str:
    ring = e(a["ring"]) + (f" ({e(a['ring_source'])})" if a.get("ring_source") else "")
    cells = [("tube voltage", display(a["kvp"], "kV")), ("slice thickness", display(a["slice_thickness_mm"], "mm")),
             ("increment", display(a["slice_increment_mm"], "mm")), ("kernel", e(a["kernel"] or "-")),
             ("CTDIvol", display(a["ctdivol_mgy"], "mGy")), ("exposure", display(a.get("exposure_mas"), "mAs")), ("ring", ring)]
    return ("<section class='keep'><h2>Acquisition</h2><table><thead><tr>" + "".join(f"<th class='l'>{k}</th>" for k, _ in cells)
            + "</tr></thead><tbody><tr>" + "".join(f"<td class='l'>{v}</td>" for _, v in cells) + "</tr></tbody></table></section>")


def _inserts(d: dict) -> str:
    rows = []
    for i in d["inserts"]:
        c = i["centroid_mm"]
        err = f"{i['mass_error_pct']:+.1f}" if i["mass_error_pct"] is not None and i["detected"] else "-"
        rows.append(
            f"<tr><td class='l'>{_id(i['id'])}</td><td>{_num(i['detected'])}</td><td>{i['n_lesions']}</td><td>{_num(i['agatston'], 1)}</td>"
            f"<td>{_num(i['volume_mm3'], 1)}</td><td>{_num(i['mass_mg'], 2)}</td><td>{_num(i['physical_mass_mg'], 2)}</td><td>{err}</td>"
            f"<td class='l num'>{c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f}</td></tr>")
    t = d["totals"]
    rows.append(f"<tr><th class='l'>total</th><th>{t['n_detected']}</th><th></th><th>{_num(t['agatston'], 1)}</th>"
                f"<th>{_num(t['volume_mm3'], 1)}</th><th>{_num(t['mass_mg'], 2)}</th><th>{_num(t['physical_mass_mg'], 2)}</th>"
                "<th></th><th></th></tr>")
    cal, other = d["calibration"], d["other_lesions"]
    if cal["c_ha_mg_per_cm3_hu"] is not None:
        rods = (f"Calibration rods: water {_num(cal['water_hu'], 1)} HU (noise SD {_num(cal['noise_hu'], 1)} HU), "
                f"HA-200 {_num(cal['ha200_hu'], 1)} HU, c<sub>HA</sub> {_num(cal['c_ha_mg_per_cm3_hu'], 4)} mg/(cm&sup3; HU).")
    else:
        rods = "Calibration rods: not found, no mass calibration (masses are not available)."
    return ("<section class='keep'><h2>Inserts</h2><table><thead><tr><th class='l'>insert</th><th>detected</th><th>lesions</th>"
            "<th>Agatston</th><th>volume mm&sup3;</th><th>mass mg</th><th>physical mg</th><th>error %</th>"
            "<th class='l'>centroid x, y, z mm</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            f"<p>{rods} Other lesions inside the insert (noise): {other['n_lesions']}, Agatston {_num(other['agatston'], 1)}.</p>"
            "</section>")


def _checks(d: dict) -> str:
    rows = []
    for c in failing_first(_CheckView(c) for c in d["checks"]):
        c = c.raw
        source = c.get("source") or {}
        unit = unit_of(c["id"], source.get("metric"))
        rows.append(
            f"<tr class='{e(c['status'])}-row'><td class='l id'>{_id(c['id'])}</td><td class='l status {e(c['status'])}'>"
            f"{e(c['status'].replace('_', ' '))}</td><td>{e(display(c['measured'], unit))}</td>"
            f"<td>{e(display(c['expected'], unit))}</td><td>{e(display(source.get('action'), unit))}</td>"
            f"<td class='l'>{e(c['message'])}</td></tr>")
    return ("<section><h2>Checks</h2><table class='wide checks'><colgroup><col style='width:22%'><col style='width:10%'>"
            "<col style='width:12%'><col style='width:15%'><col style='width:12%'><col style='width:29%'></colgroup>"
            "<thead><tr><th class='l'>check</th><th class='l'>status</th>"
            "<th>measured</th><th>expected (tolerance)</th><th>action level</th><th class='l'>message</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>" + _baseline(d) + "</section>")


class _CheckView:
    """A check of the document seen as :func:`failing_first` sees a Check (its status)."""

    def __init__(self, raw: dict):
        self.raw, self.status = raw, raw["status"]


def _baseline(d: dict) -> str:
    b = d.get("baseline")
    if b is None:
        text = f"none yet ({e(d.get('baseline_from') or 'no baseline for this scanner')})"
    else:
        text = f"version {b['version']}, {b['n_runs']} runs, set {e(_when(b['created_at']))}"
        if b["configuration"] != d["configuration"]:
            text += " (of another configuration: this run is not compared with it)"
    return f"<p class='small'>Baseline: {text}.</p>"


def _signoff() -> str:
    return ("<section class='signoff' id='sign-off'><h2>Review and sign-off</h2><table>"
            "<tr><th>Reviewed by</th><td></td></tr><tr><th>Date</th><td></td></tr>"
            "<tr><th>Decision</th><td><span class='choice'>&#9744; released for calcium scoring</span>"
            "<span class='choice'>&#9744; not released</span></td></tr>"
            "<tr><th>Comment</th><td class='comment'></td></tr><tr><th>Signature</th><td></td></tr></table></section>")


def phantom_report_html(document: dict, overlay_png: bytes, trend_png: bytes | None, *, page_size: str | None = None) -> str:
    """The report of one run (``document``: its ``qa.phantom/1`` form); ``page_size`` (``A4``,
    ``letter``) fixes the paper of a print (the PDF's), else the browser's print dialog chooses."""
    d = document
    s, a = d["scanner"], d["acquisition"]
    header, footer = running_texts(d)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Phantom QA {e(s.get('station_name') or '')} {e(a.get('acquisition_datetime') or '')}</title>",
        f"<style>{CSS}{page_rules(header, footer, page_size)}</style></head><body>",
        f"<header><h1>Calcium phantom QA: {e(s.get('station_name') or '?')}</h1>",
        f"<p class='meta'>{e(s.get('manufacturer'))} {e(s.get('model'))}, serial {e(s.get('device_serial_number'))}"
        f" (identified by {e(s.get('identity') or 'serial number')})"
        f" &middot; acquired {e(_when(a.get('acquisition_datetime')))} &middot; analysed {e(_when(d.get('analysis_time')))}"
        f" &middot; procedure {e(d['procedure']['id'])} v{e(d['procedure']['version'])}"
        f" &middot; qa {e(d['provenance'].get('qa_version'))}</p></header>",
        _banner(d), _acquisition(a), _inserts(d),
        "<section class='figure'><h2>Located phantom</h2>" + _img(overlay_png, "located inserts and rods")
        + "<p class='small'>Each insert is circled and labelled with its id in the table above: a solid circle where it was "
        "detected, a dashed one at its expected position where it was not; the calibration rods likewise (solid: found). "
        "Grey scale: window 700 HU, level 150 HU.</p></section>",
        _checks(d),
    ]
    if trend_png is not None:
        parts.append("<section class='figure'><h2>Trends</h2><p class='small'>Each chart shows the limits this report's checks use: "
                     "the tolerance band (within: pass), the zone beyond it (hatched: warn) and the action level (solid line: fail "
                     "beyond). Drawn apart from them, the statistical control limits: baseline mean (solid), &plusmn;2 SD (dotted) "
                     "and &plusmn;3 SD (dashed) of the chart SD, which is the baseline's SD but never less than the procedure's "
                     "<code>min_sd_pct</code> of the mean (a short baseline underestimates the spread). Diamonds: runs flagged by a "
                     "Western Electric rule or the CUSUM: drift to look at, which need not fail a check.</p>"
                     + _img(trend_png, "control charts") + "</section>")
    if d.get("warnings"):
        parts.append("<section><h2>Notes</h2><ul>" + "".join(f"<li>{e(w)}</li>" for w in d["warnings"]) + "</ul></section>")
    parts.append(_signoff())
    parts.append(f"<footer><p class='small'>Series {e(d['series']['series_instance_uid'])}, {d['series']['n_slices']} slices; "
                 f"procedure SHA-256 <span class='ids'>{e(d['procedure']['sha256'])}</span></p></footer></body></html>")
    return "".join(parts)


def report_images(result: PhantomResult, volume: CTVolume, definition: PhantomDefinition, *,
                  charts: Mapping[str, MetricChart] | None = None, scanner: str = "",
                  baseline_version: int | None = None) -> tuple[bytes, bytes | None]:
    """(located phantom, control charts or None) as PNG: the pictures of the report of one run;
    ``charts``: the control charts of the stored runs (metric id -> chart), drawn when given."""
    overlay = phantom_overlay_png(volume, result.location, result.inserts, definition)
    trend = trend_figure_png(charts, scanner=scanner, baseline_version=baseline_version) if charts else None
    return overlay, trend


def render_phantom_report(document: dict, result: PhantomResult, volume: CTVolume, definition: PhantomDefinition, *,
                          charts: Mapping[str, MetricChart] | None = None, scanner: str = "", baseline_version: int | None = None,
                          page_size: str | None = None) -> str:
    """The HTML report of one run (see :func:`report_images`)."""
    overlay, trend = report_images(result, volume, definition, charts=charts, scanner=scanner, baseline_version=baseline_version)
    return phantom_report_html(document, overlay, trend, page_size=page_size)


def write_phantom_report(path, document: dict, result: PhantomResult, volume: CTVolume, definition: PhantomDefinition, *,
                         charts: Mapping[str, MetricChart] | None = None, scanner: str = "",
                         baseline_version: int | None = None) -> str:
    """Write the report of one run (see :func:`render_phantom_report`): complete or not at all."""
    from qa.report.plots import write_whole

    return write_whole(path, render_phantom_report(document, result, volume, definition, charts=charts, scanner=scanner,
                                                   baseline_version=baseline_version))
