//! The collect step: `covkill TARGETS | covpull | covmerge` through real
//! pipes, then `covtotal` with the gates, as a user would type them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use covcore::process::{process, shell_line, shell_word, wait_for_children};

use super::settings::Settings;
use super::{indent, CollectTimes, Report, Started};
use crate::progress::Progress;
use crate::runtime::process::{self, Exit};

/// One stage of the collection pipeline: when it ended and how.
pub(super) struct Stage {
    name: &'static str,
    pid: u32,
    ended: Option<(Duration, Exit)>,
    log: PathBuf,
}

/// covkill | covpull | covmerge through real pipes, then covtotal.
pub(super) fn collect(
    s: &Settings,
    started: &[Started],
    tools: &Path,
    go: &Path,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    let profiles = s.out.join("profiles");
    let merged = s.out.join("merged.cov");
    let logs = s.out.join("logs");
    // Only this run's profiles: covpull rewrites names, it does not prune.
    if profiles.exists() {
        fs::remove_dir_all(&profiles)
            .with_context(|| format!("removing {}", profiles.display()))?;
    }
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let targets: Vec<String> = started.iter().map(|s| s.target.clone()).collect();
    let tool = |n: &str| tools.join(n);
    let profiles_arg = profiles.display().to_string();
    let merged_arg = merged.display().to_string();
    let kill_args: Vec<&str> = targets.iter().map(String::as_str).collect();
    report.pipeline = format!(
        "covkill {} | covpull --out {} | covmerge -o {}",
        shell_line(&targets),
        shell_word(&profiles_arg),
        shell_word(&merged_arg)
    );

    let phase = progress.phase("collect", 0);
    phase.set(report.pipeline.clone());
    progress.line(format!("collect: {}", report.pipeline));
    let log_of = |n: &str| logs.join(format!("{n}.stderr"));
    let t0 = Instant::now();
    let stage = |name: &str, args: &[&str]| {
        process(tool(name))
            .args(args)
            .stderr_path(log_of(name))
            .expression()
    };
    let expr = stage("covkill", &kill_args)
        .pipe(stage("covpull", &["--out", &profiles_arg]))
        .pipe(stage("covmerge", &["-o", &merged_arg]))
        .stdin_null()
        .unchecked();
    let handle = expr
        .start()
        .context("starting covkill | covpull | covmerge")?;
    // Each stage's end, seen without reaping (duct collects the statuses).
    let mut stages: Vec<Stage> = ["covkill", "covpull", "covmerge"]
        .into_iter()
        .zip(handle.pids())
        .map(|(name, pid)| Stage {
            name,
            pid,
            ended: None,
            log: log_of(name),
        })
        .collect();
    // Woken as each stage ends (SIGCHLD), whatever the order.
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    wait_for_children(far, || {
        for st in stages.iter_mut().filter(|st| st.ended.is_none()) {
            if let Some(exit) = process::peek_exit(st.pid) {
                st.ended = Some((t0.elapsed(), exit));
            }
        }
        Ok(stages.iter().all(|st| st.ended.is_some()))
    })?;
    handle
        .wait()
        .context("waiting for covkill | covpull | covmerge")?;
    let piped = t0.elapsed();

    // Per-service profile counts, from the names covpull gives them.
    let mut counts = BTreeMap::new();
    // Each service's own profiles, for the HTML report's per-service columns.
    let mut series = Vec::new();
    let names: Vec<String> = fs::read_dir(&profiles)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for st in started {
        let target = covtarget::Target::parse(&st.target, None)?;
        // Whose files a name is: the target's stem (`<stem>.cover-<n>.out`,
        // or the directory `<stem>` of the cover build kind); a Swarm
        // service's are its task containers' (covkill expands it), each
        // `docker_<service>.<slot>.<task>`.
        let (prefix, glob) = match &target {
            covtarget::Target::Swarm { service } => {
                (format!("docker_{service}."), format!("docker_{service}.*"))
            }
            _ => (target.file_stem(), target.file_stem()),
        };
        let owned = |n: &&String| match &target {
            covtarget::Target::Swarm { .. } => n.starts_with(&prefix),
            _ => **n == prefix || n.starts_with(&format!("{prefix}.cover-")),
        };
        let is_dir = |n: &&String| profiles.join(n).is_dir();
        let text = names.iter().filter(owned).filter(|n| !is_dir(n)).count();
        // The cover build kind: one counter file per process, in a directory.
        let binary: usize = names
            .iter()
            .filter(owned)
            .filter(is_dir)
            .map(|d| {
                fs::read_dir(profiles.join(d)).map_or(0, |rd| {
                    rd.filter_map(|e| e.ok())
                        .filter(|e| {
                            e.file_name()
                                .to_string_lossy()
                                .starts_with(covcore::contract::COVCOUNTERS_PREFIX)
                        })
                        .count()
                })
            })
            .sum();
        // Replicas of one service count together.
        *counts.entry(st.name.clone()).or_insert(0) += text + binary;
        let label = st.label(started);
        if binary > 0 {
            series.push((label, format!("{profiles_arg}/{glob}")));
        } else if text > 0 {
            series.push((label, format!("{profiles_arg}/{glob}.cover-*")));
        }
    }
    report.profiles = counts;

    let failed: Vec<String> = stages
        .iter()
        .filter(|st| st.ended.is_some_and(|(_, e)| e != Exit::Code(0)))
        .map(|st| {
            let (_, exit) = st.ended.unwrap();
            let err = fs::read_to_string(&st.log).unwrap_or_default();
            format!("{} failed ({exit}):\n{}", st.name, indent(err.trim_end()))
        })
        .collect();
    if !failed.is_empty() {
        report.steps.push(("collect".into(), phase.fail("failed")));
        bail!("collecting coverage: {}", failed.join("\n"));
    }
    report.merged = Some(merged.clone());

    // covtotal: the table, the total (as `go tool cover -func` counts) and the gates.
    let total_args = covtotal_args(s, &merged_arg);
    let t1 = Instant::now();
    let out = run_covtotal(tools, go, &total_args)?;
    let total_took = t1.elapsed();
    let end = |name: &str| {
        stages
            .iter()
            .find(|st| st.name == name)
            .and_then(|st| st.ended.map(|(d, _)| d))
            .unwrap_or_default()
    };
    report.collect = Some(CollectTimes {
        kill: end("covkill"),
        pull: end("covpull"),
        merge: end("covmerge"),
        total: total_took,
        all: piped + total_took,
    });
    report
        .pipeline
        .push_str(&format!("\ncovtotal {}", shell_line(&total_args)));
    let what = format!("{} profiles", report.profiles.values().sum::<usize>());
    record_total(&out, phase, &what, progress, report)?;
    super::reports::write(s, tools, &merged, &series, progress, report)
}

/// Records covtotal's answer (the table, the gate messages, the total) and
/// ends the collect step; `what` follows the percent on the step's line.
/// covtotal with the run's `go` first on PATH: with a diff base it counts
/// the files absent from the profile with `go tool cover`.
pub(super) fn run_covtotal(
    tools: &Path,
    go: &Path,
    args: &[String],
) -> anyhow::Result<std::process::Output> {
    let go_dir = go.parent().unwrap_or(Path::new("."));
    process(tools.join("covtotal"))
        .args(args)
        .env("PATH", crate::toolchain::path_with(go_dir))
        .output_unchecked()
}

pub(super) fn record_total(
    out: &std::process::Output,
    step: crate::progress::Phase,
    what: &str,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    report.table = String::from_utf8_lossy(&out.stdout).into_owned();
    report.gate_messages = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => {}
        Some(1) => report.gate_failed = true,
        _ => {
            report
                .steps
                .push(("collect".into(), step.fail("covtotal failed")));
            bail!(
                "covtotal failed ({}): {}",
                out.status,
                report.gate_messages.trim()
            );
        }
    }
    report.total = report
        .table
        .lines()
        .rev()
        .find(|l| l.starts_with("total"))
        .and_then(|l| l.split_whitespace().last())
        .map(|p| p.trim_end_matches('%').to_string());
    for line in report.gate_messages.lines() {
        progress.line(line);
    }
    let msg = format!("{}% ({what})", report.total.as_deref().unwrap_or("?"));
    let took = if report.gate_failed {
        step.fail(&format!("{msg}: gate failed"))
    } else {
        step.finish(&msg)
    };
    report.steps.push(("collect".into(), took));
    Ok(())
}

/// covtotal's arguments for the merged profile: the per-package table, the
/// total as `go tool cover -func` counts it, and the gates.
pub(super) fn covtotal_args(s: &Settings, merged: &str) -> Vec<String> {
    let module = s.config.module_dir.display().to_string();
    let mut args: Vec<String> = vec!["--by".into(), "package".into(), "--src".into(), module];
    if let Some(m) = s.min {
        args.extend(["--min".into(), format!("{m}")]);
    }
    if let Some(b) = &s.baseline {
        args.extend(["--baseline".into(), b.display().to_string()]);
        args.extend([
            "--max-drop".into(),
            format!("{}", s.max_drop.unwrap_or(0.0)),
        ]);
    }
    if let Some(base) = &s.config.gates.diff_base {
        args.extend(["--diff-base".into(), base.clone()]);
        if let Some(m) = s.config.gates.diff_min {
            args.extend(["--diff-min".into(), format!("{m}")]);
        }
    }
    args.push(merged.to_string());
    args
}
