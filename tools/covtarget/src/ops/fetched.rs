//! What a fetch read from a target: its complete profiles and binary
//! coverage files ([`Fetched`]), by their names; the same from a local
//! directory; and the verdict on a harness's answer to the ask before it.
//! Shared by every way of fetching (exec, HTTP, a stopped container).

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use covcore::contract;
use covcore::contract::profile_number;

/// A file of Go's binary coverage (GOCOVERDIR), by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryKind {
    /// `covmeta.<hash>`: one binary's meta-data.
    Meta { hash: String },
    /// `covcounters.<hash>.<pid>.<nanotime>`: one process's counters, as of
    /// `nanotime` (snapshots are cumulative: only a process's newest counts).
    Counters {
        hash: String,
        pid: u64,
        nanotime: u64,
    },
}

impl BinaryKind {
    pub fn is_counters(&self) -> bool {
        matches!(self, BinaryKind::Counters { .. })
    }
}

/// The kind of a complete binary coverage file's name; `None` for anything
/// else (the harness's temporary names start with '.').
pub fn binary_kind(name: &str) -> Option<BinaryKind> {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let dec = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if let Some(hash) = name.strip_prefix(contract::COVMETA_PREFIX) {
        return hex(hash).then(|| BinaryKind::Meta { hash: hash.into() });
    }
    let rest = name.strip_prefix(contract::COVCOUNTERS_PREFIX)?;
    let mut parts = rest.split('.');
    let (hash, pid, nanotime) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !hex(hash) {
        return None;
    }
    Some(BinaryKind::Counters {
        hash: hash.into(),
        pid: dec(pid)?,
        nanotime: dec(nanotime)?,
    })
}

/// One binary coverage file read from a target.
#[derive(Debug)]
pub struct BinaryFile {
    /// Its name in the cover directory.
    pub name: String,
    pub kind: BinaryKind,
    pub data: Vec<u8>,
}

/// One complete profile read from a target.
#[derive(Debug)]
pub struct Profile {
    /// Its name in the cover directory (`cover-<n>.out`).
    pub name: String,
    pub number: u64,
    pub data: Vec<u8>,
}

/// Everything read from one target's cover directory.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The directory, as the target sees it.
    pub dir: String,
    /// False when the directory does not exist.
    pub dir_exists: bool,
    /// Complete profiles, by number.
    pub profiles: Vec<Profile>,
    /// Other entries (temporary files of profiles being written…).
    pub skipped: Vec<String>,
    /// Complete profiles that could not be read, with the reason.
    pub unreadable: Vec<(String, String)>,
    /// Binary coverage files: every `covmeta.*`, and per (meta hash, pid)
    /// only the newest `covcounters.*`.
    pub binaries: Vec<BinaryFile>,
    /// Older snapshots of a process whose newer one is in `binaries`, and
    /// counter files replaced while they were read.
    pub superseded: Vec<String>,
}

impl Fetched {
    /// Files one entry by its name.
    pub(super) fn add(&mut self, name: String, data: Vec<u8>) {
        if let Some(number) = profile_number(&name) {
            self.profiles.push(Profile { name, number, data });
        } else if let Some(kind) = binary_kind(&name) {
            self.binaries.push(BinaryFile { name, kind, data });
        } else {
            self.skipped.push(name);
        }
    }

    /// Sorts, and keeps only the newest counter file of each process.
    pub(super) fn finish(&mut self) {
        self.profiles.sort_by_key(|p| p.number);
        let mut newest: HashMap<(String, u64), u64> = HashMap::new();
        for b in &self.binaries {
            if let BinaryKind::Counters {
                hash,
                pid,
                nanotime,
            } = &b.kind
            {
                let n = newest.entry((hash.clone(), *pid)).or_insert(*nanotime);
                *n = (*n).max(*nanotime);
            }
        }
        let superseded = &mut self.superseded;
        self.binaries.retain(|b| match &b.kind {
            BinaryKind::Counters {
                hash,
                pid,
                nanotime,
            } => {
                let keep = newest[&(hash.clone(), *pid)] == *nanotime;
                if !keep {
                    superseded.push(b.name.clone());
                }
                keep
            }
            BinaryKind::Meta { .. } => true,
        });
        self.binaries.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// The verdict on fetch.sh's ASKED record (ask.sh's result) and answer.
pub(super) fn check_asked(
    what: &str,
    result: &str,
    answer: Option<&crate::http::Response>,
    started: Instant,
) -> anyhow::Result<()> {
    let (kind, arg) = result.split_once(' ').unwrap_or((result, ""));
    match kind {
        "HARNESS" if arg.starts_with('2') => {
            if answer.is_some_and(|r| r.text().starts_with(super::killed::STOPPING_BODY)) {
                bail!("{what}: the harness stopped the service instead: it is older than flush (rebuild the service with this covtools)");
            }
            Ok(())
        }
        "HARNESS" => match answer {
            Some(r) => {
                let msg: Vec<&str> = std::str::from_utf8(&r.body)
                    .unwrap_or("")
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                bail!(
                    "{what}: the harness answered HTTP {} {}: {}",
                    r.status,
                    r.reason,
                    msg.join(" ")
                )
            }
            None => bail!("{what}: the harness answered HTTP {arg}"),
        },
        "OTHER" => {
            let desc = answer
                .map(|r| r.describe())
                .unwrap_or_else(|| format!("HTTP {arg}"));
            bail!("{what}: not the covtools harness (no {} header in its answer: {desc}); is the port the harness's killswitch?", contract::HARNESS_HEADER)
        }
        "NOCLIENT" => bail!("{what}: the container has neither wget nor curl"),
        "NOANSWER" => bail!(
            "{what}: no answer within {:.1}s",
            started.elapsed().as_secs_f64()
        ),
        _ => bail!("{what}: {result}"),
    }
}

pub(super) fn fetch_local(dir: &Path, shown: &str) -> anyhow::Result<Fetched> {
    let mut fetched = Fetched {
        dir: shown.to_string(),
        dir_exists: dir.is_dir(),
        ..Fetched::default()
    };
    if !fetched.dir_exists {
        return Ok(fetched);
    }
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if profile_number(&name).is_none() && binary_kind(&name).is_none() {
            fetched.skipped.push(name);
            continue;
        }
        match fs::read(entry.path()) {
            Ok(data) => fetched.add(name, data),
            // Replaced by a newer snapshot while listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fetched.superseded.push(name),
            Err(e) => fetched.unreadable.push((name, e.to_string())),
        }
    }
    Ok(fetched)
}
