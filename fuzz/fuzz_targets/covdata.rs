//! Reads a Go meta-data file and up to three counter files as covmerge
//! reads a GOCOVERDIR, and checks: no panic, no unbounded allocation
//! (libFuzzer's RSS limit), and whatever is accepted is a text profile
//! covmerge's parser reads line for line, whose merge (when it merges) is
//! stable.
//!
//! Input: one byte of flags, then length-prefixed files (a u32
//! little-endian length, the bytes): the meta-data file first, then the
//! counter files. Flags: bit 0 fixes the meta-data header's total length
//! and each counter file's meta-data hash to agree with the meta-data file,
//! so that mutations reach past those two checks (the seeds are real files,
//! `fuzz/seeds/covdata`, made by `go build -cover` programs).
#![no_main]

use std::sync::Arc;

use covcore::input::Input;
use covcore::merge::{self, Options};
use covcore::profile::{Mode, Pos, Visitor};
use libfuzzer_sys::fuzz_target;

/// Splits the length-prefixed files; a short last file takes what is left.
fn files(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while data.len() >= 4 && out.len() < 4 {
        let len = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
        let rest = &data[4..];
        let len = len.min(rest.len());
        out.push(rest[..len].to_vec());
        data = &rest[len..];
    }
    out
}

/// The header fields that bind the files together, made to agree.
fn fix_up(files: &mut [Vec<u8>]) {
    let Some((meta, counters)) = files.split_first_mut() else {
        return;
    };
    if meta.len() >= 40 {
        let len = meta.len() as u64;
        meta[8..16].copy_from_slice(&len.to_le_bytes());
        let hash: [u8; 16] = meta[24..40].try_into().unwrap();
        for c in counters.iter_mut().filter(|c| c.len() >= 24) {
            c[8..24].copy_from_slice(&hash);
        }
    }
}

/// Counts the blocks the parser reads.
struct Blocks(u64);

impl Visitor for Blocks {
    fn mode(&mut self, _: Mode, _: u64) -> anyhow::Result<()> {
        Ok(())
    }
    fn block(&mut self, _: &[u8], _: Pos, _: u32, _: u32, _: u64) -> anyhow::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

fn merged_bytes(text: &[u8]) -> anyhow::Result<Vec<u8>> {
    let input = Input::Memory("textfmt".into(), Arc::from(text));
    let merged = merge::merge(&[input], &Options::default())?;
    let mut out = Vec::new();
    merged.write(&mut out)?;
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut files = files(rest);
    if files.is_empty() {
        return;
    }
    if flags & 1 != 0 {
        fix_up(&mut files);
    }
    let counters: Vec<&[u8]> = files[1..].iter().map(Vec::as_slice).collect();
    let Ok(text) = covcore::covdata::textfmt_of(&files[0], &counters) else {
        return;
    };
    // Every line is one covmerge's parser reads, one block per unit.
    let mut blocks = Blocks(0);
    covcore::profile::parse("textfmt", &text[..], &mut blocks)
        .unwrap_or_else(|e| panic!("the textfmt of an accepted pod is no profile: {e:#}"));
    let lines = text.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(blocks.0 + 1, lines, "a line per unit after the mode line");
    // Units of one position with two statement counts do not merge (the
    // merge names them); whatever merges is stable.
    if let Ok(once) = merged_bytes(&text) {
        let again = merged_bytes(&once)
            .unwrap_or_else(|e| panic!("covmerge refused its own output: {e:#}"));
        assert_eq!(again, once, "merging the output again changed it");
    }
});
