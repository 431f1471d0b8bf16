//! The harness's answers that carry files (`/covtools/snapshot`,
//! `/covtools/files`): per file a line `<name> <length>`, then exactly
//! `<length>` bytes. They are read as they arrive and handed to a [`Sink`]
//! one file at a time, so a reader's memory does not grow with the number
//! or the size of the files; a file whose bytes did not all arrive is never
//! handed on as complete.

use std::io::{self, BufRead, ErrorKind, Read};

use covcore::contract::profile_number;

use super::fetched::{binary_kind, Fetched};

/// Where a fetch hands the files it reads, one at a time, as they arrive.
pub trait Sink {
    /// The cover directory the files come from, as the target sees it;
    /// told before the first file.
    fn dir(&mut self, dir: &str);
    /// One complete profile or binary coverage file: `name`, and its bytes,
    /// read from `data` to its end. A failure of the sink's own (a profile
    /// that does not validate, a write that fails) is the sink's to report.
    /// When reading `data` fails, the transfer broke: the sink must not keep
    /// the file (it is read again, another way, after [`Sink::restart`]).
    fn file(&mut self, name: &str, data: &mut dyn Read);
    /// The transfer broke: forget what this fetch has reported so far, the
    /// files are read again from the start.
    fn restart(&mut self);
}

/// A sink that keeps every file in memory, as a [`Fetched`].
pub struct Collect(pub Fetched);

impl Sink for Collect {
    fn dir(&mut self, dir: &str) {
        self.0.dir = dir.to_string();
    }

    fn file(&mut self, name: &str, data: &mut dyn Read) {
        let mut bytes = Vec::new();
        if data.read_to_end(&mut bytes).is_ok() {
            self.0.add(name.to_string(), bytes);
        }
    }

    fn restart(&mut self) {
        let dir = std::mem::take(&mut self.0.dir);
        self.0 = Fetched {
            dir,
            dir_exists: true,
            ..Fetched::default()
        };
    }
}

/// Hands every file of a framed answer to `sink`; the number of files.
/// `Err` when the answer broke off or is not framed as it should be.
pub(super) fn read_frames(body: &mut impl BufRead, sink: &mut dyn Sink) -> io::Result<usize> {
    let mut files = 0;
    let mut head = Vec::new();
    loop {
        head.clear();
        // A header line is a name and a number: a longer one is no header.
        let n = body.by_ref().take(4096).read_until(b'\n', &mut head)?;
        if n == 0 {
            return Ok(files);
        }
        if head.pop() != Some(b'\n') {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "a frame without its header line",
            ));
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let (name, len) = text
            .rsplit_once(' ')
            .and_then(|(n, l)| Some((n, l.parse::<u64>().ok()?)))
            .ok_or_else(|| {
                io::Error::new(
                    ErrorKind::InvalidData,
                    format!("bad frame header {text:?} (expected \"<name> <length>\")"),
                )
            })?;
        let mut frame = Frame {
            inner: body.by_ref().take(len),
            left: len,
            broken: None,
        };
        // Only complete files' names are handed on (the harness sends no
        // other, but a reader believes no peer on that).
        if profile_number(name).is_some() || binary_kind(name).is_some() {
            sink.file(name, &mut frame);
            files += 1;
        }
        // Whatever the sink left unread is skipped, so that the next frame
        // starts where it should.
        io::copy(&mut frame, &mut io::sink()).ok();
        if let Some((kind, msg)) = frame.broken {
            return Err(io::Error::new(kind, format!("{name}: {msg}")));
        }
    }
}

/// One frame's bytes; keeps the first read error, and fails (rather than
/// ending early) when the answer ends before the frame does.
struct Frame<R> {
    inner: R,
    left: u64,
    broken: Option<(ErrorKind, String)>,
}

impl<R: Read> Read for Frame<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.broken {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let result = match self.inner.read(buf) {
            Ok(0) => Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("the answer ended {} bytes short of the file", self.left),
            )),
            r => r,
        };
        match result {
            Ok(n) => {
                self.left -= n as u64;
                Ok(n)
            }
            Err(e) => {
                self.broken = Some((e.kind(), e.to_string()));
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &[u8]) -> (io::Result<usize>, Fetched) {
        let mut sink = Collect(Fetched::default());
        let r = read_frames(&mut &body[..], &mut sink);
        (r, sink.0)
    }

    #[test]
    fn frames() {
        let body = b"covmeta.0a 3\n\0\n\xffcovcounters.0a.7.9 0\ncover-1.out 4\nab\ncx 1\nz";
        let (r, f) = collect(body);
        assert_eq!(r.unwrap(), 3);
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
        assert!(f.skipped.is_empty(), "{:?}", f.skipped);
    }

    #[test]
    fn a_file_cut_short_is_never_handed_on() {
        let (r, f) = collect(b"cover-1.out 2\nabcover-2.out 9\nabc");
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
        assert_eq!(
            e.to_string(),
            "cover-2.out: the answer ended 6 bytes short of the file"
        );
        let names: Vec<&str> = f.profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["cover-1.out"]);
        let (r, _) = collect(b"covmeta.0a\n");
        assert!(r.unwrap_err().to_string().contains("bad frame header"));
        let (r, _) = collect(b"covmeta.0a 3");
        assert!(r.unwrap_err().to_string().contains("without its header"));
    }
}
