(function () {
"use strict";
var DATA = JSON.parse(document.getElementById("data").textContent);
var ROWS = DATA.rows, DETAILS = DATA.details, SCALES = DATA.scales;
var N = ROWS.length;
var TIERS = DATA.tiers;  // each tier's [label, icon, sort order]
// with a since date: {since, groups: {key: [row index, ...]}} for the "What changed" view
var CHANGES = DATA.changes || null;
var STATUS = {attended: ["✓", "attended"], no_show: ["✗", "no-show"],
  late_cancel: ["L", "late cancel"], cancelled: ["C", "cancelled"]};
var SERIES = [
  {key: "bond", col: 3, label: "Bond", color: "#0072B2", dash: "", shape: "circle"},
  {key: "goal", col: 4, label: "Goal", color: "#D55E00", dash: "6 3", shape: "square"},
  {key: "task", col: 5, label: "Task", color: "#009E73", dash: "2 3", shape: "triangle"},
  {key: "srs", col: 6, label: "SRS total", color: "#6A3D9A", dash: "", shape: "circle"}];
var RUPTURE_COL = {wai_bond: 3, wai_goal: 4, wai_task: 5, srs_total: 6};
var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});

function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
  });
}
function $(id) { return document.getElementById(id); }
function tierBadge(t) {
  var d = TIERS[t] || TIERS[""];
  return "<span class='tier tier-" + (t || "none") + "'><span aria-hidden='true'>" + d[1] +
    "</span> " + d[0] + "</span>";
}
function fmt(x, digits) { return x == null ? "–" : Number(x).toFixed(digits); }

// "then → now", read as "then to now"
var TO = "<span aria-hidden='true'> → </span><span class='sr'> to </span>";
function changeText(r) {
  return r.new ? "<span class='new'>new</span>" : esc(r.chgtxt);
}
function context(r) { return r.ctx ? "<p class='ctx'>" + esc(r.ctx) + "</p>" : ""; }

// ---------------------------------------------------------------- table rows, built once
var tbody = document.querySelector("#risk-table tbody");
function rowHtml(r, i) {
  var risk = r.scored
    ? "<span class='pct'>" + esc(r.pct) + "</span><span class='bar' aria-hidden='true'>" +
      "<span style='width:" + Math.max(0, Math.min(100, r.risk * 100)).toFixed(1) +
      "%'></span></span>"
    : "<span class='why'>not scored</span>";
  var reasons = r.scored
    ? "<ol>" + r.reasons.map(function (x) { return "<li>" + esc(x) + "</li>"; }).join("") + "</ol>" +
      context(r)
    : "<span class='why'>Not scored: " + esc(r.why) + "</span>";
  var change = CHANGES
    ? "<td class='num chg' title='" + esc(r.cr) + "'>" + changeText(r) + "</td>" : "";
  return "<tr tabindex='0' data-i='" + i + "'><td class='num'>" + r.rank + "</td>" +
    "<th scope='row' class='client'>" + esc(r.id) + "</th><td>" + esc(r.th) + "</td><td>" +
    esc(r.site) + "</td><td class='risk'>" + risk + "</td><td class='num soon'>" +
    esc(r.soonpct) + "</td><td>" + tierBadge(r.tier) + "</td>" + change +
    "<td class='reasons'>" + reasons + "</td><td class='num'>" + r.n + "</td><td>" +
    (r.last ? esc(r.last) : "<span class='why'>none yet</span>") + "</td></tr>";
}
for (var i = 0; i < N; i++) {
  var r = ROWS[i];
  r.idLower = r.id.toLowerCase();
  r.tierOrder = (TIERS[r.tier] || TIERS[""])[2];
  r.firstReason = r.reasons[0] || "";
}
// Rows are built on first use and kept: sorting and filtering only reorder built rows.
// A table lays out slowly (about 0.3 ms a row), so only the first PAGE matching rows are
// in the document at first; more follow as the reader scrolls, and all before printing.
var PAGE = 200, TRS = new Array(N), scratch = document.createElement("tbody");
function built(indices) {
  var missing = indices.filter(function (i) { return !TRS[i]; });
  if (missing.length) {
    scratch.innerHTML = missing.map(function (i) { return rowHtml(ROWS[i], i); }).join("");
    var made = Array.prototype.slice.call(scratch.rows);
    missing.forEach(function (i, k) { TRS[i] = made[k]; });
  }
  return indices.map(function (i) { return TRS[i]; });
}

// ---------------------------------------------------------------- filters and sorting
function uniqueSorted(key) {
  var seen = {}, out = [];
  ROWS.forEach(function (r) { if (!seen.hasOwnProperty(r[key])) { seen[r[key]] = 1; out.push(r[key]); } });
  return out.sort(collator.compare);
}
function fillSelect(select, values, blankLabel) {
  var html = "";
  values.forEach(function (v) {
    html += "<option value='" + esc(v) + "'>" + esc(v === "" ? blankLabel : v) + "</option>";
  });
  select.insertAdjacentHTML("beforeend", html);
}
// one therapist's page has no therapist filter
var fTherapist = $("f-therapist"), fSite = $("f-site"), fTier = $("f-tier"),
  fSearch = $("f-search");
if (fTherapist) fillSelect(fTherapist, uniqueSorted("th"), "(no therapist)");
fillSelect(fSite, uniqueSorted("site"), "(no site)");

var SORT_KEYS = {
  rank: function (r) { return r.rank; }, id: function (r) { return r.id; },
  th: function (r) { return r.th; }, site: function (r) { return r.site; },
  risk: function (r) { return r.risk; }, soon: function (r) { return r.soon; },
  chg: function (r) { return r.chg; }, tier: function (r) { return r.tierOrder; },
  reasons: function (r) { return r.firstReason; }, n: function (r) { return r.n; },
  last: function (r) { return r.last; }};
var sortKey = "rank", sortDir = 1;
var order = ROWS.map(function (_, i) { return i; });

function sortRows() {
  var get = SORT_KEYS[sortKey];
  order.sort(function (a, b) {
    var ra = ROWS[a], rb = ROWS[b];
    // not-scored clients stay last whichever way the table is sorted
    if (ra.scored !== rb.scored) return ra.scored ? -1 : 1;
    var va = get(ra), vb = get(rb), c;
    if (typeof va === "number" || typeof vb === "number") {
      c = va == null ? (vb == null ? 0 : 1) : vb == null ? -1 : (va - vb) * sortDir;
    } else if (va === "" || vb === "") {
      c = va === vb ? 0 : va === "" ? 1 : -1;
    } else {
      c = collator.compare(va, vb) * sortDir;
    }
    return c || ra.rank - rb.rank;
  });
}

var matched = [], listed = 0;
function matches(r, th, site, tier, q) {
  return (th === null || r.th === th) && (site === null || r.site === site) &&
    (tier === null || (tier === "none" ? !r.scored : r.tier === tier)) &&
    (q === "" || r.idLower.indexOf(q) !== -1);
}
function render() {
  var th = fTherapist && fTherapist.selectedIndex > 0 ? fTherapist.value : null;
  var site = fSite.selectedIndex > 0 ? fSite.value : null;
  var tier = fTier.value || null;
  var q = fSearch.value.trim().toLowerCase();
  matched = order.filter(function (i) { return matches(ROWS[i], th, site, tier, q); });
  tbody.textContent = "";
  listed = 0;
  more(PAGE);
  $("shown").textContent = N === 0 ? "No active clients." :
    matched.length + " of " + N + " clients shown";
  $("empty").hidden = matched.length > 0 || N === 0;
}
function more(count) {
  var upto = Math.min(matched.length, listed + count);
  if (upto > listed) {
    var frag = document.createDocumentFragment();
    built(matched.slice(listed, upto)).forEach(function (tr) { frag.appendChild(tr); });
    tbody.appendChild(frag);
    listed = upto;
  }
  var rest = matched.length - listed;
  $("more").hidden = rest === 0;
  $("more-text").textContent = "Listed " + listed + " of " + matched.length + ".";
  $("show-more").textContent = "Show " + Math.min(PAGE, rest) + " more";
  $("show-all").textContent = "Show all " + matched.length;
}
$("show-more").addEventListener("click", function () { more(PAGE); });
$("show-all").addEventListener("click", function () { more(matched.length); });
if ("IntersectionObserver" in window) {
  new IntersectionObserver(function (seen) {
    if (seen[0].isIntersecting && listed < matched.length) more(PAGE);
  }, {rootMargin: "600px"}).observe($("more"));
}
window.addEventListener("beforeprint", function () { more(matched.length); });
if (window.matchMedia) {
  var printing = window.matchMedia("print");
  var toPrint = function (e) { if (e.matches) more(matched.length); };
  if (printing.addEventListener) printing.addEventListener("change", toPrint);
}

var heads = Array.prototype.slice.call(document.querySelectorAll("#risk-table thead th"));
heads.forEach(function (head) {
  head.querySelector("button").addEventListener("click", function () {
    var key = head.getAttribute("data-key");
    sortDir = key === sortKey ? -sortDir : 1;
    sortKey = key;
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    head.setAttribute("aria-sort", sortDir === 1 ? "ascending" : "descending");
    sortRows();
    render();
  });
});
[fTherapist, fSite, fTier].forEach(function (s) { if (s) s.addEventListener("change", render); });
var searchTimer = null;
fSearch.addEventListener("input", function () {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(render, 120);
});
$("f-clear").addEventListener("click", function () {
  if (fTherapist) fTherapist.selectedIndex = 0;
  fSite.selectedIndex = 0; fTier.selectedIndex = 0;
  fSearch.value = "";
  render();
});

// ---------------------------------------------------------------- keyboard on rows
// rows with data-i open the client's detail (click, Enter or Space); arrows move between rows
function rowsOpenDetail(body, atEnd) {
  body.addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-i]");
    if (tr) openDetail(+tr.getAttribute("data-i"), tr);
  });
  body.addEventListener("keydown", function (e) {
    var tr = e.target.closest("tr[data-i]");
    if (!tr || e.target !== tr) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      openDetail(+tr.getAttribute("data-i"), tr);
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      if (!tr.nextElementSibling && atEnd) atEnd();
      if (tr.nextElementSibling) tr.nextElementSibling.focus();
    } else if (e.key === "ArrowUp" && tr.previousElementSibling) {
      e.preventDefault(); tr.previousElementSibling.focus();
    }
  });
}
rowsOpenDetail(tbody, function () { more(PAGE); });

// ---------------------------------------------------------------- the detail dialog
var dialog = $("detail"), lastRow = null;

function marker(shape, x, y, color, size) {
  var s = size || 4;
  if (shape === "square")
    return "<rect x='" + (x - s) + "' y='" + (y - s) + "' width='" + 2 * s + "' height='" +
      2 * s + "' fill='" + color + "'/>";
  if (shape === "triangle")
    return "<path d='M" + x + " " + (y - s - 1) + "L" + (x + s + 1) + " " + (y + s) + "L" +
      (x - s - 1) + " " + (y + s) + "Z' fill='" + color + "'/>";
  return "<circle cx='" + x + "' cy='" + y + "' r='" + s + "' fill='" + color + "'/>";
}
function legendSwatch(s) {
  return "<svg width='30' height='12' aria-hidden='true'><line x1='1' y1='6' x2='29' y2='6' stroke='" +
    s.color + "' stroke-width='2' stroke-dasharray='" + s.dash + "'/>" +
    marker(s.shape, 15, 6, s.color, 4) + "</svg>";
}
function ticks(lo, hi) {
  var span = hi - lo, step = span <= 6 ? 1 : span <= 12 ? 2 : span <= 30 ? 5 : 10, out = [];
  for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

function chart(traj) {
  var att = traj.filter(function (t) { return t[2] != null; });
  var has = function (col) { return att.some(function (t) { return t[col] != null; }); };
  var panels = [];
  var wai = SERIES.slice(0, 3).filter(function (s) { return has(s.col); });
  if (wai.length) panels.push({title: "Working alliance (WAI)", series: wai, range: SCALES.wai});
  if (has(6)) panels.push({title: "Session Rating Scale total", series: [SERIES[3]],
    range: SCALES.srs, cutoff: SCALES.srs_cutoff});
  if (!panels.length) return "<p>No alliance ratings recorded yet.</p>";
  var W = 720, L = 48, R = 16, PH = 150, GAP = 44, TOP = 22;
  var H = TOP + panels.length * PH + (panels.length - 1) * GAP + 34;
  var maxS = Math.max.apply(null, att.map(function (t) { return t[2]; }).concat([1]));
  var x = function (s) { return maxS === 1 ? (L + W - R) / 2 : L + (s - 1) / (maxS - 1) * (W - L - R); };
  var every = Math.ceil(maxS / 20);
  var svg = "", ruptures = 0;
  panels.forEach(function (p, k) {
    // the scale's own range, widened if a rating falls outside it (a data error shows)
    var lo = p.range[0], hi = p.range[1], top = TOP + k * (PH + GAP);
    p.series.forEach(function (se) {
      att.forEach(function (t) {
        if (t[se.col] != null) { lo = Math.min(lo, t[se.col]); hi = Math.max(hi, t[se.col]); }
      });
    });
    if (!(hi > lo)) hi = lo + 1;
    var y = function (v) { return top + PH - (v - lo) / (hi - lo) * PH; };
    svg += "<text x='" + L + "' y='" + (top - 8) + "' font-weight='700'>" + esc(p.title) + "</text>";
    ticks(lo, hi).forEach(function (v) {
      svg += "<line x1='" + L + "' x2='" + (W - R) + "' y1='" + y(v) + "' y2='" + y(v) +
        "' stroke='#e0e0e0'/><text x='" + (L - 6) + "' y='" + (y(v) + 4) + "' text-anchor='end'>" + v + "</text>";
    });
    if (p.cutoff != null) {
      svg += "<line class='cutoff' x1='" + L + "' x2='" + (W - R) + "' y1='" + y(p.cutoff) + "' y2='" +
        y(p.cutoff) + "' stroke='#333' stroke-width='1.5' stroke-dasharray='6 4'/>" +
        "<text class='halo' x='" + (W - R - 4) + "' y='" + (y(p.cutoff) + 14) + "' text-anchor='end'>cut-off " +
        p.cutoff + "</text>";
    }
    for (var s = 1; s <= maxS; s += every) {
      svg += "<text x='" + x(s) + "' y='" + (top + PH + 15) + "' text-anchor='middle'>" + s + "</text>";
    }
    p.series.forEach(function (se) {
      var d = "", open = false, dots = "";
      att.forEach(function (t) {
        var v = t[se.col];
        if (v == null) { open = false; return; }
        d += (open ? "L" : "M") + x(t[2]).toFixed(1) + " " + y(v).toFixed(1);
        open = true;
        dots += "<g>" + marker(se.shape, x(t[2]), y(v), se.color) + "<title>Session " + t[2] +
          " (" + esc(t[0]) + "): " + se.label + " " + fmt(v, 1) + "</title></g>";
      });
      svg += "<path d='" + d + "' fill='none' stroke='" + se.color + "' stroke-width='2' stroke-dasharray='" +
        se.dash + "'/>" + dots;
    });
    var labels = [];
    att.forEach(function (t) {
      t[7].forEach(function (scale) {
        var col = RUPTURE_COL[scale];
        var se = p.series.filter(function (q) { return q.col === col; })[0];
        if (!se || t[col] == null) return;
        ruptures++;
        var cx = x(t[2]), cy = y(t[col]);
        // a word beside each ring unless it would overprint another one; the ring and its
        // tooltip mark every rupture
        var free = labels.every(function (b) { return Math.abs(b[0] - cx) > 48 || Math.abs(b[1] - cy) > 14; });
        if (free) labels.push([cx, cy]);
        svg += "<g class='rupture'><circle cx='" + cx + "' cy='" + cy + "' r='9' fill='none' stroke='#000' stroke-width='2'/>" +
          (free ? "<text class='halo' x='" + Math.min(W - 24, Math.max(L + 24, cx)) + "' y='" + (cy - 13) + "' text-anchor='middle' font-weight='700'>rupture</text>" : "") +
          "<title>Rupture at session " + t[2] + " (" + esc(t[0]) + "): " + se.label +
          " rating dropped to " + fmt(t[col], 1) + "</title></g>";
      });
    });
  });
  svg += "<text x='" + ((L + W - R) / 2) + "' y='" + (H - 4) + "' text-anchor='middle'>Attended session</text>";
  var used = [];
  panels.forEach(function (p) { used = used.concat(p.series); });
  var label = "Ratings over " + maxS + " attended sessions" + (ruptures ? ", " + ruptures + " rupture" +
    (ruptures === 1 ? "" : "s") + " marked" : "");
  var legend = "<ul class='legend'>" + used.map(function (s) {
    return "<li>" + legendSwatch(s) + " " + s.label + "</li>";
  }).join("") + "<li><svg width='22' height='22' aria-hidden='true'><circle cx='11' cy='11' r='8' fill='none' stroke='#000' stroke-width='2'/></svg> rupture (a drop from the session before)</li>" +
    (SCALES.srs_cutoff != null && has(6) ? "<li><svg width='30' height='8' aria-hidden='true'><line x1='0' y1='4' x2='30' y2='4' stroke='#333' stroke-width='1.5' stroke-dasharray='6 4'/></svg> SRS cut-off (below it flags an alliance concern)</li>" : "") +
    "</ul>";
  var table = "<details class='values'><summary>Ratings as a table</summary><table><thead><tr>" +
    "<th scope='col'>Session</th><th scope='col'>Date</th>" +
    used.map(function (s) { return "<th scope='col'>" + s.label + "</th>"; }).join("") +
    "<th scope='col'>Rupture</th></tr></thead><tbody>" +
    att.map(function (t) {
      return "<tr><th scope='row'>" + t[2] + "</th><td>" + esc(t[0]) + "</td>" +
        used.map(function (s) { return "<td>" + fmt(t[s.col], 1) + "</td>"; }).join("") +
        "<td>" + esc(t[7].join(", ").replace(/wai_|_total/g, "")) + "</td></tr>";
    }).join("") + "</tbody></table></details>";
  return "<svg class='trajectory' viewBox='0 0 " + W + " " + H + "' role='img' aria-label='" +
    esc(label) + "'>" + svg + "</svg>" + legend + table;
}

function strip(traj) {
  if (!traj.length) return "<p>No appointments recorded.</p>";
  var cells = traj.map(function (t) {
    var st = STATUS[t[1]] || ["?", t[1] || "unknown"];
    var text = t[0] + ": " + st[1] + (t[2] != null ? ", session " + t[2] : "");
    return "<li class='st-" + (STATUS[t[1]] ? t[1] : "other") + "' title='" + esc(text) +
      "'><span aria-hidden='true'>" + esc(st[0]) + "</span><span class='sr'>" + esc(text) + "</span></li>";
  }).join("");
  var legend = "<ul class='legend' aria-label='Key'>" + Object.keys(STATUS).map(function (k) {
    return "<li><span class='key st-" + k + "' aria-hidden='true'>" + STATUS[k][0] + "</span> " +
      STATUS[k][1] + "</li>";
  }).join("") + "</ul>";
  return "<ol class='strip' aria-label='Appointments from " + esc(traj[0][0]) + " to " +
    esc(traj[traj.length - 1][0]) + "'>" + cells + "</ol><p class='values'>" + traj.length +
    " appointments from " + esc(traj[0][0]) + " to " + esc(traj[traj.length - 1][0]) + "</p>" + legend;
}

function points(p) {
  return (p > 0 ? "+" : p < 0 ? "−" : "±") + Math.abs(p).toFixed(1) + " points";
}
function explanation(items) {
  if (!items.length) return "<p>No explanation available.</p>";
  var biggest = Math.max.apply(null, items.map(function (e) { return Math.abs(e[0]); })) || 1;
  function list(kind, sel) {
    var chosen = items.filter(sel);
    if (!chosen.length) return "";
    return "<ul class='expl " + kind + "'>" + chosen.map(function (e) {
      return "<li><span class='pts'>" + points(e[0]) + "</span><span class='pbar' aria-hidden='true' style='width:" +
        (Math.abs(e[0]) / biggest * 100).toFixed(0) + "%'></span><span>" + esc(e[1]) + "</span></li>";
    }).join("") + "</ul>";
  }
  var up = list("up", function (e) { return e[0] > 0; });
  var down = list("down", function (e) { return e[0] < 0; });
  var zero = list("zero", function (e) { return e[0] === 0; });
  return "<p class='help'>Each line is one factor and how many percentage points it moves this " +
    "client's risk, largest first. Factors that move it by less than 0.1 points are not " +
    "listed.</p>" +
    (up ? "<h4>Raising the risk</h4>" + up : "") + (down ? "<h4>Lowering the risk</h4>" + down : "") +
    (zero ? "<h4>Little or no effect</h4>" + zero : "");
}

var HORIZON = document.getElementById("risk-table").getAttribute("data-horizon");
function changeFacts(r) {
  if (!CHANGES || (!r.scored && !r.was)) return "";
  var tiers = r.new ? "new to the caseload" : tierBadge(r.was) + TO + tierBadge(r.tier);
  var risk = r.new || !r.thenpct ? "" :
    ", risk " + esc(r.thenpct) + TO + esc(r.pct) + " (" + esc(r.chgtxt) + ")";
  return "<p class='change'><strong>Since " + esc(CHANGES.since) + ":</strong> " + tiers + risk +
    (r.cr ? ". " + esc(r.cr) : "") + "</p>";
}
function openDetail(i, origin) {
  var r = ROWS[i], d = DETAILS[i];
  lastRow = origin || built([i])[0];
  $("detail-title").textContent = "Client " + r.id;
  var facts = "<ul class='facts'><li>Risk <strong>" + (r.scored ? esc(r.pct) : "not scored") +
    "</strong></li>" + (r.soonpct ? "<li>" + esc(HORIZON) + " <strong>" + esc(r.soonpct) +
    "</strong></li>" : "") + "<li>" + tierBadge(r.tier) + "</li><li>Rank " + r.rank + " of " + N +
    "</li><li>Therapist <strong>" + esc(r.th) + "</strong></li>" +
    (r.site ? "<li>Site <strong>" + esc(r.site) + "</strong></li>" : "") +
    "<li>" + r.n + " sessions attended" + (r.last ? ", last " + esc(r.last) : "") + "</li></ul>";
  var body = facts + context(r) + changeFacts(r);
  if (!r.scored) {
    body += "<p><strong>Not scored:</strong> " + esc(r.why) + ".</p>";
  } else if (!d) {
    body += "<p>No detail was recorded for this client.</p>";
  } else {
    body += "<section aria-labelledby='h-traj'><h3 id='h-traj'>Alliance ratings by session</h3>" +
      chart(d.t) + "</section><section aria-labelledby='h-att'><h3 id='h-att'>Appointments in date order</h3>" +
      strip(d.t) + "</section><section aria-labelledby='h-expl' class='explanation'><h3 id='h-expl'>Why this risk</h3>" +
      explanation(d.e) + "</section>";
  }
  $("detail-body").innerHTML = body;
  if (!dialog.open) dialog.showModal();
  $("detail-close").focus();
}
$("detail-close").addEventListener("click", function () { dialog.close(); });
dialog.addEventListener("click", function (e) { if (e.target === dialog) dialog.close(); });
// The close event comes after the browser may have put focus back itself, and after keys
// the reader may already have pressed; only focus that was left nowhere goes back to the row.
dialog.addEventListener("close", function () {
  var at = document.activeElement;
  var astray = !at || at === document.body || dialog.contains(at);
  if (astray && lastRow && lastRow.isConnected) lastRow.focus();
});

// ---------------------------------------------------------------- what changed since
// Each group's rows are built when the view first opens; they open the same detail.
function changeRow(i) {
  var r = ROWS[i];
  var tiers = (r.new ? "<span class='new'>new</span>" : tierBadge(r.was)) + TO + tierBadge(r.tier);
  var now = r.scored ? esc(r.pct) : "<span class='why'>not scored</span>";
  var risk = (r.new || !r.thenpct ? "<span class='why'>–</span>" : esc(r.thenpct)) + TO + now;
  return "<tr tabindex='0' data-i='" + i + "'><th scope='row' class='client'>" + esc(r.id) +
    "</th><td>" + esc(r.th) + "</td><td>" + esc(r.site) + "</td><td>" + tiers + "</td><td>" +
    risk + "</td><td class='num chg'>" + changeText(r) + "</td><td class='cr'>" + esc(r.cr) +
    "</td></tr>";
}
// a long group lists its first CHG_PAGE clients until the reader asks for all of them
var CHG_PAGE = 100, changesBuilt = false;
function groupRows(table, all) {
  var rows = CHANGES.groups[table.getAttribute("data-group")] || [];
  var shown = all ? rows : rows.slice(0, CHG_PAGE);
  table.tBodies[0].innerHTML = shown.map(changeRow).join("");
  var more = table.nextElementSibling;
  more.hidden = shown.length === rows.length;
  more.querySelector(".more-text").textContent = "Listed " + shown.length + " of " + rows.length + ".";
}
function changesView() {
  if (!CHANGES || changesBuilt) return;
  changesBuilt = true;
  Array.prototype.forEach.call(document.querySelectorAll(".chg-table"), function (table) {
    groupRows(table, false);
  });
}
if (CHANGES) {
  rowsOpenDetail($("panel-changes"), null);
  $("panel-changes").addEventListener("click", function (e) {
    var b = e.target.closest("button.chg-all");
    if (!b) return;
    var table = b.closest(".chg-group").querySelector(".chg-table");
    groupRows(table, true);
    var first = table.tBodies[0].rows[CHG_PAGE];
    if (first) first.focus();
  });
}

// ---------------------------------------------------------------- the therapist view
function therapistView() {
  var by = {};
  ROWS.forEach(function (r) {
    var t = by[r.th] || (by[r.th] = {th: r.th, high: 0, medium: 0, low: 0, none: 0, all: 0});
    t[r.scored && r.tier ? r.tier : "none"]++;
    t.all++;
  });
  var list = Object.keys(by).map(function (k) { return by[k]; });
  list.sort(function (a, b) {
    return b.high - a.high || b.medium - a.medium || b.all - a.all || collator.compare(a.th, b.th);
  });
  document.querySelector("#therapist-table tbody").innerHTML = list.map(function (t) {
    var mix = ["high", "medium", "low", "none"].map(function (k) {
      return t[k] ? "<span class='m-" + k + "' style='width:" + (t[k] / t.all * 100).toFixed(1) + "%'></span>" : "";
    }).join("");
    return "<tr><th scope='row'><button type='button' data-th='" + esc(t.th) + "'>" +
      esc(t.th || "(no therapist)") + "</button></th><td class='num'>" + t.high + "</td><td class='num'>" +
      t.medium + "</td><td class='num'>" + t.low + "</td><td class='num'>" + t.none +
      "</td><td class='num'>" + t.all + "</td><td><span class='mix' aria-hidden='true'>" + mix + "</span></td></tr>";
  }).join("");
}
var therapistBody = document.querySelector("#therapist-table tbody");
if (therapistBody) therapistView();
if (therapistBody) therapistBody.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-th]");
  if (!b) return;
  var th = b.getAttribute("data-th");
  for (var k = 0; k < fTherapist.options.length; k++) {
    if (k > 0 && fTherapist.options[k].value === th) fTherapist.selectedIndex = k;
  }
  selectTab(tabs[0], true);
  render();
  fTherapist.focus();
});

// ---------------------------------------------------------------- tabs
var tabs = [$("tab-list"), $("tab-changes"), $("tab-therapists")].filter(Boolean);
function selectTab(tab, noFocus) {
  if (tab.id === "tab-changes") changesView();
  tabs.forEach(function (t) {
    var on = t === tab;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  });
  if (!noFocus) tab.focus();
}
tabs.forEach(function (t, k) {
  t.addEventListener("click", function () { selectTab(t, true); });
  t.addEventListener("keydown", function (e) {
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault();
      selectTab(tabs[(k + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length]);
    }
  });
});

render();
document.body.setAttribute("data-ready", "1");
})();
