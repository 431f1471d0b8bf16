//! covpull's reads of stopped Docker containers, which cannot exec: the
//! local engine's archive endpoint, or `docker cp` with the CLI.

use std::ffi::OsStr;

use anyhow::{bail, Context};
use covcore::contract;

use super::fetched::{fetch_local, Fetched};
use super::{binary_kind, Options};
use crate::docker;
use covcore::contract::profile_number;

/// A stopped container's files (`docker exec` needs a running one; a
/// stopped one, by SIGTERM or a crash, still has them): through the local
/// engine's archive endpoint, else copied with `docker cp`.
///
/// Measured here, the archive endpoint costs about as much as an exec
/// (some 200 ms under load: the engine mounts the container's file system),
/// so running containers are read by the exec that also asks for the
/// snapshot: one round trip.
pub(super) fn fetch_stopped(container: &str, opts: &Options) -> anyhow::Result<Fetched> {
    let _slot = crate::exec::slot();
    let Some(engine) = docker::Engine::local() else {
        return fetch_stopped_with_cp(container, opts);
    };
    let Some(info) = docker::inspect(container)? else {
        bail!("the container was removed while covpull read it");
    };
    let dir = opts
        .cover_dir
        .clone()
        .or_else(|| docker::env_of(&info, contract::ENV_COVER_DIR))
        .unwrap_or_else(|| contract::COVER_DIR.to_string());
    let tar = engine.archive(container, &dir, opts.timeout)?;
    let mut fetched = Fetched {
        dir: dir.clone(),
        dir_exists: tar.is_some(),
        ..Fetched::default()
    };
    if let Some(tar) = tar {
        read_tar(&tar, &mut fetched)
            .with_context(|| format!("reading the engine's archive of {dir}"))?;
    }
    Ok(fetched)
}

/// Files the entries of a directory's tar stream (as the engine's archive
/// endpoint gives it: `<dir name>/<file>`), its subdirectories left out.
fn read_tar(tar: &[u8], fetched: &mut Fetched) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let parts: Vec<_> = path.components().collect();
        if parts.len() != 2 {
            continue;
        }
        let name = parts[1].as_os_str().to_string_lossy().into_owned();
        if !entry.header().entry_type().is_file()
            || (profile_number(&name).is_none() && binary_kind(&name).is_none())
        {
            fetched.skipped.push(name);
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data)?;
        fetched.add(name, data);
    }
    Ok(())
}

/// [`fetch_stopped`] with the CLI: `docker cp` into a temporary directory.
fn fetch_stopped_with_cp(container: &str, opts: &Options) -> anyhow::Result<Fetched> {
    let dir = match &opts.cover_dir {
        Some(d) => d.clone(),
        None => docker::env(container, contract::ENV_COVER_DIR)?
            .unwrap_or_else(|| contract::COVER_DIR.to_string()),
    };
    let tmp = tempfile::Builder::new()
        .prefix("covpull-")
        .tempdir()
        .context("creating a temporary directory for docker cp")?;
    let from = format!("{container}:{dir}/.");
    let to = tmp.path().join("cover");
    let out = docker::run(
        &[OsStr::new("cp"), from.as_ref(), to.as_ref()],
        opts.timeout,
    )?;
    if !out.success() {
        let msg = out.error_line();
        if msg.contains("Could not find the file") || msg.contains("No such file") {
            return Ok(Fetched {
                dir,
                dir_exists: false,
                ..Fetched::default()
            });
        }
        bail!("the container is stopped and docker cp failed: {msg}");
    }
    let mut fetched = fetch_local(&tmp.path().join("cover"), &dir)?;
    fetched.dir = dir;
    Ok(fetched)
}
