//! The `xtask` binary itself under a real Ctrl-C: SIGINT while the
//! integration tests run stops them, tears every container, network and
//! process down, and exits 130; SIGTERM does the same and exits 143. (tests/cover.rs drives the same teardown
//! through the library; only the binary installs the signal handlers.)

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// The one skip helper of every test binary (counted by `cargo xtask test`).
#[allow(dead_code)]
#[path = "../../tests/util/skip.rs"]
mod skip;

/// A Docker engine answers; in CI its absence is a failure.
fn require_docker() -> bool {
    let up = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !up {
        skip::skip_unless_ci("no Docker engine is reachable");
    }
    up
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Everything Docker holds under one prefix, removed on drop (also when the
/// test fails).
struct Scope {
    prefix: String,
}

impl Scope {
    fn base_tag(&self) -> String {
        format!("{}-base:local", self.prefix)
    }

    fn containers_and_networks(&self) -> Vec<String> {
        let label = format!("label=covtools.run={}", self.prefix);
        let mut found = docker_lines(&["ps", "-a", "--filter", &label, "--format", "{{.Names}}"]);
        found.extend(docker_lines(&[
            "network",
            "ls",
            "--filter",
            &label,
            "--format",
            "{{.Name}}",
        ]));
        found
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let label = format!("label=covtools.run={}", self.prefix);
        for id in docker_lines(&["ps", "-aq", "--filter", &label]) {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v", &id])
                .output();
        }
        for id in docker_lines(&["network", "ls", "-q", "--filter", &label]) {
            let _ = Command::new("docker").args(["network", "rm", &id]).output();
        }
        let reference = format!("reference={}/*", self.prefix);
        let mut images = docker_lines(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            &reference,
        ]);
        images.push(self.base_tag());
        for image in images {
            let _ = Command::new("docker").args(["rmi", "-f", &image]).output();
        }
    }
}

/// Processes whose command line is exactly `argv`.
fn processes_running(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"])
        .flatten()
        .copied()
        .collect();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Kills the child if the test ends before it did.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn ctrl_c_during_the_tests_tears_everything_down_and_exits_130() {
    signal_during_the_tests("int", libc::SIGINT, 130);
}

#[test]
fn sigterm_during_the_tests_tears_everything_down_and_exits_143() {
    signal_during_the_tests("term", libc::SIGTERM, 143);
}

fn signal_during_the_tests(name: &str, signal: i32, code: i32) {
    if !require_docker() {
        return;
    }
    let xtask = Path::new(env!("CARGO_BIN_EXE_xtask"));
    // The covtools binaries of the same build (`cargo test --workspace`
    // builds every package's binaries into one directory).
    let tools = xtask.parent().unwrap();
    assert!(
        tools.join("covkill").is_file(),
        "no covkill next to {}: run the tests with `cargo xtask test` (cargo test --workspace)",
        xtask.display()
    );
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("xtask-signals-{name}"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).unwrap();
    let scope = Scope {
        prefix: format!("covtools-signals-{name}-{}", std::process::id()),
    };
    let marker = tmp.join("tests-started");
    // A sleep this test can find by its exact command line.
    let seconds = format!(
        "{}",
        6000 + signal * 1000 + std::process::id() as i32 % 1000
    );
    let script = format!("touch '{}' && exec sleep {seconds}", marker.display());
    let mut cmd = Command::new(xtask);
    cmd.arg("integration-cover")
        .args(["--prefix", &scope.prefix, "--base", "local"])
        .args(["--local-base-tag", &scope.base_tag()])
        .arg("--out")
        .arg(tmp.join("out"))
        .arg("--work")
        .arg(tmp.join("work"))
        .arg("--tools")
        .arg(tools)
        .args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Reap(cmd.spawn().unwrap());
    let stdout = drain(child.0.stdout.take().unwrap());
    let stderr = drain(child.0.stderr.take().unwrap());

    // A cold Go build cache can take minutes before the tests start.
    let deadline = Instant::now() + Duration::from_secs(600);
    while !marker.exists() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "integration-cover ended ({status}) before the tests started:\n{}",
                stderr.join().unwrap()
            );
        }
        assert!(Instant::now() < deadline, "the tests never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !scope.containers_and_networks().is_empty(),
        "the services run in containers while the tests run"
    );
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, signal) }, 0);
    let interrupted = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            interrupted.elapsed() < Duration::from_secs(60),
            "still running 60 s after signal {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert_eq!(
        status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for said in [
        "interrupted: stopping and tearing down",
        "[teardown] everything removed",
    ] {
        assert!(stderr.contains(said), "{said:?} not in:\n{stderr}");
    }
    assert_eq!(scope.containers_and_networks(), Vec::<String>::new());
    assert_eq!(processes_running(&["sleep", &seconds]), Vec::<u32>::new());
}
