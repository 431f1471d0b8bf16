//! The test map: which blocks each integration test executed in each
//! service, as `covtools cover` writes it next to merged.cov
//! (`test-map.json`) and covtotal, covreport and covselect read it. The
//! schema is docs/test-map.md; this is its one reader and writer.
//!
//! Blocks are numbered per file (`files[i].blocks`, in the order given
//! there); a set of blocks is stored per service and file as a bitmap, one
//! bit per block of the file, least significant bit first, without its
//! trailing zero bytes (coverage.py's numbits do the same), in standard
//! base64. Files a test did not touch in a service are left out. So a test
//! costs at most one bit per block up to the last block it ran in each file
//! it touched, rounded up to a byte.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::profile::Pos;

/// The `kind` of every test map.
pub const KIND: &str = "covtools-test-map";
/// The schema version this code writes. It reads version 1 too, whose
/// bitmaps always had every byte of the file (a case of version 2's rule).
pub const VERSION: u32 = 2;
/// The file name next to merged.cov.
pub const FILE_NAME: &str = "test-map.json";

/// Service name -> file index (decimal text, a JSON key) -> bitmap.
pub type Coverage = BTreeMap<String, BTreeMap<String, String>>;

/// A block of the map: its file's index and its index in the file.
pub type BlockId = (u32, u32);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestMap {
    pub kind: String,
    pub version: u32,
    /// The counter mode of the services' builds (`atomic`).
    pub mode: String,
    /// The services measured, in configuration order.
    pub services: Vec<String>,
    pub files: Vec<MapFile>,
    /// Per service, the indices of the files its binary holds (its share
    /// of `files`: a package several services link is in each).
    #[serde(default)]
    pub service_files: BTreeMap<String, Vec<u32>>,
    /// Coverage no single test owns: the start-up, between tests, and
    /// tests that overlapped.
    pub buckets: Vec<Bucket>,
    pub tests: Vec<TestEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapFile {
    /// As the profile spells it (`example.com/shop/cmd/orders/main.go`).
    pub path: String,
    /// Five numbers per block: start line, start column, end line, end
    /// column, statements (the profile's positions).
    pub blocks: Vec<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bucket {
    /// `startup` (before the first test), `between` (after the first test
    /// started, while no test was open) or `parallel` (while the tests
    /// named in `tests` were open together).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<String>,
    pub coverage: Coverage,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestEntry {
    /// The name as the suite writes it (`TestCreateAndGet`).
    pub name: String,
    /// `passed`, `failed`, `skipped`, or `unfinished` (never ended).
    pub result: String,
    /// From the end of its start snapshot to the start of its end one.
    pub duration_ms: f64,
    /// For an unfinished test: what closed it (`start of TestB`, `end of
    /// the suite`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// Blocks it ran while no other test was open.
    pub coverage: Coverage,
}

impl MapFile {
    pub fn len(&self) -> usize {
        self.blocks.len() / 5
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Block `i`'s position and statements.
    pub fn block(&self, i: usize) -> (Pos, u32) {
        let b = &self.blocks[5 * i..5 * i + 5];
        (
            Pos {
                start_line: b[0],
                start_col: b[1],
                end_line: b[2],
                end_col: b[3],
            },
            b[4],
        )
    }
}

impl TestMap {
    pub fn read(path: &Path) -> anyhow::Result<TestMap> {
        let text =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let map: TestMap = serde_json::from_slice(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}: not a test map ({e})",
                path.display(),
                e.line().max(1)
            )
        })?;
        if map.kind != KIND || !(1..=VERSION).contains(&map.version) {
            bail!(
                "{}:1: expected a {KIND} of version 1 to {VERSION}, found {:?} version {}",
                path.display(),
                map.kind,
                map.version
            );
        }
        for (i, f) in map.files.iter().enumerate() {
            if f.blocks.len() % 5 != 0 {
                bail!(
                    "{}: files[{i}] ({}): blocks hold five numbers each",
                    path.display(),
                    f.path
                );
            }
        }
        Ok(map)
    }

    /// The blocks of a coverage, all services together.
    pub fn blocks(&self, cov: &Coverage) -> anyhow::Result<BTreeSet<BlockId>> {
        let mut out = BTreeSet::new();
        for files in cov.values() {
            for (f, bits) in files {
                let fi: u32 = f
                    .parse()
                    .with_context(|| format!("file index {f:?} is not a number"))?;
                let file = self
                    .files
                    .get(fi as usize)
                    .with_context(|| format!("file index {fi} is out of range"))?;
                for b in decode_bits(bits, file.len())? {
                    out.insert((fi, b));
                }
            }
        }
        Ok(out)
    }

    /// Statements of a set of blocks.
    pub fn statements(&self, blocks: &BTreeSet<BlockId>) -> u64 {
        blocks
            .iter()
            .map(|&(f, b)| self.files[f as usize].blocks[5 * b as usize + 4] as u64)
            .sum()
    }

    /// Blocks of the services' code, each service's own: a block of a
    /// package that three services link counts three times (the most bits a
    /// test can set).
    pub fn service_blocks(&self) -> usize {
        self.service_files
            .values()
            .flatten()
            .map(|&f| self.files[f as usize].len())
            .sum()
    }

    /// Every block of the map.
    pub fn all_blocks(&self) -> usize {
        self.files.iter().map(MapFile::len).sum()
    }

    /// The file index of a profile path.
    pub fn file_index(&self, path: &str) -> Option<u32> {
        self.files
            .iter()
            .position(|f| f.path == path)
            .map(|i| i as u32)
    }
}

/// Whoever ran blocks: a test, or a bucket no single test owns.
#[derive(Clone, Debug)]
pub struct Owner {
    /// The test's name; `(start-up)`, `(between tests)` or `A + B` for a
    /// parallel group.
    pub label: String,
    /// The test's result; the bucket's kind.
    pub result: String,
    /// Index into `tests`, for a test.
    pub test: Option<usize>,
    /// The tests a bucket names (a parallel group's).
    pub members: Vec<String>,
    pub blocks: BTreeSet<BlockId>,
}

impl TestMap {
    /// The buckets, then the tests, each with its blocks (all services
    /// together).
    pub fn owners(&self) -> anyhow::Result<Vec<Owner>> {
        let mut out = Vec::new();
        for b in &self.buckets {
            out.push(Owner {
                label: match b.kind.as_str() {
                    "startup" => "(start-up)".to_string(),
                    "between" => "(between tests)".to_string(),
                    _ => b.tests.join(" + "),
                },
                result: b.kind.clone(),
                test: None,
                members: b.tests.clone(),
                blocks: self
                    .blocks(&b.coverage)
                    .with_context(|| format!("bucket {}", b.kind))?,
            });
        }
        for (i, t) in self.tests.iter().enumerate() {
            out.push(Owner {
                label: t.name.clone(),
                result: t.result.clone(),
                test: Some(i),
                members: vec![t.name.clone()],
                blocks: self
                    .blocks(&t.coverage)
                    .with_context(|| format!("test {:?}", t.name))?,
            });
        }
        Ok(out)
    }

    /// The source lines of a set of blocks, per file (the line rule of
    /// covcore::diff::block_lines, as lcov and the HTML show lines).
    pub fn lines(&self, blocks: &BTreeSet<BlockId>) -> BTreeMap<u32, Vec<u32>> {
        let mut per_file: BTreeMap<u32, Vec<crate::profile::Block>> = BTreeMap::new();
        for &(f, b) in blocks {
            let (pos, stmts) = self.files[f as usize].block(b as usize);
            per_file.entry(f).or_default().push(crate::profile::Block {
                pos,
                stmts,
                count: 1,
            });
        }
        per_file
            .into_iter()
            .map(|(f, bs)| {
                let lines: Vec<u32> = crate::lines::line_runs(&bs)
                    .iter()
                    .flat_map(|run| run.first..=run.last)
                    .collect();
                (f, lines)
            })
            .filter(|(_, l)| !l.is_empty())
            .collect()
    }

    /// Statements of every block of the map.
    pub fn all_statements(&self) -> u64 {
        self.files
            .iter()
            .flat_map(|f| f.blocks.chunks(5).map(|b| b[4] as u64))
            .sum()
    }
}

/// Per service, the set of blocks as a coverage (bitmaps per file).
pub fn encode(per_service: &BTreeMap<String, BTreeSet<BlockId>>, files: &[MapFile]) -> Coverage {
    let mut cov = Coverage::new();
    for (svc, blocks) in per_service {
        let mut by_file: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for &(f, b) in blocks {
            let bits = by_file
                .entry(f)
                .or_insert_with(|| vec![0u8; files[f as usize].len().div_ceil(8)]);
            bits[b as usize / 8] |= 1 << (b % 8);
        }
        for bits in by_file.values_mut() {
            // Blocks past the last one set cost nothing.
            while bits.last() == Some(&0) {
                bits.pop();
            }
        }
        if by_file.is_empty() {
            continue;
        }
        cov.insert(
            svc.clone(),
            by_file
                .into_iter()
                .map(|(f, bits)| (f.to_string(), base64(&bits)))
                .collect(),
        );
    }
    cov
}

/// The set bits of a bitmap of a file of `len` blocks (bytes past its end
/// are zero).
pub fn decode_bits(text: &str, len: usize) -> anyhow::Result<Vec<u32>> {
    let bytes = unbase64(text).with_context(|| format!("bitmap {text:?}"))?;
    if bytes.len() > len.div_ceil(8) {
        bail!(
            "bitmap {text:?}: {} bytes for {len} blocks (expected at most {})",
            bytes.len(),
            len.div_ceil(8)
        );
    }
    let mut out = Vec::new();
    for (i, byte) in bytes.iter().enumerate() {
        for bit in 0..8 {
            if byte & (1 << bit) != 0 {
                let b = 8 * i + bit;
                if b >= len {
                    bail!("bitmap {text:?}: bit {b} set beyond the file's {len} blocks");
                }
                out.push(b as u32);
            }
        }
    }
    Ok(out)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648).
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | b as u32) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of standard base64 (a bitmap's, as stored).
pub fn unbase64(text: &str) -> anyhow::Result<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .with_context(|| format!("{:?} is not a base64 character", c as char))?;
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// Go's `regexp.QuoteMeta`: a test name as a literal in a `-run` pattern.
pub fn regex_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Blocks only one owner reached: per owner, the blocks no other owner of
/// `owners` ran.
pub fn only(owners: &[BTreeSet<BlockId>]) -> Vec<BTreeSet<BlockId>> {
    let mut seen: BTreeMap<BlockId, usize> = BTreeMap::new();
    for set in owners {
        for b in set {
            *seen.entry(*b).or_default() += 1;
        }
    }
    owners
        .iter()
        .map(|set| set.iter().filter(|b| seen[b] == 1).copied().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_the_rfc() {
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"f"), "Zg==");
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(unbase64(&base64(&bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn test_names_are_quoted_for_go_regexps() {
        assert_eq!(regex_quote("a.b(c)|d"), r"a\.b\(c\)\|d");
        assert_eq!(regex_quote("TestA"), "TestA");
    }

    #[test]
    fn bitmaps_hold_one_bit_per_block() {
        let files = vec![MapFile {
            path: "m/a.go".into(),
            blocks: vec![1; 5 * 11],
        }];
        let set: BTreeSet<BlockId> = [(0, 0), (0, 9), (0, 10)].into_iter().collect();
        let cov = encode(&[("svc".to_string(), set.clone())].into(), &files);
        // 11 blocks: two bytes.
        assert_eq!(cov["svc"]["0"], base64(&[0b1, 0b110]));
        assert_eq!(decode_bits(&cov["svc"]["0"], 11).unwrap(), [0, 9, 10]);
        assert!(decode_bits(&cov["svc"]["0"], 9).is_err());
        // Up to the last block set: one byte, the second left out.
        let early: BTreeSet<BlockId> = [(0, 0), (0, 7)].into_iter().collect();
        let cov = encode(&[("svc".to_string(), early)].into(), &files);
        assert_eq!(cov["svc"]["0"], base64(&[0b1000_0001]));
        assert_eq!(decode_bits(&cov["svc"]["0"], 11).unwrap(), [0, 7]);
        // A version 1 bitmap, every byte present, reads the same.
        assert_eq!(decode_bits(&base64(&[0b1000_0001, 0]), 11).unwrap(), [0, 7]);
        assert!(decode_bits(&base64(&[1, 0, 0]), 11).is_err());
        let only = only(&[set, [(0, 9)].into_iter().collect()]);
        assert_eq!(only[0], [(0, 0), (0, 10)].into_iter().collect());
        assert!(only[1].is_empty());
    }
}
