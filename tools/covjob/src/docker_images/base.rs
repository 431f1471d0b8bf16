//! The local base image (`--base local`): FROM scratch with Debian's static
//! busybox, for machines that cannot pull images.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context};
use covcore::process::process;

use super::docker_build;

/// docker/busybox-base.Dockerfile, embedded like the other docker/ files.
const BASE_DOCKERFILE: &str = include_str!("../../../../docker/busybox-base.Dockerfile");

/// Builds the local base image `tag`: FROM scratch, Debian's static busybox
/// with its applet links, a writable /tmp (docker/busybox-base.Dockerfile).
pub fn build_base_image(tag: &str) -> anyhow::Result<()> {
    let busybox = static_busybox()?;
    // A context of its own, removed when built: builds run concurrently
    // (tests), and nothing is left in anyone's tree.
    let context = tempfile::Builder::new()
        .prefix("covtools-base-image.")
        .tempdir()
        .context("creating the base image's build context")?;
    let ctx = context.path();
    let rootfs = ctx.join("rootfs");
    fs::create_dir_all(rootfs.join("bin"))?;
    fs::create_dir_all(rootfs.join("tmp"))?;
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::copy(&busybox, rootfs.join("bin/busybox"))
        .with_context(|| format!("copying {}", busybox.display()))?;
    // The applet links, as `busybox --install -s /bin` would make them (the
    // build cannot run it: scratch has no shell).
    let applets = process(&busybox).arg("--list").read()?;
    for applet in applets.split_whitespace() {
        if applet != "busybox" && !applet.contains('/') {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))?;
        }
    }
    if !rootfs.join("bin/sh").exists() {
        bail!("{} --list names no sh applet", busybox.display());
    }
    let t = Instant::now();
    let dockerfile = ctx.join("Dockerfile");
    fs::write(&dockerfile, BASE_DOCKERFILE)
        .with_context(|| format!("writing {}", dockerfile.display()))?;
    docker_build(ctx, tag, Some(&dockerfile))?;
    crate::note!(
        "covtools images: base image {tag} ({:.1}s)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A statically linked busybox: `$COVTOOLS_BUSYBOX`, else /bin/busybox, which
/// is installed with `apt-get install busybox-static` when missing.
pub fn static_busybox() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("COVTOOLS_BUSYBOX") {
        let p = PathBuf::from(p);
        check_static(&p).context("COVTOOLS_BUSYBOX")?;
        return Ok(p);
    }
    let path = PathBuf::from("/bin/busybox");
    // Tests ask from several threads at once; apt-get must run once.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    // Debian's `busybox` package is dynamically linked: replace it too.
    if !path.exists() || check_static(&path).is_err() {
        install_busybox_static()?;
    }
    check_static(&path)?;
    Ok(path)
}

fn install_busybox_static() -> anyhow::Result<()> {
    if which::which("apt-get").is_err() {
        bail!("/bin/busybox is missing and there is no apt-get to install busybox-static; set COVTOOLS_BUSYBOX to a static busybox binary");
    }
    // apt-get needs root; use sudo when we are not.
    let root = process("id").arg("-u").read().is_ok_and(|id| id == "0");
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let mut cmd = if root {
            process("apt-get")
        } else {
            let mut c = process("sudo");
            c.arg("apt-get");
            c
        };
        cmd.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout_null();
        eprintln!(
            "covtools images: {}apt-get {}",
            if root { "" } else { "sudo " },
            args.join(" ")
        );
        cmd.run().map_err(|e| {
            anyhow::anyhow!("{e:#}; install busybox-static yourself or set COVTOOLS_BUSYBOX")
        })
    };
    eprintln!("covtools images: /bin/busybox is missing; installing Debian's busybox-static for the local base image");
    apt(&["update", "-q"])?;
    apt(&[
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "busybox-static",
    ])?;
    Ok(())
}

/// Fails unless `path` is an ELF executable without a program interpreter
/// (a dynamically linked busybox cannot run in a scratch image).
fn check_static(path: &Path) -> anyhow::Result<()> {
    let mut f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut elf = Vec::new();
    f.by_ref().take(1 << 16).read_to_end(&mut elf)?;
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    // 64-bit little-endian ELF only (what Debian ships for amd64 and arm64).
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        bail!(
            "{} is not a 64-bit little-endian ELF executable",
            path.display()
        );
    }
    let (phoff, phentsize, phnum) = (
        u64_at(0x20).unwrap(),
        u16_at(0x36).unwrap(),
        u16_at(0x38).unwrap(),
    );
    for i in 0..phnum {
        const PT_INTERP: u32 = 3;
        if u32_at(phoff + i * phentsize) == Some(PT_INTERP) {
            bail!(
                "{} is dynamically linked (Debian's `busybox` package); install `busybox-static` or set COVTOOLS_BUSYBOX to a static busybox",
                path.display()
            );
        }
    }
    Ok(())
}
