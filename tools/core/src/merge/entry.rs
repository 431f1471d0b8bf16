//! One file's blocks as a merge gathers them, and how two occurrences of a
//! block fold into one.

use crate::profile::{Block, Pos};

/// Which inputs hold a block: the lowest and highest input index, for the
/// overlap rule.
#[derive(Clone, Copy, Debug)]
pub(super) struct Origin {
    pub(super) first: u32,
    pub(super) last: u32,
}

/// Two inputs disagree on a block's numStmt: (input, numStmt) of each.
pub(super) type Disagreement = ((u32, u32), (u32, u32));

/// Folds another occurrence of the same block into `into`.
#[inline]
pub(super) fn combine(
    into: (&mut Block, &mut Origin),
    from: (&Block, &Origin),
) -> Result<(), Disagreement> {
    let ((b, o), (fb, fo)) = (into, from);
    if b.stmts != fb.stmts {
        return Err(((o.first, b.stmts), (fo.first, fb.stmts)));
    }
    b.count = b.count.saturating_add(fb.count);
    o.first = o.first.min(fo.first);
    o.last = o.last.max(fo.last);
    Ok(())
}

/// The blocks of one file. `blocks` is sorted by position and duplicate-free
/// (`origins` runs beside it); blocks that do not fit its end go to `tail`,
/// unsorted and possibly repeated, until a compaction sorts and folds the
/// tail in. Profiles of one module list a file's blocks in one order, so
/// nearly every block is found at the cursor or appended in order: no
/// hashing, and `blocks` is handed out as the result without a copy.
pub(super) struct FileEntry {
    pub(super) path: Box<[u8]>,
    pub(super) keep: bool,
    pub(super) blocks: Vec<Block>,
    pub(super) origins: Vec<Origin>,
    pub(super) tail: Vec<(Block, Origin)>,
    /// Where the next block of the current input probably is in `blocks`.
    pub(super) cursor: usize,
}

/// Compact when the tail outgrows this or the sorted part: amortised
/// O(n log n) whatever the input order.
pub(super) const MIN_TAIL: usize = 4096;

impl FileEntry {
    pub(super) fn new(path: &[u8], keep: bool) -> FileEntry {
        FileEntry {
            path: path.into(),
            keep,
            blocks: Vec::new(),
            origins: Vec::new(),
            tail: Vec::new(),
            cursor: 0,
        }
    }

    /// Folds one block into the file.
    #[inline]
    pub(super) fn add(&mut self, block: Block, origin: Origin, conflicts: &mut Vec<Conflict>) {
        let c = self.cursor.min(self.blocks.len());
        if self.blocks.get(c).is_some_and(|b| b.pos == block.pos) {
            self.cursor = c + 1;
            if let Err(d) = combine(
                (&mut self.blocks[c], &mut self.origins[c]),
                (&block, &origin),
            ) {
                conflicts.push(Conflict {
                    path: self.path.clone(),
                    pos: block.pos,
                    sides: d,
                });
            }
            return;
        }
        if self.blocks.last().is_none_or(|l| l.pos < block.pos) {
            self.blocks.push(block);
            self.origins.push(origin);
            self.cursor = self.blocks.len();
            return;
        }
        let found = match self.search_from(c, &block.pos) {
            Ok(i) => Some(i),
            Err(at) => {
                // The input's next block is likely just after this one.
                self.cursor = at;
                None
            }
        };
        match found {
            Some(i) => {
                self.cursor = i + 1;
                if let Err(d) = combine(
                    (&mut self.blocks[i], &mut self.origins[i]),
                    (&block, &origin),
                ) {
                    conflicts.push(Conflict {
                        path: self.path.clone(),
                        pos: block.pos,
                        sides: d,
                    });
                }
            }
            None => {
                if self.tail.capacity() == 0 {
                    // Skip the many small doublings of a tail that grows.
                    self.tail.reserve(self.blocks.len().clamp(64, MIN_TAIL));
                }
                self.tail.push((block, origin));
                if self.tail.len() > MIN_TAIL.max(self.blocks.len()) {
                    self.compact(conflicts);
                }
            }
        }
    }

    /// Binary search for `pos` in `blocks`, starting by galloping from
    /// `hint`: an input's blocks come in order, so the next one is near.
    #[inline]
    pub(super) fn search_from(&self, hint: usize, pos: &Pos) -> Result<usize, usize> {
        let blocks = &self.blocks;
        let (mut lo, mut hi) = (0, blocks.len());
        if hint < blocks.len() && blocks[hint].pos < *pos {
            // Forward: find a bound past `pos` in steps 1, 2, 4, ...
            lo = hint + 1;
            let mut step = 1;
            while lo + step <= blocks.len() && blocks[lo + step - 1].pos < *pos {
                lo += step;
                step *= 2;
            }
            hi = (lo + step).min(blocks.len());
        } else if hint > 0
            && blocks[hint - 1].pos < *pos
            && (hint == blocks.len() || blocks[hint].pos > *pos)
        {
            // Between the hint's neighbours: not there.
            return Err(hint);
        }
        blocks[lo..hi]
            .binary_search_by(|b| b.pos.cmp(pos))
            .map(|i| lo + i)
            .map_err(|i| lo + i)
    }

    /// Sorts the tail and merges it into `blocks` in place, folding equal
    /// blocks (a backward merge into the grown vectors: no second copy).
    pub(super) fn compact(&mut self, conflicts: &mut Vec<Conflict>) {
        if self.tail.is_empty() {
            return;
        }
        let mut tail = std::mem::take(&mut self.tail);
        // Stable sort: the tail is mostly sorted runs (each input lists a
        // file in order), which it merges in linear time.
        tail.sort_by_key(|(b, _)| b.pos);
        // Fold repeats within the tail.
        let mut kept = 0;
        for k in 0..tail.len() {
            if kept > 0 && tail[kept - 1].0.pos == tail[k].0.pos {
                let (head, rest) = tail.split_at_mut(k);
                let (into, from) = (&mut head[kept - 1], &rest[0]);
                if let Err(d) = combine((&mut into.0, &mut into.1), (&from.0, &from.1)) {
                    conflicts.push(Conflict {
                        path: self.path.clone(),
                        pos: from.0.pos,
                        sides: d,
                    });
                }
            } else {
                tail[kept] = tail[k];
                kept += 1;
            }
        }
        tail.truncate(kept);

        let (n, m) = (self.blocks.len(), tail.len());
        let filler = tail[0];
        self.blocks.resize(n + m, filler.0);
        self.origins.resize(n + m, filler.1);
        let (mut i, mut j, mut w) = (n, m, n + m);
        while j > 0 {
            let (tb, to) = tail[j - 1];
            if i > 0 && self.blocks[i - 1].pos > tb.pos {
                self.blocks[w - 1] = self.blocks[i - 1];
                self.origins[w - 1] = self.origins[i - 1];
                i -= 1;
            } else if i > 0 && self.blocks[i - 1].pos == tb.pos {
                let (mut b, mut o) = (self.blocks[i - 1], self.origins[i - 1]);
                if let Err(d) = combine((&mut b, &mut o), (&tb, &to)) {
                    conflicts.push(Conflict {
                        path: self.path.clone(),
                        pos: tb.pos,
                        sides: d,
                    });
                }
                self.blocks[w - 1] = b;
                self.origins[w - 1] = o;
                i -= 1;
                j -= 1;
            } else {
                self.blocks[w - 1] = tb;
                self.origins[w - 1] = to;
                j -= 1;
            }
            w -= 1;
        }
        // [0, i) is in place; [w, n + m) is merged; close the gap of folded
        // blocks between them.
        if w > i {
            self.blocks.copy_within(w.., i);
            self.origins.copy_within(w.., i);
            let len = n + m - (w - i);
            self.blocks.truncate(len);
            self.origins.truncate(len);
        }
        self.cursor = 0;
        // Keep the tail's allocation for the next round.
        tail.clear();
        self.tail = tail;
    }
}

/// A numStmt disagreement between two inputs.
pub(super) struct Conflict {
    pub(super) path: Box<[u8]>,
    pub(super) pos: Pos,
    pub(super) sides: Disagreement,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Blocks in a scrambled order with repeats, enough to compact several
    /// times while adding (MIN_TAIL), against a map computed the obvious way.
    #[test]
    fn file_entry_folds_any_order_like_a_map() {
        let mut entry = FileEntry::new(b"f.go", true);
        let mut conflicts = Vec::new();
        let mut want: BTreeMap<Pos, (u32, u32, u32)> = BTreeMap::new();
        let mut x: u64 = 12345;
        for input in 0..6u32 {
            // Each input lists a random subset, mostly in order (as Go
            // writes them), sometimes jumping back.
            for i in 0..6000u32 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // The first input lists even lines only: the others' odd
                // lines land in the tail, which then compacts while adding.
                if (x >> 33) % 3 == 0 || (input == 0 && i % 2 == 1) {
                    continue;
                }
                let line = if (x >> 40) % 50 == 0 {
                    (x >> 20) as u32 % 6000
                } else {
                    i
                };
                let pos = Pos {
                    start_line: line + 1,
                    start_col: 2,
                    end_line: line + 1,
                    end_col: 9,
                };
                let count = (x >> 45) as u32 % 4;
                entry.add(
                    Block {
                        pos,
                        stmts: 1,
                        count,
                    },
                    Origin {
                        first: input,
                        last: input,
                    },
                    &mut conflicts,
                );
                let e = want.entry(pos).or_insert((0, input, input));
                e.0 += count;
                e.1 = e.1.min(input);
                e.2 = e.2.max(input);
            }
            entry.cursor = 0;
        }
        entry.compact(&mut conflicts);
        assert!(conflicts.is_empty());
        let got: Vec<(Pos, (u32, u32, u32))> = entry
            .blocks
            .iter()
            .zip(&entry.origins)
            .map(|(b, o)| (b.pos, (b.count, o.first, o.last)))
            .collect();
        assert_eq!(got, want.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn search_from_finds_what_binary_search_finds() {
        let mut entry = FileEntry::new(b"f.go", true);
        for line in (1..200u32).step_by(2) {
            let pos = Pos {
                start_line: line,
                start_col: 1,
                end_line: line,
                end_col: 2,
            };
            entry.blocks.push(Block {
                pos,
                stmts: 1,
                count: 0,
            });
        }
        for hint in 0..=entry.blocks.len() {
            for line in 0..202u32 {
                let pos = Pos {
                    start_line: line,
                    start_col: 1,
                    end_line: line,
                    end_col: 2,
                };
                let want = entry.blocks.binary_search_by(|b| b.pos.cmp(&pos));
                assert_eq!(
                    entry.search_from(hint, &pos),
                    want,
                    "hint {hint} line {line}"
                );
            }
        }
    }
}
