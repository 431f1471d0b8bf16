//! Outputs that never lose a good file: data goes to a temporary file beside
//! the destination and is renamed over it only once complete. A failed or
//! interrupted run (a full disk, a rename that fails, any terminating signal
//! that can be caught: SIGHUP from a closing terminal, SIGINT, SIGQUIT,
//! SIGTERM…) leaves no temporary file behind and the destination as it was.
//! A file replaced keeps its permission bits.
//!
//! The rename of a tool's one output ([`Output::write`]) is where its run
//! succeeds: a signal from then on exits 0 (after the rename there is only
//! memory to free, which on a large merge takes a noticeable moment), never
//! with a failure status while the new file is already in place.
//!
//! Standard output is checked too: a stdout that was closed when the tool
//! started (`covmerge a.out >&-`) is an error, not a silent success, and a
//! failed write names stdout. A broken pipe stays a quiet exit
//! ([`crate::cli::main`]).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use anyhow::{bail, Context};
use tempfile::NamedTempFile;

use crate::exit_codes::ExitStatus;

/// A file written atomically. Dropping it without [`AtomicFile::commit`]
/// removes the temporary file and leaves the destination untouched.
pub struct AtomicFile {
    dest: PathBuf,
    target: Target,
}

enum Target {
    /// A temporary file beside the destination, renamed over it at the end;
    /// its path is registered for removal on a terminating signal.
    Temp {
        writer: BufWriter<NamedTempFile>,
        _registered: Registered,
    },
    /// Straight to a destination that is not a regular file (`/dev/null`,
    /// a FIFO): renaming over those would replace them.
    Special(BufWriter<File>),
}

impl AtomicFile {
    pub fn create(dest: impl AsRef<Path>) -> anyhow::Result<AtomicFile> {
        let mut dest = dest.as_ref().to_path_buf();
        let shown = dest.display().to_string();
        if let Ok(meta) = fs::symlink_metadata(&dest) {
            if meta.file_type().is_symlink() {
                // Replace the file the link points to, not the link.
                dest = fs::canonicalize(&dest)
                    .with_context(|| format!("{shown}: cannot resolve the link"))?;
            }
            match fs::metadata(&dest) {
                Ok(m) if m.is_dir() => {
                    bail!("{shown}: is a directory, expected an output file name")
                }
                Ok(m) if !m.is_file() => {
                    let file = fs::OpenOptions::new()
                        .write(true)
                        .open(&dest)
                        .with_context(|| format!("{shown}: cannot open for writing"))?;
                    return Ok(AtomicFile {
                        dest,
                        target: Target::Special(BufWriter::with_capacity(1 << 20, file)),
                    });
                }
                _ => {}
            }
        }
        if dest.as_os_str().as_encoded_bytes().ends_with(b"/") {
            bail!("{shown}: names a directory (it ends with '/'), expected an output file name");
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .with_context(|| format!("{shown}: not a file name"))?
            .to_string_lossy()
            .into_owned();
        // The mode of a file being replaced, which the new one keeps.
        let keep_mode = fs::metadata(&dest)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.permissions());
        // Created and registered under the registry's lock: a signal that
        // arrives meanwhile is handled once the path is known, so it can
        // always be removed.
        install_signal_cleanup()?;
        let mut temp_files = lock_temp_files();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            // Like any new file (umask applies), not tempfile's private 0600.
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(&dir)
            .with_context(|| format!("{shown}: creating a temporary file in {}", dir.display()))?;
        if let Some(mode) = keep_mode {
            // Exactly the old bits: fchmod, unlike open(2), ignores the umask.
            tmp.as_file()
                .set_permissions(mode)
                .with_context(|| format!("{shown}: setting the mode of the new file"))?;
        }
        let registered = Registered::new();
        temp_files.push((registered.id, tmp.path().to_path_buf()));
        drop(temp_files);
        Ok(AtomicFile {
            dest,
            target: Target::Temp {
                writer: BufWriter::with_capacity(1 << 20, tmp),
                _registered: registered,
            },
        })
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes and renames the temporary file over the destination. On any
    /// failure the temporary file is removed.
    pub fn commit(self) -> anyhow::Result<()> {
        self.commit_as(false)
    }

    /// [`AtomicFile::commit`]; with `last`, the rename also marks the run
    /// as succeeded, atomically with respect to the signal handler.
    fn commit_as(self, last: bool) -> anyhow::Result<()> {
        let dest = self.dest;
        match self.target {
            Target::Special(writer) => {
                writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("writing {}", dest.display()))?;
                if last {
                    let _held = lock_temp_files();
                    SUCCEEDED.store(true, Ordering::Relaxed);
                }
            }
            Target::Temp {
                writer,
                _registered,
            } => {
                // Dropping the writer or the temporary file on an error
                // removes the file.
                let tmp = writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("writing {}", dest.display()))?;
                // No fsync: the rename alone guarantees that readers and a
                // failed run never see a partial file; surviving power loss
                // is not worth seconds on a 400 MB profile. Renamed under
                // the registry's lock: a signal handler sees the temporary
                // file either still to remove or renamed with the run marked
                // succeeded, never between.
                let held = lock_temp_files();
                tmp.persist(&dest).map_err(|e| e.error).with_context(|| {
                    format!("{}: cannot replace it with the new file", dest.display())
                })?;
                if last {
                    SUCCEEDED.store(true, Ordering::Relaxed);
                }
                drop(held);
            }
        }
        Ok(())
    }

    fn writer(&mut self) -> &mut dyn Write {
        match &mut self.target {
            Target::Temp { writer, .. } => writer,
            Target::Special(writer) => writer,
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }
}

/// Where a tool's data goes: a file written atomically, or stdout.
pub enum Output {
    File(AtomicFile),
    Stdout,
}

impl Output {
    /// Opens the output before the work starts, so that a bad `-o` or a
    /// closed stdout fails at once, not after a long merge. `None` or `-`
    /// is stdout.
    pub fn open(dest: Option<&Path>) -> anyhow::Result<Output> {
        match dest {
            Some(path) if path != Path::new("-") => Ok(Output::File(AtomicFile::create(path)?)),
            _ => {
                check_stdout()?;
                Ok(Output::Stdout)
            }
        }
    }

    /// Writes everything `write` produces and completes the output. Into a
    /// file this is the tool's last act: once the file is renamed in, its
    /// run has succeeded (a tool that decides more afterwards, such as
    /// covtotal's gates, writes to stdout).
    pub fn write(
        self,
        write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        match self {
            Output::File(mut file) => {
                let dest = file.dest().display().to_string();
                write(&mut file).with_context(|| format!("writing {dest}"))?;
                file.commit_as(true)
            }
            Output::Stdout => {
                let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
                write(&mut out)
                    .and_then(|()| Ok(out.flush()?))
                    .context("writing to stdout")
            }
        }
    }
}

/// Writes everything `write` produces to `dest` atomically, or to buffered
/// stdout when `dest` is `None` or `-`.
pub fn write_to(
    dest: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    Output::open(dest)?.write(write)
}

/// Fails when stdout was closed when the process started. (The Rust runtime
/// then opens /dev/null in its place, so writes would succeed and the data
/// would be lost without a word.)
pub fn check_stdout() -> anyhow::Result<()> {
    // Reading the constructor keeps it linked in whatever the build.
    let _ = std::hint::black_box(RECORD_STDOUT_AT_START);
    if STDOUT_CLOSED_AT_START.load(Ordering::Relaxed) {
        bail!("writing to stdout: stdout is closed; redirect it to where the output should go");
    }
    Ok(())
}

static STDOUT_CLOSED_AT_START: AtomicBool = AtomicBool::new(false);

/// Runs before `main` and before the Rust runtime fills closed standard
/// descriptors with /dev/null: the only moment a closed stdout can be seen.
#[used]
#[cfg_attr(
    any(target_os = "linux", target_os = "android", target_os = "freebsd"),
    link_section = ".init_array"
)]
#[cfg_attr(target_vendor = "apple", link_section = "__DATA,__mod_init_func")]
static RECORD_STDOUT_AT_START: extern "C" fn() = record_stdout_at_start;

extern "C" fn record_stdout_at_start() {
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    if unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFD) } == -1 {
        STDOUT_CLOSED_AT_START.store(true, Ordering::Relaxed);
    }
}

/// Set when the tool's one output is in place: its run has succeeded.
static SUCCEEDED: AtomicBool = AtomicBool::new(false);

/// Temporary files to remove when a terminating signal arrives.
static TEMP_FILES: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());

/// A slot in [`TEMP_FILES`], emptied on drop (after the temporary file was
/// renamed or removed).
struct Registered {
    id: u64,
}

impl Registered {
    fn new() -> Registered {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Registered {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock_temp_files().retain(|(id, _)| *id != self.id);
    }
}

fn lock_temp_files() -> std::sync::MutexGuard<'static, Vec<(u64, PathBuf)>> {
    TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// The signals whose default action ends the process and that a process
/// can catch. Not the ones a fault raises (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
/// SIGABRT, SIGSYS, SIGTRAP: handling them here would return to the fault)
/// and not SIGPIPE, which the Rust runtime ignores so that writes fail.
const TERMINATING: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    libc::SIGIO,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    libc::SIGPWR,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    libc::SIGSTKFLT,
];

/// Whether `signal` was ignored when the process started (`nohup`, a
/// background job of a non-interactive shell, `trap '' XFSZ`): it must stay
/// ignored, not start ending the process.
fn ignored(signal: libc::c_int) -> bool {
    // SAFETY: a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// On the first temporary file: a thread that, on a terminating signal,
/// removes the registered temporary files and exits 128 + the signal's
/// number (130 for SIGINT, 143 for SIGTERM, as a shell reports them), or 0
/// once the run has succeeded. The lock is held until the exit, so no new
/// temporary file can appear meanwhile.
fn install_signal_cleanup() -> anyhow::Result<()> {
    static INSTALL: Once = Once::new();
    let mut result = Ok(());
    INSTALL.call_once(|| {
        let caught: Vec<libc::c_int> = TERMINATING
            .iter()
            .copied()
            .filter(|&s| !ignored(s))
            .collect();
        let mut signals = match signal_hook::iterator::Signals::new(&caught) {
            Ok(s) => s,
            Err(e) => {
                result = Err(anyhow::Error::new(e).context("installing signal handlers"));
                return;
            }
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let files = lock_temp_files();
                if SUCCEEDED.load(Ordering::Relaxed) {
                    std::process::exit(ExitStatus::Success.code());
                }
                for (_, path) in files.iter() {
                    let _ = fs::remove_file(path);
                }
                // Any caught signal, not only the two ExitStatus names: a shell
                // shows 128 + its number (SIGHUP 129, SIGQUIT 131, ...).
                std::process::exit(128 + signal);
            }
        });
    });
    result
}

/// Writes an unsigned integer in decimal without going through `fmt`
/// (the output hot path writes tens of millions of them), two digits at a
/// time.
#[inline]
pub fn push_u32(out: &mut Vec<u8>, mut v: u32) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        i -= 2;
        let pair = v as usize * 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    #[test]
    fn push_u32_writes_decimal() {
        for v in [
            0,
            1,
            9,
            10,
            42,
            99,
            100,
            101,
            999,
            1000,
            65535,
            1234567,
            4294967295u32,
        ] {
            let mut out = Vec::new();
            super::push_u32(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}
