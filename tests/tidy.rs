//! Tidy checks on the project's own sources (rust-analyzer's model): the
//! architecture invariants written in ARCHITECTURE.md, each checked here so
//! that it stays true. Module imports run one way inside every crate, the
//! configuration is a leaf, and the crates depend on each other in one
//! direction.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::project_root;
use crate::util::tidy::{self, lift, read_crate, show, Crate};

/// A workspace member: its package name, directory and manifest.
struct Member {
    name: String,
    dir: PathBuf,
    manifest: toml::Table,
}

fn read_toml(path: &Path) -> toml::Table {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn members() -> Vec<Member> {
    let root = project_root();
    let manifest = read_toml(&root.join("Cargo.toml"));
    manifest["workspace"]["members"]
        .as_array()
        .expect("[workspace] members")
        .iter()
        .map(|m| {
            let dir = root.join(m.as_str().unwrap());
            let manifest = read_toml(&dir.join("Cargo.toml"));
            let name = manifest["package"]["name"].as_str().unwrap().to_string();
            Member {
                name,
                dir,
                manifest,
            }
        })
        .collect()
}

/// Every crate of the workspace read from its sources: each member's `src/`
/// (rooted at lib.rs or main.rs) and each `main.rs` beside a member's
/// `src/` (the root package's binaries).
fn crates() -> Vec<Crate> {
    let mut out = Vec::new();
    for m in members() {
        let src = m.dir.join("src");
        if src.is_dir() {
            let root_file = if src.join("lib.rs").is_file() {
                "lib"
            } else {
                "main"
            };
            out.push(read_crate(&m.name, &src, root_file));
        }
        let bin = m.dir.join("main.rs");
        if bin.is_file() {
            out.push(read_crate(&format!("{} (main.rs)", m.name), &bin, "main"));
        }
    }
    assert!(out.len() >= 8, "read only {} crates", out.len());
    out
}

fn find<'a>(crates: &'a [Crate], name: &str) -> &'a Crate {
    crates
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no crate {name}"))
}

/// Architecture Invariant: inside every crate, module imports run one way.
#[test]
fn no_import_circles() {
    let root = project_root();
    let crates = crates();
    let circles: Vec<String> = crates
        .iter()
        .flat_map(|c| tidy::circles(c, &root))
        .collect();
    assert!(
        circles.is_empty(),
        "modules that import each other (fold the shared item into the lower module):\n{}",
        circles.join("\n")
    );
}

/// The check finds what it must: every import form counts, and a circle is
/// named with the imports that close it.
#[test]
fn the_circle_check_sees_circles() {
    let dir = crate::util::Dir::new("tidy_circle");
    dir.create(
        "src/lib.rs",
        "//! use crate::b; in a comment is no edge\nmod a;\nmod b;\nmod c;\n",
    );
    dir.create(
        "src/a/mod.rs",
        "mod inner;\nfn f() { let _ = \"crate::c::X\"; crate::b::g(); }\n",
    );
    dir.create("src/a/inner.rs", "use super::super::c::{self as cc, Y};\n");
    dir.create("src/b.rs", "pub fn g() {}\nmod t { use super::*; }\n");
    dir.create(
        "src/c.rs",
        "use crate::{a::inner, b};\nconst R: &str = r#\"crate::b\"#;\n",
    );
    let k = read_crate("demo", &dir.path("src"), "lib");
    let edges: BTreeSet<(String, String)> = k
        .edges
        .iter()
        .filter_map(lift)
        .map(|(_, f, t)| (show(&f), show(&t)))
        .collect();
    let want = [("a", "b"), ("a", "c"), ("c", "a"), ("c", "b")];
    let want: BTreeSet<(String, String)> = want
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect();
    assert_eq!(edges, want);
    let circles = tidy::circles(&k, &dir.root);
    assert_eq!(circles.len(), 1, "{circles:?}");
    assert!(
        circles[0].starts_with("crate demo: a -> c -> a (a::inner -> c at src/a/inner.rs:1; c -> a::inner at src/c.rs:1)"),
        "{}",
        circles[0]
    );
}

/// Architecture Invariant: covjob's `config` is a leaf: it imports no other
/// module of its crate.
#[test]
fn config_is_a_leaf() {
    let crates = crates();
    let covjob = find(&crates, "covjob");
    let config = vec!["config".to_string()];
    assert!(
        covjob.modules.contains(&config),
        "covjob has no config module"
    );
    let outside: Vec<String> = covjob
        .edges
        .iter()
        .filter(|e| e.from.starts_with(&config) && !e.to.starts_with(&config))
        .map(|e| {
            format!(
                "{} -> {} at {}:{}",
                show(&e.from),
                show(&e.to),
                e.file.display(),
                e.line
            )
        })
        .collect();
    assert!(
        outside.is_empty(),
        "config imports:\n{}",
        outside.join("\n")
    );
}

/// Architecture Invariant: one piece of code runs child processes,
/// `covcore::process` (its builder, the bounded run, the one timed wait);
/// no other source of a crate writes `Command::new` (tests drive the
/// binaries as they like).
#[test]
fn one_process_helper() {
    let root = project_root();
    let helper = root.join("tools/core/src/process");
    let mut found = Vec::new();
    for m in members() {
        let mut files = tidy::rust_files_under(&m.dir.join("src"));
        files.extend(Some(m.dir.join("main.rs")).filter(|p| p.is_file()));
        for f in files {
            if f.starts_with(&helper) {
                continue;
            }
            let text = fs::read_to_string(&f).unwrap();
            for line in tidy::path_lines(&text, &["Command", "new"]) {
                let shown = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
                found.push(format!("{shown}:{line}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "Command::new outside covcore::process (use covcore::process::process):\n{}",
        found.join("\n")
    );
    let sample =
        "// Command::new in a comment\nlet s = \"Command::new\";\nstd::process::Command::new(x);\n";
    assert_eq!(tidy::path_lines(sample, &["Command", "new"]), [3]);
}

/// The workspace crates each member depends on (any kind of dependency).
fn workspace_deps() -> BTreeMap<String, BTreeSet<String>> {
    let members = members();
    let names: BTreeSet<String> = members.iter().map(|m| m.name.clone()).collect();
    members
        .iter()
        .map(|m| {
            let deps = ["dependencies", "dev-dependencies", "build-dependencies"]
                .iter()
                .filter_map(|k| m.manifest.get(*k).and_then(|t| t.as_table()))
                .flat_map(|t| t.keys())
                .filter(|d| names.contains(*d))
                .cloned()
                .collect();
            (m.name.clone(), deps)
        })
        .collect()
}

/// Architecture Invariant: covcore depends on no workspace crate; covtarget
/// only on covcore; the tool crates never on covjob; covjob never on xtask.
#[test]
fn crates_depend_one_way() {
    let deps = workspace_deps();
    let of = |name: &str| -> &BTreeSet<String> {
        deps.get(name)
            .unwrap_or_else(|| panic!("no workspace member {name}"))
    };
    assert!(
        of("covcore").is_empty(),
        "covcore depends on {:?}",
        of("covcore")
    );
    assert!(
        of("covtarget").iter().all(|d| d == "covcore"),
        "covtarget depends on {:?}",
        of("covtarget")
    );
    for tool in [
        "covcore",
        "covtarget",
        "covmerge",
        "covtotal",
        "covreport",
        "covkill",
        "covpull",
    ] {
        assert!(!of(tool).contains("covjob"), "{tool} depends on covjob");
    }
    assert!(!of("covjob").contains("xtask"), "covjob depends on xtask");
}

/// ARCHITECTURE.md states the invariants these tests check.
#[test]
fn architecture_names_the_invariants() {
    let text = fs::read_to_string(project_root().join("ARCHITECTURE.md")).unwrap();
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Architecture invariants"))
        .expect("ARCHITECTURE.md has a section \"Architecture invariants\"");
    let lines = section.matches("Architecture Invariant:").count();
    assert!(lines >= 3, "the section states {lines} invariants");
    for phrase in ["one way", "config", "covcore"] {
        assert!(
            section.contains(phrase),
            "the section does not mention {phrase}"
        );
    }
}
