//! The programs targets are reached through, `docker` and `kubectl`, found
//! on PATH once. Below both the Docker driver and the exec transport; the
//! processes themselves run through covcore::process.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::anyhow;

/// A program from PATH, looked up once, with an error that says what is
/// missing (`kubectl` for k8s targets, `docker` for docker targets).
pub fn tool(name: &'static str) -> anyhow::Result<PathBuf> {
    static DOCKER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    static KUBECTL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let cell = match name {
        "docker" => &DOCKER,
        "kubectl" => &KUBECTL,
        _ => unreachable!("only docker and kubectl are transports"),
    };
    cell.get_or_init(|| which::which(name).map_err(|e| format!("{name}: not found on PATH ({e})")))
        .clone()
        .map_err(|e| anyhow!(e))
}
