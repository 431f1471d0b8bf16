//! Paths of the project's own checkout, for its own tasks (the covtools
//! library never uses them: it works in the user's module), and the tests'
//! skip log.

use std::path::{Path, PathBuf};

// The skip log's name and format, shared with every test binary (and the
// skip helper of this crate's own tests).
#[allow(dead_code)]
#[path = "../../tests/util/skip.rs"]
pub mod skip;

/// The repository root (xtask lives one level below it).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the project")
        .to_path_buf()
}

/// `$CARGO`, as cargo sets it for the xtask, else `cargo`.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Where the project installs its own test tools (`.tools/`, git-ignored).
pub fn tools_dir() -> PathBuf {
    project_root().join(".tools")
}

/// The bundled example (tests/example), the module of the project's tasks.
pub fn example_dir() -> PathBuf {
    project_root().join("tests/example")
}

#[cfg(test)]
mod tests {
    use super::*;
    use covjob::toolchain::MIN_GO;

    #[test]
    fn min_go_is_the_example_go_mod_version() {
        let go_mod = std::fs::read_to_string(example_dir().join("go.mod")).unwrap();
        let line = go_mod.lines().find_map(|l| l.strip_prefix("go ")).unwrap();
        assert_eq!(line.trim(), format!("{}.{}", MIN_GO.0, MIN_GO.1));
    }
}
