//! `covtools cover`: from a Go module's sources to a gated coverage figure
//! in one command.
//!
//! 1. preflight: `go` (installed into the per-user cache when missing),
//!    `docker` and its engine (Docker runtime), the covtools binaries;
//! 2. build: every service as a coverage test binary with the injected
//!    harness, and the test program, in parallel (build_services.rs);
//! 3. images (Docker and Swarm runtimes): the base image (`--base local`: the local
//!    busybox one) and one image per service (docker_images.rs); with
//!    `--push`, tagged and pushed to a registry too (docker_images/push.rs);
//! 4. start: the services as containers on a private network, as Swarm
//!    services of `replicas` tasks (swarm.rs), or as local processes
//!    through docker/cover-wrapper.sh, each waited for until ready;
//! 5. tests: the configured test command; its exit code is kept;
//! 6. collect: `covkill TARGETS | covpull --out OUT/profiles | covmerge -o
//!    OUT/merged.cov` through real pipes (duct), then `covtotal` with the
//!    gates, exactly as a user would type them;
//! 7. teardown, always (unless `--keep`), then the summary.
//!
//! Exit: 0, 1 when the tests or a gate failed (coverage is still collected
//! and reported when the tests fail), 2 on an error, 130 on Ctrl-C, 143 on
//! SIGTERM.

mod args;
mod build;
mod collect;
mod compose;
pub mod per_test;
pub mod phases;
mod ready;
mod report;
pub mod reports;
mod settings;
mod snapshot;
mod start;
mod swarm;
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::docker_images;
use crate::progress::Progress;
use crate::runtime::control::{Control, Interrupted, TeardownProblem};
use crate::runtime::docker;
use crate::runtime::process::Exit;
use crate::toolchain;
use covcore::exit_codes::ExitStatus;

pub use args::Args;
pub use report::{summary, CollectTimes, Report};
pub use settings::OWNER_LABEL;
use settings::{absolute, Runtime, Settings};

/// The CLI entry: Ctrl-C handling, progress on stderr, summary on stdout.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    // Started outside a module: bad input, one line and exit 2, no summary.
    args.module.module = Some(args.module.go_module_dir()?);
    let progress = match args.progress.as_str() {
        "bars" => Progress::new(true),
        "plain" => Progress::new(false),
        _ => Progress::auto(),
    };
    // The building blocks' own lines would tear through the bars.
    toolchain::set_quiet(true);
    let control = Control::with_signals()?;
    let report = execute(&args, &control, &progress);
    report::print_summary(&report);
    Ok(report.code.into())
}

/// The whole job with the given Ctrl-C control (a fresh `Control::new()`
/// when called as a library); returns the report (`run` prints it).
pub fn execute(args: &Args, control: &Control, progress: &Progress) -> Report {
    let started = Instant::now();
    let mut report = Report::default();
    let result = job(args, control, progress, &mut report);
    if let Err(e) = &result {
        let msg = format!("{e:#}");
        progress.line(format!("error: {msg}"));
        report.error = Some(msg);
    }

    // Teardown: always, whatever happened above.
    if args.keep {
        report.kept = control.leftovers();
        control.forget();
        if !report.kept.is_empty() {
            progress.line("--keep: leaving the services running; remove them with:");
            for c in &report.kept {
                progress.line(format!("  {c}"));
            }
        }
    } else {
        let phase = progress.phase("teardown", 0);
        let anything = control.started_anything();
        // Collection started: nothing more to keep, so no grace (and no
        // restarts).
        let grace = report.pipeline.is_empty().then_some(Duration::from_secs(5));
        report.teardown_problems = control.teardown(grace);
        for p in &report.teardown_problems {
            progress.line(format!("teardown: {p}"));
        }
        let took = if !anything {
            phase.finish("nothing was started")
        } else if report.teardown_problems.iter().any(|p| p.left_behind) {
            phase.fail("some things could not be removed")
        } else if report.teardown_problems.is_empty() {
            phase.finish("everything removed")
        } else {
            phase.finish("everything removed (some had to be killed)")
        };
        report.steps.push(("teardown".into(), took));
    }
    if args.rm_images && !report.images.is_empty() {
        let mut rmi = vec!["rmi", "-f"];
        rmi.extend(report.images.iter().map(String::as_str));
        // The pushed tags of the same images (the registry keeps them).
        rmi.extend(report.pushed.iter().map(String::as_str));
        match covtarget::docker::run(&rmi, docker::TIMEOUT) {
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                // An image that was never built is fine.
                let problems: Vec<TeardownProblem> = err
                    .lines()
                    .filter(|l| !l.contains("No such image"))
                    .map(|l| TeardownProblem::left(format!("docker rmi: {l}")))
                    .collect();
                report.images_removed = problems.is_empty();
                report.teardown_problems.extend(problems);
            }
            Err(e) => report
                .teardown_problems
                .push(TeardownProblem::left(format!("{e:#}"))),
        }
    }
    report.steps.push(("all".into(), started.elapsed()));

    let left_behind = report.teardown_problems.iter().any(|p| p.left_behind);
    report.code = match (&result, control.stopped_by()) {
        (Err(_), Some(signal)) => signal,
        (Err(e), None) if e.downcast_ref::<Interrupted>().is_some() => ExitStatus::Interrupted,
        (Err(_), None) => ExitStatus::Error,
        // Containers or a network that could not be removed: an error, or
        // CI would never notice what it leaves running.
        (Ok(()), _) if left_behind => ExitStatus::Error,
        (Ok(()), _) => {
            let tests_ok = report.tests_exit.is_some_and(|e| e == Exit::Code(0));
            ExitStatus::negative_unless(tests_ok && !report.gate_failed)
        }
    };
    report
}

/// A service once started (one per replica).
struct Started {
    name: String,
    /// Its covkill/covpull target.
    target: String,
    /// Its base URL from the host (published port or loopback).
    host_url: String,
    /// Its container and the network its peers reach it on (Docker and
    /// Compose).
    container: Option<String>,
    network: Option<String>,
    /// Which of the service's replicas it is, from 1.
    replica: u32,
}

impl Started {
    /// A name of its own among all started: the service's, with the
    /// replica's number when the service has several.
    fn label(&self, all: &[Started]) -> String {
        if all.iter().filter(|o| o.name == self.name).count() > 1 {
            format!("{}.{}", self.name, self.replica)
        } else {
            self.name.clone()
        }
    }
}

fn job(
    args: &Args,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    let s = Settings::resolve(args)?;
    per_test::check(&s)?;
    for dir in [&s.out, &s.work] {
        crate::config::create_output_dir(&s.config.module_dir, dir)?;
    }
    report.runtime = s.runtime.name().into();

    // 1. Preflight.
    let phase = progress.phase("preflight", 0);
    let mut stack = None;
    let pre = (|| -> anyhow::Result<(PathBuf, PathBuf)> {
        if s.runtime.uses_docker() {
            phase.set("docker");
            ensure_docker()?;
        }
        // The stack first: a file Compose rejects or a service it lacks
        // fails before anything is built.
        if s.runtime == Runtime::Compose {
            phase.set("compose file");
            stack = Some(compose::check(&s)?);
        }
        if s.runtime == Runtime::Swarm {
            phase.set("swarm");
            crate::runtime::swarm::ensure_manager()?;
        }
        phase.set("go");
        let go = toolchain::ensure_go()?;
        phase.set("covtools binaries");
        let tools = find_tools(args.tools.as_deref())?;
        Ok((go, tools))
    })();
    let (go, tools) = match pre {
        Ok(v) => v,
        Err(e) => {
            report.steps.push((
                "preflight".into(),
                phase.fail(&build::one_line(&format!("{e:#}"))),
            ));
            return Err(e);
        }
    };
    report.steps.push((
        "preflight".into(),
        phase.finish(&format!(
            "go, {}tools ok",
            match (&stack, s.runtime) {
                (Some(st), _) => format!("docker, {}, ", st.describe()),
                (None, Runtime::Swarm) => "docker, swarm, ".into(),
                (None, Runtime::Local) => String::new(),
                (None, _) => "docker, ".into(),
            }
        )),
    ));
    control.check()?;

    // 2. Build.
    let bin_dir = s.work.join("bin");
    let tests_bin = build::build(&s, &go, &bin_dir, control, progress, report)?;
    control.check()?;

    // 3. Images.
    let images = if s.runtime.uses_docker() {
        let images = build::build_images(&s, &bin_dir, progress, report)?;
        control.check()?;
        Some(images)
    } else {
        None
    };
    let pushed = match (&s.push, &images) {
        (Some(dest), Some(images)) => {
            let pushed = build::push_images(&s, dest, images, progress, report)?;
            control.check()?;
            Some(pushed)
        }
        _ => None,
    };

    // 4. Start and wait until ready.
    let started = match (s.runtime, &images, &stack) {
        (Runtime::Swarm, Some(images), _) => {
            // Pushed: every node can pull the image by its reference.
            let run = pushed.as_ref().unwrap_or(images);
            swarm::start_swarm(&s, run, control, progress, report)?
        }
        (_, Some(images), Some(stack)) => {
            compose::start(&s, stack, images, control, progress, report)?
        }
        (_, Some(images), None) => start::start_docker(&s, images, control, progress, report)?,
        (_, None, _) => start::start_local(&s, &bin_dir, control, progress, report)?,
    };
    control.check()?;

    // 5. The tests. A failure is kept, not an error: coverage is still collected.
    if s.per_test.on() {
        per_test::run(
            &s,
            &started,
            tests_bin.as_deref(),
            &go,
            control,
            progress,
            report,
        )?;
    } else if s.phases.is_empty() {
        tests::run_tests(
            &s,
            &started,
            tests_bin.as_deref(),
            &go,
            control,
            progress,
            report,
        )?;
    } else {
        phases::run_phases(&s, &started, &go, control, progress, report)?;
    }
    control.check()?;

    // 6. Collect and gate (with phases: the last snapshot, already taken).
    if s.per_test.on() {
        per_test::gate(&s, &tools, &go, progress, report)?;
    } else if s.phases.is_empty() {
        collect::collect(&s, &started, &tools, &go, progress, report)?;
    } else {
        phases::gate(&s, &tools, &go, &s.out.join("phases"), progress, report)?;
    }
    Ok(())
}

/// Docker on PATH and its engine answering, else an error naming the way
/// out: `--runtime local`.
fn ensure_docker() -> anyhow::Result<()> {
    docker_images::ensure_docker().map_err(|e| {
        anyhow::anyhow!(
            "{e:#}; start it, or run the services as local processes with --runtime local"
        )
    })
}

/// The tools a run pipes together.
pub const TOOLS: [&str; 5] = ["covkill", "covpull", "covmerge", "covtotal", "covreport"];

/// The directory holding every tool of [`TOOLS`]: `dir` (`--tools`), else
/// the directory of this executable (`cargo install` puts them side by
/// side), else the directory of `covkill` on PATH. Never built here.
pub fn find_tools(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let has_all = |d: &Path| TOOLS.iter().all(|t| d.join(t).is_file());
    if let Some(d) = dir {
        let d = absolute(d)?;
        if let Some(t) = TOOLS.iter().find(|t| !d.join(t).is_file()) {
            bail!("--tools {}: no {t} binary there", d.display());
        }
        return Ok(d);
    }
    let beside_me = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let on_path = which::which(TOOLS[0])
        .ok()
        .and_then(|t| t.parent().map(Path::to_path_buf));
    beside_me
        .into_iter()
        .chain(on_path)
        .find(|d| has_all(d))
        .with_context(|| {
            format!(
                "the covtools binaries ({}) are neither beside this program nor on PATH: install them with `cargo install --locked covtools`, or pass --tools DIR",
                TOOLS.join(", ")
            )
        })
}

/// A word as a POSIX shell would need it, for the lines we show.
fn indent(text: &str) -> String {
    let mut out: String = text.lines().map(|l| format!("  | {l}\n")).collect();
    if out.is_empty() {
        out.push_str("  | (empty)\n");
    }
    out.trim_end().to_string()
}
