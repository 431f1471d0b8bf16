//! covpull's reads of Docker containers that need no exec: on a local
//! engine the snapshot is asked on the container's own address and the files
//! come from the engine's archive endpoint; with the CLI, a stopped
//! container's files are copied with `docker cp`.

use std::ffi::OsStr;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use covcore::contract;

use super::fetch::{boundary, fetch_local, Fetched};
use super::kill::{judge, Action};
use super::{binary_kind, profile_number, Options};
use crate::docker;

/// Docker on a local engine, without starting a process in the container:
/// the snapshot asked on the container's own address, the files read
/// through the engine's archive endpoint (running or stopped container
/// alike). `None` when that cannot be done from here (a snapshot of a
/// container that is not running, a killswitch bound to one address or not
/// reachable from this host): the exec path does it then.
pub(super) fn fetch_engine(
    engine: &docker::Engine,
    container: &str,
    opts: &Options,
    ask: Option<Action>,
) -> anyhow::Result<Option<Fetched>> {
    let Some(info) = docker::inspect(container)? else {
        bail!("Error response from daemon: No such container: {container} (the container was removed, or never existed)")
    };
    let dir = opts
        .cover_dir
        .clone()
        .or_else(|| docker::env_of(&info, contract::ENV_COVER_DIR))
        .unwrap_or_else(|| contract::COVER_DIR.to_string());
    if let Some(action) = ask {
        if info["State"]["Running"].as_bool() != Some(true) {
            return Ok(None);
        }
        let listen = docker::env_of(&info, contract::ENV_KILLSWITCH_ADDR)
            .unwrap_or_else(|| format!(":{}", contract::KILLSWITCH_PORT));
        let (host, port) = listen.rsplit_once(':').unwrap_or(("", &listen));
        if !matches!(host, "" | "0.0.0.0" | "[::]" | "::") {
            return Ok(None);
        }
        let port = opts.port.map(|p| p.to_string()).unwrap_or(port.to_string());
        let Some(ip) = docker::addresses(&info).into_iter().next() else {
            return Ok(None);
        };
        let addr = format!("{ip}:{port}");
        let url = format!("http://{addr}{}", action.path());
        let t = Instant::now();
        let connect = Duration::from_millis(300);
        match crate::http::get_within(&addr, action.path(), connect, opts.timeout) {
            Ok(r) => judge(&url, action, &r)?,
            // Refused (restarting, or bound elsewhere) or unreachable from
            // here: the exec path asks from inside, with its retries.
            Err(_) if t.elapsed() < connect + Duration::from_millis(100) => return Ok(None),
            Err(e) => bail!("{url}: {e}"),
        }
    }
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
    Ok(Some(fetched))
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

/// `docker exec` needs a running container; a stopped one (SIGTERM, crash)
/// still has its files, which `docker cp` copies out.
pub(super) fn fetch_stopped_docker(container: &str, opts: &Options) -> anyhow::Result<Fetched> {
    let dir = match &opts.cover_dir {
        Some(d) => d.clone(),
        None => docker::env(container, "COVER_DIR")?.unwrap_or_else(|| "/cover".to_string()),
    };
    let tmp = TempDir::new()?;
    let from = format!("{container}:{dir}/.");
    let to = tmp.0.join("cover");
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
    let mut fetched = fetch_local(&tmp.0.join("cover"), &dir)?;
    fetched.dir = dir;
    Ok(fetched)
}

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let base = std::env::temp_dir();
        for attempt in 0..100 {
            let p = base.join(format!(
                "covpull-{}-{attempt}-{}",
                std::process::id(),
                &boundary()[10..18]
            ));
            match fs::create_dir(&p) {
                Ok(()) => return Ok(TempDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", p.display())),
            }
        }
        bail!("cannot create a temporary directory in {}", base.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
