//! Reading Go source the way `go tool cover -func` does, for `covtotal --src`:
//! the extents of function declarations, and where a profile's file names
//! live on disk. (Owned by the gosrc work; see the functions' docs.)

use std::path::{Path, PathBuf};

/// The extent of one function declaration with a body, as go/ast reports it:
/// from the `func` keyword to just after the closing brace. Lines and columns
/// are 1-based; columns count bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncExtent {
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

/// A named function extent (`Name` or `Recv.Name`), in source order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Func {
    pub name: String,
    pub extent: FuncExtent,
}

/// The function declarations of one Go source file.
pub fn func_decls(_src: &[u8]) -> anyhow::Result<Vec<Func>> {
    anyhow::bail!("not implemented yet")
}

/// Maps profile file names (`module/path/file.go`, `std/pkg/file.go`, or
/// absolute paths) to files under a source root.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    pub dir: PathBuf,
}

impl SourceRoot {
    /// `dir` is a module root (has go.mod) or a GOPATH-style root such as
    /// `$(go env GOROOT)/src`.
    pub fn open(dir: &Path) -> anyhow::Result<SourceRoot> {
        Ok(SourceRoot { dir: dir.to_path_buf() })
    }

    /// The file on disk for a profile's file name.
    pub fn resolve(&self, _profile_path: &str) -> anyhow::Result<PathBuf> {
        anyhow::bail!("not implemented yet")
    }
}
