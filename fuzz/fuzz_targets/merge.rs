//! Merges 1–4 profiles under random flags and checks the merge laws:
//! no panic, merging the output again gives the same bytes, and the input
//! order does not matter (both orders succeed with the same bytes, or both
//! fail). Paths are whatever bytes the fuzzer writes.
//!
//! Input: one byte of flags, then the profiles separated by the line `--`.
//! Flags: bits 0–1 the --mode (none, set, count, atomic), bit 2
//! --keep-overlaps, bit 3 an --exclude '*_test.go' filter.
#![no_main]

mod profiles;

use covcore::merge::{self, Merged, Options, PathFilter};
use covcore::profile::Mode;
use libfuzzer_sys::fuzz_target;
use profiles::{inputs, split};

fn options(flags: u8) -> Options {
    let exclude: Vec<String> = if flags & 8 != 0 {
        vec!["*_test.go".into()]
    } else {
        Vec::new()
    };
    Options {
        mode: [None, Some(Mode::Set), Some(Mode::Count), Some(Mode::Atomic)][(flags & 3) as usize],
        keep_overlaps: flags & 4 != 0,
        filter: PathFilter::new(&[], &exclude).expect("a valid pattern"),
        threads: 1,
    }
}

fn bytes(m: &Merged) -> Vec<u8> {
    let mut out = Vec::new();
    m.write(&mut out).expect("writing to memory");
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let profiles = split(rest);
    if profiles.len() > 4 {
        return;
    }
    let opts = options(flags);
    let forward = merge::merge(&inputs(&profiles), &opts);
    let reversed: Vec<&[u8]> = profiles.iter().rev().copied().collect();
    let backward = merge::merge(&inputs(&reversed), &opts);
    match (&forward, &backward) {
        (Ok(a), Ok(b)) => assert_eq!(bytes(a), bytes(b), "input order changed the result"),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "one order merged, the other failed: {:?} / {:?}",
            forward.as_ref().err(),
            backward.as_ref().err()
        ),
    }
    if let Ok(merged) = forward {
        let once = bytes(&merged);
        let again = merge::merge(&inputs(&[&once]), &opts)
            .unwrap_or_else(|e| panic!("covmerge refused its own output: {e:#}"));
        assert_eq!(bytes(&again), once, "merging the output again changed it");
    }
});
