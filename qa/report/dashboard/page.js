/* qa dashboard: the page.  Every number shown is computed here from the embedded rows, so the
   filters change them exactly.  Text from the store is set as text (textContent), never as markup. */
(function () {
"use strict";
var QA = window.QA;
var D = JSON.parse(document.getElementById("qa-data").textContent);
var R = D.rows;
R.monthNames = D.window.months;
var VERDICT_TEXT = { pass: "\u2713 PASS", incomplete: "? INCOMPLETE", warn: "! WARN", fail: "\u2717 FAIL" };

function h(tag, attrs, children) {
  var e = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) {
    if (k === "text") { e.textContent = attrs[k]; } else { e.setAttribute(k, attrs[k]); }
  });
  (children || []).forEach(function (c) {
    if (c === null || c === undefined) { return; }
    e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  });
  return e;
}

function clear(e) { while (e.firstChild) { e.removeChild(e.firstChild); } return e; }

function badge(verdict) {
  return h("span", { "class": "badge " + verdict, "data-verdict": verdict, text: VERDICT_TEXT[verdict] || verdict });
}

function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

function addDays(iso, days) {
  var p = iso.split("-").map(Number), d = new Date(p[0], p[1] - 1, p[2] + days);
  return d.getFullYear() + "-" + ("0" + (d.getMonth() + 1)).slice(-2) + "-" + ("0" + d.getDate()).slice(-2);
}

/* ---------------------------------------------------------------- filters */

var F = {
  from: document.getElementById("filter-from"), to: document.getElementById("filter-to"),
  protocol: document.getElementById("filter-protocol"), scanner: document.getElementById("filter-scanner"),
  reset: document.getElementById("filter-reset"), status: document.getElementById("filter-status")
};

function options(select, all, labels) {
  select.appendChild(h("option", { value: "-1", text: all }));
  labels.forEach(function (label, k) { select.appendChild(h("option", { value: String(k), text: label })); });
}

function resetFilters() {
  F.from.value = D.window.start;
  F.to.value = D.window.end;
  F.protocol.value = "-1";
  F.scanner.value = "-1";
}

function filters() {
  var from = F.from.value || D.window.start, to = F.to.value || D.window.end;
  if (from > to) { var t = from; from = to; to = t; }
  return { from: from, to: to, protocol: Number(F.protocol.value), scanner: Number(F.scanner.value) };
}

/* ---------------------------------------------------------------- the fleet table */

function doseCell(stats, q) {
  var d = stats.dose[q.key];
  var cell = h("td", { "data-col": q.key, "data-value": d.median === null ? "" : String(d.median), "data-n": String(d.n) });
  cell.appendChild(h("span", { "class": "num", text: QA.fmt(d.median, q.digits) }));
  if (d.median !== null && d.limit !== null) {
    var above = d.median > d.limit, limit = String(Number(d.limit.toPrecision(6)));
    cell.appendChild(h("div", { "class": "vs " + (above ? "above" : "within"), "data-level": stats.levelDef.id,
      title: stats.levelDef.name, text: (above ? "\u25b2 > " : "\u2713 \u2264 ") + limit + " " + stats.levelDef.id }));
    cell.appendChild(h("div", { "class": "small", "data-above": String(d.above), text: d.above + "/" + d.compared + " exams above" }));
  } else if (d.median !== null) {
    cell.appendChild(h("div", { "class": "small muted", text: stats.levelDef ? "no level for " + q.name : "no reference level applies" }));
  }
  return cell;
}

function qaCell(scanner) {
  var q = scanner.last_qa, cell = h("td", { "class": "l", "data-col": "qa" });
  if (!q) { cell.appendChild(h("span", { "class": "muted", text: "no phantom QA stored" })); return cell; }
  cell.setAttribute("data-verdict", q.verdict);
  cell.appendChild(badge(q.verdict));
  cell.appendChild(h("span", { "class": "qa-age", "data-age-days": String(q.age_days),
                              text: " " + q.acquired_at.slice(0, 10) + " \u00b7 " + plural(q.age_days, "day", "days") + " ago" }));
  if (q.overdue) {
    cell.appendChild(h("div", { "class": "overdue", "data-overdue": "true",
                               text: "\u26a0 OVERDUE: due every " + plural(q.interval_days, "day", "days") }));
  }
  return cell;
}

function topFailures(stats, count) {
  return Object.keys(stats.fails).sort(function (a, b) { return stats.fails[b] - stats.fails[a] || (a < b ? -1 : 1); })
    .slice(0, count).map(function (id) { return id + " \u00d7" + stats.fails[id]; });
}

function fleetRow(scanner, k, stats) {
  var tr = h("tr", { "data-scanner": String(scanner.id) });
  var name = h("td", { "class": "l", "data-col": "scanner", title: scanner.label });
  name.appendChild(h("a", { href: "#scanner-" + scanner.id, text: scanner.manufacturer + " " + scanner.model }));
  name.appendChild(h("div", { "class": "small", text: scanner.serial ? "SN " + scanner.serial + (scanner.station ? " \u00b7 " + scanner.station : "")
    : (scanner.station || "?") + " (no serial number)" }));
  tr.appendChild(name);
  tr.appendChild(qaCell(scanner));
  var studies = h("td", { "data-col": "studies", "data-value": String(stats.n), "data-calcium": String(stats.nCalcium),
                          "data-last-study": stats.lastDate || "" });
  studies.appendChild(h("span", { text: stats.n + " (" + stats.nCalcium + ")" }));
  if (stats.lastDate) { studies.appendChild(h("div", { "class": "small", text: "last " + stats.lastDate })); }
  tr.appendChild(studies);
  QA.QUANTITIES.forEach(function (q) { tr.appendChild(doseCell(stats, q)); });
  var comp = h("td", { "class": "l", "data-col": "compliance", "data-value": stats.rate === null ? "" : String(stats.rate) });
  if (stats.rate === null) {
    comp.appendChild(h("span", { "class": "muted", text: "no checked study" }));
  } else {
    comp.appendChild(h("span", { "class": "num", text: QA.fmt(100 * stats.rate, 1) + " %" }));
    comp.appendChild(h("span", { "class": "small", text: " (" + stats.compliant + " of " + stats.checked + ")" }));
    comp.appendChild(verdictCounts(stats.verdicts));
    var top = topFailures(stats, 3);
    comp.appendChild(h("div", { "class": "small", text: top.length ? "fails: " + top.join(", ") : "no failed check" }));
  }
  tr.appendChild(comp);
  tr.appendChild(doseCheckCell(stats.doseCheck));
  return tr;
}

/* The checklists' verdicts, each with its own symbol (distinct in greyscale, never a tick for incomplete). */
var CHECKLIST_VERDICTS = [["p", "pass", "\u2713", "pass"], ["i", "incomplete", "?", "incomplete"], ["w", "warn", "!", "warn"],
                          ["f", "fail", "\u2717", "fail"]];

function verdictCounts(counts) {
  var line = h("div", { "class": "small verdict-counts", "data-verdicts": "p" + counts.p + " i" + counts.i + " w" + counts.w + " f" + counts.f });
  CHECKLIST_VERDICTS.forEach(function (v, k) {
    if (k) { line.appendChild(document.createTextNode(" ")); }
    line.appendChild(h("span", { "class": "vc " + v[1], "data-verdict": v[1], title: v[3],
                                 text: v[2] + " " + counts[v[0]] + " " + v[3] }));
  });
  return line;
}

function doseCheckCell(dc) {
  var cell = h("td", { "data-col": "dosecheck", "data-value": String(dc.notifications), "data-alerts": String(dc.alerts) });
  cell.appendChild(h("span", { "class": "num" + (dc.alerts ? " alert" : ""), text: dc.alerts + " / " + dc.notifications }));
  cell.appendChild(h("div", { "class": "small", text: "alert / notification, of " + dc.events + " events" +
    (dc.studies ? " (" + plural(dc.studies, "study", "studies") + ")" : "") }));
  return cell;
}

/* ---------------------------------------------------------------- the workload */

function workloadTable(idx) {
  var grid = QA.workload(R, idx), used = [];
  for (var hr = 0; hr < 24; hr++) {
    if (grid.some(function (row) { return row[hr] > 0; })) { used.push(hr); }
  }
  if (!used.length) { return h("p", { "class": "muted", text: "No study in the selection." }); }
  var hours = [];
  for (var k = used[0]; k <= used[used.length - 1]; k++) { hours.push(k); }
  var top = Math.max.apply(null, grid.map(function (row) { return Math.max.apply(null, row); }));
  var head = h("tr", {}, [h("th", { "class": "l", text: "weekday" })].concat(hours.map(function (k) {
    return h("th", { text: ("0" + k).slice(-2) + "h" }); })).concat([h("th", { text: "all" })]));
  var body = QA.WEEKDAYS.map(function (name, d) {
    var total = grid[d].reduce(function (a, b) { return a + b; }, 0);
    return h("tr", { "data-weekday": name }, [h("th", { "class": "l", text: name })].concat(hours.map(function (k) {
      var n = grid[d][k], cell = h("td", { "data-hour": String(k), text: n ? String(n) : "" });
      if (n) { cell.setAttribute("style", "background: rgba(0, 114, 178, " + (0.08 + 0.5 * n / top).toFixed(3) + ")"); }
      return cell;
    })).concat([h("td", { "class": "num", text: String(total) })]));
  });
  return h("div", {}, [h("table", { "class": "workload-grid" }, [h("thead", {}, [head]), h("tbody", {}, body)]),
    h("p", { "class": "note", text: "Studies in the selection by weekday and hour of their local start time (phantom QA included)." })]);
}

/* ---------------------------------------------------------------- a scanner's section */

function levelFor(stats, q) {
  var lv = stats.levelDef;
  if (!lv || lv[q.level] === null || lv[q.level] === undefined) { return null; }
  return { id: lv.id, value: lv[q.level], label: lv.id + ": " + QA.fmt(lv[q.level], q.digits) + " " + q.unit + " (" + lv.kind + ")" };
}

function checkTable(stats) {
  var ids = D.checks.filter(function (id) { return stats.fails[id] || stats.warns[id]; });
  if (!stats.checked) { return h("p", { "class": "muted", text: "No checked study in the selection." }); }
  if (!ids.length && stats.verdicts.i) {
    return h("p", { "data-checks": "incomplete", text: "No check failed or warned, but " + plural(stats.verdicts.i, "checked study is",
      "checked studies are") + " incomplete (a check could not be run): not all clear." });
  }
  if (!ids.length) { return h("p", { text: "Every checked study passed every check." }); }
  ids.sort(function (a, b) { return (stats.fails[b] || 0) - (stats.fails[a] || 0) || (stats.warns[b] || 0) - (stats.warns[a] || 0) || (a < b ? -1 : 1); });
  var body = h("tbody", {}, ids.map(function (id) {
    var f = stats.fails[id] || 0, w = stats.warns[id] || 0;
    return h("tr", { "data-check": id }, [h("td", { "class": "l", text: id }), h("td", { text: String(f) }),
      h("td", { text: QA.fmt(100 * f / stats.checked, 1) }), h("td", { text: String(w) })]);
  }));
  return h("table", { "class": "checks" }, [h("thead", {}, [h("tr", {}, [h("th", { "class": "l", text: "check" }),
    h("th", { text: "failed" }), h("th", { text: "failed %" }), h("th", { text: "warned" })])]), body]);
}

function outlierTable(stats) {
  var found = QA.outliers(D, stats.calcium);
  if (!found.length) { return h("p", { "class": "muted", text: "No outlier in the selection." }); }
  var rows = found.slice(0, 15).map(function (o) {
    var i = o.row, why = QA.QUANTITIES.filter(function (q) { return o.z[q.key] !== undefined; })
      .map(function (q) { return q.name + " " + (o.z[q.key] > 0 ? "+" : "") + QA.fmt(o.z[q.key], 1); }).join(", ");
    return h("tr", { "data-study": R.key[i] }, [h("td", { "class": "l mono", text: R.key[i] + "\u2026" }), h("td", { "class": "l", text: R.date[i] }),
      h("td", { "class": "l", text: R.protocol[i] >= 0 ? D.protocols[R.protocol[i]] : "?" }),
      h("td", { text: QA.fmt(R.ctdivol[i], 2) }), h("td", { text: QA.fmt(R.dlp[i], 1) }), h("td", { text: QA.fmt(R.msv[i], 2) }),
      h("td", { "class": "l", text: why })]);
  });
  var head = ["study (pseudonym)", "date", "protocol", "CTDIvol mGy", "DLP mGy\u00b7cm", "mSv", "robust z"];
  var table = h("table", { "class": "outliers" }, [h("thead", {}, [h("tr", {}, head.map(function (t, k) {
    return h("th", { "class": k < 3 || k === 6 ? "l" : "", text: t }); }))]), h("tbody", {}, rows)]);
  var note = found.length > 15 ? h("p", { "class": "small", text: "The 15 largest of " + found.length + " outliers." }) : null;
  return h("div", {}, [table, note]);
}

function scannerSection(scanner, k, stats, f) {
  var months = D.window.months.filter(function (m) { return m >= f.from.slice(0, 7) && m <= f.to.slice(0, 7); });
  var sec = h("section", { id: "scanner-" + scanner.id, "class": "scanner", "data-scanner": String(scanner.id) });
  sec.appendChild(h("h2", { text: scanner.label }));
  var q = scanner.last_qa;
  var facts = [plural(stats.n, "study", "studies") + " in the selection, " + stats.nCalcium + " calcium score",
               "identified by " + scanner.identity_basis.replace("_", " ")];
  if (q) { facts.push("last phantom QA " + q.acquired_at.replace("T", " ") + " (" + q.verdict + ", procedure " + q.procedure + ")"); }
  if (stats.level.mixed) { facts.push("its studies fall under several reference levels: the charts use " + stats.levelDef.id + ", the most common"); }
  sec.appendChild(h("p", { "class": "small", text: facts.join(" \u00b7 ") }));
  var monthly = QA.monthly(R, stats.calcium, months);
  var charts = h("div", { "class": "charts" });
  QA.QUANTITIES.forEach(function (quantity) {
    charts.appendChild(QA.trendChart({ quantity: quantity, months: months, stats: monthly[quantity.key], level: levelFor(stats, quantity),
      levelNote: stats.levelDef ? "no " + quantity.name + " level in " + stats.levelDef.id : "no reference level applies" }));
  });
  sec.appendChild(charts);
  sec.appendChild(h("p", { "class": "small", text: "Calcium-score studies per month: " + months.map(function (m, j) {
    return m + " " + monthly.n[j]; }).join(", ") + (stats.eventsMedian === null ? "" : " \u00b7 irradiation events per calcium-score study: median " +
    QA.fmt(stats.eventsMedian, 1)) }));
  var due = q ? addDays(q.acquired_at.slice(0, 10), q.interval_days) : null;
  sec.appendChild(QA.qaTimeline({ from: f.from, to: f.to, runs: scanner.runs, due: due, interval: q ? q.interval_days : 1 }));
  var cols = h("div", { "class": "columns" });
  cols.appendChild(h("div", {}, [h("h3", { text: "Compliance by check" }), checkTable(stats)]));
  cols.appendChild(h("div", {}, [h("h3", { text: "Outliers (calcium score, robust z over the protocol's studies)" }), outlierTable(stats)]));
  sec.appendChild(cols);
  sec.appendChild(h("p", { "class": "small noprint" }, [h("a", { href: "#fleet-section", text: "\u2191 back to the fleet" })]));
  return sec;
}

/* ---------------------------------------------------------------- the whole page */

function render() {
  var f = filters();
  var idx = QA.select(R, f);
  var byScanner = D.scanners.map(function () { return []; });
  idx.forEach(function (i) { byScanner[R.scanner[i]].push(i); });
  var body = clear(document.querySelector("#fleet tbody")), sections = clear(document.getElementById("scanners"));
  var overdue = 0, failed = 0, incomplete = 0, shown = 0, calcium = 0, missing = 0, phantom = 0;
  idx.forEach(function (i) { if ((R.flags[i] & 2) === 2) { phantom++; } });
  D.scanners.forEach(function (scanner, k) {
    if (f.scanner !== -1 && f.scanner !== k) { return; }
    var stats = QA.scannerStats(D, byScanner[k]);
    shown++;
    calcium += stats.nCalcium;
    if (scanner.last_qa && scanner.last_qa.overdue) { overdue++; }
    if (!scanner.last_qa) { missing++; }
    if (scanner.last_qa && scanner.last_qa.verdict === "fail") { failed++; }
    if (scanner.last_qa && scanner.last_qa.verdict === "incomplete") { incomplete++; }
    body.appendChild(fleetRow(scanner, k, stats));
    sections.appendChild(scannerSection(scanner, k, stats, f));
  });
  if (!D.scanners.length) {
    body.appendChild(h("tr", {}, [h("td", { colspan: "8", "class": "muted", text: "The store holds no scanner with studies or phantom QA." })]));
  }
  clear(document.getElementById("workload")).appendChild(workloadTable(idx.filter(function (i) {
    return f.scanner === -1 || R.scanner[i] === f.scanner; })));
  var summary = document.getElementById("summary");
  clear(summary);
  summary.appendChild(h("span", { "data-summary": "studies", text: plural(shown, "scanner", "scanners") + " \u00b7 " +
    plural(idx.length, "study", "studies") + " (" + calcium + " calcium score" + (phantom ? ", " + phantom + " phantom QA" : "") + ") " }));
  summary.appendChild(h("span", { "class": overdue ? "alert" : "", "data-summary": "overdue",
    text: "\u00b7 " + overdue + " with overdue phantom QA " }));
  summary.appendChild(h("span", { "class": failed ? "alert" : "", "data-summary": "failed", text: "\u00b7 " + failed + " whose last QA failed " }));
  summary.appendChild(h("span", { "class": incomplete ? "alert" : "", "data-summary": "incomplete",
    text: "\u00b7 " + incomplete + " whose last QA is incomplete (checks not run) " }));
  summary.appendChild(h("span", { "class": missing ? "alert" : "", "data-summary": "missing",
    text: "\u00b7 " + missing + " with no phantom QA stored" }));
  var parts = [f.from + " to " + f.to];
  if (f.protocol !== -1) { parts.push("protocol " + D.protocols[f.protocol]); }
  if (f.scanner !== -1) { parts.push("scanner " + D.scanners[f.scanner].label); }
  F.status.textContent = "Showing " + plural(idx.length, "study", "studies") + " of " + R.date.length + ": " + parts.join(", ");
}

function footer() {
  var foot = document.getElementById("footer");
  var levels = D.levels.map(function (lv) {
    var values = QA.QUANTITIES.filter(function (q) { return lv[q.level] !== null; })
      .map(function (q) { return q.name + " " + lv[q.level] + " " + q.unit; }).join(", ");
    return h("li", { text: lv.id + " (" + (lv.kind === "national" ? "national diagnostic reference level" : "site-defined level") + "): " +
      values + ". " + lv.name + ". Source: " + lv.source });
  });
  foot.appendChild(h("h2", { text: "How to read this page" }));
  foot.appendChild(h("ul", {}, [
    h("li", { text: "Dose medians are over calcium-score studies (phantom QA studies left out). A reference level is compared with the " +
      "median, as dose audits compare diagnostic reference levels; the count of single exams above it is shown beside it." }),
    h("li", { "data-footer": "quantiles", text: "Median and 75th percentile: computed in this page with the definitions of numpy.median and " +
      "numpy.percentile with numpy's default method (linear interpolation between the sorted values at index (n \u2212 1) \u00b7 q)." }),
    h("li", { "data-footer": "compliance", text: "Compliance: the share of checked studies whose checklist did not fail (pass, " +
      "incomplete or warn, as qa check exits 0); below it the checklists by verdict: \u2713 pass, ? incomplete (nothing failed or " +
      "warned, but a check could not be run, such as the dose without a dose report: never counted as a pass), ! warn, \u2717 fail; " +
      "per check, the studies in which it failed or warned." }),
    h("li", { text: "Outliers: robust z = 0.6745 (x \u2212 median) / MAD over one scanner's calcium-score studies of one protocol " +
      "(Iglewicz and Hoaglin 1993), |z| > 3.5, in groups of at least " + QA.MIN_GROUP + " studies. Studies are shown by the first " +
      "characters of their keyed pseudonym only." }),
    h("li", { "data-footer": "incomplete", text: "Phantom QA INCOMPLETE: no check failed or warned, but some could not be run " +
      "(typically no baseline yet for the scanner): not all clear; the physicist reviews the run and sets the baseline." }),
    h("li", { text: "Phantom QA is overdue when the last run is more calendar days old than its procedure's interval (daily when the " +
      "procedure names none)." }),
    h("li", { "data-footer": "dose-check", text: "Dose Check: the irradiation events whose dose report (CT Dose Check Details, DICOM " +
      "TID 10015; NEMA XR 25) says the scanner's alert / notification value was exceeded and the operator proceeded, over every " +
      "study of the scanner in the selection; qa dose shows each one's values, reason and who authorised it (a pseudonym)." }),
    h("li", { text: "Filters change every number and chart except the last phantom QA, which is as of the time this page was made." })
  ]));
  foot.appendChild(h("h3", { text: "Reference levels" }));
  foot.appendChild(levels.length ? h("ul", {}, levels) : h("p", { text: "No reference level applies to the studies shown." }));
  var provenance = "qa " + D.qa_version + " \u00b7 database " + D.database + " \u00b7 generated " + D.generated_at.replace("T", " ") +
    " \u00b7 window " + D.window.start + " to " + D.window.end + " (" + plural(D.window.months.length, "month", "months") + ") \u00b7 " +
    "dose tables " + D.dose_tables.path + " (SHA-256 " + D.dose_tables.sha256.slice(0, 12) + "\u2026)";
  foot.appendChild(h("p", { "class": "provenance", "data-footer": "provenance", text: provenance }));
  if (D.warnings && D.warnings.length) {
    foot.appendChild(h("h3", { text: "Notes" }));
    foot.appendChild(h("ul", { "data-footer": "warnings" }, D.warnings.map(function (w) { return h("li", { text: w }); })));
  }
}

options(F.protocol, "All protocols", D.protocols);
options(F.scanner, "All scanners", D.scanners.map(function (s) { return s.label; }));
[F.from, F.to].forEach(function (input) { input.min = D.window.start; input.max = D.window.end; });
resetFilters();
[F.from, F.to, F.protocol, F.scanner].forEach(function (input) {
  input.addEventListener("change", render);
  input.addEventListener("input", render);
});
F.reset.addEventListener("click", function () { resetFilters(); render(); });
document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); });
footer();
render();
})();
