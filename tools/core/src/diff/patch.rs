//! Reading `git diff --unified=0` output, as git writes it with the fixed
//! options of [`super::DIFF_OPTIONS`]: per file a `diff --git` line, header
//! lines, then hunks whose `@@ -a,b +c,d @@` line says how many removed and
//! added lines follow.
//!
//! Names in `---`/`+++` lines follow git's rules (diff.c, quote.c): a name
//! holding a byte git finds unusual (a control byte, `"`, `\`, any byte
//! above 0x7f under `core.quotePath`) is written C-quoted with backslash
//! escapes and octal bytes, prefix inside the quotes; a name holding a space
//! is followed by a TAB. Names are bytes, as file names are.

use anyhow::{bail, Context};

/// A file's path (without the `b/` prefix) and its inclusive new-side
/// line ranges.
pub type FileRanges = (Vec<u8>, Vec<(u32, u32)>);

/// The new-side line ranges per file.
pub fn parse_diff(diff: &[u8]) -> anyhow::Result<Vec<FileRanges>> {
    let mut files: Vec<FileRanges> = Vec::new();
    // Lines of the current hunk's body still to come: they are content,
    // whatever they start with.
    let mut body = 0u64;
    for (i, line) in diff.split(|&b| b == b'\n').enumerate() {
        let at = || format!("git diff output line {}", i + 1);
        if body > 0 {
            // "\ No newline at end of file" follows a body line and does
            // not count as one.
            if !line.starts_with(b"\\") {
                body -= 1;
            }
            continue;
        }
        if let Some(name) = line.strip_prefix(b"+++ ") {
            let name = header_name(name).with_context(at)?;
            if name == b"/dev/null" {
                continue;
            }
            let Some(path) = name.strip_prefix(b"b/") else {
                bail!(
                    "{}: expected a new file name starting with b/, found {:?}",
                    at(),
                    String::from_utf8_lossy(&name)
                );
            };
            files.push((path.to_vec(), Vec::new()));
        } else if line.starts_with(b"@@ ") {
            let (old, (start, len)) = hunk_header(line).with_context(at)?;
            body = u64::from(old) + u64::from(len);
            if len > 0 {
                let Some((_, ranges)) = files.last_mut() else {
                    bail!("{}: a hunk before any +++ line", at());
                };
                let end = start
                    .checked_add(len - 1)
                    .with_context(|| format!("{}: hunk lines past 4294967295", at()))?;
                ranges.push((start, end));
            }
        }
    }
    Ok(files)
}

/// `@@ -a[,b] +c[,d] @@…`: the removed line count `b` and the new side
/// `(c, d)`; a missing count is 1.
fn hunk_header(line: &[u8]) -> anyhow::Result<(u32, (u32, u32))> {
    let shown = || String::from_utf8_lossy(line).into_owned();
    let text = std::str::from_utf8(line).unwrap_or("");
    let mut words = text.split(' ').skip(1);
    let side = |w: Option<&str>, sign: char| -> Option<(u32, u32)> {
        let w = w?.strip_prefix(sign)?;
        match w.split_once(',') {
            Some((s, l)) => Some((s.parse().ok()?, l.parse().ok()?)),
            None => Some((w.parse().ok()?, 1)),
        }
    };
    let old = side(words.next(), '-');
    let new = side(words.next(), '+');
    match (old, new) {
        (Some((_, removed)), Some(new)) => Ok((removed, new)),
        _ => bail!(
            "expected a hunk header \"@@ -a,b +c,d @@\", found {:?}",
            shown()
        ),
    }
}

/// The name of a `---`/`+++` line, unquoted, without git's trailing TAB.
fn header_name(raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let Some(quoted) = raw.strip_prefix(b"\"") else {
        return Ok(raw.strip_suffix(b"\t").unwrap_or(raw).to_vec());
    };
    let mut out = Vec::with_capacity(quoted.len());
    let mut bytes = quoted.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'"' => return Ok(out),
            b'\\' => {
                let e = bytes.next().context("a quoted name ends in a backslash")?;
                out.push(match e {
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'v' => 0x0b,
                    b'f' => 0x0c,
                    b'r' => b'\r',
                    b'"' | b'\\' => e,
                    b'0'..=b'3' => {
                        let mut v = e - b'0';
                        for _ in 0..2 {
                            match bytes.next() {
                                Some(d @ b'0'..=b'7') => v = v * 8 + (d - b'0'),
                                _ => bail!("a quoted name holds a bad octal escape"),
                            }
                        }
                        v
                    }
                    other => bail!(
                        "a quoted name holds an unknown escape \\{}",
                        other.escape_ascii()
                    ),
                });
            }
            b => out.push(b),
        }
    }
    bail!(
        "a quoted name without its closing quote: {:?}",
        String::from_utf8_lossy(raw)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_new_side_of_zero_context_hunks() {
        let diff = b"diff --git a/a.go b/a.go\n--- a/a.go\n+++ b/a.go\n@@ -3,0 +4,2 @@\n+x\n+y\n@@ -10 +12 @@\n-a\n+b\n@@ -20,3 +22,0 @@\n-c\n-d\n-e\ndiff --git a/old.go b/gone.go\n--- a/gone.go\n+++ /dev/null\n";
        assert_eq!(
            parse_diff(diff).unwrap(),
            vec![(b"a.go".to_vec(), vec![(4, 5), (12, 12)])]
        );
    }

    #[test]
    fn names_follow_gits_quoting_and_trailing_tab() {
        assert_eq!(header_name(b"b/p/a b.go\t").unwrap(), b"b/p/a b.go");
        assert_eq!(header_name(b"b/p/a.go").unwrap(), b"b/p/a.go");
        assert_eq!(
            header_name(b"\"b/p/q\\\"u \\303\\251\\t\\\\.go\"\t").unwrap(),
            b"b/p/q\"u \xc3\xa9\t\\.go"
        );
        assert!(header_name(b"\"b/p/open.go").is_err());
        assert!(header_name(b"\"b/p/\\9.go\"").is_err());
    }

    #[test]
    fn hunk_bodies_are_content_whatever_they_start_with() {
        // An added line "++ b/x.go" shows as "+++ b/x.go"; a removed
        // "-- a" as "--- a".
        let diff = b"diff --git a/a.go b/a.go\n--- a/a.go\n+++ b/a.go\n@@ -1 +1,2 @@\n--- a\n\\ No newline at end of file\n+++ b/x.go\n+@@ -1 +1 @@\n@@ -9,0 +10 @@\n+z\n";
        assert_eq!(
            parse_diff(diff).unwrap(),
            vec![(b"a.go".to_vec(), vec![(1, 2), (10, 10)])]
        );
    }

    #[test]
    fn a_name_without_the_b_prefix_is_an_error() {
        let err = parse_diff(b"diff --git w/a.go\n--- c/a.go\n+++ w/a.go\n@@ -1 +1 @@\n-a\n+b\n")
            .unwrap_err();
        assert!(format!("{err:#}").contains("line 3"), "{err:#}");
    }
}
