//! The real programs that read covreport's formats in the test suite:
//! Debian's `lcov` (lcov, genhtml), `libxml2-utils` (xmllint) and
//! `chromium`, and `diff-cover` and `pycobertura` from PyPI; and the linters
//! of the CI recipes in docs/ci/ (`check-jsonschema` and `zizmor`, PyPI)
//! and of scripts/ (Debian's `shellcheck`); a real registry for the push tests
//! (Debian's `docker-registry`).
//! Installed once per machine (apt-get; pip into a venv under `.tools/`).

use std::path::PathBuf;

use anyhow::Context;

use covcore::process::process;

use crate::util;

/// The Debian packages and the commands that show they are installed.
const APT: &[(&str, &str)] = &[
    ("lcov", "genhtml"),
    ("libxml2-utils", "xmllint"),
    ("chromium", "chromium"),
    ("shellcheck", "shellcheck"),
    // A real registry on loopback for the push tests.
    ("docker-registry", "docker-registry"),
];

/// The PyPI packages and the commands they install into the venv.
const PIP: &[(&str, &str)] = &[
    ("diff-cover", "diff-cover"),
    ("pycobertura", "pycobertura"),
    ("check-jsonschema", "check-jsonschema"),
    ("zizmor", "zizmor"),
];

/// The venv holding the PyPI programs (tests/util/report.rs looks there too).
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
        apt_install(
            &missing,
            "the report and script tests need lcov, libxml2-utils, chromium, shellcheck",
        )?;
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
    let mut install = process("apt-get");
    install
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout_null();
    if install.status().context(why.to_string())?.success() {
        return Ok(());
    }
    // A fresh machine has no package lists yet.
    process("apt-get")
        .args(["update", "-qq"])
        .stdout_null()
        .run()?;
    install.run().context(why.to_string())
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
        .context("the report and CI recipe tests need python3 (for their PyPI programs)")?;
    if !venv.join("bin/python").is_file() {
        process(&python).args(["-m", "venv"]).arg(&venv).run()?;
    }
    process(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PIP.iter().map(|(p, _)| *p))
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .run()
}
