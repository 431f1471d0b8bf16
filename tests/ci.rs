//! The CI recipes a user copies (docs/ci/), checked by real linters from
//! PyPI that `cargo xtask test` installs (xtask/src/consumers.rs): the
//! GitHub Actions workflow against the workflow schema check-jsonschema
//! ships and by zizmor's audits (pedantic), the GitLab job against GitLab's
//! CI schema; the job's coverage regex, read by a YAML parser and run by
//! Python's `re`, finds the figure in the summary covtools prints; and every
//! `covtools cover` flag the recipes use is one covtools knows.

use covcore::exit_codes::ExitStatus;
use std::path::PathBuf;
use std::process::Command;

use crate::util::report::{consumer, run_ok};
use crate::util::{bin, project_root};

fn recipe(name: &str) -> PathBuf {
    project_root().join("docs/ci").join(name)
}

#[test]
fn the_github_workflow_is_valid_and_passes_zizmor() {
    let workflow = recipe("github-actions.yml");
    run_ok(
        Command::new(consumer("check-jsonschema"))
            .args(["--builtin-schema", "vendor.github-workflows"])
            .arg(&workflow),
    );
    // Offline: it has no network here, and a user's copy is audited online
    // by their own CI anyway.
    let out = run_ok(
        Command::new(consumer("zizmor"))
            .args([
                "--offline",
                "--no-config",
                "--persona",
                "pedantic",
                "--format",
                "plain",
                "--color",
                "never",
            ])
            .arg(&workflow),
    );
    assert!(out.contains("No findings"), "{out}");
}

#[test]
fn the_gitlab_job_is_valid() {
    run_ok(
        Command::new(consumer("check-jsonschema"))
            .args(["--builtin-schema", "vendor.gitlab-ci"])
            .arg(recipe("gitlab-ci.yml")),
    );
}

/// GitLab takes the last line its regex matches, and the first number in
/// the match: that must be the total, and only the total.
#[test]
fn the_gitlab_coverage_regex_reads_the_total_from_the_summary() {
    let report = covjob::cover::Report {
        runtime: "docker".into(),
        total: Some("81.2".into()),
        table: "PACKAGE                  COVERED  STATEMENTS  PERCENT\nexample.com/shop/orders  13       16          81.2%\n".into(),
        pipeline: "covkill docker:orders | covpull --out .covtools/profiles | covmerge -o .covtools/merged.cov".into(),
        merged: Some(".covtools/merged.cov".into()),
        ..Default::default()
    };
    let summary = covjob::cover::summary(&report);
    assert_eq!(gitlab_coverage(&summary), ["81.2"], "{summary}");

    // A run that stopped before any figure: nothing for GitLab to read.
    let failed = covjob::cover::Report {
        code: ExitStatus::Error,
        error: Some("no go.mod".into()),
        ..Default::default()
    };
    assert!(gitlab_coverage(&covjob::cover::summary(&failed)).is_empty());
}

/// The figure GitLab reads from each line the job's `coverage:` regex
/// matches in `log`.
fn gitlab_coverage(log: &str) -> Vec<String> {
    const SCRIPT: &str = r#"
import re, sys
from ruamel.yaml import YAML
jobs = YAML(typ="safe").load(open(sys.argv[1]))
pattern = jobs["coverage"]["coverage"]
assert pattern.startswith("/") and pattern.endswith("/"), pattern
rx = re.compile(pattern[1:-1])
for line in sys.stdin.read().splitlines():
    m = rx.search(line)
    if m:
        print(re.search(r"\d+(\.\d+)?", m.group(0)).group(0))
"#;
    // The venv's Python: check-jsonschema brings ruamel.yaml into it.
    let python = consumer("check-jsonschema").with_file_name("python");
    let out = crate::util::Dir::new("gitlab_coverage")
        .command(python)
        .args(["-c", SCRIPT])
        .arg(recipe("gitlab-ci.yml"))
        .stdin(log)
        .stdout();
    out.lines().map(str::to_string).collect()
}

#[test]
fn the_recipes_use_only_flags_covtools_cover_knows() {
    let help = run_ok(Command::new(bin("covtools")).args(["cover", "--help"]));
    let mut checked = 0;
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let text = std::fs::read_to_string(recipe(name)).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("covtools cover"))
            .collect();
        assert!(!lines.is_empty(), "no `covtools cover` in {name}");
        for line in lines {
            for flag in line.split_whitespace().filter(|w| w.starts_with("--")) {
                assert!(
                    help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                    "{name}: {flag} is not a flag of `covtools cover`:\n{line}"
                );
                checked += 1;
            }
        }
        assert!(
            text.contains("cargo install --locked --git \"$COVTOOLS_GIT\""),
            "{name} installs covtools from git with the lock file"
        );
    }
    assert!(checked >= 4, "{checked} flags");
}
