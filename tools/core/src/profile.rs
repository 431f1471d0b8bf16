//! The text coverage profile grammar that `go test -coverprofile` and
//! `go tool covdata textfmt` write:
//!
//! ```text
//! mode: set|count|atomic
//! path/to/file.go:startLine.startCol,endLine.endCol numStmt count
//! ```
//!
//! Lines are parsed from the right, so paths may hold `:` and spaces. We accept
//! CRLF line ends, blank lines, and several profiles concatenated in one
//! stream, each starting with its own `mode:` line (what `cat a.out b.out`
//! gives; Go's own parser rejects this).
//!
//! Numbers are read as Go's parser reads them (x/tools `cover.ParseProfiles`,
//! which `go tool cover` uses: `strconv.Atoi`, then a check for negative
//! values): an optional sign, any number of leading zeros, at most
//! 9223372036854775807; `-0` is 0. Counts above 4294967295 saturate there,
//! as merged counts do (`go tool covdata` keeps 32-bit counters); positions
//! and numStmt above it are an error saying they are too large.

use std::fmt;
use std::io::{self, Read};

/// The counter mode of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Set,
    Count,
    Atomic,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Set => "set",
            Mode::Count => "count",
            Mode::Atomic => "atomic",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "set" => Some(Mode::Set),
            "count" => Some(Mode::Count),
            "atomic" => Some(Mode::Atomic),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::parse(s).ok_or_else(|| format!("unknown mode {s:?}, expected set, count or atomic"))
    }
}

/// Where a block sits in its source file: `startLine.startCol,endLine.endCol`.
/// The derived order (start line, start column, end line, end column) is the
/// output order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pos {
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

impl Pos {
    /// Start strictly before `other`'s end and end strictly after its start:
    /// the two blocks share at least one character.
    pub fn overlaps(&self, other: &Pos) -> bool {
        (self.start_line, self.start_col) < (other.end_line, other.end_col)
            && (other.start_line, other.start_col) < (self.end_line, self.end_col)
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{},{}.{}",
            self.start_line, self.start_col, self.end_line, self.end_col
        )
    }
}

/// A parse error: names the input, the line and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    pub input: String,
    pub line: u64,
    pub msg: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.input, self.line, self.msg)
    }
}

impl std::error::Error for ProfileError {}

/// Receives what the parser reads. Returning an error stops the parse.
pub trait Visitor {
    /// A `mode:` line (the first non-blank line, and any later ones of
    /// concatenated profiles).
    fn mode(&mut self, mode: Mode, line: u64) -> anyhow::Result<()>;
    /// One block line.
    fn block(
        &mut self,
        path: &[u8],
        pos: Pos,
        stmts: u32,
        count: u32,
        line: u64,
    ) -> anyhow::Result<()>;
}

const BLOCK_GRAMMAR: &str = "\"file:startLine.startCol,endLine.endCol numStmt count\"";

/// Parses one input, streaming, calling `visitor` for every mode and block
/// line. `input` names the input in errors. I/O errors are returned with the
/// input's name as context; grammar errors as [`ProfileError`].
pub fn parse<R: Read, V: Visitor>(input: &str, reader: R, visitor: &mut V) -> anyhow::Result<()> {
    parse_with(input, reader, visitor, &mut Vec::new())
}

/// [`parse`] with a read buffer kept by the caller, so that parsing many
/// inputs in a row does not allocate and fault in a fresh megabyte each time.
pub fn parse_with<R: Read, V: Visitor>(
    input: &str,
    mut reader: R,
    visitor: &mut V,
    buf: &mut Vec<u8>,
) -> anyhow::Result<()> {
    if buf.len() < 1 << 20 {
        buf.resize(1 << 20, 0);
    }
    let mut start = 0; // first unconsumed byte
    let mut end = 0; // end of valid data
    let mut line_no: u64 = 0;
    let mut state = State { seen_mode: false };
    loop {
        if start > 0 && (start == end || buf.len() - end < buf.len() / 4) {
            // Move the partial last line to the front to make room.
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if end == buf.len() {
            let new_len = buf.len() * 2;
            buf.resize(new_len, 0);
        }
        let n = read_retry(&mut reader, &mut buf[end..])
            .map_err(|e| anyhow::Error::new(e).context(format!("reading {input}")))?;
        if n == 0 {
            break;
        }
        end += n;
        let chunk = &buf[start..end];
        let mut consumed = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            line_no += 1;
            state.line(input, &chunk[consumed..nl], line_no, visitor)?;
            consumed = nl + 1;
        }
        start += consumed;
    }
    if start < end {
        line_no += 1;
        state.line(input, &buf[start..end], line_no, visitor)?;
    }
    if !state.seen_mode {
        return Err(ProfileError {
            input: input.to_string(),
            line: line_no.max(1),
            msg: "empty profile: expected a first line \"mode: set|count|atomic\"".into(),
        }
        .into());
    }
    Ok(())
}

fn read_retry<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

struct State {
    seen_mode: bool,
}

impl State {
    #[inline]
    fn line<V: Visitor>(
        &mut self,
        input: &str,
        mut line: &[u8],
        line_no: u64,
        visitor: &mut V,
    ) -> anyhow::Result<()> {
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if self.seen_mode {
            if let Some((path, pos, stmts, count)) = fast_block(line) {
                return visitor.block(path, pos, stmts, count, line_no);
            }
        }
        let err = |msg: String| -> anyhow::Error {
            ProfileError {
                input: input.to_string(),
                line: line_no,
                msg,
            }
            .into()
        };
        if let Some(parsed) = parse_block(line) {
            if !self.seen_mode {
                return Err(err(format!(
                    "expected a first line \"mode: set|count|atomic\", found {}",
                    quote(line)
                )));
            }
            let (path, pos, stmts, count) = parsed.map_err(err)?;
            return visitor.block(path, pos, stmts, count, line_no);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix(b"mode:") {
            let name = String::from_utf8_lossy(rest);
            let mode = Mode::parse(name.trim()).ok_or_else(|| {
                err(format!(
                    "unknown mode {:?}, expected set, count or atomic",
                    name.trim()
                ))
            })?;
            self.seen_mode = true;
            return visitor.mode(mode, line_no);
        }
        if !self.seen_mode {
            return Err(err(format!(
                "expected a first line \"mode: set|count|atomic\", found {}",
                quote(line)
            )));
        }
        Err(err(format!(
            "expected {BLOCK_GRAMMAR}, found {}",
            quote(line)
        )))
    }
}

/// A line shown in an error: quoted, and cut when long.
fn quote(line: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(line);
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut:?}…")
    } else {
        format!("{text:?}")
    }
}

type Parsed<'a> = (&'a [u8], Pos, u32, u32);

/// The hot path: one backward pass over the numeric tail of a well-formed
/// block line. `None` for anything unusual; [`parse_block`] then gives the
/// precise verdict and message.
#[inline(always)]
fn fast_block(line: &[u8]) -> Option<Parsed<'_>> {
    let mut i = line.len();
    let count = back_u32(line, &mut i, b' ')?;
    let stmts = back_u32(line, &mut i, b' ')?;
    let end_col = back_u32(line, &mut i, b'.')?;
    let end_line = back_u32(line, &mut i, b',')?;
    let start_col = back_u32(line, &mut i, b'.')?;
    let start_line = back_u32(line, &mut i, b':')?;
    if i == 0 {
        return None;
    }
    Some((
        &line[..i],
        Pos {
            start_line,
            start_col,
            end_line,
            end_col,
        },
        stmts,
        count,
    ))
}

/// Reads the decimal number ending at `*i`, which must be preceded by
/// `sep`; leaves `*i` at the separator.
#[inline(always)]
fn back_u32(line: &[u8], i: &mut usize, sep: u8) -> Option<u32> {
    let end = *i;
    let mut j = end;
    let mut v: u64 = 0;
    let mut scale: u64 = 1;
    while j > 0 {
        let d = line[j - 1].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v += d as u64 * scale;
        scale *= 10;
        j -= 1;
        if end - j > 10 {
            return None;
        }
    }
    if j == end || j == 0 || line[j - 1] != sep || v > u32::MAX as u64 {
        return None;
    }
    *i = j - 1;
    Some(v as u32)
}

/// Parses a block line from the right. `None`: the line does not have the
/// shape of a block line at all (it may be a mode or blank line); `Some(Err)`:
/// it has, but a field is wrong, with what was expected.
#[inline]
fn parse_block(line: &[u8]) -> Option<Result<Parsed<'_>, String>> {
    // Shape: <path>:<n>.<n>,<n>.<n> <field> <field>, where the two last fields
    // are anything without spaces. Checking the shape first lets a garbled
    // count say "expected a non-negative count" instead of the generic text.
    let (rest, count) = rsplit_field(line)?;
    let (rest, stmts) = rsplit_field(rest)?;
    let colon = memchr::memrchr(b':', rest)?;
    let (path, coords) = (&rest[..colon], &rest[colon + 1..]);
    let pos = match parse_coords(coords)? {
        Ok(pos) => pos,
        Err(e) => return Some(Err(e)),
    };
    if path.is_empty() {
        return Some(Err(format!(
            "expected a file name before ':' in {BLOCK_GRAMMAR}"
        )));
    }
    let stmts = match go_int(stmts) {
        Ok(v) => match u32::try_from(v) {
            Ok(v) => v,
            Err(_) => return Some(Err(too_large("numStmt", stmts))),
        },
        Err(e) => return Some(Err(e.message("numStmt", stmts))),
    };
    let count = match go_int(count) {
        // Saturates like a merged count.
        Ok(v) => u32::try_from(v).unwrap_or(u32::MAX),
        Err(e) => return Some(Err(e.message("count", count))),
    };
    Some(Ok((path, pos, stmts, count)))
}

fn too_large(what: &str, field: &[u8]) -> String {
    format!("{what} {} is too large (at most 4294967295)", quote(field))
}

/// Why a field is not a number Go's profile parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumError {
    /// Not an optionally signed run of decimal digits.
    NotANumber,
    /// Below zero (Go: "negative values are not allowed").
    Negative,
    /// Above 9223372036854775807 (Go's `strconv.Atoi`: "value out of range").
    TooLarge,
}

impl NumError {
    fn message(self, what: &str, field: &[u8]) -> String {
        match self {
            NumError::TooLarge => too_large(what, field),
            NumError::NotANumber | NumError::Negative => {
                format!("expected a non-negative {what}, found {}", quote(field))
            }
        }
    }
}

/// A number as Go's profile parser reads one: `strconv.Atoi` (an optional
/// `+` or `-`, then decimal digits, leading zeros allowed, within int64),
/// and not negative.
pub fn go_int(s: &[u8]) -> Result<u64, NumError> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(NumError::NotANumber);
    }
    let mut v: u64 = 0;
    for &b in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((b - b'0') as u64))
            .ok_or(NumError::TooLarge)?;
    }
    // Atoi's range is int64's: -9223372036854775808 fits, but is negative.
    match (negative, v) {
        (_, 0) => Ok(0),
        (true, v) if v <= 1 << 63 => Err(NumError::Negative),
        (false, v) if v < 1 << 63 => Ok(v),
        _ => Err(NumError::TooLarge),
    }
}

/// Splits off the last space-separated field; `None` when there is no space
/// or the field is empty.
#[inline]
fn rsplit_field(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = memchr::memrchr(b' ', s)?;
    let field = &s[sp + 1..];
    (!field.is_empty()).then_some((&s[..sp], field))
}

/// `startLine.startCol,endLine.endCol`. `None` when the text does not have
/// that shape (four numbers as Go reads them); an error when a number is
/// negative or too large.
#[inline]
fn parse_coords(s: &[u8]) -> Option<Result<Pos, String>> {
    let comma = memchr::memrchr(b',', s)?;
    let (a, b) = (&s[..comma], &s[comma + 1..]);
    let (sl, sc) = split_pair(a)?;
    let (el, ec) = split_pair(b)?;
    let mut v = [0u32; 4];
    for (i, (name, field)) in [
        ("startLine", sl),
        ("startCol", sc),
        ("endLine", el),
        ("endCol", ec),
    ]
    .into_iter()
    .enumerate()
    {
        v[i] = match go_int(field) {
            Ok(n) => match u32::try_from(n) {
                Ok(n) => n,
                Err(_) => return Some(Err(too_large(name, field))),
            },
            Err(NumError::NotANumber) => return None,
            Err(e) => return Some(Err(e.message(name, field))),
        };
    }
    Some(Ok(Pos {
        start_line: v[0],
        start_col: v[1],
        end_line: v[2],
        end_col: v[3],
    }))
}

#[inline]
fn split_pair(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let dot = memchr::memrchr(b'.', s)?;
    Some((&s[..dot], &s[dot + 1..]))
}

/// Records the `mode:` line of one input, which must agree with the input's
/// earlier ones (profiles concatenated in one stream).
pub fn one_mode(seen: &mut Option<Mode>, mode: Mode, input: &str, line: u64) -> anyhow::Result<()> {
    match *seen {
        Some(m) if m != mode => Err(ProfileError {
            input: input.to_string(),
            line,
            msg: format!(
                "mode {mode} differs from this input's earlier mode {m}: pass --mode to convert"
            ),
        }
        .into()),
        _ => {
            *seen = Some(mode);
            Ok(())
        }
    }
}

/// What [`validate`] learned of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub mode: Mode,
    pub blocks: u64,
    pub statements: u64,
}

/// Checks that `reader` holds a complete, well-formed profile (or several
/// concatenated ones of one mode).
pub fn validate<R: Read>(input: &str, reader: R) -> anyhow::Result<Summary> {
    validate_with(input, reader, &mut Vec::new())
}

/// [`validate`] with a read buffer kept by the caller (as [`parse_with`]).
pub fn validate_with<R: Read>(
    input: &str,
    reader: R,
    buf: &mut Vec<u8>,
) -> anyhow::Result<Summary> {
    struct Check {
        input: String,
        mode: Option<Mode>,
        blocks: u64,
        statements: u64,
    }
    impl Visitor for Check {
        fn mode(&mut self, mode: Mode, line: u64) -> anyhow::Result<()> {
            one_mode(&mut self.mode, mode, &self.input, line)
        }
        fn block(&mut self, _: &[u8], _: Pos, stmts: u32, _: u32, _: u64) -> anyhow::Result<()> {
            self.blocks += 1;
            self.statements += stmts as u64;
            Ok(())
        }
    }
    let mut check = Check {
        input: input.to_string(),
        mode: None,
        blocks: 0,
        statements: 0,
    };
    parse_with(input, reader, &mut check, buf)?;
    Ok(Summary {
        mode: check.mode.expect("parse guarantees a mode line"),
        blocks: check.blocks,
        statements: check.statements,
    })
}

/// One block of a merged profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub pos: Pos,
    pub stmts: u32,
    pub count: u32,
}

/// The blocks of one source file, sorted by position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileBlocks {
    /// The file name as the profile spells it (`module/pkg/file.go`): bytes,
    /// as Unix file names are; two names that differ only in bytes that are
    /// not UTF-8 are two files.
    pub path: Vec<u8>,
    pub blocks: Vec<Block>,
}
