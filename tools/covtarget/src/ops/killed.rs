//! What covkill asks of a harness and what it achieved, and the verdict on
//! a harness's HTTP answer: shared by the exec path (kill.rs) and the
//! requests to a local engine's containers (http_kill.rs).

use anyhow::bail;
use covcore::contract;

use crate::http;

/// What covkill asks of a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Stop the service, so that it writes its coverage (`GET /covkill`).
    Kill,
    /// A complete live snapshot, the service keeps running (`GET /covtools/flush`).
    Flush,
    /// Clear the counters (`GET /covtools/reset`).
    Reset,
}

impl Action {
    pub fn path(self) -> &'static str {
        match self {
            Action::Kill => contract::KILL_PATH,
            Action::Flush => contract::FLUSH_PATH,
            Action::Reset => contract::RESET_PATH,
        }
    }
}

/// What covkill achieved on one target.
#[derive(Debug, PartialEq, Eq)]
pub enum Killed {
    /// The killswitch answered and this new complete profile (or, for a
    /// `go build -cover` binary, counter file) appeared.
    Stopped { dir: String, profile: String },
    /// The container was not running any more (stopped with SIGTERM, say):
    /// nothing to ask, its profiles are read as they are.
    AlreadyStopped,
    /// The container was running when the script started and stopped
    /// under it: the service exited on the killswitch and the wrapper did
    /// not restart it (`COVER_RESTART=never`). The wrapper renames the
    /// profile before it exits, so its profiles are read from the stopped
    /// container.
    Exited,
    /// The harness wrote a complete snapshot (flush) or cleared its
    /// counters (reset) and answered 2xx.
    Done,
}

/// How the harness's answer to a stop begins (its body); also how a harness
/// older than the `Covtools-Harness` header is recognised (ask.sh matches
/// the same text).
pub const STOPPING_BODY: &str = "covtools: stopping";

/// Whether an HTTP answer comes from the covtools harness: it carries the
/// `Covtools-Harness` header. Compatibility rule: a harness older than
/// that header is recognised by its answer body, which starts with
/// "covtools: stopping".
pub fn is_harness(r: &http::Response) -> bool {
    r.header(contract::HARNESS_HEADER).is_some() || r.text().starts_with(STOPPING_BODY)
}

pub(super) fn not_harness(url: &str, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{url} is not the covtools harness (no {} header in its answer: {what}); is the port the harness's killswitch (--port, the container's ${})?",
        contract::HARNESS_HEADER,
        contract::ENV_KILLSWITCH_ADDR
    )
}

pub(super) fn refused_by_harness(
    url: &str,
    r: Option<&http::Response>,
    code: &str,
) -> anyhow::Error {
    match r {
        Some(r) => {
            let msg: String = r
                .text()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            anyhow::anyhow!(
                "{url}: the harness answered HTTP {} {}: {msg}",
                r.status,
                r.reason
            )
        }
        None => anyhow::anyhow!("{url}: the harness answered HTTP {code}"),
    }
}

/// A 2xx from a harness that stopped although it was asked for a snapshot
/// or a reset: one built before those existed answers every path alike.
pub(super) fn check_not_stopped(
    url: &str,
    action: Action,
    r: Option<&http::Response>,
) -> anyhow::Result<()> {
    if action != Action::Kill && r.is_some_and(|r| r.text().starts_with(STOPPING_BODY)) {
        bail!("{url}: the harness stopped the service instead: it is older than {} (rebuild the service with this covtools)", action.path());
    }
    Ok(())
}

/// The verdict on an HTTP answer to `action` at `url`: the harness's 2xx
/// is Ok; anything else is the error that says who answered what.
pub(super) fn judge(url: &str, action: Action, r: &http::Response) -> anyhow::Result<()> {
    if !is_harness(r) {
        return Err(not_harness(url, &r.describe()));
    }
    if !(200..300).contains(&r.status) {
        return Err(refused_by_harness(url, Some(r), ""));
    }
    check_not_stopped(url, action, Some(r))
}
