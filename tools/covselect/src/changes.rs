//! What changed since the merge-base with a ref, both sides: every file
//! (any type) with its status and its hunks' old and new line ranges,
//! from `git diff --unified=0 --find-renames` of the merge-base against the
//! working tree (untracked files are not seen, as with covtotal
//! --diff-base).

use std::path::Path;

use anyhow::{bail, Context};
use covcore::diff::git_output as git;

/// One hunk of `--unified=0`: `@@ -old_start,old_len +new_start,new_len @@`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_len: u32,
    pub new_start: u32,
    pub new_len: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    /// The path at the merge-base (none for a new file), relative to the
    /// repository root.
    pub old: Option<String>,
    /// The path now (none for a deleted file).
    pub new: Option<String>,
    pub hunks: Vec<Hunk>,
}

pub struct Changes {
    /// The repository root.
    pub top: std::path::PathBuf,
    pub merge_base: String,
    pub files: Vec<FileChange>,
}

/// The changes since the merge-base of `base` and HEAD, working tree
/// included, in the git checkout holding `src`.
pub fn since(src: &Path, base: &str) -> anyhow::Result<Changes> {
    let top = git(src, &["rev-parse", "--show-toplevel"]).with_context(|| {
        format!(
            "--diff-base {base}: {} is not in a git checkout",
            src.display()
        )
    })?;
    let top = std::path::PathBuf::from(top.trim());
    if git(
        src,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{base}^{{commit}}"),
        ],
    )
    .is_err()
    {
        bail!(
            "--diff-base {base}: no such commit in the git repository at {}",
            top.display()
        );
    }
    let merge_base = git(src, &["merge-base", base, "HEAD"])
        .with_context(|| format!("--diff-base {base}: no merge-base with HEAD"))?
        .trim()
        .to_string();
    let diff = git(
        &top,
        &[
            "-c",
            "core.quotePath=false",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--unified=0",
            "--find-renames",
            &merge_base,
        ],
    )?;
    Ok(Changes {
        top,
        merge_base,
        files: parse(&diff)?,
    })
}

/// A path of a `---`/`+++` line: `a/x`, `b/x`, `/dev/null` or a C-quoted
/// `"b/x y"`.
fn side(text: &str) -> Option<String> {
    let text = text.trim_end_matches('\t');
    if text == "/dev/null" {
        return None;
    }
    let unquoted = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(q) => unquote(q),
        None => text.to_string(),
    };
    Some(unquoted.get(2..).unwrap_or("").to_string())
}

/// Git's C-style quoting: `\"`, `\\`, `\t`, `\n` and octal bytes.
fn unquote(q: &str) -> String {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let c = b[i + 1];
            if c.is_ascii_digit() && i + 3 < b.len() + 1 {
                let oct = std::str::from_utf8(&b[i + 1..(i + 4).min(b.len())]).unwrap_or("0");
                out.push(u8::from_str_radix(oct, 8).unwrap_or(b'?'));
                i += 4;
                continue;
            }
            out.push(match c {
                b't' => b'\t',
                b'n' => b'\n',
                other => other,
            });
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse(diff: &str) -> anyhow::Result<Vec<FileChange>> {
    let mut files: Vec<FileChange> = Vec::new();
    let mut renamed: (Option<String>, Option<String>) = (None, None);
    for line in diff.lines() {
        if line.starts_with("diff --git ") {
            files.push(FileChange {
                old: None,
                new: None,
                hunks: Vec::new(),
            });
            renamed = (None, None);
        } else if let Some(p) = line.strip_prefix("rename from ") {
            renamed.0 = Some(p.to_string());
        } else if let Some(p) = line.strip_prefix("rename to ") {
            renamed.1 = Some(p.to_string());
            // A pure rename has no ---/+++ lines.
            if let Some(f) = files.last_mut() {
                f.old = renamed.0.clone();
                f.new = renamed.1.clone();
            }
        } else if let Some(p) = line.strip_prefix("--- ") {
            if let Some(f) = files.last_mut() {
                f.old = side(p);
            }
        } else if let Some(p) = line.strip_prefix("+++ ") {
            if let Some(f) = files.last_mut() {
                f.new = side(p);
            }
        } else if let Some(h) = line.strip_prefix("@@ ") {
            let mut sides = h.split_whitespace();
            let range = |w: Option<&str>, sign: char| -> Option<(u32, u32)> {
                let w = w?.strip_prefix(sign)?;
                Some(match w.split_once(',') {
                    Some((s, l)) => (s.parse().ok()?, l.parse().ok()?),
                    None => (w.parse().ok()?, 1),
                })
            };
            let (Some((old_start, old_len)), Some((new_start, new_len))) =
                (range(sides.next(), '-'), range(sides.next(), '+'))
            else {
                bail!("git diff: unexpected hunk header {line:?}");
            };
            if let Some(f) = files.last_mut() {
                f.hunks.push(Hunk {
                    old_start,
                    old_len,
                    new_start,
                    new_len,
                });
            }
        }
    }
    // A mode change or a binary file without ---/+++ lines: its name from
    // the header is not needed (binary and mode changes judge as changed).
    files.retain(|f| f.old.is_some() || f.new.is_some());
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_of_zero_context_hunks() {
        let diff = "diff --git a/a.go b/a.go\nindex 1..2 100644\n--- a/a.go\n+++ b/a.go\n@@ -3,0 +4,2 @@\n+x\n+y\n@@ -10 +12 @@\n-a\n+b\ndiff --git a/gone.go b/gone.go\ndeleted file mode 100644\n--- a/gone.go\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-p\n-q\ndiff --git a/o.go b/n.go\nsimilarity index 100%\nrename from o.go\nrename to n.go\ndiff --git \"a/x y.txt\" \"b/x y.txt\"\n--- \"a/x y.txt\"\n+++ \"b/x\\ty.txt\"\n@@ -1 +1 @@\n";
        let f = parse(diff).unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(
            f[0].hunks,
            [
                Hunk {
                    old_start: 3,
                    old_len: 0,
                    new_start: 4,
                    new_len: 2
                },
                Hunk {
                    old_start: 10,
                    old_len: 1,
                    new_start: 12,
                    new_len: 1
                }
            ]
        );
        assert_eq!(
            (f[1].old.as_deref(), f[1].new.as_deref()),
            (Some("gone.go"), None)
        );
        assert_eq!(
            (f[2].old.as_deref(), f[2].new.as_deref()),
            (Some("o.go"), Some("n.go"))
        );
        assert_eq!(f[3].new.as_deref(), Some("x\ty.txt"));
    }
}
