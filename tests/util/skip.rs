//! Skipping a test so that it counts as skipped, not passed. libtest has no
//! run-time skip, so a skipping test returns early (libtest says "ok") and
//! first appends one line to the file `cargo xtask test` names in
//! `COVTOOLS_SKIP_LOG`: `<test binary>\t<test name>\t<why>`. The xtask reads
//! the lines back (with `read_log`, below) and moves those tests from passed
//! to skipped in its closing `tests: N passed, M failed, K skipped`.
//!
//! One file for every test binary: tests/util.rs declares it, xtask's own
//! tests and its `test` task include it by path.

use std::io::Write;
use std::path::Path;

/// The environment variable naming the skip log.
pub const SKIP_LOG_ENV: &str = "COVTOOLS_SKIP_LOG";

/// True under `CI=true` (or any CI value but empty, `false` and `0`), where a
/// missing Go toolchain or Docker engine is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A prerequisite of the running test is missing (`why` says which): under CI
/// a failure, elsewhere a counted skip. The caller returns at once.
pub fn skip_unless_ci(why: &str) {
    assert!(!in_ci(), "CI=true but {why}");
    skip(why);
}

/// Records that the running test is skipped for `why`, even under CI (for
/// extras that need something a clone does not have). The caller returns at
/// once.
pub fn skip(why: &str) {
    eprintln!("\n*** SKIPPING: {why} ***\n");
    if let Some(log) = std::env::var_os(SKIP_LOG_ENV) {
        if let Err(e) = record(Path::new(&log), why) {
            panic!(
                "cannot record the skip in {} ({SKIP_LOG_ENV}): {e}",
                Path::new(&log).display()
            );
        }
    }
}

/// Appends the running test's line to `log`.
pub fn record(log: &Path, why: &str) -> std::io::Result<()> {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    // libtest names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed)")
        .to_string();
    let line = format!("{binary}\t{test}\t{}\n", why.replace(['\n', '\t'], " "));
    // One write of one short line to an O_APPEND file: lines from test
    // binaries and threads running at once do not interleave.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?
        .write_all(line.as_bytes())
}

/// One recorded skip.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skip {
    pub binary: String,
    pub test: String,
    pub why: String,
}

/// The skips recorded in `log`, one per test (a test that skipped twice
/// counts once), sorted; no file means no skip.
pub fn read_log(log: &Path) -> std::io::Result<Vec<Skip>> {
    let text = match std::fs::read_to_string(log) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut skips = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            Skip {
                binary: f.next().unwrap_or_default().to_string(),
                test: f.next().unwrap_or_default().to_string(),
                why: f.next().unwrap_or_default().to_string(),
            }
        })
        .collect::<Vec<_>>();
    skips.sort();
    skips.dedup_by(|a, b| a.binary == b.binary && a.test == b.test);
    Ok(skips)
}
