//! The exit codes of every covtools binary and of `cargo xtask` (the fd model).

use std::process::ExitCode;

/// The meaning of a covtools exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything went fine.
    Success = 0,
    /// A negative result: a gate failed, the tests failed, or some targets
    /// failed while others succeeded.
    Negative = 1,
    /// An error: bad input, bad usage, an I/O failure.
    Error = 2,
    /// Interrupted by Ctrl-C (SIGINT), after cleaning up.
    Interrupted = 130,
    /// Stopped by SIGTERM, after cleaning up (128 + 15, as a shell reports it).
    Terminated = 143,
}

impl ExitStatus {
    /// The raw status, for `std::process::exit`.
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s as u8)
    }
}
