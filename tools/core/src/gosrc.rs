//! Reading Go source the way `go tool cover -func` does, for `covtotal --src`.
//!
//! `go tool cover -func` (cmd/cover/func.go) parses every source file of a
//! profile with go/parser, takes the extent of each function declaration
//! with a body, from its `func` keyword (`FuncDecl.Pos`) to just after the
//! closing brace (`FuncDecl.End`), and counts a profile block in a function
//! when the block overlaps that extent: its `coverage()` walks the blocks
//! sorted by start, stops (`break`) at the first block starting at or after
//! the function's end and skips (`continue`) blocks ending at or before the
//! function's start. Blocks outside every function declaration (function
//! literals in package-level `var` initialisers, for example) count nowhere,
//! and a block that overlaps two extents counts in both. Declarations without
//! a body (assembly functions) are not listed. The total is the sum of the
//! per-function covered statements over the sum of their statements, printed
//! with `%.1f` (0 when there are no statements).
//!
//! Positions are 1-based lines and byte columns. Like go/token's
//! `fset.Position`, which cover -func uses, the extents honour `//line` and
//! `/*line*/` directives, while the profile's blocks are physical positions
//! (cmd/cover records them with `PositionFor(pos, false)`): in a file with
//! line directives Go compares the two anyway, and so do we, to print the
//! same numbers. A malformed line directive is a parse error, as it is for Go.
//!
//! The scanner here is Go's lexical grammar (comments, interpreted, raw and
//! rune literals, numbers, automatic semicolons) plus just enough syntax to
//! find top-level `func` declarations: receiver, name, type parameters,
//! parameters, a result type (struct, interface and func types included) and
//! a balanced body. It does not check the rest of the grammar: a file that
//! Go's parser rejects may still get extents here instead of an error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::profile::FileBlocks;

/// The extent of one function declaration with a body, as go/ast reports it:
/// from the `func` keyword to just after the closing brace. Lines and columns
/// are 1-based; columns count bytes. `//line` directives apply, as in
/// `fset.Position` (a directive without a column gives column 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncExtent {
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

/// One function declaration with a body, in source order. `name` is the bare
/// identifier, as `go tool cover -func` prints it (`String`, not
/// `Builder.String`); `receiver` is the receiver's base type name for methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Func {
    pub name: String,
    pub receiver: Option<String>,
    pub extent: FuncExtent,
}

/// The function declarations (with bodies) of one Go source file, in source
/// order. Errors name the line and column (physical) and what was expected.
pub fn func_decls(src: &[u8]) -> anyhow::Result<Vec<Func>> {
    let mut p = Parser {
        lx: Lexer::new(src),
        funcs: Vec::new(),
    };
    loop {
        let t = p.lx.next()?;
        match t.kind {
            Kind::Eof => break,
            Kind::Semi => continue,
            Kind::Ident if t.text(src) == b"func" => p.func_decl(t)?,
            _ => p.skip_decl(t)?,
        }
    }
    let lines = LineTable::new(src, p.lx.infos);
    Ok(p.funcs
        .into_iter()
        .map(|d| {
            let (start_line, start_col) = lines.position(d.start);
            let (end_line, end_col) = lines.position(d.end);
            Func {
                name: d.name,
                receiver: d.receiver,
                extent: FuncExtent {
                    start_line,
                    start_col,
                    end_line,
                    end_col,
                },
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Lexer

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ident,
    Lit,
    Semi,
    Open(u8),
    Close(u8),
    Op,
    Eof,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

impl Tok {
    fn text<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        &src[self.start..self.end]
    }
}

/// A line directive as go/token records it (`AddLineColumnInfo`): from byte
/// `offset` on, positions are relative to `line`/`col` (col 0: unknown).
#[derive(Clone, Copy, Debug)]
struct LineInfo {
    offset: usize,
    line: u64,
    col: u64,
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    /// Start of the current line (go/scanner's `lineOffset`): `//line`
    /// directives must start there.
    line_start: usize,
    /// The last token allows an automatic semicolon at the next newline.
    insert_semi: bool,
    infos: Vec<LineInfo>,
}

const KEYWORDS: [&[u8]; 25] = [
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

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl<'a> Lexer<'a> {
    fn new(src: &'a [u8]) -> Lexer<'a> {
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

    fn peek(&self, ahead: usize) -> u8 {
        self.src.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn err<T>(&self, offset: usize, msg: impl std::fmt::Display) -> anyhow::Result<T> {
        let (line, col) = physical(self.src, offset);
        bail!("line {line}:{col}: {msg}")
    }

    fn tok(&mut self, kind: Kind, start: usize, insert_semi: bool) -> anyhow::Result<Tok> {
        self.insert_semi = insert_semi;
        Ok(Tok {
            kind,
            start,
            end: self.pos,
        })
    }

    /// An automatic semicolon: empty, at the newline or comment that ends
    /// the line.
    fn auto_semi(&mut self, at: usize) -> anyhow::Result<Tok> {
        self.insert_semi = false;
        Ok(Tok {
            kind: Kind::Semi,
            start: at,
            end: at,
        })
    }

    /// The next token, with Go's automatic semicolons.
    fn next(&mut self) -> anyhow::Result<Tok> {
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
    fn number(&mut self) {
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
    fn directive(&mut self, next: usize, offs: usize, lit: &[u8]) -> anyhow::Result<()> {
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
fn trailing_digits(text: &[u8]) -> Option<(usize, Option<u64>)> {
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
fn physical(src: &[u8], offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let col = offset - memchr::memrchr(b'\n', before).map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// go/token's line table and `Position` (adjusted for line directives).
struct LineTable {
    /// Offsets of line starts; like `File.AddLine`, a newline at the very end
    /// of the file starts no line.
    lines: Vec<usize>,
    infos: Vec<LineInfo>,
}

impl LineTable {
    fn new(src: &[u8], infos: Vec<LineInfo>) -> LineTable {
        let mut lines = vec![0];
        lines.extend(
            memchr::memchr_iter(b'\n', src)
                .map(|i| i + 1)
                .filter(|&o| o < src.len()),
        );
        LineTable { lines, infos }
    }

    /// Index of the line holding `offset`.
    fn line_index(&self, offset: usize) -> usize {
        self.lines.partition_point(|&l| l <= offset) - 1
    }

    fn position(&self, offset: usize) -> (u32, u32) {
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

// ---------------------------------------------------------------------------
// Declarations

struct Decl {
    name: String,
    receiver: Option<String>,
    start: usize,
    end: usize,
}

struct Parser<'a> {
    lx: Lexer<'a>,
    funcs: Vec<Decl>,
}

impl Parser<'_> {
    fn expected<T>(&self, t: Tok, what: &str) -> anyhow::Result<T> {
        let found = match t.kind {
            Kind::Eof => "end of file".to_string(),
            Kind::Semi if t.end == t.start => "newline".to_string(),
            _ => format!("{:?}", String::from_utf8_lossy(t.text(self.lx.src))),
        };
        self.lx
            .err(t.start, format_args!("expected {what}, found {found}"))
    }

    fn is(&self, t: Tok, word: &[u8]) -> bool {
        t.text(self.lx.src) == word
    }

    /// Skips a declaration other than a function: to the semicolon that ends
    /// it, across balanced brackets.
    fn skip_decl(&mut self, mut t: Tok) -> anyhow::Result<()> {
        loop {
            match t.kind {
                Kind::Semi | Kind::Eof => return Ok(()),
                Kind::Open(_) => {
                    self.skip_balanced(t)?;
                }
                Kind::Close(_) => return self.expected(t, "a declaration"),
                _ => {}
            }
            t = self.lx.next()?;
        }
    }

    /// Skips from an opening bracket to its match; returns the offset just
    /// after the closing one.
    fn skip_balanced(&mut self, open: Tok) -> anyhow::Result<usize> {
        let mut stack = vec![open];
        loop {
            let t = self.lx.next()?;
            match t.kind {
                Kind::Open(_) => stack.push(t),
                Kind::Close(c) => {
                    let o = stack.pop().expect("stack is never empty here");
                    let want = match o.kind {
                        Kind::Open(b'(') => b')',
                        Kind::Open(b'[') => b']',
                        _ => b'}',
                    };
                    if c != want {
                        let (l, col) = physical(self.lx.src, o.start);
                        return self.expected(
                            t,
                            &format!(
                                "'{}' to close '{}' of line {l}:{col}",
                                want as char, self.lx.src[o.start] as char
                            ),
                        );
                    }
                    if stack.is_empty() {
                        return Ok(t.end);
                    }
                }
                Kind::Eof => {
                    let o = stack.last().unwrap();
                    let (l, col) = physical(self.lx.src, o.start);
                    return self.lx.err(
                        o.start,
                        format_args!(
                            "'{}' opened at line {l}:{col} is never closed",
                            self.lx.src[o.start] as char
                        ),
                    );
                }
                _ => {}
            }
        }
    }

    fn expect_open(&mut self, t: Tok, open: u8) -> anyhow::Result<usize> {
        if t.kind != Kind::Open(open) {
            return self.expected(t, &format!("'{}'", open as char));
        }
        self.skip_balanced(t)
    }

    /// `func [receiver] name [type params] (params) [result] [body]`.
    fn func_decl(&mut self, func: Tok) -> anyhow::Result<()> {
        let mut t = self.lx.next()?;
        let mut receiver = None;
        if t.kind == Kind::Open(b'(') {
            let recv_start = t.end;
            let recv_end = self.skip_balanced(t)? - 1;
            receiver = receiver_type(&self.lx.src[recv_start..recv_end]);
            t = self.lx.next()?;
        }
        if t.kind != Kind::Ident {
            return self.expected(t, "a function name");
        }
        let name = String::from_utf8_lossy(t.text(self.lx.src)).into_owned();
        t = self.lx.next()?;
        if t.kind == Kind::Open(b'[') {
            self.skip_balanced(t)?;
            t = self.lx.next()?;
        }
        self.expect_open(t, b'(')?;
        t = self.lx.next()?;
        if self.starts_type(t) {
            t = self.skip_type(t)?;
        }
        match t.kind {
            Kind::Open(b'{') => {
                let end = self.skip_balanced(t)?;
                self.funcs.push(Decl {
                    name,
                    receiver,
                    start: func.start,
                    end,
                });
                Ok(())
            }
            // No body: an assembly function, which cover -func leaves out.
            Kind::Semi | Kind::Eof => Ok(()),
            _ => self.expected(t, "a function body '{' or a newline"),
        }
    }

    fn starts_type(&self, t: Tok) -> bool {
        match t.kind {
            Kind::Open(b'(') | Kind::Open(b'[') => true,
            Kind::Op => matches!(t.text(self.lx.src), b"*" | b"<-"),
            Kind::Ident => {
                let w = t.text(self.lx.src);
                !KEYWORDS.contains(&w)
                    || matches!(w, b"func" | b"map" | b"chan" | b"struct" | b"interface")
            }
            _ => false,
        }
    }

    /// Skips a type starting at `t`; returns the token after it.
    fn skip_type(&mut self, t: Tok) -> anyhow::Result<Tok> {
        let src = self.lx.src;
        match t.kind {
            Kind::Open(b'(') => {
                self.skip_balanced(t)?;
                self.lx.next()
            }
            Kind::Open(b'[') => {
                self.skip_balanced(t)?;
                let n = self.lx.next()?;
                self.skip_type(n)
            }
            Kind::Op if self.is(t, b"*") => {
                let n = self.lx.next()?;
                self.skip_type(n)
            }
            Kind::Op if self.is(t, b"<-") => {
                let n = self.lx.next()?;
                if !self.is(n, b"chan") {
                    return self.expected(n, "'chan'");
                }
                let n = self.lx.next()?;
                self.skip_type(n)
            }
            Kind::Ident => match t.text(src) {
                b"map" => {
                    let n = self.lx.next()?;
                    self.expect_open(n, b'[')?;
                    let n = self.lx.next()?;
                    self.skip_type(n)
                }
                b"chan" => {
                    let mut n = self.lx.next()?;
                    if self.is(n, b"<-") {
                        n = self.lx.next()?;
                    }
                    self.skip_type(n)
                }
                b"func" => {
                    let n = self.lx.next()?;
                    self.expect_open(n, b'(')?;
                    let n = self.lx.next()?;
                    if self.starts_type(n) {
                        self.skip_type(n)
                    } else {
                        Ok(n)
                    }
                }
                b"struct" | b"interface" => {
                    let n = self.lx.next()?;
                    self.expect_open(n, b'{')?;
                    self.lx.next()
                }
                w if !KEYWORDS.contains(&w) => {
                    let mut n = self.lx.next()?;
                    if self.is(n, b".") {
                        let name = self.lx.next()?;
                        if name.kind != Kind::Ident {
                            return self.expected(name, "a type name after '.'");
                        }
                        n = self.lx.next()?;
                    }
                    if n.kind == Kind::Open(b'[') {
                        // Type arguments.
                        self.skip_balanced(n)?;
                        n = self.lx.next()?;
                    }
                    Ok(n)
                }
                _ => self.expected(t, "a type"),
            },
            _ => self.expected(t, "a type"),
        }
    }
}

/// The base type name of a receiver's source text (`s *Stack[T]` → `Stack`).
fn receiver_type(text: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(text);
    // Drop comments crudely: receivers rarely hold them, and this only names.
    let text = text.split("/*").next().unwrap_or("");
    let ty = text.split('[').next().unwrap_or("");
    let ty = ty.trim().trim_start_matches('(').trim_end_matches(')');
    let last = ty
        .rsplit([' ', '\t', '\n', '\r', '*', '('])
        .find(|w| !w.is_empty())?;
    Some(last.to_string())
}

// ---------------------------------------------------------------------------
// Source roots

/// Maps profile file names (`module/path/file.go`, `std/pkg/file.go`, or
/// absolute paths) to files under a source root.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    pub dir: PathBuf,
    /// The module path from `dir/go.mod` (`std` for GOROOT/src); `None` for
    /// a GOPATH-style root.
    pub module: Option<String>,
}

impl SourceRoot {
    /// `dir` is a module root (has go.mod, whose `module` line is read) or a
    /// GOPATH-style root such as `$(go env GOROOT)/src`, where a profile's
    /// `pkg/path/file.go` is `dir/pkg/path/file.go`.
    pub fn open(dir: &Path) -> anyhow::Result<SourceRoot> {
        if !dir.is_dir() {
            bail!("--src {}: not a directory", dir.display());
        }
        let gomod = dir.join("go.mod");
        let module = match std::fs::read(&gomod) {
            Ok(text) => Some(module_path(&text).with_context(|| format!("{}", gomod.display()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read", gomod.display())),
        };
        Ok(SourceRoot {
            dir: dir.to_path_buf(),
            module,
        })
    }

    /// The file on disk for a profile's file name: absolute paths as they
    /// are; relative ones (`./x.go`, which `go test -cover ./x` never writes
    /// but a hand-made profile may) under the root; in a module root,
    /// `module/rest` is `dir/rest`; in a GOPATH-style root, `path` is
    /// `dir/path`. GOROOT/src is GOPATH-style although its go.mod says
    /// `module std`: standard-library import paths carry no module prefix.
    /// A missing file is an error naming the profile's file name and where
    /// it was looked for.
    pub fn resolve(&self, profile_path: &str) -> anyhow::Result<PathBuf> {
        let p = Path::new(profile_path);
        let candidate = if p.is_absolute() {
            p.to_path_buf()
        } else if profile_path.starts_with("./") || profile_path.starts_with("../") {
            self.dir.join(p)
        } else if let Some(module) = self.module.as_ref().filter(|m| *m != "std") {
            let rest = if profile_path == module {
                None
            } else {
                profile_path
                    .strip_prefix(module.as_str())
                    .and_then(|r| r.strip_prefix('/'))
            };
            match rest {
                Some(rest) => self.dir.join(rest),
                None => bail!(
                    "{profile_path}: not in module {module} (the --src root {} holds only that module's files)",
                    self.dir.display()
                ),
            }
        } else {
            self.dir.join(p)
        };
        if !candidate.is_file() {
            let root = match &self.module {
                Some(m) => format!("module {m} at {}", self.dir.display()),
                None => format!("GOPATH-style root {}", self.dir.display()),
            };
            bail!(
                "{profile_path}: source file not found: looked for {} ({root})",
                candidate.display()
            );
        }
        Ok(candidate)
    }
}

/// The module path of a go.mod file: its `module` directive (quoted or not,
/// comments allowed).
fn module_path(gomod: &[u8]) -> anyhow::Result<String> {
    let text = String::from_utf8_lossy(gomod);
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("module") else {
            continue;
        };
        if !rest.starts_with([' ', '\t', '"', '`']) {
            continue;
        }
        let path = rest.trim().trim_matches(|c| c == '"' || c == '`');
        if path.is_empty() {
            bail!("empty module path in the module directive");
        }
        return Ok(path.to_string());
    }
    bail!("no module directive found")
}

// ---------------------------------------------------------------------------
// Coverage per function

/// One line of `go tool cover -func`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncCoverage {
    /// The profile's file name.
    pub file: String,
    /// The line of the `func` keyword (line directives applied).
    pub line: u32,
    /// The function's name as cover -func prints it (no receiver).
    pub name: String,
    /// Statements in blocks with count > 0 that overlap the function.
    pub covered: u64,
    /// Statements in blocks that overlap the function.
    pub statements: u64,
}

impl FuncCoverage {
    pub fn percent(&self) -> f64 {
        percent(self.covered, self.statements)
    }
}

/// cmd/cover's `percent`: a zero denominator counts as 1.
pub fn percent(covered: u64, total: u64) -> f64 {
    100.0 * covered as f64 / total.max(1) as f64
}

/// The per-function figures of `go tool cover -func` for merged blocks:
/// identical blocks must already be one, as [`crate::merge`] gives them
/// (x/tools' `ParseProfiles` merges them too, but after an unstable sort on
/// the start alone, so it can miss a duplicate that sits behind a block with
/// the same start and another end; a profile written by covmerge has none).
/// The order of blocks does not matter. Files come sorted by name, functions
/// in source order, as cover -func prints them. Files are read and scanned
/// on up to `available_parallelism` threads.
pub fn func_coverage(root: &SourceRoot, files: &[FileBlocks]) -> anyhow::Result<Vec<FuncCoverage>> {
    let mut order: Vec<&FileBlocks> = files.iter().collect();
    order.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));

    let one = |fb: &FileBlocks| -> anyhow::Result<Vec<FuncCoverage>> {
        let disk = root.resolve(&fb.path)?;
        let src = std::fs::read(&disk)
            .with_context(|| format!("{}: cannot read {}", fb.path, disk.display()))?;
        let funcs = func_decls(&src).with_context(|| format!("{}", disk.display()))?;
        Ok(file_coverage(&fb.path, &funcs, fb))
    };

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(order.len())
        .max(1);
    let results: Vec<anyhow::Result<Vec<FuncCoverage>>> = if threads == 1 {
        order.iter().map(|fb| one(fb)).collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<anyhow::Result<Vec<FuncCoverage>>>>> =
            order.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= order.len() {
                        break;
                    }
                    *slots[i].lock().unwrap() = Some(one(order[i]));
                });
            }
        });
        slots
            .into_iter()
            .map(|m| m.into_inner().unwrap().expect("every slot is filled"))
            .collect()
    };
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// cmd/cover's `FuncExtent.coverage` for each function of one file: the
/// blocks it counts are exactly those with start < function end and end >
/// function start (its `break` stops at the first block starting at or
/// after the end, and the blocks are sorted by start).
fn file_coverage(path: &str, funcs: &[Func], fb: &FileBlocks) -> Vec<FuncCoverage> {
    let mut blocks: Vec<&crate::profile::Block> = fb.blocks.iter().collect();
    blocks.sort_by_key(|b| (b.pos.start_line, b.pos.start_col));
    // max_end[i]: the largest block end among blocks[..=i], so that the
    // blocks ending at or before a function's start form a prefix to skip.
    let mut max_end = Vec::with_capacity(blocks.len());
    let mut m = (0, 0);
    for b in &blocks {
        m = m.max((b.pos.end_line, b.pos.end_col));
        max_end.push(m);
    }
    funcs
        .iter()
        .map(|f| {
            let e = &f.extent;
            let (fstart, fend) = ((e.start_line, e.start_col), (e.end_line, e.end_col));
            let stop = blocks.partition_point(|b| (b.pos.start_line, b.pos.start_col) < fend);
            let from = max_end[..stop].partition_point(|&end| end <= fstart);
            let (mut covered, mut statements) = (0u64, 0u64);
            for b in &blocks[from..stop] {
                if (b.pos.end_line, b.pos.end_col) <= fstart {
                    continue;
                }
                statements += b.stmts as u64;
                if b.count > 0 {
                    covered += b.stmts as u64;
                }
            }
            FuncCoverage {
                file: path.to_string(),
                line: e.start_line,
                name: f.name.clone(),
                covered,
                statements,
            }
        })
        .collect()
}

/// The covered and total statements of `go tool cover -func`'s `total:`
/// line: sums over the functions.
pub fn func_total(funcs: &[FuncCoverage]) -> (u64, u64) {
    funcs
        .iter()
        .fold((0, 0), |(c, t), f| (c + f.covered, t + f.statements))
}

/// The exact text `go tool cover -func` prints: `file:line:`, name and
/// percent per function, then the total, aligned as its text/tabwriter
/// (minwidth 1, tabwidth 8, padding 1, tab padding) aligns them.
pub fn render_cover_func(funcs: &[FuncCoverage]) -> String {
    let (covered, total) = func_total(funcs);
    let mut rows: Vec<[String; 3]> = funcs
        .iter()
        .map(|f| {
            [
                format!("{}:{}:", f.file, f.line),
                f.name.clone(),
                format!("{:.1}%", f.percent()),
            ]
        })
        .collect();
    rows.push([
        "total:".into(),
        "(statements)".into(),
        format!("{:.1}%", percent(covered, total)),
    ]);
    // Every line has two tab-terminated cells, so all lines form one column
    // block per column; a cell's width is its rune count.
    let width = |col: usize| {
        rows.iter()
            .map(|r| r[col].chars().count() + 1)
            .max()
            .unwrap_or(1)
            .max(1)
    };
    let widths = [width(0), width(1)];
    let mut out = String::new();
    for r in &rows {
        for (col, &w) in widths.iter().enumerate() {
            let textw = r[col].chars().count();
            let cellw = w.div_ceil(8) * 8;
            out.push_str(&r[col]);
            for _ in 0..(cellw - textw).div_ceil(8) {
                out.push('\t');
            }
        }
        let _ = writeln!(out, "{}", r[2]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(src: &str) -> Vec<(String, (u32, u32, u32, u32))> {
        func_decls(src.as_bytes())
            .unwrap()
            .into_iter()
            .map(|f| {
                (
                    f.name,
                    (
                        f.extent.start_line,
                        f.extent.start_col,
                        f.extent.end_line,
                        f.extent.end_col,
                    ),
                )
            })
            .collect()
    }

    fn names(src: &str) -> Vec<String> {
        ext(src).into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn simple_function_extent() {
        let src = "package p\n\nfunc f() {\n\treturn\n}\n";
        assert_eq!(ext(src), vec![("f".to_string(), (3, 1, 5, 2))]);
    }

    #[test]
    fn methods_generics_and_receivers() {
        let src = "package p\n\
            type S[T any] struct{ x T }\n\
            func (s *S[T]) Get() T { return s.x }\n\
            func (S[T]) Set(x T) {}\n\
            func F[T interface{ ~int | ~string }, U any](t T, u U) (T, U) { return t, u }\n\
            func (s S[_]) Len() int { return 0 }\n";
        assert_eq!(names(src), ["Get", "Set", "F", "Len"]);
        let fs = func_decls(src.as_bytes()).unwrap();
        assert_eq!(fs[0].receiver.as_deref(), Some("S"));
        assert_eq!(fs[1].receiver.as_deref(), Some("S"));
        assert_eq!(fs[2].receiver, None);
        assert_eq!(
            fs[0].extent,
            FuncExtent {
                start_line: 3,
                start_col: 1,
                end_line: 3,
                end_col: 38
            }
        );
    }

    #[test]
    fn result_types_that_hold_braces() {
        let src = "package p\n\
            func a() struct{ a int } { return struct{ a int }{} }\n\
            func b() func() { return nil }\n\
            func c() func() int { return nil }\n\
            func d() interface{ M() } { return nil }\n\
            func e() map[string]struct{} { return nil }\n\
            func f() []struct{ x, y int } { return nil }\n\
            func g() (x struct{}, err error) { return }\n\
            func h() <-chan struct{} { return nil }\n\
            func i() chan<- int { return nil }\n\
            func j() *pkg.T[int, map[string]int] { return nil }\n\
            func k() func() (int, error) { return nil }\n\
            func l() func() struct{} { return nil }\n\
            func m() [2]func() { return [2]func(){} }\n";
        let got = ext(src);
        let want: Vec<&str> = "a b c d e f g h i j k l m".split(' ').collect();
        assert_eq!(
            got.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            want
        );
        for (i, (_, e)) in got.iter().enumerate() {
            let line = src.lines().nth(e.0 as usize - 1).unwrap();
            assert_eq!(e.0 as usize, i + 2);
            assert_eq!((e.1, e.2, e.3 as usize), (1, e.0, line.len() + 1), "{line}");
        }
    }

    #[test]
    fn package_level_function_literals_are_not_declarations() {
        let src = "package p\n\
            var f = func() int {\n\treturn 1\n}\n\
            var (\n\tg = func() {}\n\th func()\n)\n\
            type F func() int\n\
            var x = func() func() { return func() {} }()\n\
            func real() { _ = func() {} }\n";
        assert_eq!(names(src), ["real"]);
    }

    #[test]
    fn bodiless_declarations_are_left_out() {
        let src = "package p\n\
            func asm(x int) int\n\
            func asm2() (int, error)\n\
            func noResult()\n\
            //go:noescape\n\
            func last(p *byte) struct{}\n\
            func after() {}\n\
            func eof()";
        assert_eq!(names(src), ["after"]);
    }

    #[test]
    fn comments_and_literals_hide_braces_and_func() {
        let src = "package p\n\
            // func commented() {\n\
            /* func block() { */\n\
            var s = \"func str() { \\\" }\"\n\
            var r = '}'\n\
            var q = '\\''\n\
            var raw = `\nfunc raw() {\n}\n`\n\
            func ok() { _ = \"}\"; _ = '{'; _ = `}`; /* } */ }\n\
            // }\n\
            func ok2() {\n\t// }\n}\n";
        assert_eq!(names(src), ["ok", "ok2"]);
        assert_eq!(ext(src)[1].1, (13, 1, 15, 2));
    }

    #[test]
    fn semicolons_after_multi_line_comments_and_numbers() {
        // A block comment spanning lines ends a declaration; a number with
        // an exponent sign is one literal.
        let src = "package p\n\
            var a = 1 /*\n*/ func f() {}\n\
            var b = 1e+3\n\
            var c = 0x1p-2\n\
            var d = 0x1e+\n\t2\n\
            var e = x++\n\
            func g() {}\n";
        assert_eq!(names(src), ["f", "g"]);
    }

    #[test]
    fn bom_and_crlf() {
        let src = "\u{FEFF}package p\r\n\r\nfunc f() {\r\n\treturn\r\n}\r\nfunc g() { }";
        assert_eq!(
            ext(src),
            vec![("f".into(), (3, 1, 5, 2)), ("g".into(), (6, 1, 6, 13))]
        );
        // Columns of line 1 count the BOM's three bytes, as go/token does.
        let src = "\u{FEFF}package p; func f() {}";
        assert_eq!(ext(src), vec![("f".into(), (1, 15, 1, 26))]);
    }

    #[test]
    fn line_directives_move_positions() {
        // Directive without column: later lines count from it, column 0.
        let src = "package p\n//line foo.go:100\nfunc f() {\n}\n";
        assert_eq!(ext(src), vec![("f".into(), (100, 0, 101, 0))]);
        // With column: columns on the directive's own line are relative.
        let src = "package p\n//line foo.go:10:5\nfunc f() {\n}\n";
        assert_eq!(ext(src), vec![("f".into(), (10, 5, 11, 2))]);
        // A block directive applies right after its `*/`.
        let src = "package p\n/*line :20:3*/func f() {}\nfunc g() {}\n";
        assert_eq!(
            ext(src),
            vec![("f".into(), (20, 3, 20, 14)), ("g".into(), (21, 1, 21, 12))]
        );
        // `//line` not at the start of a line is a plain comment.
        let src = "package p\n //line foo.go:100\nfunc f() {}\n";
        assert_eq!(ext(src), vec![("f".into(), (3, 1, 3, 12))]);
        // No `:line`: not a directive.
        let src = "package p\n//line foo.go\nfunc f() {}\n";
        assert_eq!(ext(src), vec![("f".into(), (3, 1, 3, 12))]);
        // CRLF: the '\r' is not part of the number.
        let src = "package p\r\n//line foo.go:7\r\nfunc f() {}\r\n";
        assert_eq!(ext(src), vec![("f".into(), (7, 0, 7, 0))]);
        // Bad numbers are errors, as go/parser reports them.
        for bad in [
            "//line foo.go:x\n",
            "//line foo.go:0\n",
            "//line foo.go:1:0\n",
            "//line :\n",
        ] {
            let src = format!("package p\n{bad}func f() {{}}\n");
            let err = func_decls(src.as_bytes()).unwrap_err().to_string();
            assert!(
                err.starts_with("line 2:") && err.contains("invalid"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn errors_name_the_place() {
        let cases = [
            (
                "package p\nfunc f() {\n",
                "line 2:10: '{' opened at line 2:10 is never closed",
            ),
            (
                "package p\nvar s = \"abc\nfunc f() {}\n",
                "line 2:9: string literal not terminated",
            ),
            ("package p\n/* open\n", "line 2:1: comment not terminated"),
            (
                "package p\nvar s = `abc\n",
                "line 2:9: raw string literal not terminated",
            ),
            (
                "package p\nfunc f() { ) }\n",
                "line 2:12: expected '}' to close '{' of line 2:10, found \")\"",
            ),
            (
                "package p\nfunc 1() {}\n",
                "line 2:6: expected a function name, found \"1\"",
            ),
            (
                "package p\nfunc f() int int {}\n",
                "line 2:14: expected a function body '{' or a newline, found \"int\"",
            ),
        ];
        for (src, want) in cases {
            let err = func_decls(src.as_bytes()).unwrap_err().to_string();
            assert_eq!(err, want, "{src:?}");
        }
    }

    fn blocks(list: &[(u32, u32, u32, u32, u32, u32)]) -> FileBlocks {
        FileBlocks {
            path: "m/p/x.go".into(),
            blocks: list
                .iter()
                .map(|&(a, b, c, d, stmts, count)| crate::profile::Block {
                    pos: crate::profile::Pos {
                        start_line: a,
                        start_col: b,
                        end_line: c,
                        end_col: d,
                    },
                    stmts,
                    count,
                })
                .collect(),
        }
    }

    #[test]
    fn coverage_counts_overlapping_blocks_only() {
        let f = |name: &str, a, b, c, d| Func {
            name: name.into(),
            receiver: None,
            extent: FuncExtent {
                start_line: a,
                start_col: b,
                end_line: c,
                end_col: d,
            },
        };
        let funcs = [f("f", 3, 1, 5, 2), f("g", 7, 1, 9, 2)];
        let fb = blocks(&[
            (1, 10, 3, 1, 100, 1),   // ends exactly at f's start: not counted
            (1, 10, 3, 2, 1, 1),     // ends just inside f: counted
            (3, 10, 5, 1, 2, 0),     // inside f
            (5, 2, 7, 1, 1000, 1),   // between the two: nowhere
            (5, 1, 7, 2, 4, 1),      // straddles f's end and g's start: both
            (9, 2, 10, 1, 10000, 1), // starts at g's end: not counted
        ]);
        let got = file_coverage("m/p/x.go", &funcs, &fb);
        assert_eq!((got[0].covered, got[0].statements), (5, 7));
        assert_eq!((got[1].covered, got[1].statements), (4, 4));
        assert_eq!(func_total(&got), (9, 11));
    }

    #[test]
    fn render_matches_tabwriter_layout() {
        let fc = |file: &str, line, name: &str, covered, statements| FuncCoverage {
            file: file.into(),
            line,
            name: name.into(),
            covered,
            statements,
        };
        let out = render_cover_func(&[
            fc("m/a.go", 3, "F", 1, 3),
            fc("m/a.go", 10, "LongerName", 0, 0),
        ]);
        // Column 0: widest "m/a.go:10:" (10) + 1 = 11 → 16; column 1:
        // "(statements)" (12) + 1 = 13 → 16.
        assert_eq!(
            out,
            "m/a.go:3:\tF\t\t33.3%\nm/a.go:10:\tLongerName\t0.0%\ntotal:\t\t(statements)\t33.3%\n"
        );
    }

    #[test]
    fn percent_rounds_like_go() {
        assert_eq!(format!("{:.1}", percent(1, 400)), "0.2");
        assert_eq!(format!("{:.1}", percent(3, 400)), "0.8");
        assert_eq!(format!("{:.1}", percent(0, 0)), "0.0");
        assert_eq!(format!("{:.1}", percent(1999, 2000)), "100.0");
    }

    #[test]
    fn module_path_forms() {
        assert_eq!(
            module_path(b"// c\nmodule example.com/m // x\n\ngo 1.22\n").unwrap(),
            "example.com/m"
        );
        assert_eq!(
            module_path(b"module \"example.com/q\"\n").unwrap(),
            "example.com/q"
        );
        assert!(module_path(b"go 1.22\n").is_err());
        assert!(module_path(b"modulex foo\n").is_err());
    }
}
