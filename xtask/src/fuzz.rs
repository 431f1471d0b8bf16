//! `cargo xtask fuzz`: runs covmerge's fuzz target (`fuzz/`, cargo-fuzz and
//! libFuzzer) for a while and reports the executions per second. The
//! committed seeds (`fuzz/seeds/merge`, real `go test -coverprofile`
//! profiles) are read only; what the run finds goes to `target/fuzz/`.
//!
//! cargo-fuzz needs nightly compiler flags; `RUSTC_BOOTSTRAP=1` lets the
//! stable toolchain accept them, so no nightly install is needed.

use std::io::{BufRead, BufReader};
use std::process::ExitCode;

use anyhow::Context;

use covcore::process::process;

use crate::util;

use crate::flags::Fuzz as Args;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = util::project_root();
    ensure_cargo_fuzz()?;
    let work = root.join("target/fuzz");
    let corpus = work.join("corpus/merge");
    let artifacts = work.join("artifacts/merge");
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut cmd = process(util::cargo());
    cmd.dir(&root)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--fuzz-dir", "fuzz", "--sanitizer", "none"])
        .arg("--target-dir")
        .arg(work.join("build"))
        .arg("merge")
        // The first corpus directory receives new inputs; the seeds stay.
        .arg(&corpus)
        .arg(root.join("fuzz/seeds/merge"))
        .arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .stderr_piped();
    eprintln!("xtask: fuzzing covmerge for {} s", args.seconds);
    let mut child = cmd.spawn()?;
    let mut runs = None;
    let mut seconds = None;
    for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
        let line = line.context("reading cargo fuzz's output")?;
        eprintln!("{line}");
        // libFuzzer's last words: "Done 123456 runs in 60 second(s)".
        if let Some(rest) = line.strip_prefix("Done ") {
            let mut words = rest.split_whitespace();
            runs = words.next().and_then(|w| w.parse::<u64>().ok());
            seconds = words.nth(2).and_then(|w| w.parse::<u64>().ok());
        }
    }
    let status = child.wait().context("waiting for cargo fuzz")?;
    cmd.check(status, &[]).with_context(|| {
        format!(
            "the fuzz target failed; the input that broke it is in {}",
            artifacts.display()
        )
    })?;
    match (runs, seconds) {
        (Some(runs), Some(secs)) => println!(
            "fuzz: {runs} runs in {secs} s, {} executions/s, no failure",
            runs / secs.max(1)
        ),
        _ => println!("fuzz: finished, no failure"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo fuzz` on PATH, or installed from crates.io.
fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let found = process(util::cargo())
        .args(["fuzz", "--version"])
        .output()
        .is_ok();
    if found {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz (cargo install cargo-fuzz)");
    process(util::cargo())
        .args(["install", "--locked", "cargo-fuzz"])
        .run()
}
