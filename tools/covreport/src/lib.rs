//! covreport: a Go coverage profile in, a report out (lcov, Cobertura, JSON,
//! HTML, Markdown, an SVG badge).

mod badge;
mod cobertura;
mod html;
mod html_tests;
mod json;
mod lcov;
mod markdown;
pub mod model;
mod template;
mod testwise;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use covcore::args::MergeArgs;
use covcore::gosrc::SourceRoot;
use covcore::total;

use crate::model::Report;
pub use html::Series;

/// Write a report of Go coverage profiles: lcov or Cobertura for CI and
/// coverage services, JSON, a self-contained HTML page, a Markdown summary
/// for a pull request, or an SVG badge.
///
/// Several inputs are merged first (covmerge's rules). lcov and Cobertura
/// need no source: a line's hits are the largest count of the blocks that
/// span it. With --src, statement totals are those of `go tool cover -func`
/// (as `covtotal --src`), file names are relative to DIR, functions are
/// listed and the HTML shows the annotated source.
#[derive(Parser, Debug)]
#[command(name = "covreport", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    merge: MergeArgs,

    /// The report to write.
    #[arg(long, short = 'f', value_name = "FORMAT")]
    format: Format,

    /// Write here (atomically: a failed run leaves an existing file
    /// untouched) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// The Go source: a module root (with go.mod) or a GOPATH-style root.
    #[arg(long, value_name = "DIR")]
    src: Option<PathBuf>,

    /// markdown: the baseline to show the delta to, a profile or a file
    /// holding a percent (`covtotal --percent` on the main branch).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,

    /// markdown: list the uncovered lines changed since the merge-base with
    /// REF (a git checkout; needs --src).
    #[arg(long, value_name = "REF", requires = "src")]
    diff_base: Option<String>,

    /// html: one more column of figures per series, NAME=PROFILES (a file
    /// or a quoted glob, merged like the inputs; repeatable), e.g. one per
    /// service: --series orders='cover/profiles/orders.*.out'.
    #[arg(long, value_name = "NAME=PROFILES", value_parser = parse_series)]
    series: Vec<(String, String)>,

    /// The test map of a per-test run (`covtools cover --per-test`): html
    /// shows per line the tests that ran it and a page per test; testwise
    /// needs it (and no profile).
    #[arg(long, value_name = "FILE")]
    test_map: Option<PathBuf>,

    /// badge: green at or above this percent.
    #[arg(long, value_name = "PERCENT", default_value_t = GREEN)]
    green: f64,

    /// badge: yellow at or above this percent (red below).
    #[arg(long, value_name = "PERCENT", default_value_t = YELLOW)]
    yellow: f64,
}

/// The badge's default thresholds.
const GREEN: f64 = 80.0;
const YELLOW: f64 = 60.0;

/// A report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Lcov,
    Cobertura,
    Json,
    Html,
    Markdown,
    Badge,
    /// Teamscale's testwise coverage JSON, from --test-map.
    Testwise,
}

const EXAMPLES: &str = "Examples:
  covreport --format lcov merged.cov -o lcov.info
  covreport --format cobertura --src . merged.cov -o cobertura.xml
  covreport --format html --src . 'cover/*.out' -o report.html
  covreport --format markdown --baseline main.pct --src . --diff-base origin/main merged.cov
  covreport --format badge merged.cov -o badge.svg
  covreport --format html --src . --test-map test-map.json merged.cov -o report.html
  covreport --format testwise --src . --test-map test-map.json -o testwise.json";

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    for (name, p) in [("--green", cli.green), ("--yellow", cli.yellow)] {
        if !(0.0..=100.0).contains(&p) {
            bail!("{name} {p}: expected a percentage from 0 to 100");
        }
    }
    let baseline = match &cli.baseline {
        Some(path) => Some(read_baseline(path, &cli)?),
        None => None,
    };
    let src = cli.src.as_deref().map(SourceRoot::open).transpose()?;
    let test_map = match &cli.test_map {
        Some(p) => Some(covcore::testmap::TestMap::read(p)?),
        None => None,
    };
    if cli.format == Format::Testwise {
        let map = test_map.context("--format testwise needs --test-map FILE")?;
        covcore::output::write_to(cli.output.as_deref(), |out: &mut dyn Write| {
            testwise::write(&map, src.as_ref(), out)
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let diff = match (&cli.diff_base, &src) {
        (Some(base), Some(_)) => Some(covcore::diff::changed_lines(
            cli.src.as_deref().expect("requires src"),
            base,
        )?),
        _ => None,
    };
    let merged = cli.merge.merge()?;
    let report = Report::new(&merged, src)?;
    let mut series = Vec::new();
    for (name, profiles) in &cli.series {
        let mut args = cli.merge.clone();
        args.inputs = vec![profiles.clone()];
        let part = args
            .merge()
            .with_context(|| format!("--series {name}={profiles}"))?;
        let part = Report::new(&part, report.src.clone())?;
        series.push(html::Series::new(name, &part));
    }
    let diff = match diff {
        Some(changes) => Some(covcore::diff::coverage(&changes, &merged.files)?),
        None => None,
    };
    let extras = Extras {
        series: &series,
        baseline,
        diff: diff.as_ref(),
        green: cli.green,
        yellow: cli.yellow,
        test_map: test_map.as_ref(),
    };
    covcore::output::write_to(cli.output.as_deref(), |out: &mut dyn Write| {
        write(cli.format, &report, &extras, out)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// What some formats show besides the profile.
pub struct Extras<'a> {
    /// html: more columns of figures.
    pub series: &'a [Series],
    /// markdown: the percent to show the delta to.
    pub baseline: Option<f64>,
    /// markdown: the diff coverage.
    pub diff: Option<&'a covcore::diff::DiffCoverage>,
    /// badge: green at or above this percent, yellow at or above `yellow`.
    pub green: f64,
    pub yellow: f64,
    /// html: the tests that ran each line, and a page per test.
    pub test_map: Option<&'a covcore::testmap::TestMap>,
}

impl Default for Extras<'_> {
    fn default() -> Self {
        Extras {
            series: &[],
            baseline: None,
            diff: None,
            green: GREEN,
            yellow: YELLOW,
            test_map: None,
        }
    }
}

/// Writes `report` in `format` (the fuzz target and library callers use
/// this as the CLI does).
pub fn write(
    format: Format,
    report: &Report,
    extras: &Extras,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        Format::Lcov => lcov::write(report, out),
        Format::Cobertura => cobertura::write(report, out),
        Format::Json => json::write(report, out),
        Format::Html => match extras.test_map {
            Some(map) => {
                let mut page = Vec::new();
                html::write(report, extras.series, &mut page)?;
                out.write_all(&html_tests::embed(page, map)?)?;
                Ok(())
            }
            None => html::write(report, extras.series, out),
        },
        Format::Markdown => markdown::write(report, extras.baseline, extras.diff, out),
        Format::Badge => badge::write(report, extras.green, extras.yellow, out),
        Format::Testwise => anyhow::bail!("--format testwise is written from the test map alone"),
    }
}

fn parse_series(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, profiles)) if !name.is_empty() && !profiles.is_empty() => {
            Ok((name.to_string(), profiles.to_string()))
        }
        _ => Err(format!("{s:?}: expected NAME=PROFILES")),
    }
}

/// A baseline: a profile (its total, counted like the current one) or a
/// file whose first non-blank line ends with a percent (`81.2`, `81.2%`,
/// covtotal's `total: (statements) 81.2%`).
fn read_baseline(path: &std::path::Path, cli: &Cli) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--baseline {}: cannot read", path.display()))?;
    if text.trim_start().starts_with("mode:") {
        let mut args = cli.merge.clone();
        args.inputs = vec![path.display().to_string()];
        let merged = args.merge()?;
        let src = cli.src.as_deref().map(SourceRoot::open).transpose()?;
        return Ok(Report::new(&merged, src)?.totals().percent());
    }
    covcore::total::baseline_percent(path, &text)
}

/// A ratio in 0..=1 for line-rate attributes: enough digits for readers to
/// recompute the percent exactly.
fn rate(t: &total::Totals) -> String {
    if t.statements == 0 {
        "1".into()
    } else {
        let r = t.covered as f64 / t.statements as f64;
        format!("{}", (r * 1e6).round() / 1e6)
    }
}

/// Escapes text for XML attributes and content. XML 1.0 has no way to
/// write most control characters (not even as `&#1;`) nor U+FFFE and
/// U+FFFF: a name holding one is refused, naming it, rather than written
/// into a file no XML reader accepts.
fn xml_escape(s: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => bail!(
                "{s:?}: holds the character U+{:04X}, which XML 1.0 cannot carry",
                c as u32
            ),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_escape_refuses_what_xml_cannot_carry() {
        assert_eq!(
            super::xml_escape("a<b>&\"'\té").unwrap(),
            "a&lt;b&gt;&amp;&quot;&apos;\té"
        );
        for bad in ["m/a\u{1}b.go", "\u{0}", "x\u{1f}", "\u{fffe}", "\u{ffff}"] {
            let err = super::xml_escape(bad).unwrap_err().to_string();
            assert!(err.contains("XML 1.0 cannot carry"), "{err}");
        }
    }
}
