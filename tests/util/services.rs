//! Helpers of the Go-side tests (tests/services.rs) and the end-to-end
//! tests: the example built once, Go's own view of a profile, local
//! processes and HTTP on loopback, Docker objects scoped to a test.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use covcore::profile::{self, Mode, Pos, Visitor};
use covjob::build_services::{self, BuildOptions, Harness, ServiceBuild, HARNESS_TEST};
use covjob::config::Config;
use covjob::docker_images;

use super::{require_go, Dir};

// ---------------------------------------------------------------------------
// The example, built once per test process (Go's build cache makes reruns
// cheap).

pub struct Example {
    pub go: PathBuf,
    pub config: Config,
    pub bin_dir: PathBuf,
}

impl Example {
    pub fn bin(&self, service: &str) -> PathBuf {
        self.bin_dir.join(format!("{service}.test"))
    }
    pub fn module(&self) -> &Path {
        &self.config.module_dir
    }
}

pub fn example() -> Option<&'static Example> {
    let go = require_go()?;
    static EXAMPLE: OnceLock<Example> = OnceLock::new();
    Some(EXAMPLE.get_or_init(|| {
        let config = Config::load(&crate::util::example_dir()).unwrap();
        let bin_dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("covtools-tests/services-bin");
        let opts = BuildOptions::from_config(&config, go.clone(), bin_dir.clone());
        let built = build_services::build_services(&opts).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(built.len(), 3);
        Example {
            go,
            config,
            bin_dir,
        }
    }))
}

/// The classic-harness fixture (tests/example/testdata/legacy), built
/// through its own TestRun.
pub fn legacy() -> Option<&'static (PathBuf, PathBuf)> {
    let go = require_go()?;
    static LEGACY: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    Some(LEGACY.get_or_init(|| {
        let module = crate::util::example_dir().join("testdata/legacy");
        let opts = BuildOptions {
            go,
            module_dir: module.clone(),
            out_dir: PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join("covtools-tests/services-legacy-bin"),
            cover_mode: "count".into(),
            cover_packages: "example.com/legacy/...".into(),
            services: vec![ServiceBuild {
                name: "legacy".into(),
                package: ".".into(),
                harness: Harness::Own("TestRun".into()),
            }],
            jobs: 1,
        };
        let built = build_services::build_services(&opts).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(built[0].test, "TestRun");
        assert!(!built[0].injected);
        (module, built[0].binary.clone())
    }))
}

pub fn wrapper() -> PathBuf {
    docker_images::wrapper_script().unwrap()
}

/// The shells the wrapper must run under: the host's /bin/sh (dash on
/// Debian) and busybox ash (what the images have).
pub fn shells() -> Vec<Vec<String>> {
    let busybox = docker_images::static_busybox().unwrap_or_else(|e| panic!("{e:#}"));
    vec![
        vec!["/bin/sh".into()],
        vec![busybox.display().to_string(), "sh".into()],
    ]
}

// ---------------------------------------------------------------------------
// Go's own view of a profile.

/// `go tool cover -func` of a profile, run in its module.
pub fn cover_func(go: &Path, module: &Path, profile: &Path) -> String {
    super::go::stdout_of(
        Command::new(go)
            .current_dir(module)
            .args(["tool", "cover"])
            .arg(format!("-func={}", profile.display())),
    )
    .unwrap_or_else(|e| {
        let text = fs::read_to_string(profile).unwrap_or_default();
        panic!("{e}\nprofile:\n{text}")
    })
}

/// The percentage `go tool cover -func` gives a function of a file.
pub fn func_percent(func_out: &str, file: &str, func: &str) -> f64 {
    for line in func_out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 && f[0].contains(file) && f[1] == func {
            return f[2].trim_end_matches('%').parse().unwrap();
        }
    }
    panic!("no {file} {func} in go tool cover -func output:\n{func_out}");
}

/// The covered blocks of the files whose path contains `file`, parsed by
/// covcore (the one grammar).
pub fn covered_blocks(profile: &Path, file: &str) -> BTreeSet<(String, Pos)> {
    struct Collect<'a> {
        file: &'a str,
        blocks: BTreeSet<(String, Pos)>,
    }
    impl Visitor for Collect<'_> {
        fn mode(&mut self, _: Mode, _: u64) -> anyhow::Result<()> {
            Ok(())
        }
        fn block(
            &mut self,
            path: &[u8],
            pos: Pos,
            _: u32,
            count: u32,
            _: u64,
        ) -> anyhow::Result<()> {
            let path = String::from_utf8_lossy(path);
            if count > 0 && path.contains(self.file) {
                self.blocks.insert((path.into_owned(), pos));
            }
            Ok(())
        }
    }
    let mut c = Collect {
        file,
        blocks: BTreeSet::new(),
    };
    profile::parse(
        &profile.display().to_string(),
        fs::File::open(profile).unwrap(),
        &mut c,
    )
    .unwrap();
    c.blocks
}

/// Checks a profile with covcore and Go, returns `go tool cover -func`.
pub fn valid_profile(go: &Path, module: &Path, profile: &Path) -> String {
    let summary = profile::validate(
        &profile.display().to_string(),
        fs::File::open(profile).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(summary.blocks > 0, "{} has no blocks", profile.display());
    cover_func(go, module, profile)
}

pub fn cover_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

// ---------------------------------------------------------------------------
// Local processes and HTTP on loopback.

pub fn free_addr() -> String {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

/// A GET with covtarget's one HTTP client: (status, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let r = covtarget::http::get(addr, path, Duration::from_secs(10))?;
    Ok((r.status, r.text().into_owned()))
}

/// GET, retrying while nothing listens yet.
pub fn wait_get(addr: &str, path: &str) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match http_get(addr, path) {
            Ok(r) => return r,
            Err(e) if Instant::now() > deadline => panic!("GET http://{addr}{path}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process in its own process group, killed with its children when
/// dropped; stdout and stderr go to files.
pub struct Proc {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub status: Option<ExitStatus>,
}

impl Proc {
    pub fn spawn(dir: &Dir, name: &str, cmd: &mut Command) -> Proc {
        let stdout = dir.path(format!("{name}.stdout"));
        let stderr = dir.path(format!("{name}.stderr"));
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        Proc {
            child,
            stdout,
            stderr,
            status: None,
        }
    }

    /// Sends a signal to the process itself (not its group).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -s {sig} failed");
    }

    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                self.status = Some(s);
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for an exit that must come within `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        self.wait_timeout(timeout).unwrap_or_else(|| {
            panic!(
                "still running after {timeout:?}; stderr:\n{}",
                self.stderr()
            )
        })
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.wait();
        }
    }
}

/// A harness binary started directly (no wrapper):
/// `svc.test -test.run=^TestCovtoolsHarness$ -test.coverprofile=P ARGS...`.
pub fn run_harness(
    dir: &Dir,
    name: &str,
    bin: &Path,
    killswitch: &str,
    profile: &Path,
    args: &[&str],
) -> Proc {
    Proc::spawn(
        dir,
        name,
        Command::new(bin)
            .env("COVKILL_ADDR", killswitch)
            .arg(format!("-test.run=^{HARNESS_TEST}$"))
            .arg(format!("-test.coverprofile={}", profile.display()))
            .args(args),
    )
}

/// The wrapper as a local process.
pub fn run_wrapper(
    dir: &Dir,
    name: &str,
    shell: &[String],
    bin: &Path,
    cover: &Path,
    killswitch: &str,
    args: &[&str],
) -> Proc {
    let mut cmd = Command::new(&shell[0]);
    cmd.args(&shell[1..])
        .arg(wrapper())
        .args(args)
        .env("COVER_BIN", bin)
        .env("COVER_DIR", cover)
        .env("COVKILL_ADDR", killswitch);
    Proc::spawn(dir, name, &mut cmd)
}

// ---------------------------------------------------------------------------
// Docker: every container, image and network a test makes is removed when
// its scope drops, also when the test fails.

pub use super::{docker, docker_ok};

pub struct DockerScope {
    pub prefix: String,
    pub containers: Mutex<Vec<String>>,
    pub images: Mutex<Vec<String>>,
    pub networks: Mutex<Vec<String>>,
}

impl DockerScope {
    pub fn new(test: &str) -> DockerScope {
        DockerScope {
            prefix: format!(
                "covtools-svc-{}-{}",
                test.replace('_', "-"),
                std::process::id()
            ),
            containers: Mutex::default(),
            images: Mutex::default(),
            networks: Mutex::default(),
        }
    }

    /// The local busybox base, under this test's own tag.
    pub fn base_image(&self) -> String {
        let tag = format!("{}-base:t", self.prefix);
        self.images.lock().unwrap().push(tag.clone());
        docker_images::build_base_image(&tag).unwrap_or_else(|e| panic!("{e:#}"));
        tag
    }

    /// Images of some of the example's services (with covjob's template),
    /// on a fresh base image. Returns service -> image.
    pub fn service_images(
        &self,
        ex: &Example,
        dir: &Dir,
        services: &[&str],
    ) -> BTreeMap<String, String> {
        let base = self.base_image();
        let images: Vec<_> =
            docker_images::service_images(&ex.config, &ex.bin_dir, &self.prefix, "t")
                .unwrap()
                .into_iter()
                .filter(|i| services.contains(&i.service.as_str()))
                .collect();
        assert_eq!(images.len(), services.len());
        let contexts = dir.path("images");
        for img in &images {
            self.images.lock().unwrap().push(img.image.clone());
            docker_images::write_context(img, &base, &contexts.join(&img.service)).unwrap();
        }
        docker_images::build_images(&images, &base, &contexts).unwrap_or_else(|e| panic!("{e:#}"));
        images.into_iter().map(|i| (i.service, i.image)).collect()
    }

    pub fn network(&self) -> String {
        let name = format!("{}-net", self.prefix);
        self.networks.lock().unwrap().push(name.clone());
        docker_ok(&["network", "create", &name]);
        name
    }

    /// `docker run -d --name <prefix>-<name> ARGS...`; returns the name.
    pub fn run(&self, name: &str, args: &[&str]) -> String {
        let name = format!("{}-{name}", self.prefix);
        self.containers.lock().unwrap().push(name.clone());
        let mut all = vec!["run", "-d", "--name", &name];
        all.extend_from_slice(args);
        docker_ok(&all);
        name
    }
}

impl Drop for DockerScope {
    fn drop(&mut self) {
        for c in self.containers.get_mut().unwrap().iter() {
            let _ = docker(&["rm", "-f", "-v", c]);
        }
        for i in self.images.get_mut().unwrap().iter().rev() {
            let _ = docker(&["rmi", "-f", i]);
        }
        for n in self.networks.get_mut().unwrap().iter() {
            let _ = docker(&["network", "rm", n]);
        }
    }
}

pub fn logs(container: &str) -> String {
    let out = docker(&["logs", container]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Hits the killswitch from inside the container with busybox wget (the
/// contract's exec path), retrying while the service (re)starts.
pub fn docker_killswitch(container: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = docker(&[
            "exec",
            container,
            "wget",
            "-q",
            "-O-",
            "http://127.0.0.1:19999/covkill",
        ]);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "killswitch of {container} never answered:\n{}",
            logs(container)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn docker_cover_files(container: &str) -> Vec<String> {
    let out = docker(&["exec", container, "ls", "-a", "/cover"]);
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|n| *n != "." && *n != "..")
        .map(String::from)
        .collect();
    v.sort();
    v
}

pub fn wait_docker_profile(container: &str, n: u32) {
    let want = format!("cover-{n}.out");
    wait_until(
        &format!("{container}:/cover/{want}"),
        Duration::from_secs(20),
        || docker_cover_files(container).contains(&want),
    );
}

/// Copies /cover/cover-<n>.out out of a running container with `cat`.
pub fn docker_profile(dir: &Dir, container: &str, n: u32) -> PathBuf {
    let out = docker(&["exec", container, "cat", &format!("/cover/cover-{n}.out")]);
    assert!(
        out.status.success(),
        "cat cover-{n}.out in {container}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.create(format!("{container}-cover-{n}.out"), out.stdout)
}
