//! the reports of `covtools cover`: covreport writes lcov.info,
//! cobertura.xml, report.html, summary.md and badge.svg next to merged.cov
//! (`[report] formats`, `--reports`); the Markdown is appended to
//! `$GITHUB_STEP_SUMMARY` when set, and under `GITHUB_ACTIONS=true` each
//! range of uncovered changed lines (`--diff-base`) becomes a `::warning`
//! annotation.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use covcore::process::process;

use super::report::Report;
use super::settings::Settings;
use crate::config::REPORT_FORMATS as FORMATS;
use crate::progress::Progress;

/// Writes the configured reports beside `merged` with the covreport next
/// to the other tools, then the CI outputs. `series` (a service or phase
/// name, its profiles) become the HTML index's columns.
pub(super) fn write(
    s: &Settings,
    tools: &Path,
    merged: &Path,
    series: &[(String, String)],
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    let chosen: Vec<&(&str, &str)> = match &s.config.report.formats {
        None => FORMATS.iter().collect(),
        Some(list) => FORMATS
            .iter()
            .filter(|(name, _)| list.iter().any(|f| f == name))
            .collect(),
    };
    let covreport = tools.join("covreport");
    if !chosen.is_empty() && !covreport.is_file() {
        bail!(
            "{}: no covreport binary there (build it with `cargo build --bins`, or choose no reports with --reports none)",
            tools.display()
        );
    }
    let dir = merged.parent().unwrap_or(Path::new("."));
    for (format, file) in chosen {
        let dest = dir.join(file);
        let mut args: Vec<String> = vec![
            "--format".into(),
            format.to_string(),
            "--src".into(),
            s.config.module_dir.display().to_string(),
        ];
        if let (true, Some(pt)) = (*format == "html", &report.per_test) {
            args.extend(["--test-map".into(), pt.map.display().to_string()]);
        }
        if *format == "html" {
            for (name, profiles) in series {
                args.extend(["--series".into(), format!("{name}={profiles}")]);
            }
        }
        if *format == "markdown" {
            if let Some(b) = &s.baseline {
                args.extend(["--baseline".into(), b.display().to_string()]);
            }
            if let Some(base) = &s.config.gates.diff_base {
                args.extend(["--diff-base".into(), base.clone()]);
            }
        }
        args.extend([
            merged.display().to_string(),
            "-o".into(),
            dest.display().to_string(),
        ]);
        process(&covreport)
            .args(&args)
            .output()
            .with_context(|| format!("covreport --format {format}"))?;
        if *format == "markdown" {
            step_summary(&dest)?;
        }
        report.reports.push(dest);
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        report.annotations = annotations(&report.table);
    }
    progress.line(format!("reports: {} written", report.reports.len()));
    Ok(())
}

/// Appends the Markdown summary to `$GITHUB_STEP_SUMMARY`, when set.
fn step_summary(markdown: &Path) -> anyhow::Result<()> {
    let Some(target) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let text =
        std::fs::read(markdown).with_context(|| format!("reading {}", markdown.display()))?;
    let target = PathBuf::from(target);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&target)
        .with_context(|| format!("GITHUB_STEP_SUMMARY={}: cannot open", target.display()))?;
    f.write_all(&text)
        .and_then(|()| f.write_all(b"\n"))
        .with_context(|| format!("writing GITHUB_STEP_SUMMARY={}", target.display()))
}

/// GitHub's workflow-command annotations for covtotal's `uncovered:
/// file:a-b` lines (paths relative to the repository root, as GitHub wants).
fn annotations(covtotal_out: &str) -> Vec<String> {
    covtotal_out
        .lines()
        .filter_map(|l| l.strip_prefix("uncovered: "))
        .filter_map(|r| {
            let (file, range) = r.rsplit_once(':')?;
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            Some(format!(
                "::warning file={file},line={a},endLine={b}::Changed lines {range} are not covered by the integration tests"
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn uncovered_ranges_become_warnings() {
        let out = "PACKAGE COVERED\ntotal 1 2 50.0%\ndiff: (statements) 50.0% (1 of 2 changed statements covered since main)\nuncovered: cmd/a/main.go:12-14\nuncovered: b.go:3\n";
        assert_eq!(
            super::annotations(out),
            vec![
                "::warning file=cmd/a/main.go,line=12,endLine=14::Changed lines 12-14 are not covered by the integration tests",
                "::warning file=b.go,line=3,endLine=3::Changed lines 3 are not covered by the integration tests",
            ]
        );
        assert!(crate::config::check_formats(&["lcov".into(), "none".into()]).is_ok());
        assert!(crate::config::check_formats(&["pdf".into()]).is_err());
    }
}
