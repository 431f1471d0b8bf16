//! `cargo xtask bench --kill-pull [--containers 10,40]`: for each fleet
//! size N, timed in the same run, median of `--runs` rounds:
//!
//! - kill + pull: `covkill` then `covpull` on N containers of the example's
//!   catalog service (test-binary kind: each is stopped and restarted by its
//!   wrapper), over the Docker Engine API and, as before it, over the
//!   `docker` CLI (`COVTOOLS_DOCKER=cli`);
//! - flush + copy: `covpull --flush` on N containers of the same service
//!   built with the cover kind (`go build -cover -covermode=atomic` of its
//!   real main with covtools' harness, in its own image): one HTTP request
//!   per container to its harness's `/covtools/snapshot`, which takes the
//!   snapshot and answers with the files (no exec);
//! - the engine's floor: N bare `docker exec … true` in parallel.
//!
//! Targets: flush + copy of 10 at most half of kill + pull of 10
//! as covtools did it before (the CLI), and of 40 within 1.5 s.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use covcore::exit_codes::ExitStatus;

use crate::util;
use anyhow::{bail, ensure};
use covcore::process::process;
use covjob::build_services::{self, BuildKind, BuildOptions};
use covjob::config::Config;
use covjob::docker_images;
use covjob::toolchain;
use covtarget::docker;

const SERVICE: &str = "catalog";
const PREFIX: &str = "covtools-bench-killpull";
const FLUSH_HALF_OF_KILL_PULL_AT: usize = 10;
const FORTY: usize = 40;
const FORTY_SECONDS: f64 = 1.5;
const LONG: Duration = Duration::from_secs(120);

/// Removes the benchmark's containers, also when a step fails.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.0.iter().map(String::as_str));
            let _ = docker::run(&args, LONG);
        }
    }
}

/// One size's medians, in seconds.
struct Figures {
    n: usize,
    kill_pull_api: f64,
    kill_pull_cli: f64,
    flush_copy: f64,
    floor: f64,
}

pub fn run(runs: usize, sizes: &[usize], tools: &Path) -> anyhow::Result<ExitCode> {
    docker_images::ensure_docker()?;
    let go = toolchain::ensure_go()?;
    let config = Config::load(&util::example_dir())?;
    let work = util::project_root().join("target/covtools/bench-kill-pull");
    let bin_dir = work.join("bin");
    let mut opts = BuildOptions::from_config(&config, go.clone(), bin_dir.clone());
    opts.services.retain(|s| s.name == SERVICE);
    build_services::build_services(&opts)?;
    // The same service, cover kind: what `[build] kind = "cover"` builds.
    let mut cover_config = config.clone();
    cover_config.build.kind = BuildKind::Cover;
    cover_config.build.cover_mode = "atomic".into();
    let cover_bin_dir = work.join("bin-cover");
    let mut opts = BuildOptions::from_config(&cover_config, go.clone(), cover_bin_dir.clone());
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
    let cover_prefix = format!("{PREFIX}-cover");
    let mut cover_images =
        docker_images::service_images(&cover_config, &cover_bin_dir, &cover_prefix, "latest")?;
    cover_images.retain(|i| i.service == SERVICE);
    let cover_image =
        docker_images::build_images(&cover_images, &base, &work.join("contexts-cover"))?.remove(0);

    let mut all = Vec::new();
    for &n in sizes {
        all.push(measure(n, runs, tools, &work, &image, &cover_image, port)?);
    }

    println!("covkill + covpull vs a live snapshot, median of {runs} rounds (seconds)");
    println!("  containers  kill+pull (API)  kill+pull (CLI, as before)  flush+copy  floor (N bare docker exec)  flush+copy / kill+pull (CLI)  flush+copy / floor");
    for f in &all {
        println!(
            "  {:>10}  {:>15.3}  {:>26.3}  {:>10.3}  {:>26.3}  {:>28.2}  {:>18.2}",
            f.n,
            f.kill_pull_api,
            f.kill_pull_cli,
            f.flush_copy,
            f.floor,
            f.flush_copy / f.kill_pull_cli,
            f.flush_copy / f.floor
        );
    }
    let mut met = true;
    for f in &all {
        if f.n == FLUSH_HALF_OF_KILL_PULL_AT {
            let ok = f.flush_copy <= f.kill_pull_cli / 2.0;
            met &= ok;
            println!(
                "  target    flush+copy of {} <= half of kill+pull (CLI): {}",
                f.n,
                if ok { "met" } else { "MISSED" }
            );
        }
        if f.n == FORTY {
            let ok = f.flush_copy <= FORTY_SECONDS;
            met &= ok;
            println!(
                "  target    flush+copy of {} <= {FORTY_SECONDS} s: {}",
                f.n,
                if ok { "met" } else { "MISSED" }
            );
        }
    }
    Ok(if met {
        ExitCode::SUCCESS
    } else {
        ExitStatus::Negative.into()
    })
}

#[allow(clippy::too_many_arguments)]
fn measure(
    n: usize,
    runs: usize,
    tools: &Path,
    work: &Path,
    image: &str,
    cover_image: &str,
    port: u16,
) -> anyhow::Result<Figures> {
    let classic: Vec<String> = (0..n).map(|i| format!("{PREFIX}-{i}")).collect();
    let live: Vec<String> = (0..n).map(|i| format!("{PREFIX}-live-{i}")).collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(classic.iter().chain(&live).map(String::as_str));
    let _ = docker::run(&rm, LONG);
    let _guard = Containers(classic.iter().chain(&live).cloned().collect());
    for name in &classic {
        // Restart at once after each kill: rounds follow each other quickly.
        docker::run_ok(
            &[
                "run",
                "-d",
                "--name",
                name,
                "-e",
                "COVER_MIN_UPTIME=0",
                image,
            ],
            LONG,
        )?;
    }
    for name in &live {
        docker::run_ok(
            &[
                "run",
                "-d",
                "--name",
                name,
                "-e",
                "COVER_MIN_UPTIME=0",
                cover_image,
            ],
            LONG,
        )?;
    }
    let targets =
        |names: &[String]| -> Vec<String> { names.iter().map(|n| format!("docker:{n}")).collect() };
    let (classic_targets, live_targets) = (targets(&classic), targets(&live));
    let (mut api, mut cli, mut flush, mut floor) = (vec![], vec![], vec![], vec![]);
    for round in 1..=runs {
        for (label, env, sink) in [("api", None, &mut api), ("cli", Some("cli"), &mut cli)] {
            wait_ready(&classic, port)?;
            let out = work.join(format!("profiles-{n}-{round}-{label}"));
            let _ = std::fs::remove_dir_all(&out);
            let t = Instant::now();
            let killed = tool(tools, "covkill", &classic_targets, None, env)?;
            let pulled = tool(
                tools,
                "covpull",
                &["--out".to_string(), out.display().to_string()],
                Some(killed),
                env,
            )?;
            sink.push(t.elapsed().as_secs_f64());
            ensure_pulled(&pulled, n)?;
        }
        wait_ready(&live, port)?;
        let out = work.join(format!("snapshots-{n}-{round}"));
        let _ = std::fs::remove_dir_all(&out);
        let mut args = vec![
            "--flush".to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        args.extend(live_targets.iter().cloned());
        let t = Instant::now();
        let pulled = tool(tools, "covpull", &args, None, None)?;
        flush.push(t.elapsed().as_secs_f64());
        ensure_pulled(&pulled, n)?;

        let t = Instant::now();
        let cli_path = docker::cli()?;
        // All at once, as covkill's execs run: started first, then waited.
        let execs: Vec<_> = live
            .iter()
            .map(|name| {
                let mut exec = process(&cli_path);
                exec.args(["exec", name, "true"]);
                exec
            })
            .collect();
        let started = execs
            .iter()
            .map(|e| Ok(e.expression().start()?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (e, handle) in execs.iter().zip(started) {
            e.check(handle.wait()?.status, &[])?;
        }
        floor.push(t.elapsed().as_secs_f64());
        eprintln!(
            "bench: {n} containers, round {round}: kill+pull {:.3} s (API), {:.3} s (CLI); flush+copy {:.3} s; floor {:.3} s",
            api[round - 1], cli[round - 1], flush[round - 1], floor[round - 1]
        );
    }
    Ok(Figures {
        n,
        kill_pull_api: median(api),
        kill_pull_cli: median(cli),
        flush_copy: median(flush),
        floor: median(floor),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One line (a profile path or a snapshot directory) per container, each existing.
fn ensure_pulled(pulled: &str, n: usize) -> anyhow::Result<()> {
    let paths: Vec<&str> = pulled.lines().collect();
    ensure!(
        paths.len() >= n,
        "covpull printed {} paths for {n} containers",
        paths.len()
    );
    for p in paths {
        ensure!(
            Path::new(p).exists(),
            "covpull printed {p}, which does not exist"
        );
    }
    Ok(())
}

/// Waits until every container's service answers inside it.
fn wait_ready(names: &[String], port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(60);
    for name in names {
        loop {
            // Any HTTP answer (a 404 too) means it is up.
            let out = docker::exec(
                name,
                &[
                    "sh",
                    "-c",
                    &format!("wget -q -O /dev/null {url} 2>&1; true"),
                ],
                Duration::from_secs(10),
            )?;
            let said = String::from_utf8_lossy(&out.stdout);
            if said.is_empty() || said.contains("404") {
                break;
            }
            if Instant::now() > deadline {
                bail!("{name} did not answer on {url} within 60 s: {said}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// Runs one of the tools with `stdin` (and `COVTOOLS_DOCKER`), returns its
/// stdout; fails on a non-zero exit.
fn tool(
    dir: &Path,
    name: &str,
    args: &[String],
    stdin: Option<String>,
    transport: Option<&str>,
) -> anyhow::Result<String> {
    let mut cmd = process(dir.join(name));
    cmd.args(args);
    if let Some(input) = stdin {
        cmd.stdin_bytes(input);
    }
    if let Some(t) = transport {
        cmd.env(docker::ENV_TRANSPORT, t);
    }
    let out = cmd.output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
