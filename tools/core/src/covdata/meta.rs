//! The meta-data file `covmeta.<hash>` (Go's `internal/coverage/decodemeta`):
//! which packages, functions and coverable units (blocks) a binary has.
//!
//! Layout, all little-endian:
//! - file header (56 bytes): magic `\0cvm`, version u32, total length u64,
//!   package count u64, file hash [16], string table offset and length u32,
//!   counter mode u8, granularity u8, 6 bytes padding;
//! - a u64 offset, then a u64 length, per package; the file's string table;
//! - per package, at its offset, a blob: header (44 bytes: length u32,
//!   package name, path and module path as string indexes u32, package hash
//!   [16], 4 bytes unused, file count u32, function count u32), one u32
//!   offset per function (from the blob's start), the blob's string table,
//!   then per function ULEB128s: unit count, name, file, five per unit
//!   (start line, start column, end line, end column, statements), and a
//!   literal flag.

use super::bytes::{hex, Cursor, Result};
use crate::profile::{Mode, Pos};

pub(crate) const MAGIC: [u8; 4] = *b"\0cvm";
/// The one meta-data file version Go has written (Go 1.20 to 1.27).
pub(crate) const VERSION: u32 = 1;
const FILE_HEADER: usize = 56;
const PACKAGE_HEADER: usize = 44;
const GRANULARITY_PER_BLOCK: u8 = 1;

/// A decoded meta-data file.
#[derive(Debug)]
pub struct Meta {
    pub mode: Mode,
    /// The hash in the header (also the one in the file's name).
    pub hash: [u8; 16],
    pub packages: Vec<Package>,
    /// Every function's units, one after the other in meta-data order
    /// (also the order of the summed counters).
    pub units: Vec<Unit>,
}

#[derive(Debug)]
pub struct Package {
    /// The import path.
    pub path: Vec<u8>,
    /// The hash of the package's blob: equal blobs, equal hashes.
    pub hash: [u8; 16],
    /// The package's string table.
    pub strings: Vec<Vec<u8>>,
    pub funcs: Vec<Func>,
}

#[derive(Debug)]
pub struct Func {
    /// The source file as profiles name it (`import/path/file.go`): an
    /// index into the package's strings.
    pub file: u32,
    /// Its units in [`Meta::units`].
    pub units: std::ops::Range<usize>,
}

impl Package {
    pub fn file(&self, f: &Func) -> &[u8] {
        &self.strings[f.file as usize]
    }

    /// The import path for messages.
    pub fn shown(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.path)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Unit {
    pub pos: Pos,
    pub stmts: u32,
}

impl Meta {
    /// Decodes a whole meta-data file. Errors say what is wrong, without
    /// the file name.
    pub fn decode(data: &[u8]) -> Result<Meta> {
        let mut c = Cursor::new(data);
        let magic = c.bytes(4, "the magic number")?;
        if magic != MAGIC {
            return Err(format!(
                "not a Go coverage meta-data file (magic {magic:02x?}, expected {MAGIC:02x?})"
            ));
        }
        let version = c.u32("the version")?;
        if version != VERSION {
            return Err(format!(
                "unknown meta-data file version {version} (covtools reads version {VERSION}, written by Go 1.20 to 1.27)"
            ));
        }
        let total = c.u64("the total length")?;
        if total != data.len() as u64 {
            return Err(format!(
                "truncated or corrupt: the header says {total} bytes, the file has {}",
                data.len()
            ));
        }
        let entries = c.u64("the package count")?;
        let hash = c.hash("the file hash")?;
        let _strtab_offset = c.u32("the string table offset")?;
        let strtab_len = c.u32("the string table length")?;
        let mode = match c.u8("the counter mode")? {
            1 => Mode::Set,
            2 => Mode::Count,
            3 => Mode::Atomic,
            m => {
                return Err(format!(
                    "unsupported counter mode {m} (expected 1 set, 2 count or 3 atomic)"
                ))
            }
        };
        let gran = c.u8("the granularity")?;
        if gran != GRANULARITY_PER_BLOCK {
            return Err(format!(
                "unsupported counter granularity {gran} (expected {GRANULARITY_PER_BLOCK}, per block)"
            ));
        }
        c.bytes(6, "the header padding")?;
        debug_assert_eq!(c.pos(), FILE_HEADER);
        if entries > (data.len() / 16) as u64 {
            return Err(format!(
                "corrupt: {entries} packages in a file of {} bytes",
                data.len()
            ));
        }
        let n = entries as usize;
        let offsets = (0..n)
            .map(|_| c.u64("a package offset"))
            .collect::<Result<Vec<_>>>()?;
        let lengths = (0..n)
            .map(|_| c.u64("a package length"))
            .collect::<Result<Vec<_>>>()?;
        // Go reads the file's string table here and uses it for nothing
        // textfmt needs; checking it is there is enough.
        c.bytes(strtab_len as usize, "the file's string table")?;
        let mut units = Vec::new();
        let packages = offsets
            .iter()
            .zip(&lengths)
            .enumerate()
            .map(|(i, (&off, &len))| {
                let end = off.checked_add(len).filter(|&e| e <= data.len() as u64);
                let Some(end) = end else {
                    return Err(format!(
                        "corrupt: package {i} at offset {off}, {len} bytes, runs past the end ({} bytes)",
                        data.len()
                    ));
                };
                Package::decode(&data[off as usize..end as usize], &mut units)
                    .map_err(|e| format!("package {i} (at offset {off}): {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Meta {
            mode,
            hash,
            packages,
            units,
        })
    }

    pub fn hash_hex(&self) -> String {
        hex(&self.hash)
    }
}

impl Package {
    fn decode(blob: &[u8], units: &mut Vec<Unit>) -> Result<Package> {
        let mut c = Cursor::new(blob);
        let length = c.u32("the package length")?;
        let name_idx = c.u32("the package name")?;
        let path_idx = c.u32("the package path")?;
        let _module_idx = c.u32("the module path")?;
        let hash = c.hash("the package hash")?;
        c.bytes(4, "the package header padding")?;
        let _files = c.u32("the file count")?;
        let nfuncs = c.u32("the function count")?;
        debug_assert_eq!(c.pos(), PACKAGE_HEADER);
        let strtab_at = PACKAGE_HEADER as u64 + 4 * u64::from(nfuncs);
        if strtab_at > blob.len() as u64 {
            return Err(format!(
                "truncated: {nfuncs} function offsets do not fit in {} bytes",
                blob.len()
            ));
        }
        let strings = Cursor::at(blob, strtab_at as usize)?.string_table("the string table")?;
        let get = |idx: u32, what: &str| -> Result<&Vec<u8>> {
            strings.get(idx as usize).ok_or_else(|| {
                format!(
                    "corrupt: {what} is string {idx}, the table has {}",
                    strings.len()
                )
            })
        };
        let path = get(path_idx, "the package path")?.clone();
        let shown = String::from_utf8_lossy(&path).into_owned();
        get(name_idx, "the package name")?;
        let mut funcs = Vec::with_capacity(nfuncs as usize);
        for f in 0..nfuncs {
            let at = PACKAGE_HEADER + 4 * f as usize;
            let off = Cursor::at(blob, at)?.u32("a function offset")?;
            // Go's ReadFunc: an offset before its own slot, or past the
            // blob's declared length, is malformed.
            if (off as usize) < at || off > length {
                return Err(format!(
                    "package {shown}: malformed offset {off} of function {f}"
                ));
            }
            let mut fc = Cursor::at(blob, off as usize)
                .map_err(|e| format!("package {shown}: function {f}: {e}"))?;
            funcs.push(
                Func::decode(&mut fc, &get, units)
                    .map_err(|e| format!("package {shown}: function {f}: {e}"))?,
            );
        }
        Ok(Package {
            path,
            hash,
            strings,
            funcs,
        })
    }
}

impl Func {
    fn decode<'s>(
        c: &mut Cursor,
        get: &dyn Fn(u32, &str) -> Result<&'s Vec<u8>>,
        units: &mut Vec<Unit>,
    ) -> Result<Func> {
        let nunits = c.uleb32("the unit count")?;
        let name_idx = c.uleb32("the function name")?;
        let file_idx = c.uleb32("the file name")?;
        get(name_idx, "the function name")?;
        let file = get(file_idx, "the file name")?;
        // Kept byte for byte, except what no text profile line can hold.
        if file.is_empty() || file.contains(&b'\n') {
            return Err(format!(
                "corrupt: the file name {:?} is empty or holds a newline, which no profile can carry",
                String::from_utf8_lossy(file)
            ));
        }
        // Five numbers a unit, at least a byte each.
        if u64::from(nunits) * 5 > (c.remaining()) as u64 {
            return Err(format!("truncated: {nunits} units do not fit"));
        }
        let first = units.len();
        for _ in 0..nunits {
            let start_line = c.uleb32("a unit's start line")?;
            let start_col = c.uleb32("a unit's start column")?;
            let end_line = c.uleb32("a unit's end line")?;
            let end_col = c.uleb32("a unit's end column")?;
            let stmts = c.uleb32("a unit's statement count")?;
            units.push(Unit {
                pos: Pos {
                    start_line,
                    start_col,
                    end_line,
                    end_col,
                },
                stmts,
            });
        }
        c.uleb("the literal flag")?;
        Ok(Func {
            file: file_idx,
            units: first..units.len(),
        })
    }
}
