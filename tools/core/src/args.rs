//! Command-line options shared by every tool that merges (covmerge and
//! covtotal), so both read inputs and merge by exactly the same rules.

use std::path::PathBuf;

use crate::input::{self, Input};
use crate::merge::{self, Merged, Options, PathFilter};
use crate::profile::Mode;

#[derive(clap::Args, Debug, Clone)]
pub struct MergeArgs {
    /// Profiles to read: files, glob patterns (expanded here, so quote them:
    /// 'cover/*.out'), or - for stdin. With none, stdin, which may hold
    /// profile text or a list of profile paths, one per line. A GOCOVERDIR
    /// (covmeta.*/covcounters.* files) or one covcounters.* file is read too.
    #[arg(value_name = "PROFILE")]
    pub inputs: Vec<String>,

    /// Convert every input to this mode instead of requiring one mode
    /// (count/atomic to set: count > 0 becomes 1).
    #[arg(long, value_name = "set|count|atomic")]
    pub mode: Option<Mode>,

    /// Keep overlapping blocks that come from different inputs instead of
    /// failing (they mean the profiles come from different source versions).
    #[arg(long)]
    pub keep_overlaps: bool,

    /// Keep only source files matching this glob (repeatable). `*` stays in
    /// one path component, `**` crosses them; a pattern without `/` matches
    /// the base name.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,

    /// Drop source files matching this glob (repeatable), e.g. '**/*.pb.go'.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

impl MergeArgs {
    pub fn options(&self) -> anyhow::Result<Options> {
        Ok(Options {
            mode: self.mode,
            keep_overlaps: self.keep_overlaps,
            filter: PathFilter::new(&self.include, &self.exclude)?,
            // The pool's default: COVTOOLS_THREADS, else one per core.
            threads: 0,
        })
    }

    pub fn inputs(&self) -> anyhow::Result<Vec<Input>> {
        input::expand_args(&self.inputs)
    }

    /// Reads and merges the inputs.
    pub fn merge(&self) -> anyhow::Result<Merged> {
        let opts = self.options()?;
        merge::merge(&self.inputs()?, &opts)
    }
}

/// An output file option: `-o FILE`, written atomically.
pub type OutPath = Option<PathBuf>;
