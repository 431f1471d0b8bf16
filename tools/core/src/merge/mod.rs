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
//!
//! The pieces: [`filter`] (`--include`/`--exclude`), [`table`] (one
//! worker's files, read from its inputs), [`entry`] (one file's blocks and
//! how they fold), [`finish`] (the tables folded into the result, with the
//! numStmt and overlap checks) and [`write`] (the text output).

mod entry;
mod filter;
mod finish;
mod table;
mod write;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::bail;

use crate::input::Input;
use crate::profile::{self, FileBlocks, Mode};

pub use filter::PathFilter;
use table::{InputVisitor, Table};

/// How to merge.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Convert every input to this mode instead of requiring one mode.
    pub mode: Option<Mode>,
    /// Keep overlapping blocks of different inputs instead of failing.
    pub keep_overlaps: bool,
    /// Which source files to keep.
    pub filter: PathFilter,
    /// Worker threads; 0 means [`crate::pool::default_threads`].
    pub threads: usize,
}

/// The result of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub mode: Mode,
    /// Sorted by path; each file's blocks sorted by position.
    pub files: Vec<FileBlocks>,
}

/// Merges the inputs.
pub fn merge(inputs: &[Input], opts: &Options) -> anyhow::Result<Merged> {
    if inputs.is_empty() {
        bail!("no input profiles");
    }
    let names: Vec<String> = inputs.iter().map(Input::name).collect();
    let threads = match opts.threads {
        0 => crate::pool::default_threads(),
        n => n,
    };

    // Largest first, so that the last input to finish is a small one.
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    let sizes: Vec<u64> = inputs.iter().map(Input::size_hint).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));

    let next = AtomicUsize::new(0);
    // The lowest input index that failed; inputs after it need not be read.
    let first_failure = AtomicUsize::new(usize::MAX);
    let failures: Mutex<Vec<(usize, anyhow::Error)>> = Mutex::new(Vec::new());
    let modes: Mutex<Vec<Option<Mode>>> = Mutex::new(vec![None; inputs.len()]);

    // One worker per pool slot, each folding inputs into its own table until
    // none is left: memory stays at the unique blocks per worker, not the
    // sum of the inputs.
    let work = |_: &usize| -> Table {
        let mut table = Table::new(opts.filter.clone());
        let mut buf = Vec::new();
        loop {
            let n = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(n) else { break };
            if i > first_failure.load(Ordering::Relaxed) {
                continue;
            }
            let mut visitor = InputVisitor::new(&mut table, i as u32, &names[i]);
            let result = match &inputs[i] {
                Input::Covdata(pod) => pod.visit(&mut visitor),
                input => input.open().and_then(|reader| {
                    profile::parse_with(&names[i], reader, &mut visitor, &mut buf)
                }),
            };
            let mode = visitor.mode();
            modes.lock().unwrap()[i] = mode;
            if let Err(e) = result {
                first_failure.fetch_min(i, Ordering::Relaxed);
                failures.lock().unwrap().push((i, e));
            }
        }
        table
    };
    let workers: Vec<usize> = (0..threads.min(inputs.len()).max(1)).collect();
    let tables: Vec<Table> = crate::pool::map(&workers, workers.len(), work);
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

    finish::finish(tables, mode, opts.keep_overlaps, &names, threads)
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
