//! Reading `git diff --unified=0` output, as git writes it with the fixed
//! options of [`super::DIFF_OPTIONS`]: per file a `diff --git` line, header
//! lines, then hunks whose `@@ -a,b +c,d @@` line says how many removed and
//! added lines follow. Both sides are kept: diff coverage reads the new
//! side, covselect judges the old one.
//!
//! Names in `---`/`+++` lines follow git's rules (diff.c, quote.c): a name
//! holding a byte git finds unusual (a control byte, `"`, `\`, any byte
//! above 0x7f under `core.quotePath`) is written C-quoted with backslash
//! escapes and octal bytes, prefix inside the quotes; a name holding a space
//! is followed by a TAB. Names are bytes, as file names are. A file with no
//! `---`/`+++` lines (a pure rename, a mode change, a binary file) is named
//! by its `rename from`/`rename to` lines or its `diff --git` line.

use anyhow::{bail, Context};

/// One hunk: `@@ -old_start,old_len +new_start,new_len @@` (a side of
/// length 0 starts after the line it names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_len: u32,
    pub new_start: u32,
    pub new_len: u32,
}

/// One file of a diff: its path before and after (relative to the
/// repository root, without git's `a/`/`b/`; none for an added or a
/// deleted file) and its hunks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilePatch {
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
    pub hunks: Vec<Hunk>,
}

impl FilePatch {
    /// The inclusive new-side line ranges of its hunks.
    pub fn new_ranges(&self) -> anyhow::Result<Vec<(u32, u32)>> {
        let mut out = Vec::new();
        for h in self.hunks.iter().filter(|h| h.new_len > 0) {
            let end = h
                .new_start
                .checked_add(h.new_len - 1)
                .context("hunk lines past 4294967295")?;
            out.push((h.new_start, end));
        }
        Ok(out)
    }
}

/// Every file of a diff, both sides.
pub fn parse_patch(diff: &[u8]) -> anyhow::Result<Vec<FilePatch>> {
    let mut files: Vec<FilePatch> = Vec::new();
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
        if let Some(names) = line.strip_prefix(b"diff --git ") {
            let (old, new) = match git_line_names(names) {
                Some((a, b)) => (Some(a), Some(b)),
                None => (None, None),
            };
            files.push(FilePatch {
                old,
                new,
                hunks: Vec::new(),
            });
            continue;
        }
        let Some(file) = files.last_mut() else {
            continue;
        };
        if line.starts_with(b"new file mode ") {
            file.old = None;
        } else if line.starts_with(b"deleted file mode ") {
            file.new = None;
        } else if let Some(name) = line.strip_prefix(b"rename from ") {
            file.old = Some(header_name(name).with_context(at)?);
        } else if let Some(name) = line.strip_prefix(b"rename to ") {
            file.new = Some(header_name(name).with_context(at)?);
        } else if let Some(name) = line.strip_prefix(b"--- ") {
            file.old = side(name, b"a/").with_context(at)?;
        } else if let Some(name) = line.strip_prefix(b"+++ ") {
            file.new = side(name, b"b/").with_context(at)?;
        } else if line.starts_with(b"@@ ") {
            let ((old_start, old_len), (new_start, new_len)) =
                hunk_header(line).with_context(at)?;
            body = u64::from(old_len) + u64::from(new_len);
            file.hunks.push(Hunk {
                old_start,
                old_len,
                new_start,
                new_len,
            });
        }
    }
    // A file named nowhere (a header git would not write) cannot be judged.
    files.retain(|f| f.old.is_some() || f.new.is_some());
    Ok(files)
}

/// A `---`/`+++` name without its prefix; none for `/dev/null`.
fn side(raw: &[u8], prefix: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
    let name = header_name(raw)?;
    if name == b"/dev/null" {
        return Ok(None);
    }
    match name.strip_prefix(prefix) {
        Some(path) => Ok(Some(path.to_vec())),
        None => bail!(
            "expected a file name starting with {}, found {:?}",
            String::from_utf8_lossy(prefix),
            String::from_utf8_lossy(&name)
        ),
    }
}

/// The names of `diff --git a/P b/Q` where they can be told apart: both
/// quoted, or unquoted and the same (git's own rule, builtin/apply.c);
/// a rename's names come from its `rename` lines instead.
fn git_line_names(rest: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if rest.starts_with(b"\"") {
        let end = quoted_end(rest)?;
        let a = header_name(&rest[..end]).ok()?;
        let b = header_name(rest.get(end + 1..)?).ok()?;
        return Some((
            a.strip_prefix(b"a/")?.to_vec(),
            b.strip_prefix(b"b/")?.to_vec(),
        ));
    }
    // "a/" P " b/" P
    let n = rest.len().checked_sub(5)?;
    if n % 2 != 0 {
        return None;
    }
    let p = &rest[2..2 + n / 2];
    (rest.starts_with(b"a/") && &rest[2 + n / 2..5 + n / 2] == b" b/" && &rest[5 + n / 2..] == p)
        .then(|| (p.to_vec(), p.to_vec()))
}

/// The index just past the closing quote of a quoted name.
fn quoted_end(raw: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < raw.len() {
        match raw[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// `@@ -a[,b] +c[,d] @@…`: the old side `(a, b)` and the new side
/// `(c, d)`; a missing count is 1.
fn hunk_header(line: &[u8]) -> anyhow::Result<((u32, u32), (u32, u32))> {
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
        (Some(old), Some(new)) => Ok((old, new)),
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

    /// A file's old and new names as text, and its new-side ranges.
    type Shown = (Option<String>, Option<String>, Vec<(u32, u32)>);

    fn shown(diff: &[u8]) -> Vec<Shown> {
        let text =
            |p: &Option<Vec<u8>>| p.as_ref().map(|p| String::from_utf8_lossy(p).into_owned());
        parse_patch(diff)
            .unwrap()
            .iter()
            .map(|f| (text(&f.old), text(&f.new), f.new_ranges().unwrap()))
            .collect()
    }

    fn s(p: &str) -> Option<String> {
        Some(p.to_string())
    }

    #[test]
    fn reads_both_sides_of_zero_context_hunks() {
        let diff = b"diff --git a/a.go b/a.go\n--- a/a.go\n+++ b/a.go\n@@ -3,0 +4,2 @@\n+x\n+y\n@@ -10 +12 @@\n-a\n+b\n@@ -20,3 +22,0 @@\n-c\n-d\n-e\ndiff --git a/gone.go b/gone.go\ndeleted file mode 100644\n--- a/gone.go\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-p\n-q\n";
        assert_eq!(
            shown(diff),
            [
                (s("a.go"), s("a.go"), vec![(4, 5), (12, 12)]),
                (s("gone.go"), None, vec![])
            ]
        );
        let files = parse_patch(diff).unwrap();
        assert_eq!(
            files[0].hunks[2],
            Hunk {
                old_start: 20,
                old_len: 3,
                new_start: 22,
                new_len: 0
            }
        );
        assert_eq!(files[1].hunks[0].old_len, 2);
    }

    #[test]
    fn files_without_hunks_are_named_by_their_header() {
        // A pure rename, a new binary file (its name holds a space), a
        // changed binary file, a quoted name with a TAB.
        let diff = b"diff --git a/o.go b/n.go\nsimilarity index 100%\nrename from o.go\nrename to n.go\ndiff --git a/b c.bin b/b c.bin\nnew file mode 100644\nindex 0000000..8352675\nBinary files /dev/null and b/b c.bin differ\ndiff --git a/x.png b/x.png\nindex 1..2 100644\nBinary files a/x.png and b/x.png differ\ndiff --git \"a/x y.txt\" \"b/x\\ty.txt\"\nsimilarity index 90%\nrename from \"x y.txt\"\nrename to \"x\\ty.txt\"\n--- \"a/x y.txt\"\n+++ \"b/x\\ty.txt\"\n@@ -1 +1 @@\n-a\n+b\n";
        assert_eq!(
            shown(diff),
            [
                (s("o.go"), s("n.go"), vec![]),
                (None, s("b c.bin"), vec![]),
                (s("x.png"), s("x.png"), vec![]),
                (s("x y.txt"), s("x\ty.txt"), vec![(1, 1)]),
            ]
        );
        assert_eq!(
            git_line_names(b"\"a/q\\\"x\" \"b/q\\\"x\""),
            Some((b"q\"x".to_vec(), b"q\"x".to_vec()))
        );
        assert_eq!(git_line_names(b"a/x b/y"), None);
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
            shown(diff),
            [(s("a.go"), s("a.go"), vec![(1, 2), (10, 10)])]
        );
    }

    #[test]
    fn a_name_without_the_b_prefix_is_an_error() {
        let err = parse_patch(b"diff --git w/a.go\n--- a/a.go\n+++ w/a.go\n@@ -1 +1 @@\n-a\n+b\n")
            .unwrap_err();
        assert!(format!("{err:#}").contains("line 3"), "{err:#}");
    }
}
