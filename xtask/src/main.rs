//! Project automation, run as `cargo xtask <task>` (see .cargo/config.toml).
//! One module per task; paths come from `util::project_root()`.

mod bench;
mod bench_kill_pull;
mod genprof;
mod screenshot;
mod test;

// Shared with the integration tests through the library (src/lib.rs).
use xtask::{build_services, cover, docker_images, util};

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "covtools project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every test (installs Go into .tools/ when `go` is not on PATH or older than 1.27).
    Test(test::Args),
    /// Benchmark covmerge against `wc -l` on generated monorepo-sized profiles.
    Bench(bench::Args),
    /// Generate synthetic monorepo-shaped profiles (the benchmark's data) alone.
    GenProfiles(genprof::Args),
    #[command(hide = true)]
    MeasureChild(bench::MeasureArgs),
    /// Build Go services as coverage-instrumented test binaries.
    BuildServices(build_services::Args),
    /// Generate Docker build contexts for the services and build their images.
    DockerImages(docker_images::Args),
    /// The main job: build, run in containers, drive the tests, collect and gate coverage.
    IntegrationCover(Box<cover::Args>),
    /// Screenshots (PNG) of covreport's HTML page, taken by headless Chromium.
    ReportScreenshot(screenshot::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Test(args) => test::run(args),
        Task::Bench(args) => bench::run(args),
        Task::GenProfiles(args) => genprof::run(args),
        Task::MeasureChild(args) => bench::measure_child(args),
        Task::BuildServices(args) => build_services::run(args),
        Task::DockerImages(args) => docker_images::run(args),
        Task::IntegrationCover(args) => cover::run(*args),
        Task::ReportScreenshot(args) => screenshot::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::from(2)
        }
    }
}
