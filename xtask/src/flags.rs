//! The task list: every `cargo xtask` subcommand and the flags of the tasks
//! that live in this binary (as rust-analyzer's xtask keeps its flags.rs).
//! `integration-cover` takes the flags of `covtools cover` (the library's
//! own `Args`).

use std::ffi::OsString;

use clap::{Parser, Subcommand};
use covjob::cover;

use crate::genprof;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "covtools project tasks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub task: Task,
}

#[derive(Subcommand)]
pub enum Task {
    /// Run every test (installs Go into the per-user cache when `go` is not on PATH or older than 1.27).
    Test(Test),
    /// Benchmark covmerge against `wc -l` on generated monorepo-sized profiles.
    Bench(Bench),
    /// Generate synthetic monorepo-shaped profiles (the benchmark's data) alone.
    GenProfiles(genprof::Args),
    #[command(hide = true)]
    MeasureChild(MeasureChild),
    /// Build the images a stack's databases run from (redis:7, postgres:15)
    /// out of Debian's packages, when missing or stale.
    DepImages,
    /// `covtools cover` on the bundled example (tests/example), with the
    /// tools of this checkout: results in target/cover/<module dir>.
    IntegrationCover(Box<cover::Args>),
    /// Fuzz covmerge (fuzz/, cargo-fuzz) for a while; reports executions/s.
    Fuzz(Fuzz),
    /// Screenshots (PNG) of covreport's HTML page, taken by headless Chromium.
    ReportScreenshot(crate::screenshot::Args),
    /// Check covselect by mutation: K mutants of the bundled modules, each
    /// run against the full suite; every failing test must be selected.
    Mutation(crate::mutation::Args),
}

#[derive(clap::Args)]
pub struct Fuzz {
    /// How long to fuzz, in seconds.
    #[arg(long, default_value_t = 60, value_name = "N")]
    pub seconds: u64,
}

#[derive(clap::Args)]
pub struct Test {
    /// Extra arguments for `cargo test` (after `--`), e.g. `-- merge::` or
    /// `--release -- --nocapture`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cargo_args: Vec<String>,
}

#[derive(clap::Args)]
pub struct Bench {
    /// Run only these cases (1, 2, 3; repeatable). Default: all.
    #[arg(long = "case", value_parser = clap::value_parser!(u32).range(1..=3))]
    pub cases: Vec<u32>,
    /// Timed runs per tool and case (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Only generate (or find cached) data, print where, and stop.
    #[arg(long)]
    pub gen_only: bool,
    /// Generator threads (the data does not depend on it).
    #[arg(long, default_value_t = covcore::pool::default_threads())]
    pub jobs: usize,
    /// Instead: time covkill then covpull, and covpull --flush, on fleets
    /// of an example service beside their floors (needs a Docker engine).
    #[arg(long)]
    pub kill_pull: bool,
    /// Instead: time covmerge and covtotal reading a GOCOVERDIR against
    /// `go tool covdata textfmt` and `func` on the same data (needs Go).
    #[arg(long)]
    pub covdata: bool,
    /// Instead: what coverage per test costs on the shop (a snapshot round
    /// of its 3 services per boundary, the test map's size per test),
    /// beside the plain run (needs Go).
    #[arg(long)]
    pub per_test: bool,
    /// Instead: what the compose runtime adds (collection and teardown)
    /// to the kvstore stack run bare, side by side (needs Docker, Compose
    /// and Go).
    #[arg(long)]
    pub compose: bool,
    /// With --kill-pull: the fleet sizes (comma-separated), e.g. 10,50,200.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10",
        requires = "kill_pull"
    )]
    pub containers: Vec<usize>,
}

/// `xtask measure-child -- CMD…`, used by the bench.
#[derive(clap::Args)]
pub struct MeasureChild {
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}
