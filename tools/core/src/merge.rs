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
use crate::profile::{self, Block, FileBlocks, Mode, Pos, ProfileError, Visitor};

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
    /// Writes the merged profile in Go's text format.
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(b"mode: ");
        buf.extend_from_slice(self.mode.as_str().as_bytes());
        buf.push(b'\n');
        for file in &self.files {
            for b in &file.blocks {
                buf.extend_from_slice(file.path.as_bytes());
                buf.push(b':');
                push_u32(&mut buf, b.pos.start_line);
                buf.push(b'.');
                push_u32(&mut buf, b.pos.start_col);
                buf.push(b',');
                push_u32(&mut buf, b.pos.end_line);
                buf.push(b'.');
                push_u32(&mut buf, b.pos.end_col);
                buf.push(b' ');
                push_u32(&mut buf, b.stmts);
                buf.push(b' ');
                push_u32(&mut buf, b.count);
                buf.push(b'\n');
                if buf.len() >= (1 << 20) - 4096 {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
        }
        out.write_all(&buf)
    }
}

/// Merges the inputs.
pub fn merge(inputs: &[Input], opts: &Options) -> anyhow::Result<Merged> {
    if inputs.is_empty() {
        bail!("no input profiles");
    }
    let names: Vec<String> = inputs.iter().map(Input::name).collect();
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(inputs.len())
    .max(1);

    // Largest first, so that the last input to finish is a small one.
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    let sizes: Vec<u64> = inputs.iter().map(Input::len).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));

    let next = AtomicUsize::new(0);
    // The lowest input index that failed; inputs after it need not be read.
    let first_failure = AtomicUsize::new(usize::MAX);
    let failures: Mutex<Vec<(usize, anyhow::Error)>> = Mutex::new(Vec::new());
    let modes: Mutex<Vec<Option<Mode>>> = Mutex::new(vec![None; inputs.len()]);

    let work = || -> Table {
        let mut table = Table::new(opts.filter.clone());
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
            let result = inputs[i]
                .open()
                .and_then(|reader| profile::parse(&names[i], reader, &mut visitor));
            let mode = visitor.mode;
            modes.lock().unwrap()[i] = mode;
            if let Err(e) = result {
                first_failure.fetch_min(i, Ordering::Relaxed);
                failures.lock().unwrap().push((i, e));
            }
        }
        table
    };
    let mut tables: Vec<Table> = if threads == 1 {
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

    let mut table = tables.pop().expect("at least one worker");
    for other in tables {
        table.absorb(other);
    }
    table.finish(mode, opts.keep_overlaps, &names)
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

/// A block while merging: where it came from, for the overlap rule.
#[derive(Clone, Copy, Debug)]
struct Slot {
    pos: Pos,
    stmts: u32,
    count: u32,
    /// Lowest and highest input index holding this block.
    first: u32,
    last: u32,
}

struct FileEntry {
    path: Box<[u8]>,
    keep: bool,
    slots: Vec<Slot>,
    /// `slots` is strictly increasing by position (true while blocks arrive
    /// in order, as they do from Go): lookups by binary search, no index.
    sorted: bool,
    /// Position → slot, built when blocks stop arriving in order.
    index: Option<HashMap<Pos, u32, FxBuild>>,
    /// Where the next block of the current input probably is: profiles of
    /// one module list a file's blocks in the same order.
    cursor: usize,
}

impl FileEntry {
    fn find(&self, pos: &Pos) -> Option<usize> {
        if let Some(index) = &self.index {
            return index.get(pos).map(|&i| i as usize);
        }
        debug_assert!(self.sorted);
        self.slots.binary_search_by(|s| s.pos.cmp(pos)).ok()
    }

    /// Adds a block (new or seen before); returns its slot.
    #[inline]
    fn add(&mut self, pos: Pos) -> (usize, bool) {
        let c = self.cursor;
        if let Some(s) = self.slots.get(c) {
            if s.pos == pos {
                self.cursor = c + 1;
                return (c, false);
            }
        }
        let appends_in_order = self.sorted && self.slots.last().map_or(true, |l| l.pos < pos);
        let found = if appends_in_order {
            None
        } else {
            self.find(&pos)
        };
        let i = match found {
            Some(i) => {
                self.cursor = i + 1;
                return (i, false);
            }
            None => self.slots.len(),
        };
        if !appends_in_order && self.sorted {
            self.sorted = false;
            let mut index =
                HashMap::with_capacity_and_hasher(self.slots.len() * 2, FxBuild::default());
            for (j, s) in self.slots.iter().enumerate() {
                index.insert(s.pos, j as u32);
            }
            self.index = Some(index);
        }
        if let Some(index) = &mut self.index {
            index.insert(pos, i as u32);
        }
        self.slots.push(Slot {
            pos,
            stmts: 0,
            count: 0,
            first: u32::MAX,
            last: 0,
        });
        self.cursor = i + 1;
        (i, true)
    }
}

/// A numStmt disagreement between two inputs.
struct Conflict {
    path: Box<[u8]>,
    pos: Pos,
    a: (u32, u32),
    b: (u32, u32),
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
        self.files.push(FileEntry {
            path: path.into(),
            keep,
            slots: Vec::new(),
            sorted: true,
            index: None,
            cursor: 0,
        });
        self.by_path.insert(path.into(), i);
        i
    }

    /// Folds one occurrence of a block into slot `i` of file `f`.
    #[inline]
    fn fold(
        &mut self,
        f: u32,
        i: usize,
        fresh: bool,
        stmts: u32,
        count: u32,
        first: u32,
        last: u32,
    ) {
        let entry = &mut self.files[f as usize];
        let slot = &mut entry.slots[i];
        if fresh {
            *slot = Slot {
                pos: slot.pos,
                stmts,
                count,
                first,
                last,
            };
            return;
        }
        if slot.stmts != stmts {
            let conflict = Conflict {
                path: entry.path.clone(),
                pos: slot.pos,
                a: (slot.first, slot.stmts),
                b: (first, stmts),
            };
            self.conflicts.push(conflict);
            return;
        }
        slot.count = slot.count.saturating_add(count);
        slot.first = slot.first.min(first);
        slot.last = slot.last.max(last);
    }

    /// Merges another worker's table into this one.
    fn absorb(&mut self, other: Table) {
        self.conflicts.extend(other.conflicts);
        for entry in other.files {
            let f = self.file(&entry.path);
            self.files[f as usize].cursor = 0;
            for s in entry.slots {
                let (i, fresh) = self.files[f as usize].add(s.pos);
                self.fold(f, i, fresh, s.stmts, s.count, s.first, s.last);
            }
        }
    }

    fn finish(
        mut self,
        mode: Mode,
        keep_overlaps: bool,
        names: &[String],
    ) -> anyhow::Result<Merged> {
        if let Some(c) = self
            .conflicts
            .iter()
            .min_by_key(|c| (c.path.clone(), c.pos, c.a.0.min(c.b.0)))
        {
            let (a, b) = if c.a.0 <= c.b.0 {
                (c.a, c.b)
            } else {
                (c.b, c.a)
            };
            bail!(
                "{}:{}: numStmt {} in {} but {} in {}: the profiles come from different versions of the source",
                String::from_utf8_lossy(&c.path),
                c.pos,
                a.1,
                names[a.0 as usize],
                b.1,
                names[b.0 as usize]
            );
        }
        self.files.retain(|f| f.keep);
        self.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        let mut files = Vec::with_capacity(self.files.len());
        for entry in std::mem::take(&mut self.files) {
            let FileEntry {
                path,
                mut slots,
                sorted,
                index,
                ..
            } = entry;
            drop(index);
            if !sorted {
                slots.sort_unstable_by_key(|s| s.pos);
            }
            let path = String::from_utf8_lossy(&path).into_owned();
            if !keep_overlaps {
                check_overlaps(&path, &slots, names)?;
            }
            let clamp = mode == Mode::Set;
            let blocks = slots
                .into_iter()
                .map(|s| Block {
                    pos: s.pos,
                    stmts: s.stmts,
                    count: if clamp { s.count.min(1) } else { s.count },
                })
                .collect();
            files.push(FileBlocks { path, blocks });
        }
        Ok(Merged { mode, files })
    }
}

/// Fails on two overlapping blocks that no single input holds together.
/// An input holding both is known only approximately, from the lowest and
/// highest input index of each block: the ranges must intersect.
fn check_overlaps(path: &str, slots: &[Slot], names: &[String]) -> anyhow::Result<()> {
    // Blocks whose end lies after the current start; Go's blocks do not
    // nest, so this stays tiny.
    let mut active: Vec<usize> = Vec::new();
    for (j, s) in slots.iter().enumerate() {
        active.retain(|&a| s.pos.overlaps(&slots[a].pos));
        for &a in &active {
            let o = &slots[a];
            if o.last < s.first || s.last < o.first {
                let (x, y) = if o.first <= s.first { (o, s) } else { (s, o) };
                bail!(
                    "{path}: block {} (from {}) overlaps block {} (from {}) without being identical: \
                     the profiles come from different versions of the source (--keep-overlaps keeps both)",
                    x.pos,
                    names[x.first as usize],
                    y.pos,
                    names[y.first as usize]
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
        match self.mode {
            Some(m) if m != mode => Err(ProfileError {
                input: self.name.to_string(),
                line,
                msg: format!("mode {mode} differs from this input's earlier mode {m}: pass --mode to convert"),
            }
            .into()),
            _ => {
                self.mode = Some(mode);
                Ok(())
            }
        }
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
        let f = self.cur;
        let entry = &mut table.files[f as usize];
        if !entry.keep {
            return Ok(());
        }
        let (i, fresh) = entry.add(pos);
        table.fold(f, i, fresh, stmts, count, self.input, self.input);
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
