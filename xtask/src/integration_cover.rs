//! `cargo xtask integration-cover`: the installed command's job
//! (`covjob::cover`) on the bundled example, with this checkout's tools
//! built first and the results kept under target/, as the project's own
//! demonstration and smoke test.

use std::process::ExitCode;

use anyhow::Context;
use covjob::build_services::module_label;
use covjob::cover;

use covcore::process::process;

use crate::util;

pub fn run(mut args: cover::Args) -> anyhow::Result<ExitCode> {
    let module = args
        .module
        .module
        .get_or_insert_with(util::example_dir)
        .clone();
    let label = module_label(&module);
    let target = util::project_root().join("target");
    args.out
        .get_or_insert_with(|| target.join("cover").join(&label));
    args.work
        .get_or_insert_with(|| target.join("covtools").join(&label));
    if args.tools.is_none() {
        args.tools = Some(build_tools()?);
    }
    cover::run(args)
}

/// `cargo build --bins` of the root package in the xtask's own profile;
/// returns the directory the binaries are in.
fn build_tools() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let dir = exe
        .parent()
        .context("the xtask binary has no directory")?
        .to_path_buf();
    let mut build = vec!["build", "--quiet", "-p", "covtools", "--bins"];
    if dir.file_name().is_some_and(|n| n == "release") {
        build.push("--release");
    }
    process(util::cargo())
        .args(build)
        .dir(util::project_root())
        .output()?;
    Ok(dir)
}
