//! `cargo xtask bench --per-test`: what coverage per test costs, beside the
//! plain run in the same bench. The shop (three services, local processes,
//! the cover kind in atomic mode) runs its e2e `go test` suite twice with
//! the release `covtools`: plainly (`go test ./e2e` once), then per test.
//! Reported: the snapshot round at each boundary (one round of all three
//! services: the cost a driver pays per start or end; target ≤ 30 ms per
//! test), the tests' wall time both ways (per test, the `go test` runner
//! also starts one `go test` per test), and the test map's size per test:
//! its bitmaps in bits per block per test before base64 and JSON (target
//! ≤ 1) and the JSON bytes per test.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{ensure, Context};
use covcore::process::process;
use covcore::testmap::TestMap;

use crate::util;

/// One covtools run's summary (stdout).
fn cover(root: &Path, out: &Path, per_test: bool) -> anyhow::Result<String> {
    let mut cmd = process(root.join("target/release/covtools"));
    cmd.args(["cover", "--module"])
        .arg(util::example_dir())
        .arg("--out")
        .arg(out)
        .arg("--work")
        .arg(out.with_extension("work"))
        .args([
            "--runtime",
            "local",
            "--build-kind",
            "cover",
            "--cover-mode",
            "atomic",
            "--reports",
            "none",
            "--progress",
            "plain",
        ]);
    if per_test {
        cmd.arg("--per-test");
    }
    cmd.args(["--", "go", "test", "-count=1", "./e2e"]);
    let run = cmd.output_unchecked()?;
    let summary = String::from_utf8_lossy(&run.stdout).into_owned();
    ensure!(run.status.success(), "covtools cover failed:\n{summary}");
    Ok(summary)
}

/// A step's seconds from the summary's `time:` line.
fn step(summary: &str, name: &str) -> f64 {
    summary
        .lines()
        .find_map(|l| l.strip_prefix("time:"))
        .and_then(|l| {
            l.split(", ")
                .find_map(|s| s.trim().strip_prefix(&format!("{name} ")))
        })
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .unwrap_or(f64::NAN)
}

pub fn run(runs: usize, root: &Path) -> anyhow::Result<ExitCode> {
    let base = root.join("target/covtools/bench-per-test");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut rows = Vec::new();
    for i in 0..runs {
        let plain = cover(root, &base.join(format!("plain-{i}")), false)?;
        let dir = base.join(format!("per-test-{i}"));
        let per = cover(root, &dir, true)?;
        let rounds = per
            .lines()
            .find(|l| l.starts_with("per test:") && l.contains("snapshot rounds"))
            .context("no per-test line in the summary")?
            .to_string();
        let map_path = dir.join(covcore::testmap::FILE_NAME);
        let map = TestMap::read(&map_path)?;
        let tests = map.tests.len().max(1);
        let blocks = map.all_blocks().max(1);
        let service_blocks = map.service_blocks().max(1);
        // The bitmaps' bytes as stored, before base64.
        let mut bits = 0usize;
        for t in &map.tests {
            for bitmap in t.coverage.values().flat_map(|files| files.values()) {
                bits += 8 * covcore::testmap::unbase64(bitmap)?.len();
            }
        }
        let json_per_test: usize = map
            .tests
            .iter()
            .map(|t| serde_json::to_string(t).map_or(0, |s| s.len()))
            .sum::<usize>()
            / tests;
        rows.push(format!(
            "run {i}: plain tests {:.1}s | per test: tests {:.1}s, {} | map {} bytes, {tests} tests, {blocks} blocks ({service_blocks} counted per service): bitmaps {:.2} bits per block per test ({:.2} per service block) before base64 and JSON, {json_per_test} JSON bytes per test ({:.2} bits per block)",
            step(&plain, "tests"),
            step(&per, "tests"),
            rounds.trim_start_matches("per test:").trim(),
            std::fs::metadata(&map_path)?.len(),
            bits as f64 / (tests * blocks) as f64,
            bits as f64 / (tests * service_blocks) as f64,
            8.0 * json_per_test as f64 / blocks as f64,
        ));
    }
    println!("bench --per-test: the shop, 3 services as local processes, release covtools; load average {}", load.trim());
    for r in rows {
        println!("{r}");
    }
    println!("targets: a snapshot round of 3 services <= 30 ms per test; <= 1 bit per block per test before compression");
    Ok(ExitCode::SUCCESS)
}
