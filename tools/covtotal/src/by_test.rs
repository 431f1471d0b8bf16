//! `covtotal --by test`: a table from the test map (covcore::testmap) next
//! to the profile: per test its result, the statements it covered and the
//! statements only it covered (no other test, nor the start-up, nor a
//! parallel group ran them), then the buckets no single test owns.
//! Statements count every block of the map, as covtotal without --src.

use std::path::{Path, PathBuf};

use anyhow::bail;
use covcore::testmap::{self, TestMap};
use covcore::total::Totals;

/// The map to read: `--test-map`, else `test-map.json` beside the one
/// input profile.
pub fn map_path(given: Option<&Path>, inputs: &[String]) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    match inputs {
        [one] if one != "-" => Ok(Path::new(one)
            .parent()
            .unwrap_or(Path::new("."))
            .join(testmap::FILE_NAME)),
        _ => bail!(
            "--by test: name the test map with --test-map FILE (or give one profile with {} beside it)",
            testmap::FILE_NAME
        ),
    }
}

pub fn table(map: &TestMap) -> anyhow::Result<Vec<u8>> {
    let owners = map.owners()?;
    let sets: Vec<_> = owners.iter().map(|o| o.blocks.clone()).collect();
    let only = testmap::only(&sets);
    let all = map.all_statements();
    let width = owners
        .iter()
        .map(|o| o.label.chars().count())
        .chain(["TEST".len(), "total".len()])
        .max()
        .unwrap_or(4);
    let mut out = String::new();
    let mut row = |name: &str, result: &str, covered: &str, only: &str, pct: &str| {
        out.push_str(&format!(
            "{name:<width$}  {result:<10}  {covered:>10}  {only:>10}  {pct:>7}\n"
        ));
    };
    row("TEST", "RESULT", "COVERED", "ONLY", "PERCENT");
    // Tests first, in the order they ran; then what no single test owns.
    let order = (0..owners.len())
        .filter(|&i| owners[i].test.is_some())
        .chain((0..owners.len()).filter(|&i| owners[i].test.is_none()));
    let mut union = std::collections::BTreeSet::new();
    let mut rows = Vec::new();
    for i in order {
        let o = &owners[i];
        let covered = map.statements(&o.blocks);
        union.extend(o.blocks.iter().copied());
        let t = Totals {
            covered,
            statements: all,
        };
        rows.push((
            o.label.clone(),
            o.result.clone(),
            covered,
            map.statements(&only[i]).to_string(),
            format!("{}%", t.percent_str()),
        ));
    }
    for (name, result, covered, only, pct) in rows {
        row(&name, &result, &covered.to_string(), &only, &pct);
    }
    let t = Totals {
        covered: map.statements(&union),
        statements: all,
    };
    row(
        "total",
        &format!("{} tests", map.tests.len()),
        &t.covered.to_string(),
        "",
        &format!("{}%", t.percent_str()),
    );
    Ok(out.into_bytes())
}
