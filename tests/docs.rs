//! The docs a newcomer reads stay true to the tree: every relative link in
//! README.md, CONTRIBUTING.md, ARCHITECTURE.md and docs/ leads to a file
//! that exists (and an anchor to a heading that exists), the README stays
//! short, its smallest covtools.toml loads, every `cargo install` in the
//! docs keeps the lock file, and no source or doc cites a tracker's issue
//! number, which a reader of the repository cannot look up.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::util::{project_root, Dir};

/// The docs whose links are checked, relative to the root.
fn docs() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = ["README.md", "CONTRIBUTING.md", "ARCHITECTURE.md"]
        .iter()
        .map(PathBuf::from)
        .collect();
    found.extend(
        repo_files()
            .into_iter()
            .filter(|p| p.starts_with("docs") && p.extension().is_some_and(|e| e == "md")),
    );
    found
}

/// The files of the repository: tracked, and new ones git does not ignore.
fn repo_files() -> Vec<PathBuf> {
    let out = Command::new("git")
        .current_dir(project_root())
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "git ls-files failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .filter(|p| project_root().join(p).exists())
        .collect()
}

/// The text outside code: fenced blocks and inline code spans blanked
/// (indented code holds no `](`, so it needs no care).
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if !fenced {
            let mut in_code = false;
            for c in line.chars() {
                if c == '`' {
                    in_code = !in_code;
                }
                out.push(if in_code || c == '`' { ' ' } else { c });
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of the `[text](target)` links of a document.
fn link_targets(markdown: &str) -> Vec<String> {
    let text = prose(markdown);
    let mut targets = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        targets.push(rest[..end].trim().to_string());
        rest = &rest[end..];
    }
    targets
}

/// GitHub's anchor of a heading: lower case, spaces to `-`, punctuation
/// other than `-` and `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a document's headings (repeated ones get `-1`, `-2`…).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let base = slug(line.trim_start_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = project_root();
    let mut checked = 0;
    let mut broken = Vec::new();
    for doc in docs() {
        let text = fs::read_to_string(root.join(&doc)).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                root.join(&doc)
            } else {
                root.join(doc.parent().unwrap()).join(path)
            };
            if !file.exists() {
                broken.push(format!("{}: {target}: no such file", doc.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                let heads = anchors(&fs::read_to_string(&file).unwrap_or_default());
                if !heads.contains(anchor) {
                    broken.push(format!(
                        "{}: {target}: no heading with that anchor in {}",
                        doc.display(),
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 30, "only {checked} links found");
}

#[test]
fn the_link_checker_sees_links_and_anchors_as_github_does() {
    let md = "# User guide\n## Build the real `main` with coverage (live snapshots)\n## Merge\n## Merge\n\
              see [a](x.md#y) and [wrapped\ntext](../b/) but not `[c](d)`\n```\n# not a heading\n[e](f)\n```\n";
    assert_eq!(link_targets(md), ["x.md#y", "../b/"]);
    let heads = anchors(md);
    for a in [
        "user-guide",
        "build-the-real-main-with-coverage-live-snapshots",
        "merge",
        "merge-1",
    ] {
        assert!(heads.contains(a), "{a} in {heads:?}");
    }
    assert_eq!(heads.len(), 4, "{heads:?}");
}

#[test]
fn the_readme_is_short_and_its_smallest_config_loads() {
    let readme = fs::read_to_string(project_root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 200, "README.md has {lines} lines (at most 200)");
    let toml = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```toml block in README.md");
    let dir = Dir::new("readme_smallest_config");
    dir.create("go.mod", "module example.com/orders\n\ngo 1.27\n");
    dir.create("covtools.toml", toml);
    let config = covjob::config::Config::load(&dir.root).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(config.services.len(), 1);
    assert!(config.tests.is_some());
}

#[test]
fn every_cargo_install_in_the_docs_keeps_the_lock_file() {
    let mut found = 0;
    for file in repo_files() {
        let name = file.to_string_lossy();
        let doc = name.ends_with(".md") || (name.starts_with("docs/") && name.ends_with(".yml"));
        if !doc {
            continue;
        }
        let text = fs::read_to_string(project_root().join(&file)).unwrap();
        for line in text.lines().filter(|l| l.contains("cargo install ")) {
            found += 1;
            assert!(line.contains("--locked"), "{name}: {line}");
        }
    }
    assert!(found >= 4, "{found}");
}

/// "issue" (any case), then maybe a space, `-` or `#`, then a digit.
fn cites_an_issue(line: &str) -> bool {
    let lower = line.to_lowercase();
    lower.match_indices("issue").any(|(i, _)| {
        let rest = lower[i + "issue".len()..].trim_start_matches(['s', ' ', '-', '#']);
        rest.starts_with(|c: char| c.is_ascii_digit())
    })
}

#[test]
fn no_source_or_doc_cites_an_issue_number() {
    // Spelled in two halves, so that this file passes its own check.
    let issue = ["iss", "ue"].concat();
    for (line, cites) in [
        (format!("// see {issue} 8"), true),
        (format!("//! {issue} #11"), true),
        (format!("({} 11 §3)", issue.to_uppercase()), true),
        (format!("the {issue}-8 item"), true),
        (format!("{issue}s 3 and 4"), true),
        (format!("a known {issue}; 2 more"), false),
        ("no tracker here".to_string(), false),
    ] {
        assert_eq!(cites_an_issue(&line), cites, "{line}");
    }
    let mut citing = Vec::new();
    let mut read = 0;
    for file in repo_files() {
        let checked = ["rs", "go", "sh", "toml", "md"]
            .iter()
            .any(|e| file.extension().is_some_and(|x| x == *e));
        if !checked {
            continue;
        }
        let Ok(text) = fs::read_to_string(project_root().join(&file)) else {
            continue;
        };
        read += 1;
        for (n, line) in text.lines().enumerate() {
            if cites_an_issue(line) {
                citing.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(read > 100, "only {read} files read");
    assert!(
        citing.is_empty(),
        "a reader has no tracker to look these up in:\n{}",
        citing.join("\n")
    );
}
