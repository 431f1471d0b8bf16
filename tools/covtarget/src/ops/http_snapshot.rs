//! covpull --flush of a running container on the local Docker engine
//! without an exec: the harness's `/covtools/snapshot` takes the snapshot
//! and answers with the bytes of every complete coverage file, asked at
//! the container's own address. Starting a process in a container costs
//! the engine some 50 ms under load; a request to the container, well
//! under one.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use anyhow::bail;
use covcore::contract;

use super::fetched::{check_asked, Fetched};
use super::kill::is_harness;
use super::Options;
use crate::{docker, http};

/// The longest wait for a connection to the container: a bridge address
/// of the local engine answers at once; one this host cannot route to
/// (a rootless engine's) is then left for the exec.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The snapshot of `container` over HTTP; `Ok(None)` when its harness
/// cannot be reached that way (no address, refused, unreachable, a harness
/// older than the snapshot path): the caller then takes the exec path.
pub(super) fn fetch(container: &str, opts: &Options) -> anyhow::Result<Option<Fetched>> {
    let Some(info) = docker::inspect(container)? else {
        return Ok(None);
    };
    if !info.state.running {
        return Ok(None);
    }
    let port = opts
        .port
        .or_else(|| {
            let addr = docker::env_of(&info, contract::ENV_KILLSWITCH_ADDR)?;
            addr.rsplit_once(':')?.1.parse().ok()
        })
        .unwrap_or(contract::KILLSWITCH_PORT);
    let dir = docker::env_of(&info, contract::ENV_COVER_DIR)
        .unwrap_or_else(|| contract::COVER_DIR.to_string());
    let started = Instant::now();
    for ip in docker::addresses(&info) {
        let addr = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let url = format!("http://{addr}{}", contract::SNAPSHOT_PATH);
        let left = opts.timeout.saturating_sub(started.elapsed());
        let answer = match http::get_within(
            &addr,
            contract::SNAPSHOT_PATH,
            CONNECT_TIMEOUT.min(left),
            left,
        ) {
            Ok(Ok(r)) => r,
            Ok(Err(_unreachable)) => continue,
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                bail!(
                    "{url}: no answer within {:.1}s",
                    started.elapsed().as_secs_f64()
                )
            }
            Err(e) => bail!("{url}: {e}"),
        };
        if !is_harness(&answer) {
            check_asked(
                &url,
                &format!("OTHER {}", answer.status),
                Some(&answer),
                started,
            )?;
        }
        if answer.status == 404 {
            return Ok(None); // a harness from before /covtools/snapshot
        }
        check_asked(
            &url,
            &format!("HARNESS {}", answer.status),
            Some(&answer),
            started,
        )?;
        let mut fetched = Fetched {
            dir,
            dir_exists: true,
            ..Fetched::default()
        };
        parse_frames(&answer.body, &mut fetched).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        return Ok(Some(fetched));
    }
    Ok(None)
}

/// Files each frame of a snapshot answer: a line `<name> <length>`, then
/// `<length>` bytes.
fn parse_frames(mut body: &[u8], fetched: &mut Fetched) -> Result<(), String> {
    while !body.is_empty() {
        let nl = body
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a frame without its header line")?;
        let head = String::from_utf8_lossy(&body[..nl]).into_owned();
        let (name, len) = head
            .rsplit_once(' ')
            .and_then(|(n, l)| Some((n, l.parse::<usize>().ok()?)))
            .ok_or_else(|| format!("bad frame header {head:?} (expected \"<name> <length>\")"))?;
        let rest = &body[nl + 1..];
        if rest.len() < len {
            return Err(format!(
                "{name}: {len} bytes announced, {} received",
                rest.len()
            ));
        }
        fetched.add(name.to_string(), rest[..len].to_vec());
        body = &rest[len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let mut f = Fetched::default();
        let body = b"covmeta.0a 3\n\0\n\xffcovcounters.0a.7.9 0\ncover-1.out 4\nab\ncx 1\nz";
        parse_frames(body, &mut f).unwrap();
        let got: Vec<(&str, &[u8])> = f
            .binaries
            .iter()
            .map(|b| (b.name.as_str(), &b.data[..]))
            .collect();
        assert_eq!(
            got,
            [
                ("covmeta.0a", &b"\0\n\xff"[..]),
                ("covcounters.0a.7.9", &b""[..])
            ]
        );
        assert_eq!(f.profiles[0].data, b"ab\nc");
        assert_eq!(f.skipped, ["x"]);
        let e = parse_frames(b"covmeta.0a 9\nabc", &mut Fetched::default()).unwrap_err();
        assert_eq!(e, "covmeta.0a: 9 bytes announced, 3 received");
        let e = parse_frames(b"covmeta.0a\n", &mut Fetched::default()).unwrap_err();
        assert!(e.contains("bad frame header"), "{e}");
    }
}
