"use strict";
// Per-test coverage, from the test map: a column of tests per source line,
// a table of tests on the index, a page per test. Uses the page's own
// F (files), esc, fmt, renderFile and renderIndex.
var T = JSON.parse(document.getElementById("tests").textContent);
// owners: [label, result, isTest, statements, only, duration ms]
var O = T.owners;

function fileIndex(path) {
  for (var i = 0; i < F.length; i++) if (F[i][0] === path) return i;
  return -1;
}

function ownerLink(o) {
  return '<a href="#test=' + o + '" data-test="' + o + '" class="result-' + esc(O[o][1]) + '">' + esc(O[o][0]) + "</a>";
}

// The column beside the line numbers: per line, how many tests ran it;
// marked when exactly one test (and nothing else) did.
function testsColumn(path, nlines) {
  var rows = T.lines[path] || [], at = {}, out = [];
  rows.forEach(function (r) { at[r[0]] = r.slice(1); });
  for (var l = 1; l <= nlines; l++) {
    var os = at[l];
    if (!os) { out.push(""); continue; }
    var tests = os.filter(function (o) { return O[o][2]; });
    var names = os.map(function (o) { return O[o][0]; }).join(", ");
    if (os.length === 1 && tests.length === 1) {
      out.push('<span class="only" title="only ' + esc(names) + ' runs this line">1 only</span>');
    } else if (tests.length === 0) {
      out.push('<span class="start" title="' + esc(names) + '">&ndash;</span>');
    } else {
      out.push('<span title="' + esc(names) + '">' + tests.length + "</span>");
    }
  }
  return out.join("\n");
}

var plainRenderFile = renderFile;
renderFile = function (i) {
  plainRenderFile(i);
  var f = F[i], src = document.querySelector("#view .src");
  if (!src || f.length < 7) return;
  var nlines = f[6].split("\n").length;
  var col = document.createElement("pre");
  col.className = "by";
  col.innerHTML = testsColumn(f[0], nlines);
  src.insertBefore(col, src.children[1]);
  var who = {};
  (T.lines[f[0]] || []).forEach(function (r) { r.slice(1).forEach(function (o) { who[o] = true; }); });
  var links = Object.keys(who).map(Number).filter(function (o) { return O[o][2]; }).map(ownerLink);
  var p = document.createElement("p");
  p.className = "tests-of-file";
  p.innerHTML = "Tests that ran this file (" + links.length + "): " + (links.join(" ") || "none") +
    ' <span class="legend-by">(the column beside the line numbers: tests per line; <span class="only">1 only</span>: one test alone)</span>';
  src.parentNode.insertBefore(p, src);
};

function renderTest(o) {
  var view = document.getElementById("view"), x = O[o];
  var h = '<button id="back">&larr; Index</button><h2>' + esc(x[0]) + " &mdash; " + esc(x[1]) +
    (x[2] ? ", " + (x[5] / 1000).toFixed(3) + " s" : "") + "</h2>";
  h += "<p>" + x[3] + " statements run, " + x[4] + " only by " + (x[2] ? "this test" : "this bucket") + ".</p>";
  h += '<table id="test-files"><thead><tr><th>File</th><th>Statements run</th></tr></thead><tbody>';
  (T.files[o] || []).forEach(function (r) {
    var i = fileIndex(r[0]);
    h += '<tr class="file" data-i="' + i + '"><td>' + esc(r[0]) + "</td><td>" + r[1] + "</td></tr>";
  });
  view.innerHTML = h + "</tbody></table>";
  view.hidden = false;
  document.getElementById("index").hidden = true;
  document.getElementById("back").onclick = showIndex;
  window.scrollTo(0, 0);
}

var plainRenderIndex = renderIndex;
renderIndex = function () {
  plainRenderIndex();
  var h = '<table id="tests-table"><thead><tr><th>Test</th><th>Result</th><th>Statements</th><th>Only this</th></tr></thead><tbody>';
  O.forEach(function (x, o) {
    h += '<tr data-test="' + o + '"><td class="name">' + esc(x[0]) + '</td><td class="result-' + esc(x[1]) + '">' +
      esc(x[1]) + "</td><td>" + x[3] + "</td><td>" + x[4] + "</td></tr>";
  });
  document.getElementById("tables").insertAdjacentHTML("beforeend", h + "</tbody></table>");
};

document.addEventListener("click", function (e) {
  var t = e.target.closest("[data-test]");
  if (t) {
    e.preventDefault();
    renderTest(+t.getAttribute("data-test"));
    return;
  }
  var tr = e.target.closest("#test-files tr.file");
  if (tr && +tr.getAttribute("data-i") >= 0) renderFile(+tr.getAttribute("data-i"));
});

renderIndex();
// Links: `#test=N` opens test N; `#file=…` (the page's own) is opened
// again so that it shows the column; `#file=tests` opens the file whose
// lines the most tests ran.
(function () {
  var m = /^#test=(\d+)$/.exec(location.hash);
  if (m && O[+m[1]]) { renderTest(+m[1]); return; }
  if (location.hash === "#file=tests") {
    // The file with the most lines only one test reaches.
    var best = -1, most = 0;
    Object.keys(T.lines).forEach(function (p) {
      var n = T.lines[p].filter(function (r) { return r.length === 2 && O[r[1]][2]; }).length;
      if (n > most && fileIndex(p) >= 0) { most = n; best = fileIndex(p); }
    });
    if (best >= 0) renderFile(best);
    return;
  }
  var f = /^#file=(\d+|covered)$/.exec(location.hash);
  if (f && !document.getElementById("view").hidden) {
    var h2 = (document.querySelector("#view h2") || {}).textContent || "";
    var at = F.findIndex(function (x) { return h2.indexOf(x[0] + " ") === 0; });
    if (at >= 0) renderFile(at);
  }
})();

// `#selftest-tests`: what the page shows, for a headless browser.
if (location.hash === "#selftest-tests") {
  var rows = document.querySelectorAll("#tests-table tbody tr").length;
  var withLines = Object.keys(T.lines).map(fileIndex).filter(function (i) { return i >= 0 && F[i].length >= 7; });
  var shown = { tests: rows, files: [], pages: [] };
  withLines.forEach(function (i) {
    renderFile(i);
    var col = document.querySelector("#view pre.by");
    shown.files.push({
      path: F[i][0],
      counted: col ? col.querySelectorAll("span").length : -1,
      only: col ? col.querySelectorAll("span.only").length : -1,
      onlyTitles: col ? Array.prototype.map.call(col.querySelectorAll("span.only"), function (s) { return s.title; }) : [],
      links: document.querySelectorAll(".tests-of-file a").length
    });
  });
  O.forEach(function (x, o) {
    renderTest(o);
    shown.pages.push({ name: (document.querySelector("#view h2") || {}).textContent, files: document.querySelectorAll("#test-files tr.file").length });
  });
  shown.errors = pageErrors;
  var pre = document.createElement("pre");
  pre.id = "selftest";
  pre.textContent = JSON.stringify(shown);
  document.body.appendChild(pre);
}
