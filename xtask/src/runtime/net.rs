//! Loopback networking of the local runtime and the readiness probes: free
//! ports, one HTTP GET, a port accepting connections.

use std::io::{Read, Write};
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

/// One HTTP/1.0 GET of `path` at `addr`; the status code.
pub fn http_status(addr: &str, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let sa = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr}: no address")))?;
    let mut s = TcpStream::connect_timeout(&sa, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < head.len() {
        let k = s.read(&mut head[n..])?;
        if k == 0 || head[..n + k].contains(&b'\n') {
            n += k;
            break;
        }
        n += k;
    }
    let line = String::from_utf8_lossy(&head[..n]);
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .filter(|_| line.starts_with("HTTP/"));
    code.ok_or_else(|| {
        if n == 0 {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed without an answer",
            )
        } else {
            std::io::Error::other(format!("not an HTTP answer: {:?}", line.trim()))
        }
    })
}

/// Whether something accepts TCP connections at `addr` (local processes;
/// Docker's published ports accept even when the container does not).
pub fn port_open(addr: &str) -> bool {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|sa| TcpStream::connect_timeout(&sa, Duration::from_millis(500)).is_ok())
}
