//! The settled timeline as a test map (covcore::testmap, documented in
//! docs/test-map.md): the block table from the last snapshot, then per
//! test and per shared bucket a bitmap per service and file.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use covcore::testmap::{self, BlockId, Bucket, MapFile, TestEntry, TestMap};

use super::recorder::{Delta, Timeline};

/// A block key of a text profile, `path:sl.sc,el.ec stmts`, as numbers.
fn parse_key(key: &str) -> Option<(&str, [u32; 5])> {
    let (path, rest) = key.rsplit_once(':')?;
    let (span, stmts) = rest.split_once(' ')?;
    let (start, end) = span.split_once(',')?;
    let (sl, sc) = start.split_once('.')?;
    let (el, ec) = end.split_once('.')?;
    let n = |s: &str| s.parse::<u32>().ok();
    Some((path, [n(sl)?, n(sc)?, n(el)?, n(ec)?, n(stmts)?]))
}

pub(super) fn build(t: &Timeline, mode: &str, services: &[String]) -> anyhow::Result<TestMap> {
    // Every block any service has, by file, in source order.
    let mut by_file: BTreeMap<&str, BTreeSet<[u32; 5]>> = BTreeMap::new();
    for (_, counts) in &t.last {
        for key in counts.keys() {
            let (path, b) = parse_key(key).with_context(|| format!("a snapshot block {key:?}"))?;
            by_file.entry(path).or_default().insert(b);
        }
    }
    let mut index: BTreeMap<String, BlockId> = BTreeMap::new();
    let mut files = Vec::with_capacity(by_file.len());
    for (fi, (path, blocks)) in by_file.iter().enumerate() {
        let mut flat = Vec::with_capacity(5 * blocks.len());
        for (bi, b) in blocks.iter().enumerate() {
            index.insert(
                format!("{path}:{}.{},{}.{} {}", b[0], b[1], b[2], b[3], b[4]),
                (fi as u32, bi as u32),
            );
            flat.extend_from_slice(b);
        }
        files.push(MapFile {
            path: path.to_string(),
            blocks: flat,
        });
    }
    let service_files = t
        .last
        .iter()
        .map(|(svc, counts)| {
            let mut fs: BTreeSet<u32> = BTreeSet::new();
            for key in counts.keys() {
                if let Some((fi, _)) = index.get(key) {
                    fs.insert(*fi);
                }
            }
            (svc.clone(), fs.into_iter().collect())
        })
        .collect();
    let coverage = |d: &Delta| -> anyhow::Result<testmap::Coverage> {
        let mut per: BTreeMap<String, BTreeSet<BlockId>> = BTreeMap::new();
        for (svc, blocks) in d {
            let set = per.entry(svc.clone()).or_default();
            for key in blocks.keys() {
                set.insert(
                    *index
                        .get(key)
                        .with_context(|| format!("block {key:?} is not in the last snapshot"))?,
                );
            }
        }
        Ok(testmap::encode(&per, &files))
    };
    let buckets = t
        .shared
        .iter()
        .map(|s| {
            Ok(Bucket {
                kind: s.kind.to_string(),
                tests: s.tests.clone(),
                coverage: coverage(&s.delta)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let tests = t
        .tests
        .iter()
        .map(|r| {
            Ok(TestEntry {
                name: r.name.clone(),
                result: r.result.clone(),
                // Microseconds are plenty.
                duration_ms: (r.duration.as_secs_f64() * 1e6).round() / 1e3,
                closed_by: r.closed_by.clone(),
                coverage: coverage(&r.delta)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(TestMap {
        kind: testmap::KIND.into(),
        version: testmap::VERSION,
        mode: mode.to_string(),
        services: services.to_vec(),
        files,
        service_files,
        buckets,
        tests,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn block_keys_parse_as_numbers() {
        assert_eq!(
            super::parse_key("example.com/a b/x.go:12.3,14.20 2"),
            Some(("example.com/a b/x.go", [12, 3, 14, 20, 2]))
        );
        assert_eq!(super::parse_key("x.go:1.2 3"), None);
    }
}
