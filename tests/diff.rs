//! Diff coverage (`covtotal --diff-base`, `covreport --format markdown
//! --diff-base`) on real git repositories made here, with real Go code and
//! profiles from `go test -coverprofile`, cross-checked against diff-cover
//! (PyPI) reading covreport's Cobertura and lcov.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::report::{consumer, go_cover, run_ok, write_module};
use crate::util::*;

fn git(repo: &Path, args: &[&str]) -> String {
    run_ok(
        Command::new("git")
            .current_dir(repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .args(args),
    )
}

/// The shop module as a repository: `main` holds the base; the `feature`
/// branch adds a function to calc.go (its `return 0` never runs; its tail
/// is 2 statements on 3 lines), renames store.go to
/// kv.go changing one line, deletes nothing yet, adds a package no test
/// builds (other/o.go, 2 statements) and a file with no statements
/// (other/c.go). Returns the Go binary.
fn repo(dir: &Dir) -> Option<std::path::PathBuf> {
    let go = require_go()?;
    write_module(dir, "shop");
    let r = dir.path("shop");
    git(&r, &["init", "-q", "-b", "main"]);
    git(&r, &["add", "-A"]);
    git(&r, &["commit", "-qm", "base"]);
    git(&r, &["checkout", "-qb", "feature"]);
    let calc = dir.read("shop/calc/calc.go");
    dir.create(
        "shop/calc/calc.go",
        format!("{calc}\nfunc Twice(x int) int {{\n\tif x > 100 {{\n\t\treturn 0\n\t}}\n\ty := 2 *\n\t\tx\n\treturn y\n}}\n"),
    );
    let test = dir.read("shop/calc/calc_test.go");
    dir.create(
        "shop/calc/calc_test.go",
        format!("{test}\nfunc TestTwice(t *testing.T) {{ Twice(1) }}\n"),
    );
    git(&r, &["mv", "store/store.go", "store/kv.go"]);
    let kv = dir.read("shop/store/kv.go");
    dir.create(
        "shop/store/kv.go",
        kv.replace("panic(\"negative\")", "panic(\"negative value\")"),
    );
    dir.create(
        "shop/other/o.go",
        "package other\n\nfunc O(x int) int {\n\tx++\n\treturn x\n}\n",
    );
    dir.create("shop/other/c.go", "package other\n\nconst C = 1\n");
    git(&r, &["add", "-A"]);
    git(&r, &["commit", "-qm", "feature"]);
    // Only calc and store are tested: other is absent from the profile.
    go_cover(
        &go,
        &r,
        "count",
        &dir.path("shop.out"),
        &["./calc", "./store"],
    );
    Some(go)
}

/// PATH with Go first: files absent from the profile are counted with
/// `go tool cover`.
fn go_path() -> std::ffi::OsString {
    covjob::toolchain::path_with(go().expect("repo() required Go").parent().unwrap())
}

fn covtotal_diff(dir: &Dir, extra: &[&str], code: i32) -> (String, String) {
    dir.tool("covtotal")
        .env("PATH", go_path())
        .args(["--src", "shop", "--diff-base", "main"])
        .args(extra)
        .arg("shop.out")
        .expect_code(code)
}

covtest!(
    counts_changed_statements_and_lists_uncovered_lines,
    |dir: Dir| {
        if repo(&dir).is_none() {
            return;
        }
        let (out, _) = covtotal_diff(&dir, &[], 0);
        let lines: Vec<&str> = out.lines().collect();
        // Changed statements: Twice's if (ran), `return 0` (not), its tail (2,
        // ran); kv.go's panic (not, one changed line of a renamed file);
        // other/o.go's two statements (absent from the profile: not run).
        // other/c.go has none and does not count.
        assert_eq!(
            lines[1], "diff: (statements) 42.9% (3 of 7 changed statements covered since main)",
            "{out}"
        );
        // The line numbers are the new files'.
        let (ret, panic) = (
            line_of(&dir, "shop/calc/calc.go", "return 0"),
            line_of(&dir, "shop/store/kv.go", "panic(\"negative value\")"),
        );
        assert_eq!(
            &lines[2..],
            &[
                format!("uncovered: calc/calc.go:{ret}"),
                "uncovered: other/o.go:4-5".to_string(),
                format!("uncovered: store/kv.go:{panic}"),
            ],
            "{out}"
        );
    }
);

/// The 1-based line of a file holding `text`.
fn line_of(dir: &Dir, file: &str, text: &str) -> usize {
    1 + dir
        .read(file)
        .lines()
        .position(|l| l.trim() == text)
        .unwrap()
}

covtest!(gates_on_diff_min, |dir: Dir| {
    if repo(&dir).is_none() {
        return;
    }
    let (_, err) = covtotal_diff(&dir, &["--diff-min", "50"], 1);
    assert!(
        err.contains("diff coverage 42.9% is below the minimum 50%"),
        "{err}"
    );
    covtotal_diff(&dir, &["--diff-min", "42.9"], 0);
    let (_, err) = covtotal_diff(&dir, &["--diff-min", "101"], 2);
    assert!(err.contains("--diff-min 101"), "{err}");
});

covtest!(
    a_deleted_file_and_an_unchanged_tree_count_nothing,
    |dir: Dir| {
        if repo(&dir).is_none() {
            return;
        }
        let r = dir.path("shop");
        // Against the feature branch itself nothing changed.
        let (out, _) = dir
            .tool("covtotal")
            .env("PATH", go_path())
            .args([
                "--src",
                "shop",
                "--diff-base",
                "feature",
                "--diff-min",
                "90",
                "shop.out",
            ])
            .expect_code(0);
        assert!(
            out.contains("diff: (statements) no changed statements since feature"),
            "{out}"
        );
        // Deleting a file (uncommitted: the working tree counts) adds nothing.
        git(&r, &["rm", "-q", "other/o.go"]);
        let (out, _) = covtotal_diff(&dir, &[], 0);
        assert!(
            out.contains("(3 of 5 changed statements covered since main)"),
            "{out}"
        );
        assert!(!out.contains("other/"), "{out}");
    }
);

covtest!(a_ref_that_does_not_exist_is_an_error, |dir: Dir| {
    if repo(&dir).is_none() {
        return;
    }
    let (out, err) = dir
        .tool("covtotal")
        .args(["--src", "shop", "--diff-base", "no-such-branch", "shop.out"])
        .expect_code(2);
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--diff-base no-such-branch: no such commit in the git repository at"),
        "{err}"
    );
    // Outside a git checkout, too.
    write_module(&dir, "loose");
    let (_, err) = dir
        .tool("covtotal")
        .args(["--src", "loose", "--diff-base", "main", "shop.out"])
        .env("GIT_CEILING_DIRECTORIES", dir.root.to_str().unwrap())
        .expect_code(2);
    assert!(err.contains("is not in a git checkout"), "{err}");
});

covtest!(markdown_lists_the_uncovered_changed_lines, |dir: Dir| {
    if repo(&dir).is_none() {
        return;
    }
    let md = dir
        .tool("covreport")
        .env("PATH", go_path())
        .args([
            "--format",
            "markdown",
            "--src",
            "shop",
            "--diff-base",
            "main",
            "shop.out",
        ])
        .stdout();
    assert!(
        md.contains("**Diff coverage** (since `main`): 42.9% (3 of 7 changed statements covered)."),
        "{md}"
    );
    let ret = line_of(&dir, "shop/calc/calc.go", "return 0");
    let panic = line_of(&dir, "shop/store/kv.go", "panic(\"negative value\")");
    for r in [
        format!("calc/calc.go:{ret}"),
        "other/o.go:4-5".into(),
        format!("store/kv.go:{panic}"),
    ] {
        assert!(md.contains(&format!("- `{r}`")), "{md}");
    }
});

/// diff-cover's JSON report on a coverage file of covreport's.
fn diff_cover(dir: &Dir, report: &str) -> Value {
    let json = dir.path(format!("{report}.diff.json"));
    run_ok(
        Command::new(consumer("diff-cover"))
            .current_dir(dir.path("shop"))
            .arg(dir.path(report))
            .args(["--compare-branch", "main", "--format"])
            .arg(format!("json:{}", json.display())),
    );
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

covtest!(diff_cover_agrees_on_the_changed_lines, |dir: Dir| {
    if repo(&dir).is_none() {
        return;
    }
    for (format, file) in [("cobertura", "cov.xml"), ("lcov", "lcov.info")] {
        dir.tool("covreport")
            .args(["--format", format, "--src", "shop", "shop.out", "-o", file])
            .stdout();
    }
    let (out, _) = covtotal_diff(&dir, &[], 0);
    // Ours, per file: the uncovered changed lines, expanded.
    let mut ours: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in out.lines().filter_map(|l| l.strip_prefix("uncovered: ")) {
        let (file, range) = r.rsplit_once(':').unwrap();
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let v = ours.entry(file.to_string()).or_default();
        v.extend(a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap());
    }
    for file in ["cov.xml", "lcov.info"] {
        let dc = diff_cover(&dir, file);
        let stats = dc["src_stats"].as_object().unwrap();
        // Line level: diff-cover knows only files in the report, so the
        // package no test built (other/o.go) is missing from its figure;
        // every other uncovered changed line is the same.
        let mut theirs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (f, s) in stats {
            let v: Vec<u64> = s["violation_lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect();
            if !v.is_empty() {
                theirs.insert(f.clone(), v);
            }
        }
        let mut expected = ours.clone();
        expected.remove("other/o.go");
        assert_eq!(theirs, expected, "{file}: {dc}");
        // The figures differ, and why: diff-cover counts changed lines,
        // covtotal the statements of the changed blocks. Twice's tail is 2
        // statements on 3 lines: diff-cover counts 6 lines (the if, `return
        // 0`, the tail's 3, kv.go's panic) with 2 uncovered, 66%; covtotal
        // counts 5 statements in those files with 2 uncovered (60%), plus
        // o.go's 2, which diff-cover cannot know of: 3 of 7, 42.9%.
        // From lcov, diff-cover also counts the function records (FN) as
        // lines: Twice's `func` line (it ran) makes 7 lines, 71%.
        let (lines, percent) = if file == "lcov.info" {
            (7, 71)
        } else {
            (6, 66)
        };
        assert_eq!(dc["total_num_lines"].as_u64(), Some(lines), "{file}: {dc}");
        assert_eq!(dc["total_num_violations"].as_u64(), Some(2), "{file}: {dc}");
        assert_eq!(
            dc["total_percent_covered"].as_u64(),
            Some(percent),
            "{file}: {dc}"
        );
    }
});
