//! The coordinator: a small HTTP server the tests reach at
//! `$COVTOOLS_TESTS_URL`, for drivers in any language.
//!
//! - `POST /test/start?name=NAME`
//! - `POST /test/end?name=NAME&result=passed|failed|skipped`
//!
//! Each answers 200 only after every service has written its snapshot (the
//! recorder's boundary), so the next test's traffic is never counted for
//! the previous one; 400 for a bad request, 409 for an end that closes no
//! open test, 500 when a snapshot failed. One connection per request
//! (`Connection: close`); a request must arrive within ten seconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use super::recorder::{Boundary, Recorder};

pub use covcore::contract::ENV_TESTS_URL;
use covcore::contract::{TEST_END_PATH, TEST_START_PATH};

const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener, served by [`serve`] until [`Server::stop`].
pub(super) struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    stop: AtomicBool,
}

impl Server {
    /// Listens on `ip` (loopback for tests on the host) at a free port.
    pub(super) fn bind(ip: &str) -> anyhow::Result<Server> {
        let listener = TcpListener::bind((ip, 0))
            .with_context(|| format!("the per-test coordinator cannot listen on {ip}"))?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            addr,
            stop: AtomicBool::new(false),
        })
    }

    pub(super) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers requests, each on its own thread of `scope`, until stopped.
    pub(super) fn serve<'s, 'e: 's>(
        &'s self,
        scope: &'s std::thread::Scope<'s, 'e>,
        recorder: &'s Recorder<'_>,
    ) {
        for stream in self.listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            scope.spawn(move || {
                let _ = answer(stream, recorder);
            });
        }
    }

    /// Ends [`serve`] (a connection of our own wakes the accept).
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn answer(stream: TcpStream, recorder: &Recorder<'_>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    // A body is allowed and ignored.
    std::io::copy(
        &mut reader.by_ref().take(length as u64),
        &mut std::io::sink(),
    )?;
    let (code, body) = if line.is_empty() {
        return Ok(()); // the wake-up connection, or a client that left
    } else {
        respond(line.trim_end(), recorder)
    };
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        _ => "Internal Server Error",
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// The status and body for a request line (`POST /test/start?name=x HTTP/1.1`).
fn respond(line: &str, recorder: &Recorder<'_>) -> (u16, String) {
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != TEST_START_PATH && path != TEST_END_PATH {
        return (
            404,
            format!("no {path}: expected POST /test/start?name=NAME or /test/end?name=NAME&result=passed|failed|skipped\n"),
        );
    }
    if method != "POST" {
        return (405, format!("{method} {path}: expected POST\n"));
    }
    let param = |key: &str| {
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k).as_deref() == Some(key)).then(|| decode(v))?
        })
    };
    let Some(name) = param("name").filter(|n| !n.is_empty()) else {
        return (
            400,
            format!("{path}: expected ?name=NAME (percent-encoded)\n"),
        );
    };
    let boundary = if path == TEST_START_PATH {
        Boundary::Start(name.clone())
    } else {
        let Some(result) = param("result") else {
            return (
                400,
                format!("{path}: expected &result=passed|failed|skipped\n"),
            );
        };
        Boundary::End(name.clone(), result)
    };
    match recorder.mark(boundary) {
        Ok(took) => (
            200,
            format!(
                "{} {name} (snapshot {:.1} ms)\n",
                if path == TEST_START_PATH {
                    "started"
                } else {
                    "ended"
                },
                took.as_secs_f64() * 1e3
            ),
        ),
        Err(e) => {
            let msg = format!("{e:#}");
            let code = if msg.starts_with("result=") {
                400
            } else if msg.contains("was not started") {
                409
            } else {
                500
            };
            (code, format!("{msg}\n"))
        }
    }
}

/// Percent-decoding of a query component (`+` is a space); None when it is
/// not UTF-8 or a `%` is not followed by two hex digits.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_components_are_percent_decoded() {
        assert_eq!(super::decode("list+products").unwrap(), "list products");
        assert_eq!(super::decode("a%2Fb%20c").unwrap(), "a/b c");
        assert_eq!(super::decode("%zz"), None);
        assert_eq!(super::decode("%C3%A9").unwrap(), "é");
    }
}
