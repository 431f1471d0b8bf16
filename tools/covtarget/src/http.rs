//! The project's one HTTP/1.1 client: [`get`] for a killswitch or a
//! service on TCP (status, headers and body, bounded by a timeout),
//! [`get_stream`] for an answer whose body is read as it arrives (a cover
//! directory's files, written to disk one at a time), and the request
//! writer and response reader underneath, which [`crate::docker`] also uses
//! to talk to the Docker Engine API over its Unix socket.
//!
//! It speaks just what those peers need: one request per connection
//! (`Connection: close`), bodies framed by `Content-Length`, chunked, or the
//! end of the stream. A body cut short of its `Content-Length` or of its
//! last chunk is an error, never a shorter body.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The most of a body [`get`] keeps: a killswitch answers a line or two,
/// its `/covtools/snapshot` with the files of a cover directory.
const GET_BODY_LIMIT: u64 = 256 << 20;

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The reason phrase (`OK`, `Not Found`).
    pub reason: String,
    /// Header names and values in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// Who answered, on one short line: `HTTP 404 Not Found, Server: nginx,
    /// body "404 page not found"` (for error messages).
    pub fn describe(&self) -> String {
        let mut s = format!("HTTP {} {}", self.status, self.reason);
        if let Some(server) = self.header("Server") {
            s.push_str(&format!(", Server: {server}"));
        }
        let body: String = self.text().split_whitespace().collect::<Vec<_>>().join(" ");
        if !body.is_empty() {
            let cut: String = body.chars().take(80).collect();
            let more = if cut.len() < body.len() { "…" } else { "" };
            s.push_str(&format!(", body {cut:?}{more}"));
        }
        s
    }
}

/// `GET http://ADDR PATH`; the whole exchange (connect included) bounded by
/// `timeout`. A refused connection keeps its `ConnectionRefused` kind (the
/// caller may retry); running out of time is `TimedOut`, "no answer within …".
pub fn get(addr: &str, path: &str, timeout: Duration) -> io::Result<Response> {
    get_within(addr, path, timeout, timeout)?
}

/// [`get`], with the connection itself bounded by `connect_timeout`; the
/// inner `Err` when no connection could be made at all (refused,
/// unreachable, no answer to the connect), so the caller can take another
/// way to the peer.
pub fn get_within(
    addr: &str,
    path: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> io::Result<Result<Response, io::Error>> {
    let mut answer = match get_stream(addr, path, connect_timeout, timeout)? {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let mut body = Vec::new();
    answer.body().take(GET_BODY_LIMIT).read_to_end(&mut body)?;
    answer.head.body = body;
    Ok(Ok(answer.head))
}

/// An answer whose body is read as it arrives, within the deadline of the
/// request that asked for it.
pub struct Streaming {
    /// Status, reason and headers (its `body` stays empty).
    pub head: Response,
    body: Body<BufReader<TcpStream>>,
    deadline: Instant,
    timeout: Duration,
}

impl Streaming {
    /// The body, framed as the headers say; reads past the deadline fail
    /// with `TimedOut`, and a body cut short with `UnexpectedEof`.
    pub fn body(&mut self) -> impl Read + '_ {
        struct Timed<'a>(&'a mut Streaming);
        impl Read for Timed<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let s = &mut *self.0;
                let left = s.deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(no_answer(s.timeout));
                }
                s.body.inner.get_ref().set_read_timeout(Some(left))?;
                s.body.read(buf).map_err(|e| timed_out(e, s.timeout))
            }
        }
        Timed(self)
    }
}

fn no_answer(timeout: Duration) -> io::Error {
    io::Error::new(
        ErrorKind::TimedOut,
        format!("no answer within {:.1}s", timeout.as_secs_f64()),
    )
}

fn timed_out(e: io::Error, timeout: Duration) -> io::Error {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => no_answer(timeout),
        _ => e,
    }
}

/// `GET http://ADDR PATH` up to the answer's head, its body left to read
/// as it arrives ([`Streaming::body`]); bounds and results as
/// [`get_within`].
pub fn get_stream(
    addr: &str,
    path: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> io::Result<Result<Streaming, io::Error>> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let mut last = io::Error::new(ErrorKind::NotFound, format!("{addr}: no address"));
    for sa in addr.to_socket_addrs()? {
        let stream = match TcpStream::connect_timeout(&sa, left().min(connect_timeout)) {
            Ok(s) => s,
            Err(e) => {
                last = timed_out(e, timeout);
                continue;
            }
        };
        let exchange = || -> io::Result<Streaming> {
            stream.set_read_timeout(Some(left()))?;
            stream.set_write_timeout(Some(left()))?;
            write_request(&mut &stream, "GET", addr, path, &[], &[])?;
            let mut reader = BufReader::new(stream);
            let head = read_head(&mut reader)?;
            let body = Body::new(reader, &head.headers);
            Ok(Streaming {
                head,
                body,
                deadline,
                timeout,
            })
        };
        return exchange().map(Ok).map_err(|e| timed_out(e, timeout));
    }
    Ok(Err(last))
}

/// Writes one request (`Connection: close` unless `headers` says otherwise).
pub fn write_request(
    out: &mut impl Write,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
    {
        req.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    out.write_all(&bytes)?;
    out.flush()
}

/// Reads the status line and headers (the body is left to [`read_body`]).
pub fn read_head(r: &mut impl BufRead) -> io::Result<Response> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "the connection closed without an answer",
        ));
    }
    let status_line = line.trim_end().to_string();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let status = match code.parse::<u16>() {
        Ok(c) if version.starts_with("HTTP/") => c,
        _ => {
            let shown: String = status_line.chars().take(80).collect();
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("not an HTTP answer: {shown:?}"),
            ));
        }
    };
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the connection closed inside the headers",
            ));
        }
        let l = line.trim_end();
        if l.is_empty() {
            return Ok(Response {
                status,
                reason,
                headers,
                body: Vec::new(),
            });
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// Reads a body framed as `headers` say, keeping at most `limit` bytes.
pub fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    limit: u64,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    Body::new(r, headers).take(limit).read_to_end(&mut body)?;
    Ok(body)
}

/// A body as it arrives, framed by `Content-Length`, chunks, or the end of
/// the stream; cut short of its length or its last chunk, it fails with
/// `UnexpectedEof`.
pub struct Body<R> {
    inner: R,
    framing: Framing,
}

enum Framing {
    /// Bytes still to come.
    Length(u64),
    /// Bytes left in the current chunk (0: a size line comes next).
    Chunked(u64),
    Eof,
    Done,
}

impl<R: BufRead> Body<R> {
    pub fn new(inner: R, headers: &[(String, String)]) -> Body<R> {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let framing =
            if header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
                Framing::Chunked(0)
            } else {
                match header("Content-Length").and_then(|v| v.trim().parse::<u64>().ok()) {
                    Some(n) => Framing::Length(n),
                    None => Framing::Eof,
                }
            };
        Body { inner, framing }
    }
}

fn cut_short(what: &str) -> io::Error {
    io::Error::new(
        ErrorKind::UnexpectedEof,
        format!("the answer was cut short ({what})"),
    )
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.framing {
                Framing::Done => return Ok(0),
                Framing::Eof => return self.inner.read(buf),
                Framing::Length(0) => {
                    self.framing = Framing::Done;
                }
                Framing::Length(left) => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(cut_short(&format!("{left} bytes of the body missing")));
                    }
                    self.framing = Framing::Length(left - n as u64);
                    return Ok(n);
                }
                Framing::Chunked(0) => {
                    let mut line = String::new();
                    if self.inner.read_line(&mut line)? == 0 {
                        return Err(cut_short("no last chunk"));
                    }
                    let line = line.trim();
                    if line.is_empty() {
                        continue; // the CRLF that ends a chunk's data
                    }
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(ErrorKind::InvalidData, format!("bad chunk size {size:?}"))
                    })?;
                    self.framing = match size {
                        0 => Framing::Done,
                        n => Framing::Chunked(n),
                    };
                }
                Framing::Chunked(left) => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(cut_short("inside a chunk"));
                    }
                    self.framing = Framing::Chunked(left - n as u64);
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            s.write_all(answer).unwrap();
        });
        addr
    }

    #[test]
    fn status_headers_and_body() {
        let addr = serve_once(
            b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Length: 18\r\n\r\n404 page not found",
        );
        let r = get(&addr, "/covkill", Duration::from_secs(5)).unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.header("server"), Some("nginx"));
        assert_eq!(r.text(), "404 page not found");
        assert_eq!(
            r.describe(),
            "HTTP 404 Not Found, Server: nginx, body \"404 page not found\""
        );
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        assert_eq!(
            get(&addr, "/", Duration::from_secs(5)).unwrap().body,
            b"abcde"
        );
        let addr = serve_once(b"SSH-2.0-OpenSSH_9.6\r\n");
        let e = get(&addr, "/", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("not an HTTP answer"), "{e}");
    }

    #[test]
    fn a_body_cut_short_is_an_error() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"[..],
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"[..],
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc"[..],
        ] {
            let addr = serve_once(answer);
            let e = get(&addr, "/", Duration::from_secs(5)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
            assert!(e.to_string().contains("cut short"), "{e}");
        }
        // Streamed: the bytes that came, then the error.
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        let mut a = get_stream(&addr, "/", Duration::from_secs(5), Duration::from_secs(5))
            .unwrap()
            .unwrap();
        assert_eq!(a.head.status, 200);
        let mut got = [0u8; 3];
        a.body().read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abc");
        assert!(a.body().read(&mut [0u8; 4]).is_err());
    }

    #[test]
    fn silence_is_a_timeout() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = Instant::now();
        let e = get(&addr, "/", Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "no answer within 0.3s");
        assert!(t.elapsed() < Duration::from_secs(3));
        drop(l);
    }
}
