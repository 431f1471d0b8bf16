//! Process plumbing shared by every tool: exit codes, error reporting and
//! quiet exits on closed pipes (the ripgrep model).

use std::io;
use std::process::ExitCode;

use crate::exit_codes::ExitStatus;

/// Runs a tool's `run` function and turns its outcome into an exit code.
///
/// Errors are printed as one line, `prog: cause: cause…`, and exit with
/// [`ExitStatus::Error`]. A broken pipe anywhere in the error chain means the reader went
/// away (`covmerge | head -1`): that is not an error, so exit quietly.
pub fn main(run: fn() -> anyhow::Result<ExitCode>) -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitStatus::Success.into();
            }
            eprintln!("{}: {}", prog_name(), one_line(&err));
            ExitStatus::Error.into()
        }
    }
}

/// The error chain on one line, causes separated by `: `.
pub fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}

/// True when any cause in the chain is an I/O broken pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The name this program was invoked as, for messages.
pub fn prog_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "covtools".into())
}
