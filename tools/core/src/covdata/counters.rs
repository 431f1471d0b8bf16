//! The counter data file `covcounters.<hash>.<pid>.<nanotime>` (Go's
//! `internal/coverage/decodecounter`): the counters of one process, or of
//! one snapshot of it.
//!
//! Layout: header (32 bytes, little-endian: magic `\0cwm`, version u32,
//! meta-data hash [16], flavour u8 (1 raw, 2 ULEB128), big-endian flag u8,
//! 6 bytes padding); then segments, each a header (function entries u64,
//! string table length u32, arguments length u32), the string table, the
//! arguments (os.Args, GOOS, GOARCH), padding to a multiple of 4 bytes from
//! the file's start, the function entries, and a footer (magic, padding,
//! segment count u32, padding: 16 bytes) which is also the file's last 16
//! bytes. Each function entry is: counter count, package index, function
//! index, the counters — every value a u32 in the file's flavour: raw
//! (little- or big-endian as the flag says) or ULEB128. Only the header,
//! segment header and footer are always little-endian.
//!
//! Like `go tool covdata`, only the first segment is read (nothing in Go
//! writes more than one).

use super::bytes::{hex, Cursor, Result};
use super::meta::Meta;
use crate::profile::Mode;

pub(crate) const MAGIC: [u8; 4] = *b"\0cwm";
/// The one counter file version Go has written (Go 1.20 to 1.27).
pub(crate) const VERSION: u32 = 1;
const HEADER: usize = 32;
const FOOTER: usize = 16;
const RAW: u8 = 1;
const ULEB128: u8 = 2;

/// Adds one counter file's counters into `counts` (one per unit of `meta`),
/// as `go tool covdata` merges them: set mode ORs (any non-zero is 1),
/// count and atomic add, saturating at 2^32-1. `meta` is the meta-data file
/// the counter file's name pairs it with.
pub fn add(data: &[u8], meta: &Meta, counts: &mut [u32]) -> Result<()> {
    let mut c = Cursor::new(data);
    let magic = c.bytes(4, "the magic number")?;
    if magic != MAGIC {
        return Err(format!(
            "not a Go coverage counter file (magic {magic:02x?}, expected {MAGIC:02x?})"
        ));
    }
    let version = c.u32("the version")?;
    if version != VERSION {
        return Err(format!(
            "unknown counter file version {version} (covtools reads version {VERSION}, written by Go 1.20 to 1.27)"
        ));
    }
    let hash = c.hash("the meta-data hash")?;
    if hash != meta.hash {
        return Err(format!(
            "holds counters for meta-data hash {}, which matches no meta-data file (its name pairs it with covmeta.{})",
            hex(&hash),
            meta.hash_hex()
        ));
    }
    let flavour = c.u8("the counter flavour")?;
    let big_endian = c.u8("the endianness flag")? != 0;
    if flavour != RAW && flavour != ULEB128 {
        return Err(format!(
            "unknown counter flavour {flavour} (expected {RAW} raw or {ULEB128} ULEB128)"
        ));
    }
    if data.len() < HEADER + FOOTER {
        return Err(format!(
            "truncated: {} bytes, shorter than a header and a footer",
            data.len()
        ));
    }
    let mut footer = Cursor::at(data, data.len() - FOOTER)?;
    if footer.bytes(4, "the footer magic")? != MAGIC {
        return Err("truncated or corrupt: no footer at the end of the file".into());
    }
    footer.bytes(4, "the footer padding")?;
    if footer.u32("the segment count")? == 0 {
        return Err("corrupt: the footer says no segments".into());
    }
    let mut c = Cursor::at(data, HEADER)?;
    let entries = c.u64("the function entry count")?;
    let strtab_len = c.u32("the string table length")?;
    let args_len = c.u32("the arguments length")?;
    let strtab = c.bytes(strtab_len as usize, "the string table")?;
    Cursor::new(strtab).skip_string_table("the string table")?;
    c.bytes(args_len as usize, "the arguments")?;
    let pad = (4 - c.pos() % 4) % 4;
    c.bytes(pad, "the padding after the arguments")?;
    // Each entry is at least three values of a byte each.
    if entries > (c.remaining() / 3) as u64 {
        return Err(format!(
            "truncated or corrupt: {entries} function entries do not fit in the {} bytes left",
            c.remaining()
        ));
    }
    match (flavour, big_endian) {
        (ULEB128, _) => read_entries(&mut c, entries, meta, counts, |c| c.uleb32_fast()),
        (_, false) => read_entries(&mut c, entries, meta, counts, |c| c.u32_fast()),
        (_, true) => read_entries(&mut c, entries, meta, counts, |c| c.u32_be_fast()),
    }
}

#[inline(always)]
fn read_entries(
    c: &mut Cursor,
    entries: u64,
    meta: &Meta,
    counts: &mut [u32],
    value: impl Fn(&mut Cursor) -> Option<u32>,
) -> Result<()> {
    let set = meta.mode == Mode::Set;
    let truncated = |c: &Cursor, e: u64| {
        format!(
            "truncated: function entry {e} of {entries} runs past the end at offset {}",
            c.pos()
        )
    };
    for e in 0..entries {
        let (Some(n), Some(pkg), Some(func)) = (value(c), value(c), value(c)) else {
            return Err(truncated(c, e));
        };
        let Some(p) = meta.packages.get(pkg as usize) else {
            return Err(format!(
                "corrupt: entry {e} is for package {pkg}, the meta-data file has {}",
                meta.packages.len()
            ));
        };
        let Some(f) = p.funcs.get(func as usize) else {
            return Err(format!(
                "corrupt: entry {e} is for function {func} of package {}, which has {}",
                p.shown(),
                p.funcs.len()
            ));
        };
        if n as usize != f.units.len() {
            return Err(format!(
                "corrupt: entry {e} (function {func} of package {}) has {n} counters, its meta-data {} units",
                p.shown(),
                f.units.len()
            ));
        }
        let slots = &mut counts[f.units.clone()];
        if set {
            for slot in slots {
                let v = value(c).ok_or_else(|| truncated(c, e))?;
                *slot = u32::from(*slot != 0 || v != 0);
            }
        } else {
            for slot in slots {
                let v = value(c).ok_or_else(|| truncated(c, e))?;
                *slot = slot.saturating_add(v);
            }
        }
    }
    Ok(())
}
