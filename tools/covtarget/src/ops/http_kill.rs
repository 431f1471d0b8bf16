//! covkill on a running container of the local Docker engine, with no
//! exec: three requests to the harness at the container's own address.
//!
//! 1. `/covtools/list`: the complete files before the stop. It also tells
//!    that this harness serves the exec-free stop; anything else (no
//!    route, refused, an older harness, not the harness) leaves the target
//!    untouched for the exec path, which says what is wrong.
//! 2. `/covkill` (or `/covtools/flush`, `/covtools/reset`, which end here).
//! 3. `/covtools/list` again, until the service's next run answers (the
//!    ending run answers 503, and nothing listens between the two): the
//!    wrapper names the stopped run's profile before it starts the next,
//!    so the new file is in that answer or was never written.
//!
//! A wrapper that does not start the service again (`COVER_RESTART=never`)
//! leaves the container to exit with it: the exec path tells that apart.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use anyhow::bail;
use covcore::contract;

use super::fetched::binary_kind;
use super::killed::{is_harness, judge, Action, Killed};
use super::over_http::{reach, CONNECT_TIMEOUT};
use super::Options;
use crate::docker::{self, State};
use crate::http;

/// Between two looks at a service that is starting again: a Go binary
/// exits and starts again in tens of milliseconds at best, and a refused
/// connection costs next to nothing.
const FIRST_WAIT: Duration = Duration::from_millis(20);
const LONGEST_WAIT: Duration = Duration::from_millis(100);
/// How often the engine is asked whether the container is still there
/// while its service does not answer.
const STATE_EVERY: Duration = Duration::from_secs(1);

/// `Ok(None)`: not done, the caller takes the exec path (nothing was asked
/// of the harness).
pub(super) fn ask(
    container: &str,
    opts: &Options,
    action: Action,
    deadline: Instant,
) -> anyhow::Result<Option<Killed>> {
    let Some(reach) = reach(container, opts)? else {
        return Ok(None);
    };
    if action == Action::Kill && !reach.restarts {
        return Ok(None);
    }
    // 1. Which address answers, and what is there before.
    let mut found = None;
    for addr in &reach.addrs {
        // A port that takes the connection but never answers fails here,
        // within the budget, as it would through an exec.
        match list(addr, deadline)? {
            Listing::Files(before) => {
                found = Some((addr, before));
                break;
            }
            Listing::Unreachable => continue,
            _ => return Ok(None),
        }
    }
    let Some((addr, before)) = found else {
        return Ok(None);
    };

    // 2. The request itself.
    let started = Instant::now();
    let url = format!("http://{addr}{}", action.path());
    let left = deadline.saturating_duration_since(Instant::now());
    match http::get(addr, action.path(), left) {
        Ok(r) => {
            judge(&url, action, &r)?;
            if action != Action::Kill {
                return Ok(Some(Killed::Done));
            }
        }
        // Gone between the two requests: the exec path waits for it.
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(None),
        Err(e) if e.kind() == ErrorKind::TimedOut => bail!(
            "killswitch {url}: no answer within {:.1}s",
            started.elapsed().as_secs_f64()
        ),
        Err(_) if action != Action::Kill => return Ok(None),
        // No clean answer, but a connection: the harness may have stopped
        // as it answered; its next run tells.
        Err(_) => {}
    }

    // 3. The next run's listing.
    let mut wait = FIRST_WAIT;
    let mut looked = Instant::now();
    loop {
        let listing = list(addr, deadline)?;
        match listing {
            Listing::Files(after) => {
                if let Some(new) = after.difference(&before).next() {
                    return Ok(Some(Killed::Stopped {
                        dir: reach.dir,
                        profile: new.clone(),
                    }));
                }
                bail!(
                    "killswitch {url} answered and the service started again, but no new complete profile (cover-<n>.out) or counter file (covcounters.*) appeared in {} (did it write one? see the container's log)",
                    reach.dir
                );
            }
            Listing::Other(what) => {
                bail!("killswitch {url} answered, but then {addr} answered {what}")
            }
            Listing::Unreachable | Listing::Ending => {}
        }
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "killswitch {url} answered, but no new complete profile (cover-<n>.out) or counter file (covcounters.*) appeared in {} within {:.1}s",
                reach.dir,
                opts.timeout.as_secs_f64()
            );
        }
        if now.duration_since(looked) >= STATE_EVERY {
            looked = now;
            match docker::state(container)? {
                State::Running => {}
                // The wrapper names the profile before it exits.
                State::Stopped => return Ok(Some(Killed::Exited)),
                State::Removed => bail!(
                    "the container was removed while covkill waited for it: nothing is left to pull"
                ),
            }
        }
        std::thread::sleep(wait.min(deadline.saturating_duration_since(now)));
        wait = (wait * 3 / 2).min(LONGEST_WAIT);
    }
}

enum Listing {
    /// The complete profiles and counter files in place.
    Files(BTreeSet<String>),
    /// No connection (refused, no route): not listening, or not yet.
    Unreachable,
    /// The harness's 503: its run is ending.
    Ending,
    /// Anything else, described.
    Other(String),
}

fn list(addr: &str, deadline: Instant) -> anyhow::Result<Listing> {
    let left = deadline.saturating_duration_since(Instant::now());
    let r = match http::get_within(addr, contract::LIST_PATH, CONNECT_TIMEOUT.min(left), left) {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => return Ok(Listing::Unreachable),
        // Cut off while the run ends.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe
            ) =>
        {
            return Ok(Listing::Ending)
        }
        Err(e) if e.kind() == ErrorKind::TimedOut => {
            bail!("killswitch http://{addr}{}: {e}", contract::LIST_PATH)
        }
        Err(e) => return Ok(Listing::Other(e.to_string())),
    };
    if !is_harness(&r) {
        return Ok(Listing::Other(r.describe()));
    }
    match r.status {
        200 => Ok(Listing::Files(parse_list(&r.text()))),
        503 => Ok(Listing::Ending),
        _ => Ok(Listing::Other(r.describe())),
    }
}

/// The complete profiles and counter files of a listing (`<name> <length>`
/// per line): what a stop adds.
fn parse_list(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name))
        .filter(|name| {
            contract::profile_number(name).is_some()
                || binary_kind(name).is_some_and(|k| k.is_counters())
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings() {
        let got = parse_list("covmeta.0a 10\ncover-2.out 5\ncovcounters.0a.7.9 3\n.x 1\nbad\n");
        let want: BTreeSet<String> = ["cover-2.out", "covcounters.0a.7.9"]
            .map(String::from)
            .into();
        assert_eq!(got, want);
    }
}
