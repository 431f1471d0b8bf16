//! `[run] compose_file`: which compose files the `compose` runtime reads.
//! What is in them is Compose's business (interpolation, `.env`,
//! `env_file`); covtools only names them.

use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::Deserialize;

use super::Config;

/// The names Compose itself looks for in a project directory, in its order.
pub const COMPOSE_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// One compose file or several (`-f a.yaml -f b.yaml`, later ones
/// overriding earlier ones).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ComposeFiles {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl ComposeFiles {
    pub fn paths(&self) -> &[PathBuf] {
        match self {
            ComposeFiles::One(p) => std::slice::from_ref(p),
            ComposeFiles::Many(v) => v,
        }
    }
}

impl Config {
    /// The compose files, absolute: `run.compose_file` (relative to the
    /// module root), else the first of [`COMPOSE_FILE_NAMES`] there. An
    /// error names what is missing.
    pub fn compose_files(&self) -> anyhow::Result<Vec<PathBuf>> {
        compose_files(&self.module_dir, self.run.compose_file.as_ref())
    }
}

fn compose_files(
    module_dir: &Path,
    configured: Option<&ComposeFiles>,
) -> anyhow::Result<Vec<PathBuf>> {
    let Some(files) = configured else {
        return match COMPOSE_FILE_NAMES
            .iter()
            .map(|n| module_dir.join(n))
            .find(|f| f.is_file())
        {
            Some(f) => Ok(vec![f]),
            None => bail!(
                "no compose file in {} (looked for {}): add one, or name yours with [run] compose_file (--compose-file FILE)",
                module_dir.display(),
                COMPOSE_FILE_NAMES.join(", ")
            ),
        };
    };
    if files.paths().is_empty() {
        bail!("run.compose_file is an empty list: name at least one compose file");
    }
    files
        .paths()
        .iter()
        .map(|p| {
            let f = module_dir.join(p);
            if !f.is_file() {
                bail!(
                    "run.compose_file = {:?}: no such file ({})",
                    p.display().to_string(),
                    f.display()
                );
            }
            Ok(f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_first_name_compose_looks_for() {
        let dir = tempfile::tempdir().unwrap();
        let err = compose_files(dir.path(), None).unwrap_err().to_string();
        assert!(
            err.starts_with("no compose file in ") && err.contains("compose.yaml, compose.yml"),
            "{err}"
        );
        std::fs::write(dir.path().join("docker-compose.yml"), "services: {}\n").unwrap();
        std::fs::write(dir.path().join("compose.yml"), "services: {}\n").unwrap();
        assert_eq!(
            compose_files(dir.path(), None).unwrap(),
            [dir.path().join("compose.yml")]
        );
        let two = ComposeFiles::Many(vec!["compose.yml".into(), "docker-compose.yml".into()]);
        assert_eq!(compose_files(dir.path(), Some(&two)).unwrap().len(), 2);
        let err = compose_files(dir.path(), Some(&ComposeFiles::One("nope.yaml".into())))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("run.compose_file = \"nope.yaml\": no such file"),
            "{err}"
        );
    }
}
