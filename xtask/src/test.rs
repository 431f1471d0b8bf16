//! `cargo xtask test`: the README's test command. It installs what the tests
//! need on a fresh machine (Go, the static busybox of the local Docker base
//! image), then runs `cargo test --workspace` with the real Go first on PATH.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

use crate::util;

#[derive(clap::Args)]
pub struct Args {
    /// Extra arguments for `cargo test` (after `--`), e.g. `-- merge::` or
    /// `--release -- --nocapture`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cargo_args: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let go = util::ensure_go()?;
    let go_bin = go
        .parent()
        .context("the go binary has a parent directory")?;
    eprintln!("xtask: using {}", go.display());
    ensure_busybox()?;

    let mut cmd = Command::new(util::cargo());
    cmd.current_dir(util::project_root())
        .args(["test", "--workspace"])
        .args(&args.cargo_args)
        // The tests find Go on PATH (tests/util.rs `go()`); the real binary
        // rather than go-bin's Python shim, which costs ~11 ms a call.
        .env("PATH", util::path_with(go_bin))
        .env("COVTOOLS_GO", &go)
        // Never let Go try to download another toolchain: there is no network.
        .env("GOTOOLCHAIN", "local");
    eprintln!(
        "xtask: {} test --workspace {}",
        util::cargo(),
        args.cargo_args.join(" ")
    );
    let status = cmd.status().context("running cargo test")?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            eprintln!("xtask: cargo test was killed ({status})");
            ExitCode::FAILURE
        }
    })
}

/// The Docker tests build their local base image `FROM scratch` with Debian's
/// static busybox (no image can be pulled here). Installed when missing and we
/// are root; otherwise those tests say what is missing themselves.
fn ensure_busybox() -> anyhow::Result<()> {
    if Path::new("/bin/busybox").is_file() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("xtask: /bin/busybox is missing and we are not root: `apt-get install busybox-static` for the Docker tests");
        return Ok(());
    }
    if which::which("apt-get").is_err() {
        eprintln!("xtask: /bin/busybox is missing and there is no apt-get: install a static busybox for the Docker tests");
        return Ok(());
    }
    eprintln!("xtask: installing busybox-static (for the Docker tests' local base image)");
    for args in [
        &["update", "-q"][..],
        &["install", "-y", "-q", "busybox-static"][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        if !status.success() {
            bail!("apt-get {} failed ({status})", args.join(" "));
        }
    }
    Ok(())
}
