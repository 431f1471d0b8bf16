//! `--format testwise`: the test map (covcore::testmap) as Teamscale's
//! testwise coverage JSON, for test impact analysis tools that read it:
//! per test its uniform path (the name), result, duration in seconds, and
//! per directory and file the lines it covered (`"1-4,7"`). Paths are
//! relative to `--src` when given, else the profile's. Only tests are
//! listed: the start-up and parallel groups own no single test.

use std::io::Write;

use covcore::gosrc::SourceRoot;
use covcore::testmap::TestMap;
use serde_json::{json, Value};

pub fn write(map: &TestMap, src: Option<&SourceRoot>, out: &mut dyn Write) -> anyhow::Result<()> {
    let shown: Vec<String> = map
        .files
        .iter()
        .map(|f| match src {
            Some(root) => root
                .resolve(&f.path)
                .ok()
                .and_then(|d| {
                    d.strip_prefix(&root.dir)
                        .ok()
                        .map(|p| p.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| f.path.clone()),
            None => f.path.clone(),
        })
        .collect();
    let mut tests = Vec::new();
    for t in &map.tests {
        let blocks = map.blocks(&t.coverage)?;
        // Directory -> [(file name, lines)].
        let mut dirs: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
        for (f, lines) in map.lines(&blocks) {
            let path = &shown[f as usize];
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            dirs.entry(dir.to_string()).or_default().push(json!({
                "fileName": name,
                "coveredLines": ranges(&lines),
            }));
        }
        let result = match t.result.as_str() {
            "passed" => "PASSED",
            "skipped" => "SKIPPED",
            "failed" => "FAILURE",
            _ => "ERROR",
        };
        tests.push(json!({
            "uniformPath": t.name,
            "duration": t.duration_ms / 1e3,
            "result": result,
            "paths": dirs.into_iter().map(|(path, files)| json!({"path": path, "files": files})).collect::<Vec<_>>(),
        }));
    }
    let doc = json!({ "partial": false, "tests": tests });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Ascending lines as `1-4,7`.
fn ranges(lines: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = lines[i];
        while i + 1 < lines.len() && lines[i + 1] == lines[i] + 1 {
            i += 1;
        }
        parts.push(if lines[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", lines[i])
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_ranges() {
        assert_eq!(super::ranges(&[1, 2, 3, 4, 7, 9, 10]), "1-4,7,9-10");
        assert_eq!(super::ranges(&[]), "");
    }
}
