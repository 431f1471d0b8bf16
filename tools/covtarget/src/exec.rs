//! The exec transport: a shell script run inside a container or pod, through
//! [`crate::docker::exec`] (the Engine API, or the CLI for remote engines)
//! or `kubectl exec`; everything after that (the scripts, their output
//! protocol, timeouts) is this one code path. Also [`run`]: a child process
//! bounded by a timeout that keeps what it printed before it was killed
//! (which duct does not give back after a kill).

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use covcore::pool::{Slot, Slots};

/// How to run a command inside one container or pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// `docker` or `kubectl`.
    pub program: &'static str,
    /// What follows the program, up to the command: `exec NAME` or
    /// `exec -n NS POD [-c C] --`.
    pub prefix: Vec<String>,
}

impl Exec {
    pub fn docker(container: &str) -> Exec {
        Exec {
            program: "docker",
            prefix: vec!["exec".into(), container.into()],
        }
    }

    pub fn kubectl(namespace: &str, pod: &str, container: Option<&str>) -> Exec {
        let mut prefix = vec!["exec".into(), "-n".into(), namespace.into(), pod.into()];
        if let Some(c) = container {
            prefix.extend(["-c".into(), c.into()]);
        }
        prefix.push("--".into());
        Exec {
            program: "kubectl",
            prefix,
        }
    }

    /// The container of a Docker exec (a stopped one is read another way).
    pub fn docker_container(&self) -> Option<&str> {
        (self.program == "docker").then(|| self.prefix[1].as_str())
    }

    /// The full argv (after the program) running `script` with `sh -c`,
    /// its arguments passed as `$1…` (never spliced into the script text).
    pub fn argv(&self, script: &str, args: &[&str]) -> Vec<OsString> {
        let mut argv: Vec<OsString> = self.prefix.iter().map(OsString::from).collect();
        argv.extend(["sh", "-c", script, "sh"].map(OsString::from));
        argv.extend(args.iter().map(OsString::from));
        argv
    }

    /// Runs `script` inside the container, bounded by `timeout`: through
    /// [`crate::docker::exec`] for Docker (the Engine API where it is
    /// local), `kubectl exec` for pods.
    pub fn sh(&self, script: &str, args: &[&str], timeout: Duration) -> anyhow::Result<Captured> {
        let _slot = slot();
        if let Some(container) = self.docker_container() {
            let mut argv = vec!["sh", "-c", script, "sh"];
            argv.extend_from_slice(args);
            return crate::docker::exec(container, &argv, timeout)
                .with_context(|| format!("running docker exec {container}"));
        }
        let mut cmd = Command::new(tool(self.program)?);
        cmd.args(self.argv(script, args));
        run(cmd, timeout)
            .with_context(|| format!("running {} {}", self.program, self.prefix.join(" ")))
    }
}

/// Execs at once in this process (`docker exec`, `kubectl exec`, a stopped
/// container's copy): each starts a process in a container or pod, or
/// mounts its file system, which costs the engine or the API server far
/// more than a request to a harness does; so targets reached over HTTP are
/// worked on many at a time while execs stay within this bound (the tools'
/// `--jobs`). Unbounded until [`limit`] is called.
static EXECS: Slots = Slots::unbounded();

/// Bounds the execs this process runs at once to `n` (at least one).
pub fn limit(n: usize) {
    EXECS.limit(n);
}

/// Waits for a free exec slot.
pub(crate) fn slot() -> Slot<'static> {
    EXECS.take()
}

/// What a command printed, and how it ended.
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

/// A program from PATH, looked up once, with an error that says what is
/// missing (`kubectl` for k8s targets, `docker` for docker targets).
pub fn tool(name: &'static str) -> anyhow::Result<PathBuf> {
    static DOCKER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    static KUBECTL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let cell = match name {
        "docker" => &DOCKER,
        "kubectl" => &KUBECTL,
        _ => unreachable!("only docker and kubectl are transports"),
    };
    cell.get_or_init(|| which::which(name).map_err(|e| format!("{name}: not found on PATH ({e})")))
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Waits for `child` until `deadline`: its status once it has ended, `None`
/// while it still runs at the deadline (it is left running: what to do
/// then, kill it or its group, is the caller's).
pub fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(left.min(Duration::from_millis(2)));
    }
}

/// Runs `cmd` with stdin closed and both outputs captured, killing it when
/// `timeout` passes (its status is then `None`; what it printed before is
/// kept when its pipes close soon after).
pub fn run(mut cmd: Command, timeout: Duration) -> anyhow::Result<Captured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let deadline = Instant::now() + timeout;
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    // Both pipes are drained by threads so neither can fill up and block
    // the child; the channel lets the wait here honour the deadline.
    let (tx, rx) = mpsc::channel();
    for (i, pipe) in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
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
                // so far still tells how far the script got.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_returns_at_the_exit_or_the_deadline() {
        let mut quick = Command::new("true").spawn().unwrap();
        let st = wait_until(&mut quick, Instant::now() + Duration::from_secs(10)).unwrap();
        assert!(st.expect("true ends at once").success());

        let mut slow = Command::new("sleep").arg("10").spawn().unwrap();
        let t0 = Instant::now();
        let st = wait_until(&mut slow, t0 + Duration::from_millis(100)).unwrap();
        let took = t0.elapsed();
        assert!(st.is_none(), "{st:?}");
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(slow.try_wait().unwrap().is_none(), "left running");
        slow.kill().unwrap();
        slow.wait().unwrap();
    }

    #[test]
    fn prefixes() {
        let argv = |e: Exec| -> Vec<String> {
            std::iter::once(e.program.to_string())
                .chain(
                    e.argv("S", &["a", ""])
                        .into_iter()
                        .map(|s| s.into_string().unwrap()),
                )
                .collect()
        };
        assert_eq!(
            argv(Exec::docker("c1")),
            ["docker", "exec", "c1", "sh", "-c", "S", "sh", "a", ""]
        );
        assert_eq!(
            argv(Exec::kubectl("ns", "p", Some("c"))),
            ["kubectl", "exec", "-n", "ns", "p", "-c", "c", "--", "sh", "-c", "S", "sh", "a", ""]
        );
        assert_eq!(
            argv(Exec::kubectl("ns", "p", None)),
            ["kubectl", "exec", "-n", "ns", "p", "--", "sh", "-c", "S", "sh", "a", ""]
        );
    }

    #[test]
    fn timeout_kills() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hi; sleep 5"]);
        let t = Instant::now();
        let c = run(cmd, Duration::from_millis(200)).unwrap();
        assert!(c.timed_out());
        assert!(t.elapsed() < Duration::from_secs(2));
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let c = run(cmd, Duration::from_secs(5)).unwrap();
        assert_eq!(c.stdout, b"out\n");
        assert_eq!(c.error_line(), "err");
        assert_eq!(c.status.unwrap().code(), Some(3));
    }
}
