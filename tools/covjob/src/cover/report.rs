//! What a run did ([`Report`]) and the summary printed on stdout.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use covcore::exit_codes::ExitStatus;

use crate::runtime::control::TeardownProblem;
use crate::runtime::process::Exit;

/// What a run did, for the summary and for callers (the tests).
#[derive(Debug, Default)]
pub struct Report {
    /// The exit status: 0, 1 (tests or gate failed), 2 (error), 130
    /// (interrupted), 143 (terminated).
    pub code: ExitStatus,
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
    /// The references pushed (`--push`), and the file listing them.
    pub pushed: Vec<String>,
    pub pushed_list: Option<PathBuf>,
    /// Teardown problems.
    pub teardown_problems: Vec<TeardownProblem>,
    /// `[[tests]]` phases, each measured from live snapshots.
    pub phases: Vec<PhaseReport>,
    /// Their figures as JSON (`<out>/phases.json`).
    pub phases_json: Option<PathBuf>,
    /// Coverage per test: the map and what it holds.
    pub per_test: Option<PerTestReport>,
    /// The reports written next to the merged profile (reports.rs).
    pub reports: Vec<PathBuf>,
    /// GitHub `::warning` annotations for uncovered changed lines.
    pub annotations: Vec<String>,
}

/// What one phase did, for the summary and phases.json.
#[derive(Debug, Clone, Default)]
pub struct PhaseReport {
    pub name: String,
    /// The phase's exit status (None: it did not run).
    pub exit: Option<Exit>,
    /// Percent of all statements the phase itself ran.
    pub percent: f64,
    /// Statements no earlier phase (nor the start-up) had run.
    pub new_statements: u64,
    /// Statements no other phase (nor the start-up) ran.
    pub only_statements: u64,
    /// Its own profile.
    pub profile: Option<PathBuf>,
    /// Why its coverage is missing, if it is.
    pub error: Option<String>,
}

/// What a per-test run measured, for the summary.
#[derive(Debug, Clone, Default)]
pub struct PerTestReport {
    /// The test map.
    pub map: PathBuf,
    /// Tests per result (passed, failed, skipped, unfinished).
    pub results: Vec<(String, usize)>,
    /// Unfinished tests and what closed them.
    pub unfinished: Vec<(String, String)>,
    /// Tests that were open at the same time (their coverage is the
    /// group's).
    pub parallel: Vec<Vec<String>>,
    /// Calls the coordinator refused.
    pub problems: Vec<String>,
    /// How long each snapshot round took.
    pub rounds: Vec<Duration>,
    /// The coordinator's URL (`$COVTOOLS_TESTS_URL`), when the tests
    /// marked their own boundaries.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CollectTimes {
    pub kill: Duration,
    pub pull: Duration,
    pub merge: Duration,
    pub total: Duration,
    pub all: Duration,
}

/// The summary's lines of a per-test run.
fn per_test_lines(p: &PerTestReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let n: usize = p.results.iter().map(|(_, n)| n).sum();
    let per: Vec<String> = p.results.iter().map(|(r, n)| format!("{n} {r}")).collect();
    let mut ms: Vec<f64> = p.rounds.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    let median = ms.get(ms.len() / 2).copied().unwrap_or(0.0);
    let max = ms.last().copied().unwrap_or(0.0);
    let _ = writeln!(
        out,
        "per test:  {n} tests ({}); {} snapshot rounds, {median:.1} ms median, {mean:.1} ms mean, {max:.1} ms max",
        per.join(", "),
        ms.len()
    );
    if let Some(u) = &p.url {
        let _ = writeln!(out, "per test:  boundaries marked by the tests at {u}");
    }
    for (name, by) in &p.unfinished {
        let _ = writeln!(out, "unfinished: {name} (never ended; closed by the {by})");
    }
    for group in &p.parallel {
        let _ = writeln!(
            out,
            "parallel:  {} (open at the same time: what ran then is the group's, not one test's)",
            group.join(" + ")
        );
    }
    for problem in &p.problems {
        let _ = writeln!(out, "per test:  refused: {problem}");
    }
    let _ = writeln!(
        out,
        "test map:  {} (per test and service, the blocks it ran; covtotal --by test, covselect)",
        p.map.display()
    );
    out
}

/// The phases' lines of the summary.
fn summary_lines(phases: &[PhaseReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for p in phases {
        let status = match (&p.error, p.exit) {
            (Some(e), _) => format!("not measured: {}", e.lines().next().unwrap_or("")),
            (None, Some(Exit::Code(0))) => "passed".into(),
            (None, Some(e)) => format!("FAILED ({e})"),
            (None, None) => "did not run".into(),
        };
        let _ = writeln!(
            out,
            "phase:     {:<12} {:>5.1}%  {:>5} new  {:>5} only  {status}",
            p.name, p.percent, p.new_statements, p.only_statements
        );
    }
    out
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
    let _ = write!(w, "{}", summary_lines(&r.phases));
    if let Some(j) = &r.phases_json {
        let _ = writeln!(
            w,
            "phases:    {} (own percent, newly covered and only-this-phase statements)",
            j.display()
        );
    }
    if let Some(p) = &r.per_test {
        let _ = write!(w, "{}", per_test_lines(p));
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
    for p in &r.pushed {
        let _ = writeln!(w, "pushed:    {p}");
    }
    if let Some(l) = &r.pushed_list {
        let _ = writeln!(w, "pushed:    listed in {}", l.display());
    }
    if let Some(e) = &r.error {
        let first = e.lines().next().unwrap_or("");
        let _ = writeln!(w, "error:     {first}");
    }
    let verdict = match r.code {
        ExitStatus::Success => "ok",
        ExitStatus::Negative => "FAILED (tests or gate)",
        ExitStatus::Interrupted => "interrupted",
        ExitStatus::Terminated => "terminated",
        ExitStatus::Error => "ERROR",
    };
    let _ = writeln!(w, "result:    {verdict} (exit {})", r.code);
    // Last, for GitLab's coverage regex: /coverage: \d+\.\d+% of statements/.
    if let Some(t) = &r.total {
        let _ = writeln!(w, "coverage: {t}% of statements");
    }
    out
}
