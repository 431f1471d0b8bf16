//! Totals: statements in blocks with count > 0 over all statements.
//!
//! Go has two answers. Without source (the default) every block counts: the
//! figure `go test` prints as `coverage: X% of statements` and `go tool
//! covdata func` totals. With source (`--src`), `go tool cover -func` counts
//! only blocks inside function declarations, which leaves out, for example,
//! function literals in package-level `var` initialisers; see
//! [`crate::gosrc`]. On real profiles the two can differ by a tenth of a
//! percent.

use std::collections::BTreeMap;

use crate::merge::Merged;

/// Covered and total statements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub covered: u64,
    pub statements: u64,
}

impl Totals {
    pub fn add(&mut self, covered: u64, statements: u64) {
        self.covered += covered;
        self.statements += statements;
    }

    /// The percentage as Go computes it (0 when there are no statements,
    /// as `go tool cover -func` does).
    pub fn percent(&self) -> f64 {
        if self.statements == 0 {
            0.0
        } else {
            100.0 * self.covered as f64 / self.statements as f64
        }
    }

    /// The percentage with one decimal, as Go's `%.1f` prints it (Rust's
    /// formatting rounds the exact binary value half-to-even, like Go's).
    pub fn percent_str(&self) -> String {
        format_percent(self.percent())
    }
}

pub fn format_percent(p: f64) -> String {
    format!("{p:.1}")
}

/// How to break a total down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Package,
    File,
}

/// The package (directory) of a profile file name.
pub fn package_of(path: &[u8]) -> &[u8] {
    memchr::memrchr(b'/', path).map_or(b".", |i| &path[..i])
}

/// Per-file totals over every block (the source-free answer).
pub fn file_totals(merged: &Merged) -> Vec<(Vec<u8>, Totals)> {
    merged
        .files
        .iter()
        .map(|f| {
            let mut t = Totals::default();
            for b in &f.blocks {
                t.add(if b.count > 0 { b.stmts as u64 } else { 0 }, b.stmts as u64);
            }
            (f.path.clone(), t)
        })
        .collect()
}

/// Groups per-file totals by file or package, sorted by name (bytewise).
pub fn breakdown(files: &[(Vec<u8>, Totals)], by: By) -> Vec<(Vec<u8>, Totals)> {
    let mut groups: BTreeMap<Vec<u8>, Totals> = BTreeMap::new();
    for (path, t) in files {
        let key = match by {
            By::File => path.clone(),
            By::Package => package_of(path).to_vec(),
        };
        groups.entry(key).or_default().add(t.covered, t.statements);
    }
    groups.into_iter().collect()
}

/// The sum of per-file totals.
pub fn sum(files: &[(Vec<u8>, Totals)]) -> Totals {
    let mut t = Totals::default();
    for (_, f) in files {
        t.add(f.covered, f.statements);
    }
    t
}

/// The percent a baseline file saved with `covtotal --percent` holds (its
/// first non-blank line's last word, `%` allowed). `text` is the file's
/// content; a baseline that is a profile (`mode:`) is the caller's to merge.
pub fn baseline_percent(path: &std::path::Path, text: &str) -> anyhow::Result<f64> {
    use anyhow::Context;
    let (line_no, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty())
        .with_context(|| {
            format!(
                "{}:1: expected a percent such as 81.2, or a profile; the file is empty",
                path.display()
            )
        })?;
    let token = line
        .split_whitespace()
        .last()
        .unwrap_or("")
        .trim_end_matches('%');
    match token.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => anyhow::bail!(
            "{}:{}: expected a percent such as 81.2, or a profile starting with \"mode:\", found {line:?}",
            path.display(),
            line_no + 1
        ),
    }
}
