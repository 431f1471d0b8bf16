//! The exec transport: a shell script run inside a container or pod, through
//! [`crate::docker::exec`] (the Engine API, or the CLI for remote engines)
//! or `kubectl exec`; everything after that (the scripts, their output
//! protocol, timeouts) is this one code path.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::Context;

use covcore::pool::{Slot, Slots};
use covcore::process::{process, Captured};

use crate::programs::tool;

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
        process(tool(self.program)?)
            .args(self.argv(script, args))
            .output_within(timeout)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
