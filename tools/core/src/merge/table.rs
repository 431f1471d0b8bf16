//! One worker's files: each input's lines folded into them as it is read.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::entry::{Conflict, FileEntry, Origin};
use super::filter::PathFilter;
use crate::profile::{self, Block, Mode, Pos, Visitor};

/// No file yet (the visitor's `cur`).
pub(super) const NONE: u32 = u32::MAX;

pub(super) struct Table {
    filter: PathFilter,
    by_path: HashMap<Box<[u8]>, u32, FxBuild>,
    pub(super) files: Vec<FileEntry>,
    pub(super) conflicts: Vec<Conflict>,
}

impl Table {
    pub(super) fn new(filter: PathFilter) -> Table {
        Table {
            filter,
            by_path: HashMap::default(),
            files: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    pub(super) fn file(&mut self, path: &[u8]) -> u32 {
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

/// Receives one input's lines into a table.
pub(super) struct InputVisitor<'a> {
    pub(super) table: &'a mut Table,
    pub(super) input: u32,
    pub(super) name: &'a str,
    pub(super) mode: Option<Mode>,
    /// The file of the previous block: consecutive lines share it.
    pub(super) cur: u32,
}

impl<'a> InputVisitor<'a> {
    pub(super) fn new(table: &'a mut Table, input: u32, name: &'a str) -> InputVisitor<'a> {
        InputVisitor {
            table,
            input,
            name,
            mode: None,
            cur: NONE,
        }
    }

    /// The input's mode, once its `mode:` line was read.
    pub(super) fn mode(&self) -> Option<Mode> {
        self.mode
    }
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
    pub(super) hash: u64,
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
