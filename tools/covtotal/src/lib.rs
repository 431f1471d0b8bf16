//! covtotal: the total coverage of Go profiles, and CI gates on it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use covcore::args::MergeArgs;
use covcore::cli;
use covcore::exit_codes::ExitStatus;
use covcore::merge::Merged;
use covcore::output::Output;
use covcore::total::{self, By, Totals};

mod by_test;

/// Print the total statement coverage of Go profiles, like
/// `go tool cover -func merged.cov | grep total`, and gate CI on it.
///
/// Several inputs are merged first (covmerge's rules), so a block listed by
/// several profiles counts once. Without --src the figure is the one
/// `go test` prints (`coverage: X% of statements`) and `go tool covdata func`
/// totals: every block counts. With --src it is the one `go tool cover -func`
/// prints: only blocks inside function declarations count (function literals
/// in package-level var initialisers do not). The two can differ by a tenth.
///
/// Gates compare the figures as printed, to one decimal. Exit 0 when every
/// gate passes, 1 when one fails, 2 on an error.
#[derive(Parser, Debug)]
#[command(name = "covtotal", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    merge: MergeArgs,

    /// Count as `go tool cover -func` does, reading the Go source under DIR: a
    /// module root (with go.mod) or a GOPATH-style root such as
    /// $(go env GOROOT)/src.
    #[arg(long, value_name = "DIR")]
    src: Option<PathBuf>,

    /// Print only the percentage, e.g. 81.2.
    #[arg(long, conflicts_with_all = ["json", "by"])]
    percent: bool,

    /// Print covered and total statements, the percent and a per-package
    /// breakdown as JSON.
    #[arg(long, conflicts_with = "by")]
    json: bool,

    /// Print a table per package or per file, with the total last; or per
    /// test, from the test map of a per-test run (`covtools cover
    /// --per-test`): the statements each test covered and those only it
    /// covered.
    #[arg(long, value_name = "package|file|test")]
    by: Option<ByArg>,

    /// With --by test: the test map [default: test-map.json beside the
    /// profile].
    #[arg(long, value_name = "FILE")]
    test_map: Option<PathBuf>,

    /// Fail (exit 1) when the total is below this percentage.
    #[arg(long, value_name = "PERCENT")]
    min: Option<f64>,

    /// The baseline to compare with: a profile, or a file holding a percent
    /// (e.g. saved from `covtotal --percent` on the main branch).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,

    /// With --baseline: fail (exit 1) when the total dropped by more than
    /// this many percentage points.
    #[arg(
        long,
        value_name = "POINTS",
        default_value_t = 0.0,
        requires = "baseline"
    )]
    max_drop: f64,

    /// Also report diff coverage: the statements on lines added or changed
    /// since the merge-base with REF (in the git checkout holding --src),
    /// and the uncovered changed lines as file:line-line.
    #[arg(long, value_name = "REF", requires = "src")]
    diff_base: Option<String>,

    /// With --diff-base: fail (exit 1) when diff coverage is below this
    /// percentage.
    #[arg(long, value_name = "PERCENT", requires = "diff_base")]
    diff_min: Option<f64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ByArg {
    Package,
    File,
    Test,
}

const EXAMPLES: &str = "Examples:
  covtotal merged.cov                      total: (statements) 81.2%
  covtotal --percent cover/*.out           81.2
  covtotal --by package merged.cov
  covtotal --by test merged.cov            per test, from test-map.json beside it
  covtotal --src . --min 75 merged.cov     exit 1 below 75%
  covtotal --baseline main.pct --max-drop 0.5 merged.cov
  covtotal --src . --diff-base origin/main --diff-min 80 merged.cov";

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(min) = cli.min {
        if !(0.0..=100.0).contains(&min) {
            bail!("--min {min}: expected a percentage from 0 to 100");
        }
    }
    if cli.max_drop < 0.0 || !cli.max_drop.is_finite() {
        bail!(
            "--max-drop {}: expected a non-negative number of points",
            cli.max_drop
        );
    }
    // A closed stdout fails before any work.
    let output = Output::open(None)?;
    if let Some(min) = cli.diff_min {
        if !(0.0..=100.0).contains(&min) {
            bail!("--diff-min {min}: expected a percentage from 0 to 100");
        }
    }
    let changes = match (&cli.diff_base, &cli.src) {
        (Some(base), Some(src)) => Some(covcore::diff::changed_lines(src, base)?),
        _ => None,
    };
    // Read the baseline first: a bad baseline must fail before any output.
    let baseline = match &cli.baseline {
        Some(path) => Some(read_baseline(path, &cli)?),
        None => None,
    };
    let merged = cli.merge.merge()?;
    let files = file_totals(&merged, cli.src.as_deref())?;
    let all = total::sum(&files);
    let shown = all.percent_str();

    let out: Vec<u8> = if cli.percent {
        format!("{shown}\n").into_bytes()
    } else if cli.json {
        json(&all, &total::breakdown(&files, By::Package))?
    } else if let Some(ByArg::Test) = cli.by {
        let path = by_test::map_path(cli.test_map.as_deref(), &cli.merge.inputs)?;
        by_test::table(&covcore::testmap::TestMap::read(&path)?)?
    } else if let Some(by) = cli.by {
        let by = match by {
            ByArg::Package | ByArg::Test => By::Package,
            ByArg::File => By::File,
        };
        table(&total::breakdown(&files, by), &all, by)
    } else {
        format!("total: (statements) {shown}%\n").into_bytes()
    };
    let mut out = out;
    let diff = match &changes {
        Some(changes) => Some(covcore::diff::coverage(changes, &merged.files)?),
        None => None,
    };
    if let (Some(d), false) = (&diff, cli.percent || cli.json) {
        out.extend_from_slice(diff_lines(d).as_bytes());
    }
    output.write(|stdout| Ok(stdout.write_all(&out)?))?;

    // Gates compare the printed one-decimal figures, so that what CI shows
    // and what it decides agree.
    let now: f64 = shown.parse().expect("formatted float");
    let mut passed = true;
    if let Some(min) = cli.min {
        if now < min {
            eprintln!(
                "{}: total {shown}% is below the minimum {min}%",
                cli::prog_name()
            );
            passed = false;
        }
    }
    if let Some(old) = baseline {
        let old_shown = total::format_percent(old);
        let old: f64 = old_shown.parse().expect("formatted float");
        let delta = now - old;
        let verdict = if -delta > cli.max_drop + 1e-9 {
            passed = false;
            format!("dropped by more than the allowed {}", cli.max_drop)
        } else {
            "ok".to_string()
        };
        eprintln!(
            "{}: baseline {old_shown}% -> now {shown}% (delta {delta:+.1}): {verdict}",
            cli::prog_name()
        );
    }
    if let (Some(d), Some(min)) = (&diff, cli.diff_min) {
        let t = d.totals();
        let shown = t.percent_str();
        if t.statements > 0 && shown.parse::<f64>().expect("formatted float") < min {
            eprintln!(
                "{}: diff coverage {shown}% is below the minimum {min}%",
                cli::prog_name()
            );
            passed = false;
        }
    }
    Ok(ExitStatus::negative_unless(passed).into())
}

/// The diff coverage lines: the figure, then one `uncovered:` line per
/// range of uncovered changed lines.
fn diff_lines(d: &covcore::diff::DiffCoverage) -> String {
    let t = d.totals();
    let mut out = if t.statements == 0 {
        format!(
            "diff: (statements) no changed statements since {}\n",
            d.base
        )
    } else {
        format!(
            "diff: (statements) {}% ({} of {} changed statements covered since {})\n",
            t.percent_str(),
            t.covered,
            t.statements,
            d.base
        )
    };
    for r in d.uncovered_ranges() {
        out.push_str(&format!("uncovered: {r}\n"));
    }
    out
}

/// Per-file totals: every block, or with `src` only blocks inside function
/// declarations (`go tool cover -func`).
fn file_totals(merged: &Merged, src: Option<&Path>) -> anyhow::Result<Vec<(Vec<u8>, Totals)>> {
    let Some(dir) = src else {
        return Ok(total::file_totals(merged));
    };
    let root = covcore::gosrc::SourceRoot::open(dir)?;
    let funcs = covcore::gosrc::func_coverage(&root, &merged.files)?;
    // Functions come grouped by file, in file order.
    let mut files: Vec<(Vec<u8>, Totals)> = Vec::new();
    for f in funcs {
        if files.last().is_none_or(|(path, _)| *path != f.file) {
            files.push((f.file.clone(), Totals::default()));
        }
        files
            .last_mut()
            .expect("pushed")
            .1
            .add(f.covered, f.statements);
    }
    Ok(files)
}

/// A baseline: a profile (its total, counted like the current one) or a
/// file holding a percent such as `81.2`, `81.2%` or covtotal's own line.
fn read_baseline(path: &Path, cli: &Cli) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--baseline {}: cannot read", path.display()))?;
    if text.trim_start().starts_with("mode:") {
        let mut args = cli.merge.clone();
        args.inputs = vec![path.display().to_string()];
        let merged = args.merge()?;
        return Ok(total::sum(&file_totals(&merged, cli.src.as_deref())?).percent());
    }
    covcore::total::baseline_percent(path, &text)
}

/// The table of `--by`: names as the profile spells them (bytes), padded
/// by characters (by bytes where a name is not UTF-8).
fn table(rows: &[(Vec<u8>, Totals)], all: &Totals, by: By) -> Vec<u8> {
    let head = match by {
        By::Package => "PACKAGE",
        By::File => "FILE",
    };
    let width = rows
        .iter()
        .map(|(n, _)| shown_len(n))
        .chain([head.len(), "total".len()])
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    let mut row = |name: &[u8], cells: String| {
        out.extend_from_slice(name);
        out.resize(out.len() + width - shown_len(name), b' ');
        out.extend_from_slice(cells.as_bytes());
    };
    row(
        head.as_bytes(),
        format!(
            "  {:>10}  {:>10}  {:>7}\n",
            "COVERED", "STATEMENTS", "PERCENT"
        ),
    );
    for (name, t) in rows
        .iter()
        .map(|(n, t)| (n.as_slice(), t))
        .chain([(&b"total"[..], all)])
    {
        row(
            name,
            format!(
                "  {:>10}  {:>10}  {:>6}%\n",
                t.covered,
                t.statements,
                t.percent_str()
            ),
        );
    }
    out
}

fn shown_len(name: &[u8]) -> usize {
    std::str::from_utf8(name).map_or(name.len(), |s| s.chars().count())
}

/// `--json`: the total and a per-package breakdown. Percents are the
/// printed one-decimal figures. JSON strings are Unicode: a package name
/// that is not UTF-8 shows U+FFFD for its bad bytes.
#[derive(serde::Serialize)]
struct Json {
    covered: u64,
    statements: u64,
    percent: f64,
    packages: Vec<JsonPackage>,
}

#[derive(serde::Serialize)]
struct JsonPackage {
    package: String,
    covered: u64,
    statements: u64,
    percent: f64,
}

fn json(all: &Totals, packages: &[(Vec<u8>, Totals)]) -> anyhow::Result<Vec<u8>> {
    // The one-decimal text parsed back: serde_json prints the shortest
    // form, so 81.2 stays 81.2 and 100 stays 100.0.
    let shown = |t: &Totals| t.percent_str().parse::<f64>().expect("formatted float");
    let doc = Json {
        covered: all.covered,
        statements: all.statements,
        percent: shown(all),
        packages: packages
            .iter()
            .map(|(name, t)| JsonPackage {
                package: String::from_utf8_lossy(name).into_owned(),
                covered: t.covered,
                statements: t.statements,
                percent: shown(t),
            })
            .collect(),
    };
    let mut out = serde_json::to_vec(&doc)?;
    out.push(b'\n');
    Ok(out)
}
