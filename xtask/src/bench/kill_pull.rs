//! `cargo xtask bench --kill-pull [--containers 10,50,200] [--runs 3]`: a
//! fleet of N containers of the example's catalog service, for each N,
//! median of `--runs` rounds:
//!
//! - stop + collect, the default test kind: `covkill` then `covpull` (each
//!   stopped service is started again by its wrapper). On the local engine
//!   both talk to each container's harness at its own address, no exec;
//!   beside it the same through the exec path (`COVTOOLS_DOCKER=cli`, as
//!   for a remote engine);
//! - snapshot: `covpull --flush` on N containers of the same service built
//!   with the cover kind (`go build -cover -covermode=atomic`): one request
//!   per container to its harness's `/covtools/snapshot`;
//! - the floors, measured on the same containers in the same run: N bare
//!   `docker exec … true` at once, and N plain HTTP GETs at once;
//! - covpull's peak RSS (flat in N: files are streamed to disk), and the
//!   load average before and after each fleet.
//!
//! Targets: stop + collect of 200 within 3 s; the snapshot of 200 within
//! 0.5 s and within twice the plain-GET floor.

mod fleet;

use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::ensure;
use covcore::contract;
use covcore::exit_codes::ExitStatus;
use covcore::process::process;
use covjob::build_services::{self, BuildKind, BuildOptions};
use covjob::config::Config;
use covjob::docker_images;
use covjob::toolchain;
use covtarget::docker;

use crate::util;

use super::measure;
use fleet::{check_profiles, check_snapshots, load, Fleet};

const SERVICE: &str = "catalog";
const PREFIX: &str = "covtools-bench-killpull";
const TARGET_N: usize = 200;
const STOP_SECONDS: f64 = 3.0;
const SNAPSHOT_SECONDS: f64 = 0.5;
const SNAPSHOT_OVER_GET_FLOOR: f64 = 2.0;

/// One size's medians, in seconds (RSS in MiB).
struct Row {
    n: usize,
    kill: f64,
    pull: f64,
    stop: f64,
    pull_rss: f64,
    stop_exec: f64,
    exec_floor: f64,
    get_floor: f64,
    snapshot: f64,
    snapshot_rss: f64,
    /// N snapshot requests at once from the bench itself: the harnesses' share.
    snapshot_harness: f64,
    snapshot_get_floor: f64,
    snapshot_exec_floor: f64,
    /// 1-minute load average before and after each fleet.
    load: [String; 4],
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
    // Fresh contexts: a context left from an earlier build keeps its binary.
    let (contexts, cover_contexts) = (work.join("contexts"), work.join("contexts-cover"));
    for dir in [&contexts, &cover_contexts] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    let image = docker_images::build_images(&images, &base, &contexts)?.remove(0);
    let port = images[0].port;
    let cover_prefix = format!("{PREFIX}-cover");
    let mut cover_images =
        docker_images::service_images(&cover_config, &cover_bin_dir, &cover_prefix, "latest")?;
    cover_images.retain(|i| i.service == SERVICE);
    let cover_image = docker_images::build_images(&cover_images, &base, &cover_contexts)?.remove(0);

    let mut rows = Vec::new();
    for &n in sizes {
        let mut row = stop_and_collect(n, runs, tools, &work, &image, port)?;
        snapshot(&mut row, runs, tools, &work, &cover_image, port)?;
        rows.push(row);
    }
    Ok(report(&rows, runs))
}

/// The stop path on a fleet of the test kind, and its floors.
fn stop_and_collect(
    n: usize,
    runs: usize,
    tools: &Path,
    work: &Path,
    image: &str,
    port: u16,
) -> anyhow::Result<Row> {
    eprintln!("bench: starting {n} containers of {image}");
    let fleet = Fleet::start(PREFIX, n, image, port)?;
    let load_before = load();
    let targets = fleet.targets();
    let (mut kill, mut pull, mut rss, mut stop_exec) = (vec![], vec![], vec![], vec![]);
    let (mut exec_floor, mut get_floor) = (vec![], vec![]);
    let out = work.join(format!("profiles-{n}"));
    let _ = std::fs::remove_dir_all(&out);
    let mut stops = 0;
    for round in 1..=runs {
        fleet.wait_ready()?;
        let t = Instant::now();
        let killed = tool(tools, "covkill", &targets, None)?;
        kill.push(t.elapsed().as_secs_f64());
        ensure!(killed.lines().count() == n, "covkill printed {killed:?}");
        // covpull fed the same targets, measured on its own for its RSS.
        let m = measured(&pull_args(tools, &out, &targets, false))?;
        pull.push(m.wall.as_secs_f64());
        rss.push(m.rss_mib);
        stops += 1;
        check_profiles(&out, &fleet.names, stops)?;

        fleet.wait_ready()?;
        let t = Instant::now();
        let killed = tool(tools, "covkill", &targets, Some("cli"))?;
        let mut args = vec!["--out".to_string(), out.display().to_string()];
        args.push("-".into());
        tool_with_stdin(tools, "covpull", &args, killed, Some("cli"))?;
        stop_exec.push(t.elapsed().as_secs_f64());
        stops += 1;
        check_profiles(&out, &fleet.names, stops)?;

        fleet.wait_ready()?;
        exec_floor.push(fleet.exec_floor()?);
        get_floor.push(fleet.get_floor()?);
        eprintln!(
            "bench: {n} containers, round {round}: stop+collect {:.3} s (covkill {:.3}, covpull {:.3}, {:.1} MiB), through exec {:.3} s; floors: exec {:.3} s, GET {:.3} s",
            kill[round - 1] + pull[round - 1],
            kill[round - 1],
            pull[round - 1],
            rss[round - 1],
            stop_exec[round - 1],
            exec_floor[round - 1],
            get_floor[round - 1]
        );
    }
    let load_after = load();
    let stops: Vec<f64> = kill.iter().zip(&pull).map(|(k, p)| k + p).collect();
    Ok(Row {
        n,
        kill: median(kill),
        pull: median(pull),
        stop: median(stops),
        pull_rss: max(&rss),
        stop_exec: median(stop_exec),
        exec_floor: median(exec_floor),
        get_floor: median(get_floor),
        snapshot: 0.0,
        snapshot_rss: 0.0,
        snapshot_harness: 0.0,
        snapshot_get_floor: 0.0,
        snapshot_exec_floor: 0.0,
        load: [load_before, load_after, String::new(), String::new()],
    })
}

/// The snapshot path on a fleet of the cover kind, and its floors.
fn snapshot(
    row: &mut Row,
    runs: usize,
    tools: &Path,
    work: &Path,
    image: &str,
    port: u16,
) -> anyhow::Result<()> {
    let n = row.n;
    eprintln!("bench: starting {n} containers of {image}");
    let fleet = Fleet::start(&format!("{PREFIX}-live"), n, image, port)?;
    row.load[2] = load();
    let targets = fleet.targets();
    let (mut snap, mut rss, mut get_floor, mut exec_floor) = (vec![], vec![], vec![], vec![]);
    let mut harness = vec![];
    for round in 1..=runs {
        let out = work.join(format!("snapshots-{n}-{round}"));
        let _ = std::fs::remove_dir_all(&out);
        let m = measured(&pull_args(tools, &out, &targets, true))?;
        snap.push(m.wall.as_secs_f64());
        rss.push(m.rss_mib);
        check_snapshots(&out, &fleet.names)?;
        // What the harnesses' answers alone take (covpull's share is the rest).
        harness.push(fleet.gets(contract::SNAPSHOT_PATH, 200)?);
        get_floor.push(fleet.get_floor()?);
        exec_floor.push(fleet.exec_floor()?);
        eprintln!(
            "bench: {n} containers, round {round}: snapshot {:.3} s ({:.1} MiB), the harnesses' answers alone {:.3} s; floors: GET {:.3} s, exec {:.3} s",
            snap[round - 1],
            rss[round - 1],
            harness[round - 1],
            get_floor[round - 1],
            exec_floor[round - 1]
        );
    }
    row.load[3] = load();
    row.snapshot = median(snap);
    row.snapshot_rss = max(&rss);
    row.snapshot_harness = median(harness);
    row.snapshot_get_floor = median(get_floor);
    row.snapshot_exec_floor = median(exec_floor);
    Ok(())
}

fn report(rows: &[Row], runs: usize) -> ExitCode {
    println!("Fleets: stop + collect and live snapshots, median of {runs} rounds (seconds), floors measured on the same containers in the same run");
    println!();
    println!("Stop + collect (test kind): covkill then covpull");
    println!("  containers  covkill  covpull  stop+collect  through exec (CLI)  floor: N docker exec  floor: N GETs  stop/exec floor  stop/GET floor  covpull RSS MiB  load avg");
    for r in rows {
        println!(
            "  {:>10}  {:>7.3}  {:>7.3}  {:>12.3}  {:>18.3}  {:>20.3}  {:>13.3}  {:>15.2}  {:>14.1}  {:>15.1}  {} -> {}",
            r.n,
            r.kill,
            r.pull,
            r.stop,
            r.stop_exec,
            r.exec_floor,
            r.get_floor,
            r.stop / r.exec_floor,
            r.stop / r.get_floor,
            r.pull_rss,
            r.load[0],
            r.load[1]
        );
    }
    println!();
    println!("Live snapshot (cover kind): covpull --flush");
    println!("  containers  snapshot  N snapshot GETs alone  floor: N GETs  floor: N docker exec  snapshot/GET floor  snapshot/exec floor  covpull RSS MiB  load avg");
    for r in rows {
        println!(
            "  {:>10}  {:>8.3}  {:>21.3}  {:>13.3}  {:>20.3}  {:>18.2}  {:>19.2}  {:>15.1}  {} -> {}",
            r.n,
            r.snapshot,
            r.snapshot_harness,
            r.snapshot_get_floor,
            r.snapshot_exec_floor,
            r.snapshot / r.snapshot_get_floor,
            r.snapshot / r.snapshot_exec_floor,
            r.snapshot_rss,
            r.load[2],
            r.load[3]
        );
    }
    let mut met = true;
    for r in rows.iter().filter(|r| r.n == TARGET_N) {
        let mut target = |ok: bool, what: String| {
            met &= ok;
            println!("  target    {what}: {}", if ok { "met" } else { "MISSED" });
        };
        target(
            r.stop <= STOP_SECONDS,
            format!("stop + collect of {} <= {STOP_SECONDS} s", r.n),
        );
        target(
            r.snapshot <= SNAPSHOT_SECONDS,
            format!("snapshot of {} <= {SNAPSHOT_SECONDS} s", r.n),
        );
        target(
            r.snapshot <= SNAPSHOT_OVER_GET_FLOOR * r.snapshot_get_floor,
            format!(
                "snapshot of {} <= {SNAPSHOT_OVER_GET_FLOOR} x the plain-GET floor",
                r.n
            ),
        );
    }
    ExitStatus::negative_unless(met).into()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// `covpull [--flush] --out OUT TARGETS…` as an argv for [`measured`].
fn pull_args<'a>(
    tools: &Path,
    out: &'a Path,
    targets: &'a [String],
    flush: bool,
) -> Vec<std::ffi::OsString> {
    let mut argv = vec![tools.join("covpull").into_os_string()];
    if flush {
        argv.push("--flush".into());
    }
    argv.extend(["--out".into(), out.as_os_str().to_owned()]);
    argv.extend(targets.iter().map(Into::into));
    argv
}

fn measured(argv: &[std::ffi::OsString]) -> anyhow::Result<measure::Measure> {
    let argv: Vec<&OsStr> = argv.iter().map(|a| a.as_os_str()).collect();
    measure::measure(&argv)
}

/// Runs one of the tools (with `COVTOOLS_DOCKER` when given); its stdout.
/// Fails on a non-zero exit.
fn tool(
    dir: &Path,
    name: &str,
    args: &[String],
    transport: Option<&str>,
) -> anyhow::Result<String> {
    tool_with_stdin(dir, name, args, String::new(), transport)
}

fn tool_with_stdin(
    dir: &Path,
    name: &str,
    args: &[String],
    stdin: String,
    transport: Option<&str>,
) -> anyhow::Result<String> {
    let mut cmd = process(dir.join(name));
    cmd.args(args).stdin_bytes(stdin);
    if let Some(t) = transport {
        cmd.env(docker::ENV_TRANSPORT, t);
    }
    let out = cmd.output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
