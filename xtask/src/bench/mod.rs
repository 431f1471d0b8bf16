//! `cargo xtask bench`: the covtools benchmarks. By default covmerge against
//! `wc -l` on generated monorepo-sized profiles (merge.rs, with its data in
//! data.rs from the project's generator, genprof/); `--kill-pull` times
//! covkill and covpull on ten containers (bench_kill_pull.rs). Timing a
//! child, wall time and peak RSS, is measure.rs. `--covdata` times reading a
//! GOCOVERDIR against `go tool covdata` (covdata.rs); covreport's formats are
//! timed beside covmerge on case 1 (report.rs). `--compose` times what the
//! compose runtime adds to a stack run bare (compose.rs).

mod compose;
mod covdata;
mod data;
mod measure;
mod merge;
mod report;

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{ensure, Context};

use crate::flags;
use crate::util;

pub use measure::measure_child;

pub fn run(args: flags::Bench) -> anyhow::Result<ExitCode> {
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
    if args.compose {
        build_release_bins(&root)?;
        return compose::run(args.runs, &root.join("target/release"));
    }
    if args.covdata {
        return covdata::run(&args, &root);
    }
    merge::run(&args, &root)
}

/// The tools, optimised, in target/release.
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
