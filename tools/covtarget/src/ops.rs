//! The operations on a target: ask its harness to stop, snapshot or reset
//! ([`kill`], covkill), and fetch every complete profile and binary
//! coverage file ([`fetch`], covpull). Containers and pods share one
//! implementation over [`Exec`]; running containers of the local Docker
//! engine are first asked at their own address, with no exec
//! ([`http_kill`], [`over_http`]); local targets are served from this
//! process.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use covcore::process::{process, Captured};

use crate::docker;
use crate::exec::Exec;
use crate::programs;
use crate::target::Target;

mod docker_fetch;
pub mod fetch;
mod fetched;
pub mod frames;
mod http_kill;
pub mod kill;
mod killed;
mod over_http;
pub mod swarm;

pub use fetch::{fetch, fetch_into, fetch_snapshot};
pub use fetched::{binary_kind, BinaryFile, BinaryKind, Fetched, Profile};
pub use frames::{Collect, Sink};
pub use kill::{ask, kill};
pub use killed::{is_harness, Action, Killed};

/// Settings shared by every target of one run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The cover directory inside containers; `None`: `$COVER_DIR`, else
    /// [`covcore::contract::COVER_DIR`].
    pub cover_dir: Option<String>,
    /// The killswitch port inside containers; `None`: from `$COVKILL_ADDR`, else
    /// [`covcore::contract::KILLSWITCH_PORT`].
    pub port: Option<u16>,
    /// The whole budget of one target (retries included).
    pub timeout: Duration,
}

/// How a target is reached.
pub(crate) enum Endpoint<'a> {
    Exec(Exec),
    Local {
        addr: Option<&'a str>,
        dir: &'a Path,
    },
}

pub(crate) fn endpoint(target: &Target) -> anyhow::Result<Endpoint<'_>> {
    Ok(match target {
        Target::Docker { container } => Endpoint::Exec(Exec::docker(container)),
        Target::Pod {
            namespace,
            pod,
            container,
        } => Endpoint::Exec(Exec::kubectl(namespace, pod, container.as_deref())),
        Target::Selector { .. } => bail!("a label selector must be expanded first"),
        Target::Swarm { .. } => bail!("a Swarm service must be expanded first"),
        Target::Local { addr, dir } => Endpoint::Local {
            addr: addr.as_deref(),
            dir,
        },
    })
}

/// What a target stands for: the targets to work on, remarks, and the
/// parts that cannot be worked on from here (each a failure of the run).
#[derive(Debug, Default)]
pub struct Expanded {
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
    pub errors: Vec<anyhow::Error>,
}

/// Expands a label selector to its running pods, and a Swarm service to its
/// running tasks' containers on this node ([`swarm::expand`]); other
/// targets are returned as they are.
pub fn expand(target: &Target, timeout: Duration) -> anyhow::Result<Expanded> {
    match target {
        Target::Selector {
            namespace,
            selector,
            container,
        } => Ok(Expanded {
            targets: expand_selector(namespace, selector, container, timeout)?,
            ..Expanded::default()
        }),
        Target::Swarm { service } => swarm::expand(service, timeout),
        _ => Ok(Expanded {
            targets: vec![target.clone()],
            ..Expanded::default()
        }),
    }
}

/// A label selector's running pods (`kubectl get pods -n NS -l SEL
/// --field-selector=status.phase=Running -o name`: completed, failed and
/// pending pods of a rollout cannot be exec'd).
fn expand_selector(
    namespace: &str,
    selector: &str,
    container: &Option<String>,
    timeout: Duration,
) -> anyhow::Result<Vec<Target>> {
    let out = process(programs::tool("kubectl")?)
        .args(["get", "pods", "-n", namespace, "-l", selector])
        .args(["--field-selector=status.phase=Running", "-o", "name"])
        .output_within(timeout)?;
    if !out.success() {
        bail!(
            "kubectl get pods -n {namespace} -l {selector:?}: {}",
            out.error_line()
        );
    }
    let pods: Vec<Target> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Target::Pod {
            namespace: namespace.to_string(),
            pod: l.strip_prefix("pod/").unwrap_or(l).to_string(),
            container: container.clone(),
        })
        .collect();
    if pods.is_empty() {
        bail!("no pod in namespace {namespace} matches the label selector {selector:?}");
    }
    Ok(pods)
}

/// The error of an exec that failed without a word from its script: the
/// client's own message, and for a pod kubectl no longer finds, what that
/// means for its coverage.
pub(crate) fn exec_error(exec: &Exec, out: &Captured) -> anyhow::Error {
    let line = out.error_line();
    if exec.program == "kubectl" && line.contains("(NotFound)") {
        return anyhow::anyhow!(
            "the pod is gone (deleted, or replaced by its controller), its cover directory with it: {line}"
        );
    }
    anyhow::anyhow!("{line}")
}

/// Backoff between attempts on "connection refused": 50 ms doubling to 1 s.
pub(crate) struct Backoff {
    next: Duration,
    pub(crate) attempts: u32,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            next: Duration::from_millis(50),
            attempts: 0,
        }
    }

    /// Sleeps before the next attempt; false when the deadline leaves no room for one.
    pub(crate) fn wait(&mut self, deadline: Instant) -> bool {
        self.attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        if left <= self.next {
            return false;
        }
        std::thread::sleep(self.next);
        self.next = (self.next * 2).min(Duration::from_secs(1));
        true
    }
}

/// Whether a failed exec was cut off inside the container: its script had
/// started, or its process was killed (137: SIGKILL, as when the
/// container's init exits).
pub(crate) fn cut_off(out: &Captured) -> bool {
    !out.stdout.is_empty() || out.status.and_then(|s| s.code()) == Some(137)
}

/// After an exec failed: where the container is. One that cut the exec
/// off may still show as running for a moment while it stops (its
/// processes killed, its state not yet updated), so then this waits a
/// little for the state to follow.
pub(crate) fn docker_after_failure(
    container: &str,
    cut_off: bool,
) -> anyhow::Result<docker::State> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match docker::state(container)? {
            docker::State::Running if cut_off && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            state => return Ok(state),
        }
    }
}
