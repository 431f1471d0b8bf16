//! What a run did ([`Report`]) and the summary printed on stdout.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::runtime::process::Exit;

/// What a run did, for the summary and for callers (the tests).
#[derive(Debug, Default)]
pub struct Report {
    /// The exit code: 0, 1 (tests or gate failed), 2 (error), 130 (interrupted).
    pub code: u8,
    /// The error that stopped the run.
    pub error: Option<String>,
    pub runtime: String,
    /// The compose runtime's `up` command line (project, files, override).
    pub compose: Option<String>,
    /// The volumes its containers mounted, named and anonymous (all gone
    /// after teardown).
    pub compose_volumes: Vec<String>,
    /// The test command's exit status (None: it did not run).
    pub tests_exit: Option<Exit>,
    /// Profiles pulled per service.
    pub profiles: BTreeMap<String, usize>,
    /// The collection command line, as a shell would run it.
    pub pipeline: String,
    pub merged: Option<PathBuf>,
    /// The total as covtotal prints it (`74.5`).
    pub total: Option<String>,
    /// covtotal's per-package table.
    pub table: String,
    /// covtotal's gate messages (stderr).
    pub gate_messages: String,
    pub gate_failed: bool,
    /// Each phase and how long it took.
    pub steps: Vec<(String, Duration)>,
    /// The collection's parts: when covkill, covpull and covmerge ended
    /// (from the pipeline's start), covtotal's own time, and the whole.
    pub collect: Option<CollectTimes>,
    /// What `--keep` left behind (commands that remove it).
    pub kept: Vec<String>,
    /// The service images of the run (Docker runtime).
    pub images: Vec<String>,
    /// Whether they were removed at the end (`--rm-images`).
    pub images_removed: bool,
    /// Teardown problems.
    pub teardown_problems: Vec<String>,
    /// `[[tests]]` phases, each measured from live snapshots.
    pub phases: Vec<super::phases::PhaseReport>,
    /// Their figures as JSON (`<out>/phases.json`).
    pub phases_json: Option<PathBuf>,
    /// The reports written next to the merged profile (reports.rs).
    pub reports: Vec<PathBuf>,
    /// GitHub `::warning` annotations for uncovered changed lines.
    pub annotations: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CollectTimes {
    pub kill: Duration,
    pub pull: Duration,
    pub merge: Duration,
    pub total: Duration,
    pub all: Duration,
}

pub(super) fn print_summary(r: &Report) {
    // A closed stdout (`… | head`) must not panic: the exit code says it all.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(summary(r).as_bytes())
        .and_then(|()| stdout.flush());
}

/// The summary `run` prints on stdout: the runtime, the tests' outcome,
/// profiles per service, the collection pipeline, the per-package table,
/// the total, the merged profile, the steps' durations and the verdict.
pub fn summary(r: &Report) -> String {
    let mut out = String::new();
    let w = &mut out;
    use std::fmt::Write as _;
    if r.runtime.is_empty() {
        let _ = writeln!(w, "\n== covtools cover summary");
    } else {
        let _ = writeln!(w, "\n== covtools cover summary ({} runtime)", r.runtime);
    }
    let tests = match r.tests_exit {
        Some(Exit::Code(0)) => "passed".to_string(),
        Some(e) => format!("FAILED ({e})"),
        None => "did not run".to_string(),
    };
    if let Some(c) = &r.compose {
        let _ = writeln!(w, "stack:     {c}");
    }
    let _ = writeln!(w, "tests:     {tests}");
    let _ = write!(w, "{}", super::phases::summary_lines(&r.phases));
    if let Some(j) = &r.phases_json {
        let _ = writeln!(
            w,
            "phases:    {} (own percent, newly covered and only-this-phase statements)",
            j.display()
        );
    }
    if !r.profiles.is_empty() {
        let per: Vec<String> = r.profiles.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let _ = writeln!(
            w,
            "profiles:  {} ({})",
            r.profiles.values().sum::<usize>(),
            per.join(", ")
        );
    }
    if !r.pipeline.is_empty() {
        for (i, l) in r.pipeline.lines().enumerate() {
            let _ = writeln!(
                w,
                "{}{l}",
                if i == 0 { "collected: " } else { "           " }
            );
        }
    }
    if !r.table.is_empty() {
        let _ = writeln!(w);
        let _ = write!(w, "{}", r.table);
        let _ = writeln!(w);
    }
    if let Some(t) = &r.total {
        let _ = writeln!(
            w,
            "total:     {t}% (statements, counted like `go tool cover -func`)"
        );
    }
    for g in r.gate_messages.lines() {
        let _ = writeln!(w, "gate:      {g}");
    }
    if let Some(m) = &r.merged {
        let _ = writeln!(w, "merged:    {}", m.display());
    }
    for p in &r.reports {
        let _ = writeln!(w, "report:    {}", p.display());
    }
    for a in &r.annotations {
        let _ = writeln!(w, "{a}");
    }
    let steps: Vec<String> = r
        .steps
        .iter()
        .map(|(n, d)| format!("{n} {:.1}s", d.as_secs_f64()))
        .collect();
    let _ = writeln!(w, "time:      {}", steps.join(", "));
    if let Some(c) = r.collect {
        let _ = writeln!(
            w,
            "collect:   {:.2}s (covkill done at {:.2}s, covpull {:.2}s, covmerge {:.2}s; covtotal {:.2}s)",
            c.all.as_secs_f64(),
            c.kill.as_secs_f64(),
            c.pull.as_secs_f64(),
            c.merge.as_secs_f64(),
            c.total.as_secs_f64()
        );
    }
    for k in &r.kept {
        let _ = writeln!(w, "kept:      {k}");
    }
    if !r.images.is_empty() {
        let images = r.images.join(" ");
        if r.images_removed {
            let _ = writeln!(w, "images:    removed (--rm-images): {images}");
        } else {
            let _ = writeln!(
                w,
                "images:    kept: {images} (the next run reuses their layers; --rm-images removes them)"
            );
        }
    }
    if let Some(e) = &r.error {
        let first = e.lines().next().unwrap_or("");
        let _ = writeln!(w, "error:     {first}");
    }
    let verdict = match r.code {
        0 => "ok",
        1 => "FAILED (tests or gate)",
        130 => "interrupted",
        _ => "ERROR",
    };
    let _ = writeln!(w, "result:    {verdict} (exit {})", r.code);
    // Last, for GitLab's coverage regex: /coverage: \d+\.\d+% of statements/.
    if let Some(t) = &r.total {
        let _ = writeln!(w, "coverage: {t}% of statements");
    }
    out
}
