//! The workers' tables folded into the result: one file's entries from
//! all tables merged, numStmt conflicts and overlaps across inputs found.

use anyhow::bail;

use super::entry::{combine, Conflict, FileEntry, Origin};
use super::table::Table;
use super::Merged;
use crate::pool;
use crate::profile::{Block, FileBlocks, Mode};

/// One file's merged blocks, or why they cannot be merged.
struct FileResult {
    file: FileBlocks,
    conflicts: Vec<Conflict>,
    overlap: Option<anyhow::Error>,
}

/// Folds the workers' tables into the result: each file's entries from all
/// tables are compacted together, the files spread over threads.
pub(super) fn finish(
    tables: Vec<Table>,
    mode: Mode,
    keep_overlaps: bool,
    names: &[String],
    threads: usize,
) -> anyhow::Result<Merged> {
    let mut conflicts = Vec::new();
    let mut entries = Vec::new();
    for table in tables {
        conflicts.extend(table.conflicts);
        entries.extend(table.files.into_iter().filter(|f| f.keep));
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    // Consecutive entries of one path, cut into `threads` runs of about
    // the same number of blocks.
    let total: usize = entries.iter().map(|e| e.blocks.len() + e.tail.len()).sum();
    let per_run = total / threads.max(1) + 1;
    let mut runs: Vec<Vec<Vec<FileEntry>>> = vec![Vec::new()];
    let mut size = 0;
    for entry in entries {
        let run = runs.last_mut().expect("never empty");
        let same_path = run
            .last()
            .is_some_and(|g: &Vec<FileEntry>| g[0].path == entry.path);
        if !same_path && size >= per_run {
            runs.push(Vec::new());
            size = 0;
        }
        size += entry.blocks.len() + entry.tail.len();
        let run = runs.last_mut().expect("never empty");
        match run.last_mut() {
            Some(group) if group[0].path == entry.path => group.push(entry),
            _ => run.push(vec![entry]),
        }
    }
    // Each run is taken out of its slot by the one worker that merges it.
    let runs: Vec<std::sync::Mutex<Option<Vec<Vec<FileEntry>>>>> = runs
        .into_iter()
        .map(|r| std::sync::Mutex::new(Some(r)))
        .collect();
    let merge_run = |slot: &std::sync::Mutex<Option<Vec<Vec<FileEntry>>>>| -> Vec<FileResult> {
        let run = slot
            .lock()
            .unwrap()
            .take()
            .expect("each run is merged once");
        run.into_iter()
            .map(|group| merge_file(group, mode, keep_overlaps, names))
            .collect()
    };
    let results: Vec<FileResult> = pool::map(&runs, runs.len(), merge_run)
        .into_iter()
        .flatten()
        .collect();
    let mut files = Vec::with_capacity(results.len());
    let mut first_overlap = None;
    for r in results {
        conflicts.extend(r.conflicts);
        if first_overlap.is_none() {
            first_overlap = r.overlap;
        }
        files.push(r.file);
    }
    let first_conflict = conflicts
        .iter()
        .map(|c| {
            let (a, b) = c.sides;
            let (a, b) = if a.0 <= b.0 { (a, b) } else { (b, a) };
            (&c.path, c.pos, a, b)
        })
        .min();
    if let Some((path, pos, a, b)) = first_conflict {
        bail!(
            "{}:{}: numStmt {} in {} but {} in {}: the profiles come from different versions of the source",
            String::from_utf8_lossy(path),
            pos,
            a.1,
            names[a.0 as usize],
            b.1,
            names[b.0 as usize]
        );
    }
    if let Some(err) = first_overlap {
        return Err(err);
    }
    Ok(Merged { mode, files })
}

/// Merges `other`'s sorted blocks into `entry`'s: one pass into vectors of
/// the final size.
fn merge_sorted(entry: &mut FileEntry, other: FileEntry, conflicts: &mut Vec<Conflict>) {
    let (a, ao) = (
        std::mem::take(&mut entry.blocks),
        std::mem::take(&mut entry.origins),
    );
    let (b, bo) = (other.blocks, other.origins);
    let mut blocks = Vec::with_capacity(a.len() + b.len());
    let mut origins = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].pos.cmp(&b[j].pos) {
            std::cmp::Ordering::Less => {
                blocks.push(a[i]);
                origins.push(ao[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                blocks.push(b[j]);
                origins.push(bo[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (mut block, mut origin) = (a[i], ao[i]);
                if let Err(d) = combine((&mut block, &mut origin), (&b[j], &bo[j])) {
                    conflicts.push(Conflict {
                        path: entry.path.clone(),
                        pos: block.pos,
                        sides: d,
                    });
                }
                blocks.push(block);
                origins.push(origin);
                i += 1;
                j += 1;
            }
        }
    }
    blocks.extend_from_slice(&a[i..]);
    origins.extend_from_slice(&ao[i..]);
    blocks.extend_from_slice(&b[j..]);
    origins.extend_from_slice(&bo[j..]);
    entry.blocks = blocks;
    entry.origins = origins;
}

/// Merges one file's entries from all tables.
fn merge_file(
    group: Vec<FileEntry>,
    mode: Mode,
    keep_overlaps: bool,
    names: &[String],
) -> FileResult {
    let mut conflicts = Vec::new();
    let mut group = group.into_iter();
    let mut entry = group.next().expect("groups are not empty");
    entry.compact(&mut conflicts);
    for mut other in group {
        other.compact(&mut conflicts);
        merge_sorted(&mut entry, other, &mut conflicts);
    }
    let overlap = if keep_overlaps {
        None
    } else {
        check_overlaps(
            &String::from_utf8_lossy(&entry.path),
            &entry.blocks,
            &entry.origins,
            names,
        )
        .err()
    };
    let path = entry.path.into_vec();
    let mut blocks = entry.blocks;
    if mode == Mode::Set {
        for b in &mut blocks {
            b.count = b.count.min(1);
        }
    }
    FileResult {
        file: FileBlocks { path, blocks },
        conflicts,
        overlap,
    }
}

/// Fails on two overlapping blocks that no single input holds together.
/// An input holding both is known only approximately, from the lowest and
/// highest input index of each block: the ranges must intersect.
fn check_overlaps(
    path: &str,
    blocks: &[Block],
    origins: &[Origin],
    names: &[String],
) -> anyhow::Result<()> {
    // Blocks that end after the current one starts; Go's blocks do not
    // nest, so this stays tiny.
    let mut active: Vec<usize> = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let start = (b.pos.start_line, b.pos.start_col);
        active.retain(|&a| (blocks[a].pos.end_line, blocks[a].pos.end_col) > start);
        for &a in &active {
            let (oa, ob) = (origins[a], origins[j]);
            if b.pos.overlaps(&blocks[a].pos) && (oa.last < ob.first || ob.last < oa.first) {
                let ((x, ox), (y, oy)) = if oa.first <= ob.first {
                    ((&blocks[a], oa), (b, ob))
                } else {
                    ((b, ob), (&blocks[a], oa))
                };
                bail!(
                    "{path}: block {} (from {}) overlaps block {} (from {}) without being identical: \
                     the profiles come from different versions of the source (--keep-overlaps keeps both)",
                    x.pos,
                    names[ox.first as usize],
                    y.pos,
                    names[oy.first as usize]
                );
            }
        }
        active.push(j);
    }
    Ok(())
}
