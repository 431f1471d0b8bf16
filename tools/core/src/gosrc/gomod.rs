//! The go.mod reader of covtools: the `module` and `go` directives, read by
//! the rules of Go's own parser (golang.org/x/mod/modfile, which the go
//! command uses on a main module's go.mod):
//!
//! - `//` starts a comment that runs to the end of the line, even inside a
//!   bare word (`module example.com/m//x` is `example.com/m`); `/*` anywhere
//!   outside a string is an error ("mod files must use // comments").
//! - A directive is one line, or a block: `module (` newline lines `)`.
//! - An argument is a bare word or a `"…"` string with Go's escapes. A
//!   backquoted string is a token too, but a module path in backquotes is an
//!   error ("unquoted string cannot contain quote"), as is a bare word with a
//!   quote in it.
//! - `go` takes one version matching `1.N`, `1.N.P` or `1.NrcM`-style
//!   prereleases; `module` and `go` may each appear once.
//!
//! Other directives are tokenised (their syntax errors are errors) and
//! otherwise ignored.

use std::path::Path;

use anyhow::{bail, Context};

/// What covtools needs of a go.mod file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoMod {
    /// The `module` directive's path.
    pub module: Option<String>,
    /// The `go` directive's version, e.g. `1.22` or `1.21.0`.
    pub go: Option<String>,
}

impl GoMod {
    /// Reads and parses a go.mod file; errors name `file:line`.
    pub fn read(path: &Path) -> anyhow::Result<GoMod> {
        let text =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        GoMod::parse(&path.display().to_string(), &text)
    }

    /// Parses go.mod text; `name` names the file in errors (`name:line: …`).
    pub fn parse(name: &str, text: &[u8]) -> anyhow::Result<GoMod> {
        let mut gomod = GoMod::default();
        for line in lines(text).map_err(|(line, msg)| anyhow::anyhow!("{name}:{line}: {msg}"))? {
            let fail = |msg: String| anyhow::anyhow!("{name}:{}: {msg}", line.line);
            match line.verb.as_str() {
                "module" => {
                    if gomod.module.is_some() {
                        return Err(fail("repeated module statement".into()));
                    }
                    let [arg] = &line.args[..] else {
                        return Err(fail("usage: module module/path".into()));
                    };
                    let path = unquote_arg(arg)
                        .map_err(|e| fail(format!("invalid quoted string: {e}")))?;
                    gomod.module = Some(path);
                }
                "go" => {
                    if gomod.go.is_some() {
                        return Err(fail("repeated go statement".into()));
                    }
                    let [arg] = &line.args[..] else {
                        return Err(fail("go directive expects exactly one argument".into()));
                    };
                    if !is_go_version(arg) {
                        return Err(fail(format!(
                            "invalid go version '{arg}': must match format 1.23.0"
                        )));
                    }
                    gomod.go = Some(arg.clone());
                }
                _ => {}
            }
        }
        Ok(gomod)
    }
}

/// The module path of a go.mod file (`name` names it in errors).
pub fn module_path(name: &str, text: &[u8]) -> anyhow::Result<String> {
    match GoMod::parse(name, text)?.module {
        Some(path) => Ok(path),
        None => bail!("{name}: no module directive found"),
    }
}

/// The `go` version of a go.mod file, if it has a `go` directive.
pub fn go_version(name: &str, text: &[u8]) -> anyhow::Result<Option<String>> {
    Ok(GoMod::parse(name, text)?.go)
}

/// One directive: its verb (the block's verb for lines of a block) and its
/// arguments as written (strings keep their quotes).
struct Line {
    line: usize,
    verb: String,
    args: Vec<String>,
}

/// The directives of a go.mod file, or the line and message of the first
/// syntax error.
fn lines(text: &[u8]) -> Result<Vec<Line>, (usize, String)> {
    let text = std::str::from_utf8(text).map_err(|e| {
        let line = 1 + text[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        (line, "invalid UTF-8".to_string())
    })?;
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let tokens = tokens(raw).map_err(|msg| (n, msg))?;
        let Some((first, rest)) = tokens.split_first() else {
            continue;
        };
        match (&block, first.as_str(), rest) {
            (Some(_), ")", []) => block = None,
            (Some(_), ")", _) => {
                return Err((n, "syntax error (unexpected token after ')')".into()))
            }
            (Some(verb), _, _) => out.push(Line {
                line: n,
                verb: verb.clone(),
                args: tokens.clone(),
            }),
            (None, _, [open]) if open == "(" => block = Some(first.clone()),
            (None, _, _) => out.push(Line {
                line: n,
                verb: first.clone(),
                args: rest.to_vec(),
            }),
        }
    }
    if block.is_some() {
        return Err((
            text.split('\n').count(),
            "syntax error (unterminated block started with '(')".into(),
        ));
    }
    Ok(out)
}

/// The tokens of one line, comments dropped.
fn tokens(line: &str) -> Result<Vec<String>, String> {
    const NO_BLOCK_COMMENTS: &str = "mod files must use // comments (not /* */ comments)";
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r']);
        if rest.is_empty() || rest.starts_with("//") {
            return Ok(out);
        }
        if rest.starts_with("/*") {
            return Err(NO_BLOCK_COMMENTS.into());
        }
        let c = rest.chars().next().expect("not empty");
        let len = match c {
            '(' | ')' | '[' | ']' | '{' | '}' | ',' => 1,
            '"' | '`' => {
                let mut escaped = false;
                let end = rest[1..].char_indices().find(|&(_, ch)| {
                    let closes = ch == c && !escaped;
                    escaped = c == '"' && ch == '\\' && !escaped;
                    closes
                });
                match end {
                    Some((i, _)) => i + 2,
                    None => return Err("unexpected newline in string".into()),
                }
            }
            _ => {
                let mut end = rest.len();
                for (i, ch) in rest.char_indices() {
                    if rest[i..].starts_with("//") {
                        end = i;
                        break;
                    }
                    if rest[i..].starts_with("/*") {
                        return Err(NO_BLOCK_COMMENTS.into());
                    }
                    if !is_ident(ch) {
                        end = i;
                        break;
                    }
                }
                if end == 0 {
                    return Err(format!("unexpected input character {c:?}"));
                }
                end
            }
        };
        out.push(rest[..len].to_string());
        rest = &rest[len..];
    }
}

/// modfile's `isIdent`: printable, not a space, not punctuation.
fn is_ident(c: char) -> bool {
    !matches!(c, ' ' | '(' | ')' | '[' | ']' | '{' | '}' | ',')
        && !c.is_whitespace()
        && !c.is_control()
}

/// modfile's `parseString`: a `"…"` string is unquoted; a bare word must
/// hold no quote (so a backquoted path is an error).
fn unquote_arg(arg: &str) -> Result<String, String> {
    if let Some(body) = arg.strip_prefix('"') {
        let body = body.strip_suffix('"').ok_or("invalid syntax")?;
        return unquote(body);
    }
    if arg.contains(['"', '\'', '`']) {
        return Err("unquoted string cannot contain quote".into());
    }
    Ok(arg.to_string())
}

/// The body of a Go interpreted string literal (strconv.Unquote's escapes).
fn unquote(body: &str) -> Result<String, String> {
    const BAD: &str = "invalid syntax";
    let mut bytes = Vec::with_capacity(body.len());
    let mut it = body.chars();
    while let Some(c) = it.next() {
        if c == '"' || c == '\n' {
            return Err(BAD.into());
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let esc = it.next().ok_or(BAD)?;
        let simple = match esc {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            bytes.push(b);
            continue;
        }
        let mut digits = |n: usize, radix: u32| -> Result<u32, String> {
            let s: String = it.by_ref().take(n).collect();
            if s.len() != n {
                return Err(BAD.into());
            }
            u32::from_str_radix(&s, radix).map_err(|_| BAD.into())
        };
        match esc {
            'x' => bytes.push(digits(2, 16)? as u8),
            '0'..='7' => {
                let rest = digits(2, 8)?;
                let v = esc.to_digit(8).expect("octal") * 64 + rest;
                bytes.push(u8::try_from(v).map_err(|_| BAD)?);
            }
            'u' | 'U' => {
                let v = digits(if esc == 'u' { 4 } else { 8 }, 16)?;
                let ch = char::from_u32(v).ok_or(BAD)?;
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return Err(BAD.into()),
        }
    }
    String::from_utf8(bytes).map_err(|_| "invalid UTF-8 in module path".into())
}

/// modfile's `GoVersionRE`:
/// `^([1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?([a-z]+[0-9]+)?$`.
fn is_go_version(v: &str) -> bool {
    fn number(s: &str) -> Option<&str> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        let (digits, rest) = s.split_at(n);
        (n > 0 && (digits == "0" || !digits.starts_with('0'))).then_some(rest)
    }
    let Some(rest) = number(v).filter(|_| !v.starts_with('0')) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix('.').and_then(number) else {
        return false;
    };
    let rest = match rest.strip_prefix('.').map(number) {
        Some(Some(after)) => after,
        Some(None) => return false,
        None => rest,
    };
    if rest.is_empty() {
        return true;
    }
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    let digits = &rest[letters..];
    letters > 0 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<GoMod> {
        GoMod::parse("go.mod", text.as_bytes())
    }

    #[test]
    fn module_path_forms() {
        let m = |t: &str| parse(t).unwrap().module.unwrap();
        assert_eq!(
            m("// c\nmodule example.com/m // x\n\ngo 1.22\n"),
            "example.com/m"
        );
        assert_eq!(m("module \"example.com/q\"\n"), "example.com/q");
        assert_eq!(m("module \"example.com/m\\x41\"\n"), "example.com/mA");
        assert_eq!(m("module example.com/m//x\n"), "example.com/m");
        assert_eq!(m("module (\n\texample.com/b // c\n)\n"), "example.com/b");
        assert!(parse("go 1.22\n").unwrap().module.is_none());
        assert!(module_path("go.mod", b"go 1.22\n").is_err());
        assert!(module_path("go.mod", b"modulex foo\n").is_err());
    }

    #[test]
    fn errors_follow_modfile() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert_eq!(
            err("module `example.com/m`\n"),
            "go.mod:1: invalid quoted string: unquoted string cannot contain quote"
        );
        assert!(err("module example.com/m /* c */\n").contains("must use // comments"));
        assert!(err("module a\nmodule b\n").contains("go.mod:2: repeated module statement"));
        assert!(err("module a\ngo 1\n").contains("invalid go version '1'"));
        assert!(err("module \"a\n").contains("go.mod:1:"));
    }

    #[test]
    fn go_versions() {
        for ok in ["1.22", "1.21.0", "1.21rc1", "1.0", "2.10.3"] {
            assert!(is_go_version(ok), "{ok}");
        }
        for bad in [
            "1", "01.2", "1.02", "1.2.", "1.2rc", "v1.2", "1.2-rc1", "1.2.3.4",
        ] {
            assert!(!is_go_version(bad), "{bad}");
        }
        assert_eq!(
            go_version("go.mod", b"module m\ngo 1.22 // x\n")
                .unwrap()
                .as_deref(),
            Some("1.22")
        );
    }
}
