//! Test phases: `[[tests]]` tables, each with a name and a command, run one
//! after the other against the same running services. Before the first and
//! after each phase every service takes a live snapshot (GET
//! /covtools/flush on its killswitch); a phase's coverage is the difference
//! of the snapshots around it, so the services keep their state across
//! phases and nothing is reset.
//!
//! Snapshots need the cover build kind in atomic mode. The test kind (a
//! test binary cannot snapshot) and the set/count modes are refused before
//! anything is built, with what to change: restarting the services between
//! phases would lose the state the phases are meant to share.
//!
//! `<out>/phases/start.cov` holds what the start-up ran (before the first
//! phase). Per phase: `<out>/phases/<name>.cov` (the phase's own counts, a text
//! profile any tool reads: `covtotal --json` gives its own percent),
//! `<out>/phases/<name>/tests.log` (its output), and `<out>/phases.json` with, per
//! phase, its own percent, the statements it newly covered and the statements
//! only it covered. A failed phase is reported and the next one still runs;
//! the snapshots already taken are kept whatever happens later. The last
//! snapshot is the run's coverage (`<out>/merged.cov`, gated by covtotal):
//! nothing runs after it, so stopping the services would add nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;

use super::settings::{Settings, Tests};
use super::{Report, Started};
use crate::config::Config;
pub use crate::config::PhaseConfig;
use crate::progress::Progress;
use crate::runtime::control::Control;
use crate::runtime::process::Exit;

/// A phase, resolved.
#[derive(Debug, Clone)]
pub(super) struct Phase {
    pub(super) name: String,
    pub(super) tests: Tests,
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

/// The phases of a configuration (none without `[[tests]]`). The build
/// must be able to snapshot.
pub(super) fn resolve(config: &Config) -> anyhow::Result<Vec<Phase>> {
    if config.phases.is_empty() {
        return Ok(Vec::new());
    }
    let (kind, mode) = (config.build.kind, config.build.cover_mode.as_str());
    if !kind.can_snapshot(mode) {
        bail!(
            "[[tests]] phases need live snapshots, which build kind {} with covermode {mode} cannot take; \
             set [build] kind = \"cover\" (covermode atomic), e.g. --set build.kind=cover",
            kind.name()
        );
    }
    let mut seen = BTreeSet::new();
    let mut phases = Vec::new();
    for p in &config.phases {
        let ok = !p.name.is_empty()
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            bail!(
                "[[tests]] name = {:?}: expected letters, digits, - and _",
                p.name
            );
        }
        if !seen.insert(p.name.clone()) {
            bail!("[[tests]] name = {:?} appears twice", p.name);
        }
        if p.command.is_empty() {
            bail!("[[tests]] {}: command is empty", p.name);
        }
        phases.push(Phase {
            name: p.name.clone(),
            tests: Tests::Command {
                argv: p.command.clone(),
                env: p.env.clone(),
            },
        });
    }
    Ok(phases)
}

/// Block key (`file:l.c,l.c n`) -> count, from a text profile.
type Counts = BTreeMap<String, (u64, u64)>;

/// Runs the phases with a snapshot before the first and after each.
pub(super) fn run_phases(
    s: &Settings,
    started: &[Started],
    go: &Path,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = s.out.join("phases");
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let snap = |n: usize, label: &str, report: &mut Report| -> anyhow::Result<Counts> {
        let step = progress.phase(&format!("snapshot {label}"), 0);
        let result = snapshot(s, started, &dir.join(format!(".snapshot-{n}")));
        let took = match &result {
            Ok(_) => step.finish("ok"),
            Err(_) => step.fail("failed"),
        };
        report.steps.push((format!("snapshot {label}"), took));
        result
    };
    let mut before = snap(0, "start", report)?;
    // What starting the services (and their readiness checks) ran.
    write_profile(&dir.join("start.cov"), &before)?;
    // Each phase's delta, the start-up's first.
    let mut deltas: Vec<Counts> = vec![before.clone()];
    let mut first_failure = None;
    for (i, phase) in s.phases.iter().enumerate() {
        control.check()?;
        let mut ps = s.clone();
        ps.tests = phase.tests.clone();
        ps.out = dir.join(&phase.name);
        let steps_before = report.steps.len();
        super::tests::run_tests(&ps, started, None, go, control, progress, report)?;
        for step in &mut report.steps[steps_before..] {
            step.0 = format!("tests {}", phase.name);
        }
        let exit = report.tests_exit;
        if exit != Some(Exit::Code(0)) && first_failure.is_none() {
            first_failure = exit;
        }
        let mut pr = PhaseReport {
            name: phase.name.clone(),
            exit,
            ..Default::default()
        };
        match snap(i + 1, &phase.name, report) {
            Ok(after) => {
                let delta = difference(&after, &before);
                let profile = dir.join(format!("{}.cov", phase.name));
                write_profile(&profile, &delta)?;
                pr.profile = Some(profile);
                deltas.push(delta);
                before = after;
            }
            Err(e) => {
                // The earlier phases keep their figures; this one and the
                // later ones cannot be measured without a snapshot.
                pr.error = Some(format!("{e:#}"));
                report.phases.push(pr);
                finish(&dir, &deltas, report)?;
                report.tests_exit = first_failure.or(exit);
                return Err(e.context(format!("snapshot after phase {}", phase.name)));
            }
        }
        report.phases.push(pr);
    }
    report.tests_exit = Some(first_failure.unwrap_or(Exit::Code(0)));
    // The last snapshot is the run's coverage: nothing runs after it.
    let merged = s.out.join("merged.cov");
    write_profile(&merged, &before)?;
    report.merged = Some(merged);
    finish(&dir, &deltas, report)
}

/// The collect step with phases: covtotal on the last snapshot, with the
/// gates (the services are removed by the teardown).
pub(super) fn gate(
    s: &Settings,
    tools: &Path,
    go: &Path,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Some(merged) = report.merged.clone() else {
        bail!("no snapshot after the last phase");
    };
    let step = progress.phase("collect", 0);
    let args = super::collect::covtotal_args(s, &merged.to_string_lossy());
    report.pipeline = format!(
        "last snapshot ({}) -> {}\ncovtotal {}",
        s.out.join("phases").display(),
        merged.display(),
        super::shell_line(&args)
    );
    let out = super::collect::run_covtotal(tools, go, &args)?;
    super::collect::record_total(&out, step, "last snapshot", progress, report)?;
    // The HTML report's columns: one per phase with its own profile.
    let series: Vec<(String, String)> = report
        .phases
        .iter()
        .filter_map(|p| Some((p.name.clone(), p.profile.as_ref()?.display().to_string())))
        .collect();
    super::reports::write(s, tools, &merged, &series, progress, report)
}

/// Fills in the figures of the phases measured so far and writes phases.json.
fn finish(dir: &Path, deltas: &[Counts], report: &mut Report) -> anyhow::Result<()> {
    let total: u64 = deltas
        .iter()
        .flat_map(|d| d.iter())
        .map(|(k, (stmts, _))| (k, *stmts))
        .collect::<BTreeMap<_, _>>()
        .values()
        .sum();
    let ran = |d: &Counts| -> BTreeSet<String> {
        d.iter()
            .filter(|(_, (_, c))| *c > 0)
            .map(|(k, _)| k.clone())
            .collect()
    };
    let stmts = |keys: &BTreeSet<String>, d: &Counts| -> u64 {
        keys.iter().map(|k| d.get(k).map_or(0, |(s, _)| *s)).sum()
    };
    let sets: Vec<BTreeSet<String>> = deltas.iter().map(ran).collect();
    let mut seen: BTreeSet<String> = sets[0].clone();
    // deltas[0] is the start-up; phase i is deltas[i + 1].
    for (i, pr) in report
        .phases
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| i + 1 < deltas.len())
    {
        let (mine, d) = (&sets[i + 1], &deltas[i + 1]);
        let new: BTreeSet<String> = mine.difference(&seen).cloned().collect();
        let others: BTreeSet<String> = sets
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i + 1)
            .flat_map(|(_, s)| s.iter().cloned())
            .collect();
        let only: BTreeSet<String> = mine.difference(&others).cloned().collect();
        pr.percent = if total == 0 {
            0.0
        } else {
            100.0 * stmts(mine, d) as f64 / total as f64
        };
        pr.new_statements = stmts(&new, d);
        pr.only_statements = stmts(&only, d);
        seen.extend(mine.iter().cloned());
    }
    #[derive(Serialize)]
    struct PhaseJson<'a> {
        name: &'a str,
        exit: Option<String>,
        percent: f64,
        new_statements: u64,
        only_statements: u64,
        profile: Option<std::borrow::Cow<'a, str>>,
        error: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct PhasesJson<'a> {
        phases: Vec<PhaseJson<'a>>,
        statements: u64,
    }
    let phases = report
        .phases
        .iter()
        .map(|pr| PhaseJson {
            name: &pr.name,
            exit: pr.exit.map(|e| e.to_string()),
            // One decimal, as the summary prints it.
            percent: format!("{:.1}", pr.percent).parse().unwrap_or(pr.percent),
            new_statements: pr.new_statements,
            only_statements: pr.only_statements,
            profile: pr.profile.as_deref().map(Path::to_string_lossy),
            error: pr.error.as_deref(),
        })
        .collect();
    let mut json = serde_json::to_string(&PhasesJson {
        phases,
        statements: total,
    })?;
    json.push('\n');
    let path = dir.with_file_name("phases.json");
    fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    report.phases_json = Some(path);
    Ok(())
}

/// `after - before` per block (a restarted process's counters are new files,
/// so the sums only grow; a negative difference cannot happen and is 0).
fn difference(after: &Counts, before: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, (stmts, c))| {
            let b = before.get(k).map_or(0, |(_, c)| *c);
            (k.clone(), (*stmts, c.saturating_sub(b)))
        })
        .collect()
}

fn write_profile(path: &Path, counts: &Counts) -> anyhow::Result<()> {
    let mut text = String::from("mode: atomic\n");
    for (k, (_, c)) in counts {
        let _ = writeln!(text, "{k} {c}");
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A live snapshot of every service (covtarget's flush and fetch, one round
/// trip each): per service its meta-data and, per process, the newest
/// counter file, read like `go tool covdata textfmt` (covcore::covdata).
fn snapshot(s: &Settings, started: &[Started], dir: &Path) -> anyhow::Result<Counts> {
    let opts = covtarget::Options {
        cover_dir: None,
        port: Some(s.config.image.killswitch_port),
        timeout: Duration::from_secs(60),
    };
    let dirs: Vec<PathBuf> = covcore::pool::each(started, |st| -> anyhow::Result<PathBuf> {
        let out = dir.join(st.label(started));
        fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let target = covtarget::Target::parse(&st.target, None)?;
        let fetched = covtarget::ops::fetch_snapshot(&target, &opts)
            .with_context(|| format!("a snapshot of service {}", st.name))?;
        if !fetched.binaries.iter().any(|b| b.kind.is_counters()) {
            bail!(
                "service {}: no counter file in {} after the snapshot",
                st.name,
                fetched.dir
            );
        }
        for b in &fetched.binaries {
            fs::write(out.join(&b.name), &b.data)
                .with_context(|| format!("writing {}", out.join(&b.name).display()))?;
        }
        Ok(out)
    })
    .into_iter()
    .collect::<anyhow::Result<_>>()?;
    let mut text = String::new();
    for pod in covcore::covdata::pods(&dirs)? {
        text.push_str(&String::from_utf8_lossy(&pod.textfmt()?));
    }
    let mut counts = Counts::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("mode: "))
    {
        let parse = || -> Option<(String, u64, u64)> {
            let (block, count) = line.rsplit_once(' ')?;
            let (_, stmts) = block.rsplit_once(' ')?;
            Some((block.to_string(), stmts.parse().ok()?, count.parse().ok()?))
        };
        let (block, stmts, count) = parse()
            .with_context(|| format!("reading the snapshot in {}: {line:?}", dir.display()))?;
        let e = counts.entry(block).or_insert((stmts, 0));
        e.1 = e.1.saturating_add(count);
    }
    Ok(counts)
}

/// The phases' lines of the summary.
pub fn summary_lines(phases: &[PhaseReport]) -> String {
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

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn a_phase_is_the_difference_of_its_snapshots() {
        let c = |v: &[(&str, u64, u64)]| -> Counts {
            v.iter()
                .map(|(k, s, n)| (k.to_string(), (*s, *n)))
                .collect()
        };
        let before = c(&[("a", 2, 3), ("b", 1, 0)]);
        let after = c(&[("a", 2, 5), ("b", 1, 0), ("c", 4, 1)]);
        assert_eq!(
            difference(&after, &before),
            c(&[("a", 2, 2), ("b", 1, 0), ("c", 4, 1)])
        );
    }
}
