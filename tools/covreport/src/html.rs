//! One self-contained HTML page: the total, a sortable index of packages and
//! files with bars, and (with `--src`) each file's functions and its source
//! annotated per block with the block's count on a heat scale. Nothing is
//! fetched; it works from `file://`.
//!
//! The data sits in the page once, as JSON (source text and a flat block
//! table per file); a file's source is rendered only when it is opened, so
//! a profile of thousands of files loads as fast as its index. Block columns
//! are converted here from Go's byte columns to the UTF-16 offsets
//! JavaScript strings use.

use std::io::Write;

use std::collections::HashMap;

use covcore::total::Totals;
use serde_json::{json, Value};

use crate::model::Report;

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");
/// The page around them, with `{{NAME}}` where the values go.
const SKELETON: &str = include_str!("html/report.html");

/// One more column of figures (a service, a test phase): covered and total
/// statements per file and per package of its own profiles.
pub struct Series {
    name: String,
    files: HashMap<String, Totals>,
    packages: HashMap<String, Totals>,
}

impl Series {
    pub fn new(name: &str, part: &Report) -> Series {
        Series {
            name: name.to_string(),
            files: part
                .files
                .iter()
                .map(|f| (f.path.clone(), f.totals))
                .collect(),
            packages: part.packages().into_iter().collect(),
        }
    }
}

/// `[covered, statements]` per series for one row (`[0, 0]` where a series
/// has none).
fn series_figures(series: &[Series], pick: impl Fn(&Series) -> Option<Totals>) -> Value {
    Value::Array(
        series
            .iter()
            .map(|s| {
                let t = pick(s).unwrap_or_default();
                json!([t.covered, t.statements])
            })
            .collect(),
    )
}

pub fn write(report: &Report, series: &[Series], out: &mut dyn Write) -> anyhow::Result<()> {
    let all = report.totals();
    let packages: Vec<(String, Totals)> = report.packages();
    let pkg_index: std::collections::HashMap<&str, usize> = packages
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (p.as_str(), i))
        .collect();
    let mut files = Vec::with_capacity(report.files.len());
    for f in &report.files {
        let mut o = vec![
            json!(f.path),
            json!(pkg_index[f.package()]),
            json!(f.totals.covered),
            json!(f.totals.statements),
        ];
        if let Some(disk) = &f.disk {
            let src = std::fs::read(disk)
                .map_err(|e| anyhow::anyhow!("{}: cannot read {}: {e}", f.path, disk.display()))?;
            let src = String::from_utf8_lossy(&src).into_owned();
            let funcs: Vec<Value> = f
                .funcs
                .iter()
                .map(|x| json!([x.name, x.line, x.covered, x.statements]))
                .collect();
            o.push(json!(funcs));
            o.push(json!(block_table(&f.blocks, &src)));
            o.push(json!(src));
        }
        files.push(Value::Array(o));
    }
    let data = json!({
        "mode": report.mode.as_str(),
        "covered": all.covered,
        "statements": all.statements,
        "percent": all.percent_str(),
        "src": report.src.is_some(),
        "packages": packages.iter().map(|(p, t)| json!([p, t.covered, t.statements])).collect::<Vec<_>>(),
        "files": files,
        "series": series.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "seriesPackages": packages.iter().map(|(p, _)| series_figures(series, |s| s.packages.get(p).copied())).collect::<Vec<_>>(),
        "seriesFiles": report.files.iter().map(|f| series_figures(series, |s| s.files.get(&f.path).copied())).collect::<Vec<_>>(),
    });
    let data = script_safe(&serde_json::to_string(&data)?);
    crate::template::fill(
        SKELETON,
        &[
            ("PERCENT", &all.percent_str()),
            ("CSS", CSS),
            ("COVERED", &all.covered.to_string()),
            ("STATEMENTS", &all.statements.to_string()),
            ("MODE", report.mode.as_str()),
            ("DATA", &data),
            ("JS", JS),
        ],
        out,
    )?;
    Ok(())
}

/// JSON text that an HTML parser keeps whole inside a script element: no
/// `<` at all, since `</script` ends the element and `<!--` makes the
/// parser look past the next `</script>` for the end (both may sit in a
/// path, a series name or the source). The characters appear only inside
/// JSON strings, where `\u003c` (and, as Go's `json.HTMLEscape` does, `>`
/// and `&`) reads back the same.
fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

/// The blocks of one file as a flat array: start line, start column, end
/// line, end column (0-based UTF-16 offsets in the line, end exclusive),
/// count, statements.
fn block_table(blocks: &[covcore::profile::Block], src: &str) -> Vec<u64> {
    let lines: Vec<&str> = src.split('\n').collect();
    let col16 = |line: u32, col: u32| -> u64 {
        let Some(text) = lines.get(line.saturating_sub(1) as usize) else {
            return col.saturating_sub(1) as u64;
        };
        let byte = (col.saturating_sub(1) as usize).min(text.len());
        if text.is_ascii() {
            return byte as u64;
        }
        let mut b = byte;
        while !text.is_char_boundary(b) {
            b -= 1;
        }
        text[..b].encode_utf16().count() as u64
    };
    let mut out = Vec::new();
    for b in blocks {
        out.extend([
            b.pos.start_line as u64,
            col16(b.pos.start_line, b.pos.start_col),
            b.pos.end_line as u64,
            col16(b.pos.end_line, b.pos.end_col),
            b.count as u64,
            b.stmts as u64,
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn script_safe_json_reads_back_the_same_and_holds_no_angle_bracket() {
        let value = serde_json::json!({"p": "m/<!--<script>.go</script>&>", "n": [1, 2]});
        let text = super::script_safe(&serde_json::to_string(&value).unwrap());
        assert!(!text.contains(['<', '>', '&']), "{text}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
    }
}
