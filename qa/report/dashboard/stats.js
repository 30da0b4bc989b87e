/* qa dashboard: statistics over the embedded per-study rows (no library, no network). */
(function () {
"use strict";
var QA = window.QA = window.QA || {};

/* numpy.median: the middle value, or the mean of the two middle values. */
QA.median = function (values) {
  var x = values.slice().sort(function (a, b) { return a - b; });
  var n = x.length;
  if (!n) { return null; }
  var k = Math.floor(n / 2);
  return n % 2 ? x[k] : (x[k - 1] + x[k]) / 2;
};

/* numpy.quantile(values, q) with numpy's default method "linear" (Hyndman & Fan type 7):
   virtual index n*q - q between the sorted values, interpolated as numpy's _lerp does. */
QA.quantile = function (values, q) {
  var x = values.slice().sort(function (a, b) { return a - b; });
  var n = x.length;
  if (!n) { return null; }
  var v = n * q - q;
  var prev = Math.floor(v);
  var gamma = v - prev;
  var lo = Math.min(Math.max(prev, 0), n - 1);
  var hi = Math.min(Math.max(prev + 1, 0), n - 1);
  var a = x[lo], b = x[hi], d = b - a;
  return gamma >= 0.5 ? b - d * (1 - gamma) : a + d * gamma;
};

/* Robust z (Iglewicz & Hoaglin 1993): 0.6745 (x - median) / MAD; an outlier beyond 3.5. */
QA.ROBUST_Z_FACTOR = 0.6745;  // Iglewicz B, Hoaglin DC. How to detect and handle outliers. ASQC 1993
QA.ROBUST_Z_LIMIT = 3.5;      // the same reference: |modified z| > 3.5 flags a potential outlier
QA.MIN_GROUP = 5;             // our proposal: no outlier is named in a group of fewer studies

QA.QUANTITIES = [
  { key: "ctdivol", level: "ctdivol_mgy", name: "CTDIvol", unit: "mGy", digits: 2 },
  { key: "dlp", level: "dlp_mgycm", name: "DLP", unit: "mGy\u00b7cm", digits: 1 },
  { key: "msv", level: "dose_msv", name: "Effective dose", unit: "mSv", digits: 2 }
];

QA.isCalcium = function (rows, i) { return (rows.flags[i] & 1) === 1 && (rows.flags[i] & 2) === 0; };

/* The rows that pass the filters: {from, to} ISO dates (inclusive), protocol index (-1: all), scanner index (-1: all). */
QA.select = function (rows, f) {
  var out = [];
  for (var i = 0; i < rows.date.length; i++) {
    var d = rows.date[i];
    if (f.from && d < f.from) { continue; }
    if (f.to && d > f.to) { continue; }
    if (f.protocol !== -1 && rows.protocol[i] !== f.protocol) { continue; }
    if (f.scanner !== -1 && rows.scanner[i] !== f.scanner) { continue; }
    out.push(i);
  }
  return out;
};

function values(rows, idx, key) {
  var out = [];
  for (var j = 0; j < idx.length; j++) {
    var v = rows[key][idx[j]];
    if (v !== null && v !== undefined) { out.push(v); }
  }
  return out;
}
QA.values = values;

/* The level most of the calcium-score studies have (index into data.levels, -1: none), and whether they differ. */
function mainLevel(rows, idx) {
  var count = {}, best = -1, bestN = 0, kinds = 0;
  for (var j = 0; j < idx.length; j++) {
    var lv = rows.level[idx[j]];
    if (lv < 0) { continue; }
    if (!count[lv]) { count[lv] = 0; kinds++; }
    count[lv]++;
    if (count[lv] > bestN || (count[lv] === bestN && lv < best)) { best = lv; bestN = count[lv]; }
  }
  return { index: best, mixed: kinds > 1, n: bestN };
}

/* Everything the page shows about one scanner's selected rows. */
QA.scannerStats = function (data, idx) {
  var rows = data.rows, calcium = [], checked = 0, compliant = 0, fails = {}, warns = {}, na = {};
  var verdicts = { p: 0, i: 0, w: 0, f: 0 };  // the checklists' verdicts: pass, incomplete (counted apart), warn, fail
  for (var j = 0; j < idx.length; j++) {
    var i = idx[j];
    if (QA.isCalcium(rows, i)) { calcium.push(i); }
    var v = rows.verdict.charAt(i);
    if (v === "-") { continue; }
    checked++;
    if (v !== "f") { compliant++; }
    if (verdicts[v] !== undefined) { verdicts[v]++; }
    var codes = rows.checks[i];
    for (var c = 0; c < codes.length; c++) {
      var id = data.checks[c], code = codes.charAt(c);
      if (code === "f") { fails[id] = (fails[id] || 0) + 1; }
      if (code === "w") { warns[id] = (warns[id] || 0) + 1; }
      if (code === "n") { na[id] = (na[id] || 0) + 1; }
    }
  }
  var level = mainLevel(rows, calcium);
  var lv = level.index >= 0 ? data.levels[level.index] : null;
  var dose = {};
  QA.QUANTITIES.forEach(function (q) {
    var withLevel = calcium.filter(function (i) { return rows.level[i] === level.index && rows[q.key][i] !== null; });
    var limit = lv ? lv[q.level] : null;
    var above = limit === null || limit === undefined ? null
      : withLevel.filter(function (i) { return rows[q.key][i] > limit; }).length;
    dose[q.key] = { median: QA.median(values(rows, calcium, q.key)), n: values(rows, calcium, q.key).length,
                    limit: limit === undefined ? null : limit, above: above, compared: withLevel.length };
  });
  var dc = QA.doseCheck(rows, idx), lastDate = null;  // the last study date (OpenREM's home page shows it per system)
  idx.forEach(function (i) { if (lastDate === null || rows.date[i] > lastDate) { lastDate = rows.date[i]; } });
  return { n: idx.length, lastDate: lastDate, calcium: calcium, nCalcium: calcium.length, checked: checked, compliant: compliant,
           rate: checked ? compliant / checked : null, verdicts: verdicts, fails: fails, warns: warns, na: na, level: level, levelDef: lv, dose: dose,
           doseCheck: dc, eventsMedian: QA.median(values(rows, calcium, "events")) };
};

/* CT Dose Check (TID 10015) over the rows: events with an alert / notification value exceeded, and the studies with either. */
QA.doseCheck = function (rows, idx) {
  var out = { alerts: 0, notifications: 0, studies: 0, events: 0 };
  idx.forEach(function (i) {
    out.alerts += rows.dca[i];
    out.notifications += rows.dcn[i];
    out.events += rows.events[i];
    if (rows.dca[i] || rows.dcn[i]) { out.studies++; }
  });
  return out;
};

QA.WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/* Studies per weekday (Monday first, from the local date) and hour of the local start time. */
QA.workload = function (rows, idx) {
  var grid = QA.WEEKDAYS.map(function () { var a = []; for (var k = 0; k < 24; k++) { a.push(0); } return a; });
  idx.forEach(function (i) {
    var p = rows.date[i].split("-").map(Number);
    var day = (new Date(p[0], p[1] - 1, p[2]).getDay() + 6) % 7;
    grid[day][rows.hour[i]]++;
  });
  return grid;
};

/* Median and 75th percentile per month of the calcium-score studies, for each quantity. */
QA.monthly = function (rows, calcium, months) {
  var byMonth = months.map(function () { return []; });
  var index = {};
  months.forEach(function (m, k) { index[m] = k; });
  var all = rows.monthNames;
  calcium.forEach(function (i) {
    var k = index[all[rows.month[i]]];
    if (k !== undefined) { byMonth[k].push(i); }
  });
  var out = { n: byMonth.map(function (b) { return b.length; }) };
  QA.QUANTITIES.forEach(function (q) {
    out[q.key] = byMonth.map(function (b) {
      var v = values(rows, b, q.key);
      return { median: QA.median(v), p75: QA.quantile(v, 0.75), n: v.length };
    });
  });
  return out;
};

/* Outliers among calcium-score studies: robust z within each protocol's group (the scanner's). */
QA.outliers = function (data, calcium) {
  var rows = data.rows, groups = {}, found = {};
  calcium.forEach(function (i) {
    var key = String(rows.protocol[i]);
    (groups[key] = groups[key] || []).push(i);
  });
  Object.keys(groups).forEach(function (key) {
    var members = groups[key];
    QA.QUANTITIES.forEach(function (q) {
      var v = values(rows, members, q.key);
      if (v.length < QA.MIN_GROUP) { return; }
      var med = QA.median(v);
      var mad = QA.median(v.map(function (x) { return Math.abs(x - med); }));
      if (!mad) { return; }
      members.forEach(function (i) {
        var x = rows[q.key][i];
        if (x === null) { return; }
        var z = QA.ROBUST_Z_FACTOR * (x - med) / mad;
        if (Math.abs(z) > QA.ROBUST_Z_LIMIT) {
          var o = found[i] = found[i] || { row: i, z: {}, worst: 0 };
          o.z[q.key] = z;
          o.worst = Math.max(o.worst, Math.abs(z));
        }
      });
    });
  });
  return Object.keys(found).map(function (k) { return found[k]; })
    .sort(function (a, b) { return b.worst - a.worst || a.row - b.row; });
};
})();
