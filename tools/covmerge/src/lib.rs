//! covmerge: merge Go coverage profiles (gocovmerge semantics, made exact).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use covcore::args::MergeArgs;
use covcore::output::Output;

/// Merge Go coverage profiles into one.
///
/// Identical blocks add their counts (saturating at 4294967295; OR in set
/// mode). Output is sorted by file and position: the same bytes for any input
/// order. Exit 0 on success, 2 on an error.
#[derive(Parser, Debug)]
#[command(name = "covmerge", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    merge: MergeArgs,

    /// Write the merged profile here (atomically: a failed run leaves an
    /// existing file untouched) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

const EXAMPLES: &str = "Examples:
  covmerge 'cover/*.out' -o merged.cov
  covmerge 'profiles/**/*.out' --exclude '**/*.pb.go' > merged.cov
  covpull --out profiles docker:orders | covmerge -o merged.cov";

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // Opened first: a bad -o or a closed stdout fails before a long merge.
    let output = Output::open(cli.output.as_deref())?;
    let merged = cli.merge.merge()?;
    output.write(|out| Ok(merged.write(out)?))?;
    Ok(ExitCode::SUCCESS)
}
