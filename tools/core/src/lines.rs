//! How statement blocks become lines (docs/how-it-works.md's rule; covreport's lcov
//! and Cobertura lines, diff coverage's uncovered lines): every line from a
//! block's start to its end line, not an end line the block reaches only
//! at column 1 (before its first character), for blocks with statements; a
//! line spanned by several blocks takes the largest of their counts.
//!
//! Lines come as runs of consecutive lines with one count, computed per
//! block, never per line: a profile says nothing of how long its files are,
//! so one block may claim billions of lines, and what a run costs must not
//! grow with them. Only a writer that prints every line (lcov, Cobertura)
//! walks them, streaming.

use std::collections::BTreeMap;

use crate::profile::Block;
use crate::total::Totals;

/// Lines `first..=last`, each with `hits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRun {
    pub first: u32,
    pub last: u32,
    pub hits: u32,
}

impl LineRun {
    /// How many lines the run holds.
    pub fn len(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }

    /// Never true: a run holds at least its first line.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every line of the run with its hits.
    pub fn lines(&self) -> impl Iterator<Item = (u32, u32)> {
        let hits = self.hits;
        (self.first..=self.last).map(move |line| (line, hits))
    }
}

/// The last line a block reaches: its end line, unless it ends at column 1
/// of that line (the end is exclusive, so no character of the line is in
/// the block; Go writes such ends for blocks closing before a `}` line).
pub fn last_line(b: &Block) -> u32 {
    if b.pos.end_col <= 1 && b.pos.end_line > b.pos.start_line {
        b.pos.end_line - 1
    } else {
        b.pos.end_line.max(b.pos.start_line)
    }
}

/// The lines of `blocks` as ascending, disjoint runs; neighbouring runs
/// differ in hits or leave a gap. A sweep over the blocks' starts and ends
/// keeps the counts of the blocks spanning the current line.
pub fn line_runs(blocks: &[Block]) -> Vec<LineRun> {
    // (line, +1 start / -1 past the end, count); u64 so that the line past
    // u32::MAX exists.
    let mut events: Vec<(u64, i8, u32)> = Vec::with_capacity(blocks.len() * 2);
    for b in blocks.iter().filter(|b| b.stmts > 0) {
        events.push((u64::from(b.pos.start_line), 1, b.count));
        events.push((u64::from(last_line(b)) + 1, -1, b.count));
    }
    events.sort_unstable();
    let mut active: BTreeMap<u32, usize> = BTreeMap::new();
    let mut runs: Vec<LineRun> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        while i < events.len() && events[i].0 == at {
            let (_, kind, count) = events[i];
            if kind > 0 {
                *active.entry(count).or_default() += 1;
            } else if let Some(n) = active.get_mut(&count) {
                *n -= 1;
                if *n == 0 {
                    active.remove(&count);
                }
            }
            i += 1;
        }
        let (Some((&hits, _)), Some(&(next, _, _))) = (active.last_key_value(), events.get(i))
        else {
            continue;
        };
        // Active blocks always end at a later event, so `next` exists.
        let (first, last) = (at as u32, (next - 1) as u32);
        match runs.last_mut() {
            Some(r) if r.hits == hits && u64::from(r.last) + 1 == at => r.last = last,
            _ => runs.push(LineRun { first, last, hits }),
        }
    }
    runs
}

/// Lines with hits > 0, and all lines.
pub fn totals(runs: &[LineRun]) -> Totals {
    let mut t = Totals::default();
    for r in runs {
        t.add(if r.hits > 0 { r.len() } else { 0 }, r.len());
    }
    t
}

/// The lines of `runs` with no hits inside `ranges` (inclusive, ascending,
/// disjoint), as inclusive ranges with neighbours joined.
pub fn uncovered_in(runs: &[LineRun], ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for r in runs.iter().filter(|r| r.hits == 0) {
        let from = ranges.partition_point(|&(_, b)| b < r.first);
        for &(a, b) in ranges[from..].iter().take_while(|&&(a, _)| a <= r.last) {
            let (a, b) = (a.max(r.first), b.min(r.last));
            match out.last_mut() {
                Some((_, end)) if u64::from(*end) + 1 >= u64::from(a) => *end = (*end).max(b),
                _ => out.push((a, b)),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Pos;

    fn block(sl: u32, sc: u32, el: u32, ec: u32, stmts: u32, count: u32) -> Block {
        Block {
            pos: Pos {
                start_line: sl,
                start_col: sc,
                end_line: el,
                end_col: ec,
            },
            stmts,
            count,
        }
    }

    fn lines(runs: &[LineRun]) -> Vec<(u32, u32)> {
        runs.iter().flat_map(LineRun::lines).collect()
    }

    /// The rule line by line, as it was first written: the reference.
    fn per_line(blocks: &[Block]) -> Vec<(u32, u32)> {
        let mut m: BTreeMap<u32, u32> = BTreeMap::new();
        for b in blocks.iter().filter(|b| b.stmts > 0) {
            for l in b.pos.start_line..=last_line(b) {
                let c = m.entry(l).or_default();
                *c = (*c).max(b.count);
            }
        }
        m.into_iter().collect()
    }

    #[test]
    fn runs_hold_the_largest_count_of_each_line() {
        let blocks = [
            block(3, 20, 5, 3, 2, 7),  // lines 3-5, count 7
            block(5, 3, 5, 20, 1, 0),  // line 5 again, count 0: stays 7
            block(6, 2, 6, 9, 1, 0),   // line 6, uncovered
            block(8, 1, 8, 3, 0, 9),   // no statements: no line
            block(9, 2, 11, 4, 3, 0),  // 9-11 uncovered
            block(11, 4, 11, 9, 1, 2), // 11 covered by the second block
            block(13, 3, 15, 1, 1, 0), // ends at 15.1: lines 13-14
        ];
        let runs = line_runs(&blocks);
        assert_eq!(lines(&runs), per_line(&blocks));
        assert_eq!(
            runs,
            vec![
                LineRun {
                    first: 3,
                    last: 5,
                    hits: 7
                },
                LineRun {
                    first: 6,
                    last: 6,
                    hits: 0
                },
                LineRun {
                    first: 9,
                    last: 10,
                    hits: 0
                },
                LineRun {
                    first: 11,
                    last: 11,
                    hits: 2
                },
                LineRun {
                    first: 13,
                    last: 14,
                    hits: 0
                },
            ]
        );
        assert_eq!(
            totals(&runs),
            Totals {
                covered: 4,
                statements: 9
            }
        );
    }

    #[test]
    fn nested_and_overlapping_blocks_match_the_per_line_rule() {
        // A small deterministic generator: every shape of overlap appears.
        let mut seed = 0x2545f4914f6cdd1du64;
        let mut next = |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(n)) as u32
        };
        for _ in 0..500 {
            let blocks: Vec<Block> = (0..next(8))
                .map(|_| {
                    let sl = 1 + next(20);
                    block(sl, 1 + next(3), sl + next(6), 1 + next(3), next(3), next(4))
                })
                .collect();
            assert_eq!(lines(&line_runs(&blocks)), per_line(&blocks), "{blocks:?}");
        }
    }

    #[test]
    fn a_block_of_billions_of_lines_is_one_run() {
        let runs = line_runs(&[block(1, 1, u32::MAX, 1, 1, 0), block(2, 1, 2, 9, 1, 3)]);
        assert_eq!(runs.len(), 3);
        assert_eq!(totals(&runs).statements, u64::from(u32::MAX) - 1);
        assert_eq!(runs[2].last, u32::MAX - 1);
        let runs = line_runs(&[block(7, 1, u32::MAX, 9, 1, 1)]);
        assert_eq!(
            runs,
            vec![LineRun {
                first: 7,
                last: u32::MAX,
                hits: 1
            }]
        );
    }

    #[test]
    fn uncovered_lines_are_clipped_to_the_changed_ranges() {
        let runs = [
            LineRun {
                first: 1,
                last: 10,
                hits: 0,
            },
            LineRun {
                first: 11,
                last: 11,
                hits: 4,
            },
            LineRun {
                first: 12,
                last: 20,
                hits: 0,
            },
            LineRun {
                first: 21,
                last: u32::MAX,
                hits: 0,
            },
        ];
        assert_eq!(
            uncovered_in(&runs, &[(5, 6), (9, 13), (19, 30), (u32::MAX, u32::MAX)]),
            vec![(5, 6), (9, 10), (12, 13), (19, 30), (u32::MAX, u32::MAX)]
        );
        assert_eq!(uncovered_in(&runs, &[]), vec![]);
    }
}
