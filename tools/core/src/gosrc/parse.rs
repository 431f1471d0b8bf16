//! Top-level function declarations and their extents: receiver, name, type
//! parameters, parameters, a result type (struct, interface and func types
//! included) and a balanced body. The rest of the grammar is not checked.

use super::lex::{physical, Kind, Lexer, LineTable, Tok, KEYWORDS};

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

pub(super) struct Decl {
    name: String,
    receiver: Option<String>,
    start: usize,
    end: usize,
}

pub(super) struct Parser<'a> {
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
pub(super) fn receiver_type(text: &[u8]) -> Option<String> {
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
}
