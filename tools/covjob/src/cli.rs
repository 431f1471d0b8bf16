//! The `covtools` command: the whole job (`cover`) and its steps (`build`,
//! `images`), each run in the Go module it is started in.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{build_services, cover, docker_images};

#[derive(Parser)]
#[command(
    name = "covtools",
    version,
    about = "Integration-test coverage of Go services: build them instrumented, run them, drive the tests, collect, merge and gate",
    after_help = "Run inside a Go module (the nearest folder upward holding covtools.toml, else go.mod), or pass --module DIR.\nThe single-purpose tools beside it: covkill, covpull, covmerge, covtotal, covreport."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole job: build, run, test, collect, merge, gate and report.
    Cover(Box<cover::Args>),
    /// Only build the services as coverage-instrumented binaries.
    Build(build_services::Args),
    /// Only build the services' images (and their build contexts).
    Images(docker_images::Args),
}

/// `covtools ARGS…`: parse, run, and turn the outcome into an exit code.
pub fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Cover(args) => cover::run(*args),
        Command::Build(args) => build_services::run(args),
        Command::Images(args) => docker_images::run(args),
    }
}
