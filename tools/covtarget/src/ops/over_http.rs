//! Running containers of the local Docker engine reached at their own
//! address, with no exec: covpull reads the harness's `/covtools/files`
//! (or, with --flush, `/covtools/snapshot`, which takes the snapshot
//! first), streamed to its sink one file at a time; covkill's stop is in
//! [`super::http_kill`]. Starting a process in a container costs the
//! engine some 50 ms under load, and a fleet's execs queue up behind each
//! other; a request to the container costs well under one.
//!
//! Whenever the harness cannot be reached that way (a rootless engine's
//! addresses, a harness on the container's loopback, one older than these
//! paths, a run that is ending) the caller takes the exec path, which
//! reads the same files and says what is wrong when something is.

use std::io::{BufReader, ErrorKind, Read};
use std::time::{Duration, Instant};

use anyhow::bail;
use covcore::contract;

use super::fetched::{check_asked, Fetched};
use super::frames::{read_frames, Sink};
use super::killed::is_harness;
use super::Options;
use crate::docker::{self, State};
use crate::http;

/// The longest wait for a connection to the container: a bridge address
/// of the local engine answers at once; one this host cannot route to
/// (a rootless engine's) is then left for the exec.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How to reach one running container's harness from this host.
pub(super) struct Reach {
    /// `IP:PORT` of the killswitch on each of the container's networks.
    pub addrs: Vec<String>,
    /// Its cover directory as it sees it (for messages).
    pub dir: String,
    /// False when its wrapper does not start the service again after a
    /// stop (`COVER_RESTART=never`): the container then exits with it.
    pub restarts: bool,
}

/// The container's harness addresses, when it is a running container of
/// the local engine whose harness may listen on them; `None` otherwise
/// (and with --cover-dir, which only an exec can honour).
pub(super) fn reach(container: &str, opts: &Options) -> anyhow::Result<Option<Reach>> {
    if opts.cover_dir.is_some() || docker::Engine::local().is_none() {
        return Ok(None);
    }
    let Some(info) = docker::inspect(container)? else {
        return Ok(None);
    };
    if !info.state.running {
        return Ok(None);
    }
    Ok(reach_of(&info, opts))
}

fn reach_of(info: &docker::Container, opts: &Options) -> Option<Reach> {
    let listen = docker::env_of(info, contract::ENV_KILLSWITCH_ADDR);
    let (host, port) = match listen.as_deref().and_then(|a| a.rsplit_once(':')) {
        Some((h, p)) => (h.trim_matches(['[', ']']), p.parse().ok()),
        None => ("", None),
    };
    // A harness listening on the container's loopback only is out of reach.
    if host == "localhost" || host.starts_with("127.") || host == "::1" {
        return None;
    }
    let port = opts.port.or(port).unwrap_or(contract::KILLSWITCH_PORT);
    let addrs = docker::addresses(info)
        .into_iter()
        .map(|ip| match ip.contains(':') {
            true => format!("[{ip}]:{port}"),
            false => format!("{ip}:{port}"),
        })
        .collect::<Vec<_>>();
    if addrs.is_empty() {
        return None;
    }
    Some(Reach {
        addrs,
        dir: docker::env_of(info, contract::ENV_COVER_DIR)
            .unwrap_or_else(|| contract::COVER_DIR.to_string()),
        restarts: docker::env_of(info, contract::ENV_RESTART).as_deref() != Some("never"),
    })
}

/// covpull's read of a running container over HTTP: with `flush` the
/// harness's snapshot, else the files as they are, each handed to `sink`
/// as it arrives. `Ok(None)` when it cannot be read this way: the caller
/// then takes the exec path (the sink has been told to forget anything it
/// was given).
pub(super) fn fetch(
    container: &str,
    opts: &Options,
    flush: bool,
    sink: &mut dyn Sink,
) -> anyhow::Result<Option<Fetched>> {
    let Some(reach) = reach(container, opts)? else {
        return Ok(None);
    };
    let path = match flush {
        true => contract::SNAPSHOT_PATH,
        false => contract::FILES_PATH,
    };
    let started = Instant::now();
    for addr in &reach.addrs {
        let url = format!("http://{addr}{path}");
        let left = opts.timeout.saturating_sub(started.elapsed());
        let mut answer = match http::get_stream(addr, path, CONNECT_TIMEOUT.min(left), left) {
            Ok(Ok(a)) => a,
            Ok(Err(_unreachable)) => continue,
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                bail!(
                    "{url}: no answer within {:.1}s",
                    started.elapsed().as_secs_f64()
                )
            }
            // Not a harness's answer: the exec path finds out why.
            Err(_) if !flush => return Ok(None),
            Err(e) => bail!("{url}: {e}"),
        };
        let status = answer.head.status;
        if !(200..300).contains(&status) || !is_harness(&answer.head) {
            // A short answer, read whole for what it says.
            let mut head = answer.head.clone();
            let _ = answer.body().take(1 << 16).read_to_end(&mut head.body);
            // Not the harness, a harness from before this path (404), or a
            // run that is ending (503): the exec path reads the directory
            // as it is, or says what is wrong.
            if !flush || status == 404 {
                return Ok(None);
            }
            let kind = if is_harness(&head) {
                "HARNESS"
            } else {
                "OTHER"
            };
            check_asked(&url, &format!("{kind} {status}"), Some(&head), started)?;
            bail!("{url}: {}", head.describe());
        }
        sink.dir(&reach.dir);
        // Small: one per target read at once.
        let mut body = BufReader::with_capacity(16 << 10, answer.body());
        match read_frames(&mut body, sink) {
            // An empty answer: the exec path tells an empty directory from
            // a missing one, and names what else it holds.
            Ok(0) if !flush => {
                sink.restart();
                return Ok(None);
            }
            Ok(_) => {
                return Ok(Some(Fetched {
                    dir: reach.dir,
                    dir_exists: true,
                    ..Fetched::default()
                }))
            }
            Err(e) => {
                sink.restart();
                if docker::state(container)? == State::Removed {
                    bail!("the container was removed while covpull read it");
                }
                match e.kind() {
                    ErrorKind::TimedOut | ErrorKind::InvalidData => bail!("{url}: {e}"),
                    // Cut off (the harness failed to read a file, or went
                    // away): the exec path reads it again and names what fails.
                    _ => return Ok(None),
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reach_from_inspect() {
        let container =
            |v: serde_json::Value| -> docker::Container { serde_json::from_value(v).unwrap() };
        let info = |env: &[&str]| {
            container(json!({
                "Config": {"Env": env},
                "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.4"}, "none": {"IPAddress": ""}}}
            }))
        };
        let opts = Options::default();
        let r = reach_of(&info(&["COVKILL_ADDR=:19001", "COVER_DIR=/c"]), &opts).unwrap();
        assert_eq!(r.addrs, ["172.17.0.4:19001"]);
        assert_eq!(r.dir, "/c");
        assert!(r.restarts);
        let r = reach_of(&info(&["COVER_RESTART=never"]), &opts).unwrap();
        assert_eq!(r.addrs, ["172.17.0.4:19999"]);
        assert_eq!(r.dir, "/cover");
        assert!(!r.restarts);
        let port = Options {
            port: Some(7),
            ..Options::default()
        };
        assert_eq!(
            reach_of(&info(&["COVKILL_ADDR=0.0.0.0:19001"]), &port)
                .unwrap()
                .addrs,
            ["172.17.0.4:7"]
        );
        for lo in ["127.0.0.1:19999", "localhost:1", "[::1]:19999"] {
            let env = format!("COVKILL_ADDR={lo}");
            assert!(reach_of(&info(&[&env]), &opts).is_none(), "{lo}");
        }
        assert!(reach_of(&container(json!({"Config": {"Env": []}})), &opts).is_none());
    }
}
