//! `cargo xtask bench`: covmerge against `wc -l` (the memory-bandwidth floor)
//! on generated monorepo-sized profiles, median wall time and peak RSS.
//! The data comes from the project's own generator (genprof.rs, a port of
//! ../shared/bench/gen_profiles.py) and is cached in target/bench-data/.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};

use crate::genprof::{self, CountDist, Layout, Mode, Params};
use crate::util;

#[derive(clap::Args)]
pub struct Args {
    /// Run only these cases (1, 2, 3; repeatable). Default: all.
    #[arg(long = "case", value_parser = clap::value_parser!(u32).range(1..=3))]
    cases: Vec<u32>,
    /// Timed runs per tool and case (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Only generate (or find cached) data, print where, and stop.
    #[arg(long)]
    gen_only: bool,
    /// Generator threads (the data does not depend on it).
    #[arg(long, default_value_t = genprof::default_jobs())]
    jobs: usize,
    /// Instead: time covkill then covpull on ten containers of an example
    /// service (needs a Docker engine).
    #[arg(long)]
    kill_pull: bool,
    /// With --kill-pull: the fleet sizes (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10",
        requires = "kill_pull"
    )]
    containers: Vec<usize>,
}

struct Case {
    n: u32,
    name: &'static str,
    params: Params,
    /// covmerge's median within this many times `wc -l`'s.
    max_ratio: Option<f64>,
    /// covmerge's median under this many seconds.
    max_seconds: Option<f64>,
    /// covmerge's peak RSS under this many MiB.
    max_rss_mib: Option<f64>,
}

fn params(p: usize, f: usize, b: usize, overlap: f64) -> Params {
    Params {
        profiles: p,
        files: f,
        blocks: b,
        overlap,
        layout: Layout::Interleave,
        mode: Mode::Count,
        zero_frac: 0.4,
        count_dist: CountDist::Loguniform,
        seed: 1,
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            n: 1,
            name: "full overlap",
            params: params(50, 2000, 100, 1.0),
            max_ratio: Some(4.0),
            max_seconds: None,
            max_rss_mib: Some(64.0),
        },
        Case {
            n: 2,
            name: "disjoint",
            params: params(32, 5, 2000, 0.0),
            max_ratio: None,
            max_seconds: Some(0.1),
            max_rss_mib: None,
        },
        Case {
            n: 3,
            name: "half overlap",
            params: params(50, 2000, 100, 0.5),
            max_ratio: Some(10.0),
            max_seconds: None,
            max_rss_mib: None,
        },
    ]
}

/// The four tools, optimised, in target/release.
fn build_release_bins(root: &Path) -> anyhow::Result<()> {
    eprintln!("bench: {} build --release --bins", util::cargo());
    let status = Command::new(util::cargo())
        .current_dir(root)
        .args(["build", "--release", "--package", "covtools", "--bins"])
        .status()
        .context("running cargo build")?;
    ensure!(status.success(), "cargo build --release failed ({status})");
    Ok(())
}

/// Bumped when the generator's output changes, so cached data is remade.
const DATA_VERSION: u32 = 1;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let root = util::project_root();
    if args.kill_pull {
        build_release_bins(&root)?;
        return crate::bench_kill_pull::run(
            args.runs,
            &args.containers,
            &root.join("target/release"),
        );
    }
    let data_root = root.join("target/bench-data");
    let selected = cases()
        .into_iter()
        .filter(|c| args.cases.is_empty() || args.cases.contains(&c.n))
        .collect::<Vec<_>>();

    let mut inputs = Vec::new();
    for case in &selected {
        inputs.push(ensure_data(&case.params, &data_root, args.jobs)?);
    }
    if args.gen_only {
        for (case, (dir, _)) in selected.iter().zip(&inputs) {
            println!("case {}: {}", case.n, dir.display());
        }
        return Ok(ExitCode::SUCCESS);
    }

    build_release_bins(&root)?;
    let covmerge = root.join("target/release/covmerge");

    check_correctness(&covmerge, &data_root, &selected, &inputs)?;

    let out = data_root.join("covmerge-output.out");
    let mut all_met = true;
    println!("covmerge vs wc -l: median (and fastest) of {} runs, page cache warm; peak RSS of the child", args.runs);
    if let Ok(load) = fs::read_to_string("/proc/loadavg") {
        let load = load
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "(load average {load} on {} cores: other processes make the times noisy)",
            genprof::default_jobs()
        );
    }
    let baseline = measure(&["true".as_ref()])?;
    println!("(a child's peak RSS includes what it inherits from the spawning helper: `true` shows {:.1} MiB)", baseline.rss_mib);
    for (case, (dir, files)) in selected.iter().zip(&inputs) {
        let bytes: u64 = files
            .iter()
            .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
            .sum();
        let p = &case.params;
        println!();
        println!(
            "case {}, {}: -P {} -F {} -B {} --overlap {} --seed {}  ({} profiles, {} lines, {:.1} MB)",
            case.n,
            case.name,
            p.profiles,
            p.files,
            p.blocks,
            p.overlap,
            p.seed,
            files.len(),
            p.profiles * p.files * p.blocks,
            bytes as f64 / 1e6
        );
        eprintln!("bench: data in {}", dir.display());
        let mut wc = vec!["wc".as_ref(), "-l".as_ref()];
        wc.extend(files.iter().map(|f| f.as_os_str()));
        let mut cm = vec![covmerge.as_os_str()];
        cm.extend(files.iter().map(|f| f.as_os_str()));
        cm.extend(["-o".as_ref(), out.as_os_str()]);
        // One untimed run of each first, so both read from a warm page cache.
        measure(&wc)?;
        measure(&cm)?;
        let (mut wc_runs, mut cm_runs) = (Vec::new(), Vec::new());
        let mut out_bytes = 0;
        for _ in 0..args.runs {
            wc_runs.push(measure(&wc)?);
            // Every timed run writes a new file, as the first run of a CI job
            // does: replacing the previous run's output would add the
            // kernel's freeing of it (tens of ms for case 2's 32 MB) to the
            // time, a cost of running the benchmark in a loop.
            out_bytes = fs::metadata(&out).map_or(0, |m| m.len());
            let _ = fs::remove_file(&out);
            cm_runs.push(measure(&cm)?);
        }
        let _ = fs::remove_file(&out);
        let (wc_t, wc_min, wc_rss) = summarize(&wc_runs);
        let (cm_t, cm_min, cm_rss) = summarize(&cm_runs);
        let ratio = cm_t / wc_t;
        println!(
            "  covmerge  {cm_t:>7.3} s (fastest {cm_min:.3} s)  peak RSS {cm_rss:>6.1} MiB  (output {:.1} MB)",
            out_bytes as f64 / 1e6
        );
        println!("  wc -l     {wc_t:>7.3} s (fastest {wc_min:.3} s)  peak RSS {wc_rss:>6.1} MiB");
        println!(
            "  ratio     {ratio:>7.2}x wc -l (fastest to fastest {:.2}x)",
            cm_min / wc_min
        );
        let mut verdict = |what: String, met: bool| {
            all_met &= met;
            println!("  target    {what}: {}", if met { "met" } else { "MISSED" });
        };
        if let Some(max) = case.max_ratio {
            verdict(
                format!("time <= {max}x wc -l (is {ratio:.2}x)"),
                ratio <= max,
            );
        }
        if let Some(max) = case.max_seconds {
            verdict(format!("time < {max} s (is {cm_t:.3} s)"), cm_t < max);
        }
        if let Some(max) = case.max_rss_mib {
            verdict(
                format!("peak RSS < {max} MiB (is {cm_rss:.1} MiB)"),
                cm_rss < max,
            );
        }
        eprintln!(
            "bench: case {} runs (s): covmerge {:?}, wc -l {:?}",
            case.n,
            cm_runs
                .iter()
                .map(|r| r.wall.as_secs_f64())
                .collect::<Vec<_>>(),
            wc_runs
                .iter()
                .map(|r| r.wall.as_secs_f64())
                .collect::<Vec<_>>()
        );
    }
    println!();
    println!(
        "{}",
        if all_met {
            "all targets met"
        } else {
            "some targets MISSED"
        }
    );
    Ok(if all_met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The case's data directory and profile files, generated unless a complete
/// copy made by this generator version is cached.
fn ensure_data(
    p: &Params,
    data_root: &Path,
    jobs: usize,
) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    let dir = data_root.join(p.key());
    let stamp = dir.join("complete");
    let files = (0..p.profiles)
        .map(|k| dir.join(format!("prof_{k:03}.out")))
        .collect::<Vec<_>>();
    let want = format!("generator data version {DATA_VERSION}\n");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == want) && files.iter().all(|f| f.is_file()) {
        return Ok((dir, files));
    }
    let _ = fs::remove_dir_all(&dir);
    eprintln!("bench: generating {} ...", dir.display());
    let start = Instant::now();
    let made = genprof::generate(p, &dir, jobs)?;
    assert_eq!(made, files);
    let bytes: u64 = files
        .iter()
        .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    eprintln!(
        "bench: {} in {:.1} s",
        genprof::summary(p, bytes, &dir),
        start.elapsed().as_secs_f64()
    );
    fs::write(&stamp, want)?;
    Ok((dir, files))
}

/// Once, untimed: covmerge's output equals the merge computed here the
/// obvious way, on small data of each selected case's shape and on the case's
/// own data when it is small (case 2).
fn check_correctness(
    covmerge: &Path,
    data_root: &Path,
    selected: &[Case],
    inputs: &[(PathBuf, Vec<PathBuf>)],
) -> anyhow::Result<()> {
    let scratch = data_root.join("check");
    let _ = fs::remove_dir_all(&scratch);
    for (case, (_, files)) in selected.iter().zip(inputs) {
        let small = Params {
            profiles: 7,
            files: 20,
            blocks: 12,
            ..case.params.clone()
        };
        let dir = scratch.join(format!("case{}", case.n));
        let small_files = genprof::generate(&small, &dir, 2)?;
        compare_with_expected(
            covmerge,
            &small_files,
            &format!("case {} shape, small", case.n),
        )?;
        if case.params.profiles * case.params.files * case.params.blocks <= 1_000_000 {
            compare_with_expected(covmerge, files, &format!("case {}", case.n))?;
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    eprintln!("bench: covmerge output checked against the obvious merge");
    Ok(())
}

fn compare_with_expected(covmerge: &Path, files: &[PathBuf], what: &str) -> anyhow::Result<()> {
    type Key = (Vec<u8>, [u32; 4]);
    let mut blocks: BTreeMap<Key, (u32, u64)> = BTreeMap::new();
    for f in files {
        let text = fs::read_to_string(f)?;
        for line in text.lines().skip(1) {
            let parse = || -> Option<(Key, u32, u64)> {
                let (rest, count) = line.rsplit_once(' ')?;
                let (rest, ns) = rest.rsplit_once(' ')?;
                let (file, pos) = rest.rsplit_once(':')?;
                let mut n = pos.split([',', '.']).map(|x| x.parse::<u32>().ok());
                let pos = [n.next()??, n.next()??, n.next()??, n.next()??];
                Some((
                    (file.as_bytes().to_vec(), pos),
                    ns.parse().ok()?,
                    count.parse().ok()?,
                ))
            };
            let (k, ns, c) =
                parse().with_context(|| format!("{}: bad line {line:?}", f.display()))?;
            let e = blocks.entry(k).or_insert((ns, 0));
            e.1 = (e.1 + c).min(u64::from(u32::MAX));
        }
    }
    let mut want = String::from("mode: count\n");
    for ((file, [sl, sc, el, ec]), (ns, c)) in blocks {
        want.push_str(&format!(
            "{}:{sl}.{sc},{el}.{ec} {ns} {c}\n",
            String::from_utf8_lossy(&file)
        ));
    }
    let out = Command::new(covmerge)
        .args(files)
        .stderr(Stdio::inherit())
        .output()?;
    ensure!(
        out.status.success(),
        "{what}: covmerge failed ({})",
        out.status
    );
    if out.stdout != want.as_bytes() {
        let got = String::from_utf8_lossy(&out.stdout);
        let i = got.lines().zip(want.lines()).position(|(a, b)| a != b);
        bail!(
            "{what}: covmerge's output is not the expected merge ({} vs {} lines; first difference at line {:?}: {:?} vs expected {:?})",
            got.lines().count(),
            want.lines().count(),
            i.map(|i| i + 1),
            i.and_then(|i| got.lines().nth(i)),
            i.and_then(|i| want.lines().nth(i))
        );
    }
    Ok(())
}

struct Measure {
    wall: Duration,
    /// Peak resident set size of the child, MiB.
    rss_mib: f64,
}

/// Runs `cmd` through `xtask measure-child`, a small fresh process, because
/// a child's peak RSS (ru_maxrss) starts from the RSS of the process that
/// spawned it: measured from this process, which generated and checked the
/// data, even `wc -l` would look like it used 100 MiB.
fn measure(cmd: &[&std::ffi::OsStr]) -> anyhow::Result<Measure> {
    let out = Command::new(std::env::current_exe()?)
        .arg("measure-child")
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running xtask measure-child")?;
    ensure!(
        out.status.success(),
        "measuring {cmd:?} failed ({})",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(ns)), Some(Ok(kib))) = (f.next(), f.next()) else {
        bail!("measure-child printed {text:?}")
    };
    Ok(Measure {
        wall: Duration::from_nanos(ns),
        rss_mib: kib as f64 / 1024.0,
    })
}

#[derive(clap::Args)]
pub struct MeasureArgs {
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<std::ffi::OsString>,
}

/// `xtask measure-child -- CMD…` (used by the bench): runs CMD with stdout
/// discarded and prints its wall time in ns and its peak RSS in KiB, from
/// wait4's rusage of the child.
pub fn measure_child(args: MeasureArgs) -> anyhow::Result<ExitCode> {
    // Make this process's own peak RSS the baseline the child inherits as
    // small as it can be (Linux: "5" resets the high-water mark).
    let _ = fs::write("/proc/self/clear_refs", "5");
    let mut cmd = Command::new(&args.command[0]);
    cmd.args(&args.command[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: pid is our child, not yet waited for (Child is never waited).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = start.elapsed();
    ensure!(r == pid, "wait4: {}", std::io::Error::last_os_error());
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed (wait status {status})"
    );
    // ru_maxrss is in KiB on Linux.
    println!("{} {}", wall.as_nanos(), usage.ru_maxrss);
    Ok(ExitCode::SUCCESS)
}

/// The median and fastest wall time (s) and the largest peak RSS (MiB).
fn summarize(runs: &[Measure]) -> (f64, f64, f64) {
    let mut t = runs
        .iter()
        .map(|r| r.wall.as_secs_f64())
        .collect::<Vec<_>>();
    t.sort_by(f64::total_cmp);
    let n = t.len();
    let median = if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2.0
    };
    (
        median,
        t[0],
        runs.iter().map(|r| r.rss_mib).fold(0.0, f64::max),
    )
}
