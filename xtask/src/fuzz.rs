//! `cargo xtask fuzz`: runs the fuzz targets (`fuzz/`, cargo-fuzz and
//! libFuzzer) one after the other, sharing the time given, and reports
//! each one's executions, executions per second and findings:
//!
//! - `merge`: covmerge's merge laws over text profiles;
//! - `covdata`: the binary reader (a `covmeta.*` file and its
//!   `covcounters.*` files, as bytes), whose output must be a profile
//!   covmerge reads back;
//! - `report`: every covreport format of a merged profile.
//!
//! Each target gets libFuzzer's RSS limit (a small input that takes
//! gigabytes is a finding) and a per-input timeout (so is one that takes
//! seconds). The committed seeds (`fuzz/seeds/merge`, real `go test
//! -coverprofile` profiles, which the report target reads too;
//! `fuzz/seeds/covdata`, files of `go build -cover` programs) are read
//! only; what a run finds goes to `target/fuzz/`.
//!
//! cargo-fuzz needs nightly compiler flags; `RUSTC_BOOTSTRAP=1` lets the
//! stable toolchain accept them, so no nightly install is needed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};

use covcore::process::process;

use crate::util;

use crate::flags::Fuzz as Args;

/// The targets and the seed directory (under `fuzz/seeds/`) of each.
const TARGETS: &[(&str, &str)] = &[
    ("merge", "merge"),
    ("covdata", "covdata"),
    ("report", "merge"),
];

/// What one target's run came to.
struct Outcome {
    target: &'static str,
    runs: Option<u64>,
    seconds: Option<u64>,
    /// The failure, with where its input is, when there was one.
    failure: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = util::project_root();
    ensure_cargo_fuzz()?;
    let each = (args.seconds / TARGETS.len() as u64).max(1);
    eprintln!("xtask: fuzzing {} targets for {each} s each", TARGETS.len());
    let mut outcomes = Vec::new();
    for &(target, seeds) in TARGETS {
        outcomes.push(run_target(&root, target, seeds, each)?);
    }
    let mut failed = Vec::new();
    let mut total = 0;
    for o in &outcomes {
        total += o.runs.unwrap_or(0);
        let figures = match (o.runs, o.seconds) {
            (Some(runs), Some(secs)) => format!(
                "{runs} runs in {secs} s, {} executions/s",
                runs / secs.max(1)
            ),
            (Some(runs), None) => format!("{runs} runs"),
            _ => "no figures".to_string(),
        };
        match &o.failure {
            None => println!("fuzz {}: {figures}, no failure", o.target),
            Some(why) => {
                println!("fuzz {}: {figures}, FAILED: {why}", o.target);
                failed.push(o.target);
            }
        }
    }
    println!(
        "fuzz: {total} runs over {} targets, {} failed",
        outcomes.len(),
        failed.len()
    );
    if !failed.is_empty() {
        bail!("fuzz targets failed: {}", failed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_target(
    root: &Path,
    target: &'static str,
    seeds: &str,
    seconds: u64,
) -> anyhow::Result<Outcome> {
    let work = root.join("target/fuzz");
    let corpus = work.join("corpus").join(target);
    let artifacts = work.join("artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut cmd = process(util::cargo());
    cmd.dir(root)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--fuzz-dir", "fuzz", "--sanitizer", "none"])
        .arg("--target-dir")
        .arg(work.join("build"))
        .arg(target)
        // The first corpus directory receives new inputs; the seeds stay.
        .arg(&corpus)
        .arg(root.join("fuzz/seeds").join(seeds))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-rss_limit_mb=2048")
        .arg("-timeout=10")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .stderr_piped();
    eprintln!("xtask: fuzzing {target} for {seconds} s");
    let mut child = cmd.spawn()?;
    let mut runs = None;
    let mut secs = None;
    for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
        let line = line.context("reading cargo fuzz's output")?;
        eprintln!("{line}");
        // libFuzzer's last words: "Done 123456 runs in 60 second(s)".
        if let Some(rest) = line.strip_prefix("Done ") {
            let mut words = rest.split_whitespace();
            runs = words.next().and_then(|w| w.parse::<u64>().ok());
            secs = words.nth(2).and_then(|w| w.parse::<u64>().ok());
        }
        // Otherwise the stats printed at exit: "stat::number_of_executed_units: N".
        if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            runs = runs.or_else(|| n.trim().parse().ok());
        }
    }
    let status = child.wait().context("waiting for cargo fuzz")?;
    let failure = cmd
        .check(status, &[])
        .err()
        .map(|e| format!("{e}; the input that broke it is in {}", artifacts.display()));
    Ok(Outcome {
        target,
        runs,
        seconds: secs,
        failure,
    })
}

/// `cargo fuzz` on PATH, or installed from crates.io.
fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let found = process(util::cargo())
        .args(["fuzz", "--version"])
        .output()
        .is_ok();
    if found {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz (cargo install cargo-fuzz)");
    process(util::cargo())
        .args(["install", "--locked", "cargo-fuzz"])
        .run()
}
