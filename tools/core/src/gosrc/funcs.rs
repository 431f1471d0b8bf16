//! The per-function figures of `go tool cover -func`.

use anyhow::Context;

use super::parse::{func_decls, Func};
use super::root::SourceRoot;
use crate::profile::FileBlocks;

/// One line of `go tool cover -func`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncCoverage {
    /// The profile's file name (bytes, as in the profile).
    pub file: Vec<u8>,
    /// The line of the `func` keyword (line directives applied).
    pub line: u32,
    /// The function's name as cover -func prints it (no receiver).
    pub name: String,
    /// Statements in blocks with count > 0 that overlap the function.
    pub covered: u64,
    /// Statements in blocks that overlap the function.
    pub statements: u64,
}

impl FuncCoverage {
    pub fn percent(&self) -> f64 {
        percent(self.covered, self.statements)
    }
}

/// cmd/cover's `percent`: a zero denominator counts as 1.
pub fn percent(covered: u64, total: u64) -> f64 {
    100.0 * covered as f64 / total.max(1) as f64
}

/// The per-function figures of `go tool cover -func` for merged blocks:
/// identical blocks must already be one, as [`crate::merge`] gives them
/// (x/tools' `ParseProfiles` merges them too, but after an unstable sort on
/// the start alone, so it can miss a duplicate that sits behind a block with
/// the same start and another end; a profile written by covmerge has none).
/// The order of blocks does not matter. Files come sorted by name, functions
/// in source order, as cover -func prints them. Files are read and scanned
/// on [`crate::pool`]'s threads.
pub fn func_coverage(root: &SourceRoot, files: &[FileBlocks]) -> anyhow::Result<Vec<FuncCoverage>> {
    let mut order: Vec<&FileBlocks> = files.iter().collect();
    order.sort_by(|a, b| a.path.cmp(&b.path));

    let one = |fb: &&FileBlocks| -> anyhow::Result<Vec<FuncCoverage>> {
        let disk = root.resolve(&fb.path)?;
        let src = std::fs::read(&disk).with_context(|| {
            format!(
                "{}: cannot read {}",
                String::from_utf8_lossy(&fb.path),
                disk.display()
            )
        })?;
        let funcs = func_decls(&src).with_context(|| format!("{}", disk.display()))?;
        Ok(file_coverage(&fb.path, &funcs, fb))
    };
    let results = crate::pool::map(&order, crate::pool::default_threads(), one);
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// cmd/cover's `FuncExtent.coverage` for each function of one file: the
/// blocks it counts are exactly those with start < function end and end >
/// function start (its `break` stops at the first block starting at or
/// after the end, and the blocks are sorted by start).
fn file_coverage(path: &[u8], funcs: &[Func], fb: &FileBlocks) -> Vec<FuncCoverage> {
    let mut blocks: Vec<&crate::profile::Block> = fb.blocks.iter().collect();
    blocks.sort_by_key(|b| (b.pos.start_line, b.pos.start_col));
    // max_end[i]: the largest block end among blocks[..=i], so that the
    // blocks ending at or before a function's start form a prefix to skip.
    let mut max_end = Vec::with_capacity(blocks.len());
    let mut m = (0, 0);
    for b in &blocks {
        m = m.max((b.pos.end_line, b.pos.end_col));
        max_end.push(m);
    }
    funcs
        .iter()
        .map(|f| {
            let e = &f.extent;
            let (fstart, fend) = ((e.start_line, e.start_col), (e.end_line, e.end_col));
            let stop = blocks.partition_point(|b| (b.pos.start_line, b.pos.start_col) < fend);
            let from = max_end[..stop].partition_point(|&end| end <= fstart);
            let (mut covered, mut statements) = (0u64, 0u64);
            for b in &blocks[from..stop] {
                if (b.pos.end_line, b.pos.end_col) <= fstart {
                    continue;
                }
                statements += b.stmts as u64;
                if b.count > 0 {
                    covered += b.stmts as u64;
                }
            }
            FuncCoverage {
                file: path.to_vec(),
                line: e.start_line,
                name: f.name.clone(),
                covered,
                statements,
            }
        })
        .collect()
}

/// The covered and total statements of `go tool cover -func`'s `total:`
/// line: sums over the functions.
pub fn func_total(funcs: &[FuncCoverage]) -> (u64, u64) {
    funcs
        .iter()
        .fold((0, 0), |(c, t), f| (c + f.covered, t + f.statements))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gosrc::FuncExtent;

    fn blocks(list: &[(u32, u32, u32, u32, u32, u32)]) -> FileBlocks {
        FileBlocks {
            path: "m/p/x.go".into(),
            blocks: list
                .iter()
                .map(|&(a, b, c, d, stmts, count)| crate::profile::Block {
                    pos: crate::profile::Pos {
                        start_line: a,
                        start_col: b,
                        end_line: c,
                        end_col: d,
                    },
                    stmts,
                    count,
                })
                .collect(),
        }
    }

    #[test]
    fn coverage_counts_overlapping_blocks_only() {
        let f = |name: &str, a, b, c, d| Func {
            name: name.into(),
            receiver: None,
            extent: FuncExtent {
                start_line: a,
                start_col: b,
                end_line: c,
                end_col: d,
            },
        };
        let funcs = [f("f", 3, 1, 5, 2), f("g", 7, 1, 9, 2)];
        let fb = blocks(&[
            (1, 10, 3, 1, 100, 1),   // ends exactly at f's start: not counted
            (1, 10, 3, 2, 1, 1),     // ends just inside f: counted
            (3, 10, 5, 1, 2, 0),     // inside f
            (5, 2, 7, 1, 1000, 1),   // between the two: nowhere
            (5, 1, 7, 2, 4, 1),      // straddles f's end and g's start: both
            (9, 2, 10, 1, 10000, 1), // starts at g's end: not counted
        ]);
        let got = file_coverage(b"m/p/x.go", &funcs, &fb);
        assert_eq!((got[0].covered, got[0].statements), (5, 7));
        assert_eq!((got[1].covered, got[1].statements), (4, 4));
        assert_eq!(func_total(&got), (9, 11));
    }
}
