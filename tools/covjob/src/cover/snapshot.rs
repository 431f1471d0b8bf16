//! One live snapshot round: every service at once (covtarget's flush and
//! fetch, one round trip each, on covcore's pool), each read like `go tool
//! covdata textfmt` (covcore::covdata): per service its meta-data and, per
//! process, the newest counter file. Phases and per-test coverage both
//! measure by differences of these rounds.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::settings::Settings;
use super::Started;

/// Block key (`file:l.c,l.c n`, as a text profile spells it) -> (statements,
/// count).
pub(super) type Counts = BTreeMap<String, (u64, u64)>;

/// Every service's counts, in `started` order; the files fetched are kept
/// under `dir/<service>` (`<service>.<replica>` for a replica).
pub(super) fn services(
    s: &Settings,
    started: &[Started],
    dir: &Path,
) -> anyhow::Result<Vec<(String, Counts)>> {
    let opts = covtarget::Options {
        cover_dir: None,
        port: Some(s.config.image.killswitch_port),
        timeout: Duration::from_secs(60),
    };
    covcore::pool::each(started, |st| -> anyhow::Result<(String, Counts)> {
        // Replicas of one service each get their own directory.
        let out = dir.join(st.label(started));
        fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let target = covtarget::Target::parse(&st.target, None)?;
        let fetched = covtarget::ops::fetch_snapshot(&target, &opts)
            .with_context(|| format!("a snapshot of service {}", st.name))?;
        if !fetched.binaries.iter().any(|b| b.kind.is_counters()) {
            bail!(
                "service {}: no counter file in {} after the snapshot",
                st.name,
                fetched.dir
            );
        }
        for b in &fetched.binaries {
            fs::write(out.join(&b.name), &b.data)
                .with_context(|| format!("writing {}", out.join(&b.name).display()))?;
        }
        Ok((st.name.clone(), read(&[out])?))
    })
    .into_iter()
    .collect()
}

/// The counts of every service together (a block several services run
/// adds their counts).
pub(super) fn merged(per_service: &[(String, Counts)]) -> Counts {
    let mut all = Counts::new();
    for (_, counts) in per_service {
        for (k, (stmts, c)) in counts {
            let e = all.entry(k.clone()).or_insert((*stmts, 0));
            e.1 = e.1.saturating_add(*c);
        }
    }
    all
}

/// The counts in cover directories.
fn read(dirs: &[PathBuf]) -> anyhow::Result<Counts> {
    let mut text = String::new();
    for pod in covcore::covdata::pods(dirs)? {
        text.push_str(&String::from_utf8_lossy(&pod.textfmt()?));
    }
    let mut counts = Counts::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("mode: "))
    {
        let parse = || -> Option<(String, u64, u64)> {
            let (block, count) = line.rsplit_once(' ')?;
            let (_, stmts) = block.rsplit_once(' ')?;
            Some((block.to_string(), stmts.parse().ok()?, count.parse().ok()?))
        };
        let (block, stmts, count) = parse().with_context(|| {
            format!(
                "reading the snapshot in {}: {line:?}",
                dirs.first()
                    .map_or(String::new(), |d| d.display().to_string())
            )
        })?;
        let e = counts.entry(block).or_insert((stmts, 0));
        e.1 = e.1.saturating_add(count);
    }
    Ok(counts)
}
