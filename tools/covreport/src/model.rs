//! What every format shows, computed once: per file its statement totals
//! (covtotal's numbers), its lines (the block-to-line rule below) and, with
//! the source, its functions.
//!
//! Lines from blocks (docs/how-it-works.md, "How statement blocks become lines"): a
//! Go profile block covers `startLine.startCol,endLine.endCol` and holds
//! `numStmt` statements. Every line from startLine to endLine of a block
//! with at least one statement is a line of the report (blocks with no
//! statements, such as an empty function body, give none), except an end
//! line the block reaches only at column 1: the end is exclusive, so none
//! of that line's characters is in the block. A line spanned
//! by several blocks gets the largest of their counts, so it is covered when
//! any statement on it ran (`if x { return }` with only the `if` run is a
//! covered line). A block spanning several lines gives each of them its
//! count, comment and blank lines inside it included: the profile does not
//! say which lines hold its statements, and the line figures need no source.
//! Lines are kept as runs ([`covcore::lines`]): a block claiming billions of
//! lines costs no more than one of a single line. With `--src`, a block that
//! ends past the end of its file is an error: the profile is not of this
//! source, and its lines would be lines the file does not have. (covtotal
//! --src counts such blocks, as `go tool cover -func` does.)

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use covcore::gosrc::{self, FuncCoverage, SourceRoot};
use covcore::lines::{self, LineRun};
use covcore::merge::Merged;
use covcore::profile::{Block, FileBlocks, Mode};
use covcore::total::{self, Totals};

/// One source file of the report.
pub struct FileReport {
    /// The file name as the profile spells it (`module/pkg/file.go`).
    pub path: String,
    /// The name lcov and Cobertura show: relative to `--src` when given
    /// (`pkg/file.go`), else the profile's name.
    pub shown: String,
    /// The file on disk, with `--src`.
    pub disk: Option<PathBuf>,
    /// Covered and total statements, as covtotal counts them.
    pub totals: Totals,
    /// The lines and their hits, ascending runs.
    pub lines: Vec<LineRun>,
    /// With `--src`: the functions, in source order.
    pub funcs: Vec<FuncCoverage>,
    /// The merged blocks (the HTML annotates the source with them).
    pub blocks: Vec<Block>,
}

impl FileReport {
    pub fn package(&self) -> &str {
        self.path.rfind('/').map_or(".", |i| &self.path[..i])
    }

    /// Lines with hits > 0, and all lines.
    pub fn line_totals(&self) -> Totals {
        lines::totals(&self.lines)
    }
}

pub struct Report {
    pub mode: Mode,
    /// Sorted by profile path.
    pub files: Vec<FileReport>,
    pub src: Option<SourceRoot>,
}

impl Report {
    /// Builds the report. With `src`, statement totals count only blocks in
    /// function declarations (`go tool cover -func`, as `covtotal --src`).
    pub fn new(merged: &Merged, src: Option<SourceRoot>) -> anyhow::Result<Report> {
        let funcs = match &src {
            Some(root) => gosrc::func_coverage(root, &merged.files)?,
            None => Vec::new(),
        };
        let mut funcs = funcs.into_iter().peekable();
        let mut files = Vec::with_capacity(merged.files.len());
        // Both lists are sorted by path (func_coverage sorts bytewise, as
        // the merge does).
        for fb in &merged.files {
            let mut own = Vec::new();
            while let Some(f) = funcs.next_if(|f| f.file == fb.path) {
                own.push(f);
            }
            let totals = match &src {
                Some(_) => {
                    let mut t = Totals::default();
                    for f in &own {
                        t.add(f.covered, f.statements);
                    }
                    t
                }
                None => block_totals(fb),
            };
            let (shown, disk) = match &src {
                Some(root) => {
                    let disk = root.resolve(&fb.path)?;
                    within_the_file(fb, &disk)?;
                    let shown = disk
                        .strip_prefix(&root.dir)
                        .unwrap_or(&disk)
                        .to_string_lossy()
                        .into_owned();
                    (shown, Some(disk))
                }
                None => (String::from_utf8_lossy(&fb.path).into_owned(), None),
            };
            files.push(FileReport {
                path: String::from_utf8_lossy(&fb.path).into_owned(),
                shown,
                disk,
                totals,
                lines: lines::line_runs(&fb.blocks),
                funcs: own,
                blocks: fb.blocks.clone(),
            });
        }
        Ok(Report {
            mode: merged.mode,
            files,
            src,
        })
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for f in &self.files {
            t.add(f.totals.covered, f.totals.statements);
        }
        t
    }

    pub fn line_totals(&self) -> Totals {
        let mut t = Totals::default();
        for f in &self.files {
            let l = f.line_totals();
            t.add(l.covered, l.statements);
        }
        t
    }

    /// Per-package statement totals, sorted by package.
    pub fn packages(&self) -> Vec<(String, Totals)> {
        let files: Vec<(Vec<u8>, Totals)> = self
            .files
            .iter()
            .map(|f| (f.path.clone().into_bytes(), f.totals))
            .collect();
        total::breakdown(&files, total::By::Package)
            .into_iter()
            .map(|(p, t)| (String::from_utf8_lossy(&p).into_owned(), t))
            .collect()
    }
}

/// Refuses a block of `fb` that ends past the last line of its source.
fn within_the_file(fb: &FileBlocks, disk: &Path) -> anyhow::Result<()> {
    let shown = String::from_utf8_lossy(&fb.path);
    let src =
        std::fs::read(disk).with_context(|| format!("{shown}: cannot read {}", disk.display()))?;
    // The line after a final newline counts: Go may end a block there.
    let lines = src.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let end = |b: &&Block| b.pos.end_line.max(b.pos.start_line);
    if let Some(b) = fb.blocks.iter().find(|b| u64::from(end(b)) > lines) {
        bail!(
            "{shown}:{}: the block ends at line {}, past the end of {} ({lines} lines): the profile is not of this source",
            b.pos,
            end(&b),
            disk.display()
        );
    }
    Ok(())
}

fn block_totals(fb: &FileBlocks) -> Totals {
    let mut t = Totals::default();
    for b in &fb.blocks {
        t.add(if b.count > 0 { b.stmts as u64 } else { 0 }, b.stmts as u64);
    }
    t
}
