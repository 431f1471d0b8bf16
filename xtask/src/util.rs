//! Paths of the project's own checkout, for its own tasks (the covtools
//! library never uses them: it works in the user's module), and the tests'
//! skip log.

use std::path::{Path, PathBuf};

// The skip log's name and format, shared with every test binary (and the
// skip helper of this crate's own tests).
#[allow(dead_code)]
#[path = "../../tests/util/skip.rs"]
pub mod skip;

/// The repository root (xtask lives one level below it).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the project")
        .to_path_buf()
}

/// `$CARGO`, as cargo sets it for the xtask, else `cargo`.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Where the project installs its own test tools (`.tools/`, git-ignored).
pub fn tools_dir() -> PathBuf {
    project_root().join(".tools")
}

/// The bundled example (tests/example), the module of the project's tasks.
pub fn example_dir() -> PathBuf {
    project_root().join("tests/example")
}

/// The covtools binaries for a task that runs `covtools cover` in-process:
/// `given`, else beside this program or in its parent (a test binary lives
/// in target/debug/deps), else on PATH.
pub fn covtools_bins(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    use covjob::cover::find_tools;
    if let Some(t) = given {
        return find_tools(Some(t));
    }
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1).take(2) {
        if let Ok(t) = find_tools(Some(dir)) {
            return Ok(t);
        }
    }
    find_tools(None).context("build them first: cargo build --bins")
}

/// `covtools cover` in-process on `module` as local processes, the cover
/// kind in atomic mode, no coverage gate, results in `out` (work files
/// beside it), then `extra` (`--reports …`, `--per-test`, `-- COMMAND`).
pub fn cover_local(
    module: &Path,
    out: &Path,
    tools: &Path,
    extra: &[&str],
) -> anyhow::Result<covjob::cover::Report> {
    let mut argv: Vec<String> = [
        "--module",
        &module.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
        "--work",
        &out.with_extension("work").to_string_lossy(),
        "--tools",
        &tools.to_string_lossy(),
        "--runtime",
        "local",
        "--build-kind",
        "cover",
        "--cover-mode",
        "atomic",
        "--set",
        "gates.min=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(extra.iter().map(|s| s.to_string()));
    let args = covjob::cover::Args::parse_from_args(&argv).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(covjob::cover::execute(
        &args,
        &covjob::runtime::control::Control::new(),
        &covjob::progress::Progress::new(false),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use covjob::toolchain::MIN_GO;

    #[test]
    fn min_go_is_the_example_go_mod_version() {
        let go_mod = std::fs::read_to_string(example_dir().join("go.mod")).unwrap();
        let line = go_mod.lines().find_map(|l| l.strip_prefix("go ")).unwrap();
        assert_eq!(line.trim(), format!("{}.{}", MIN_GO.0, MIN_GO.1));
    }
}
