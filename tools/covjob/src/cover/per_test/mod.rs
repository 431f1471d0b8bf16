//! Coverage per test (`[tests] per_test = true`, `--per-test`): which
//! blocks each integration test executed in each service, in a test map
//! next to merged.cov (`test-map.json`, docs/test-map.md).
//!
//! Boundaries come two ways. A `go test` command (gotest.rs, gobin.rs)
//! runs its top-level tests one at a time, a boundary before and after
//! each (with `per_test = "subtests"`, then each subtest alone). Any
//! other test command or program gets `$COVTOOLS_TESTS_URL`, the
//! coordinator (coordinator.rs), and calls `/test/start` and `/test/end`
//! itself. Each boundary is a snapshot round of every service; the
//! recorder (recorder.rs) attributes what ran between two boundaries, and
//! map.rs writes the map. As with phases, the last snapshot is the run's
//! coverage (merged.cov): the start-up and every test's share add up to it.

mod coordinator;
mod gobin;
mod gotest;
mod map;
mod recorder;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::report::PerTestReport;
use super::settings::{Settings, Tests};
use super::{Report, Started};
use crate::config::PerTest;
use crate::progress::Progress;
use crate::runtime::control::Control;
use crate::runtime::process::Exit;
pub use coordinator::ENV_TESTS_URL;
use recorder::{Boundary, Recorder};

/// Refuses what cannot be measured per test, before anything is built.
pub(super) fn check(s: &Settings) -> anyhow::Result<()> {
    if !s.per_test.on() {
        return Ok(());
    }
    if !s.phases.is_empty() {
        bail!("per-test coverage runs one [tests] command; [[tests]] phases cannot be measured per test");
    }
    let (kind, mode) = (s.config.build.kind, s.config.build.cover_mode.as_str());
    if !kind.can_snapshot(mode) {
        bail!(
            "per-test coverage needs live snapshots, which build kind {} with covermode {mode} cannot take; \
             set [build] kind = \"cover\" and cover_mode = \"atomic\" (--build-kind cover --cover-mode atomic)",
            kind.name()
        );
    }
    Ok(())
}

/// Runs the tests with a boundary around each, then writes the map and
/// merged.cov (the last snapshot).
pub(super) fn run(
    s: &Settings,
    started: &[Started],
    tests_bin: Option<&Path>,
    go: &Path,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = s.out.join("tests");
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let snap_dir = dir.join(".snapshot");
    let recorder = Recorder::new(|| {
        // The harness keeps one counter file per process: one round's files.
        let _ = fs::remove_dir_all(&snap_dir);
        super::snapshot::services(s, started, &snap_dir)
    });
    let steps_before = report.steps.len();
    recorder.mark(Boundary::Begin)?;
    let go_test = match &s.tests {
        Tests::Command { argv, env } => gotest::parse(argv).map(|g| (g, env.clone())),
        Tests::Package { .. } => None,
    };
    let mut own_times = Vec::new();
    let url = match go_test {
        Some((g, env)) => {
            own_times = run_go(
                s, started, &g, &env, &recorder, go, control, progress, report,
            )?;
            None
        }
        None => Some(run_driver(
            s, started, tests_bin, &recorder, go, control, progress, report,
        )?),
    };
    let mut timeline = recorder.finish()?;
    for (t, own) in timeline.tests.iter_mut().zip(own_times) {
        if let Some(d) = own {
            t.duration = d;
        }
    }
    // One line of steps for all the tests and one for all the rounds.
    let tests_took: Duration = report.steps.drain(steps_before..).map(|(_, d)| d).sum();
    let rounds_took: Duration = timeline.rounds.iter().sum();
    report.steps.push(("tests".into(), tests_took));
    report.steps.push((
        format!("snapshots ({})", timeline.rounds.len()),
        rounds_took,
    ));

    let services: Vec<String> = started.iter().map(|st| st.name.clone()).collect();
    let test_map = map::build(&timeline, &s.config.build.cover_mode, &services)?;
    let map_path = s.out.join(covcore::testmap::FILE_NAME);
    let mut json = serde_json::to_vec(&test_map)?;
    json.push(b'\n');
    fs::write(&map_path, json).with_context(|| format!("writing {}", map_path.display()))?;
    let merged = s.out.join("merged.cov");
    super::phases::write_profile(&merged, &super::snapshot::merged(&timeline.last))?;
    report.merged = Some(merged);

    let mut results: Vec<(String, usize)> = Vec::new();
    for t in &timeline.tests {
        match results.iter_mut().find(|(r, _)| *r == t.result) {
            Some((_, n)) => *n += 1,
            None => results.push((t.result.clone(), 1)),
        }
    }
    report.per_test = Some(PerTestReport {
        map: map_path,
        results,
        unfinished: timeline
            .tests
            .iter()
            .filter_map(|t| Some((t.name.clone(), t.closed_by.clone()?)))
            .collect(),
        parallel: timeline
            .shared
            .iter()
            .filter(|b| b.kind == "parallel")
            .map(|b| b.tests.clone())
            .collect(),
        problems: timeline.problems.clone(),
        rounds: timeline.rounds.clone(),
        url,
    });
    Ok(())
}

/// A `go test` suite, one top-level test at a time; each test's own time
/// as Go reports it.
#[allow(clippy::too_many_arguments)]
fn run_go(
    s: &Settings,
    started: &[Started],
    g: &gotest::GoTest,
    env: &std::collections::BTreeMap<String, String>,
    recorder: &Recorder<'_>,
    go: &Path,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<Vec<Option<Duration>>> {
    let dir = s.out.join("tests");
    let mut ps = s.clone();
    let mut run = |out: PathBuf, argv: Vec<String>, report: &mut Report| {
        ps.out = out;
        ps.tests = Tests::Command {
            argv,
            env: env.clone(),
        };
        super::tests::run_tests(&ps, started, None, go, control, progress, report)?;
        let log = fs::read_to_string(ps.out.join("tests.log")).unwrap_or_default();
        anyhow::Ok((report.tests_exit == Some(Exit::Code(0)), log))
    };
    // Each test and where it runs from: its package's binary and
    // directory, or (none) a `go test` of its own.
    let mut tests: Vec<(String, Option<(PathBuf, PathBuf)>)> = Vec::new();
    let mut built = false;
    let split = gobin::split(g);
    if let Some(sp) = &split {
        // Built once; each test from its package's binary. A build that
        // fails (or packages whose binaries would share a name) falls back
        // to one `go test` per test, which reports it as `go test` would.
        let bins = dir.join(".bin");
        fs::create_dir_all(&bins).with_context(|| format!("creating {}", bins.display()))?;
        let (ok, _) = run(dir.join(".build"), sp.build_argv(g, &bins), report)?;
        let (listed, list) = run(dir.join(".packages"), sp.list_argv(g), report)?;
        built = ok && listed;
        for (i, (bin, pkg)) in gobin::binaries(&list, &bins).into_iter().enumerate() {
            if !built {
                break;
            }
            let mut argv = gobin::in_dir(&bin, &pkg);
            argv.extend(["-test.list".to_string(), g.pattern().to_string()]);
            let (ok, log) = run(dir.join(format!(".list-{i}")), argv, report)?;
            built &= ok;
            for name in gotest::listed(&log) {
                tests.push((name, Some((bin.clone(), pkg.clone()))));
            }
        }
        if !built {
            progress.line(format!(
                "per test: the suite could not be built once (see {}); one go test per test",
                dir.join(".build/tests.log").display()
            ));
            tests.clear();
        }
    }
    if !built {
        let (ok, log) = run(dir.join(".list"), g.list_argv(), report)?;
        if !ok {
            bail!(
                "listing the tests ({}) failed; see {}",
                covcore::process::shell_line(&g.list_argv()),
                dir.join(".list/tests.log").display()
            );
        }
        tests = gotest::listed(&log)
            .into_iter()
            .map(|n| (n, None))
            .collect();
    }
    if tests.is_empty() {
        bail!(
            "the suite ({}) has no test to run",
            covcore::process::shell_line(&g.list_argv())
        );
    }
    progress.line(format!("per test: {} tests, one at a time", tests.len()));
    let mut failed = false;
    let mut times = Vec::new();
    let mut runs = 0;
    // A test alone between two boundaries; its log.
    let mut measure = |name: &str, from: &Option<(PathBuf, PathBuf)>, report: &mut Report| {
        control.check()?;
        let argv = match (from, &split) {
            (Some((bin, pkg)), Some(sp)) => sp.run_argv(bin, pkg, name),
            _ => g.run_argv(name),
        };
        recorder.mark(Boundary::Start(name.to_string()))?;
        let logs = dir.join(format!("{runs}-{}", name.replace('/', "--")));
        runs += 1;
        let (ok, log) = run(logs, argv, report)?;
        let result = gotest::result(name, ok, &log);
        failed |= result == "failed";
        times.push(gotest::elapsed(name, &log));
        recorder.mark(Boundary::End(name.to_string(), result.into()))?;
        anyhow::Ok(log)
    };
    for (name, from) in &tests {
        let log = measure(name, from, report)?;
        // The finer mode: each subtest the whole test ran, alone.
        if s.per_test == PerTest::Subtests {
            for sub in gotest::subtests(name, &log) {
                measure(&sub, from, report)?;
            }
        }
    }
    report.tests_exit = Some(Exit::Code(if failed { 1 } else { 0 }));
    Ok(times)
}

/// Any other tests: the coordinator serves `$COVTOOLS_TESTS_URL` while they
/// run. Returns its URL.
#[allow(clippy::too_many_arguments)]
fn run_driver(
    s: &Settings,
    started: &[Started],
    tests_bin: Option<&Path>,
    recorder: &Recorder<'_>,
    go: &Path,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<String> {
    let in_container = matches!(
        &s.tests,
        Tests::Package {
            in_container: true,
            ..
        } | Tests::Package {
            in_service: Some(_),
            ..
        }
    );
    // Tests in a container reach the host at the gateway of the network
    // they run on: the services' (the run's own, or a compose project's).
    let ip = if in_container {
        let net = started
            .iter()
            .find_map(|st| st.network.clone())
            .context("no network for the tests")?;
        docker_gateway(&net)?
    } else {
        "127.0.0.1".to_string()
    };
    let server = coordinator::Server::bind(&ip)?;
    let url = server.url();
    progress.line(format!(
        "per test: the tests mark their boundaries at ${ENV_TESTS_URL}={url}"
    ));
    let mut ps = s.clone();
    match &mut ps.tests {
        Tests::Package { env, .. } | Tests::Command { env, .. } => {
            env.insert(
                ENV_TESTS_URL.into(),
                url.replace('{', "{{").replace('}', "}}"),
            );
        }
    }
    let ps = &ps;
    let server = &server;
    std::thread::scope(|scope| {
        scope.spawn(|| server.serve(scope, recorder));
        let r = super::tests::run_tests(ps, started, tests_bin, go, control, progress, report);
        server.stop();
        r
    })?;
    Ok(url)
}

/// The address of the host on a Docker network (its gateway).
fn docker_gateway(net: &str) -> anyhow::Result<String> {
    let out = crate::runtime::docker::run_ok(&[
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
        net,
    ])?;
    out.split_whitespace()
        .find(|ip| !ip.contains(':'))
        .map(str::to_string)
        .with_context(|| format!("network {net} has no IPv4 gateway for the per-test coordinator"))
}

/// The collect step: covtotal and the reports on the last snapshot (as
/// with phases), the HTML with the map, and the map as Teamscale's
/// testwise coverage (`testwise.json`).
pub(super) fn gate(
    s: &Settings,
    tools: &Path,
    go: &Path,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    super::phases::gate(s, tools, go, &s.out.join("tests"), progress, report)?;
    let Some(pt) = &report.per_test else {
        return Ok(());
    };
    if s.config
        .report
        .formats
        .as_ref()
        .is_some_and(|f| f.iter().all(|x| x == "none"))
    {
        return Ok(());
    }
    let dest = s.out.join("testwise.json");
    covcore::process::process(tools.join("covreport"))
        .args(["--format", "testwise", "--test-map"])
        .arg(&pt.map)
        .arg("--src")
        .arg(&s.config.module_dir)
        .arg("-o")
        .arg(&dest)
        .output()?;
    report.reports.push(dest);
    Ok(())
}
