//! Outputs that never lose a good file: data goes to a temporary file beside
//! the destination and is renamed over it only once complete.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A file written atomically. Dropping it without [`AtomicFile::commit`]
/// removes the temporary file and leaves the destination untouched.
pub struct AtomicFile {
    dest: PathBuf,
    /// `None` when writing straight to a destination that is not a regular
    /// file (`/dev/null`, a FIFO): renaming over those would replace them.
    tmp: Option<PathBuf>,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(dest: impl AsRef<Path>) -> anyhow::Result<AtomicFile> {
        let mut dest = dest.as_ref().to_path_buf();
        if let Ok(meta) = fs::symlink_metadata(&dest) {
            if meta.file_type().is_symlink() {
                // Replace the file the link points to, not the link.
                dest = fs::canonicalize(&dest)
                    .with_context(|| format!("{}: cannot resolve the link", dest.display()))?;
            }
            if fs::metadata(&dest).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
                let file = fs::OpenOptions::new()
                    .write(true)
                    .open(&dest)
                    .with_context(|| format!("{}: cannot open for writing", dest.display()))?;
                return Ok(AtomicFile {
                    dest,
                    tmp: None,
                    writer: Some(BufWriter::with_capacity(1 << 20, file)),
                });
            }
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .with_context(|| format!("{}: not a file name", dest.display()))?
            .to_string_lossy()
            .into_owned();
        let mut attempt = 0u32;
        loop {
            let tmp = dir.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        dest,
                        tmp: Some(tmp),
                        writer: Some(BufWriter::with_capacity(1 << 20, file)),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating a temporary file in {}", dir.display()))
                }
            }
        }
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes and renames the temporary file over the destination.
    pub fn commit(mut self) -> anyhow::Result<()> {
        let writer = self.writer.take().expect("committed once");
        let file = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", self.dest.display()))?;
        // No fsync: the rename alone guarantees that readers and a failed
        // run never see a partial file; surviving power loss is not worth
        // seconds on a 400 MB profile.
        drop(file);
        if let Some(tmp) = &self.tmp {
            fs::rename(tmp, &self.dest).with_context(|| {
                format!("renaming {} to {}", tmp.display(), self.dest.display())
            })?;
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("not committed").write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.as_mut().expect("not committed").write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let (Some(_), Some(tmp)) = (self.writer.take(), &self.tmp) {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Writes everything `write` produces to `dest` atomically, or to buffered
/// stdout when `dest` is `None` or `-`.
pub fn write_to(
    dest: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match dest {
        Some(path) if path != Path::new("-") => {
            let mut file = AtomicFile::create(path)?;
            write(&mut file).with_context(|| format!("writing {}", path.display()))?;
            file.commit()
        }
        _ => {
            let stdout = io::stdout();
            let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
            write(&mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// Writes an unsigned integer in decimal without going through `fmt`
/// (the output hot path writes tens of millions of them), two digits at a
/// time.
#[inline]
pub fn push_u32(out: &mut Vec<u8>, mut v: u32) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        i -= 2;
        let pair = v as usize * 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&tmp[i..]);
}

/// A JSON string literal (for the few JSON and Docker-JSON strings the tools
/// write; no serde needed for that).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_string_escapes() {
        assert_eq!(
            super::json_string("a\"b\\c\nd\u{1}é"),
            r#""a\"b\\c\nd\u0001é""#
        );
    }

    #[test]
    fn push_u32_writes_decimal() {
        for v in [
            0,
            1,
            9,
            10,
            42,
            99,
            100,
            101,
            999,
            1000,
            65535,
            1234567,
            4294967295u32,
        ] {
            let mut out = Vec::new();
            super::push_u32(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}
