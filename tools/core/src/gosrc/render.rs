//! The text `go tool cover -func` prints.

use std::fmt::Write as _;

use super::funcs::{func_total, percent, FuncCoverage};

/// The exact text `go tool cover -func` prints: `file:line:`, name and
/// percent per function, then the total, aligned as its text/tabwriter
/// (minwidth 1, tabwidth 8, padding 1, tab padding) aligns them. File names
/// that are not UTF-8 are shown with U+FFFD (this text is for people).
pub fn render_cover_func(funcs: &[FuncCoverage]) -> String {
    let (covered, total) = func_total(funcs);
    let mut rows: Vec<[String; 3]> = funcs
        .iter()
        .map(|f| {
            [
                format!("{}:{}:", String::from_utf8_lossy(&f.file), f.line),
                f.name.clone(),
                format!("{:.1}%", f.percent()),
            ]
        })
        .collect();
    rows.push([
        "total:".into(),
        "(statements)".into(),
        format!("{:.1}%", percent(covered, total)),
    ]);
    // Every line has two tab-terminated cells, so all lines form one column
    // block per column; a cell's width is its rune count.
    let width = |col: usize| {
        rows.iter()
            .map(|r| r[col].chars().count() + 1)
            .max()
            .unwrap_or(1)
            .max(1)
    };
    let widths = [width(0), width(1)];
    let mut out = String::new();
    for r in &rows {
        for (col, &w) in widths.iter().enumerate() {
            let textw = r[col].chars().count();
            let cellw = w.div_ceil(8) * 8;
            out.push_str(&r[col]);
            for _ in 0..(cellw - textw).div_ceil(8) {
                out.push('\t');
            }
        }
        let _ = writeln!(out, "{}", r[2]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_matches_tabwriter_layout() {
        let fc = |file: &str, line, name: &str, covered, statements| FuncCoverage {
            file: file.into(),
            line,
            name: name.into(),
            covered,
            statements,
        };
        let out = render_cover_func(&[
            fc("m/a.go", 3, "F", 1, 3),
            fc("m/a.go", 10, "LongerName", 0, 0),
        ]);
        // Column 0: widest "m/a.go:10:" (10) + 1 = 11 → 16; column 1:
        // "(statements)" (12) + 1 = 13 → 16.
        assert_eq!(
            out,
            "m/a.go:3:\tF\t\t33.3%\nm/a.go:10:\tLongerName\t0.0%\ntotal:\t\t(statements)\t33.3%\n"
        );
    }

    #[test]
    fn percent_rounds_like_go() {
        assert_eq!(format!("{:.1}", percent(1, 400)), "0.2");
        assert_eq!(format!("{:.1}", percent(3, 400)), "0.8");
        assert_eq!(format!("{:.1}", percent(0, 0)), "0.0");
        assert_eq!(format!("{:.1}", percent(1999, 2000)), "100.0");
    }
}
