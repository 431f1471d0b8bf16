//! `cargo xtask bench --covdata`: reading a GOCOVERDIR, covmerge against
//! `go tool covdata textfmt` (and covtotal against `go tool covdata func`)
//! on the same real data, in the same run. Target: covmerge at least 10×
//! faster than textfmt.
//!
//! The data is real: the `strings` tests built with
//! `-cover -covermode=atomic -coverpkg=std` (every standard-library package
//! the binary links is instrumented), run once per test pattern into one
//! cover directory, so it holds one large meta-data file and a counter file
//! per process. Made once (a few minutes) and cached in
//! target/bench-data/covdata-v1/.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use covcore::exit_codes::ExitStatus;

use anyhow::ensure;
use covcore::process::process;

use super::measure::{measure, summarize};
use crate::flags;
use covjob::toolchain;

/// covmerge must be at least this many times faster than textfmt.
const MIN_SPEEDUP: f64 = 10.0;

/// One process per pattern: different tests, different counters.
const PATTERNS: &[&str] = &[
    "TestIndex",
    "TestSplit",
    "TestMap",
    "TestTrim",
    "TestReplace",
    "TestFields",
    "TestBuilder",
    "TestReader",
    "TestTitle",
    "TestToUpper",
    "TestToLower",
    "TestRepeat",
    "TestEqualFold",
    "TestCount",
    "TestCut",
    "TestContains",
    "TestLastIndex",
    "TestIndexAny",
    "TestCompare",
    "TestClone",
    "TestLines",
    "TestSplitSeq",
    "TestFieldsFunc",
    "TestCaseConsistency",
    "TestIndexRune",
    "TestMapAllocs",
    "TestTrimFunc",
    "TestSpecialCase",
    "TestPrefix",
    "TestSuffix",
    "TestRunes",
    "Example",
];

pub fn run(args: &flags::Bench, root: &Path) -> anyhow::Result<ExitCode> {
    let go = toolchain::ensure_go()?;
    let data = root.join("target/bench-data/covdata-v1");
    let covdir = ensure_data(&go, &data)?;
    if args.gen_only {
        println!("covdata: {}", covdir.display());
        return Ok(ExitCode::SUCCESS);
    }
    super::build_release_bins(root)?;
    let release = root.join("target/release");
    let (covmerge, covtotal) = (release.join("covmerge"), release.join("covtotal"));
    let go_out = data.join("textfmt.out");
    let ours_out = data.join("covmerge.out");

    // Correctness first: the same profile as Go's (after covmerge's normal
    // form) and the same total.
    run_go(&go, &["tool", "covdata", "textfmt"], &covdir, Some(&go_out))?;
    let go_norm = process(&covmerge).arg(&go_out).read()?;
    let ours = process(&covmerge).arg(&covdir).read()?;
    ensure!(
        ours == go_norm,
        "covmerge {} differs from go tool covdata textfmt",
        covdir.display()
    );
    let func = run_go(&go, &["tool", "covdata", "func"], &covdir, None)?;
    let go_pct = func
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_default()
        .to_string();
    let total = process(&covtotal).arg(&covdir).read()?;
    ensure!(
        total.trim_end().ends_with(&go_pct),
        "covtotal says {total:?}, go tool covdata func {go_pct}"
    );

    let files = fs::read_dir(&covdir)?.count();
    let bytes: u64 = fs::read_dir(&covdir)?
        .flatten()
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    println!();
    println!(
        "covdata: reading a GOCOVERDIR ({files} files, {:.1} MB: strings tests, -coverpkg=std, one process per test pattern; {} profile lines)",
        bytes as f64 / 1e6,
        ours.lines().count() - 1
    );
    let i_flag = format!("-i={}", covdir.display());
    let o_flag = format!("-o={}", go_out.display());
    let go_textfmt = [
        go.as_os_str(),
        "tool".as_ref(),
        "covdata".as_ref(),
        "textfmt".as_ref(),
        i_flag.as_ref(),
        o_flag.as_ref(),
    ];
    let ours_merge = [
        covmerge.as_os_str(),
        covdir.as_os_str(),
        "-o".as_ref(),
        ours_out.as_os_str(),
    ];
    let go_func = [
        go.as_os_str(),
        "tool".as_ref(),
        "covdata".as_ref(),
        "func".as_ref(),
        i_flag.as_ref(),
    ];
    let ours_total = [covtotal.as_os_str(), covdir.as_os_str()];
    let mut rows = Vec::new();
    for (name, cmd) in [
        ("go tool covdata textfmt", &go_textfmt[..]),
        ("covmerge DIR -o OUT", &ours_merge[..]),
        ("go tool covdata func", &go_func[..]),
        ("covtotal DIR", &ours_total[..]),
    ] {
        measure(cmd)?; // warm the page cache (and Go's build cache)
        let runs = (0..args.runs)
            .map(|_| {
                // Each run writes a new file, as a CI job's first run does.
                let _ = fs::remove_file(&go_out);
                let _ = fs::remove_file(&ours_out);
                measure(cmd)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (median, fastest, rss) = summarize(&runs);
        println!("  {name:<24} {median:>7.3} s (fastest {fastest:.3} s)  peak RSS {rss:>6.1} MiB");
        rows.push(median);
    }
    let (merge_x, total_x) = (rows[0] / rows[1], rows[2] / rows[3]);
    println!("  speedup   covmerge {merge_x:.1}x textfmt, covtotal {total_x:.1}x func");
    let met = merge_x >= MIN_SPEEDUP;
    println!(
        "  target    covmerge >= {MIN_SPEEDUP}x faster than textfmt (is {merge_x:.1}x): {}",
        if met { "met" } else { "MISSED" }
    );
    let _ = fs::remove_file(&ours_out);
    Ok(if met {
        ExitCode::SUCCESS
    } else {
        ExitStatus::Negative.into()
    })
}

/// The cover directory, made unless a complete one is cached.
fn ensure_data(go: &Path, data: &Path) -> anyhow::Result<PathBuf> {
    let covdir = data.join("gocoverdir");
    let done = data.join("complete");
    if done.is_file() {
        return Ok(covdir);
    }
    let _ = fs::remove_dir_all(data);
    fs::create_dir_all(&covdir)?;
    let exe = data.join("strings.test");
    eprintln!("bench: building the strings tests with -coverpkg=std (once; minutes on two cores)");
    let mut build = process(go);
    toolchain::go_env(&mut build);
    build
        .args([
            "test",
            "-c",
            "-cover",
            "-covermode=atomic",
            "-coverpkg=std",
            "-o",
        ])
        .arg(&exe)
        .arg("strings")
        .run()?;
    let goroot = process(go).args(["env", "GOROOT"]).read()?;
    let pkg_dir = PathBuf::from(goroot.trim()).join("src/strings");
    eprintln!(
        "bench: running them {} times into {}",
        PATTERNS.len(),
        covdir.display()
    );
    for p in PATTERNS {
        // Go's tests say what failed on stdout.
        process(&exe)
            .dir(&pkg_dir)
            .arg(format!("-test.gocoverdir={}", covdir.display()))
            .arg(format!("-test.run={p}"))
            .stderr_to_stdout()
            .output()?;
    }
    fs::remove_file(&exe)?;
    fs::write(&done, "")?;
    Ok(covdir)
}

fn run_go(go: &Path, args: &[&str], covdir: &Path, out: Option<&Path>) -> anyhow::Result<String> {
    let mut cmd = process(go);
    toolchain::go_env(&mut cmd);
    cmd.args(args).arg(format!("-i={}", covdir.display()));
    if let Some(out) = out {
        cmd.arg(format!("-o={}", out.display()));
    }
    cmd.read()
}
