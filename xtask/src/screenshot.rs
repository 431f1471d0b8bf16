//! `cargo xtask report-screenshot`: covreport's HTML page as a person sees
//! it, in PNGs taken by headless Chromium (the index, and one file's
//! annotated source), so that a change to the page can be looked at.

use covcore::exit_codes::ExitStatus;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

use covcore::process::process;

use crate::util;
use covjob::toolchain;

#[derive(clap::Args)]
pub struct Args {
    /// The profile to show; default: a fresh `go test -coverprofile` of the
    /// bundled example (tests/example).
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,

    /// The Go source of the profile (default: tests/example).
    #[arg(long, value_name = "DIR")]
    src: Option<PathBuf>,

    /// Where the page and the PNGs go.
    #[arg(long, value_name = "DIR", default_value = "target/report-screenshot")]
    out: PathBuf,

    /// The file to open for the second PNG: its index in the page's file
    /// list, or `covered` for the first file with a covered statement.
    #[arg(long, default_value = "covered")]
    open: String,

    /// Instead: the "covered by" view of a per-test run (the shop's e2e
    /// suite as local processes, `covtools cover --per-test`): a file with
    /// its tests per line, and a test's page.
    #[arg(long)]
    tests: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = util::project_root();
    let out = root.join(&args.out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    if args.tests {
        let html = per_test_page(&out)?;
        crate::consumers::ensure_report_consumers()?;
        shoot(
            &out,
            &html,
            &[
                ("report-tests-file.png", "#file=tests", 3600),
                ("report-tests-test.png", "#test=4", 900),
            ],
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let src = args.src.unwrap_or_else(|| root.join("tests/example"));
    let profile = match args.profile {
        Some(p) => p,
        None => {
            let go = toolchain::ensure_go()?;
            let p = out.join("example.out");
            let mut cmd = process(&go);
            cmd.dir(&src)
                .args(["test", "-covermode=count"])
                .arg(format!("-coverprofile={}", p.display()))
                .arg("./...");
            toolchain::go_env(&mut cmd);
            cmd.run()?;
            p
        }
    };
    let html = out.join("report.html");
    process(util::cargo())
        .dir(&root)
        .args(["run", "-q", "--release", "--bin", "covreport", "--"])
        .args(["--format", "html", "--src"])
        .arg(&src)
        .arg(&profile)
        .arg("-o")
        .arg(&html)
        .run()?;
    crate::consumers::ensure_report_consumers()?;
    let file = format!("#file={}", args.open);
    shoot(
        &out,
        &html,
        &[
            ("report-index.png", "", 900),
            ("report-file.png", &file, 900),
        ],
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The HTML report of a per-test run of the shop's e2e suite.
fn per_test_page(out: &std::path::Path) -> anyhow::Result<PathBuf> {
    let tools = util::covtools_bins(None)?;
    let run = out.join("per-test");
    let report = util::cover_local(
        &util::example_dir(),
        &run,
        &tools,
        &[
            "--reports",
            "html",
            "--per-test",
            "--",
            "go",
            "test",
            "-count=1",
            "./e2e",
        ],
    )?;
    if report.code != ExitStatus::Success {
        bail!(
            "the per-test run failed (exit {}): {:?}",
            report.code,
            report.error
        );
    }
    Ok(run.join("report.html"))
}

/// PNGs of the page at each hash (with the window's height), by headless
/// Chromium.
fn shoot(
    out: &std::path::Path,
    html: &std::path::Path,
    shots: &[(&str, &str, u32)],
) -> anyhow::Result<()> {
    for (png, hash, height) in shots {
        let path = out.join(png);
        process("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                &format!("--window-size=1280,{height}"),
                "--virtual-time-budget=5000",
            ])
            .arg(format!(
                "--user-data-dir={}",
                out.join("chromium-profile").display()
            ))
            .arg(format!("--screenshot={}", path.display()))
            .arg(format!("file://{}{hash}", html.display()))
            .stderr_null()
            .run()?;
        if !path.is_file() {
            bail!("chromium --screenshot wrote no {}", path.display());
        }
        println!("{}", path.display());
    }
    Ok(())
}
