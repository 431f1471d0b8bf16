//! The real programs that read covreport's formats in the test suite:
//! Debian's `lcov` (lcov, genhtml), `libxml2-utils` (xmllint) and
//! `chromium`, and `diff-cover` and `pycobertura` from PyPI. Installed once
//! per machine (apt-get; pip into a venv under `.tools/`), like Go is.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use crate::util;

/// The Debian packages and the commands that show they are installed.
const APT: &[(&str, &str)] = &[
    ("lcov", "genhtml"),
    ("libxml2-utils", "xmllint"),
    ("chromium", "chromium"),
];

/// The PyPI packages and the commands they install into the venv.
const PIP: &[(&str, &str)] = &[("diff-cover", "diff-cover"), ("pycobertura", "pycobertura")];

/// The venv holding the PyPI consumers (tests/report.rs looks there too).
pub fn venv_dir() -> PathBuf {
    util::tools_dir().join("report-venv")
}

/// Installs whatever of the consumers is missing; quiet when all are there.
pub fn ensure_report_consumers() -> anyhow::Result<()> {
    let missing: Vec<&str> = APT
        .iter()
        .filter(|(_, cmd)| which::which(cmd).is_err())
        .map(|(pkg, _)| *pkg)
        .collect();
    if !missing.is_empty() {
        apt_install(&missing, "the report tests' consumers")?;
    }
    let bin = venv_dir().join("bin");
    if PIP.iter().any(|(_, cmd)| !bin.join(cmd).is_file()) {
        pip_install()?;
    }
    Ok(())
}

/// `apt-get install` of `packages` (after `apt-get update` when the lists
/// lack them); `why` says who needs them.
pub fn apt_install(packages: &[&str], why: &str) -> anyhow::Result<()> {
    eprintln!(
        "xtask: installing {} with apt-get ({why})",
        packages.join(" ")
    );
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("running apt-get install ({why})"))
    };
    if install()?.success() {
        return Ok(());
    }
    // A fresh machine has no package lists yet.
    let update = Command::new("apt-get")
        .args(["update", "-qq"])
        .stdout(Stdio::null())
        .status()
        .context("running apt-get update")?;
    if !update.success() {
        bail!("apt-get update failed ({update})");
    }
    let status = install()?;
    if !status.success() {
        bail!("apt-get install {} failed ({status})", packages.join(" "));
    }
    Ok(())
}

fn pip_install() -> anyhow::Result<()> {
    let venv = venv_dir();
    eprintln!(
        "xtask: installing {} from PyPI into {}",
        PIP.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(" "),
        venv.display()
    );
    let python = which::which("python3")
        .or_else(|_| which::which("python"))
        .context("the report tests need python3 (for diff-cover and pycobertura)")?;
    if !venv.join("bin/python").is_file() {
        let status = Command::new(&python)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("running python3 -m venv")?;
        if !status.success() {
            bail!("python3 -m venv {} failed ({status})", venv.display());
        }
    }
    let status = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PIP.iter().map(|(p, _)| *p))
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install diff-cover pycobertura failed ({status})");
    }
    Ok(())
}
