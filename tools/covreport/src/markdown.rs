//! A Markdown summary for a pull-request comment or `$GITHUB_STEP_SUMMARY`:
//! the total, the delta to a baseline, the worst packages and, with a diff
//! base, the diff coverage and its uncovered changed lines.

use std::fmt::Write as _;
use std::io::Write;

use covcore::diff::DiffCoverage;
use covcore::total::format_percent;

use crate::model::Report;

/// How many packages the table lists, lowest coverage first.
const WORST: usize = 10;
/// How many uncovered ranges are listed before "and N more".
const RANGES: usize = 30;

pub fn write(
    report: &Report,
    baseline: Option<f64>,
    diff: Option<&DiffCoverage>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let all = report.totals();
    let shown = all.percent_str();
    let mut md = String::new();
    writeln!(md, "### Coverage: {shown}%\n")?;
    write!(
        md,
        "{} of {} statements covered",
        all.covered, all.statements
    )?;
    if let Some(old) = baseline {
        let old_shown = format_percent(old);
        let now: f64 = shown.parse().expect("formatted float");
        let old_r: f64 = old_shown.parse().expect("formatted float");
        write!(
            md,
            "; baseline {old_shown}% → {shown}% ({:+.1})",
            now - old_r
        )?;
    }
    md.push_str(".\n\n");
    if let Some(d) = diff {
        let t = d.totals();
        if t.statements == 0 {
            writeln!(
                md,
                "**Diff coverage** (since {}): no changed statements.\n",
                code(&d.base)
            )?;
        } else {
            writeln!(
                md,
                "**Diff coverage** (since {}): {}% ({} of {} changed statements covered).\n",
                code(&d.base),
                t.percent_str(),
                t.covered,
                t.statements
            )?;
        }
        let ranges = d.uncovered_ranges();
        if !ranges.is_empty() {
            md.push_str("Uncovered changed lines:\n\n");
            for r in ranges.iter().take(RANGES) {
                writeln!(md, "- {}", code(r))?;
            }
            if ranges.len() > RANGES {
                writeln!(md, "- … and {} more", ranges.len() - RANGES)?;
            }
            md.push('\n');
        }
    }
    let mut packages = report.packages();
    packages.retain(|(_, t)| t.statements > 0);
    packages.sort_by(|a, b| {
        a.1.percent()
            .partial_cmp(&b.1.percent())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    if !packages.is_empty() {
        let n = packages.len().min(WORST);
        writeln!(
            md,
            "| Package ({n} lowest of {}) | Covered | Statements | Coverage |",
            packages.len()
        )?;
        md.push_str("| --- | ---: | ---: | ---: |\n");
        for (name, t) in packages.iter().take(n) {
            writeln!(
                md,
                "| {} | {} | {} | {}% |",
                code(name).replace('|', "\\|"),
                t.covered,
                t.statements,
                t.percent_str()
            )?;
        }
    }
    out.write_all(md.as_bytes())?;
    Ok(())
}

/// `text` as one CommonMark code span, whatever backticks it holds: fenced
/// by one backtick more than its longest run of them, with a space inside
/// each fence when the text starts or ends with a backtick, or with a
/// space at both ends (the reader strips one space from each end then).
fn code(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let spaced = text.starts_with(' ') && text.ends_with(' ') && text.trim() != "";
    if text.starts_with('`') || text.ends_with('`') || spaced {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_spans_hold_any_backticks() {
        assert_eq!(super::code("m/p"), "`m/p`");
        assert_eq!(super::code("m/a`b"), "``m/a`b``");
        assert_eq!(super::code("m/a``b`"), "``` m/a``b` ```");
        assert_eq!(super::code("`"), "`` ` ``");
        assert_eq!(super::code(" x "), "`  x  `");
    }
}
