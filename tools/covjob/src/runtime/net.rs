//! Loopback networking of the local runtime and the readiness probes: free
//! ports, an HTTP status, a port accepting connections.

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;

/// `n` distinct free loopback ports. The listeners are held until all are
/// picked, so no two are the same; another program could still take one
/// before the service binds it (the service then fails to start, visibly).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("picking free loopback ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// The status of a GET of `path` at `addr` (covtarget's one HTTP client).
pub fn http_status(addr: &str, path: &str, timeout: Duration) -> std::io::Result<u16> {
    covtarget::http::get(addr, path, timeout).map(|r| r.status)
}

/// Whether something accepts TCP connections at `addr` (local processes;
/// Docker's published ports accept even when the container does not).
pub fn port_open(addr: &str) -> bool {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|sa| TcpStream::connect_timeout(&sa, Duration::from_millis(500)).is_ok())
}
