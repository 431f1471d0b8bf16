//! The build kinds, and what the cover kind needs beyond `go build -cover`:
//! the harness package (a module of its own, outside -coverpkg) and a copy of
//! the user's module whose package main imports it; also the check that the
//! module's `go` line is one the Go in use can build.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use covcore::process::process;

use super::BuildOptions;

/// The cover kind's harness package and its go.mod (tools/harness/cover/).
pub const HARNESS_COVER_SOURCE: &str = include_str!("../../../../tools/harness/cover/harness.go");
pub const HARNESS_COVER_GO_MOD: &str = include_str!("../../../../tools/harness/cover/go.mod");
/// The cover kind's harness module path (outside any -coverpkg pattern of
/// the user's module).
pub const HARNESS_COVER_MODULE: &str = "covtools.local/harness";
/// The file added to each service's package main in the cover kind's copy.
pub use crate::config::BuildKind;

pub const HARNESS_COVER_IMPORT_FILE: &str = "covtools_harness.go";

/// A module whose go.mod asks for a newer Go than the one in use cannot
/// build (GOTOOLCHAIN=local): say so, with both versions, before Go's
/// own terser message.
pub(super) fn check_go_version(go: &Path, module_dir: &Path) -> anyhow::Result<()> {
    let go_mod = module_dir.join("go.mod");
    let Ok(text) = std::fs::read_to_string(&go_mod) else {
        return Ok(()); // go itself reports a missing go.mod
    };
    let Some((line_no, wanted)) = text.lines().enumerate().find_map(|(i, l)| {
        let rest = l.trim().strip_prefix("go")?;
        let v = rest.strip_prefix(char::is_whitespace)?.trim();
        Some((i + 1, v.split_whitespace().next()?.to_string()))
    }) else {
        return Ok(());
    };
    let parse = |v: &str| -> Option<Vec<u32>> {
        v.trim_start_matches("go")
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|p| p.parse().ok())
            .collect()
    };
    let out = process(go).args(["env", "GOVERSION"]).output_unchecked()?;
    let have = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if let (Some(w), Some(h)) = (parse(&wanted), parse(&have)) {
        if w > h && !h.is_empty() {
            bail!(
                "{}:{line_no}: the module needs go {wanted}, newer than the Go in use ({have}, {}); \
                 install Go {wanted} or later and put it first on PATH",
                go_mod.display(),
                go.display()
            );
        }
    }
    Ok(())
}

/// The cover kind builds from a copy of the module (under the output
/// directory): the harness module beside it, a `require`/`replace` of it
/// appended to the copy's go.mod, and in each service's package main one
/// file that imports it. Returns the copy's root.
pub(super) fn prepare_cover_copy(opts: &BuildOptions, dirs: &[PathBuf]) -> anyhow::Result<PathBuf> {
    // One copy per set of services: covtools cover builds each service
    // with its own call, all at once. A stable path keeps Go's build cache warm.
    let key: Vec<&str> = opts.services.iter().map(|s| s.name.as_str()).collect();
    let base = std::path::absolute(opts.out_dir.join(".cover-src").join(key.join("+")))?;
    let copy = base.join("module");
    let harness = base.join("harness");
    if base.exists() {
        std::fs::remove_dir_all(&base).with_context(|| format!("removing {}", base.display()))?;
    }
    let module = std::fs::canonicalize(&opts.module_dir)
        .with_context(|| format!("reading {}", opts.module_dir.display()))?;
    let skip = std::fs::canonicalize(&opts.out_dir).ok();
    copy_tree(&module, &copy, skip.as_deref())
        .with_context(|| format!("copying {} to {}", module.display(), copy.display()))?;
    std::fs::create_dir_all(&harness)?;
    std::fs::write(harness.join("go.mod"), HARNESS_COVER_GO_MOD)?;
    std::fs::write(harness.join("harness.go"), HARNESS_COVER_SOURCE)?;
    let go_mod = copy.join("go.mod");
    let mut text = std::fs::read_to_string(&go_mod)
        .with_context(|| format!("reading {}", go_mod.display()))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\n// Added by covtools to its build copy.\nrequire {HARNESS_COVER_MODULE} v0.0.0\n\nreplace {HARNESS_COVER_MODULE} => {}\n",
        harness.display()
    ));
    // A fresh file, not a write through a hard link into the user's go.mod.
    std::fs::remove_file(&go_mod)?;
    std::fs::write(&go_mod, text)?;
    vendor_harness(&copy, &harness)?;
    for (svc, dir) in opts.services.iter().zip(dirs) {
        if svc.harness.kind() != BuildKind::Cover {
            continue;
        }
        let rel = std::fs::canonicalize(dir)?
            .strip_prefix(&module)
            .map(Path::to_path_buf)
            .with_context(|| {
                format!(
                    "{} is outside the module {}",
                    dir.display(),
                    module.display()
                )
            })?;
        std::fs::write(
            copy.join(rel).join(HARNESS_COVER_IMPORT_FILE),
            format!(
                "// Added by covtools to its build copy: the harness's init() starts the\n\
                 // killswitch before the service runs.\n\npackage main\n\nimport _ \"{HARNESS_COVER_MODULE}\"\n"
            ),
        )?;
    }
    Ok(copy)
}

/// A module with a vendor directory builds from it (`-mod=vendor`, the
/// default since go 1.14): the harness joins it as `go mod vendor` would
/// have put it there, or Go reports inconsistent vendoring.
fn vendor_harness(copy: &Path, harness: &Path) -> anyhow::Result<()> {
    let modules_txt = copy.join("vendor/modules.txt");
    let Ok(mut text) = std::fs::read_to_string(&modules_txt) else {
        return Ok(());
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let go_line = HARNESS_COVER_GO_MOD
        .lines()
        .find_map(|l| l.strip_prefix("go "))
        .unwrap_or("1.16");
    text.push_str(&format!(
        "# {m} v0.0.0 => {h}\n## explicit; go {go_line}\n{m}\n# {m} => {h}\n",
        m = HARNESS_COVER_MODULE,
        h = harness.display()
    ));
    std::fs::remove_file(&modules_txt)?;
    std::fs::write(&modules_txt, text)?;
    let dir = copy.join("vendor").join(HARNESS_COVER_MODULE);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("harness.go"), HARNESS_COVER_SOURCE)?;
    Ok(())
}

/// Copies a directory tree, hard-linking files where the filesystem allows
/// (the copy is only read), leaving out `.git` and `skip`.
fn copy_tree(from: &Path, to: &Path, skip: Option<&Path>) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if entry.file_name() == ".git" || Some(src.as_path()) == skip {
            continue;
        }
        if kind.is_dir() {
            copy_tree(&src, &dst, skip)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}
