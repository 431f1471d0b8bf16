//! Where a profile's file name is on disk, under a module root or a
//! GOPATH-style root.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::gomod;

// Source roots

/// Maps profile file names (`module/path/file.go`, `std/pkg/file.go`, or
/// absolute paths) to files under a source root.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    pub dir: PathBuf,
    /// The module path from `dir/go.mod` (`std` for GOROOT/src); `None` for
    /// a GOPATH-style root.
    pub module: Option<String>,
}

impl SourceRoot {
    /// `dir` is a module root (has go.mod, whose `module` line is read) or a
    /// GOPATH-style root such as `$(go env GOROOT)/src`, where a profile's
    /// `pkg/path/file.go` is `dir/pkg/path/file.go`.
    pub fn open(dir: &Path) -> anyhow::Result<SourceRoot> {
        if !dir.is_dir() {
            bail!("--src {}: not a directory", dir.display());
        }
        let gomod = dir.join("go.mod");
        let module = match std::fs::read(&gomod) {
            Ok(text) => Some(gomod::module_path(&gomod.display().to_string(), &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read", gomod.display())),
        };
        Ok(SourceRoot {
            dir: dir.to_path_buf(),
            module,
        })
    }

    /// The file on disk for a profile's file name: absolute paths as they
    /// are; relative ones (`./x.go`, which `go test -cover ./x` never writes
    /// but a hand-made profile may) under the root; in a module root,
    /// `module/rest` is `dir/rest`; in a GOPATH-style root, `path` is
    /// `dir/path`. GOROOT/src is GOPATH-style although its go.mod says
    /// `module std`: standard-library import paths carry no module prefix.
    /// A missing file is an error naming the profile's file name and where
    /// it was looked for.
    pub fn resolve(&self, profile_path: impl AsRef<[u8]>) -> anyhow::Result<PathBuf> {
        let profile_path = profile_path.as_ref();
        let p = Path::new(std::ffi::OsStr::from_bytes(profile_path));
        let shown = String::from_utf8_lossy(profile_path);
        let candidate = if p.is_absolute() {
            p.to_path_buf()
        } else if profile_path.starts_with(b"./") || profile_path.starts_with(b"../") {
            self.dir.join(p)
        } else if let Some(module) = self.module.as_ref().filter(|m| *m != "std") {
            let rest = profile_path
                .strip_prefix(module.as_bytes())
                .and_then(|r| r.strip_prefix(b"/"))
                .filter(|r| !r.is_empty());
            match rest {
                Some(rest) => self.dir.join(std::ffi::OsStr::from_bytes(rest)),
                None => bail!(
                    "{shown}: not in module {module} (the --src root {} holds only that module's files)",
                    self.dir.display()
                ),
            }
        } else {
            self.dir.join(p)
        };
        if !candidate.is_file() {
            let root = match &self.module {
                Some(m) => format!("module {m} at {}", self.dir.display()),
                None => format!("GOPATH-style root {}", self.dir.display()),
            };
            bail!(
                "{shown}: source file not found: looked for {} ({root})",
                candidate.display()
            );
        }
        Ok(candidate)
    }
}
