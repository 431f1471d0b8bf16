//! Running the real Go toolchain from the tests: one quiet, offline
//! environment for every `go` (and test binary) run, Go data made once per
//! test process in a directory of its own, the figures read back from Go's
//! output, and our text compared with Go's.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{require_go, Dir, TestCommand};

/// No toolchain downloads and no module proxy (there is no network), no
/// surprise flags from the caller's environment.
const GO_ENV: [(&str, &str); 4] = [
    ("GOTOOLCHAIN", "local"),
    ("GOPROXY", "off"),
    ("GOFLAGS", ""),
    ("GO111MODULE", ""),
];

/// `go` run in `cwd` with the pinned environment.
pub fn go_cmd(dir: &Dir, go: &Path, cwd: &Path) -> TestCommand {
    let mut cmd = dir.command(go);
    cmd.cmd.current_dir(cwd).envs(GO_ENV);
    cmd
}

/// `go env GOROOT`.
pub fn goroot(dir: &Dir, go: &Path) -> PathBuf {
    PathBuf::from(
        go_cmd(dir, go, &dir.root)
            .args(["env", "GOROOT"])
            .stdout()
            .trim(),
    )
}

/// `go tool cover -func` of a profile, run in `cwd`.
pub fn cover_func(dir: &Dir, go: &Path, cwd: &Path, profile: &Path) -> String {
    go_cmd(dir, go, cwd)
        .args(["tool", "cover"])
        .arg(format!("-func={}", profile.display()))
        .stdout()
}

/// Runs `cmd` (a `go` command or a binary Go built) with the pinned
/// environment: its stdout, or a message with both streams when it fails.
/// For data made outside a test, where a failure is kept as a message.
pub fn stdout_of(cmd: &mut Command) -> Result<String, String> {
    cmd.envs(GO_ENV);
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

/// `go <args>` in `cwd`, as `stdout_of`.
pub fn run_go<S: AsRef<OsStr>>(go: &Path, cwd: &Path, args: &[S]) -> Result<String, String> {
    stdout_of(Command::new(go).args(args).current_dir(cwd))
}

/// `go tool covdata textfmt` of GOCOVERDIRs (or of single binary files'
/// directories) into `out`: Go's own reading of binary coverage data, as
/// the text profile it returns.
pub fn covdata_textfmt<P: AsRef<Path>>(go: &Path, inputs: &[P], out: &Path) -> String {
    let inputs: Vec<String> = inputs
        .iter()
        .map(|p| p.as_ref().display().to_string())
        .collect();
    stdout_of(
        Command::new(go)
            .args(["tool", "covdata", "textfmt"])
            .arg(format!("-i={}", inputs.join(",")))
            .arg(format!("-o={}", out.display())),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    fs::read_to_string(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()))
}

/// `81.2` from the last line of `go tool cover -func` or `go tool covdata
/// func` (`total:  (statements)  81.2%`).
pub fn last_percent(out: &str) -> Result<String, String> {
    let last = out.lines().last().unwrap_or_default();
    if !last.starts_with("total") {
        return Err(format!("no total line at the end of:\n{out}"));
    }
    let field = last.split_whitespace().last().unwrap_or_default();
    field
        .strip_suffix('%')
        .map(str::to_string)
        .ok_or_else(|| format!("no percent in {last:?}"))
}

/// Go data made once per test process by `make` (given the `go` binary) and
/// shared by the tests; `None` (a loud skip) without Go outside CI. A failure
/// is kept as a message so that every test reports it without making the
/// data again.
pub fn made_once<T>(
    cell: &'static OnceLock<Result<T, String>>,
    what: &str,
    make: impl FnOnce(PathBuf) -> Result<T, String>,
) -> Option<&'static T> {
    let go = require_go()?;
    match cell.get_or_init(|| make(go)) {
        Ok(data) => Some(data),
        Err(e) => panic!("{what} failed: {e}"),
    }
}

/// A fresh, empty directory for this test process's data:
/// `target/tmp/covtools-tests/<name>/<pid>`. One per process because several
/// people (or CI and a person) may run the tests of one checkout at once;
/// those of earlier processes are swept after an hour.
pub fn process_dir(name: &str) -> Result<PathBuf, String> {
    let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("covtools-tests")
        .join(name);
    sweep_old_dirs(&parent);
    let root = parent.join(std::process::id().to_string());
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(root)
}

/// Removes the directories in `parent` older than an hour.
fn sweep_old_dirs(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
        if old {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Asserts that our text (a profile, `cover -func` figures) is Go's, naming
/// the first line that differs.
pub fn assert_same_text(ours: &str, go: &str, what: &str) {
    if ours == go {
        return;
    }
    let (a, b) = (
        ours.lines().collect::<Vec<_>>(),
        go.lines().collect::<Vec<_>>(),
    );
    let i = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    panic!(
        "{what}: ours differs from Go's at line {} ({} lines vs Go's {}):\n  ours: {:?}\n  go:   {:?}",
        i + 1,
        a.len(),
        b.len(),
        a.get(i),
        b.get(i)
    );
}
