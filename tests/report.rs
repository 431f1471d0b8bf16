//! covreport: each format read by a real consumer. lcov by Debian's `lcov`
//! and `genhtml`, Cobertura by `xmllint` against coverage-04.dtd and by
//! `pycobertura`, the badge by `xmllint`, the HTML by headless `chromium`;
//! the statement figures checked against covtotal and `go tool cover -func`
//! on profiles made here by `go test -coverprofile`. The consumers are
//! installed by `cargo xtask test` (xtask/src/consumers.rs); a missing one
//! fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::*;

/// A consumer program: on PATH, or in the venv `cargo xtask test` makes.
pub fn consumer(name: &str) -> PathBuf {
    let venv = project_root().join(".tools/report-venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!("{name} is not installed: run the tests with `cargo xtask test`, which installs the report consumers")
    })
}

/// Runs a command, asserts success, returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Go module `example.com/shop` written under `root`, with two packages
/// whose tests cover part of them. Lines chosen for the line rule: a line
/// with two blocks (`if x == 0 { return "zero" }`, only the `if` runs), a
/// statement over two lines, blocks ending at column 1 of the next line,
/// and a method pair with the same name.
pub const CALC_GO: &str = "package calc

// Sign says whether x is negative, zero or positive.
func Sign(x int) string {
\tif x < 0 {
\t\treturn \"negative\"
\t}
\tif x == 0 { return \"zero\" }
\ty := x *
\t\t2
\t// a comment inside the block
\t_ = y
\treturn \"positive\"
}

type A struct{}
type B struct{}

func (A) String() string { return \"A\" }
func (B) String() string { return \"B\" }

func Unused(s string) int {
\tn := 0
\tfor range s {
\t\tn++
\t}
\treturn n
}
";

pub const CALC_TEST_GO: &str = "package calc

import \"testing\"

func TestSign(t *testing.T) {
\tfor i := 1; i < 4; i++ {
\t\tSign(i)
\t}
\t_ = A{}.String()
}
";

pub const STORE_GO: &str = "package store

import \"strings\"

var Normalise = func(s string) string { return strings.ToLower(s) }

func Put(m map[string]int, k string, v int) {
\tif v < 0 {
\t\tpanic(\"negative\")
\t}
\tm[Normalise(k)] = v
}

func Get(m map[string]int, k string) (int, bool) {
\tv, ok := m[Normalise(k)]
\treturn v, ok
}
";

pub const STORE_TEST_GO: &str = "package store

import \"testing\"

func TestPut(t *testing.T) {
\tm := map[string]int{}
\tPut(m, \"A\", 1)
}
";

pub fn write_module(dir: &Dir, root: &str) {
    dir.create(
        format!("{root}/go.mod"),
        "module example.com/shop\n\ngo 1.21\n",
    );
    dir.create(format!("{root}/calc/calc.go"), CALC_GO);
    dir.create(format!("{root}/calc/calc_test.go"), CALC_TEST_GO);
    dir.create(format!("{root}/store/store.go"), STORE_GO);
    dir.create(format!("{root}/store/store_test.go"), STORE_TEST_GO);
}

/// `go test -covermode=MODE -coverprofile=OUT PKGS` in `module`.
pub fn go_cover(go: &Path, module: &Path, mode: &str, out: &Path, pkgs: &[&str]) {
    let mut cmd = Command::new(go);
    cmd.current_dir(module)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "")
        .arg("test")
        .arg(format!("-covermode={mode}"))
        .arg(format!("-coverprofile={}", out.display()))
        .args(pkgs);
    run_ok(&mut cmd);
}

/// The shop module and its count-mode profile (`shop.out`), or `None`
/// outside CI without Go.
fn shop(dir: &Dir) -> Option<PathBuf> {
    let go = require_go()?;
    write_module(dir, "shop");
    go_cover(
        &go,
        &dir.path("shop"),
        "count",
        &dir.path("shop.out"),
        &["./..."],
    );
    Some(go)
}

fn report(dir: &Dir, args: &[&str]) -> String {
    dir.tool("covreport").args(args).stdout()
}

fn json(dir: &Dir, args: &[&str]) -> Value {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    serde_json::from_str(&report(dir, &a)).unwrap()
}

/// `(line, hits)` of one file's DA records.
fn da_lines(lcov: &str, file: &str) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in lcov.lines() {
        if let Some(sf) = line.strip_prefix("SF:") {
            inside = sf == file;
        } else if let (true, Some(da)) = (inside, line.strip_prefix("DA:")) {
            let (l, h) = da.split_once(',').unwrap();
            out.push((l.parse().unwrap(), h.parse().unwrap()));
        }
    }
    out
}

covtest!(blocks_become_lines_by_the_documented_rule, |dir: Dir| {
    if shop(&dir).is_none() {
        return;
    }
    let lcov = report(&dir, &["--format", "lcov", "shop.out"]);
    let lines = da_lines(&lcov, "example.com/shop/calc/calc.go");
    let hits = |n: u32| lines.iter().find(|(l, _)| *l == n).map(|(_, h)| *h);
    // Sign ran 3 times with x > 0.
    assert_eq!(hits(5), Some(3), "{lines:?}");
    // `return "negative"` never ran; its block ends at 7.1, so the `}` line
    // 7 is not a line of it.
    assert_eq!(hits(6), Some(0), "{lines:?}");
    assert_eq!(hits(7), None, "{lines:?}");
    // Two blocks on line 8: the `if` ran 3 times, `return "zero"` never:
    // the line gets the larger count.
    assert_eq!(hits(8), Some(3), "{lines:?}");
    // A statement over lines 9-10 (its block ends at 11.1, before the
    // comment line), then one block over lines 12-13: every line of each.
    for n in [9, 10, 12, 13] {
        assert_eq!(hits(n), Some(3), "line {n}: {lines:?}");
    }
    assert_eq!(hits(11), None, "{lines:?}");
    // A.String ran once, B.String never; Unused never.
    assert_eq!(hits(19), Some(1));
    assert_eq!(hits(20), Some(0));
    assert_eq!(hits(23), Some(0));
    // Lines outside every block (blank, declarations) are not lines.
    assert_eq!(hits(3), None);
    assert_eq!(hits(16), None);
});

covtest!(
    lcov_is_read_by_lcov_and_genhtml_with_the_same_line_totals,
    |dir: Dir| {
        if shop(&dir).is_none() {
            return;
        }
        let j = json(&dir, &["shop.out"]);
        let (covered, total) = (
            j["lines"]["covered"].as_u64().unwrap(),
            j["lines"]["total"].as_u64().unwrap(),
        );
        assert!(covered > 0 && covered < total, "{j}");
        let expect = format!("({covered} of {total} lines)");

        report(&dir, &["--format", "lcov", "shop.out", "-o", "plain.info"]);
        let summary = run_ok(
            Command::new(consumer("lcov"))
                .current_dir(&dir.root)
                .args(["--summary", "plain.info"]),
        );
        // lcov prints its summary on stdout or stderr depending on the version.
        let out = Command::new(consumer("lcov"))
            .current_dir(&dir.root)
            .args(["--summary", "plain.info"])
            .output()
            .unwrap();
        let all = format!("{summary}{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            all.contains(&expect),
            "lcov --summary: {all}\nexpected {expect}"
        );

        // genhtml reads the sources: with --src the names are relative to it.
        report(
            &dir,
            &[
                "--format", "lcov", "--src", "shop", "shop.out", "-o", "src.info",
            ],
        );
        let gen = Command::new(consumer("genhtml"))
            .current_dir(dir.path("shop"))
            .args(["--output-directory", "../html", "../src.info"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&gen.stdout),
            String::from_utf8_lossy(&gen.stderr)
        );
        assert!(gen.status.success(), "genhtml failed: {text}");
        assert!(text.contains(&expect), "genhtml: {text}\nexpected {expect}");
        // And it counted the functions covreport listed (Sign, A.String and Put ran).
        assert!(text.contains("(3 of 6 functions)"), "genhtml: {text}");
        assert!(dir.path("html/calc/calc.go.gcov.html").is_file());
    }
);

covtest!(
    cobertura_is_valid_and_pycobertura_reads_the_same_line_rates,
    |dir: Dir| {
        if shop(&dir).is_none() {
            return;
        }
        for (out, extra) in [("plain.xml", None), ("src.xml", Some("shop"))] {
            let mut args = vec!["--format", "cobertura", "shop.out", "-o", out];
            if let Some(src) = extra {
                args.extend(["--src", src]);
            }
            report(&dir, &args);
            run_ok(
                Command::new(consumer("xmllint"))
                    .current_dir(&dir.root)
                    .args([
                        "--nonet",
                        "--noout",
                        "--dtdvalid",
                        project_root()
                            .join("tests/fixtures/coverage-04.dtd")
                            .to_str()
                            .unwrap(),
                        out,
                    ]),
            );
        }
        // The DTD is enforced: a class without its <methods> is rejected.
        let bad = dir.read("plain.xml").replacen("<methods>", "<lines>", 1);
        dir.create("bad.xml", bad.replacen("</methods>", "</lines>", 1));
        let st = Command::new(consumer("xmllint"))
            .current_dir(&dir.root)
            .args(["--nonet", "--noout", "--dtdvalid"])
            .arg(project_root().join("tests/fixtures/coverage-04.dtd"))
            .arg("bad.xml")
            .output()
            .unwrap();
        assert!(!st.status.success(), "xmllint accepted an invalid document");

        let j = json(&dir, &["--src", "shop", "shop.out"]);
        let shown = run_ok(
            Command::new(consumer("pycobertura"))
                .current_dir(&dir.root)
                .args(["show", "--format", "json", "src.xml"]),
        );
        let py: Value = serde_json::from_str(&shown).unwrap();
        let mut checked = 0;
        for pkg in j["packages"].as_array().unwrap() {
            for f in pkg["files"].as_array().unwrap() {
                let name = f["source"].as_str().unwrap();
                let row = py["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["Filename"] == name)
                    .unwrap_or_else(|| panic!("pycobertura lists no {name}: {py}"));
                let (c, t) = (
                    f["lines"]["covered"].as_u64().unwrap(),
                    f["lines"]["total"].as_u64().unwrap(),
                );
                assert_eq!(row["Stmts"].as_u64(), Some(t), "{name}: {row}");
                assert_eq!(row["Miss"].as_u64(), Some(t - c), "{name}: {row}");
                let rate = format!("{:.2}%", 100.0 * c as f64 / t as f64);
                assert_eq!(row["Cover"].as_str(), Some(rate.as_str()), "{name}: {row}");
                checked += 1;
            }
        }
        assert_eq!(checked, 2);
    }
);

covtest!(
    json_has_covtotals_numbers_and_go_tool_cover_funcs,
    |dir: Dir| {
        let Some(go) = shop(&dir) else { return };
        // Without --src: covtotal's default figures, per package and in total.
        let j = json(&dir, &["shop.out"]);
        let ct: Value =
            serde_json::from_str(&dir.tool("covtotal").args(["--json", "shop.out"]).stdout())
                .unwrap();
        for key in ["covered", "statements", "percent"] {
            assert_eq!(j[key], ct[key], "{key}");
        }
        for (mine, theirs) in j["packages"]
            .as_array()
            .unwrap()
            .iter()
            .zip(ct["packages"].as_array().unwrap())
        {
            for key in ["package", "covered", "statements", "percent"] {
                assert_eq!(mine[key], theirs[key], "{key}");
            }
        }
        // With --src: per function, exactly `go tool cover -func`.
        let j = json(&dir, &["--src", "shop", "shop.out"]);
        let func = run_ok(
            Command::new(&go)
                .current_dir(dir.path("shop"))
                .env("GOTOOLCHAIN", "local")
                .args(["tool", "cover", "-func", "../shop.out"]),
        );
        let mut expected = Vec::new();
        for line in func.lines().filter(|l| !l.starts_with("total:")) {
            let w: Vec<&str> = line.split_whitespace().collect();
            expected.push(format!("{}{} {}", w[0], w[1], w[2]));
        }
        let mut ours = Vec::new();
        for pkg in j["packages"].as_array().unwrap() {
            for f in pkg["files"].as_array().unwrap() {
                for func in f["functions"].as_array().unwrap() {
                    ours.push(format!(
                        "{}:{}:{} {:.1}%",
                        f["file"].as_str().unwrap(),
                        func["line"],
                        func["function"].as_str().unwrap(),
                        func["percent"].as_f64().unwrap()
                    ));
                }
            }
        }
        assert_eq!(ours, expected);
        let total = func
            .lines()
            .last()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap();
        assert_eq!(format!("{:.1}%", j["percent"].as_f64().unwrap()), total);
        // The package-level func literal (store.Normalise) is why they differ.
        assert_ne!(j["statements"], ct["statements"]);
    }
);

covtest!(badge_is_valid_svg_coloured_by_thresholds, |dir: Dir| {
    if shop(&dir).is_none() {
        return;
    }
    let pct = dir
        .tool("covtotal")
        .args(["--percent", "shop.out"])
        .stdout()
        .trim()
        .to_string();
    let p: f64 = pct.parse().unwrap();
    for (green, yellow, colour) in [
        ("0", "0", "#4c1"),
        ("100", "0", "#dfb317"),
        ("100", "100", "#e05d44"),
    ] {
        report(
            &dir,
            &[
                "--format",
                "badge",
                "--green",
                green,
                "--yellow",
                yellow,
                "shop.out",
                "-o",
                "badge.svg",
            ],
        );
        run_ok(
            Command::new(consumer("xmllint"))
                .current_dir(&dir.root)
                .args(["--nonet", "--noout", "badge.svg"]),
        );
        let svg = dir.read("badge.svg");
        assert!(
            svg.contains(&format!("fill=\"{colour}\"")),
            "{green}/{yellow}: {svg}"
        );
        assert!(svg.contains(&format!(">{pct}%</text>")), "{svg}");
        assert!(p > 0.0 && p < 100.0);
    }
});

covtest!(markdown_shows_total_delta_and_worst_packages, |dir: Dir| {
    if shop(&dir).is_none() {
        return;
    }
    let pct = dir
        .tool("covtotal")
        .args(["--percent", "shop.out"])
        .stdout();
    let now: f64 = pct.trim().parse().unwrap();
    dir.create("main.pct", "50.0\n");
    let md = report(
        &dir,
        &["--format", "markdown", "--baseline", "main.pct", "shop.out"],
    );
    assert!(
        md.starts_with(&format!("### Coverage: {}%\n", pct.trim())),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "baseline 50.0% → {}% ({:+.1})",
            pct.trim(),
            now - 50.0
        )),
        "{md}"
    );
    // Packages, lowest first.
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), 2, "{md}");
    let rate = |row: &str| -> f64 {
        row.split('|')
            .nth(4)
            .unwrap()
            .trim()
            .trim_end_matches('%')
            .parse()
            .unwrap()
    };
    assert!(rate(rows[0]) <= rate(rows[1]), "{md}");
    // A bad baseline is an error naming the file and line, exit 2.
    dir.create("bad.pct", "\nabc\n");
    let (_, err) = dir
        .tool("covreport")
        .args(["--format", "markdown", "--baseline", "bad.pct", "shop.out"])
        .expect_code(2);
    assert!(err.contains("bad.pct:2: expected a percent"), "{err}");
});

covtest!(a_failed_run_leaves_the_output_untouched, |dir: Dir| {
    dir.create("good.out", "mode: set\nm/p/x.go:1.1,2.5 1 1\n");
    dir.create("bad.out", "mode: set\nm/p/x.go:1.1,2.1 one 1\n");
    dir.create("report.info", "precious\n");
    let (_, err) = dir
        .tool("covreport")
        .args(["--format", "lcov", "bad.out", "-o", "report.info"])
        .expect_code(2);
    assert!(err.contains("bad.out:2"), "{err}");
    assert_eq!(dir.read("report.info"), "precious\n");
    let names: Vec<String> = std::fs::read_dir(&dir.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "a temporary file was left: {names:?}");
    dir.tool("covreport")
        .args(["--format", "lcov", "good.out", "-o", "report.info"])
        .stdout();
    assert!(dir.read("report.info").contains("DA:1,1\nDA:2,1\n"));
});

/// Runs the page's self-check in headless Chromium; returns its result and
/// Chromium's stderr (console messages are logged there).
fn chromium_selftest(dir: &Dir, html: &str) -> (Value, String) {
    let page = dir.path(html);
    let out = Command::new(consumer("chromium"))
        .current_dir(&dir.root)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path("chromium-profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}#selftest", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {stderr}");
    let start = dom
        .find("<pre id=\"selftest\">")
        .unwrap_or_else(|| panic!("no self-check result in the DOM; stderr:\n{stderr}"));
    let text = &dom[start + "<pre id=\"selftest\">".len()..];
    let text = &text[..text.find("</pre>").unwrap()];
    let text = text
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    (serde_json::from_str(&text).unwrap(), stderr)
}

covtest!(
    html_renders_in_chromium_with_covtotals_total_and_annotated_source,
    |dir: Dir| {
        if shop(&dir).is_none() {
            return;
        }
        report(
            &dir,
            &[
                "--format",
                "html",
                "--src",
                "shop",
                "shop.out",
                "-o",
                "report.html",
            ],
        );
        let html = dir.read("report.html");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "the page fetches nothing"
        );
        let (r, stderr) = chromium_selftest(&dir, "report.html");
        let total = dir
            .tool("covtotal")
            .args(["--src", "shop", "--percent", "shop.out"])
            .stdout();
        assert_eq!(r["total"], format!("{}%", total.trim()), "{r}");
        assert_eq!(r["errors"], Value::Array(vec![]), "{r}");
        assert!(!stderr.contains("Uncaught"), "{stderr}");
        assert_eq!(r["files"], 2, "{r}");
        // The first file (calc.go) opened with its blocks annotated: 12 blocks,
        // 7 never run (go test's own profile says so).
        let prof = dir.read("shop.out");
        let calc: Vec<&str> = prof
            .lines()
            .filter(|l| l.contains("/calc/calc.go:"))
            .collect();
        let zero = calc.iter().filter(|l| l.ends_with(" 0")).count();
        assert!(
            r["opened"]
                .as_str()
                .unwrap()
                .starts_with("example.com/shop/calc/calc.go"),
            "{r}"
        );
        assert_eq!(r["blocks"].as_u64(), Some(calc.len() as u64), "{r}");
        assert_eq!(r["uncovered"].as_u64(), Some(zero as u64), "{r}");

        // Without --src: the index and a note.
        report(&dir, &["--format", "html", "shop.out", "-o", "index.html"]);
        let (r, _) = chromium_selftest(&dir, "index.html");
        let total = dir
            .tool("covtotal")
            .args(["--percent", "shop.out"])
            .stdout();
        assert_eq!(r["total"], format!("{}%", total.trim()), "{r}");
        assert_eq!(r["blocks"], 0, "{r}");
        assert!(dir
            .read("index.html")
            .contains("No source: run covreport with --src DIR"));
    }
);

covtest!(
    html_of_two_thousand_files_stays_small_and_opens,
    |dir: Dir| {
        // Generated source and a profile that matches it (the blocks of each
        // function body), in a module: 2,000 files of 30 functions.
        dir.create("big/go.mod", "module example.com/big\n\ngo 1.21\n");
        let mut profile = String::from("mode: count\n");
        let mut source_bytes = 0usize;
        for f in 0..2000 {
            let mut src = format!("package p{}\n\n", f / 40);
            for k in 0..30 {
                let line = 3 + k * 5;
                src.push_str(&format!(
                "func F{k}(x int) int {{\n\tif x > {k} {{\n\t\treturn x - {k}\n\t}}\n\treturn x\n"
            ));
                src.push_str("}\n");
                // Blocks as Go writes them: the if, its body, the tail.
                let (c1, c2) = ((f + k) % 3, (f * k) % 2);
                profile.push_str(&format!(
                "example.com/big/p{}/f{f}.go:{}.23,{}.12 1 {c1}\nexample.com/big/p{}/f{f}.go:{}.12,{}.3 1 {c2}\nexample.com/big/p{}/f{f}.go:{}.2,{}.10 1 {c1}\n",
                f / 40, line, line + 1, f / 40, line + 1, line + 3, f / 40, line + 3, line + 4
            ));
                let _ = line;
            }
            source_bytes += src.len();
            dir.create(format!("big/p{}/f{f}.go", f / 40), src);
        }
        dir.create("big.out", profile);
        report(
            &dir,
            &[
                "--format", "html", "--src", "big", "big.out", "-o", "big.html",
            ],
        );
        let size = std::fs::metadata(dir.path("big.html")).unwrap().len() as usize;
        assert!(
            size < 3 * source_bytes,
            "the page is {size} bytes for {source_bytes} bytes of source"
        );
        let t = std::time::Instant::now();
        let (r, _) = chromium_selftest(&dir, "big.html");
        assert_eq!(r["files"], 2000, "{r}");
        assert_eq!(r["errors"], Value::Array(vec![]), "{r}");
        assert_eq!(r["blocks"], 90, "{r}");
        eprintln!(
            "2,000-file page: {size} bytes, loaded and opened in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
);

/// Copies a directory tree (the example module) without its build outputs.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

covtest!(
    integration_cover_writes_the_reports_and_the_ci_outputs,
    |dir: Dir| {
        use crate::util::cover::cover_run;
        let Some(go) = require_go() else { return };
        // The example module as a repository whose feature branch adds a
        // function the integration tests never call.
        let module = dir.path("shop");
        copy_tree(&project_root().join("tests/example"), &module);
        let git = |args: &[&str]| {
            run_ok(
                Command::new("git")
                    .current_dir(&module)
                    .env("GIT_AUTHOR_NAME", "t")
                    .env("GIT_AUTHOR_EMAIL", "t@example.com")
                    .env("GIT_COMMITTER_NAME", "t")
                    .env("GIT_COMMITTER_EMAIL", "t@example.com")
                    .args(args),
            )
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["add", "-A"]);
        git(&["commit", "-qm", "base"]);
        git(&["checkout", "-qb", "feature"]);
        let money = module.join("internal/money/money.go");
        let mut text = std::fs::read_to_string(&money).unwrap();
        text.push_str("\n// Halve is new and never called.\nfunc (c Cents) Halve() Cents {\n\tif c < 0 {\n\t\treturn 0\n\t}\n\treturn c / 2\n}\n");
        std::fs::write(&money, text).unwrap();
        git(&["commit", "-qam", "feature"]);

        let step_summary = dir.path("step-summary.md");
        // Process-wide: another integration-cover test running meanwhile may
        // append to this file too, so the assertions below look for our part.
        std::env::set_var("GITHUB_STEP_SUMMARY", &step_summary);
        std::env::set_var("GITHUB_ACTIONS", "true");
        std::env::set_var("PATH", {
            let mut dirs = vec![go.parent().unwrap().to_path_buf()];
            dirs.extend(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            ));
            std::env::join_paths(dirs).unwrap()
        });
        let module_arg = module.display().to_string();
        let r = cover_run(
            &dir,
            "out",
            None,
            &[
                "--module",
                &module_arg,
                "--runtime",
                "local",
                "--diff-base",
                "main",
                "--diff-min",
                "50",
            ],
        );
        std::env::remove_var("GITHUB_ACTIONS");
        std::env::remove_var("GITHUB_STEP_SUMMARY");
        // The tests passed; the diff gate failed: Halve's 3 statements never ran.
        assert_eq!(r.code, 1, "{r:#?}");
        assert!(r.gate_failed);
        assert!(
            r.gate_messages
                .contains("diff coverage 0.0% is below the minimum 50%"),
            "{}",
            r.gate_messages
        );
        let out = dir.path("out");
        let names: Vec<PathBuf> = [
            "lcov.info",
            "cobertura.xml",
            "report.html",
            "summary.md",
            "badge.svg",
        ]
        .iter()
        .map(|n| out.join(n))
        .collect();
        assert_eq!(r.reports, names);
        let total = r.total.clone().unwrap();
        // Each read by its consumer.
        run_ok(
            Command::new(consumer("lcov"))
                .arg("--summary")
                .arg(&names[0]),
        );
        run_ok(
            Command::new(consumer("xmllint"))
                .args(["--nonet", "--noout", "--dtdvalid"])
                .arg(project_root().join("tests/fixtures/coverage-04.dtd"))
                .arg(&names[1]),
        );
        assert!(std::fs::read_to_string(&names[2])
            .unwrap()
            .contains(&format!("<span id=\"total\">{total}%</span>")));
        run_ok(
            Command::new(consumer("xmllint"))
                .args(["--nonet", "--noout"])
                .arg(&names[4]),
        );
        let md = std::fs::read_to_string(&names[3]).unwrap();
        assert!(md.starts_with(&format!("### Coverage: {total}%")), "{md}");
        assert!(
            md.contains(
                "**Diff coverage** (since `main`): 0.0% (0 of 3 changed statements covered)."
            ),
            "{md}"
        );
        // The step summary got the Markdown.
        assert!(std::fs::read_to_string(&step_summary)
            .unwrap()
            .contains(&md));
        // The summary: the reports' paths, an annotation per uncovered range
        // (the new function's body), and GitLab's line last.
        let text = xtask::cover::summary(&r);
        for n in &names {
            assert!(
                text.contains(&format!("report:    {}", n.display())),
                "{text}"
            );
        }
        let body = 1 + std::fs::read_to_string(&money)
            .unwrap()
            .lines()
            .position(|l| l.starts_with("func (c Cents) Halve()"))
            .unwrap();
        // Its blocks: the `if`, `return 0` (ending at column 1 of the `}`
        // line), then `return c / 2`.
        for (a, b) in [(body + 1, body + 2), (body + 4, body + 4)] {
            assert!(
                text.contains(&format!(
                    "::warning file=internal/money/money.go,line={a},endLine={b}::"
                )),
                "{text}"
            );
        }
        assert_eq!(
            text.lines().last().unwrap(),
            format!("coverage: {total}% of statements")
        );
    }
);
