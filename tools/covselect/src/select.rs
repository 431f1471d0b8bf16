//! The decision: which tests ran the statements a change touches.
//!
//! The map describes the merge-base, so every hunk is judged on the base
//! side. Changed or removed lines select the tests that ran a block
//! reaching them (covcore::diff's line rule); inside a function but in no
//! block (a signature, a closing brace), every block of the function.
//! Lines added between base lines k and k+1 of a function select the tests
//! that ran the blocks reaching k or k+1 there: a new statement runs only
//! where control passes that point. Comment and blank lines are ignored.
//!
//! What the map cannot judge selects every test, with the reason: a new
//! Go file, a file the map does not hold, a change outside any function
//! (package-level declarations), a new method or init function, go.mod,
//! non-Go files, test code outside a test function, a deleted test; and
//! code the start-up (or something between tests) ran, which every test
//! depends on. A change in a test function selects that test, new or not.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Context;
use covcore::gosrc::{func_decls, Func};
use covcore::profile::Block;
use covcore::testmap::{BlockId, TestMap};

use covcore::diff::{FilePatch, Hunk, Since};

#[derive(Debug, Default)]
pub struct Selection {
    /// Selected tests, in the order they ran, then new ones.
    pub tests: Vec<String>,
    /// Why every test is selected (empty: only `tests`).
    pub all: Vec<String>,
    /// Changed lines no test ran (`file:a-b`).
    pub untested: Vec<String>,
    /// Changes left out (outside --src).
    pub ignored: Vec<String>,
}

struct Ctx<'a> {
    map: &'a TestMap,
    owners: Vec<covcore::testmap::Owner>,
    by_block: BTreeMap<BlockId, Vec<usize>>,
    module: Option<String>,
    changes: &'a Since,
    sel: BTreeSet<String>,
    named: BTreeSet<String>,
    out: Selection,
}

pub fn select(map: &TestMap, src: &Path, changes: &Since) -> anyhow::Result<Selection> {
    let root = covcore::gosrc::SourceRoot::open(src)?;
    let owners = map.owners()?;
    let mut by_block: BTreeMap<BlockId, Vec<usize>> = BTreeMap::new();
    for (i, o) in owners.iter().enumerate() {
        for b in &o.blocks {
            by_block.entry(*b).or_default().push(i);
        }
    }
    let src_abs = std::fs::canonicalize(src)
        .with_context(|| format!("--src {}: cannot resolve", src.display()))?;
    let top = std::fs::canonicalize(&changes.top).unwrap_or(changes.top.clone());
    let src_rel = src_abs
        .strip_prefix(&top)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let mut cx = Ctx {
        map,
        owners,
        by_block,
        module: root.module.filter(|m| m != "std"),
        changes,
        sel: BTreeSet::new(),
        named: BTreeSet::new(),
        out: Selection::default(),
    };
    for f in &changes.files {
        let under = |p: &Option<Vec<u8>>| {
            p.as_deref().and_then(|p| {
                path(p)
                    .strip_prefix(&src_rel)
                    .ok()
                    .map(|r| r.to_string_lossy().into_owned())
            })
        };
        let (old_rel, new_rel) = (under(&f.old), under(&f.new));
        let Some(rel) = new_rel.clone().or(old_rel.clone()) else {
            let p = f.new.as_deref().or(f.old.as_deref()).unwrap_or_default();
            cx.out
                .ignored
                .push(format!("{} (outside --src)", String::from_utf8_lossy(p)));
            continue;
        };
        if rel == "go.mod" || rel.ends_with("/go.mod") {
            cx.all(format!("{rel} changed (the dependencies)"));
        } else if !rel.ends_with(".go") {
            cx.all(format!("a file that is not Go changed: {rel}"));
        } else if rel.ends_with("_test.go") {
            cx.test_file(f, &rel)?;
        } else {
            cx.go_file(f, &rel, old_rel.as_deref())?;
        }
    }
    let mut out = cx.out;
    let ran = cx.map.tests.iter().map(|t| t.name.clone());
    let mut seen = BTreeSet::new();
    let every = !out.all.is_empty();
    for name in ran {
        if (every || cx.sel.contains(&name)) && seen.insert(name.clone()) {
            out.tests.push(name);
        }
    }
    for name in cx.named {
        if seen.insert(name.clone()) {
            out.tests.push(name);
        }
    }
    Ok(out)
}

/// A path of the diff (bytes, as git and the file system have it).
fn path(p: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(p))
}

fn is_test_func(f: &Func) -> bool {
    f.receiver.is_none()
        && f.name != "TestMain"
        && ["Test", "Example", "Fuzz"]
            .iter()
            .any(|p| f.name.starts_with(p))
}

/// A comment or blank line.
fn trivial(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with("//")
}

fn func_at(funcs: &[Func], line: u32) -> Option<&Func> {
    funcs
        .iter()
        .find(|f| f.extent.start_line <= line && line <= f.extent.end_line)
}

/// The non-trivial lines of `from..from+len` of a text.
fn code_lines(lines: &[&str], from: u32, len: u32) -> Vec<u32> {
    (from..from + len)
        .filter(|&l| lines.get(l as usize - 1).is_some_and(|t| !trivial(t)))
        .collect()
}

fn range_text(rel: &str, lines: &[u32]) -> String {
    match (lines.first(), lines.last()) {
        (Some(a), Some(b)) if a != b => format!("{rel}:{a}-{b}"),
        (Some(a), _) => format!("{rel}:{a}"),
        _ => rel.to_string(),
    }
}

impl Ctx<'_> {
    fn all(&mut self, why: String) {
        if !self.out.all.contains(&why) {
            self.out.all.push(why);
        }
    }

    fn base_text(&self, p: &[u8]) -> anyhow::Result<String> {
        covcore::diff::git_output(
            &self.changes.top,
            &[
                "show",
                &format!("{}:{}", self.changes.merge_base, String::from_utf8_lossy(p)),
            ],
        )
    }

    fn new_text(&self, p: &[u8]) -> anyhow::Result<String> {
        let disk = self.changes.top.join(path(p));
        std::fs::read_to_string(&disk).with_context(|| format!("reading {}", disk.display()))
    }

    /// A `_test.go` file: its test functions by name; anything else in it
    /// (helpers, TestMain, imports) or a deleted test selects every test.
    fn test_file(&mut self, f: &FilePatch, rel: &str) -> anyhow::Result<()> {
        let Some(new_path) = &f.new else {
            self.all(format!("a test file was deleted: {rel}"));
            return Ok(());
        };
        let base = match &f.old {
            Some(p) => self.base_text(p)?,
            None => String::new(),
        };
        let now = self.new_text(new_path)?;
        let (old_funcs, new_funcs) = (
            func_decls(base.as_bytes()).with_context(|| format!("{rel} at the base"))?,
            func_decls(now.as_bytes()).with_context(|| rel.to_string())?,
        );
        let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
            (base.lines().collect(), now.lines().collect());
        for h in &f.hunks {
            for l in code_lines(&old_lines, h.old_start, h.old_len) {
                match func_at(&old_funcs, l).filter(|f| is_test_func(f)) {
                    Some(t) if !new_funcs.iter().any(|n| n.name == t.name) => {
                        self.all(format!("a test was deleted: {} ({rel})", t.name))
                    }
                    Some(t) => {
                        self.named.insert(t.name.clone());
                    }
                    None => self.all(format!(
                        "test code outside a test function changed: {rel}:{l} (at the base)"
                    )),
                }
            }
            for l in code_lines(&new_lines, h.new_start, h.new_len) {
                match func_at(&new_funcs, l).filter(|f| is_test_func(f)) {
                    Some(t) => {
                        self.named.insert(t.name.clone());
                    }
                    None => self.all(format!(
                        "test code outside a test function changed: {rel}:{l}"
                    )),
                }
            }
        }
        Ok(())
    }

    /// A Go file of the services' code.
    fn go_file(&mut self, f: &FilePatch, rel: &str, old_rel: Option<&str>) -> anyhow::Result<()> {
        let (Some(old_path), Some(old_rel)) = (&f.old, old_rel) else {
            self.all(format!("a new Go file: {rel}"));
            return Ok(());
        };
        let profile_path = match &self.module {
            Some(m) => format!("{m}/{old_rel}"),
            None => old_rel.to_string(),
        };
        let Some(fi) = self.map.file_index(&profile_path) else {
            self.all(format!(
                "{rel} changed and the test map has no blocks of it (test helpers, a package no service links, or declarations only)"
            ));
            return Ok(());
        };
        let file = &self.map.files[fi as usize];
        let blocks: Vec<(u32, Block)> = (0..file.len())
            .map(|i| {
                let (pos, stmts) = file.block(i);
                (
                    i as u32,
                    Block {
                        pos,
                        stmts,
                        count: 0,
                    },
                )
            })
            .collect();
        let Some(new_path) = &f.new else {
            // Deleted: whoever ran any of it.
            let all: Vec<u32> = blocks.iter().map(|(i, _)| *i).collect();
            self.touch(fi, &all, format!("{rel} (deleted)"));
            return Ok(());
        };
        let base = self.base_text(old_path)?;
        let now = self.new_text(new_path)?;
        let base_funcs =
            func_decls(base.as_bytes()).with_context(|| format!("{rel} at the base"))?;
        let new_funcs = func_decls(now.as_bytes()).with_context(|| rel.to_string())?;
        let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
            (base.lines().collect(), now.lines().collect());
        let existed = |nf: &Func| {
            base_funcs
                .iter()
                .any(|b| b.name == nf.name && b.receiver == nf.receiver)
        };
        for h in &f.hunks {
            let old_code = code_lines(&old_lines, h.old_start, h.old_len);
            let new_code = code_lines(&new_lines, h.new_start, h.new_len);
            for &l in &old_code {
                if func_at(&base_funcs, l).is_none() {
                    self.all(format!(
                        "a change outside any function (package-level declarations): {rel}:{l} at the base"
                    ));
                }
            }
            let mut only_new_funcs = !new_code.is_empty();
            for &l in &new_code {
                match func_at(&new_funcs, l) {
                    None => {
                        only_new_funcs = false;
                        self.all(format!(
                            "a change outside any function (package-level declarations): {rel}:{l}"
                        ))
                    }
                    Some(nf) if existed(nf) => only_new_funcs = false,
                    Some(nf) if nf.name == "init" || nf.receiver.is_some() => self.all(format!(
                        "a new method or init function, which code may reach without a changed caller: {} ({rel}:{l})",
                        nf.name
                    )),
                    Some(_) => {}
                }
            }
            let probes: Vec<u32> = if !old_code.is_empty() {
                old_code.clone()
            } else if new_code.is_empty() {
                continue;
            } else if only_new_funcs {
                // New functions: reached only through changed callers.
                self.out
                    .untested
                    .push(format!("{} (new code)", range_text(rel, &new_code)));
                continue;
            } else {
                insertion_points(h)
            };
            let mut touched = Vec::new();
            let mut fallback: Vec<u32> = Vec::new();
            for &l in &probes {
                let Some(func) = func_at(&base_funcs, l) else {
                    continue;
                };
                let e = func.extent;
                // An insertion needs both neighbours in the function.
                if old_code.is_empty()
                    && !probes.iter().all(|&p| e.start_line <= p && p <= e.end_line)
                {
                    continue;
                }
                let inside: Vec<&(u32, Block)> = blocks
                    .iter()
                    .filter(|(_, b)| {
                        e.start_line <= b.pos.start_line && b.pos.end_line <= e.end_line
                    })
                    .collect();
                let reach: Vec<&(u32, Block)> = inside
                    .iter()
                    .copied()
                    .filter(|(_, b)| covcore::diff::block_touches(b, l, l))
                    .collect();
                // A statement spanning a function literal (`mux.HandleFunc("/x",
                // func(…) {…})`) is a block around the literal's blocks: what
                // runs on the line is the innermost block, not the outer one.
                let at: Vec<u32> = reach
                    .iter()
                    .filter(|(i, b)| {
                        !reach
                            .iter()
                            .any(|(j, o)| j != i && encloses(&b.pos, &o.pos))
                    })
                    .map(|(i, _)| *i)
                    .collect();
                // A modified line in no block (a signature, a brace): the
                // whole function. Around an insertion, the neighbour that
                // has blocks is enough.
                if at.is_empty() && (!old_code.is_empty() || fallback.is_empty()) {
                    fallback = inside.iter().map(|(i, _)| *i).collect();
                }
                if at.is_empty() && !old_code.is_empty() {
                    touched.append(&mut fallback);
                }
                touched.extend(at);
            }
            if touched.is_empty() {
                touched = fallback;
            }
            let shown = if new_code.is_empty() {
                format!("{} at the base (removed)", range_text(rel, &old_code))
            } else {
                range_text(rel, &new_code)
            };
            self.touch(fi, &touched, shown);
        }
        Ok(())
    }

    /// Selects whoever ran the touched blocks; code no test ran is untested.
    fn touch(&mut self, fi: u32, touched: &[u32], shown: String) {
        let mut anyone = false;
        for &b in touched {
            let owners = self.by_block.get(&(fi, b)).cloned().unwrap_or_default();
            for o in owners {
                anyone = true;
                let owner = &self.owners[o];
                if owner.test.is_some() || owner.result == "parallel" {
                    self.sel.extend(owner.members.iter().cloned());
                } else {
                    let when = if owner.result == "startup" {
                        "at start-up"
                    } else {
                        "between tests"
                    };
                    self.all(format!(
                        "code that ran {when} changed: {shown} (every test depends on it)"
                    ));
                }
            }
        }
        if !anyone && !touched.is_empty() {
            self.out.untested.push(shown);
        }
    }
}

/// Whether `outer` spans all of `inner` (and more).
fn encloses(outer: &covcore::profile::Pos, inner: &covcore::profile::Pos) -> bool {
    let (os, oe) = (
        (outer.start_line, outer.start_col),
        (outer.end_line, outer.end_col),
    );
    let (is, ie) = (
        (inner.start_line, inner.start_col),
        (inner.end_line, inner.end_col),
    );
    os <= is && ie <= oe && (os, oe) != (is, ie)
}

/// The base lines around a pure insertion (git's `-k,0` means after line
/// k), or around a hunk whose base side is only comments.
fn insertion_points(h: &Hunk) -> Vec<u32> {
    if h.old_len == 0 {
        vec![h.old_start, h.old_start + 1]
    } else {
        vec![h.old_start.saturating_sub(1), h.old_start + h.old_len]
    }
}
