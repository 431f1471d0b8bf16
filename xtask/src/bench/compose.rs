//! `cargo xtask bench --compose`: what the compose runtime adds to a stack
//! its developers run every day. The kvstore example (tests/modules/kvstore:
//! a Go service with Redis, `redis:7` from `cargo xtask dep-images`), its
//! service scaled to [`REPLICAS`], run in the same round both ways:
//!
//! - bare: the compose file with the service's plain `go build` in place of
//!   its image, `up -d --no-build`, every replica answering its `ready`
//!   path, the module's suite (`go test ./e2e`), `down -v --remove-orphans`
//!   (Compose's default stop timeout) — what a developer or CI runs;
//! - covtools: `covtools cover` of the same module and the same suite, the
//!   service from its instrumented image (`--set service.kvstore.replicas`,
//!   reports off: `--reports none`), its steps' times from the report.
//!
//! The overhead is the collection (covkill | covpull | covmerge, covtotal)
//! plus covtools' teardown, minus the bare `down`. Target: at most
//! [`TARGET_SECONDS`] added. Medians of `--runs` rounds; the load average
//! is printed before and after (the machine is shared).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use covcore::exit_codes::ExitStatus;
use covcore::process::process;
use covjob::cover::{self, Args};
use covjob::progress::Progress;
use covjob::runtime::compose::{Cli, Project};
use covjob::runtime::control::Control;
use covjob::{docker_images, toolchain};
use covtarget::docker;

use crate::util;

/// The service's containers in the measured stack (plus Redis).
const REPLICAS: usize = 3;
const TARGET_SECONDS: f64 = 1.0;
const PREFIX: &str = "covtools-bench-compose";
const SERVICE: &str = "kvstore";
const PORT: u16 = 8080;
const LONG: Duration = Duration::from_secs(300);

/// One round, in seconds.
#[derive(Debug, Clone, Copy, Default)]
struct Round {
    bare_up: f64,
    bare_tests: f64,
    bare_down: f64,
    cover_start: f64,
    cover_tests: f64,
    cover_collect: f64,
    cover_teardown: f64,
}

pub fn run(runs: usize, tools: &Path) -> anyhow::Result<ExitCode> {
    docker_images::ensure_docker()?;
    let cli = Cli::detect()?;
    let go = toolchain::ensure_go()?;
    crate::dep_images::ensure(&crate::dep_images::REDIS)?;
    let root = util::project_root();
    let work = root.join("target/covtools/bench-compose");
    let module = work.join("module");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    copy_dir(&root.join("tests/modules").join(SERVICE), &module)?;
    // A loopback port Docker picks: the compose file interpolates it.
    fs::write(module.join(".env"), "KVSTORE_PORT=127.0.0.1:0\n")?;
    let base = format!("{PREFIX}/base:latest");
    docker_images::build_base_image(&base)?;
    let bare_image = bare_image(&go, &module, &work, &base)?;
    let override_file = work.join("bare-override.yaml");
    fs::write(
        &override_file,
        format!("services:\n  {SERVICE}:\n    image: {bare_image}\n"),
    )?;
    let bare = Project {
        cli: cli.clone(),
        name: format!("{PREFIX}-bare-{}", std::process::id()),
        files: vec![module.join("compose.yaml"), override_file],
    };
    let _down = Down(bare.clone());

    let load_before = load_average();
    let mut rounds = Vec::new();
    for round in 1..=runs {
        let b = bare_round(&bare, &go, &module)?;
        let c = cover_round(&module, &work, &base, tools)?;
        let r = b.merge(c);
        eprintln!(
            "bench: round {round}/{runs}: bare down {:.2}s; covtools collect {:.2}s + teardown {:.2}s",
            r.bare_down, r.cover_collect, r.cover_teardown
        );
        rounds.push(r);
    }
    let load_after = load_average();
    let m = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    let (bare_down, collect, teardown) = (
        m(|r| r.bare_down),
        m(|r| r.cover_collect),
        m(|r| r.cover_teardown),
    );
    let added = m(|r| r.cover_collect + r.cover_teardown - r.bare_down);
    println!(
        "compose stack: {SERVICE} x{REPLICAS} + redis ({} {}), median of {runs} rounds (seconds)",
        cli.shown, cli.version
    );
    println!("  {:<28} {:>8} {:>9}", "", "bare", "covtools");
    println!(
        "  {:<28} {:>8.2} {:>9.2}",
        "up until ready",
        m(|r| r.bare_up),
        m(|r| r.cover_start)
    );
    println!(
        "  {:<28} {:>8.2} {:>9.2}",
        "tests (go test ./e2e)",
        m(|r| r.bare_tests),
        m(|r| r.cover_tests)
    );
    println!("  {:<28} {:>8} {:>9.2}", "collect", "-", collect);
    println!(
        "  {:<28} {:>8.2} {:>9.2}",
        "down / teardown", bare_down, teardown
    );
    println!(
        "  {:<28} {:>8.2} {:>9.2}",
        "collect + teardown vs down",
        bare_down,
        collect + teardown
    );
    let met = added <= TARGET_SECONDS;
    println!(
        "  added by collection and teardown: {added:.2} s (median of the rounds' differences); target <= {TARGET_SECONDS} s: {}",
        if met { "met" } else { "MISSED" }
    );
    println!("  load average: {load_before} before, {load_after} after");
    Ok(ExitStatus::negative_unless(met).into())
}

impl Round {
    /// The bare figures of `self` with the covtools ones of `c`.
    fn merge(self, c: Round) -> Round {
        Round {
            cover_start: c.cover_start,
            cover_tests: c.cover_tests,
            cover_collect: c.cover_collect,
            cover_teardown: c.cover_teardown,
            ..self
        }
    }
}

/// `down` of the bare project when the bench ends, whatever happened.
struct Down(Project);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = self.0.down(Duration::ZERO);
    }
}

/// The service built plainly (`go build`, no coverage), in an image on the
/// local busybox base: the stack as its developers run it.
fn bare_image(go: &Path, module: &Path, work: &Path, base: &str) -> anyhow::Result<String> {
    let ctx = work.join("bare");
    fs::create_dir_all(&ctx)?;
    let mut cmd = process(go);
    cmd.dir(module)
        .args(["build", "-o"])
        .arg(ctx.join(SERVICE))
        .arg(format!("./cmd/{SERVICE}"))
        .env("CGO_ENABLED", "0");
    toolchain::go_env(&mut cmd);
    cmd.run()?;
    fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {base}\nCOPY {SERVICE} /{SERVICE}\nENTRYPOINT [\"/{SERVICE}\"]\n"),
    )?;
    let image = format!("{PREFIX}/bare:latest");
    docker::run_ok(&["build", "-q", "-t", &image, &ctx.to_string_lossy()], LONG)?;
    Ok(image)
}

/// up, ready, the suite, down: the stack without covtools.
fn bare_round(p: &Project, go: &Path, module: &Path) -> anyhow::Result<Round> {
    let scale = format!("{SERVICE}={REPLICAS}");
    let t = Instant::now();
    p.run_ok(&["up", "-d", "--no-build", "--scale", &scale], LONG)?;
    let replicas: Vec<_> = p
        .containers()?
        .into_iter()
        .filter(|c| c.service == SERVICE)
        .collect();
    ensure!(replicas.len() == REPLICAS, "{} replicas up", replicas.len());
    let mut first = None;
    for c in &replicas {
        let out = docker::run_ok(&["port", &c.name, &format!("{PORT}/tcp")], LONG)?;
        let addr = out
            .lines()
            .next()
            .context("no published port")?
            .trim()
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !covtarget::http::get(&addr, "/healthz", Duration::from_secs(2))
            .is_ok_and(|r| r.status == 200)
        {
            ensure!(Instant::now() < deadline, "{} not ready", c.name);
            std::thread::sleep(Duration::from_millis(20));
        }
        first.get_or_insert(addr);
    }
    let up = t.elapsed();
    let t = Instant::now();
    let mut cmd = process(go);
    cmd.dir(module)
        .args(["test", "-count=1", "./e2e"])
        .env(
            "SERVICE_URL",
            format!("http://{}", first.unwrap_or_default()),
        )
        .stdout_null();
    toolchain::go_env(&mut cmd);
    cmd.run()
        .context("the suite failed against the bare stack")?;
    let tests = t.elapsed();
    let t = Instant::now();
    // As a user types it: Compose's default stop timeout (10 s).
    p.down(Duration::from_secs(10))?;
    Ok(Round {
        bare_up: up.as_secs_f64(),
        bare_tests: tests.as_secs_f64(),
        bare_down: t.elapsed().as_secs_f64(),
        ..Round::default()
    })
}

/// `covtools cover` of the same stack; its steps' times.
fn cover_round(module: &Path, work: &Path, base: &str, tools: &Path) -> anyhow::Result<Round> {
    let s = |p: PathBuf| p.display().to_string();
    let argv = [
        "--module".into(),
        s(module.to_path_buf()),
        "--out".into(),
        s(work.join("out")),
        "--work".into(),
        s(work.join("work")),
        "--tools".into(),
        s(tools.to_path_buf()),
        "--base".into(),
        base.to_string(),
        "--prefix".into(),
        PREFIX.into(),
        "--reports".into(),
        "none".into(),
        "--set".into(),
        format!("service.{SERVICE}.replicas={REPLICAS}"),
    ];
    let args = Args::parse_from_args(&argv)?;
    let report = cover::execute(&args, &Control::new(), &Progress::new(false));
    if report.code != ExitStatus::Success {
        bail!(
            "covtools cover exited {}: {}",
            report.code,
            report.error.as_deref().unwrap_or("(no error)")
        );
    }
    ensure!(
        report.profiles.get(SERVICE) == Some(&REPLICAS),
        "profiles: {:?}",
        report.profiles
    );
    let step = |name: &str| -> anyhow::Result<f64> {
        report
            .steps
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_secs_f64())
            .with_context(|| format!("no {name} step in {:?}", report.steps))
    };
    Ok(Round {
        cover_start: step("start")?,
        cover_tests: step("tests")?,
        cover_collect: step("collect")?,
        cover_teardown: step("teardown")?,
        ..Round::default()
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// /proc/loadavg's three figures.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A copy of a module's tree (no `.covtools` of an earlier run).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let name = e.file_name();
        if name == ".covtools" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type()?.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}
