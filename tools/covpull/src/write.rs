//! What covpull does with each file as it arrives (its [`Sink`]): a
//! profile is validated while it is copied, and renamed into place only
//! once whole and valid; binary coverage goes into DIR/<target>/, where
//! per process only its newest counter file is kept. One file is open at a
//! time per target, so covpull's memory does not grow with the fleet.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, Context};
use covcore::contract::profile_number;
use covcore::output::AtomicFile;
use covcore::pool::Slots;
use covtarget::ops::{binary_kind, BinaryKind, Sink};
use covtarget::{Fetched, Report, Target};

/// Files written at once, whatever the number of targets read at once: one
/// per core (validating a profile is CPU work), at least two. Each holds a
/// megabyte or two of buffers while it is validated and written (the
/// profile parser's, the file's), so this bounds covpull's memory; a target
/// waiting for a slot leaves its data in the connection. Set by [`limit`].
static WRITING: Slots = Slots::new(2);

/// Sizes [`WRITING`] to this machine; before the first file.
pub fn limit() {
    WRITING.limit(covcore::pool::default_threads().clamp(2, 8));
}

/// The profile parser's read buffers (a megabyte each), kept for the next
/// profile: at most one per write slot, so however many targets covpull
/// reads, it faults in a few megabytes once.
static PARSE_BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Destinations already written in this run, by the target that wrote
/// them: two targets must never write the same file (a sanitised local
/// path could collide), the first keeps the name and the second fails.
pub type Claimed = Mutex<HashMap<PathBuf, String>>;

/// One target's files, written as they arrive.
pub struct Writer<'a> {
    owner: String,
    stem: String,
    out: &'a Path,
    claimed: &'a Claimed,
    /// The cover directory, as the target sees it (for messages).
    dir: String,
    lines: Vec<String>,
    errors: Vec<anyhow::Error>,
    /// Complete files received.
    files: usize,
    /// DIR/<target>/, once its first binary file came.
    binaries: Option<Result<Binaries, ()>>,
}

struct Binaries {
    path: PathBuf,
    /// The binary coverage files there, by name.
    present: Vec<(String, BinaryKind)>,
    failed: bool,
}

impl<'a> Writer<'a> {
    pub fn new(target: &Target, out: &'a Path, claimed: &'a Claimed) -> Writer<'a> {
        Writer {
            owner: target.to_string(),
            stem: target.file_stem(),
            out,
            claimed,
            dir: String::new(),
            lines: Vec::new(),
            errors: Vec::new(),
            files: 0,
            binaries: None,
        }
    }

    /// Claims `dest` for this target; the error names its owner.
    fn claim(&self, dest: &Path) -> Result<(), String> {
        let mut claimed = self.claimed.lock().expect("no panics while held");
        match claimed.get(dest) {
            Some(owner) if *owner != self.owner => Err(owner.clone()),
            _ => {
                claimed.insert(dest.to_path_buf(), self.owner.clone());
                Ok(())
            }
        }
    }

    fn profile(&mut self, name: &str, data: &mut dyn Read) {
        let source = format!("{}/{name}", self.dir.trim_end_matches('/'));
        let dest = self.out.join(format!("{}.{name}", self.stem));
        if let Err(owner) = self.claim(&dest) {
            self.errors.push(anyhow!(
                "{source}: not written: {} is already written for {owner}",
                dest.display()
            ));
            return;
        }
        let mut file = match AtomicFile::create(&dest) {
            Ok(f) => f,
            Err(e) => {
                return self
                    .errors
                    .push(e.context(format!("{source}: not written")))
            }
        };
        let mut tee = Tee {
            from: data,
            to: &mut file,
            write_err: None,
        };
        // Validated as it is copied; the rest (none, after a valid
        // profile) copied too, so the file is all that arrived.
        let mut buf = PARSE_BUFFERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        let valid = covcore::profile::validate_with(&source, &mut tee, &mut buf)
            .and_then(|_| Ok(io::copy(&mut tee, &mut io::sink())?));
        PARSE_BUFFERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buf);
        if let Some(e) = tee.write_err.take() {
            let e = anyhow::Error::new(e).context(format!("writing {}", dest.display()));
            return self
                .errors
                .push(e.context(format!("{source}: not written")));
        }
        if let Err(e) = valid {
            return self.errors.push(e.context("not written"));
        }
        match file.commit() {
            Ok(()) => self.lines.push(dest.display().to_string()),
            Err(e) => self
                .errors
                .push(e.context(format!("{source}: not written"))),
        }
    }

    /// DIR/<target>/ with what it holds, claimed and created at its first
    /// file; `None` when that failed (said once).
    fn binaries(&mut self) -> Option<&mut Binaries> {
        if self.binaries.is_none() {
            let path = self.out.join(&self.stem);
            let made = match self.claim(&path) {
                Err(owner) => Err(anyhow!("{} is already written for {owner}", path.display())),
                Ok(()) => std::fs::create_dir_all(&path)
                    .with_context(|| format!("creating {}", path.display()))
                    .and_then(|()| {
                        let entries = std::fs::read_dir(&path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        let present = entries
                            .filter_map(|e| e.ok())
                            .filter_map(|e| {
                                let name = e.file_name().to_string_lossy().into_owned();
                                binary_kind(&name).map(|k| (name, k))
                            })
                            .collect();
                        Ok(Binaries {
                            path,
                            present,
                            failed: false,
                        })
                    }),
            };
            self.binaries = Some(made.map_err(|e| {
                let dir = &self.dir;
                self.errors
                    .push(e.context(format!("{dir}: binary coverage not written")));
            }));
        }
        self.binaries.as_mut().and_then(|b| b.as_mut().ok())
    }

    /// Writes one binary coverage file, keeping per (meta hash, pid) only
    /// the newest counter file there: an older snapshot of a process is
    /// removed once its newer one is in place, never summed with it.
    fn binary(&mut self, name: &str, kind: BinaryKind, data: &mut dyn Read) {
        let dir = self.dir.clone();
        let Some(b) = self.binaries() else { return };
        let result = (|| -> anyhow::Result<()> {
            let mut older = Vec::new();
            if let BinaryKind::Counters {
                hash,
                pid,
                nanotime,
            } = &kind
            {
                for (other, k) in &b.present {
                    if let BinaryKind::Counters {
                        hash: h,
                        pid: p,
                        nanotime: n,
                    } = k
                    {
                        if h == hash && p == pid && n != nanotime {
                            if n > nanotime {
                                return Ok(()); // a newer snapshot is there
                            }
                            older.push(other.clone());
                        }
                    }
                }
            }
            let dest = b.path.join(name);
            let mut file = AtomicFile::create(&dest)?;
            io::copy(data, &mut file).with_context(|| format!("writing {}", dest.display()))?;
            file.commit()?;
            for other in &older {
                let path = b.path.join(other);
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
            b.present.retain(|(n, _)| !older.contains(n));
            b.present.push((name.to_string(), kind));
            Ok(())
        })();
        if let Err(e) = result {
            b.failed = true;
            self.errors
                .push(e.context(format!("{dir}: binary coverage not written")));
        }
    }

    /// The target's report, with what the fetch could not read.
    pub fn finish(mut self, fetched: &Fetched, report: &mut Report) {
        let dir = &fetched.dir;
        if !fetched.dir_exists {
            report.errors.push(anyhow!(
                "no profile: the cover directory {dir} does not exist"
            ));
            return;
        }
        for (name, why) in &fetched.unreadable {
            report
                .errors
                .push(anyhow!("{dir}/{name}: cannot read: {why}"));
        }
        if self.files == 0 && fetched.unreadable.is_empty() {
            // Names starting with "." are what a run still writes (its
            // profile, Go's intermediates): the service has not stopped.
            let others = if fetched.skipped.is_empty() {
                "it is empty".to_string()
            } else if fetched.skipped.iter().all(|n| n.starts_with('.')) {
                format!(
                    "it holds only what a run still writes ({}): stop the service first (covkill)",
                    fetched.skipped.join(", ")
                )
            } else {
                format!("it holds only {}", fetched.skipped.join(", "))
            };
            report.errors.push(anyhow!(
                "no complete profile (cover-<n>.out) or binary coverage (covmeta.*, covcounters.*) in {dir}: {others}"
            ));
            return;
        }
        report.lines.append(&mut self.lines);
        report.errors.append(&mut self.errors);
        if let Some(Ok(b)) = &self.binaries {
            if !b.failed {
                report.lines.push(b.path.display().to_string());
            }
        }
    }
}

impl Sink for Writer<'_> {
    fn dir(&mut self, dir: &str) {
        self.dir = dir.to_string();
    }

    fn file(&mut self, name: &str, data: &mut dyn Read) {
        let _slot = WRITING.take();
        self.files += 1;
        if profile_number(name).is_some() {
            self.profile(name, data);
        } else if let Some(kind) = binary_kind(name) {
            self.binary(name, kind, data);
        }
    }

    fn restart(&mut self) {
        self.lines.clear();
        self.errors.clear();
        self.files = 0;
        self.binaries = None;
    }
}

/// Reads from `from`, writing what it read to `to`; a failed write is kept
/// (and ends the reading), so it is told apart from a failed read.
struct Tee<'r, 'w> {
    from: &'r mut dyn Read,
    to: &'w mut AtomicFile,
    write_err: Option<io::Error>,
}

impl Read for Tee<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.from.read(buf)?;
        if let Err(e) = self.to.write_all(&buf[..n]) {
            let shown = io::Error::new(e.kind(), e.to_string());
            self.write_err = Some(e);
            return Err(shown);
        }
        Ok(n)
    }
}
