//! Profile text read here independently of covcore: block lines parsed from
//! the right, a profile put in covmerge's order, its set of blocks.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

pub type Key = (Vec<u8>, u32, u32, u32, u32);

/// (key, numStmt, count) of one block line, parsed from the right.
pub fn parse_block(line: &str) -> (Key, u32, u64) {
    fn bad<T>(line: &str) -> T {
        panic!("not a block line: {line:?}")
    }
    fn num<T: std::str::FromStr>(s: &str, line: &str) -> T {
        s.parse().unwrap_or_else(|_| bad(line))
    }
    let (rest, count) = line.rsplit_once(' ').unwrap_or_else(|| bad(line));
    let (rest, ns) = rest.rsplit_once(' ').unwrap_or_else(|| bad(line));
    let (file, pos) = rest.rsplit_once(':').unwrap_or_else(|| bad(line));
    let (start, end) = pos.split_once(',').unwrap_or_else(|| bad(line));
    let lc = |s: &str| -> (u32, u32) {
        let (l, c) = s.split_once('.').unwrap_or_else(|| bad(line));
        (num(l, line), num(c, line))
    };
    let ((sl, sc), (el, ec)) = (lc(start), lc(end));
    (
        (file.as_bytes().to_vec(), sl, sc, el, ec),
        num(ns, line),
        num(count, line),
    )
}

/// The block lines of a profile (after its one mode line).
pub fn block_lines(text: &str) -> Vec<&str> {
    let mut lines = text.lines();
    let mode = lines.next().unwrap_or_default();
    assert!(
        mode.starts_with("mode: "),
        "no mode line at the start of:\n{}",
        head(text)
    );
    lines.filter(|l| !l.is_empty()).collect()
}

/// A profile with its blocks in covmerge's order: path bytewise, start line,
/// start column, end line, end column.
pub fn sorted_profile(text: &str) -> String {
    let mode = text.lines().next().unwrap_or_default();
    let mut blocks = block_lines(text)
        .into_iter()
        .map(|l| (parse_block(l).0, l))
        .collect::<Vec<_>>();
    blocks.sort();
    let mut out = format!("{mode}\n");
    for (_, l) in blocks {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The set of `file:pos numStmt` of a profile, counts left out.
pub fn block_set(text: &str) -> BTreeSet<(Key, u32)> {
    block_lines(text)
        .into_iter()
        .map(parse_block)
        .map(|(k, ns, _)| (k, ns))
        .collect()
}

fn head(text: &str) -> String {
    text.lines().take(5).collect::<Vec<_>>().join("\n")
}

/// A file's text; a panic naming the file if it cannot be read.
pub fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// covtotal's line for a percent.
pub fn total_line(pct: &str) -> String {
    format!("total: (statements) {pct}%\n")
}
