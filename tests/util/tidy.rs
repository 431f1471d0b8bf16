//! The layering check's reading of Rust sources: a small lexer that drops
//! comments, strings and character literals, the `crate::`, `super::` and
//! `self::` paths (use trees expanded) found in what is left, and the
//! module graph of one crate built from them. No parser crate: the paths are
//! all the check needs, and a lexer this small is easy to trust.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

/// A module's path inside its crate (`[]` is the crate root).
pub type ModPath = Vec<String>;

/// `a::b`, or `crate root` for the root.
pub fn show(m: &[String]) -> String {
    if m.is_empty() {
        "crate root".into()
    } else {
        m.join("::")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// The tokens of `src` that matter for paths, each with its line; comments,
/// string, byte-string, raw-string and character literals are left out.
fn lex(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                // An escaped character literal: up to its closing quote.
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                // A lifetime or a label.
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            if matches!(word.as_str(), "r" | "br" | "b") && (at(i) == '#' || at(i) == '"') {
                if word != "b" && at(i) == '#' && at(i + 1) != '#' && at(i + 1) != '"' {
                    // A raw identifier, `r#type`.
                    i += 1;
                    continue;
                }
                let mut hashes = 0;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                i += 1; // the opening quote
                let raw = word != "b";
                loop {
                    if i >= c.len() {
                        break;
                    }
                    if !raw && c[i] == '\\' {
                        i += 2;
                        continue;
                    }
                    if c[i] == '"' && (0..hashes).all(|k| at(i + 1 + k) == '#') {
                        i += 1 + hashes;
                        break;
                    }
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
                continue;
            }
            if word == "b" && at(i) == '\'' {
                continue; // a byte literal: the quote branch takes it
            }
            out.push((Tok::Ident(word), line));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// The lines of `src`'s code (comments and literals left out) where the
/// path `words` (`["Command", "new"]` for `Command::new`) is written.
pub fn path_lines(src: &str, words: &[&str]) -> Vec<usize> {
    let toks = lex(src);
    let mut want = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            want.push(Tok::PathSep);
        }
        want.push(Tok::Ident(w.to_string()));
    }
    toks.windows(want.len().max(1))
        .filter(|w| w.iter().map(|(t, _)| t).eq(want.iter()))
        .map(|w| w[0].1)
        .collect()
}

/// Every `.rs` file under `dir`, in path order.
pub fn rust_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    rust_files(dir, &mut out);
    out
}

/// One path found in a file: the module it is written in (inline modules
/// included), its segments from the leading `crate`/`super`/`self` on, and
/// its line.
#[derive(Debug)]
pub struct FoundPath {
    pub inside: ModPath,
    pub segments: Vec<String>,
    pub line: usize,
}

fn is_root_keyword(t: &Tok) -> bool {
    matches!(t, Tok::Ident(w) if w == "crate" || w == "super" || w == "self")
}

/// Reads one use tree (or expression path) at `toks[*i]`, pushing every
/// full path it names onto `out`.
fn use_tree(toks: &[(Tok, usize)], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut segs = prefix;
    loop {
        match toks.get(*i).map(|t| &t.0) {
            Some(Tok::Ident(w)) => {
                segs.push(w.clone());
                *i += 1;
                if toks.get(*i).map(|t| &t.0) == Some(&Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                break;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                break;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while let Some((t, _)) = toks.get(*i) {
                    match t {
                        Tok::Punct('}') => {
                            *i += 1;
                            break;
                        }
                        Tok::Punct(',') => *i += 1,
                        _ => {
                            let before = *i;
                            use_tree(toks, i, segs.clone(), out);
                            // `as name` and anything unexpected: skip on.
                            if *i == before {
                                *i += 1;
                            }
                            while let Some((Tok::Ident(_), _)) = toks.get(*i) {
                                *i += 1;
                            }
                        }
                    }
                }
                return;
            }
            _ => break,
        }
    }
    out.push(segs);
}

/// Every `crate::`, `super::` and `self::` path of a file's code.
pub fn paths(src: &str, file_module: &ModPath) -> Vec<FoundPath> {
    let toks = lex(src);
    let mut found = Vec::new();
    // Inline modules: (name, brace depth at which they close).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let (t, line) = (&toks[i].0, toks[i].1);
        match t {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some((Tok::Ident(name), _)), Some((Tok::Punct('{'), _))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            _ => {}
        }
        let after_dollar = i > 0 && toks[i - 1].0 == Tok::Punct('$');
        let after_sep = i > 0 && toks[i - 1].0 == Tok::PathSep;
        let starts_path = is_root_keyword(t)
            && !after_dollar
            && !after_sep
            && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::PathSep);
        if !starts_path {
            i += 1;
            continue;
        }
        let mut full = Vec::new();
        use_tree(&toks, &mut i, Vec::new(), &mut full);
        let mut inside = file_module.clone();
        inside.extend(inline.iter().map(|(n, _)| n.clone()));
        for segments in full {
            found.push(FoundPath {
                inside: inside.clone(),
                segments,
                line,
            });
        }
    }
    found
}

/// Where a path leads: the module path it names from the crate root, or
/// `None` when `super` climbs above the root.
pub fn resolve(p: &FoundPath) -> Option<ModPath> {
    let mut segs = p.segments.iter().peekable();
    let mut base = match segs.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segs.next();
            Vec::new()
        }
        _ => p.inside.clone(),
    };
    let mut leading = true;
    for s in segs {
        match s.as_str() {
            "self" => {}
            "super" if leading => {
                base.pop()?;
            }
            _ => {
                leading = false;
                base.push(s.clone());
            }
        }
    }
    Some(base)
}

/// One module-to-module import: where it is written and what it reaches.
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: ModPath,
    pub to: ModPath,
    pub file: PathBuf,
    pub line: usize,
}

/// A crate read from disk: its modules (one per file) and its edges.
pub struct Crate {
    pub name: String,
    pub modules: BTreeSet<ModPath>,
    pub edges: Vec<Edge>,
}

/// The module a file is: `a/mod.rs` and `a.rs` are `a`, `a/b.rs` is
/// `a::b`, the crate's root file is the root.
fn module_of(rel: &Path, root_file: &str) -> ModPath {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") || parts == [root_file] {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Reads a crate: every `.rs` file under `src` (whose root file is
/// `root_file`, `lib` or `main`), or the single file `src` itself.
pub fn read_crate(name: &str, src: &Path, root_file: &str) -> Crate {
    let mut files = Vec::new();
    if src.is_dir() {
        rust_files(src, &mut files);
    } else {
        files.push(src.to_path_buf());
    }
    let base = if src.is_dir() {
        src
    } else {
        src.parent().unwrap()
    };
    let module = |f: &Path| {
        if src.is_dir() {
            module_of(f.strip_prefix(base).unwrap(), root_file)
        } else {
            Vec::new()
        }
    };
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module(f)).collect();
    let mut edges = Vec::new();
    for f in &files {
        let from = module(f);
        let text = fs::read_to_string(f).unwrap();
        for p in paths(&text, &from) {
            let Some(named) = resolve(&p) else { continue };
            // The longest prefix that is a module (the root always is).
            let to = (0..=named.len())
                .rev()
                .map(|n| named[..n].to_vec())
                .find(|m| modules.contains(m))
                .unwrap();
            edges.push(Edge {
                from: from.clone(),
                to,
                file: f.clone(),
                line: p.line,
            });
        }
    }
    Crate {
        name: name.into(),
        modules,
        edges,
    }
}

/// An import lifted to the two children of the lowest common ancestor:
/// `(parent, from child, to child)`; `None` between a module and its own
/// ancestor or descendant.
pub fn lift(e: &Edge) -> Option<(ModPath, ModPath, ModPath)> {
    let common = e.from.iter().zip(&e.to).take_while(|(a, b)| a == b).count();
    if common == e.from.len() || common == e.to.len() {
        return None;
    }
    Some((
        e.from[..common].to_vec(),
        e.from[..=common].to_vec(),
        e.to[..=common].to_vec(),
    ))
}

/// Every circle among siblings, one line each, naming the modules of the
/// circle and the imports that close it.
pub fn circles(krate: &Crate, root: &Path) -> Vec<String> {
    // parent -> (from child -> (to child -> first edge seen)).
    type Graph<'a> = BTreeMap<ModPath, BTreeMap<ModPath, &'a Edge>>;
    let mut parents: BTreeMap<ModPath, Graph> = BTreeMap::new();
    for e in &krate.edges {
        if let Some((parent, from, to)) = lift(e) {
            parents
                .entry(parent)
                .or_default()
                .entry(from)
                .or_default()
                .entry(to)
                .or_insert(e);
        }
    }
    let mut found = Vec::new();
    for graph in parents.values() {
        let mut reported: BTreeSet<ModPath> = BTreeSet::new();
        for start in graph.keys() {
            if reported.contains(start) {
                continue;
            }
            let Some(cycle) = shortest_cycle(graph, start) else {
                continue;
            };
            reported.extend(cycle.iter().cloned());
            let mut names: Vec<String> = cycle.iter().map(|m| show(m)).collect();
            names.push(show(start));
            let evidence: Vec<String> = cycle
                .iter()
                .enumerate()
                .map(|(k, from)| {
                    let to = &cycle[(k + 1) % cycle.len()];
                    let e = graph[from][to];
                    let file = e.file.strip_prefix(root).unwrap_or(&e.file);
                    format!(
                        "{} -> {} at {}:{}",
                        show(&e.from),
                        show(&e.to),
                        file.display(),
                        e.line
                    )
                })
                .collect();
            found.push(format!(
                "crate {}: {} ({})",
                krate.name,
                names.join(" -> "),
                evidence.join("; ")
            ));
        }
    }
    found
}

/// The shortest path from `start` back to itself, as the list of nodes it
/// passes (starting with `start`), if there is one.
fn shortest_cycle<V>(
    graph: &BTreeMap<ModPath, BTreeMap<ModPath, V>>,
    start: &ModPath,
) -> Option<Vec<ModPath>> {
    let mut prev: BTreeMap<ModPath, ModPath> = BTreeMap::new();
    let mut queue = VecDeque::from([start.clone()]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(&node).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                let mut cycle = vec![node.clone()];
                while cycle.last().unwrap() != start {
                    cycle.push(prev[cycle.last().unwrap()].clone());
                }
                cycle.reverse();
                return Some(cycle);
            }
            if !prev.contains_key(next) {
                prev.insert(next.clone(), node.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}
