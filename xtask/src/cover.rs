//! `cargo xtask integration-cover`: from a Go module's sources to a gated
//! coverage figure in one command.
//!
//! 1. preflight: `go` (installed like `cargo xtask test` does when missing),
//!    `docker` and its engine (Docker runtime), the covtools binaries;
//! 2. build: every service as a coverage test binary with the injected
//!    harness, and the test program, in parallel (build_services.rs);
//! 3. images (Docker runtime): the base image (`--base local`: the local
//!    busybox one) and one image per service (docker_images.rs);
//! 4. start: the services as containers on a private network (or as local
//!    processes through scripts/cover-wrapper.sh), each waited for until
//!    ready;
//! 5. tests: the configured test command; its exit code is kept;
//! 6. collect: `covkill TARGETS | covpull --out OUT/profiles | covmerge -o
//!    OUT/merged.cov` through real pipes (duct), then `covtotal` with the
//!    gates, exactly as a user would type them;
//! 7. teardown, always (unless `--keep`), then the summary.
//!
//! Exit: 0, 1 when the tests or a gate failed (coverage is still collected
//! and reported when the tests fail), 2 on an error, 130 on Ctrl-C.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::build_services::{self, BuildOptions};
use crate::docker_images::{self, LOCAL_BASE_IMAGE};
use crate::example::{self, Config, Service};
use crate::progress::Progress;
use crate::runtime::{self, Control, Exit, Interrupted};
use crate::util;

const AFTER_HELP: &str = "\
The configuration is <module>/covtools.toml (see tests/example/covtools.toml).
Every setting in it can be given on the command line: the flags below, or
--set KEY=VALUE for any key (service.NAME.KEY for one service), e.g.
  --set gates.min=80 --set service.orders.ready=/healthz --set build.cover_mode=set

Runtimes:
  docker  (default) each service in a container on a private network
          <prefix>-net, named <prefix>-<service>, its port published on
          127.0.0.1 (readiness checks and host-run tests use it). The test
          program runs in a container on that network (tests.run_in =
          \"container\", the default) or on the host (\"host\").
  local   the same test binaries as local processes through
          scripts/cover-wrapper.sh, each with its own cover directory under
          <work>/local and free loopback ports; no Docker needed.

Collection, as a shell would run it (the summary prints the exact line):
  covkill TARGETS | covpull --out <out>/profiles | covmerge -o <out>/merged.cov
  covtotal --by package --src <module> [--min …] [--baseline … --max-drop …] <out>/merged.cov
The total is counted like `go tool cover -func` (covtotal --src). The tools
are the ones next to this xtask binary (target/debug), built first with
`cargo build -p covtools --bins` (same profile as the xtask), or --tools DIR.

Exit codes: 0 ok; 1 the tests failed or a gate failed (coverage is still
collected and reported); 2 an error (after teardown); 130 interrupted.
Ctrl-C tears everything down; a second Ctrl-C kills at once.

Examples:
  cargo xtask integration-cover --base local
  cargo xtask integration-cover --runtime local --min 70
  cargo xtask integration-cover --base local --baseline main.cov --max-drop 0.5
  cargo xtask integration-cover --runtime local -- sh -c 'curl -fsS $COVTOOLS_URL_GATEWAY/api/products'";

#[derive(clap::Parser, Debug, Clone, Default)]
#[command(
    name = "integration-cover",
    about = "Build the Go services with coverage, run them, run the integration tests, collect, merge and gate coverage",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// The Go module (default: the bundled example, tests/example).
    #[arg(long, value_name = "DIR")]
    pub module: Option<PathBuf>,
    /// The configuration file (default: <module>/covtools.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override any configuration key (repeatable): gates.min=80,
    /// service.orders.ready=/healthz, tests.args=["-gateway","{url:gateway}"].
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
    /// docker or local [default: run.runtime, else docker].
    #[arg(long, value_name = "RUNTIME", value_parser = ["docker", "local"])]
    pub runtime: Option<String>,
    /// The base image [default: image.base]. `local` builds a FROM-scratch
    /// busybox image (--local-base-tag) and uses it: no registry needed.
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,
    /// The tag `--base local` builds.
    #[arg(long, value_name = "TAG", default_value = LOCAL_BASE_IMAGE)]
    pub local_base_tag: String,
    /// Prefix of the containers (<prefix>-<service>), the network
    /// (<prefix>-net) and the images (<prefix>/<service>:latest)
    /// [default: covtools-<module dir>]. What an ended run left under it is
    /// removed; a run still going under it on this host is an error.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Where the profiles, the merged profile and the logs go [default: target/cover].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where binaries, image contexts and local cover directories go
    /// [default: target/covtools/<module dir>].
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// The directory holding covkill, covpull, covmerge and covtotal
    /// [default: next to this xtask, built first with cargo].
    #[arg(long, value_name = "DIR")]
    pub tools: Option<PathBuf>,
    /// -covermode: set, count or atomic [default: build.cover_mode].
    #[arg(long, value_name = "MODE")]
    pub cover_mode: Option<String>,
    /// -coverpkg pattern [default: build.cover_packages, else <module>/...].
    #[arg(long, value_name = "PATTERN")]
    pub cover_packages: Option<String>,
    /// The killswitch port inside the containers [default: image.killswitch_port].
    #[arg(long, value_name = "PORT")]
    pub killswitch_port: Option<u16>,
    /// A service's readiness (repeatable): NAME=/PATH (an HTTP GET answering
    /// 2xx) or NAME=port (its port accepting connections).
    #[arg(long = "ready", value_name = "NAME=/PATH|port", value_parser = parse_key_value)]
    pub ready: Vec<(String, String)>,
    /// How long each service may take to become ready, e.g. 60s, 500ms
    /// [default: run.ready_timeout, else 60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ready_timeout: Option<Duration>,
    /// Run this Go main package of the module as the tests [default: tests.package].
    #[arg(long, value_name = "PACKAGE")]
    pub test_package: Option<String>,
    /// One more argument for the tests (repeatable), e.g. --test-arg=-skip --test-arg=stock.
    #[arg(long = "test-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub test_args: Vec<String>,
    /// Where a test package runs under Docker: container or host [default: tests.run_in, else container].
    #[arg(long, value_name = "WHERE", value_parser = ["host", "container"])]
    pub tests_in: Option<String>,
    /// Minimum total coverage, percent [default: gates.min].
    #[arg(long, value_name = "PERCENT")]
    pub min: Option<f64>,
    /// A baseline profile or percent file to compare with [default: gates.baseline].
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// The largest allowed drop from the baseline, points [default: gates.max_drop, else 0].
    #[arg(long, value_name = "POINTS")]
    pub max_drop: Option<f64>,
    /// Leave the containers, network and processes running (for debugging);
    /// the summary prints how to remove them.
    #[arg(long)]
    pub keep: bool,
    /// Builds at once [default: the number of CPUs, at least 2].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Progress display: auto (bars on a terminal), bars or plain.
    #[arg(long, value_name = "STYLE", default_value = "auto", value_parser = ["auto", "bars", "plain"])]
    pub progress: String,
    /// A test command run on the host instead of the configured tests; its
    /// arguments may use {url:NAME}, and $COVTOOLS_URL_<NAME> holds each
    /// service's URL.
    #[arg(last = true, value_name = "COMMAND")]
    pub test_command: Vec<String>,
}

impl Args {
    /// Parses the task's arguments (without the program name), as
    /// `cargo xtask integration-cover ARGS…` would.
    pub fn parse_from_args<I, T>(args: I) -> Result<Args, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        Args::try_parse_from(
            std::iter::once(std::ffi::OsString::from("integration-cover"))
                .chain(args.into_iter().map(Into::into)),
        )
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?}: expected KEY=VALUE")),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    covtarget::parse_duration(s).map_err(|e| format!("{e:#}"))
}

/// What a run did, for the summary and for callers (the tests).
#[derive(Debug, Default)]
pub struct Report {
    /// The exit code: 0, 1 (tests or gate failed), 2 (error), 130 (interrupted).
    pub code: u8,
    /// The error that stopped the run.
    pub error: Option<String>,
    pub runtime: String,
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
    /// Teardown problems.
    pub teardown_problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CollectTimes {
    pub kill: Duration,
    pub pull: Duration,
    pub merge: Duration,
    pub total: Duration,
    pub all: Duration,
}

/// The CLI entry: Ctrl-C handling, progress on stderr, summary on stdout.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = match args.progress.as_str() {
        "bars" => Progress::new(true),
        "plain" => Progress::new(false),
        _ => Progress::auto(),
    };
    // The building blocks' own lines would tear through the bars.
    util::set_quiet(true);
    let control = Control::with_signals()?;
    let report = execute(&args, &control, &progress);
    print_summary(&report);
    Ok(ExitCode::from(report.code))
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
        report.teardown_problems = control.teardown(Duration::from_secs(5));
        let took = if !anything {
            phase.finish("nothing was started")
        } else if report.teardown_problems.is_empty() {
            phase.finish("everything removed")
        } else {
            for p in &report.teardown_problems {
                progress.line(format!("teardown: {p}"));
            }
            phase.fail("some things could not be removed")
        };
        report.steps.push(("teardown".into(), took));
    }
    report.steps.push(("all".into(), started.elapsed()));

    let left_behind = report
        .teardown_problems
        .iter()
        .any(|p| Control::left_behind(p));
    report.code = match &result {
        Err(e) if e.downcast_ref::<Interrupted>().is_some() || control.interrupted() => 130,
        Err(_) => 2,
        // Containers or a network that could not be removed: an error, or
        // CI would never notice what it leaves running.
        Ok(()) if left_behind => 2,
        Ok(()) => {
            let tests_ok = report.tests_exit.is_some_and(|e| e == Exit::Code(0));
            if !tests_ok || report.gate_failed {
                1
            } else {
                0
            }
        }
    };
    report
}

// ---------------------------------------------------------------------------
// Settings

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Docker,
    Local,
}

#[derive(Debug, Clone)]
enum Tests {
    /// A Go main package, built with `go build` and run with these args.
    Package {
        package: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        in_container: bool,
    },
    /// A command run on the host.
    Command {
        argv: Vec<String>,
        env: BTreeMap<String, String>,
    },
}

/// The label naming the run that created a container or network
/// ([`runtime::run_owner`]), so a second run with the same prefix can tell
/// a leftover from a run still going.
pub const OWNER_LABEL: &str = "covtools.owner";

struct Settings {
    config: Config,
    runtime: Runtime,
    base: String,
    build_local_base: bool,
    prefix: String,
    out: PathBuf,
    work: PathBuf,
    ready_timeout: Duration,
    tests: Tests,
    min: Option<f64>,
    baseline: Option<PathBuf>,
    max_drop: Option<f64>,
    jobs: usize,
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("{}", p.display()))
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Settings {
    /// `--label` arguments for everything this run creates in Docker.
    fn labels(&self) -> Vec<String> {
        vec![
            "--label".into(),
            format!("covtools.run={}", self.prefix),
            "--label".into(),
            format!("{OWNER_LABEL}={}", runtime::run_owner()),
        ]
    }

    fn resolve(args: &Args) -> anyhow::Result<Settings> {
        let module_dir = absolute(&args.module.clone().unwrap_or_else(example::example_dir))?;
        let file = match &args.config {
            Some(f) => absolute(f)?,
            None => module_dir.join(example::CONFIG_FILE),
        };
        let text = fs::read_to_string(&file).with_context(|| {
            format!(
                "reading {} (the services' configuration; see tests/example/{})",
                file.display(),
                example::CONFIG_FILE
            )
        })?;
        // The dedicated flags are overrides like --set, checked the same way.
        let mut sets = args.set.clone();
        let mut set = |k: &str, v: String| sets.push((k.to_string(), v));
        if let Some(r) = &args.runtime {
            set("run.runtime", toml_string(r));
        }
        if let Some(m) = &args.cover_mode {
            set("build.cover_mode", toml_string(m));
        }
        if let Some(p) = &args.cover_packages {
            set("build.cover_packages", toml_string(p));
        }
        if let Some(p) = args.killswitch_port {
            set("image.killswitch_port", p.to_string());
        }
        if let Some(t) = args.ready_timeout {
            set("run.ready_timeout", format!("{:?}", t.as_secs_f64()));
        }
        if let Some(b) = args.base.as_deref().filter(|b| *b != "local") {
            set("image.base", toml_string(b));
        }
        if let Some(m) = args.min {
            set("gates.min", format!("{m:?}"));
        }
        if let Some(b) = &args.baseline {
            set(
                "gates.baseline",
                toml_string(&absolute(b)?.to_string_lossy()),
            );
        }
        if let Some(d) = args.max_drop {
            set("gates.max_drop", format!("{d:?}"));
        }
        let mut config = Config::parse_with(&text, &file, &module_dir, &sets)?;

        for (name, ready) in &args.ready {
            let svc = service_mut(&mut config, name)
                .with_context(|| format!("--ready {name}={ready}"))?;
            svc.ready = match ready.as_str() {
                "port" => None,
                p if p.starts_with('/') => Some(p.to_string()),
                p => bail!("--ready {name}={p}: expected /PATH (an HTTP path) or port"),
            };
        }

        let runtime = match config.run.runtime.as_deref() {
            Some("local") => Runtime::Local,
            _ => Runtime::Docker,
        };
        let (base, build_local_base) = match args.base.as_deref() {
            Some("local") => (args.local_base_tag.clone(), true),
            _ => (config.image.base.clone(), false),
        };
        let prefix = args
            .prefix
            .clone()
            .unwrap_or_else(|| docker_images::default_prefix(&module_dir));
        let prefix_ok = prefix
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
        if !prefix_ok {
            bail!("--prefix {prefix:?}: expected lowercase letters, digits, - _ . (container and image names)");
        }
        let label = build_services::module_label(&module_dir);
        let out = absolute(
            &args
                .out
                .clone()
                .unwrap_or_else(|| util::project_root().join("target/cover")),
        )?;
        let work = absolute(
            &args
                .work
                .clone()
                .unwrap_or_else(|| util::project_root().join("target/covtools").join(&label)),
        )?;
        let ready_timeout = Duration::from_secs_f64(config.run.ready_timeout.unwrap_or(60.0));

        // The tests: a command after `--`, else --test-package, else [tests].
        let configured = config.tests.clone();
        let tests = if !args.test_command.is_empty() {
            let mut argv = args.test_command.clone();
            argv.extend(args.test_args.iter().cloned());
            Tests::Command {
                argv,
                env: configured.map(|t| t.env).unwrap_or_default(),
            }
        } else {
            let (package, mut targs, env, run_in, command) = match (&args.test_package, configured) {
                (Some(p), Some(t)) => {
                    let args = if t.package.is_some() { t.args } else { Vec::new() };
                    (Some(p.clone()), args, t.env, t.run_in, None)
                }
                (Some(p), None) => (Some(p.clone()), Vec::new(), BTreeMap::new(), None, None),
                (None, Some(t)) => (t.package, t.args, t.env, t.run_in, t.command),
                (None, None) => bail!(
                    "no integration tests configured: set [tests] package or command in {}, pass --test-package PKG, or a command after --",
                    file.display()
                ),
            };
            targs.extend(args.test_args.iter().cloned());
            let run_in = args.tests_in.clone().or(run_in);
            match (package, command) {
                (Some(package), _) => Tests::Package {
                    package,
                    args: targs,
                    env,
                    in_container: runtime == Runtime::Docker && run_in.as_deref() != Some("host"),
                },
                (None, Some(command)) => {
                    if run_in.as_deref() == Some("container") {
                        bail!("tests.run_in = \"container\" needs tests.package: a test command runs on the host");
                    }
                    let mut argv = command;
                    argv.extend(targs);
                    Tests::Command { argv, env }
                }
                (None, None) => bail!("[tests]: set package or command"),
            }
        };
        let baseline = config.gates.baseline.clone().map(|b| {
            // Relative to the configuration file's directory.
            if b.is_relative() {
                file.parent().unwrap_or(Path::new(".")).join(b)
            } else {
                b
            }
        });
        Ok(Settings {
            runtime,
            base,
            build_local_base,
            prefix,
            out,
            work,
            ready_timeout,
            tests,
            min: config.gates.min,
            baseline,
            max_drop: config.gates.max_drop,
            jobs: args
                .jobs
                .unwrap_or_else(build_services::default_jobs)
                .max(1),
            config,
        })
    }
}

fn service_mut<'a>(config: &'a mut Config, name: &str) -> anyhow::Result<&'a mut Service> {
    let names: Vec<String> = config.services.iter().map(|s| s.name.clone()).collect();
    config
        .services
        .iter_mut()
        .find(|s| s.name == name)
        .with_context(|| format!("no service {name:?} (services: {})", names.join(", ")))
}

// ---------------------------------------------------------------------------
// The job

/// A service once started.
struct Started {
    name: String,
    /// Its covkill/covpull target.
    target: String,
    /// Its base URL from the host (published port or loopback).
    host_url: String,
}

fn job(
    args: &Args,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    let s = Settings::resolve(args)?;
    report.runtime = match s.runtime {
        Runtime::Docker => "docker".into(),
        Runtime::Local => "local".into(),
    };

    // 1. Preflight.
    let phase = progress.phase("preflight", 0);
    let pre = (|| -> anyhow::Result<(PathBuf, PathBuf)> {
        phase.set("go");
        let go = util::ensure_go()?;
        if s.runtime == Runtime::Docker {
            phase.set("docker");
            ensure_docker()?;
        }
        phase.set("covtools binaries");
        let tools = find_tools(args.tools.as_deref())?;
        Ok((go, tools))
    })();
    let (go, tools) = match pre {
        Ok(v) => v,
        Err(e) => {
            report
                .steps
                .push(("preflight".into(), phase.fail("failed")));
            return Err(e);
        }
    };
    report.steps.push((
        "preflight".into(),
        phase.finish(&format!(
            "go, {}tools ok",
            if s.runtime == Runtime::Docker {
                "docker, "
            } else {
                ""
            }
        )),
    ));
    control.check()?;

    // 2. Build.
    let bin_dir = s.work.join("bin");
    let tests_bin = build(&s, &go, &bin_dir, control, progress, report)?;
    control.check()?;

    // 3. Images.
    let images = if s.runtime == Runtime::Docker {
        let images = build_images(&s, &bin_dir, progress, report)?;
        control.check()?;
        Some(images)
    } else {
        None
    };

    // 4. Start and wait until ready.
    let started = match &images {
        Some(images) => start_docker(&s, images, control, progress, report)?,
        None => start_local(&s, &bin_dir, control, progress, report)?,
    };
    control.check()?;

    // 5. The tests. A failure is kept, not an error: coverage is still collected.
    run_tests(
        &s,
        &started,
        tests_bin.as_deref(),
        control,
        progress,
        report,
    )?;
    control.check()?;

    // 6. Collect and gate.
    collect(&s, &started, &tools, progress, report)?;
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

/// The directory of covkill, covpull, covmerge and covtotal: `dir`, else
/// the one of this xtask binary after `cargo build -p covtools --bins` in
/// the xtask's own profile (debug unless it runs from target/release).
fn find_tools(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    const TOOLS: [&str; 4] = ["covkill", "covpull", "covmerge", "covtotal"];
    let dir = match dir {
        Some(d) => absolute(d)?,
        None => {
            let exe = std::env::current_exe().context("locating the xtask binary")?;
            let dir = exe
                .parent()
                .context("the xtask binary has no directory")?
                .to_path_buf();
            let mut cmd = Command::new(util::cargo());
            cmd.args(["build", "--quiet", "-p", "covtools", "--bins"])
                .current_dir(util::project_root());
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let out = cmd
                .output()
                .with_context(|| format!("running {} build", util::cargo()))?;
            if !out.status.success() {
                bail!(
                    "cargo build -p covtools --bins failed:\n{}",
                    String::from_utf8_lossy(&out.stderr).trim_end()
                );
            }
            dir
        }
    };
    for t in TOOLS {
        if !dir.join(t).is_file() {
            bail!(
                "{}: no {t} binary there (build the tools with `cargo build --bins`, or pass --tools DIR)",
                dir.display()
            );
        }
    }
    Ok(dir)
}

/// Builds the services (and the test program) in parallel; returns the
/// test program's binary when the tests are a package.
fn build(
    s: &Settings,
    go: &Path,
    bin_dir: &Path,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<Option<PathBuf>> {
    let opts = BuildOptions::from_config(&s.config, go.to_path_buf(), bin_dir.to_path_buf());
    enum Job<'a> {
        Service(&'a build_services::ServiceBuild),
        Tests(&'a str),
    }
    let mut jobs: Vec<Job> = opts.services.iter().map(Job::Service).collect();
    if let Tests::Package { package, .. } = &s.tests {
        jobs.push(Job::Tests(package));
    }
    let phase = progress.phase("build", jobs.len() as u64);
    phase.set(format!(
        "go test -c -cover -covermode={} -coverpkg={}",
        opts.cover_mode, opts.cover_packages
    ));
    let tests_out = bin_dir.join("tests").join("integration-tests");
    let queue = Mutex::new(jobs.into_iter());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..s.jobs {
            scope.spawn(|| loop {
                let Some(job) = queue.lock().unwrap().next() else {
                    break;
                };
                if control.interrupted() {
                    break;
                }
                match job {
                    Job::Service(svc) => {
                        let item = phase.item(&svc.name, "go test -c");
                        let one = BuildOptions {
                            services: vec![svc.clone()],
                            jobs: 1,
                            ..opts.clone()
                        };
                        match build_services::build_services(&one) {
                            Ok(b) => item.done(&format!("{}", b[0].binary.display())),
                            Err(e) => {
                                item.fail("build failed");
                                failures.lock().unwrap().push(format!("{e:#}"));
                            }
                        }
                    }
                    Job::Tests(package) => {
                        let item = phase.item("tests", &format!("go build {package}"));
                        match build_services::build_program(
                            go,
                            &s.config.module_dir,
                            package,
                            &tests_out,
                        ) {
                            Ok(p) => item.done(&format!("{}", p.display())),
                            Err(e) => {
                                item.fail("build failed");
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("building the tests ({package}): {e:#}"));
                            }
                        }
                    }
                }
            });
        }
    });
    control.check()?;
    let failures = failures.into_inner().unwrap();
    if !failures.is_empty() {
        report.steps.push(("build".into(), phase.fail("failed")));
        bail!("{}", failures.join("\n"));
    }
    report.steps.push(("build".into(), phase.finish("built")));
    Ok(matches!(s.tests, Tests::Package { .. }).then_some(tests_out))
}

/// The base image (with `--base local`) and one image per service; returns
/// service -> image.
fn build_images(
    s: &Settings,
    bin_dir: &Path,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<BTreeMap<String, String>> {
    let images = docker_images::service_images(&s.config, bin_dir, &s.prefix, "latest")?;
    let phase = progress.phase("images", images.len() as u64 + s.build_local_base as u64);
    if s.build_local_base {
        let item = phase.item(
            "base",
            &format!("FROM scratch + static busybox -> {}", s.base),
        );
        if let Err(e) = docker_images::build_base_image(&s.base) {
            item.fail("failed");
            report.steps.push(("images".into(), phase.fail("failed")));
            return Err(e);
        }
        item.done(&s.base);
    }
    let contexts = s.work.join("images");
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for img in &images {
            let (phase, failures, contexts, base) = (&phase, &failures, &contexts, &s.base);
            scope.spawn(move || {
                let item = phase.item(&img.service, &format!("docker build -t {}", img.image));
                let dir = contexts.join(&img.service);
                let r = docker_images::write_context(img, base, &dir)
                    .and_then(|()| docker_images::docker_build(&dir, &img.image, None));
                match r {
                    Ok(()) => item.done(&img.image),
                    Err(e) => {
                        item.fail("failed");
                        failures.lock().unwrap().push(format!("{e:#}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    if !failures.is_empty() {
        report.steps.push(("images".into(), phase.fail("failed")));
        let hint = if !s.build_local_base && failures.iter().any(|f| f.contains(&s.base)) {
            format!(
                " (cannot get the base image {}? without a registry, use --base local)",
                s.base
            )
        } else {
            String::new()
        };
        bail!(
            "{} of {} image builds failed{hint}:\n{}",
            failures.len(),
            images.len(),
            failures.join("\n")
        );
    }
    report
        .steps
        .push(("images".into(), phase.finish(&format!("on {}", s.base))));
    Ok(images.into_iter().map(|i| (i.service, i.image)).collect())
}

/// How to tell a service is ready.
enum Probe<'a> {
    Http {
        addr: String,
        path: &'a str,
    },
    /// Docker: the container's own /proc/net/tcp (a published port accepts
    /// connections before the service does).
    ContainerPort {
        container: String,
        port: u16,
    },
    LocalPort {
        addr: String,
    },
}

impl Probe<'_> {
    fn describe(&self) -> String {
        match self {
            Probe::Http { addr, path } => format!("GET http://{addr}{path}"),
            Probe::ContainerPort { port, .. } => format!("port {port} listening"),
            Probe::LocalPort { addr } => format!("{addr} accepting connections"),
        }
    }

    /// Ok(true) ready; Ok(false) not yet, with the reason in `last`.
    fn check(&self, last: &mut String) -> bool {
        match self {
            Probe::Http { addr, path } => {
                match runtime::http_status(addr, path, Duration::from_secs(2)) {
                    Ok(code) if (200..300).contains(&code) => true,
                    Ok(code) => {
                        *last = format!("answered {code}");
                        false
                    }
                    Err(e) => {
                        *last = e.to_string();
                        false
                    }
                }
            }
            Probe::ContainerPort { container, port } => {
                match runtime::listening_in_container(container, *port) {
                    Ok(true) => true,
                    Ok(false) => {
                        *last = format!("nothing listens on port {port}");
                        false
                    }
                    Err(e) => {
                        *last = format!("{e:#}");
                        false
                    }
                }
            }
            Probe::LocalPort { addr } => {
                let ok = runtime::port_open(addr);
                if !ok {
                    *last = "connection refused".into();
                }
                ok
            }
        }
    }
}

/// Lines of a service's log read when it fails to get ready; the error
/// shows the output of its last run from them (see `log_excerpt`).
const LOG_TAIL: usize = 400;

/// The part of a service log worth showing: the output of the wrapper's last
/// run (from its last `cover-wrapper: run N` line), where the service says
/// why it is not ready; long output keeps its head (the error usually comes
/// before a usage text) and its tail.
fn log_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let runs: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("cover-wrapper: run "))
        .collect();
    // A run that has only just started has said nothing yet: show the one
    // before it too.
    let from = match runs.as_slice() {
        [] => lines.len().saturating_sub(30),
        [.., before, last] if lines.len() - last < 3 => *before,
        [.., last] => *last,
    };
    let last = &lines[from..];
    let (head, tail) = (15, 20);
    let text = if last.len() > head + tail + 1 {
        format!(
            "{}\n... ({} lines) ...\n{}",
            last[..head].join("\n"),
            last.len() - head - tail,
            last[last.len() - tail..].join("\n")
        )
    } else {
        last.join("\n")
    };
    indent(&text)
}

/// Polls `probe` until ready, the deadline, Ctrl-C, or `gone()` telling the
/// service is not running any more (Some(why)).
fn wait_ready(
    name: &str,
    probe: &Probe,
    timeout: Duration,
    control: &Control,
    mut gone: impl FnMut() -> Option<String>,
    log_tail: impl Fn() -> String,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    let mut next_gone_check = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        if probe.check(&mut last) {
            return Ok(());
        }
        control.check()?;
        if Instant::now() >= next_gone_check {
            if let Some(why) = gone() {
                bail!(
                    "service {name} stopped before it was ready ({why}); its log:\n{}",
                    log_excerpt(&log_tail())
                );
            }
            next_gone_check = Instant::now() + Duration::from_millis(500);
        }
        if started.elapsed() >= timeout {
            bail!(
                "service {name} was not ready after {:.0}s ({}: {last}); its log:\n{}",
                timeout.as_secs_f64(),
                probe.describe(),
                log_excerpt(&log_tail())
            );
        }
        // Quick at first (services start in well under a second), then
        // slower, so the probes do not fill the service's log.
        std::thread::sleep(pause);
        pause = (pause * 3 / 2).min(Duration::from_secs(1));
    }
}

/// A word as a POSIX shell would need it, for the lines we show.
fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,{}".contains(c));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

fn shell_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn indent(text: &str) -> String {
    let mut out: String = text.lines().map(|l| format!("  | {l}\n")).collect();
    if out.is_empty() {
        out.push_str("  | (empty)\n");
    }
    out.trim_end().to_string()
}

/// The services as containers on `<prefix>-net`.
fn start_docker(
    s: &Settings,
    images: &BTreeMap<String, String>,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<Vec<Started>> {
    let phase = progress.phase("start", s.config.services.len() as u64);
    let result = (|| -> anyhow::Result<Vec<Started>> {
        remove_leftovers(&s.prefix, progress)?;
        let net = format!("{}-net", s.prefix);
        let labels = s.labels();
        control.add_network(&net);
        let mut create = vec!["network", "create"];
        create.extend(labels.iter().map(String::as_str));
        create.push(&net);
        runtime::docker(&create).map_err(|e| name_taken(e, &net, control))?;
        let urls = s.config.docker_urls();
        let results = each_in_parallel(&s.config.services, |svc| {
            let item = phase.item(&svc.name, "docker run");
            let r = (|| {
                let container = format!("{}-{}", s.prefix, svc.name);
                let addr = svc.docker_addr();
                let mut run: Vec<String> = vec![
                    "run".into(),
                    "-d".into(),
                    "--name".into(),
                    container.clone(),
                    "--network".into(),
                    net.clone(),
                    "--network-alias".into(),
                    svc.name.clone(),
                ];
                run.extend(labels.iter().cloned());
                run.extend([
                    "-p".into(),
                    format!("127.0.0.1::{}", svc.port),
                    "-e".into(),
                    format!("COVKILL_ADDR=:{}", s.config.image.killswitch_port),
                ]);
                for (k, v) in svc.render_env(&addr, &urls)? {
                    run.push("-e".into());
                    run.push(format!("{k}={v}"));
                }
                run.push(images[&svc.name].clone());
                run.extend(svc.render_args(&addr, &urls)?);
                control.add_container(&container);
                let argv: Vec<&str> = run.iter().map(String::as_str).collect();
                runtime::docker(&argv).map_err(|e| name_taken(e, &container, control))?;
                let host = runtime::published_addr(&container, svc.port)?;
                let probe = match &svc.ready {
                    Some(path) => Probe::Http {
                        addr: host.clone(),
                        path,
                    },
                    None => Probe::ContainerPort {
                        container: container.clone(),
                        port: svc.port,
                    },
                };
                item.set(format!("waiting: {}", probe.describe()));
                wait_ready(
                    &svc.name,
                    &probe,
                    s.ready_timeout,
                    control,
                    || match runtime::container_state(&container) {
                        Ok((true, _)) => None,
                        Ok((false, code)) => Some(format!("container exited with {code}")),
                        Err(e) => Some(format!("{e:#}")),
                    },
                    || runtime::docker_logs(&container, LOG_TAIL),
                )?;
                Ok(Started {
                    name: svc.name.clone(),
                    target: format!("docker:{container}"),
                    host_url: format!("http://{host}"),
                })
            })();
            show_ready(item, &r);
            r
        });
        collect_started(results)
    })();
    finish_start(phase, result, report)
}

/// Runs `f` on every item, each in its own thread; results in item order.
fn each_in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.iter().map(|it| scope.spawn(|| f(it))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    })
}

/// A service's readiness on its progress line.
fn show_ready(item: crate::progress::Item, r: &anyhow::Result<Started>) {
    match r {
        Ok(st) => item.done(&format!("ready, {}", st.host_url)),
        Err(_) => item.fail("not ready"),
    }
}

/// A `docker run --name` or `network create` that failed because the name
/// exists: another run with this prefix started after the leftover check.
/// What has the name is not ours to tear down.
fn name_taken(err: anyhow::Error, name: &str, control: &Control) -> anyhow::Error {
    let msg = format!("{err:#}");
    if msg.contains("already in use") || msg.contains("already exists") {
        control.disown(name);
        return err.context(format!(
            "{name} exists: another integration-cover run with this prefix started at the same time? give each run its own --prefix"
        ));
    }
    err
}

/// Containers of an earlier run with the same prefix (left by --keep, or a
/// run killed hard) would make `docker run --name` fail: remove them. Those
/// of a run still going on this host are not touched: that is an error.
fn remove_leftovers(prefix: &str, progress: &Progress) -> anyhow::Result<()> {
    let label = format!("label=covtools.run={prefix}");
    let format = format!("{{{{.ID}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}");
    let containers = runtime::docker(&["ps", "-a", "--filter", &label, "--format", &format])?;
    let networks = runtime::docker(&["network", "ls", "--filter", &label, "--format", &format])?;
    for line in containers.lines().chain(networks.lines()) {
        let owner = line.split_once('\t').map_or("", |(_, o)| o.trim());
        if runtime::owner_alive(owner) == Some(true) {
            let pid = owner.split('/').nth(1).unwrap_or("?");
            bail!(
                "prefix {prefix} is in use by another integration-cover run (pid {pid} on this host): \
                 wait for it to end, or give this run its own --prefix"
            );
        }
    }
    let ids: Vec<&str> = containers
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|id| !id.is_empty())
        .collect();
    if !ids.is_empty() {
        progress.line(format!(
            "removing {} container(s) left by an earlier run with prefix {prefix}",
            ids.len()
        ));
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids);
        runtime::docker(&args)?;
    }
    for n in networks.lines().filter_map(|l| l.split('\t').next()) {
        if !n.is_empty() {
            runtime::docker(&["network", "rm", n])?;
        }
    }
    Ok(())
}

fn collect_started(results: Vec<anyhow::Result<Started>>) -> anyhow::Result<Vec<Started>> {
    let mut started = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(s) => started.push(s),
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => return Err(e),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(started)
}

fn finish_start(
    phase: crate::progress::Phase,
    result: anyhow::Result<Vec<Started>>,
    report: &mut Report,
) -> anyhow::Result<Vec<Started>> {
    match result {
        Ok(started) => {
            report
                .steps
                .push(("start".into(), phase.finish("all ready")));
            Ok(started)
        }
        Err(e) => {
            report.steps.push(("start".into(), phase.fail("failed")));
            Err(e)
        }
    }
}

/// The services as local processes: the wrapper with COVER_DIR under
/// `<work>/local/<service>` and free loopback ports.
fn start_local(
    s: &Settings,
    bin_dir: &Path,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<Vec<Started>> {
    let phase = progress.phase("start", s.config.services.len() as u64);
    let result = (|| -> anyhow::Result<Vec<Started>> {
        let n = s.config.services.len();
        let ports = runtime::free_ports(2 * n)?;
        let addrs: BTreeMap<&str, (String, String)> = s
            .config
            .services
            .iter()
            .enumerate()
            .map(|(i, svc)| {
                (
                    svc.name.as_str(),
                    (
                        format!("127.0.0.1:{}", ports[2 * i]),
                        format!("127.0.0.1:{}", ports[2 * i + 1]),
                    ),
                )
            })
            .collect();
        let urls: BTreeMap<String, String> = addrs
            .iter()
            .map(|(n, (a, _))| (n.to_string(), format!("http://{a}")))
            .collect();
        let root = s.work.join("local");
        let mut started = Vec::new();
        for svc in &s.config.services {
            let (addr, killswitch) = &addrs[svc.name.as_str()];
            let dir = root.join(&svc.name);
            if dir.exists() {
                fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            let cover = dir.join("cover");
            fs::create_dir_all(&cover).with_context(|| format!("creating {}", cover.display()))?;
            let log_path = dir.join("service.log");
            let log = fs::File::create(&log_path)
                .with_context(|| format!("creating {}", log_path.display()))?;
            let mut cmd = Command::new("sh");
            cmd.arg(docker_images::wrapper_script())
                .args(svc.render_args(addr, &urls)?)
                .envs(svc.render_env(addr, &urls)?)
                .env("COVER_BIN", bin_dir.join(format!("{}.test", svc.name)))
                .env("COVER_DIR", &cover)
                .env("COVKILL_ADDR", killswitch)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                // Its own group: teardown kills the wrapper and the service
                // together, and a terminal's Ctrl-C reaches only us.
                .process_group(0);
            match &svc.harness_test {
                Some(t) => cmd.env("COVER_TEST", t),
                None => cmd.env_remove("COVER_TEST"),
            };
            let child = cmd
                .spawn()
                .context("starting sh scripts/cover-wrapper.sh")?;
            control.add_process(&svc.name, child);
            started.push((svc, addr.clone(), killswitch.clone(), cover, log_path));
        }
        let results = each_in_parallel(&started, |(svc, addr, killswitch, cover, log_path)| {
            let probe = match &svc.ready {
                Some(path) => Probe::Http {
                    addr: addr.clone(),
                    path,
                },
                None => Probe::LocalPort { addr: addr.clone() },
            };
            let item = phase.item(&svc.name, &format!("waiting: {}", probe.describe()));
            let r = wait_ready(
                &svc.name,
                &probe,
                s.ready_timeout,
                control,
                || {
                    control
                        .process_exit(&svc.name)
                        .map(|e| format!("the wrapper exited: {e}"))
                },
                || runtime::file_tail(log_path, LOG_TAIL),
            )
            .map(|()| Started {
                name: svc.name.clone(),
                target: format!("local:{killswitch}={}", cover.display()),
                host_url: format!("http://{addr}"),
            });
            show_ready(item, &r);
            r
        });
        collect_started(results)
    })();
    finish_start(phase, result, report)
}

/// Runs the tests, streaming their output; keeps their exit status.
fn run_tests(
    s: &Settings,
    started: &[Started],
    tests_bin: Option<&Path>,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<()> {
    let host_urls: BTreeMap<String, String> = started
        .iter()
        .map(|st| (st.name.clone(), st.host_url.clone()))
        .collect();
    let render_all =
        |items: &[String], urls: &BTreeMap<String, String>| -> anyhow::Result<Vec<String>> {
            items.iter().map(|a| example::render(a, "", urls)).collect()
        };
    let url_env = |urls: &BTreeMap<String, String>| -> Vec<(String, String)> {
        urls.iter()
            .map(|(n, u)| {
                (
                    format!("COVTOOLS_URL_{}", n.to_uppercase().replace('-', "_")),
                    u.clone(),
                )
            })
            .collect()
    };
    let render_env = |env: &BTreeMap<String, String>,
                      urls: &BTreeMap<String, String>|
     -> anyhow::Result<Vec<(String, String)>> {
        let mut out = url_env(urls);
        for (k, v) in env {
            out.push((k.clone(), example::render(v, "", urls)?));
        }
        Ok(out)
    };

    fs::create_dir_all(&s.out).with_context(|| format!("creating {}", s.out.display()))?;
    let log_path = s.out.join("tests.log");
    let mut cmd;
    let shown;
    match &s.tests {
        Tests::Package {
            package,
            args,
            env,
            in_container: true,
        } => {
            let urls = s.config.docker_urls();
            let container = format!("{}-tests", s.prefix);
            let mut create: Vec<String> = vec![
                "create".into(),
                "--name".into(),
                container.clone(),
                "--network".into(),
                format!("{}-net", s.prefix),
            ];
            create.extend(s.labels());
            for (k, v) in render_env(env, &urls)? {
                create.push("-e".into());
                create.push(format!("{k}={v}"));
            }
            create.push(s.base.clone());
            create.push("/covtools-tests".into());
            let targs = render_all(args, &urls)?;
            create.extend(targs.iter().cloned());
            control.add_container(&container);
            runtime::docker(&create.iter().map(String::as_str).collect::<Vec<_>>())?;
            let bin = tests_bin.context("the test program was not built")?;
            runtime::docker(&[
                "cp",
                &bin.to_string_lossy(),
                &format!("{container}:/covtools-tests"),
            ])?;
            cmd = Command::new("docker");
            cmd.args(["start", "-a", &container]);
            shown = format!(
                "{package} {} (container {container} on {}-net)",
                shell_line(&targs),
                s.prefix
            );
        }
        Tests::Package {
            package, args, env, ..
        } => {
            let bin = tests_bin.context("the test program was not built")?;
            let targs = render_all(args, &host_urls)?;
            cmd = Command::new(bin);
            cmd.args(&targs).envs(render_env(env, &host_urls)?);
            shown = format!("{package} {} (on the host)", shell_line(&targs));
        }
        Tests::Command { argv, env } => {
            let argv = render_all(argv, &host_urls)?;
            cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..]).envs(render_env(env, &host_urls)?);
            shown = shell_line(&argv);
        }
    }
    cmd.current_dir(&s.config.module_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);

    let phase = progress.phase("tests", 0);
    phase.set(shown.clone());
    progress.line(format!("tests: {shown}"));
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            report
                .steps
                .push(("tests".into(), phase.fail("could not start")));
            bail!("starting the tests ({shown}): {e}");
        }
    };
    let log = Arc::new(Mutex::new(
        fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?,
    ));
    let pumps: Vec<_> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let (log, progress) = (log.clone(), progress.clone());
        std::thread::spawn(move || {
            // Bytes, not `lines()`: a line that is not UTF-8 must not stop
            // the reading, or the tests would block on a full pipe.
            for line in BufReader::new(stream).split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches('\r');
                let _ = writeln!(log.lock().unwrap(), "{line}");
                progress.line(format!("  tests | {line}"));
            }
        })
    })
    .collect();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            // Whatever the tests left in their process group would hold
            // the output pipes open (and the readers) forever.
            runtime::signal(-(child.id() as i32), libc::SIGKILL);
            break Some(st);
        }
        if control.interrupted() {
            runtime::signal(-(child.id() as i32), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while child.try_wait()?.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            runtime::signal(-(child.id() as i32), libc::SIGKILL);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for p in pumps {
        let _ = p.join();
    }
    let Some(status) = status else {
        report
            .steps
            .push(("tests".into(), phase.fail("interrupted")));
        return Err(Interrupted.into());
    };
    use std::os::unix::process::ExitStatusExt;
    let exit = match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(sig)) => Exit::Signal(sig),
        _ => Exit::Unknown,
    };
    report.tests_exit = Some(exit);
    let took = if exit == Exit::Code(0) {
        phase.finish("passed")
    } else {
        phase.fail(&format!("{exit}; collecting coverage anyway"))
    };
    report.steps.push(("tests".into(), took));
    Ok(())
}

/// One stage of the collection pipeline: when it ended and how.
struct Stage {
    name: &'static str,
    pid: u32,
    ended: Option<(Duration, Exit)>,
    log: PathBuf,
}

/// covkill | covpull | covmerge through real pipes, then covtotal.
fn collect(
    s: &Settings,
    started: &[Started],
    tools: &Path,
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
    let expr = duct::cmd(tool("covkill"), &kill_args)
        .stderr_path(log_of("covkill"))
        .pipe(duct::cmd(tool("covpull"), ["--out", &profiles_arg]).stderr_path(log_of("covpull")))
        .pipe(duct::cmd(tool("covmerge"), ["-o", &merged_arg]).stderr_path(log_of("covmerge")))
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
    while stages.iter().any(|st| st.ended.is_none()) {
        for st in stages.iter_mut().filter(|st| st.ended.is_none()) {
            if let Some(exit) = runtime::peek_exit(st.pid) {
                st.ended = Some((t0.elapsed(), exit));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    handle
        .wait()
        .context("waiting for covkill | covpull | covmerge")?;
    let piped = t0.elapsed();

    // Per-service profile counts, from the names covpull gives them.
    let mut counts = BTreeMap::new();
    let names: Vec<String> = fs::read_dir(&profiles)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for st in started {
        let stem = covtarget::Target::parse(&st.target, None)?.file_stem();
        let n = names
            .iter()
            .filter(|f| f.starts_with(&format!("{stem}.cover-")))
            .count();
        counts.insert(st.name.clone(), n);
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
    let module = s.config.module_dir.display().to_string();
    let mut total_args: Vec<String> = vec!["--by".into(), "package".into(), "--src".into(), module];
    if let Some(m) = s.min {
        total_args.extend(["--min".into(), format!("{m}")]);
    }
    if let Some(b) = &s.baseline {
        total_args.extend(["--baseline".into(), b.display().to_string()]);
        total_args.extend([
            "--max-drop".into(),
            format!("{}", s.max_drop.unwrap_or(0.0)),
        ]);
    }
    total_args.push(merged_arg.clone());
    let t1 = Instant::now();
    let out = duct::cmd(tool("covtotal"), &total_args)
        .stdout_capture()
        .stderr_capture()
        .stdin_null()
        .unchecked()
        .run()
        .context("running covtotal")?;
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
    report.table = String::from_utf8_lossy(&out.stdout).into_owned();
    report.gate_messages = String::from_utf8_lossy(&out.stderr).into_owned();
    report
        .pipeline
        .push_str(&format!("\ncovtotal {}", shell_line(&total_args)));
    match out.status.code() {
        Some(0) => {}
        Some(1) => report.gate_failed = true,
        _ => {
            report
                .steps
                .push(("collect".into(), phase.fail("covtotal failed")));
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
    let msg = format!(
        "{}% ({} profiles)",
        report.total.as_deref().unwrap_or("?"),
        report.profiles.values().sum::<usize>()
    );
    let took = if report.gate_failed {
        phase.fail(&format!("{msg}: gate failed"))
    } else {
        phase.finish(&msg)
    };
    report.steps.push(("collect".into(), took));
    Ok(())
}

fn print_summary(r: &Report) {
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
    let _ = writeln!(
        w,
        "\n== integration-cover summary ({} runtime)",
        if r.runtime.is_empty() {
            "-"
        } else {
            &r.runtime
        }
    );
    let tests = match r.tests_exit {
        Some(Exit::Code(0)) => "passed".to_string(),
        Some(e) => format!("FAILED ({e})"),
        None => "did not run".to_string(),
    };
    let _ = writeln!(w, "tests:     {tests}");
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_excerpt_shows_the_last_run_head_and_tail() {
        let mut log = String::from("cover-wrapper: run 1: x\nold failure\n");
        log.push_str("cover-wrapper: run 2: x\nflag provided but not defined: -nope\n");
        for i in 0..60 {
            log.push_str(&format!("  -test.flag{i}\n"));
        }
        log.push_str("cover-wrapper: restarting in 2s\n");
        let e = log_excerpt(&log);
        assert!(e.starts_with("  | cover-wrapper: run 2"), "{e}");
        assert!(!e.contains("old failure"));
        assert!(e.contains("flag provided but not defined: -nope"));
        assert!(e.contains("... (28 lines) ..."), "{e}");
        assert!(e.ends_with("restarting in 2s"), "{e}");
        let fresh = log_excerpt("cover-wrapper: run 1: x\nboom\ncover-wrapper: run 2: x\n");
        assert_eq!(
            fresh,
            "  | cover-wrapper: run 1: x\n  | boom\n  | cover-wrapper: run 2: x"
        );
        let short = log_excerpt("a\nb\n");
        assert_eq!(short, "  | a\n  | b");
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        let words: Vec<String> = ["covkill", "docker:a-b", "it's", "a b", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            shell_line(&words),
            r#"covkill docker:a-b 'it'\''s' 'a b' ''"#
        );
    }
}
