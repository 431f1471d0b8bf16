//! `cargo xtask bench`, the covmerge cases: covmerge against `wc -l` (the
//! memory-bandwidth floor) on generated monorepo-sized profiles, median wall
//! time and peak RSS, each judged against its target.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use covcore::exit_codes::ExitStatus;

use super::data::{check_correctness, ensure_data};
use super::measure::{measure, summarize};
use crate::flags;
use crate::genprof::{CountDist, Layout, Mode, Params};

pub struct Case {
    pub n: u32,
    pub name: &'static str,
    pub params: Params,
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

pub fn run(args: &flags::Bench, root: &Path) -> anyhow::Result<ExitCode> {
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

    super::build_release_bins(root)?;
    let covmerge = root.join("target/release/covmerge");

    let shapes: Vec<(u32, &Params)> = selected.iter().map(|c| (c.n, &c.params)).collect();
    check_correctness(&covmerge, &data_root, &shapes, &inputs)?;

    let out = data_root.join("covmerge-output.out");
    let mut all_met = true;
    let mut case1_median = None;
    println!("covmerge vs wc -l: median (and fastest) of {} runs, page cache warm; peak RSS of the child", args.runs);
    if let Ok(load) = fs::read_to_string("/proc/loadavg") {
        let load = load
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "(load average {load} on {} cores: other processes make the times noisy)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
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
        if case.n == 1 {
            case1_median = Some((cm_t, files));
        }
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
    if let Some((median, files)) = case1_median {
        let covreport = root.join("target/release/covreport");
        all_met &= super::report::run(&covreport, files, median, args.runs, &data_root)?;
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
        ExitStatus::Negative.into()
    })
}
