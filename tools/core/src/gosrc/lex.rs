//! Go's lexical grammar, as go/scanner reads it: comments, interpreted, raw
//! and rune literals, numbers, automatic semicolons, and `//line` and
//! `/*line*/` directives, with go/token's line table to turn offsets into
//! positions.

use anyhow::bail;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Ident,
    Lit,
    Semi,
    Open(u8),
    Close(u8),
    Op,
    Eof,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Tok {
    pub(super) kind: Kind,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Tok {
    pub(super) fn text<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        &src[self.start..self.end]
    }
}

/// A line directive as go/token records it (`AddLineColumnInfo`): from byte
/// `offset` on, positions are relative to `line`/`col` (col 0: unknown).
#[derive(Clone, Copy, Debug)]
pub(super) struct LineInfo {
    pub(super) offset: usize,
    pub(super) line: u64,
    pub(super) col: u64,
}

pub(super) struct Lexer<'a> {
    pub(super) src: &'a [u8],
    pub(super) pos: usize,
    /// Start of the current line (go/scanner's `lineOffset`): `//line`
    /// directives must start there.
    pub(super) line_start: usize,
    /// The last token allows an automatic semicolon at the next newline.
    pub(super) insert_semi: bool,
    pub(super) infos: Vec<LineInfo>,
}

pub(super) const KEYWORDS: [&[u8]; 25] = [
    b"break",
    b"case",
    b"chan",
    b"const",
    b"continue",
    b"default",
    b"defer",
    b"else",
    b"fallthrough",
    b"for",
    b"func",
    b"go",
    b"goto",
    b"if",
    b"import",
    b"interface",
    b"map",
    b"package",
    b"range",
    b"return",
    b"select",
    b"struct",
    b"switch",
    b"type",
    b"var",
];

pub(super) fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a [u8]) -> Lexer<'a> {
        // go/scanner skips a byte order mark at the start of the file; the
        // offsets (and so the columns of line 1) still count its bytes.
        let pos = if src.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        Lexer {
            src,
            pos,
            line_start: 0,
            insert_semi: false,
            infos: Vec::new(),
        }
    }

    pub(super) fn peek(&self, ahead: usize) -> u8 {
        self.src.get(self.pos + ahead).copied().unwrap_or(0)
    }

    pub(super) fn err<T>(&self, offset: usize, msg: impl std::fmt::Display) -> anyhow::Result<T> {
        let (line, col) = physical(self.src, offset);
        bail!("line {line}:{col}: {msg}")
    }

    pub(super) fn tok(
        &mut self,
        kind: Kind,
        start: usize,
        insert_semi: bool,
    ) -> anyhow::Result<Tok> {
        self.insert_semi = insert_semi;
        Ok(Tok {
            kind,
            start,
            end: self.pos,
        })
    }

    /// An automatic semicolon: empty, at the newline or comment that ends
    /// the line.
    pub(super) fn auto_semi(&mut self, at: usize) -> anyhow::Result<Tok> {
        self.insert_semi = false;
        Ok(Tok {
            kind: Kind::Semi,
            start: at,
            end: at,
        })
    }

    /// The next token, with Go's automatic semicolons.
    pub(super) fn next(&mut self) -> anyhow::Result<Tok> {
        loop {
            let start = self.pos;
            let Some(&c) = self.src.get(self.pos) else {
                if self.insert_semi {
                    return self.auto_semi(start);
                }
                return Ok(Tok {
                    kind: Kind::Eof,
                    start,
                    end: start,
                });
            };
            match c {
                b'\n' => {
                    self.pos += 1;
                    self.line_start = self.pos;
                    if self.insert_semi {
                        return self.auto_semi(start);
                    }
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'/' if self.peek(1) == b'/' => {
                    // A line comment ends the line: it stands for the newline
                    // after it.
                    let end = memchr::memchr(b'\n', &self.src[start..])
                        .map_or(self.src.len(), |i| start + i);
                    self.pos = end;
                    if start == self.line_start {
                        let mut lit = &self.src[start..end];
                        // A CRLF line end: the '\r' is not part of the directive.
                        if let [rest @ .., b'\r'] = lit {
                            lit = rest;
                        }
                        let next = if end < self.src.len() { end + 1 } else { end };
                        self.directive(next, start, lit)?;
                    }
                    if self.insert_semi {
                        return self.auto_semi(start);
                    }
                }
                b'/' if self.peek(1) == b'*' => {
                    let Some(i) = memchr::memmem::find(&self.src[start + 2..], b"*/") else {
                        return self.err(start, "comment not terminated");
                    };
                    let end = start + 2 + i + 2;
                    self.pos = end;
                    let lit = &self.src[start..end];
                    self.directive(end, start, lit)?;
                    if let Some(nl) = memchr::memrchr(b'\n', lit) {
                        self.line_start = start + nl + 1;
                        if self.insert_semi {
                            // A comment spanning lines acts like a newline.
                            return self.auto_semi(start);
                        }
                    }
                }
                b'"' | b'\'' => {
                    self.pos += 1;
                    loop {
                        match self.src.get(self.pos) {
                            None | Some(b'\n') => {
                                let what = if c == b'"' { "string" } else { "rune" };
                                return self
                                    .err(start, format_args!("{what} literal not terminated"));
                            }
                            Some(b'\\') => self.pos += 2,
                            Some(&b) => {
                                self.pos += 1;
                                if b == c {
                                    break;
                                }
                            }
                        }
                    }
                    return self.tok(Kind::Lit, start, true);
                }
                b'`' => {
                    let Some(i) = memchr::memchr(b'`', &self.src[start + 1..]) else {
                        return self.err(start, "raw string literal not terminated");
                    };
                    self.pos = start + 1 + i + 1;
                    if let Some(nl) = memchr::memrchr(b'\n', &self.src[start..self.pos]) {
                        self.line_start = start + nl + 1;
                    }
                    return self.tok(Kind::Lit, start, true);
                }
                b'0'..=b'9' => {
                    self.number();
                    return self.tok(Kind::Lit, start, true);
                }
                b'.' if self.peek(1).is_ascii_digit() => {
                    self.number();
                    return self.tok(Kind::Lit, start, true);
                }
                b'.' if self.peek(1) == b'.' && self.peek(2) == b'.' => {
                    self.pos += 3;
                    return self.tok(Kind::Op, start, false);
                }
                b'(' | b'[' | b'{' => {
                    self.pos += 1;
                    return self.tok(Kind::Open(c), start, false);
                }
                b')' | b']' | b'}' => {
                    self.pos += 1;
                    return self.tok(Kind::Close(c), start, true);
                }
                b';' => {
                    self.pos += 1;
                    return self.tok(Kind::Semi, start, false);
                }
                b'+' | b'-' if self.peek(1) == c => {
                    self.pos += 2;
                    return self.tok(Kind::Op, start, true);
                }
                b'<' if self.peek(1) == b'-' => {
                    self.pos += 2;
                    return self.tok(Kind::Op, start, false);
                }
                b'<' if self.peek(1) == b'<' => {
                    // `<<`, so that `<<-x` is not read as `<` `<-`.
                    self.pos += 2;
                    return self.tok(Kind::Op, start, false);
                }
                _ if is_ident_byte(c) => {
                    while self.pos < self.src.len() && is_ident_byte(self.src[self.pos]) {
                        self.pos += 1;
                    }
                    let word = &self.src[start..self.pos];
                    let semi = !KEYWORDS.contains(&word)
                        || matches!(word, b"break" | b"continue" | b"fallthrough" | b"return");
                    return self.tok(Kind::Ident, start, semi);
                }
                _ => {
                    // Any other operator or punctuation; none of them allows
                    // an automatic semicolon, so how they split does not matter.
                    self.pos += 1;
                    return self.tok(Kind::Op, start, false);
                }
            }
        }
    }

    /// Skips a number literal: digits, letters, `_`, `.`, and a sign right
    /// after an exponent (`e`/`E` in decimal, `p`/`P` in hexadecimal).
    pub(super) fn number(&mut self) {
        let hex = self.src[self.pos] == b'0' && matches!(self.peek(1), b'x' | b'X');
        while let Some(&b) = self.src.get(self.pos) {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                self.pos += 1;
                let exp = if hex {
                    matches!(b, b'p' | b'P')
                } else {
                    matches!(b, b'e' | b'E')
                };
                if exp && matches!(self.peek(0), b'+' | b'-') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// go/scanner's `updateLineInfo`: `lit` is a whole comment (a `//`
    /// comment without its line end) starting at `offs`; `next` is where the
    /// directive takes effect.
    pub(super) fn directive(&mut self, next: usize, offs: usize, lit: &[u8]) -> anyhow::Result<()> {
        if !lit[2..].starts_with(b"line ") {
            return Ok(());
        }
        let mut text = lit;
        if text[1] == b'*' {
            text = &text[..text.len() - 2];
        }
        let text = &text[7..];
        let offs = offs + 7;
        let Some((i, n)) = trailing_digits(text) else {
            return Ok(());
        };
        let Some(n) = n else {
            return self.err(
                offs + i,
                format_args!(
                    "invalid line number: {}",
                    String::from_utf8_lossy(&text[i..])
                ),
            );
        };
        const MAX_LINE_COL: u64 = 1 << 30;
        let (line, col, line_digits);
        match trailing_digits(&text[..i - 1]) {
            Some((i2, Some(n2))) => {
                // filename:line:col
                (line, col, line_digits) = (n2, n, (i2, i - 1));
                if col == 0 || col > MAX_LINE_COL {
                    return self.err(
                        offs + i,
                        format_args!(
                            "invalid column number: {}",
                            String::from_utf8_lossy(&text[i..])
                        ),
                    );
                }
            }
            _ => (line, col, line_digits) = (n, 0, (i, text.len())),
        }
        if line == 0 || line > MAX_LINE_COL {
            let (a, b) = line_digits;
            return self.err(
                offs + a,
                format_args!(
                    "invalid line number: {}",
                    String::from_utf8_lossy(&text[a..b])
                ),
            );
        }
        // go/token's AddLineColumnInfo keeps only increasing offsets inside
        // the file.
        if !matches!(self.infos.last(), Some(l) if l.offset >= next) && next < self.src.len() {
            self.infos.push(LineInfo {
                offset: next,
                line,
                col,
            });
        }
        Ok(())
    }
}

/// go/scanner's `trailingDigits`: the index after the last `:` (None when
/// there is no `:`) and the decimal number after it (None when it is not one).
pub(super) fn trailing_digits(text: &[u8]) -> Option<(usize, Option<u64>)> {
    let i = memchr::memrchr(b':', text)? + 1;
    let digits = &text[i..];
    let n = if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        None
    } else {
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
    };
    Some((i, n))
}

/// The physical 1-based line and byte column of an offset (for messages).
pub(super) fn physical(src: &[u8], offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let col = offset - memchr::memrchr(b'\n', before).map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// go/token's line table and `Position` (adjusted for line directives).
pub(super) struct LineTable {
    /// Offsets of line starts; like `File.AddLine`, a newline at the very end
    /// of the file starts no line.
    pub(super) lines: Vec<usize>,
    pub(super) infos: Vec<LineInfo>,
}

impl LineTable {
    pub(super) fn new(src: &[u8], infos: Vec<LineInfo>) -> LineTable {
        let mut lines = vec![0];
        lines.extend(
            memchr::memchr_iter(b'\n', src)
                .map(|i| i + 1)
                .filter(|&o| o < src.len()),
        );
        LineTable { lines, infos }
    }

    /// Index of the line holding `offset`.
    pub(super) fn line_index(&self, offset: usize) -> usize {
        self.lines.partition_point(|&l| l <= offset) - 1
    }

    pub(super) fn position(&self, offset: usize) -> (u32, u32) {
        let i = self.line_index(offset);
        let (mut line, mut col) = ((i + 1) as u64, (offset - self.lines[i] + 1) as u64);
        let k = self.infos.partition_point(|info| info.offset <= offset);
        if k > 0 {
            let alt = self.infos[k - 1];
            let d = line - (self.line_index(alt.offset) as u64 + 1);
            line = alt.line + d;
            if alt.col == 0 {
                col = 0;
            } else if d == 0 {
                col = alt.col + (offset - alt.offset) as u64;
            }
        }
        // Go's int would not wrap here either: lines and columns of
        // directives are at most 2^30, files much smaller than 4 GiB.
        (
            line.min(u32::MAX as u64) as u32,
            col.min(u32::MAX as u64) as u32,
        )
    }
}
