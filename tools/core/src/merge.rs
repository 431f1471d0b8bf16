//! Merge rules: gocovmerge semantics, made exact and fast.
//!
//! - Identical blocks (same file, same start and end) are one block: counts
//!   add, saturating at u32::MAX like `go tool covdata merge`; in set mode the
//!   result is 0/1 (an OR). Identical blocks with a different numStmt are an
//!   error naming both inputs.
//! - Blocks of one file that overlap without being identical are kept when
//!   they come from one input (generated code and `//line` directives produce
//!   them, and Go's own parser keeps them). When no input holds both, the
//!   profiles come from different versions of the source: an error, unless
//!   [`Options::keep_overlaps`].
//! - Inputs of different modes are an error unless [`Options::mode`] asks to
//!   convert (count/atomic → set means count > 0 → 1).
//! - Output: blocks sorted by file path (bytewise), then position; the same
//!   bytes for any input order.
//!
//! Inputs are spread over worker threads, each merging into its own table;
//! the tables are then merged. Addition is associative and commutative and
//! the output is sorted, so the split does not change the result. Errors are
//! made deterministic too: the one reported is the first by input order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, bail};

use crate::input::Input;
use crate::output::push_u32;
use crate::profile::{self, Block, FileBlocks, Mode, Pos, Visitor};

/// How to merge.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Convert every input to this mode instead of requiring one mode.
    pub mode: Option<Mode>,
    /// Keep overlapping blocks of different inputs instead of failing.
    pub keep_overlaps: bool,
    /// Which source files to keep.
    pub filter: PathFilter,
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
}

/// `--include` / `--exclude` glob patterns on the profile's file names.
/// `*` and `?` stay within one path component, `**` crosses them; a pattern
/// without `/` is matched against the file's base name (as in .gitignore).
/// A file is kept when it matches some include pattern (or there are none)
/// and no exclude pattern.
#[derive(Debug, Default, Clone)]
pub struct PathFilter {
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
}

impl PathFilter {
    pub fn new(include: &[String], exclude: &[String]) -> anyhow::Result<PathFilter> {
        let compile = |flag: &str, pats: &[String]| -> anyhow::Result<Vec<glob::Pattern>> {
            pats.iter()
                .map(|p| {
                    glob::Pattern::new(p)
                        .map_err(|e| anyhow!("{flag} {p:?}: invalid glob pattern: {e}"))
                })
                .collect()
        };
        Ok(PathFilter {
            include: compile("--include", include)?,
            exclude: compile("--exclude", exclude)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    pub fn keeps(&self, path: &str) -> bool {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let base = path.rsplit('/').next().unwrap_or(path);
        let matches = |p: &glob::Pattern| {
            if p.as_str().contains('/') {
                p.matches_with(path, opts)
            } else {
                p.matches_with(base, opts)
            }
        };
        (self.include.is_empty() || self.include.iter().any(matches))
            && !self.exclude.iter().any(matches)
    }
}

/// The result of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub mode: Mode,
    /// Sorted by path; each file's blocks sorted by position.
    pub files: Vec<FileBlocks>,
}

impl Merged {
    /// Writes the merged profile in Go's text format. Large profiles are
    /// formatted by several threads, a chunk of files each, and written in
    /// order.
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(format!("mode: {}\n", self.mode).as_bytes())?;
        let chunks = chunk_files(&self.files, 1 << 12);
        let threads = worker_threads(0).min(chunks.len());
        if threads <= 1 {
            let mut buf = Vec::with_capacity(1 << 20);
            for file in &self.files {
                format_blocks(&file.path, &file.blocks, &mut buf);
                if buf.len() >= 1 << 20 {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
            return out.write_all(&buf);
        }
        let next = AtomicUsize::new(0);
        // Written buffers go back to the formatters: fresh memory costs a
        // page fault per 4 KiB, more than formatting into it.
        let spare: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(2 * threads);
        std::thread::scope(|s| {
            for _ in 0..threads {
                let tx = tx.clone();
                let (next, chunks, files, spare) = (&next, &chunks, &self.files, &spare);
                s.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(i) else { break };
                    let mut buf = spare.lock().unwrap().pop().unwrap_or_default();
                    for (f, range) in chunk {
                        format_blocks(&files[*f].path, &files[*f].blocks[range.clone()], &mut buf);
                    }
                    if tx.send((i, buf)).is_err() {
                        break; // the writer failed and went away
                    }
                });
            }
            drop(tx);
            // Chunks arrive about in order; hold the early ones back.
            let mut pending = std::collections::BTreeMap::new();
            let mut want = 0;
            for (i, buf) in rx {
                pending.insert(i, buf);
                while let Some(mut buf) = pending.remove(&want) {
                    out.write_all(&buf)?;
                    buf.clear();
                    spare.lock().unwrap().push(buf);
                    want += 1;
                }
            }
            Ok(())
        })
    }
}

/// A piece of the output: blocks `blocks` of file `file`.
type Piece = (usize, std::ops::Range<usize>);

/// Splits the output into consecutive chunks of about `blocks` blocks each
/// (a large file spans several chunks), so buffers stay small.
fn chunk_files(files: &[FileBlocks], blocks: usize) -> Vec<Vec<Piece>> {
    let mut chunks = Vec::new();
    let mut chunk: Vec<Piece> = Vec::new();
    let mut size = 0;
    for (i, f) in files.iter().enumerate() {
        let mut start = 0;
        while start < f.blocks.len() {
            let end = f.blocks.len().min(start + (blocks - size));
            chunk.push((i, start..end));
            size += end - start;
            start = end;
            if size == blocks {
                chunks.push(std::mem::take(&mut chunk));
                size = 0;
            }
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

fn format_blocks(path: &[u8], blocks: &[Block], buf: &mut Vec<u8>) {
    for b in blocks {
        buf.extend_from_slice(path);
        buf.push(b':');
        push_u32(buf, b.pos.start_line);
        buf.push(b'.');
        push_u32(buf, b.pos.start_col);
        buf.push(b',');
        push_u32(buf, b.pos.end_line);
        buf.push(b'.');
        push_u32(buf, b.pos.end_col);
        buf.push(b' ');
        push_u32(buf, b.stmts);
        buf.push(b' ');
        push_u32(buf, b.count);
        buf.push(b'\n');
    }
}

/// `requested`, or one thread per available core when 0.
fn worker_threads(requested: usize) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Merges the inputs.
pub fn merge(inputs: &[Input], opts: &Options) -> anyhow::Result<Merged> {
    if inputs.is_empty() {
        bail!("no input profiles");
    }
    let names: Vec<String> = inputs.iter().map(Input::name).collect();
    let threads = worker_threads(opts.threads).min(inputs.len()).max(1);

    // Largest first, so that the last input to finish is a small one.
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    let sizes: Vec<u64> = inputs.iter().map(Input::size_hint).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));

    let next = AtomicUsize::new(0);
    // The lowest input index that failed; inputs after it need not be read.
    let first_failure = AtomicUsize::new(usize::MAX);
    let failures: Mutex<Vec<(usize, anyhow::Error)>> = Mutex::new(Vec::new());
    let modes: Mutex<Vec<Option<Mode>>> = Mutex::new(vec![None; inputs.len()]);

    let work = || -> Table {
        let mut table = Table::new(opts.filter.clone());
        let mut buf = Vec::new();
        loop {
            let n = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(n) else { break };
            if i > first_failure.load(Ordering::Relaxed) {
                continue;
            }
            let mut visitor = InputVisitor {
                table: &mut table,
                input: i as u32,
                name: &names[i],
                mode: None,
                cur: NONE,
            };
            let result = match &inputs[i] {
                Input::Covdata(pod) => pod.visit(&mut visitor),
                input => input.open().and_then(|reader| {
                    profile::parse_with(&names[i], reader, &mut visitor, &mut buf)
                }),
            };
            let mode = visitor.mode;
            modes.lock().unwrap()[i] = mode;
            if let Err(e) = result {
                first_failure.fetch_min(i, Ordering::Relaxed);
                failures.lock().unwrap().push((i, e));
            }
        }
        table
    };
    let tables: Vec<Table> = if threads == 1 {
        vec![work()]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("merge worker panicked"))
                .collect()
        })
    };
    if let Some((_, err)) = failures
        .into_inner()
        .unwrap()
        .into_iter()
        .min_by_key(|(i, _)| *i)
    {
        return Err(err);
    }

    let modes = modes.into_inner().unwrap();
    let mode = match opts.mode {
        Some(m) => m,
        None => common_mode(&names, &modes)?,
    };

    finish(
        tables,
        mode,
        opts.keep_overlaps,
        &names,
        worker_threads(opts.threads),
    )
}

/// The one mode of all inputs, or an error naming inputs that differ.
fn common_mode(names: &[String], modes: &[Option<Mode>]) -> anyhow::Result<Mode> {
    let mut first: Option<(usize, Mode)> = None;
    for (i, m) in modes.iter().enumerate() {
        let Some(m) = *m else { continue };
        match first {
            None => first = Some((i, m)),
            Some((j, fm)) if fm != m => bail!(
                "{} has mode {fm} but {} has mode {m}: pass --mode set|count|atomic to convert",
                names[j],
                names[i]
            ),
            _ => {}
        }
    }
    Ok(first.expect("every parsed input has a mode").1)
}

const NONE: u32 = u32::MAX;

/// Which inputs hold a block: the lowest and highest input index, for the
/// overlap rule.
#[derive(Clone, Copy, Debug)]
struct Origin {
    first: u32,
    last: u32,
}

/// Two inputs disagree on a block's numStmt: (input, numStmt) of each.
type Disagreement = ((u32, u32), (u32, u32));

/// Folds another occurrence of the same block into `into`.
#[inline]
fn combine(into: (&mut Block, &mut Origin), from: (&Block, &Origin)) -> Result<(), Disagreement> {
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
struct FileEntry {
    path: Box<[u8]>,
    keep: bool,
    blocks: Vec<Block>,
    origins: Vec<Origin>,
    tail: Vec<(Block, Origin)>,
    /// Where the next block of the current input probably is in `blocks`.
    cursor: usize,
}

/// Compact when the tail outgrows this or the sorted part: amortised
/// O(n log n) whatever the input order.
const MIN_TAIL: usize = 4096;

impl FileEntry {
    fn new(path: &[u8], keep: bool) -> FileEntry {
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
    fn add(&mut self, block: Block, origin: Origin, conflicts: &mut Vec<Conflict>) {
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
    fn search_from(&self, hint: usize, pos: &Pos) -> Result<usize, usize> {
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
    fn compact(&mut self, conflicts: &mut Vec<Conflict>) {
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
struct Conflict {
    path: Box<[u8]>,
    pos: Pos,
    sides: Disagreement,
}

struct Table {
    filter: PathFilter,
    by_path: HashMap<Box<[u8]>, u32, FxBuild>,
    files: Vec<FileEntry>,
    conflicts: Vec<Conflict>,
}

impl Table {
    fn new(filter: PathFilter) -> Table {
        Table {
            filter,
            by_path: HashMap::default(),
            files: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    fn file(&mut self, path: &[u8]) -> u32 {
        if let Some(&i) = self.by_path.get(path) {
            return i;
        }
        let i = self.files.len() as u32;
        let keep = self.filter.is_empty() || self.filter.keeps(&String::from_utf8_lossy(path));
        self.files.push(FileEntry::new(path, keep));
        self.by_path.insert(path.into(), i);
        i
    }
}

/// One file's merged blocks, or why they cannot be merged.
struct FileResult {
    file: FileBlocks,
    conflicts: Vec<Conflict>,
    overlap: Option<anyhow::Error>,
}

/// Folds the workers' tables into the result: each file's entries from all
/// tables are compacted together, the files spread over threads.
fn finish(
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
    let merge_run = |run: Vec<Vec<FileEntry>>| -> Vec<FileResult> {
        run.into_iter()
            .map(|group| merge_file(group, mode, keep_overlaps, names))
            .collect()
    };
    let results: Vec<FileResult> = if runs.len() == 1 {
        merge_run(runs.pop().expect("one run"))
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = runs
                .into_iter()
                .map(|run| s.spawn(move || merge_run(run)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("merge worker panicked"))
                .collect()
        })
    };
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

/// Receives one input's lines into a table.
struct InputVisitor<'a> {
    table: &'a mut Table,
    input: u32,
    name: &'a str,
    mode: Option<Mode>,
    /// The file of the previous block: consecutive lines share it.
    cur: u32,
}

impl Visitor for InputVisitor<'_> {
    fn mode(&mut self, mode: Mode, line: u64) -> anyhow::Result<()> {
        profile::one_mode(&mut self.mode, mode, self.name, line)
    }

    #[inline]
    fn block(
        &mut self,
        path: &[u8],
        pos: Pos,
        stmts: u32,
        count: u32,
        _line: u64,
    ) -> anyhow::Result<()> {
        let table = &mut *self.table;
        if self.cur == NONE || *table.files[self.cur as usize].path != *path {
            self.cur = table.file(path);
            table.files[self.cur as usize].cursor = 0;
        }
        let entry = &mut table.files[self.cur as usize];
        if entry.keep {
            let origin = Origin {
                first: self.input,
                last: self.input,
            };
            entry.add(Block { pos, stmts, count }, origin, &mut table.conflicts);
        }
        Ok(())
    }
}

/// FxHash (rustc's): a multiply-rotate hash, far cheaper than SipHash for
/// the short keys here; the inputs are not adversarial.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

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

    #[test]
    fn filter_matches_basename_without_slash_and_paths_with() {
        let f = PathFilter::new(&[], &["*.pb.go".into(), "**/gen/**".into()]).unwrap();
        assert!(!f.keeps("example.com/m/api/x.pb.go"));
        assert!(!f.keeps("example.com/m/gen/y.go"));
        assert!(f.keeps("example.com/m/api/x.go"));
        let f = PathFilter::new(&["example.com/m/internal/**".into()], &[]).unwrap();
        assert!(f.keeps("example.com/m/internal/a/b.go"));
        assert!(!f.keeps("example.com/m/cmd/b.go"));
    }
}
