//! Bounds-checked reading of Go's coverage files: fixed-width little-endian
//! integers, ULEB128 numbers and string tables (Go's `slicereader`,
//! `uleb128` and `stringtab`). Go's readers panic or stop short on a file
//! that ends early; here every read past the end is an error saying where.

/// A position in a byte slice. Errors are messages without the file name;
/// the caller adds it.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub(crate) type Result<T> = std::result::Result<T, String>;

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    pub fn at(buf: &'a [u8], pos: usize) -> Result<Cursor<'a>> {
        if pos > buf.len() {
            return Err(format!(
                "offset {pos} is past the end of the data ({} bytes)",
                buf.len()
            ));
        }
        Ok(Cursor { buf, pos })
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.buf.len() => {
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Ok(b)
            }
            _ => Err(format!(
                "truncated: {what} needs {n} bytes at offset {}, only {} left",
                self.pos,
                self.buf.len() - self.pos
            )),
        }
    }

    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(4, what)?.try_into().unwrap()))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes(8, what)?.try_into().unwrap()))
    }

    pub fn hash(&mut self, what: &str) -> Result<[u8; 16]> {
        Ok(self.bytes(16, what)?.try_into().unwrap())
    }

    /// An unsigned LEB128 number, as Go reads it: 7 bits a byte, low first,
    /// the high bit set on every byte but the last. Bits past 64 are lost,
    /// as in Go.
    #[inline]
    pub fn uleb(&mut self, what: &str) -> Result<u64> {
        let mut value: u64 = 0;
        let mut shift: u32 = 0;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(format!(
                    "truncated: {what} (a ULEB128 number) runs past the end at offset {}",
                    self.pos
                ));
            };
            self.pos += 1;
            if shift < 64 {
                value |= u64::from(b & 0x7f) << shift;
            }
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// [`Cursor::uleb`] truncated to u32, for the hot loop over counters:
    /// `None` at the end of the data, and the caller says what was cut.
    #[inline(always)]
    pub fn uleb32_fast(&mut self) -> Option<u32> {
        let b = *self.buf.get(self.pos)?;
        if b < 0x80 {
            self.pos += 1;
            return Some(u32::from(b));
        }
        self.uleb("").ok().map(|v| v as u32)
    }

    /// A little-endian u32 for the hot loop; `None` at the end.
    #[inline(always)]
    pub fn u32_fast(&mut self) -> Option<u32> {
        let b = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes(b.try_into().unwrap()))
    }

    /// A big-endian u32 for the hot loop; `None` at the end.
    #[inline(always)]
    pub fn u32_be_fast(&mut self) -> Option<u32> {
        let b = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_be_bytes(b.try_into().unwrap()))
    }

    /// Checks a string table is whole without copying its strings.
    pub fn skip_string_table(&mut self, what: &str) -> Result<()> {
        let n = self.uleb(what)?;
        for _ in 0..n {
            let len = self.uleb(what)?;
            let len = usize::try_from(len).map_err(|_| format!("corrupt {what}"))?;
            self.bytes(len, what)?;
        }
        Ok(())
    }

    /// A ULEB128 number Go keeps as a `uint32` (the conversion drops the
    /// high bits).
    #[inline]
    pub fn uleb32(&mut self, what: &str) -> Result<u32> {
        Ok(self.uleb(what)? as u32)
    }

    /// A string table: a count, then each string as a length and its bytes.
    /// Bytes, as Go keeps them: a file name need not be UTF-8, and a
    /// profile must hold the name the binary was built with, byte for byte.
    pub fn string_table(&mut self, what: &str) -> Result<Vec<Vec<u8>>> {
        let n = self.uleb(what)?;
        // Each entry takes at least one byte: a count larger than what is
        // left is corrupt, and must not size an allocation.
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "corrupt {what}: {n} strings in {left} bytes at offset {}",
                self.pos
            ));
        }
        let mut strings = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let len = self.uleb(what)?;
            let len = usize::try_from(len).map_err(|_| format!("corrupt {what}"))?;
            let b = self.bytes(len, what)?;
            strings.push(b.to_vec());
        }
        Ok(strings)
    }
}

/// A 16-byte hash as Go prints it in file names (`%x`).
pub(crate) fn hex(hash: &[u8; 16]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uleb128_reads_what_go_appends() {
        // Go's uleb128.AppendUleb128, written out here for a few values.
        fn append(mut v: u64, out: &mut Vec<u8>) {
            loop {
                let mut c = (v & 0x7f) as u8;
                v >>= 7;
                if v != 0 {
                    c |= 0x80;
                }
                out.push(c);
                if c & 0x80 == 0 {
                    break;
                }
            }
        }
        let values = [0, 1, 127, 128, 300, 16383, 16384, u32::MAX as u64, u64::MAX];
        let mut buf = Vec::new();
        for v in values {
            append(v, &mut buf);
        }
        let mut c = Cursor::new(&buf);
        for v in values {
            assert_eq!(c.uleb("v").unwrap(), v);
        }
        assert!(c.uleb("v").unwrap_err().contains("truncated"));
    }

    #[test]
    fn reads_past_the_end_are_errors() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert!(c
            .u32("x")
            .unwrap_err()
            .contains("needs 4 bytes at offset 0"));
        assert_eq!(c.u8("x").unwrap(), 1);
        assert!(Cursor::new(&[0x80]).uleb("x").is_err());
        assert!(Cursor::new(&[200, 1]).string_table("t").is_err());
    }
}
