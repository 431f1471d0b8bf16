//! The exit codes of every covtools binary and of `cargo xtask` (the fd
//! model): the one type a run's result carries, turned into the process's
//! exit code only at the end.

use std::fmt;
use std::process::ExitCode;

/// The meaning of a covtools exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExitStatus {
    /// Everything went fine.
    #[default]
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

    /// The status of a run stopped by `signal` (SIGINT: 130, any other,
    /// SIGTERM: 143).
    pub fn from_signal(signal: i32) -> ExitStatus {
        if signal == libc::SIGINT {
            ExitStatus::Interrupted
        } else {
            ExitStatus::Terminated
        }
    }

    /// Success, or Negative when `ok` is false.
    pub fn negative_unless(ok: bool) -> ExitStatus {
        if ok {
            ExitStatus::Success
        } else {
            ExitStatus::Negative
        }
    }

    /// Stopped by a signal (130 or 143).
    pub fn is_signal(self) -> bool {
        matches!(self, ExitStatus::Interrupted | ExitStatus::Terminated)
    }
}

/// The number, as a shell shows it.
impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_their_shell_codes() {
        assert_eq!(ExitStatus::from_signal(libc::SIGINT).code(), 130);
        assert_eq!(ExitStatus::from_signal(libc::SIGTERM).code(), 143);
        assert_eq!(
            ExitStatus::from_signal(libc::SIGTERM).code(),
            128 + libc::SIGTERM
        );
        assert_eq!(ExitStatus::default(), ExitStatus::Success);
        assert_eq!(ExitStatus::negative_unless(false).to_string(), "1");
    }
}
