//! Mutants at covered statements: a `panic` inserted before the first
//! statement of a block some test ran, or a changed return in such a block
//! (its first result `E` becomes `(E) + 1`, else `!(E)`; a mutant that does
//! not compile is dropped, as mutation testing tools do).

use covcore::testmap::{BlockId, TestMap};

/// One mutant: a whole new text of one file.
#[derive(Clone, Debug)]
pub struct Mutant {
    /// The file, relative to the module root.
    pub rel: String,
    /// 1-based line of the change.
    pub line: u32,
    pub kind: &'static str,
    pub text: String,
}

/// The blocks some test ran (not only the start-up), spread over the
/// files: one per file in turn, so that a few mutants reach every file.
pub fn candidates(map: &TestMap) -> anyhow::Result<Vec<BlockId>> {
    let mut by_file: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    let mut run = std::collections::BTreeSet::new();
    for t in &map.tests {
        run.extend(map.blocks(&t.coverage)?);
    }
    for (f, b) in run {
        by_file.entry(f).or_default().push(b);
    }
    // Round-robin over the files, each file's blocks from its middle
    // outwards (the first blocks are mostly set-up).
    let mut lists: Vec<Vec<BlockId>> = by_file
        .into_iter()
        .map(|(f, bs)| {
            let mid = bs.len() / 2;
            let mut order: Vec<u32> = Vec::new();
            for d in 0..bs.len() {
                for i in [mid + d, mid.wrapping_sub(d + 1)] {
                    if let Some(b) = bs.get(i) {
                        if !order.contains(b) {
                            order.push(*b);
                        }
                    }
                }
            }
            order.into_iter().map(|b| (f, b)).collect()
        })
        .collect();
    let mut out = Vec::new();
    while lists.iter().any(|l| !l.is_empty()) {
        for l in &mut lists {
            if !l.is_empty() {
                out.push(l.remove(0));
            }
        }
    }
    Ok(out)
}

/// Whether only block `b` of file `f` reaches `line`.
fn only_block_at(map: &TestMap, f: u32, b: u32, line: u32) -> bool {
    let file = &map.files[f as usize];
    (0..file.len()).all(|i| {
        let (pos, stmts) = file.block(i);
        let touches = pos.start_line <= line && line <= pos.end_line;
        i as u32 == b || stmts == 0 || !touches
    })
}

/// The mutants of one block of `src` (the file's text): a panic, then the
/// changed returns (to try in order until one compiles).
pub fn of_block(map: &TestMap, (f, b): BlockId, rel: &str, src: &str) -> Vec<Mutant> {
    let (pos, _) = map.files[f as usize].block(b as usize);
    let lines: Vec<&str> = src.split('\n').collect();
    let text = |l: u32| lines.get(l as usize - 1).copied().unwrap_or("");
    let mut out = Vec::new();
    // The first statement must begin a line: where the block starts (Go's
    // binary coverage starts blocks at their first statement), or, when
    // the block starts after a `{` ending its line, the next line of code.
    let start = text(pos.start_line);
    let at = (pos.start_col.saturating_sub(1) as usize).min(start.len());
    let (before, rest) = (
        start.get(..at).unwrap_or(""),
        start.get(at..).unwrap_or("").trim(),
    );
    let first = if before.trim().is_empty() {
        Some(pos.start_line)
    } else if rest.is_empty() || rest.starts_with("//") {
        (pos.start_line + 1..=pos.end_line).find(|&l| {
            let t = text(l).trim();
            !t.is_empty() && !t.starts_with("//")
        })
    } else {
        None
    };
    let Some(first) = first else { return out };
    let t = text(first).trim_start();
    if t.starts_with('}') || t.starts_with("case ") || t.starts_with("default:") {
        return out;
    }
    if !only_block_at(map, f, b, first) {
        return out;
    }
    let indent = &text(first)[..text(first).len() - t.len()];
    let with = |line: u32, new: &str, kind: &'static str| {
        let mut ls: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        ls[line as usize - 1] = new.to_string();
        Mutant {
            rel: rel.to_string(),
            line,
            kind,
            text: ls.join("\n"),
        }
    };
    out.push(with(
        first,
        &format!("{indent}panic(\"covtools mutant\")\n{}", text(first)),
        "panic",
    ));
    for l in first..=pos.end_line {
        let line = text(l);
        let Some(results) = line.trim_start().strip_prefix("return ") else {
            continue;
        };
        if !only_block_at(map, f, b, l) {
            continue;
        }
        let ind = &line[..line.len() - line.trim_start().len()];
        let (e, tail) = first_result(results);
        for changed in [format!("({e}) + 1"), format!("!({e})")] {
            out.push(with(l, &format!("{ind}return {changed}{tail}"), "return"));
        }
        break;
    }
    out
}

/// A return's first result and what follows it (`, nil`), split at the
/// first comma outside brackets and quotes.
fn first_result(results: &str) -> (&str, &str) {
    let (mut depth, mut quote) = (0i32, None::<char>);
    for (i, c) in results.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => return (&results[..i], &results[i..]),
            _ => {}
        }
    }
    (results.trim_end(), "")
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_results() {
        assert_eq!(super::first_result("f(a, b), nil"), ("f(a, b)", ", nil"));
        assert_eq!(super::first_result("\"a,b\""), ("\"a,b\"", ""));
        assert_eq!(
            super::first_result("p.Cents, 0, nil"),
            ("p.Cents", ", 0, nil")
        );
    }
}
