//! Diff coverage: the statements on the lines a change added or modified
//! since the merge-base with a git ref, how many ran, and the changed lines
//! that did not, as `file:line-line` ranges.
//!
//! Statement-level: a block of the profile counts (all its statements) when
//! one of its lines (startLine..=endLine) was added or changed, and it is
//! covered when its count is above 0. The uncovered changed lines are the
//! changed lines whose line is uncovered by the line rule of
//! [`crate::lines`] (a line spanned by several blocks takes their largest
//! count), which is exactly what a line-level tool such as diff-cover
//! reports from covreport's Cobertura or lcov. The percents differ where a
//! block's statements and its lines differ in number: diff-cover counts
//! changed lines, covtotal counts the statements of changed blocks.
//!
//! A changed Go file absent from the profile (a package no test built)
//! counts with all its statements uncovered: they are found by Go's own
//! `go tool cover` on the file (so `go` must be on PATH then). A file with
//! no function declarations has no statements and does not count. Deleted
//! files have no changed lines; a renamed file's changed lines are those of
//! its new name (git's rename detection); `_test.go` files are never in a
//! profile and are left out.
//!
//! What git prints is git's to configure: a user's `diff.mnemonicPrefix`,
//! `diff.noprefix`, `diff.external`, `color.diff`, `diff.renames` or
//! `diff.interHunkContext` would each change it. Every option that shapes
//! the output is given on the command line ([`DIFF_OPTIONS`]), where it
//! wins over any configuration.

mod patch;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::gosrc::SourceRoot;
use crate::lines::{last_line, line_runs, uncovered_in};
use crate::process::{not_found, process};
use crate::profile::{Block, FileBlocks, Pos};

/// `git diff`'s options, each fixing what a configuration could change:
/// the prefixes [`patch`] strips, no external diff or text conversion, no
/// colour, rename detection on (a renamed file's lines are its new name's)
/// and copy detection off, hunks without context lines however close, and
/// paths from the repository root.
const DIFF_OPTIONS: &[&str] = &[
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--find-renames",
    "--unified=0",
    "--inter-hunk-context=0",
    "--no-relative",
];

pub use patch::{FilePatch, Hunk};

/// Which files a diff since a ref holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Go files added, modified or renamed: what diff coverage counts.
    GoSources,
    /// Every file, deleted ones too, both sides: what covselect judges.
    Everything,
}

/// A diff since the merge-base of a ref and HEAD, working tree included
/// (untracked files are not seen).
#[derive(Clone, Debug)]
pub struct Since {
    pub base: String,
    /// The repository root, as git names it.
    pub top: PathBuf,
    pub merge_base: String,
    pub files: Vec<FilePatch>,
}

/// What changed since the merge-base of `base` and HEAD in the git
/// checkout holding `src`: the one reading of a diff that diff coverage
/// and covselect share. Errors name `--diff-base`.
pub fn since(src: &Path, base: &str, scope: Scope) -> anyhow::Result<Since> {
    let top = git(src, &["rev-parse", "--show-toplevel"]).with_context(|| {
        format!(
            "--diff-base {base}: {} is not in a git checkout",
            src.display()
        )
    })?;
    let top = PathBuf::from(top.trim());
    let commit = format!("{base}^{{commit}}");
    if git(src, &["rev-parse", "--verify", "--quiet", &commit]).is_err() {
        bail!(
            "--diff-base {base}: no such commit in the git repository at {} (fetch it first, e.g. `git fetch origin main`)",
            top.display()
        );
    }
    let merge_base = git(src, &["merge-base", base, "HEAD"])
        .with_context(|| format!("--diff-base {base}: no merge-base with HEAD"))?
        .trim()
        .to_string();
    let mut args = vec!["-c", "core.quotePath=true", "diff"];
    args.extend_from_slice(DIFF_OPTIONS);
    if scope == Scope::GoSources {
        args.push("--diff-filter=AMR");
    }
    args.push(merge_base.as_str());
    if scope == Scope::GoSources {
        args.extend(["--", "*.go"]);
    }
    let diff = git_bytes(&top, &args)?;
    Ok(Since {
        base: base.to_string(),
        top,
        files: patch::parse_patch(&diff)?,
        merge_base,
    })
}

/// The added or changed lines of one file, as git shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedFile {
    /// The path relative to the repository root (the new name of a
    /// rename), as shown in messages.
    pub git_path: String,
    /// The file on disk.
    pub disk: PathBuf,
    /// The profile's name of the file (`module/pkg/file.go`), bytes as
    /// the file system has them.
    pub profile_path: Vec<u8>,
    /// Inclusive, ascending, disjoint line ranges of the new file.
    pub ranges: Vec<(u32, u32)>,
}

/// What changed since the merge-base with a ref.
#[derive(Clone, Debug)]
pub struct Changes {
    pub base: String,
    pub merge_base: String,
    pub files: Vec<ChangedFile>,
}

/// The Go files (not `_test.go`) under `src` changed since the merge-base
/// of `base` and HEAD, working-tree changes included. `src` is the module
/// root that `--src` names, inside a git checkout.
pub fn changed_lines(src: &Path, base: &str) -> anyhow::Result<Changes> {
    let root = SourceRoot::open(src)?;
    let Since {
        top,
        merge_base,
        files: patches,
        ..
    } = since(src, base, Scope::GoSources)?;
    let src_abs = std::fs::canonicalize(src)
        .with_context(|| format!("--src {}: cannot resolve", src.display()))?;
    let top_abs = std::fs::canonicalize(&top).unwrap_or(top.clone());
    let src_rel = src_abs.strip_prefix(&top_abs).unwrap_or(Path::new(""));
    let mut files = Vec::new();
    for p in &patches {
        let Some(git_path) = &p.new else { continue };
        let ranges = p.new_ranges()?;
        let git_path = Path::new(std::ffi::OsStr::from_bytes(git_path));
        if git_path.as_os_str().as_bytes().ends_with(b"_test.go") || ranges.is_empty() {
            continue;
        }
        let Ok(in_src) = git_path.strip_prefix(src_rel) else {
            continue;
        };
        let rel = in_src.as_os_str().as_bytes();
        let profile_path = match root.module.as_deref().filter(|m| *m != "std") {
            Some(module) => [module.as_bytes(), b"/", rel].concat(),
            None => rel.to_vec(),
        };
        files.push(ChangedFile {
            disk: top_abs.join(git_path),
            git_path: git_path.to_string_lossy().into_owned(),
            profile_path,
            ranges,
        });
    }
    files.sort_by(|a, b| a.profile_path.cmp(&b.profile_path));
    Ok(Changes {
        base: base.to_string(),
        merge_base,
        files,
    })
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    String::from_utf8(git_bytes(dir, args)?).context("git printed non-UTF-8 output")
}

/// git's output as bytes: a diff holds file names and lines of source,
/// neither of which need be UTF-8.
fn git_bytes(dir: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = process("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| {
            if not_found(&e) {
                e.context("diff coverage needs git on PATH")
            } else {
                e
            }
        })?;
    Ok(out.stdout)
}

/// Whether a block reaches a line of `from..=to`, by the line rule of
/// [`block_lines`] (its changed-statement rule, for other tools).
pub fn block_touches(b: &Block, from: u32, to: u32) -> bool {
    b.pos.start_line <= to && from <= last_line(b)
}

/// `git -C dir ARGS…`'s output, as diff coverage runs git.
pub fn git_output(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    git(dir, args)
}

/// The diff coverage of one changed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDiff {
    pub profile_path: Vec<u8>,
    pub git_path: String,
    /// False when the file is absent from the profile (counted uncovered).
    pub in_profile: bool,
    pub covered: u64,
    pub statements: u64,
    /// Changed lines that are uncovered, as inclusive ranges.
    pub uncovered: Vec<(u32, u32)>,
}

/// The diff coverage of a change.
#[derive(Clone, Debug)]
pub struct DiffCoverage {
    pub base: String,
    pub merge_base: String,
    pub covered: u64,
    pub statements: u64,
    /// Changed files with statements on changed lines.
    pub files: Vec<FileDiff>,
}

impl DiffCoverage {
    pub fn totals(&self) -> crate::total::Totals {
        crate::total::Totals {
            covered: self.covered,
            statements: self.statements,
        }
    }

    /// `file:a-b` (or `file:a`) for every uncovered range, file by git path.
    pub fn uncovered_ranges(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.files {
            for &(a, b) in &f.uncovered {
                out.push(if a == b {
                    format!("{}:{a}", f.git_path)
                } else {
                    format!("{}:{a}-{b}", f.git_path)
                });
            }
        }
        out
    }
}

/// Counts the changed statements of `changes` in the merged `files`
/// (sorted by path, as a merge gives them).
pub fn coverage(changes: &Changes, files: &[FileBlocks]) -> anyhow::Result<DiffCoverage> {
    let mut out = DiffCoverage {
        base: changes.base.clone(),
        merge_base: changes.merge_base.clone(),
        covered: 0,
        statements: 0,
        files: Vec::new(),
    };
    for ch in &changes.files {
        let found = files
            .binary_search_by(|f| f.path.as_slice().cmp(&ch.profile_path))
            .ok()
            .map(|i| &files[i]);
        let absent;
        let (blocks, in_profile) = match found {
            Some(fb) => (&fb.blocks, true),
            None => {
                absent = source_blocks(&ch.disk)
                    .with_context(|| format!("{}: changed but not in the profile", ch.git_path))?;
                (&absent, false)
            }
        };
        let touched = |from: u32, to: u32| ch.ranges.iter().any(|&(a, b)| a <= to && from <= b);
        let (mut covered, mut statements) = (0u64, 0u64);
        for b in blocks.iter().filter(|b| b.stmts > 0) {
            if touched(b.pos.start_line, last_line(b)) {
                statements += b.stmts as u64;
                if b.count > 0 {
                    covered += b.stmts as u64;
                }
            }
        }
        if statements == 0 {
            continue;
        }
        let uncovered = uncovered_in(&line_runs(blocks), &ch.ranges);
        out.covered += covered;
        out.statements += statements;
        out.files.push(FileDiff {
            profile_path: ch.profile_path.clone(),
            git_path: ch.git_path.clone(),
            in_profile,
            covered,
            statements,
            uncovered,
        });
    }
    Ok(out)
}

/// The blocks (count 0) of a Go file no profile holds, as cmd/cover
/// instruments it: `go tool cover -mode=set` prints the instrumented file
/// with its block table (`Pos` as startLine, endLine, endCol<<16|startCol;
/// `NumStmt`). A file without function declarations has none.
pub fn source_blocks(path: &Path) -> anyhow::Result<Vec<Block>> {
    let src = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if crate::gosrc::func_decls(&src)
        .with_context(|| path.display().to_string())?
        .is_empty()
    {
        return Ok(Vec::new());
    }
    let out = process("go")
        .args(["tool", "cover", "-mode=set", "-var=CovtoolsDiff"])
        .arg(path)
        .env("GOTOOLCHAIN", "local")
        .output()
        .map_err(|e| {
            if not_found(&e) {
                anyhow::anyhow!("counting its statements needs `go` on PATH (go tool cover)")
            } else {
                e
            }
        })?;
    parse_cover_table(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("go tool cover {}: unexpected output", path.display()))
}

fn parse_cover_table(text: &str) -> anyhow::Result<Vec<Block>> {
    let numbers = |section: &str| -> anyhow::Result<Vec<u32>> {
        let start = text
            .find(section)
            .with_context(|| format!("no {section} table"))?;
        let body = &text[start..];
        let body = &body[body.find('{').context("no table body")? + 1..];
        let body = &body[..body.find('}').context("no table end")?];
        let mut v = Vec::new();
        for line in body.lines() {
            let data = line.split("//").next().unwrap_or("");
            for tok in data.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let n = match tok.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => tok.parse(),
                };
                v.push(n.with_context(|| format!("bad number {tok:?}"))?);
            }
        }
        Ok(v)
    };
    let pos = numbers("Pos: [")?;
    let stmts = numbers("NumStmt: [")?;
    if pos.len() != stmts.len() * 3 {
        bail!("{} positions for {} blocks", pos.len() / 3, stmts.len());
    }
    Ok(pos
        .chunks(3)
        .zip(stmts)
        .map(|(p, n)| Block {
            pos: Pos {
                start_line: p[0],
                start_col: p[2] & 0xffff,
                end_line: p[1],
                end_col: p[2] >> 16,
            },
            stmts: n,
            count: 0,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_cover_tables() {
        let text = "var X = struct {\n} {\n\tPos: [3 * 2]uint32{\n\t\t5, 5, 0xb0002, // [0]\n\t\t8, 10, 0xa0002, // [1]\n\t},\n\tNumStmt: [2]uint16{\n\t\t1, // 0\n\t\t2, // 1\n\t},\n}\n";
        let blocks = super::parse_cover_table(text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            (
                blocks[1].pos.start_line,
                blocks[1].pos.start_col,
                blocks[1].pos.end_line,
                blocks[1].pos.end_col,
                blocks[1].stmts
            ),
            (8, 2, 10, 10, 2)
        );
    }
}
