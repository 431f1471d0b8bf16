//! The Docker commands `covtools cover` runs, on covtarget's one Docker
//! driver (`covtarget::docker`: the CLI with a timeout, the Engine API for
//! exec and inspect): containers' logs, state, published ports and
//! listening sockets.

use std::time::Duration;

use anyhow::Context;
use covtarget::docker;

/// How long a plain `docker` command (create, run -d, rm, network) may take.
pub const TIMEOUT: Duration = Duration::from_secs(120);
/// How long a probe inside a container may take.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// `docker ARGS`, its stdout; an error holding Docker's message otherwise.
pub fn run_ok(args: &[&str]) -> anyhow::Result<String> {
    docker::run_ok(args, TIMEOUT)
}

/// The last `n` lines of a container's log (stdout and stderr).
pub fn docker_logs(container: &str, n: usize) -> String {
    match docker::run(&["logs", "--tail", &n.to_string(), container], TIMEOUT) {
        Ok(out) => {
            // The wrapper and the services log to stderr; keep both, in order
            // per stream.
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            text
        }
        Err(e) => format!("(docker logs {container}: {e:#})"),
    }
}

/// Whether a container is running, and its exit code when it is not.
pub fn container_state(container: &str) -> anyhow::Result<(bool, i64)> {
    let info = docker::inspect(container)?
        .with_context(|| format!("no container {container} (removed?)"))?;
    Ok((info.state.running, info.state.exit_code.unwrap_or(-1)))
}

/// The host address a container's port is published on (`127.0.0.1:49153`).
pub fn published_addr(container: &str, port: u16) -> anyhow::Result<String> {
    let out = run_ok(&["port", container, &format!("{port}/tcp")])?;
    out.lines()
        .map(str::trim)
        .find(|l| l.starts_with("127.0.0.1:"))
        .or_else(|| out.lines().next())
        .map(str::to_string)
        .with_context(|| format!("docker port {container} {port}/tcp printed nothing"))
}

/// Whether a process listens on a TCP port, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listening {
    /// On an address other processes can reach (every interface, or the
    /// container's own).
    Reachable,
    /// On loopback only (this address): reachable from inside alone.
    LoopbackOnly(String),
    No,
}

/// Whether a process in the container listens on TCP `port`, from its
/// /proc/net/tcp{,6} (needs only `cat`; a published port cannot tell).
pub fn listening_in_container(container: &str, port: u16) -> anyhow::Result<Listening> {
    let out = docker::exec(
        container,
        &["cat", "/proc/net/tcp", "/proc/net/tcp6"],
        EXEC_TIMEOUT,
    )?;
    Ok(listens(&String::from_utf8_lossy(&out.stdout), port))
}

/// The sockets in LISTEN state (0A) on `port` in /proc/net/tcp text.
fn listens(proc_net_tcp: &str, port: u16) -> Listening {
    let want = format!(":{port:04X}");
    let mut loopback = None;
    for l in proc_net_tcp.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() <= 3 || f[3] != "0A" {
            continue;
        }
        let Some(ip) = f[1].strip_suffix(&want) else {
            continue;
        };
        match loopback_ip(ip) {
            Some(shown) => loopback = Some(format!("{shown}:{port}")),
            None => return Listening::Reachable,
        }
    }
    loopback.map_or(Listening::No, Listening::LoopbackOnly)
}

/// A /proc/net/tcp{,6} address (hex, in the kernel's byte order) that is
/// loopback, as it is usually written.
fn loopback_ip(hex: &str) -> Option<&'static str> {
    match hex.len() {
        // 127.0.0.0/8: the first octet is the last byte on little-endian.
        8 if hex.ends_with("7F") => Some("127.0.0.1"),
        32 if hex == "00000000000000000000000001000000" => Some("[::1]"),
        32 if hex.starts_with("0000000000000000FFFF0000") && hex.ends_with("7F") => {
            Some("127.0.0.1")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_listen_state() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   1: 0100007F:4E1F 0100007F:A0B2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n";
        assert_eq!(listens(text, 8080), Listening::Reachable);
        assert_eq!(
            listens(text, 19999),
            Listening::No,
            "established, not listening"
        );
        assert_eq!(listens(text, 80), Listening::No);
        let local = "  sl  local_address rem_address   st\n   0: 0100007F:1F90 00000000:0000 0A 0\n   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 0\n";
        assert_eq!(
            listens(local, 8080),
            Listening::LoopbackOnly("127.0.0.1:8080".into())
        );
        assert_eq!(
            listens(local, 80),
            Listening::LoopbackOnly("[::1]:80".into())
        );
    }
}
