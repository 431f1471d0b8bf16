//! `cargo xtask bench --kill-pull`: covkill then covpull on ten containers of
//! one example service, timed, beside the engine's own floor at that moment
//! (the same number of bare `docker exec … true`, in parallel). The target
//! is under 1 s for both tools together. Each round times them one after
//! the other (the conservative figure, which the target is judged on) and
//! then as the pipe users write, `covkill … | covpull …`, where covpull
//! starts on each target as soon as covkill prints it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use xtask::build_services::{self, BuildOptions};
use xtask::config::{self, Config};
use xtask::docker_images;
use xtask::runtime::docker::docker;
use xtask::util;

const CONTAINERS: usize = 10;
const SERVICE: &str = "catalog";
const PREFIX: &str = "covtools-bench-killpull";
const TARGET_SECONDS: f64 = 1.0;

/// Removes the benchmark's containers, also when a step fails.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&self.0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub fn run(runs: usize, tools: &Path) -> anyhow::Result<ExitCode> {
    docker_images::ensure_docker()?;
    let go = util::ensure_go()?;
    let config = Config::load(&config::example_dir())?;
    let work = util::project_root().join("target/covtools/bench-kill-pull");
    let bin_dir = work.join("bin");
    let mut opts = BuildOptions::from_config(&config, go, bin_dir.clone());
    opts.services.retain(|s| s.name == SERVICE);
    build_services::build_services(&opts)?;
    let base = format!("{PREFIX}/base:latest");
    docker_images::build_base_image(&base)?;
    let mut images = docker_images::service_images(&config, &bin_dir, PREFIX, "latest")?;
    images.retain(|i| i.service == SERVICE);
    let contexts = work.join("contexts");
    if contexts.exists() {
        std::fs::remove_dir_all(&contexts)?;
    }
    let image = docker_images::build_images(&images, &base, &contexts)?.remove(0);
    let port = images[0].port;

    let names: Vec<String> = (0..CONTAINERS).map(|i| format!("{PREFIX}-{i}")).collect();
    let _ = Command::new("docker")
        .args(["rm", "-f"])
        .args(&names)
        .output();
    let containers = Containers(names.clone());
    for name in &names {
        // Restart at once after each kill: rounds follow each other quickly.
        docker(&[
            "run",
            "-d",
            "--name",
            name,
            "-e",
            "COVER_MIN_UPTIME=0",
            &image,
        ])?;
    }
    let targets: Vec<String> = names.iter().map(|n| format!("docker:{n}")).collect();
    let mut rounds = Vec::new();
    for round in 1..=runs {
        for name in &names {
            wait_ready(name, port)?;
        }
        let out = work.join(format!("profiles-{round}"));
        let _ = std::fs::remove_dir_all(&out);
        let t = Instant::now();
        let killed = tool(tools, "covkill", &targets, None)?;
        let kill = t.elapsed();
        let pulled = tool(
            tools,
            "covpull",
            &["--out".to_string(), out.display().to_string()],
            Some(killed),
        )?;
        let both = t.elapsed();
        ensure_pulled(&pulled, &out)?;

        for name in &names {
            wait_ready(name, port)?;
        }
        let out = work.join(format!("profiles-{round}-piped"));
        let _ = std::fs::remove_dir_all(&out);
        let t = Instant::now();
        let pulled = piped(tools, &targets, &out)?;
        let pipe = t.elapsed();
        ensure_pulled(&pulled, &out)?;
        let t = Instant::now();
        let execs = names
            .iter()
            .chain(&names)
            .map(|n| Command::new("docker").args(["exec", n, "true"]).spawn())
            .collect::<Result<Vec<_>, _>>()?;
        for mut e in execs {
            ensure!(e.wait()?.success(), "docker exec … true failed");
        }
        let floor = t.elapsed();
        eprintln!(
            "bench: round {round}: covkill {:.3} s + covpull {:.3} s = {:.3} s; piped {:.3} s; {} bare docker exec {:.3} s",
            kill.as_secs_f64(),
            (both - kill).as_secs_f64(),
            both.as_secs_f64(),
            pipe.as_secs_f64(),
            2 * CONTAINERS,
            floor.as_secs_f64()
        );
        rounds.push(Round {
            kill,
            pull: both - kill,
            both,
            pipe,
            floor,
        });
    }
    drop(containers);

    let med = |f: fn(&Round) -> Duration| {
        let mut v: Vec<f64> = rounds.iter().map(|r| f(r).as_secs_f64()).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (kill, pull, both, pipe, floor) = (
        med(|r| r.kill),
        med(|r| r.pull),
        med(|r| r.both),
        med(|r| r.pipe),
        med(|r| r.floor),
    );
    println!("covkill then covpull, {CONTAINERS} containers of the example's {SERVICE}: median of {runs} rounds");
    println!("  covkill   {kill:>7.3} s");
    println!("  covpull   {pull:>7.3} s");
    println!(
        "  together  {both:>7.3} s  ({:.2}x the engine floor)",
        both / floor
    );
    println!(
        "  piped     {pipe:>7.3} s  (`covkill … | covpull …`, {:.2}x the floor)",
        pipe / floor
    );
    println!(
        "  floor     {floor:>7.3} s  ({} bare `docker exec … true` in parallel)",
        2 * CONTAINERS
    );
    let met = both < TARGET_SECONDS;
    println!(
        "  target    together < {TARGET_SECONDS} s: {}",
        if met { "met" } else { "MISSED" }
    );
    Ok(if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One round's timings.
struct Round {
    kill: Duration,
    pull: Duration,
    /// covkill, then covpull on what it printed.
    both: Duration,
    /// `covkill … | covpull …`.
    pipe: Duration,
    floor: Duration,
}

/// Every container's new profile was written, and each path printed exists.
fn ensure_pulled(pulled: &str, out: &Path) -> anyhow::Result<()> {
    let paths: Vec<&str> = pulled.lines().collect();
    ensure!(
        paths.len() >= CONTAINERS,
        "covpull wrote {} profiles for {CONTAINERS} containers into {}",
        paths.len(),
        out.display()
    );
    for p in paths {
        ensure!(
            Path::new(p).is_file(),
            "covpull printed {p}, which is not a file"
        );
    }
    Ok(())
}

/// `covkill TARGETS | covpull --out OUT`, returns what covpull printed;
/// fails when either fails.
fn piped(dir: &Path, targets: &[String], out: &Path) -> anyhow::Result<String> {
    let kill = duct::cmd(dir.join("covkill"), targets);
    let pull = duct::cmd(
        dir.join("covpull"),
        ["--out".to_string(), out.display().to_string()],
    );
    let res = kill
        .pipe(pull)
        .stdout_capture()
        .run()
        .context("running covkill … | covpull …")?;
    Ok(String::from_utf8_lossy(&res.stdout).into_owned())
}

/// Waits until the service answers inside its container.
fn wait_ready(name: &str, port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = Command::new("docker")
            .args(["exec", name, "wget", "-q", "-O", "/dev/null", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?
            .success();
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{name} did not answer on {url} within 30 s:\n{}",
                docker(&["logs", "--tail", "20", name])?
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs one of the tools with `stdin`, returns its stdout; fails on a
/// non-zero exit.
fn tool(dir: &Path, name: &str, args: &[String], stdin: Option<String>) -> anyhow::Result<String> {
    let path: PathBuf = dir.join(name);
    let mut expr = duct::cmd(&path, args).stdout_capture().unchecked();
    if let Some(input) = stdin {
        expr = expr.stdin_bytes(input);
    }
    let out = expr
        .run()
        .with_context(|| format!("running {}", path.display()))?;
    ensure!(out.status.success(), "{name} failed ({})", out.status);
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
