//! covreport: each format read by a real consumer. lcov by Debian's `lcov`
//! and `genhtml`, Cobertura by `xmllint` against coverage-04.dtd and by
//! `pycobertura`, the badge by `xmllint`; the statement figures checked
//! against covtotal and `go tool cover -func` on profiles made here by `go
//! test -coverprofile`; and what `integration-cover` writes with them. The
//! consumers are installed by `cargo xtask test` (xtask/src/consumers.rs); a
//! missing one fails the test. (The HTML page: html.rs.)

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::util::report::*;
use crate::util::*;
use covcore::exit_codes::ExitStatus;

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
        // lcov prints its summary on stdout or stderr depending on the version.
        let out = Command::new(consumer("lcov"))
            .current_dir(&dir.root)
            .args(["--summary", "plain.info"])
            .output()
            .unwrap();
        assert!(out.status.success(), "lcov --summary failed: {out:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
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

covtest!(
    integration_cover_writes_the_reports_and_the_ci_outputs,
    |dir: Dir| {
        use crate::util::cover::cover_run;
        let Some(_go) = require_go() else { return };
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
        assert_eq!(r.code, ExitStatus::Negative, "{r:#?}");
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
        let html = std::fs::read_to_string(&names[2]).unwrap();
        assert!(html.contains(&format!("<span id=\"total\">{total}%</span>")));
        // A column per service.
        assert!(
            html.contains("\"series\":[\"catalog\",\"orders\",\"gateway\"]"),
            "{}",
            &html[html.find("\"series\"").unwrap_or(0)..][..80]
        );
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
        let text = covjob::cover::summary(&r);
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

covtest!(
    reports_from_a_gocoverdir_equal_those_from_its_textfmt,
    |dir: Dir| {
        let Some(go) = require_go() else { return };
        // Binary coverage data from a real run, and Go's own conversion of it.
        write_module(&dir, "shop");
        let covdir = dir.path("covdata");
        std::fs::create_dir_all(&covdir).unwrap();
        run_ok(
            Command::new(&go)
                .current_dir(dir.path("shop"))
                .env("GOTOOLCHAIN", "local")
                .args(["test", "-covermode=count", "-cover", "./...", "-args"])
                .arg(format!("-test.gocoverdir={}", covdir.display())),
        );
        run_ok(
            Command::new(&go)
                .env("GOTOOLCHAIN", "local")
                .args(["tool", "covdata", "textfmt"])
                .arg(format!("-i={}", covdir.display()))
                .arg(format!("-o={}", dir.path("text.out").display())),
        );
        for format in ["lcov", "json", "markdown"] {
            assert_eq!(
                report(&dir, &["--format", format, "--src", "shop", "covdata"]),
                report(&dir, &["--format", format, "--src", "shop", "text.out"]),
                "{format}"
            );
        }
    }
);
