//! The JSON report (schema in docs/how-it-works.md): the total, then per package its
//! files and, with `--src`, their functions; statement figures are
//! covtotal's, line figures follow the rule in [`crate::model`]. Each
//! object's fields are declared in the order they are printed (by name).

use std::io::Write;

use covcore::total::Totals;
use serde::Serialize;

use crate::model::Report;

#[derive(Serialize)]
struct Root<'a> {
    covered: u64,
    lines: Lines,
    mode: &'a str,
    packages: Vec<Package<'a>>,
    percent: f64,
    statements: u64,
}

#[derive(Serialize)]
struct Package<'a> {
    covered: u64,
    files: Vec<File<'a>>,
    package: String,
    percent: f64,
    statements: u64,
}

#[derive(Serialize)]
struct File<'a> {
    covered: u64,
    file: &'a str,
    /// With `--src` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    functions: Option<Vec<Function<'a>>>,
    lines: Lines,
    percent: f64,
    /// Where the source was read, when that is not `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    statements: u64,
}

#[derive(Serialize)]
struct Function<'a> {
    covered: u64,
    function: &'a str,
    line: u32,
    percent: f64,
    statements: u64,
}

#[derive(Serialize)]
struct Lines {
    covered: u64,
    total: u64,
}

/// The one-decimal percent covtotal prints, as a JSON number.
fn percent(t: &Totals) -> f64 {
    t.percent_str().parse().expect("a decimal number")
}

fn lines(t: &Totals) -> Lines {
    Lines {
        covered: t.covered,
        total: t.statements,
    }
}

pub fn write(report: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    let packages = report
        .packages()
        .into_iter()
        .map(|(pkg, t)| Package {
            covered: t.covered,
            files: report
                .files
                .iter()
                .filter(|f| f.package() == pkg)
                .map(|f| File {
                    covered: f.totals.covered,
                    file: &f.path,
                    functions: report.src.is_some().then(|| {
                        f.funcs
                            .iter()
                            .map(|func| {
                                let t = Totals {
                                    covered: func.covered,
                                    statements: func.statements,
                                };
                                Function {
                                    covered: func.covered,
                                    function: &func.name,
                                    line: func.line,
                                    percent: percent(&t),
                                    statements: func.statements,
                                }
                            })
                            .collect()
                    }),
                    lines: lines(&f.line_totals()),
                    percent: percent(&f.totals),
                    source: (f.shown != f.path).then_some(f.shown.as_str()),
                    statements: f.totals.statements,
                })
                .collect(),
            package: pkg,
            percent: percent(&t),
            statements: t.statements,
        })
        .collect();
    let totals = report.totals();
    let root = Root {
        covered: totals.covered,
        lines: lines(&report.line_totals()),
        mode: report.mode.as_str(),
        packages,
        percent: percent(&totals),
        statements: totals.statements,
    };
    serde_json::to_writer(&mut *out, &root)?;
    out.write_all(b"\n")?;
    Ok(())
}
