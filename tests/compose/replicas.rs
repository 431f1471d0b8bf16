//! A compose service scaled to 2: both replicas collected and merged.

use covcore::exit_codes::ExitStatus;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use covjob::cover::Report;

use crate::util::compose_run::Stack;
use crate::util::profile_text::{block_lines, parse_block, Key};

/// Block -> count of a text profile.
fn counts(profile: &Path) -> BTreeMap<Key, u64> {
    let text = fs::read_to_string(profile).unwrap();
    let mut out = BTreeMap::new();
    for line in block_lines(&text) {
        let (key, _, count) = parse_block(line);
        *out.entry(key).or_insert(0) += count;
    }
    out
}

/// Each replica's own profile (covmerge of its cover directory as covpull
/// fetched it), and the run's merged one.
fn replica_profiles(stack: &Stack, r: &Report, out: &str) -> Vec<BTreeMap<Key, u64>> {
    let profiles = stack.dir.path(out).join("profiles");
    let mut dirs: Vec<_> = fs::read_dir(&profiles)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 2, "{dirs:?} in {}: {r:#?}", profiles.display());
    dirs.iter()
        .enumerate()
        .map(|(i, d)| {
            let one = stack.dir.path(format!("{out}/replica-{i}.cov"));
            stack.dir.merge_into([d], &one);
            counts(&one)
        })
        .collect()
}

fn assert_two_replicas_summed(stack: &Stack, r: &Report, out: &str) {
    assert_eq!(r.code, ExitStatus::Success, "{r:#?}");
    assert!(r.teardown_problems.is_empty(), "{:?}", r.teardown_problems);
    assert_eq!(r.profiles.get("kvstore"), Some(&2), "{:?}", r.profiles);
    let replicas = replica_profiles(stack, r, out);
    let merged = counts(r.merged.as_ref().unwrap());
    // Both replicas started (main ran in each), and every block's count is
    // the sum of theirs.
    for (i, rep) in replicas.iter().enumerate() {
        let ran = rep
            .iter()
            .filter(|(k, c)| k.0.ends_with(b"cmd/kvstore/main.go") && **c > 0)
            .count();
        assert!(ran > 0, "replica {i} ran nothing of main.go");
    }
    assert_eq!(merged.len(), replicas[0].len());
    for (k, c) in &merged {
        assert_eq!(
            *c,
            replicas[0][k] + replicas[1][k],
            "{}",
            String::from_utf8_lossy(&k.0)
        );
    }
    assert!(
        merged.values().any(|c| *c >= 2),
        "no block ran in both replicas"
    );
    // One cover volume per replica, both gone with everything else.
    assert!(r.compose_volumes.len() >= 2, "{:?}", r.compose_volumes);
    stack.assert_nothing_left(r);
}

/// `deploy.replicas: 2` in a second compose file (two files, as -f takes
/// them), then `replicas = 2` in the service's configuration (`--scale`).
#[test]
fn two_replicas_are_both_collected_and_their_counts_summed() {
    let Some(stack) = Stack::new("replicas", "kvstore", true) else {
        return;
    };
    stack.write(
        "replicas.yaml",
        "services:\n  kvstore:\n    deploy:\n      replicas: 2\n",
    );
    let r = stack.run(
        "file",
        &[
            "--set",
            r#"run.compose_file=["compose.yaml", "replicas.yaml"]"#,
        ],
    );
    assert_two_replicas_summed(&stack, &r, "file");

    let r = stack.run("scale", &["--set", "service.kvstore.replicas=2"]);
    assert!(
        r.compose
            .as_deref()
            .is_some_and(|c| c.ends_with("--scale kvstore=2")),
        "{:?}",
        r.compose
    );
    assert_two_replicas_summed(&stack, &r, "scale");
}
