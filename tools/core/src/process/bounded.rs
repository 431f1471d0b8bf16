//! A run bounded by a timeout that keeps what the command printed before
//! it was killed (duct does not give that back after a kill): for the
//! clients that may hang (docker, kubectl).

use std::io::Read;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{wait_until, ProcessBuilder};

impl ProcessBuilder {
    /// Runs it with stdin closed and both outputs captured, killing it
    /// when `timeout` passes (its status is then `None`; what it printed
    /// before is kept when its pipes close soon after: duct does not give
    /// that back after a kill). Its status is the caller's to judge.
    pub fn output_within(&self, timeout: Duration) -> anyhow::Result<Captured> {
        let mut cmd = self.command()?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let deadline = Instant::now() + timeout;
        let mut child = cmd.spawn().map_err(|e| self.start_error(e))?;
        // Both pipes are drained by threads so neither can fill up and block
        // the child; the channel lets the wait here honour the deadline.
        let (tx, rx) = mpsc::channel();
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|p| Box::new(p) as _),
            child.stderr.take().map(|p| Box::new(p) as _),
        ];
        for (i, pipe) in pipes.into_iter().enumerate() {
            let mut pipe = pipe.expect("piped");
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send((i, buf));
            });
        }
        drop(tx);
        let (mut stdout, mut stderr) = (None, None);
        let mut killed = false;
        let mut until = deadline;
        while stdout.is_none() || stderr.is_none() {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok((0, buf)) => stdout = Some(buf),
                Ok((_, buf)) => stderr = Some(buf),
                Err(mpsc::RecvTimeoutError::Timeout) if !killed => {
                    // Once killed, the client's pipes close: what it printed
                    // so far still tells how far it got.
                    let _ = child.kill();
                    killed = true;
                    until = Instant::now() + Duration::from_millis(500);
                }
                Err(_) => break,
            }
        }
        let status = if killed {
            None
        } else {
            wait_until(&mut child, deadline)?
        };
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(Captured {
            status,
            stdout: stdout.unwrap_or_default(),
            stderr: stderr.unwrap_or_default(),
        })
    }
}

/// What a command bounded by a timeout printed, and how it ended.
#[derive(Debug)]
pub struct Captured {
    /// `None` when it was killed at the timeout.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Captured {
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The last non-blank line of stderr: the client's own error message
    /// (`Error response from daemon: No such container: x`), or a
    /// description of how the command ended when it printed nothing.
    pub fn error_line(&self) -> String {
        let stderr = String::from_utf8_lossy(&self.stderr);
        match stderr.lines().map(str::trim).rfind(|l| !l.is_empty()) {
            Some(line) => line.to_string(),
            None => match self.status {
                Some(s) => format!("exited with {s} without a message"),
                None => "timed out".to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::process;
    use super::*;

    #[test]
    fn output_within_kills_at_the_timeout() {
        let t = Instant::now();
        let c = process("sh")
            .args(["-c", "echo hi; sleep 5"])
            .output_within(Duration::from_millis(200))
            .unwrap();
        assert!(c.timed_out());
        assert!(t.elapsed() < Duration::from_secs(2));
        let c = process("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output_within(Duration::from_secs(5))
            .unwrap();
        assert_eq!(c.stdout, b"out\n");
        assert_eq!(c.error_line(), "err");
        assert_eq!(c.status.unwrap().code(), Some(3));
    }
}
