//! Go's binary coverage data (`GOCOVERDIR`, `-test.gocoverdir`) read
//! natively, exactly as `go tool covdata textfmt` reads it, without a Go
//! toolchain.
//!
//! A directory holding `covmeta.*` / `covcounters.*` files, a single
//! `covcounters.*` file (its meta-data file is found beside it) or a
//! `covmeta.*` file is an input. All binary inputs of one run are paired
//! together, as `go tool covdata -i a,b` pairs them: each counter file goes
//! with the meta-data file of the hash in its name, from any input
//! directory; one `covmeta.<hash>` seen in several places is one file.
//! Each meta-data file with its counter files (a "pod") becomes one input
//! of the merge and yields the block records a textfmt profile of it would.
//!
//! Counter files of one pod are summed, every one given (Go's rule), so a
//! directory must not hold several cumulative snapshots of one process
//! (covpull copies only the newest per process).
//!
//! Where Go warns or silently skips, this is an error naming the file:
//! counter files without their meta-data file, a counter file whose header
//! names another meta-data hash than its name, two meta-data files holding
//! different versions of one package, and any truncated or corrupt file.

mod bytes;
mod counters;
mod meta;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};

use crate::contract::{COVCOUNTERS_PREFIX, COVMETA_PREFIX};
use crate::profile::Visitor;
pub use meta::Meta;

/// One meta-data file and the counter files paired with it.
#[derive(Debug, Clone)]
pub struct Pod {
    pub meta_path: PathBuf,
    pub counter_paths: Vec<PathBuf>,
    meta: Arc<Meta>,
}

impl PartialEq for Pod {
    fn eq(&self, other: &Pod) -> bool {
        self.meta_path == other.meta_path && self.counter_paths == other.counter_paths
    }
}

impl Eq for Pod {}

impl Pod {
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The bytes to read, for scheduling the largest input first.
    pub fn size(&self) -> u64 {
        std::iter::once(&self.meta_path)
            .chain(&self.counter_paths)
            .map(|p| fs::metadata(p).map_or(0, |m| m.len()))
            .sum()
    }

    /// Reads the counter files and hands every unit to `visitor` as a
    /// block record, the counters summed: one record per unit of every
    /// function, as textfmt prints them (count 0 for a function no counter
    /// file mentions).
    pub fn visit<V: Visitor>(&self, visitor: &mut V) -> anyhow::Result<()> {
        visit(&self.meta, &self.counts()?, visitor)
    }

    /// The summed counters, one per unit in meta-data order. Large pods are
    /// read by several workers, each summing a share of the files.
    fn counts(&self) -> anyhow::Result<Vec<u32>> {
        let read = |paths: &[PathBuf]| -> anyhow::Result<Vec<u32>> {
            let mut counts = vec![0u32; self.meta.units.len()];
            for path in paths {
                let data =
                    fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
                counters::add(&data, &self.meta, &mut counts)
                    .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            }
            Ok(counts)
        };
        // A thread costs more than it saves below a few MB of counters.
        let threads = crate::pool::default_threads();
        if self.size() < 8 << 20 || threads == 1 {
            return read(&self.counter_paths);
        }
        let shares: Vec<&[PathBuf]> = self
            .counter_paths
            .chunks(self.counter_paths.len().div_ceil(threads))
            .collect();
        let mut parts = crate::pool::map(&shares, threads, |share| read(share)).into_iter();
        let mut counts = parts.next().expect("at least one share")?;
        let set = self.meta.mode == crate::profile::Mode::Set;
        for part in parts {
            for (c, v) in counts.iter_mut().zip(part?) {
                *c = if set {
                    u32::from(*c != 0 || v != 0)
                } else {
                    c.saturating_add(v)
                };
            }
        }
        Ok(counts)
    }

    /// The pod as `go tool covdata textfmt` would write it (blocks in
    /// meta-data order, not sorted).
    pub fn textfmt(&self) -> anyhow::Result<Vec<u8>> {
        textfmt(&self.meta, &self.counts()?)
    }
}

/// One meta-data file and its counter files given as bytes (the fuzz
/// target, library callers): the text `go tool covdata textfmt` would
/// write. Errors say what is wrong without a file name.
pub fn textfmt_of(meta: &[u8], counter_files: &[&[u8]]) -> anyhow::Result<Vec<u8>> {
    let meta = Meta::decode(meta).map_err(|e| anyhow!("meta-data: {e}"))?;
    let mut counts = vec![0u32; meta.units.len()];
    for (i, data) in counter_files.iter().enumerate() {
        counters::add(data, &meta, &mut counts).map_err(|e| anyhow!("counter file {i}: {e}"))?;
    }
    textfmt(&meta, &counts)
}

/// Hands every unit of `meta` to `visitor` as a block record with its
/// summed count: one record per unit of every function, as textfmt prints
/// them (count 0 for a function no counter file mentions).
fn visit<V: Visitor>(meta: &Meta, counts: &[u32], visitor: &mut V) -> anyhow::Result<()> {
    visitor.mode(meta.mode, 0)?;
    for p in &meta.packages {
        for f in &p.funcs {
            let file = p.file(f);
            let units = &meta.units[f.units.clone()];
            for (u, &count) in units.iter().zip(&counts[f.units.clone()]) {
                visitor.block(file, u.pos, u.stmts, count, 0)?;
            }
        }
    }
    Ok(())
}

fn textfmt(meta: &Meta, counts: &[u32]) -> anyhow::Result<Vec<u8>> {
    struct Text(Vec<u8>);
    impl Visitor for Text {
        fn mode(&mut self, mode: crate::profile::Mode, _: u64) -> anyhow::Result<()> {
            self.0
                .extend_from_slice(format!("mode: {mode}\n").as_bytes());
            Ok(())
        }
        fn block(
            &mut self,
            path: &[u8],
            pos: crate::profile::Pos,
            stmts: u32,
            count: u32,
            _: u64,
        ) -> anyhow::Result<()> {
            self.0.extend_from_slice(path);
            self.0
                .extend_from_slice(format!(":{pos} {stmts} {count}\n").as_bytes());
            Ok(())
        }
    }
    let mut text = Text(Vec::new());
    visit(meta, counts, &mut text)?;
    Ok(text.0)
}

/// The hash of a `covmeta.<hash>` file name.
fn meta_tag(name: &str) -> Option<&str> {
    let tag = name.strip_prefix(COVMETA_PREFIX)?;
    (!tag.is_empty() && !tag.contains(char::is_whitespace)).then_some(tag)
}

/// The hash of a `covcounters.<hash>.<pid>.<nanotime>` file name (Go's
/// `^covcounters\.(\S+)\.(\d+)\.(\d+)+$`).
fn counter_tag(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(COVCOUNTERS_PREFIX)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (rest, nanotime) = rest.rsplit_once('.')?;
    let (tag, pid) = rest.rsplit_once('.')?;
    (digits(nanotime) && digits(pid) && !tag.is_empty() && !tag.contains(char::is_whitespace))
        .then_some(tag)
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// Whether `path` is binary coverage data: a `covmeta.*` or `covcounters.*`
/// file, or a directory holding at least one.
pub fn accepts(path: &Path) -> bool {
    if path.is_dir() {
        return fs::read_dir(path).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_str().unwrap_or("");
                meta_tag(name).is_some() || counter_tag(name).is_some()
            })
        });
    }
    let name = file_name(path);
    meta_tag(name).is_some() || counter_tag(name).is_some()
}

/// Pairs binary inputs (directories and files that [`accepts`] took) into
/// pods, reading and checking every meta-data file. Pods come sorted by
/// meta-data file path, as Go visits them.
pub fn pods(inputs: &[PathBuf]) -> anyhow::Result<Vec<Pod>> {
    // Every file, in Go's order: inputs in order, a directory's files by name.
    let mut files: Vec<PathBuf> = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut names = fs::read_dir(input)
                .with_context(|| format!("{}: cannot read the directory", input.display()))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("{}: cannot read the directory", input.display()))?;
            names.retain(|p| !p.is_dir());
            names.sort();
            files.extend(names);
        } else {
            files.push(input.clone());
            // A lone counter file brings the meta-data file beside it.
            if let Some(tag) = counter_tag(file_name(input)) {
                let beside = input.with_file_name(format!("{COVMETA_PREFIX}{tag}"));
                if beside.is_file() {
                    files.push(beside);
                }
            }
        }
    }
    // The first meta-data file of each hash wins, as in Go.
    let mut metas: BTreeMap<&str, &PathBuf> = BTreeMap::new();
    for f in &files {
        if let Some(tag) = meta_tag(file_name(f)) {
            metas.entry(tag).or_insert(f);
        }
    }
    let mut counters: HashMap<&str, Vec<PathBuf>> = HashMap::new();
    for f in &files {
        if let Some(tag) = counter_tag(file_name(f)) {
            if !metas.contains_key(tag) {
                bail!(
                    "{}: no meta-data file {COVMETA_PREFIX}{tag} beside it or in another input (copy it with the counter files)",
                    f.display()
                );
            }
            counters.entry(tag).or_default().push(f.clone());
        }
    }
    let metas: Vec<(&str, &PathBuf)> = metas.into_iter().collect();
    let decoded = crate::pool::map(&metas, crate::pool::default_threads(), |(tag, path)| {
        read_meta(path, tag)
    });
    let mut pods = Vec::with_capacity(metas.len());
    for ((tag, path), meta) in metas.iter().zip(decoded) {
        pods.push(Pod {
            meta_path: (*path).clone(),
            counter_paths: counters.remove(tag).unwrap_or_default(),
            meta: Arc::new(meta?),
        });
    }
    pods.sort_by(|a, b| a.meta_path.cmp(&b.meta_path));
    one_version_per_package(&pods)?;
    Ok(pods)
}

fn read_meta(path: &Path, tag: &str) -> anyhow::Result<Meta> {
    let data = fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let meta = Meta::decode(&data).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if meta.hash_hex() != tag {
        bail!(
            "{}: its header holds meta-data hash {}, not the {tag} of its name",
            path.display(),
            meta.hash_hex()
        );
    }
    Ok(meta)
}

/// Two binaries may share a package (`-coverpkg`); its blocks then merge.
/// Different versions of one package (two builds of changed source) would
/// mix blocks that do not belong together: Go does it silently, we refuse.
fn one_version_per_package(pods: &[Pod]) -> anyhow::Result<()> {
    let mut seen: HashMap<&[u8], (&[u8; 16], &Path)> = HashMap::new();
    for pod in pods {
        for p in &pod.meta.packages {
            let (hash, first) = *seen
                .entry(p.path.as_slice())
                .or_insert((&p.hash, &pod.meta_path));
            if hash != &p.hash {
                bail!(
                    "{}: package {} differs from the one in {} (two builds from different sources)",
                    pod.meta_path.display(),
                    p.shown(),
                    first.display()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_as_go_matches_them() {
        assert_eq!(meta_tag("covmeta.ab12"), Some("ab12"));
        assert_eq!(meta_tag("covmeta."), None);
        assert_eq!(meta_tag("covmetaab"), None);
        assert_eq!(counter_tag("covcounters.ab12.123.456"), Some("ab12"));
        assert_eq!(counter_tag("covcounters.a.b.1.2"), Some("a.b"));
        assert_eq!(counter_tag("covcounters.ab12.x.456"), None);
        assert_eq!(counter_tag("covcounters.ab12.456"), None);
        assert_eq!(counter_tag(".covcounters.ab12.1.2"), None);
        assert_eq!(counter_tag("cover-1.out"), None);
    }
}
