//! Coverage per test (`covtools cover --per-test`): the test map of the
//! shop's and notify's `go test` suites and of drivers in other languages
//! (a shell script with curl, a Python driver that crashes mid-test), its
//! invariants against the merged profile, `covtotal --by test`, covreport's
//! HTML view and testwise export, and covselect on real git diffs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use covcore::testmap::{BlockId, TestMap};

mod drivers;
mod select;
mod suites;

/// `covtools cover --per-test` of `module` as local processes with the
/// test command `cmd`, results in `dir/out` (with the reports, or none).
pub(crate) fn local_run(
    dir: &crate::util::Dir,
    module: &Path,
    reports: bool,
    cmd: &[&str],
) -> covjob::cover::Report {
    local_run_as(dir, module, "--per-test", reports, cmd)
}

/// `local_run` with the per-test flag `flag` (`--per-test=subtests`).
pub(crate) fn local_run_as(
    dir: &crate::util::Dir,
    module: &Path,
    flag: &str,
    reports: bool,
    cmd: &[&str],
) -> covjob::cover::Report {
    let module = module.to_string_lossy();
    let mut args = vec!["--module", &module, "--runtime", "local", flag];
    if !reports {
        args.extend(["--reports", "none"]);
    }
    args.push("--");
    args.extend(cmd);
    crate::util::cover::cover_run(dir, "out", None, &args)
}

/// `path:sl.sc,el.ec` of a map block.
pub(crate) fn key(map: &TestMap, (f, b): BlockId) -> String {
    let (p, _) = map.files[f as usize].block(b as usize);
    format!(
        "{}:{}.{},{}.{}",
        map.files[f as usize].path, p.start_line, p.start_col, p.end_line, p.end_col
    )
}

/// Every block of a text profile and the covered ones, as `path:sl.sc,el.ec`.
pub(crate) fn profile_blocks(profile: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let text = fs::read_to_string(profile).unwrap();
    let mut all = BTreeSet::new();
    let mut covered = BTreeSet::new();
    for l in text.lines().skip(1) {
        let mut w = l.rsplitn(3, ' ');
        let (count, _stmts, block) = (w.next().unwrap(), w.next().unwrap(), w.next().unwrap());
        all.insert(block.to_string());
        if count != "0" {
            covered.insert(block.to_string());
        }
    }
    (all, covered)
}

/// Per owner (a test by name, `(start-up)`, …) its blocks as keys.
pub(crate) fn owner_keys(map: &TestMap) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in map.owners().unwrap() {
        out.entry(o.label)
            .or_default()
            .extend(o.blocks.iter().map(|b| key(map, *b)));
    }
    out
}

/// The map of a run in `out`, checked against its merged profile: the same
/// blocks; each test's blocks are covered blocks of the merged profile; and
/// the start-up, the buckets and the tests together cover exactly what the
/// merged profile covers.
pub(crate) fn checked_map(out: &Path) -> TestMap {
    let map = TestMap::read(&out.join("test-map.json")).unwrap();
    let (all, covered) = profile_blocks(&out.join("merged.cov"));
    let in_map: BTreeSet<String> = map
        .files
        .iter()
        .enumerate()
        .flat_map(|(f, file)| (0..file.len()).map(move |b| (f as u32, b as u32)))
        .map(|b| key(&map, b))
        .collect();
    assert_eq!(in_map, all, "the map's blocks are the merged profile's");
    let owners = owner_keys(&map);
    let mut union = BTreeSet::new();
    for (name, blocks) in &owners {
        let outside: Vec<&String> = blocks.difference(&covered).collect();
        assert!(
            outside.is_empty(),
            "{name} ran blocks merged.cov does not cover: {outside:?}"
        );
        union.extend(blocks.iter().cloned());
    }
    assert!(owners.contains_key("(start-up)"));
    // Each service's bits fall in the files its binary holds.
    assert_eq!(map.service_files.keys().collect::<Vec<_>>(), {
        let mut s: Vec<&String> = map.services.iter().collect();
        s.sort();
        s
    });
    for t in &map.tests {
        for (svc, files) in &t.coverage {
            for f in files.keys() {
                let f: u32 = f.parse().unwrap();
                assert!(
                    map.service_files[svc].contains(&f),
                    "{}: {svc} file {f}",
                    t.name
                );
            }
        }
    }
    assert_eq!(
        union, covered,
        "start-up ∪ tests ≠ the merged profile's covered blocks"
    );
    map
}

/// Each test's name and result, in the order they ran.
pub(crate) fn results(map: &TestMap) -> Vec<(&str, &str)> {
    map.tests
        .iter()
        .map(|t| (t.name.as_str(), t.result.as_str()))
        .collect()
}

/// The blocks whose line range holds `line` of a file ending in `file`.
pub(crate) fn at_line(blocks: &BTreeSet<String>, file: &str, line: u32) -> bool {
    blocks.iter().any(|k| {
        let (path, span) = k.rsplit_once(':').unwrap();
        let (a, b) = span.split_once(',').unwrap();
        let l = |s: &str| s.split_once('.').unwrap().0.parse::<u32>().unwrap();
        path.ends_with(file) && l(a) <= line && line <= l(b)
    })
}

/// The 1-based line of the first line of `src` holding `needle`.
pub(crate) fn line_of(src: &str, needle: &str) -> u32 {
    src.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the source")) as u32
        + 1
}

/// The Python reader of docs/test-map.md, run on the map in `out`: per
/// test, the blocks it yields are the ones covcore reads.
pub(crate) fn documented_reader_agrees(out: &Path, map: &TestMap) {
    let doc = fs::read_to_string(crate::util::project_root().join("docs/test-map.md")).unwrap();
    let code = doc
        .split("```python\n")
        .nth(1)
        .and_then(|c| c.split("```").next())
        .expect("the Python reader in docs/test-map.md");
    let script = format!(
        "{code}\nprint(json.dumps([sorted({{(fi, i) for _, fi, i in blocks(t[\"coverage\"])}}) for t in m[\"tests\"]]))\n"
    );
    let run = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let read: Vec<Vec<(u32, u32)>> = serde_json::from_slice(&run.stdout).unwrap();
    let want: Vec<Vec<(u32, u32)>> = map
        .tests
        .iter()
        .map(|t| map.blocks(&t.coverage).unwrap().into_iter().collect())
        .collect();
    assert_eq!(read, want);
}
