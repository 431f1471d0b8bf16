//! `cargo xtask bench`: the covtools benchmarks. By default covmerge against
//! `wc -l` on generated monorepo-sized profiles (merge.rs, with its data in
//! data.rs from the project's generator, genprof/); `--kill-pull` times
//! covkill and covpull on fleets of containers (kill_pull.rs, its fleets in kill_pull/fleet.rs). Timing a
//! child, wall time and peak RSS, is measure.rs. `--covdata` times reading a
//! GOCOVERDIR against `go tool covdata` (covdata.rs); covreport's formats are
//! timed beside covmerge on case 1 (report.rs). `--compose` times what the
//! compose runtime adds to a stack run bare (compose.rs).

mod compose;
mod covdata;
mod data;
mod kill_pull;
pub(crate) mod measure;
mod merge;
mod per_test;
mod report;

use std::path::Path;
use std::process::ExitCode;

use anyhow::ensure;
use covcore::process::process;

use crate::flags;
use crate::util;

pub use measure::measure_child;

pub fn run(args: flags::Bench) -> anyhow::Result<ExitCode> {
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let root = util::project_root();
    if args.kill_pull {
        build_release_bins(&root)?;
        return kill_pull::run(args.runs, &args.containers, &root.join("target/release"));
    }
    if args.per_test {
        build_release_bins(&root)?;
        return per_test::run(args.runs, &root);
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
    process(util::cargo())
        .dir(root)
        .args(["build", "--release", "--package", "covtools", "--bins"])
        .run()
}
