//! The one way the tools and the xtask run a child process: a builder over
//! duct (in the spirit of cargo-llvm-cov's `ProcessBuilder`) for the
//! program, its arguments, environment, directory, stdin and where its
//! output goes, whose errors name the command line, how it ended and the
//! tail of its stderr ([`ProcessError`]); pipes and streaming get the duct
//! expression itself ([`ProcessBuilder::expression`]), long-running children
//! a `Child` ([`ProcessBuilder::spawn`]), commands that may hang a bounded
//! run that keeps what they printed ([`ProcessBuilder::output_within`]).
//! And the one timed wait for children ([`wait_until`],
//! [`wait_for_children`]): woken by SIGCHLD, never polling.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

use anyhow::Context;

mod bounded;
mod wait;

pub use bounded::Captured;
pub use wait::{wait_for_children, wait_until};

/// How many lines of stderr an error keeps.
const TAIL_LINES: usize = 10;

/// A command to run: see the module's documentation.
#[derive(Clone, Debug)]
pub struct ProcessBuilder {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    dir: Option<PathBuf>,
    stdin: Stdin,
    stdout: Sink,
    stderr: Sink,
    process_group: bool,
}

#[derive(Clone, Debug)]
enum Stdin {
    Inherit,
    Null,
    Bytes(Vec<u8>),
}

/// Where an output goes when it is not captured.
#[derive(Clone, Debug)]
enum Sink {
    Inherit,
    Null,
    File(PathBuf),
    /// A pipe the spawned `Child` holds (captured by the other runs).
    Piped,
    /// stderr only: where stdout goes.
    Stdout,
}

/// `ProcessBuilder::new(program)`, shorter.
pub fn process(program: impl AsRef<OsStr>) -> ProcessBuilder {
    ProcessBuilder::new(program)
}

impl ProcessBuilder {
    pub fn new(program: impl AsRef<OsStr>) -> ProcessBuilder {
        ProcessBuilder {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            stdin: Stdin::Inherit,
            stdout: Sink::Inherit,
            stderr: Sink::Inherit,
            process_group: false,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// The working directory.
    pub fn dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.dir = Some(dir.as_ref().to_owned());
        self
    }

    pub fn stdin_null(&mut self) -> &mut Self {
        self.stdin = Stdin::Null;
        self
    }

    /// Feeds `bytes` on stdin (from a thread: a large input cannot deadlock).
    pub fn stdin_bytes(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Stdin::Bytes(bytes.into());
        self
    }

    pub fn stdout_null(&mut self) -> &mut Self {
        self.stdout = Sink::Null;
        self
    }

    pub fn stderr_null(&mut self) -> &mut Self {
        self.stderr = Sink::Null;
        self
    }

    /// Writes stdout into a file (created or truncated), which is then not
    /// captured.
    pub fn stdout_path(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.stdout = Sink::File(path.as_ref().to_owned());
        self
    }

    /// Writes stderr into a file, which is then not captured; an error
    /// quotes the file's tail.
    pub fn stderr_path(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.stderr = Sink::File(path.as_ref().to_owned());
        self
    }

    /// A pipe for [`ProcessBuilder::spawn`]'s `Child` to read stdout from
    /// (as it comes: a streamed log).
    pub fn stdout_piped(&mut self) -> &mut Self {
        self.stdout = Sink::Piped;
        self
    }

    /// The same for stderr.
    pub fn stderr_piped(&mut self) -> &mut Self {
        self.stderr = Sink::Piped;
        self
    }

    /// Sends stderr where stdout goes (one log in order).
    pub fn stderr_to_stdout(&mut self) -> &mut Self {
        self.stderr = Sink::Stdout;
        self
    }

    /// Starts the child as the leader of a process group of its own, so
    /// that what it starts can be signalled with it.
    pub fn process_group(&mut self) -> &mut Self {
        self.process_group = true;
        self
    }

    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The value set for `key` (`None`: not set here, or removed).
    pub fn get_env(&self, key: impl AsRef<OsStr>) -> Option<&OsStr> {
        let key = key.as_ref();
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The command as duct runs it, for pipes and streaming (`pipe`,
    /// `reader`, `start`); its errors are duct's own.
    pub fn expression(&self) -> duct::Expression {
        self.build(false)
    }

    fn build(&self, capture: bool) -> duct::Expression {
        let mut e = duct::cmd(&self.program, &self.args);
        if let Some(dir) = &self.dir {
            e = e.dir(dir);
        }
        for (k, v) in &self.env {
            e = match v {
                Some(v) => e.env(k, v),
                None => e.env_remove(k),
            };
        }
        match &self.stdin {
            Stdin::Inherit => {}
            Stdin::Null => e = e.stdin_null(),
            Stdin::Bytes(b) => e = e.stdin_bytes(b.clone()),
        }
        e = match &self.stdout {
            Sink::Inherit if capture => e.stdout_capture(),
            Sink::Piped => e.stdout_capture(),
            Sink::Inherit | Sink::Stdout => e,
            Sink::Null => e.stdout_null(),
            Sink::File(p) => e.stdout_path(p),
        };
        e = match &self.stderr {
            Sink::Inherit if capture => e.stderr_capture(),
            Sink::Piped => e.stderr_capture(),
            Sink::Inherit => e,
            Sink::Stdout => e.stderr_to_stdout(),
            Sink::Null => e.stderr_null(),
            Sink::File(p) => e.stderr_path(p),
        };
        if self.process_group {
            e = e.before_spawn(|cmd| {
                cmd.process_group(0);
                Ok(())
            });
        }
        e.unchecked()
    }

    /// The same command as a `std::process::Command` (stdin bytes aside).
    fn command(&self) -> anyhow::Result<Command> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        match &self.stdin {
            Stdin::Inherit => {}
            Stdin::Null => {
                cmd.stdin(Stdio::null());
            }
            Stdin::Bytes(_) => anyhow::bail!("{self}: stdin bytes need run, output or read"),
        }
        let create =
            |p: &Path| File::create(p).with_context(|| format!("creating {}", p.display()));
        // stdout's file, kept for a stderr that goes there too.
        let mut stdout_file = None;
        match &self.stdout {
            Sink::Inherit | Sink::Stdout => {}
            Sink::Null => {
                cmd.stdout(Stdio::null());
            }
            Sink::Piped => {
                cmd.stdout(Stdio::piped());
            }
            Sink::File(p) => {
                let f = create(p)?;
                stdout_file = Some(f.try_clone()?);
                cmd.stdout(f);
            }
        }
        match &self.stderr {
            Sink::Inherit => {}
            Sink::Null => {
                cmd.stderr(Stdio::null());
            }
            Sink::Piped => {
                cmd.stderr(Stdio::piped());
            }
            Sink::File(p) => {
                cmd.stderr(create(p)?);
            }
            Sink::Stdout => match (stdout_file, &self.stdout) {
                (Some(f), _) => {
                    cmd.stderr(f);
                }
                (None, Sink::Null) => {
                    cmd.stderr(Stdio::null());
                }
                _ => anyhow::bail!("{self}: stderr to stdout needs stdout in a file or null"),
            },
        }
        if self.process_group {
            cmd.process_group(0);
        }
        Ok(cmd)
    }

    fn start_error(&self, e: io::Error) -> anyhow::Error {
        anyhow::Error::new(e).context(format!("cannot run `{}`", self.shown()))
    }

    /// The command line for a message: cut after 200 characters (a script
    /// passed to `sh -c` would drown the message).
    fn shown(&self) -> String {
        let line = self.to_string();
        match line.char_indices().nth(200) {
            Some((i, _)) => format!("{}…", &line[..i]),
            None => line,
        }
    }

    /// Starts the child (for one that runs beside this process: a service,
    /// a test command to be bounded by [`wait_until`]).
    pub fn spawn(&self) -> anyhow::Result<Child> {
        self.command()?.spawn().map_err(|e| self.start_error(e))
    }

    /// Runs it with its outputs where they were set (this process's own by
    /// default) and returns how it ended, whatever that was.
    pub fn status(&self) -> anyhow::Result<ExitStatus> {
        let out = self.build(false).run().map_err(|e| self.start_error(e))?;
        Ok(out.status)
    }

    /// Runs it as [`ProcessBuilder::status`] does; an error unless it
    /// succeeds.
    pub fn run(&self) -> anyhow::Result<()> {
        let status = self.status()?;
        self.check(status, &[])
    }

    /// Runs it capturing stdout and stderr (those not sent elsewhere),
    /// whatever the exit status.
    pub fn output_unchecked(&self) -> anyhow::Result<Output> {
        self.build(true).run().map_err(|e| self.start_error(e))
    }

    /// Runs it capturing stdout and stderr; an error unless it succeeds.
    pub fn output(&self) -> anyhow::Result<Output> {
        let out = self.output_unchecked()?;
        let messages = match self.stderr {
            Sink::Stdout => &out.stdout,
            _ => &out.stderr,
        };
        self.check(out.status, messages)?;
        Ok(out)
    }

    /// Its stdout (lossy UTF-8, trailing newlines removed, as `$(…)` does);
    /// an error unless it succeeds.
    pub fn read(&self) -> anyhow::Result<String> {
        let out = self.output()?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim_end_matches(['\n', '\r'])
            .to_string())
    }

    /// An error naming the command, its status and its stderr's tail (from
    /// `stderr`, or the file it was written to) unless `status` is success.
    pub fn check(&self, status: ExitStatus, stderr: &[u8]) -> anyhow::Result<()> {
        if status.success() {
            return Ok(());
        }
        let text = match &self.stderr {
            Sink::File(p) => std::fs::read(p).unwrap_or_default(),
            _ => stderr.to_vec(),
        };
        Err(ProcessError {
            command: self.shown(),
            status: Some(status),
            stderr_tail: tail(&String::from_utf8_lossy(&text), TAIL_LINES),
        }
        .into())
    }
}

/// The command line, as a shell would take it back.
impl fmt::Display for ProcessBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_word(&self.program))?;
        for a in &self.args {
            write!(f, " {}", shell_word(a))?;
        }
        Ok(())
    }
}

/// `s` as one shell word: as it is when it is plain, else single-quoted.
pub fn shell_word(s: impl AsRef<OsStr>) -> String {
    let s = s.as_ref().to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=,@+%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Words as one shell command line, each quoted when it needs to be.
pub fn shell_line<S: AsRef<OsStr>>(words: &[S]) -> String {
    words.iter().map(shell_word).collect::<Vec<_>>().join(" ")
}

/// The last `n` non-blank lines of `text`, trimmed.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A command that did not succeed: its command line, how it ended (`None`:
/// killed at a timeout) and the tail of its stderr.
#[derive(Debug)]
pub struct ProcessError {
    pub command: String,
    pub status: Option<ExitStatus>,
    pub stderr_tail: String,
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` failed (", self.command)?;
        match self.status {
            Some(s) => write!(f, "{s})")?,
            None => f.write_str("timed out)")?,
        }
        // On lines of their own, as the command printed them (a reader
        // that wants one line picks the cause out, see cli::one_line).
        if !self.stderr_tail.is_empty() {
            write!(f, ":\n{}", self.stderr_tail)?;
        }
        Ok(())
    }
}

impl std::error::Error for ProcessError {}

/// Whether an error of this module's is a program that was not found.
pub fn not_found(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::NotFound)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_when_needed() {
        let words = ["covkill", "docker:a-b", "it's", "a b", "", "{a,b}"];
        assert_eq!(
            shell_line(&words),
            r#"covkill docker:a-b 'it'\''s' 'a b' '' '{a,b}'"#
        );
    }

    #[test]
    fn errors_name_the_command_its_status_and_stderr() {
        let err = process("sh")
            .args(["-c", "echo one >&2; echo two >&2; exit 3", "a b"])
            .output()
            .unwrap_err();
        let p = err.downcast_ref::<ProcessError>().expect("a ProcessError");
        assert_eq!(p.status.and_then(|s| s.code()), Some(3));
        assert_eq!(
            err.to_string(),
            "`sh -c 'echo one >&2; echo two >&2; exit 3' 'a b'` failed (exit status: 3):\none\ntwo"
        );
        let err = process("covtools-no-such-program").run().unwrap_err();
        assert!(not_found(&err), "{err:#}");
        assert!(format!("{err:#}").starts_with("cannot run `covtools-no-such-program`"));
    }

    #[test]
    fn stdin_env_dir_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = process("sh")
            .args(["-c", "cat; printf \" $X \"; pwd"])
            .env("X", "x")
            .dir(dir.path())
            .stdin_bytes("in")
            .read()
            .unwrap();
        let pwd = dir.path().canonicalize().unwrap();
        assert_eq!(out, format!("in x {}", pwd.display()));
        let log = dir.path().join("err.log");
        let err = process("sh")
            .args(["-c", "echo logged >&2; exit 1"])
            .stderr_path(&log)
            .run()
            .unwrap_err();
        assert!(
            err.to_string().ends_with("(exit status: 1):\nlogged"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "logged\n");
    }
}
