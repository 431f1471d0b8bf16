//! Project automation, run as `cargo xtask <task>` (see .cargo/config.toml).
//! The task list and its flags are flags.rs; one module (or folder) per task;
//! paths come from `util::project_root()`.

mod bench;
mod bench_kill_pull;
mod consumers;
mod dep_images;
mod flags;
mod fuzz;
mod genprof;
mod integration_cover;
mod screenshot;
mod test;
mod util;

use std::process::ExitCode;

use clap::Parser;

use flags::Task;

fn main() -> ExitCode {
    let result = match flags::Cli::parse().task {
        Task::Test(args) => test::run(args),
        Task::Bench(args) => bench::run(args),
        Task::GenProfiles(args) => genprof::run(args),
        Task::MeasureChild(args) => bench::measure_child(args),
        Task::IntegrationCover(args) => integration_cover::run(*args),
        Task::DepImages => dep_images::run(),
        Task::Fuzz(args) => fuzz::run(args),
        Task::ReportScreenshot(args) => screenshot::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::from(covcore::cli::ERROR)
        }
    }
}
