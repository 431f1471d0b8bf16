"use strict";
// Errors are recorded so that the self-check (#selftest) can report them.
var pageErrors = [];
window.addEventListener("error", function (e) { pageErrors.push(String(e.message)); });
(function () {
  var origError = console.error;
  console.error = function () {
    pageErrors.push(Array.prototype.join.call(arguments, " "));
    return origError.apply(console, arguments);
  };
})();

var D = JSON.parse(document.getElementById("data").textContent);
// files: [path, package index, covered, statements, funcs?, blocks?, source?]
var F = D.files, P = D.packages;

function pct(c, s) { return s === 0 ? 0 : 100 * c / s; }
function fmt(c, s) { return pct(c, s).toFixed(1) + "%"; }
function esc(t) { return t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
function bar(c, s) {
  return '<span class="bar"><span style="width:' + pct(c, s).toFixed(1) + '%"></span></span>';
}

// Sort state per table: column and direction.
var sorts = { pkg: [0, 1], file: [0, 1] };

function sortValue(r, col) {
  if (col < 5) return r[col];
  var k = 5 + 2 * (col - 5);
  return r[k + 1] ? r[k] / r[k + 1] : -1;
}

function sortRows(rows, key) {
  var col = sorts[key][0], dir = sorts[key][1];
  rows.sort(function (a, b) {
    var x = sortValue(a, col), y = sortValue(b, col);
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
  return rows;
}

// Series (services, phases): one more column each, "NAME %".
var S = D.series || [];
function seriesCells(r, from) {
  var h = "";
  for (var k = 0; k < S.length; k++) {
    var c = r[from + 2 * k], s = r[from + 2 * k + 1];
    h += '<td class="series">' + (s ? fmt(c, s) : "&ndash;") + "</td>";
  }
  return h;
}

function table(key, title, rows, rowHtml) {
  var heads = [title, "Covered", "Statements", "Coverage", ""];
  S.forEach(function (n) { heads.push(esc(n)); });
  var h = '<table data-key="' + key + '"><thead><tr>';
  heads.forEach(function (t, i) { h += '<th data-col="' + i + '">' + t + "</th>"; });
  h += "</tr></thead><tbody>";
  sortRows(rows, key).forEach(function (r) { h += rowHtml(r); });
  return h + "</tbody></table>";
}

function renderIndex() {
  var q = document.getElementById("filter").value.toLowerCase();
  // Row: name, covered, statements, percent, file index, then per series
  // covered, statements (sorting by a series column sorts by its percent).
  function row(name, c, s, i, extra) {
    var r = [name, c, s, pct(c, s), i];
    (extra || []).forEach(function (x) { r.push(x[0], x[1]); });
    return r;
  }
  var pkgs = P.map(function (p, i) { return row(p[0], p[1], p[2], i, (D.seriesPackages || [])[i]); });
  var files = [];
  F.forEach(function (f, i) {
    if (!q || f[0].toLowerCase().indexOf(q) >= 0) files.push(row(f[0], f[2], f[3], i, (D.seriesFiles || [])[i]));
  });
  var h = table("pkg", "Package", pkgs, function (r) {
    return "<tr><td>" + esc(r[0]) + "</td><td>" + r[1] + "</td><td>" + r[2] + "</td><td>" +
      fmt(r[1], r[2]) + "</td><td>" + bar(r[1], r[2]) + "</td>" + seriesCells(r, 5) + "</tr>";
  });
  h += table("file", "File", files, function (r) {
    return '<tr class="file" data-i="' + r[4] + '"><td>' + esc(r[0]) + "</td><td>" + r[1] + "</td><td>" +
      r[2] + "</td><td>" + fmt(r[1], r[2]) + "</td><td>" + bar(r[1], r[2]) + "</td>" + seriesCells(r, 5) + "</tr>";
  });
  if (!D.src) h += '<p class="note">No source: run covreport with --src DIR to see the annotated source of each file.</p>';
  document.getElementById("tables").innerHTML = h;
}

// Heat class of a block count: red when never run, five greens on a log
// scale up to the file's largest count.
function heat(count, max) {
  if (count === 0) return "c0";
  if (D.mode === "set" || max <= 1) return "h5";
  return "h" + (1 + Math.min(4, Math.floor(4 * Math.log(count) / Math.log(max))));
}

function renderFile(i) {
  var f = F[i], view = document.getElementById("view");
  var h = '<button id="back">&larr; Index</button><h2>' + esc(f[0]) + " &mdash; " + fmt(f[2], f[3]) +
    " (" + f[2] + " of " + f[3] + " statements)</h2>";
  if (f.length < 7) {
    h += '<p class="note">No source: run covreport with --src DIR.</p>';
  } else {
    var funcs = f[4], blocks = f[5], src = f[6];
    if (funcs.length) {
      h += "<table><thead><tr><th>Function</th><th>Line</th><th>Covered</th><th>Statements</th><th>Coverage</th></tr></thead><tbody>";
      funcs.forEach(function (x) {
        h += "<tr><td>" + esc(x[0]) + "</td><td>" + x[1] + "</td><td>" + x[2] + "</td><td>" + x[3] +
          "</td><td>" + fmt(x[2], x[3]) + "</td></tr>";
      });
      h += "</tbody></table>";
    }
    h += '<p class="legend"><span class="c0">not run</span><span class="h1">few</span><span class="h3">more</span><span class="h5">most</span></p>';
    h += '<div class="src"><pre class="ln">' + lineNumbers(src) + '</pre><pre id="code">' + annotate(src, blocks) + "</pre></div>";
  }
  view.innerHTML = h;
  view.hidden = false;
  document.getElementById("index").hidden = true;
  document.getElementById("back").onclick = showIndex;
  window.scrollTo(0, 0);
}

function lineNumbers(src) {
  var n = src.split("\n").length, out = [];
  for (var i = 1; i <= n; i++) out.push(i);
  return out.join("\n");
}

// The source with one span per block (title: its count), as one string.
function annotate(src, blocks) {
  var starts = [0];
  for (var i = 0; i < src.length; i++) if (src.charCodeAt(i) === 10) starts.push(i + 1);
  var list = [], max = 0;
  for (var b = 0; b < blocks.length; b += 6) {
    var s = (starts[blocks[b] - 1] || 0) + blocks[b + 1];
    var e = (starts[blocks[b + 2] - 1] || 0) + blocks[b + 3];
    list.push([s, e, blocks[b + 4], blocks[b + 5]]);
    if (blocks[b + 4] > max) max = blocks[b + 4];
  }
  list.sort(function (x, y) { return x[0] - y[0] || x[1] - y[1]; });
  var out = "", at = 0;
  list.forEach(function (x) {
    var s = Math.max(x[0], at), e = Math.max(x[1], s);
    out += esc(src.slice(at, s));
    out += '<span class="' + heat(x[2], max) + '" title="count ' + x[2] + ", " + x[3] + ' statements">' +
      esc(src.slice(s, e)) + "</span>";
    at = e;
  });
  return out + esc(src.slice(at));
}

function showIndex() {
  document.getElementById("view").hidden = true;
  document.getElementById("index").hidden = false;
}

document.getElementById("filter").addEventListener("input", renderIndex);
document.getElementById("tables").addEventListener("click", function (e) {
  var th = e.target.closest("th");
  if (th) {
    var key = th.closest("table").getAttribute("data-key"), col = +th.getAttribute("data-col");
    if (col === 4) col = 3;
    sorts[key] = [col, sorts[key][0] === col ? -sorts[key][1] : (col === 0 ? 1 : -1)];
    renderIndex();
    return;
  }
  var tr = e.target.closest("tr.file");
  if (tr) renderFile(+tr.getAttribute("data-i"));
});
renderIndex();

// `report.html#file=N` opens file N, `#file=covered` the first file with
// a covered statement (for screenshots and links).
var fileHash = /^#file=(\d+|covered)$/.exec(location.hash);
if (fileHash) {
  var want = fileHash[1] === "covered"
    ? F.findIndex(function (f) { return f[2] > 0; }) : +fileHash[1];
  if (F[want]) renderFile(want);
}

// `report.html#selftest`: open the first file with source as a click would,
// and write what the page shows into #selftest for a headless browser.
if (location.hash === "#selftest") {
  // The series' figures of the first file, before it is opened.
  var firstRow = document.querySelector("tr.file");
  var seriesShown = firstRow ? Array.prototype.map.call(firstRow.querySelectorAll("td.series"), function (td) {
    return td.textContent;
  }) : [];
  // Sort the files by their last series (highest first), then open the
  // first file.
  var seriesHead = document.querySelector('table[data-key="file"] th[data-col="' + (4 + S.length) + '"]');
  if (seriesHead) seriesHead.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  var sortedFirst = (document.querySelector("tr.file td") || {}).textContent || "";
  var row = document.querySelector("tr.file");
  if (row) row.firstChild.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  var code = document.getElementById("code");
  var result = {
    total: document.getElementById("total").textContent,
    files: document.querySelectorAll("tr.file").length,
    opened: document.getElementById("view").hidden ? "" : (document.querySelector("#view h2") || {}).textContent || "",
    blocks: code ? code.querySelectorAll("span").length : 0,
    uncovered: code ? code.querySelectorAll("span.c0").length : 0,
    series: S,
    seriesShown: seriesShown,
    sortedFirst: sortedFirst,
    errors: pageErrors
  };
  var pre = document.createElement("pre");
  pre.id = "selftest";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
}
