//! Readiness: how a started service is probed, and how a service that will
//! not get ready is told apart from a slow one (it died at start, or it
//! listens where nobody can reach it), with the cause in the error's first
//! line and its log's relevant part below.

use std::time::{Duration, Instant};

use anyhow::bail;

use super::indent;
use crate::runtime::control::Control;
use crate::runtime::{docker, net};

/// How to tell a service is ready.
pub(super) enum Probe<'a> {
    Http {
        addr: String,
        path: &'a str,
    },
    /// Docker: the container's own /proc/net/tcp (a published port accepts
    /// connections before the service does); a loopback listener counts
    /// when the tests run in that container.
    ContainerPort {
        container: String,
        port: u16,
        loopback_ok: bool,
    },
    /// Docker, the tests in the service's container: a GET from inside it
    /// (busybox wget: exit 0 on 2xx).
    ContainerHttp {
        container: String,
        port: u16,
        path: &'a str,
    },
    LocalPort {
        addr: String,
    },
}

impl Probe<'_> {
    pub(super) fn describe(&self) -> String {
        match self {
            Probe::Http { addr, path } => format!("GET http://{addr}{path}"),
            Probe::ContainerPort { port, .. } => format!("port {port} listening"),
            Probe::ContainerHttp {
                container,
                port,
                path,
            } => format!("GET http://127.0.0.1:{port}{path} in {container}"),
            Probe::LocalPort { addr } => format!("{addr} accepting connections"),
        }
    }

    /// Ok(true) ready; Ok(false) not yet, with the reason in `last`.
    fn check(&self, last: &mut String) -> bool {
        match self {
            Probe::Http { addr, path } => {
                match net::http_status(addr, path, Duration::from_secs(2)) {
                    Ok(code) if (200..300).contains(&code) => true,
                    Ok(code) => {
                        *last = format!("answered {code}");
                        false
                    }
                    Err(e) => {
                        *last = e.to_string();
                        false
                    }
                }
            }
            Probe::ContainerHttp {
                container,
                port,
                path,
            } => {
                let url = format!("http://127.0.0.1:{port}{path}");
                let wget = ["wget", "-q", "-O", "/dev/null", url.as_str()];
                match covtarget::docker::exec(container, &wget, docker::EXEC_TIMEOUT) {
                    Ok(out) if out.success() => true,
                    Ok(out) => {
                        *last = String::from_utf8_lossy(&out.stderr).trim().to_string();
                        false
                    }
                    Err(e) => {
                        *last = format!("{e:#}");
                        false
                    }
                }
            }
            Probe::ContainerPort {
                container,
                port,
                loopback_ok,
            } => match docker::listening_in_container(container, *port) {
                Ok(docker::Listening::Reachable) => true,
                Ok(docker::Listening::LoopbackOnly(_)) if *loopback_ok => true,
                Ok(docker::Listening::LoopbackOnly(addr)) => {
                    *last = format!("listening on {addr} only");
                    false
                }
                Ok(docker::Listening::No) => {
                    *last = format!("nothing listens on port {port}");
                    false
                }
                Err(e) => {
                    *last = format!("{e:#}");
                    false
                }
            },
            Probe::LocalPort { addr } => {
                let ok = net::port_open(addr);
                if !ok {
                    *last = "connection refused".into();
                }
                ok
            }
        }
    }
}

/// Lines of a service's log read when it fails to get ready; the error
/// shows the output of its last run from them (see `log_excerpt`).
pub(super) const LOG_TAIL: usize = 400;

/// The part of a service log worth showing: the output of the wrapper's last
/// run (from its last `cover-wrapper: run N` line), where the service says
/// why it is not ready; long output keeps its head (the error usually comes
/// before a usage text) and its tail.
pub(super) fn log_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let runs: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("cover-wrapper: run "))
        .collect();
    // A run that has only just started has said nothing yet: show the one
    // before it too.
    let from = match runs.as_slice() {
        [] => lines.len().saturating_sub(30),
        [.., before, last] if lines.len() - last < 3 => *before,
        [.., last] => *last,
    };
    let last = &lines[from..];
    let (head, tail) = (15, 20);
    let text = if last.len() > head + tail + 1 {
        format!(
            "{}\n... ({} lines) ...\n{}",
            last[..head].join("\n"),
            last.len() - head - tail,
            last[last.len() - tail..].join("\n")
        )
    } else {
        last.join("\n")
    };
    indent(&text)
}

/// A service that exited before it was ready (the wrapper restarts it, so
/// its process or container may still be there): "stopped before it was
/// ready (exit status 1: listen tcp :8080: bind: address already in use)",
/// from the wrapper's log lines and the service's last words before them.
pub(super) fn died_at_start(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    let exit = lines
        .iter()
        .position(|l| l.starts_with("cover-wrapper: ") && l.contains(" exited with status "))?;
    let status = lines[exit]
        .split(" exited with status ")
        .nth(1)
        .and_then(|r| r.split([' ', ';']).next())
        .unwrap_or("?");
    // The run's own lines, newest first, without the wrapper's and the test
    // framework's; an error-looking line wins over a usage text after it.
    let said: Vec<&str> = lines[..exit]
        .iter()
        .rev()
        .take_while(|l| !l.starts_with("cover-wrapper: run "))
        // Indented lines are a usage text's or a stack's, not the cause.
        .filter(|l| !l.starts_with([' ', '\t']))
        .map(|l| strip_log_time(l.trim()))
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("cover-wrapper: ")
                && ![
                    "PASS",
                    "FAIL",
                    "ok",
                    "exit status",
                    "coverage:",
                    "--- FAIL",
                    "testing:",
                ]
                .iter()
                .any(|noise| l.starts_with(noise))
        })
        .collect();
    const ERRORISH: [&str; 11] = [
        "error",
        "Error",
        "fatal",
        "panic",
        "refused",
        "in use",
        "denied",
        "no such",
        "not defined",
        "cannot",
        "failed",
    ];
    let cause = said
        .iter()
        .find(|l| ERRORISH.iter().any(|w| l.contains(w)))
        .or(said.first());
    Some(match cause {
        Some(c) => format!("stopped before it was ready (exit status {status}: {c})"),
        None => format!("stopped before it was ready (exit status {status})"),
    })
}

/// A line without the `2006/01/02 15:04:05 ` prefix of Go's log package.
fn strip_log_time(line: &str) -> &str {
    let b = line.as_bytes();
    let stamped = b.len() > 20
        && b[4] == b'/'
        && b[7] == b'/'
        && b[10] == b' '
        && b[13] == b':'
        && b[19] == b' ';
    if stamped {
        &line[20..]
    } else {
        line
    }
}

/// A service that listens on loopback only inside its container: ready in
/// its own eyes, unreachable for the tests.
pub(super) fn loopback_only(container: &str, port: u16, name: &str) -> Option<String> {
    match docker::listening_in_container(container, port) {
        Ok(docker::Listening::LoopbackOnly(addr)) => Some(format!(
            "listens on {addr} only, inside its container: neither the tests nor covtools can reach it. \
             Make it listen on every interface (0.0.0.0:{port} or :{port}; e.g. args = [\"-addr\", \"{{addr}}\"] \
             or [\"-host\", \"{{host}}\"]), run it as a local process (--runtime local), where loopback \
             is what the tests use, or run a test program in its container (tests.package with \
             tests.run_in = \"service:{name}\")"
        )),
        _ => None,
    }
}

/// Why a service's container will not get ready: it died at start,
/// listens on loopback only, or stopped; `None` while it may yet.
pub(super) fn container_not_ready(container: &str, port: u16, name: &str) -> Option<String> {
    match docker::container_state(container) {
        Ok((true, _)) => {
            let log = docker::docker_logs(container, LOG_TAIL);
            died_at_start(&log).or_else(|| loopback_only(container, port, name))
        }
        Ok((false, code)) => {
            let log = docker::docker_logs(container, LOG_TAIL);
            let cause = died_at_start(&log).unwrap_or_default();
            Some(format!(
                "stopped before it was ready (container exited with {code}{cause})"
            ))
        }
        Err(e) => Some(format!("stopped before it was ready ({e:#})")),
    }
}

/// Polls `probe` until ready, the deadline, Ctrl-C, or `gone()` telling the
/// service will not get ready (Some(why), e.g. "stopped before it was ready
/// (…)"); `why` says the cause, so that the summary's error line has it.
pub(super) fn wait_ready(
    name: &str,
    probe: &Probe,
    timeout: Duration,
    control: &Control,
    mut gone: impl FnMut() -> Option<String>,
    log_tail: impl Fn() -> String,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    let mut next_gone_check = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        if probe.check(&mut last) {
            return Ok(());
        }
        control.check()?;
        if Instant::now() >= next_gone_check {
            if let Some(why) = gone() {
                bail!(
                    "service {name} {why}; its log:\n{}",
                    log_excerpt(&log_tail())
                );
            }
            next_gone_check = Instant::now() + Duration::from_millis(500);
        }
        if started.elapsed() >= timeout {
            bail!(
                "service {name} was not ready after {:.0}s ({}: {last}); its log:\n{}",
                timeout.as_secs_f64(),
                probe.describe(),
                log_excerpt(&log_tail())
            );
        }
        // Quick at first (services start in well under a second), then
        // slower, so the probes do not fill the service's log.
        std::thread::sleep(pause);
        pause = (pause * 3 / 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn log_excerpt_shows_the_last_run_head_and_tail() {
        let mut log = String::from("cover-wrapper: run 1: x\nold failure\n");
        log.push_str("cover-wrapper: run 2: x\nflag provided but not defined: -nope\n");
        for i in 0..60 {
            log.push_str(&format!("  -test.flag{i}\n"));
        }
        log.push_str("cover-wrapper: restarting in 2s\n");
        let e = log_excerpt(&log);
        assert!(e.starts_with("  | cover-wrapper: run 2"), "{e}");
        assert!(!e.contains("old failure"));
        assert!(e.contains("flag provided but not defined: -nope"));
        assert!(e.contains("... (28 lines) ..."), "{e}");
        assert!(e.ends_with("restarting in 2s"), "{e}");
        let fresh = log_excerpt("cover-wrapper: run 1: x\nboom\ncover-wrapper: run 2: x\n");
        assert_eq!(
            fresh,
            "  | cover-wrapper: run 1: x\n  | boom\n  | cover-wrapper: run 2: x"
        );
        let short = log_excerpt("a\nb\n");
        assert_eq!(short, "  | a\n  | b");
    }

    #[test]
    fn death_at_start_names_the_cause() {
        let log = "cover-wrapper: run 1: /app/x.test -- -addr :8080\n\
                   2026/11/30 02:40:00 listen tcp :8080: bind: address already in use\n\
                   cover-wrapper: x.test exited with status 1 after 0s (quick exit 1 in a row); restarting in 1s\n";
        assert_eq!(
            died_at_start(log).unwrap(),
            "stopped before it was ready (exit status 1: listen tcp :8080: bind: address already in use)"
        );
        let usage = "cover-wrapper: run 1: x\nflag provided but not defined: -nope\nUsage of x:\n  -addr string\n    \tlisten address\n  -test.timeout d\n    \tpanic test binary after duration d\nwarning: GOCOVERDIR not set, no coverage data emitted\ncover-wrapper: x.test exited with status 2 after 0s; restarting\n";
        assert_eq!(
            died_at_start(usage).unwrap(),
            "stopped before it was ready (exit status 2: flag provided but not defined: -nope)"
        );
        assert_eq!(died_at_start("cover-wrapper: run 1: x\nlistening\n"), None);
    }
}
