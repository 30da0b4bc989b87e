/* qa dashboard: small SVG charts drawn here (no chart library).  Okabe-Ito colours (colour-blind
   safe; Okabe M, Ito K. Color Universal Design, 2008), told apart by marker and dash too, for print. */
(function () {
"use strict";
var QA = window.QA = window.QA || {};
var SVG = "http://www.w3.org/2000/svg";
var C = QA.COLORS = { median: "#0072B2", p75: "#E69F00", level: "#D55E00", pass: "#009E73", warn: "#E69F00",
                      fail: "#D55E00", incomplete: "#56B4E9", grid: "#d9d9d9", axis: "#333333", text: "#222222", muted: "#666666" };

function s(tag, attrs, text) {
  var e = document.createElementNS(SVG, tag);
  Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
  if (text !== undefined && text !== null) { e.textContent = String(text); }
  return e;
}
QA.svgElement = s;

QA.fmt = function (v, digits) {
  return v === null || v === undefined || !isFinite(v) ? "\u2013" : Number(v).toFixed(digits);
};

function niceTicks(max, count) {
  if (!(max > 0)) { max = 1; }
  var raw = max / count, p = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), f = raw / p;
  var step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
  var ticks = [];
  for (var t = 0; t <= max + step * 1e-9; t += step) { ticks.push(Number(t.toPrecision(12))); }
  if (ticks[ticks.length - 1] < max) { ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12))); }
  return ticks;
}

function marker(kind, x, y, color, filled) {
  var fill = filled === false ? "#ffffff" : color;
  if (kind === "square") { return s("rect", { x: x - 3.5, y: y - 3.5, width: 7, height: 7, fill: fill, stroke: color, "stroke-width": 1.5 }); }
  if (kind === "triangle") { return s("path", { d: "M" + x + "," + (y - 5) + " L" + (x + 5) + "," + (y + 4) + " L" + (x - 5) + "," + (y + 4) + " Z", fill: fill, stroke: color, "stroke-width": 1.5 }); }
  if (kind === "cross") { return s("path", { d: "M" + (x - 4.5) + "," + (y - 4.5) + " L" + (x + 4.5) + "," + (y + 4.5) + " M" + (x - 4.5) + "," + (y + 4.5) + " L" + (x + 4.5) + "," + (y - 4.5), stroke: color, "stroke-width": 2.5 }); }
  return s("circle", { cx: x, cy: y, r: 3.8, fill: fill, stroke: color, "stroke-width": 1.5 });
}

/* points: [x, y, value, label] or null (a gap); each marker carries its value and label (data-value, data-label). */
function polyline(svg, points, color, dash, kind, series) {
  var run = [];
  function flush() {
    if (run.length > 1) {
      svg.appendChild(s("polyline", { points: run.join(" "), fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": dash || "none" }));
    }
    run = [];
  }
  points.forEach(function (p) {
    if (p === null) { flush(); return; }
    run.push(p[0].toFixed(1) + "," + p[1].toFixed(1));
  });
  flush();
  points.forEach(function (p) {
    if (p === null) { return; }
    var m = marker(kind, p[0], p[1], color);
    m.setAttribute("data-series", series);
    m.setAttribute("data-value", String(p[2]));
    m.setAttribute("data-label", p[3]);
    m.appendChild(s("title", {}, p[3] + " " + series + ": " + Number(p[2].toPrecision(6))));
    svg.appendChild(m);
  });
}

/* A monthly trend: median and 75th percentile per month, the reference level as a line with its name.
   o = {quantity, months, stats: [{median, p75, n}], level: {value, label} | null, levelNote} */
QA.trendChart = function (o) {
  var W = 400, H = 300, L = 58, R = 14, T = 46, B = 84;
  var q = o.quantity;
  var svg = s("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "class": "chart",
                       "data-chart": q.key, "aria-label": q.name + " per month (" + q.unit + ")" });
  svg.appendChild(s("text", { x: 4, y: 15, "class": "chart-title" }, q.name + " per month, calcium-score studies"));
  var all = [];
  o.stats.forEach(function (m) { if (m.median !== null) { all.push(m.median, m.p75); } });
  var levelValue = o.level ? o.level.value : null;
  var top = Math.max.apply(null, all.concat(levelValue !== null ? [levelValue] : [0]).concat([0]));
  var ticks = niceTicks(top * 1.08, 5), ymax = ticks[ticks.length - 1];
  var pw = W - L - R, ph = H - T - B, n = o.months.length;
  function X(k) { return L + (n === 1 ? pw / 2 : (k + 0.5) * pw / n); }
  function Y(v) { return T + ph - (v / ymax) * ph; }
  ticks.forEach(function (t) {
    svg.appendChild(s("line", { x1: L, x2: L + pw, y1: Y(t), y2: Y(t), stroke: C.grid, "stroke-width": 1 }));
    svg.appendChild(s("text", { x: L - 5, y: Y(t) + 4, "text-anchor": "end", "class": "tick" }, Number(t.toPrecision(6))));
  });
  svg.appendChild(s("line", { x1: L, x2: L, y1: T, y2: T + ph, stroke: C.axis }));
  svg.appendChild(s("line", { x1: L, x2: L + pw, y1: T + ph, y2: T + ph, stroke: C.axis }));
  var every = Math.max(1, Math.ceil(n / 13));
  o.months.forEach(function (m, k) {
    if (k % every !== 0) { return; }
    var x = X(k), y = T + ph + 10;
    svg.appendChild(s("text", { x: x, y: y, "text-anchor": "end", transform: "rotate(-45 " + x + " " + y + ")", "class": "tick" }, m));
  });
  svg.appendChild(s("text", { x: 14, y: T + ph / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (T + ph / 2) + ")",
                              "class": "axis-title", "data-axis": "y" }, q.name + " (" + q.unit + ")"));
  svg.appendChild(s("text", { x: L + pw / 2, y: H - 6, "text-anchor": "middle", "class": "axis-title", "data-axis": "x" },
                    "month of the study (YYYY-MM)"));
  if (levelValue !== null) {
    var yl = Y(levelValue);
    svg.appendChild(s("line", { x1: L, x2: L + pw, y1: yl, y2: yl, stroke: C.level, "stroke-width": 2, "stroke-dasharray": "8 3 2 3",
                                "class": "ref-level", "data-level": o.level.id }));
    svg.appendChild(s("text", { x: L + pw - 2, y: yl - 4, "text-anchor": "end", "class": "level-label", fill: C.level },
                      o.level.label));
  } else {
    svg.appendChild(s("text", { x: L + pw - 2, y: T + 10, "text-anchor": "end", "class": "level-label muted" }, o.levelNote));
  }
  polyline(svg, o.stats.map(function (m, k) { return m.p75 === null ? null : [X(k), Y(m.p75), m.p75, o.months[k]]; }),
           C.p75, "5 3", "square", "p75");
  polyline(svg, o.stats.map(function (m, k) { return m.median === null ? null : [X(k), Y(m.median), m.median, o.months[k]]; }),
           C.median, null, "circle", "median");
  var lg = s("g", { "class": "legend", transform: "translate(" + L + ",30)" });
  lg.appendChild(s("line", { x1: 0, x2: 18, y1: 0, y2: 0, stroke: C.median, "stroke-width": 2 }));
  lg.appendChild(marker("circle", 9, 0, C.median));
  lg.appendChild(s("text", { x: 22, y: 4 }, "median"));
  lg.appendChild(s("line", { x1: 74, x2: 92, y1: 0, y2: 0, stroke: C.p75, "stroke-width": 2, "stroke-dasharray": "5 3" }));
  lg.appendChild(marker("square", 83, 0, C.p75));
  lg.appendChild(s("text", { x: 96, y: 4 }, "75th percentile"));
  lg.appendChild(s("line", { x1: 196, x2: 222, y1: 0, y2: 0, stroke: C.level, "stroke-width": 2, "stroke-dasharray": "8 3 2 3" }));
  lg.appendChild(s("text", { x: 226, y: 4 }, "reference level"));
  svg.appendChild(lg);
  return svg;
};

/* incomplete: no check failed or warned but some could not be run (no baseline yet): never a pass */
var VERDICTS = [["pass", "circle"], ["incomplete", "square"], ["warn", "triangle"], ["fail", "cross"]];

/* Phantom QA runs over time, one lane per verdict; the reference is when the next run is due.
   o = {from, to (ISO dates), runs: {t: [...], v: [...], ok: [...]}, due: ISO date | null, interval} */
QA.qaTimeline = function (o) {
  var W = 1200, H = 170, L = 104, R = 20, T = 30, B = 42;
  var svg = s("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img", "class": "chart timeline", "data-chart": "phantom-qa",
                       "aria-label": "phantom QA verdicts over time", preserveAspectRatio: "xMinYMin meet" });
  svg.appendChild(s("text", { x: 4, y: 15, "class": "chart-title" }, "Phantom QA runs: verdict by acquisition date"));
  var t0 = Date.parse(o.from + "T00:00:00"), t1 = Date.parse(o.to + "T23:59:59");
  if (!(t1 > t0)) { t1 = t0 + 86400000; }
  var pw = W - L - R, lane = (H - T - B) / VERDICTS.length;
  function X(t) { return L + (t - t0) / (t1 - t0) * pw; }
  var counts = { pass: 0, incomplete: 0, warn: 0, fail: 0 };
  o.runs.t.forEach(function (t, i) {
    var when = Date.parse(t);
    if (when >= t0 && when <= t1 && counts[o.runs.v[i]] !== undefined) { counts[o.runs.v[i]]++; }
  });
  VERDICTS.forEach(function (v, k) {
    var y = T + lane * (k + 0.5);
    svg.appendChild(s("line", { x1: L, x2: L + pw, y1: y, y2: y, stroke: C.grid }));
    svg.appendChild(s("text", { x: L - 6, y: y + 4, "text-anchor": "end", "class": "tick", "data-lane": v[0] }, v[0] + " (" + counts[v[0]] + ")"));
  });
  svg.appendChild(s("line", { x1: L, x2: L + pw, y1: H - B, y2: H - B, stroke: C.axis }));
  var d = new Date(t0);
  d = new Date(d.getFullYear(), d.getMonth(), 1);
  while (d.getTime() <= t1) {
    if (d.getTime() >= t0) {
      var x = X(d.getTime());
      svg.appendChild(s("line", { x1: x, x2: x, y1: H - B, y2: H - B + 4, stroke: C.axis }));
      var label = d.getFullYear() + "-" + ("0" + (d.getMonth() + 1)).slice(-2);
      svg.appendChild(s("text", { x: x + 2, y: H - B + 15, "class": "tick" }, label));
    }
    d = new Date(d.getFullYear(), d.getMonth() + 1, 1);
  }
  svg.appendChild(s("text", { x: L + pw / 2, y: H - 4, "text-anchor": "middle", "class": "axis-title", "data-axis": "x" },
                    "acquisition date (local time; one mark per run, hollow: the scan did not follow the procedure)"));
  var shown = 0;
  o.runs.t.forEach(function (t, i) {
    var when = Date.parse(t);
    if (when < t0 || when > t1) { return; }
    var k = VERDICTS.map(function (v) { return v[0]; }).indexOf(o.runs.v[i]);
    if (k < 0) { return; }
    var m = marker(VERDICTS[k][1], X(when), T + lane * (k + 0.5), C[VERDICTS[k][0]], o.runs.ok[i]);
    m.appendChild(s("title", {}, t + " " + o.runs.v[i]));
    svg.appendChild(m);
    shown++;
  });
  if (o.due) {
    var due = Date.parse(o.due + "T00:00:00");
    if (due >= t0 && due <= t1) {
      var xd = X(due);
      svg.appendChild(s("line", { x1: xd, x2: xd, y1: T - 4, y2: H - B, stroke: C.level, "stroke-width": 2, "stroke-dasharray": "8 3 2 3",
                                  "class": "ref-level", "data-level": "due" }));
      svg.appendChild(s("text", { x: xd - 4, y: T - 8, "text-anchor": xd > L + pw * 0.8 ? "end" : "start", "class": "level-label", fill: C.level },
                        "next QA due " + o.due + " (every " + o.interval + " d)"));
    } else {
      svg.appendChild(s("text", { x: L + pw, y: T - 8, "text-anchor": "end", "class": "level-label", fill: C.level },
                        "next QA due " + o.due + " (every " + o.interval + " d)"));
    }
  }
  if (!shown) {
    svg.appendChild(s("text", { x: L + pw / 2, y: T + lane * 1.5 + 4, "text-anchor": "middle", "class": "muted" },
                      "no phantom QA run in the selected dates"));
  }
  return svg;
};
})();
