//! covkill's operation: ask the harness on the target's killswitch to stop
//! (then wait for the new complete profile or counter file), to write a
//! live snapshot, or to reset its counters. Only the covtools harness is
//! believed: any other answer on that port fails at once, naming what
//! answered.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use covcore::contract;

use super::killed::{check_not_stopped, judge, not_harness, refused_by_harness};
pub use super::killed::{is_harness, Action, Killed, STOPPING_BODY};
use super::{binary_kind, cut_off, docker_after_failure, endpoint, Backoff, Endpoint, Options};
use crate::docker::State;
use crate::exec::Exec;
use crate::http;
use crate::target::Target;

/// Asks the target's harness for `action`. For [`Action::Kill`] this waits
/// until a new complete profile or counter file has appeared in its cover
/// directory. "Connection refused" (a service restarting or not up yet) is
/// retried with backoff until the timeout.
pub fn ask(target: &Target, opts: &Options, action: Action) -> anyhow::Result<Killed> {
    let deadline = Instant::now() + opts.timeout;
    match endpoint(target)? {
        Endpoint::Exec(exec) => {
            if let Some(container) = exec.docker_container() {
                if let Some(done) = super::http_kill::ask(container, opts, action, deadline)? {
                    return Ok(done);
                }
            }
            ask_exec(&exec, opts, action, deadline)
        }
        Endpoint::Local {
            addr: Some(addr),
            dir,
        } => ask_local(addr, dir, action, deadline),
        Endpoint::Local { addr: None, .. } => {
            bail!("a dir: target has no killswitch (use local:ADDR=DIR to stop a local process)")
        }
    }
}

/// [`ask`] for [`Action::Kill`].
pub fn kill(target: &Target, opts: &Options) -> anyhow::Result<Killed> {
    ask(target, opts, Action::Kill)
}

const KILL_SH: &str = concat!(include_str!("../sh/ask.sh"), include_str!("../sh/kill.sh"));

/// The answer ask.sh printed (its `ANS` lines: wget's indented headers, or
/// curl's and nc's raw ones), as a response; `None` without a status line.
pub(super) fn answer_from_lines<'a>(
    lines: impl Iterator<Item = &'a str>,
) -> Option<http::Response> {
    let lines: Vec<&str> = lines
        .map(|l| l.trim_end_matches('\r'))
        .skip_while(|l| !l.trim_start().starts_with("HTTP/"))
        .collect();
    let status_line = lines.first()?.trim();
    let mut words = status_line.splitn(3, ' ');
    words.next();
    let status = words.next()?.parse().ok()?;
    let reason = words.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut rest = lines[1..].iter();
    for l in rest.by_ref() {
        let l = l.trim();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if !k.contains(' ') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    let body = rest.copied().collect::<Vec<_>>().join("\n").into_bytes();
    Some(http::Response {
        status,
        reason,
        headers,
        body,
    })
}

fn ask_exec(
    exec: &Exec,
    opts: &Options,
    action: Action,
    deadline: Instant,
) -> anyhow::Result<Killed> {
    let started = Instant::now();
    let port = opts.port.map(|p| p.to_string()).unwrap_or_default();
    let dir_arg = opts.cover_dir.clone().unwrap_or_default();
    let mut backoff = Backoff::new();
    // Once the container was reached, its disappearance is a removal, not
    // a name that never existed.
    let mut reached = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // The script polls until its own deadline (whole seconds); this
        // process gives it a little more, then gives up on the exec.
        let secs = left.as_secs_f64().ceil().max(1.0).to_string();
        let out = exec.sh(
            KILL_SH,
            &[&dir_arg, &port, &secs, action.path()],
            left + Duration::from_millis(500),
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        // Only a daemon's "No such container" on the first try can mean a
        // name that never existed; output, or an exec that ran and was cut
        // off, means the container was there.
        reached |= !out.stdout.is_empty()
            || cut_off(&out)
            || !(out.timed_out() || out.error_line().contains("No such container"));
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        let (dir, url) = (field("DIR "), field("URL "));
        let has = |key: &str| {
            text.lines()
                .any(|l| l == key || l.starts_with(&format!("{key} ")))
        };
        let answer = answer_from_lines(text.lines().filter_map(|l| l.strip_prefix("ANS ")));
        if has("NEW") {
            return Ok(Killed::Stopped {
                dir,
                profile: field("NEW "),
            });
        }
        if has("NOCLIENT") {
            bail!("the container has neither wget nor curl to send the request to {url}");
        }
        if has("NOTHARNESS") {
            let what = match &answer {
                Some(r) => r.describe(),
                None => format!("HTTP {}", field("NOTHARNESS ")),
            };
            return Err(not_harness(&url, &what));
        }
        if has("REJECTED") {
            return Err(refused_by_harness(
                &url,
                answer.as_ref(),
                &field("REJECTED "),
            ));
        }
        if has("DONE") {
            check_not_stopped(&url, action, answer.as_ref())?;
            return Ok(Killed::Done);
        }
        if has("REFUSED") {
            if backoff.wait(deadline) {
                continue;
            }
            bail!(
                "killswitch {url}: connection refused ({} attempts in {:.1}s; is the service up and --port right?)",
                backoff.attempts,
                started.elapsed().as_secs_f64()
            );
        }
        let waited = opts.timeout.as_secs_f64();
        if action == Action::Kill
            && (has("TIMEOUT") || (out.timed_out() && (has("KILLED") || has("KILLERR"))))
        {
            let answered = match has("KILLERR") {
                true => format!("did not answer cleanly ({})", field("KILLERR ")),
                false => "answered".to_string(),
            };
            bail!("killswitch {url} {answered}, but no new complete profile (cover-<n>.out) or counter file (covcounters.*) appeared in {dir} within {waited:.1}s");
        }
        if has("KILLERR") {
            bail!("{url}: no HTTP answer ({})", field("KILLERR "));
        }
        if has("NOANSWER") || (out.timed_out() && !url.is_empty()) {
            bail!("killswitch {url}: no answer within {waited:.1}s");
        }
        if out.timed_out() {
            bail!("{} exec timed out after {waited:.1}s", exec.program);
        }
        // The exec itself failed: the container is gone, or stopped
        // (before this attempt, or by it when the wrapper does not restart).
        if let Some(container) = exec.docker_container() {
            match docker_after_failure(container, cut_off(&out))? {
                // Any line from the script: it was running when we came.
                State::Stopped if has("URL") => return Ok(Killed::Exited),
                State::Stopped => return Ok(Killed::AlreadyStopped),
                State::Removed if reached || backoff.attempts > 0 => {
                    bail!("the container was removed while covkill waited for it: nothing is left to pull")
                }
                State::Removed => {
                    bail!(
                        "{} (the container was removed, or never existed)",
                        out.error_line()
                    )
                }
                State::Running => {}
            }
        }
        return Err(super::exec_error(exec, &out));
    }
}

/// The complete profiles and counter files in a local cover directory.
fn list_complete(dir: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let counts = contract::profile_number(&name).is_some()
            || binary_kind(&name).is_some_and(|k| k.is_counters());
        if counts && entry.file_type().is_ok_and(|t| t.is_file()) {
            names.insert(name);
        }
    }
    Ok(names)
}

fn ask_local(addr: &str, dir: &Path, action: Action, deadline: Instant) -> anyhow::Result<Killed> {
    let started = Instant::now();
    let before = list_complete(dir)?;
    let url = format!("http://{addr}{}", action.path());
    let mut backoff = Backoff::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match http::get(addr, action.path(), left) {
            Ok(r) => {
                judge(&url, action, &r)?;
                match action {
                    Action::Kill => break,
                    _ => return Ok(Killed::Done),
                }
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                if !backoff.wait(deadline) {
                    bail!(
                        "killswitch {url}: connection refused ({} attempts in {:.1}s)",
                        backoff.attempts,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => bail!(
                "killswitch {url}: no answer within {:.1}s",
                started.elapsed().as_secs_f64()
            ),
            Err(e) => bail!("killswitch {url}: {e}"),
        }
    }
    loop {
        if let Some(new) = list_complete(dir)?.difference(&before).next() {
            return Ok(Killed::Stopped {
                dir: dir.display().to_string(),
                profile: new.clone(),
            });
        }
        if Instant::now() >= deadline {
            bail!(
                "killswitch {url} answered, but no new complete profile (cover-<n>.out) or counter file (covcounters.*) appeared in {} within {:.1}s",
                dir.display(),
                started.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_sh_knows_the_harness_as_this_module_does() {
        let ask = include_str!("../sh/ask.sh");
        assert!(ask.contains(&format!("*\"{STOPPING_BODY}\"*")), "{ask}");
        // The header, matched case-insensitively letter by letter.
        let pattern: String = contract::HARNESS_HEADER
            .chars()
            .map(|c| match c.is_ascii_alphabetic() {
                true => format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()),
                false => c.to_string(),
            })
            .collect();
        assert!(ask.contains(&format!("*{pattern}:*")), "{pattern}");
    }

    #[test]
    fn answers_as_ask_prints_them() {
        // busybox wget -S on an error: the status line alone, then its error.
        let r = answer_from_lines(
            [
                "  HTTP/1.1 404 Not Found",
                "wget: server returned error: HTTP/1.1 404 Not Found",
            ]
            .into_iter(),
        )
        .unwrap();
        assert_eq!((r.status, r.reason.as_str()), (404, "Not Found"));
        assert!(!is_harness(&r));
        // nc's raw answer.
        let r = answer_from_lines(
            [
                "HTTP/1.0 501 Not Implemented\r",
                "Covtools-Harness: test\r",
                "\r",
                "covtools: flush needs [build] kind = \"cover\"",
            ]
            .into_iter(),
        )
        .unwrap();
        assert!(is_harness(&r));
        assert_eq!(r.text(), "covtools: flush needs [build] kind = \"cover\"");
        // The harness before its header: known by its body.
        let r = answer_from_lines(
            [
                "  HTTP/1.1 200 OK",
                "  Content-Length: 60",
                "  ",
                "covtools: stopping, the coverage profile is written on exit",
            ]
            .into_iter(),
        )
        .unwrap();
        assert!(is_harness(&r));
        assert!(answer_from_lines(["wget: bad address"].into_iter()).is_none());
    }
}
