//! Helpers of tests/kill_pull.rs: the fixture service's coverage binary,
//! its image (built by covjob's own code, base image included) and
//! containers with Drop guards, the tools run through a real pipe, and Go's
//! own `go tool cover -func` as the oracle on what was pulled.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::util::*;

// ---------------------------------------------------------------------------
// Fixture: the service's coverage test binary and a busybox root fs.

pub struct Built {
    /// A copy of the service's module (what `go tool cover -func` reads).
    pub module: PathBuf,
    /// The coverage test binary.
    pub svc_test: PathBuf,
    /// The restart wrapper (docker/cover-wrapper.sh), for local processes.
    pub wrapper: PathBuf,
}

pub fn fixtures() -> PathBuf {
    project_root().join("tests/fixtures")
}

/// Builds the service once per test process (the Go build cache makes
/// later processes fast). `None` (a loud skip) outside CI without Go.
pub fn built(with_docker: bool) -> Option<&'static Built> {
    let go = require_go()?;
    if with_docker && !require_docker() {
        return None;
    }
    static BUILT: OnceLock<Built> = OnceLock::new();
    let b = BUILT.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // One directory per test process (several may run at once); those
        // of processes that are gone are removed.
        for entry in fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("killpull-fixture-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let root = tmp.join(format!("killpull-fixture-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let module = root.join("svc");
        copy_dir(&fixtures().join("killpull/svc"), &module);
        // The harness joins package main as `covtools build`
        // injects it (there with -overlay; this is a scratch copy anyway).
        fs::copy(
            project_root().join("tools/harness/covtools_harness_test.go"),
            module.join("covtools_harness_test.go"),
        )
        .unwrap();
        let svc_test = root.join("bin/svc.test");
        let out = Command::new(&go)
            .current_dir(&module)
            .args([
                "test",
                "-c",
                "-cover",
                "-covermode=count",
                "-coverpkg=./...",
                "-o",
            ])
            .arg(&svc_test)
            .arg(".")
            .env("CGO_ENABLED", "0")
            .env("GOTOOLCHAIN", "local")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "go test -c failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Built {
            module,
            svc_test,
            wrapper: covjob::docker_images::wrapper_script().unwrap(),
        }
    });
    Some(b)
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// Docker objects with Drop guards.

/// Names unique to this process and test, valid as Docker container and
/// Kubernetes pod names.
pub fn unique(test: &str, what: &str) -> String {
    format!(
        "covtools-kp-{}-{}-{what}",
        std::process::id(),
        test.replace('_', "-")
    )
}

/// The service's image, made as `covtools images` makes one
/// (docker/Dockerfile.template, the wrapper as entrypoint), on the local
/// busybox base `covtools images --base local` builds (the same
/// code, under this test's own tag); both removed on drop.
pub struct Image {
    pub base: String,
    pub name: String,
}

impl Image {
    pub fn build(b: &Built, dir: &Dir, test: &str) -> Image {
        Image::of(&b.svc_test, Vec::new(), dir, test)
    }

    /// The cover-kind service's image: the wrapper runs the real main with
    /// GOCOVERDIR=/cover (COVER_KIND=cover, as `covtools images`
    /// sets for `[build] kind = "cover"`).
    pub fn cover(c: &CoverBuilt, dir: &Dir, test: &str) -> Image {
        let env = vec![(
            covcore::contract::ENV_COVER_KIND.to_string(),
            "cover".to_string(),
        )];
        Image::of(&c.bin, env, dir, test)
    }

    fn of(binary: &Path, env: Vec<(String, String)>, dir: &Dir, test: &str) -> Image {
        let image = Image {
            base: unique(test, "base"),
            name: unique(test, "img"),
        };
        build_base(&image.base);
        let svc = covjob::docker_images::ServiceImage {
            service: "svc".into(),
            image: image.name.clone(),
            binary: binary.to_path_buf(),
            port: 8080,
            killswitch_port: 19999,
            args: Vec::new(),
            env,
            own_test: None,
        };
        let ctx = dir.path(format!("image-{}", image.name));
        covjob::docker_images::write_context(&svc, &image.base, &ctx).unwrap();
        // `--no-cache`: removing this image cannot take a cached layer from
        // under another test's build.
        docker_ok(&[
            "build",
            "--no-cache",
            "-q",
            "-t",
            &image.name,
            ctx.to_str().unwrap(),
        ]);
        image
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.name]);
        let _one = BASE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let _ = docker(&["rmi", "-f", &self.base]);
    }
}

/// The tests' base images are identical, so Docker's build cache shares
/// their layers: removing one while another is being built from that cache
/// fails the build ("failed to get digest"). Builds and removals of base
/// images take turns.
pub static BASE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The local busybox base image under `tag`, by covjob's own code.
fn build_base(tag: &str) {
    let _one = BASE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    covjob::docker_images::build_base_image(tag).unwrap_or_else(|e| panic!("{e:#}"));
}

pub struct Container(pub String);

impl Container {
    /// Starts the service and waits until it answers HTTP.
    pub fn run(image: &Image, name: String, env: &[(&str, &str)]) -> Container {
        let mut args = vec![
            "run".to_string(),
            "-d".into(),
            "--name".into(),
            name.clone(),
        ];
        for (k, v) in env {
            args.extend(["-e".into(), format!("{k}={v}")]);
        }
        args.push(image.name.clone());
        let c = Container(name);
        docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        c.wait_ready();
        c
    }

    /// Starts `sh -c script` in the image instead of its entrypoint,
    /// without waiting for anything.
    pub fn run_sh(image: &Image, name: String, script: &str) -> Container {
        let c = Container(name);
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &c.0,
            "--entrypoint",
            "/bin/sh",
            &image.name,
            "-c",
            script,
        ]);
        c
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // A path the service does not serve: 404 means it is up, and no
            // handler (no coverage) is touched.
            let out = docker(&[
                "exec",
                &self.0,
                "sh",
                "-c",
                "wget -q -O- http://127.0.0.1:8080/ready 2>&1; true",
            ]);
            if String::from_utf8_lossy(&out.stdout).contains("404") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never answered: {}",
                self.0,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn get(&self, path: &str) -> String {
        docker_ok(&[
            "exec",
            &self.0,
            "wget",
            "-q",
            "-O-",
            &format!("http://127.0.0.1:8080{path}"),
        ])
    }

    pub fn sh(&self, script: &str) -> String {
        docker_ok(&["exec", &self.0, "sh", "-c", script])
    }

    pub fn logs(&self) -> String {
        let out = docker(&["logs", "--tail", "30", &self.0]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    pub fn target(&self) -> String {
        format!("docker:{}", self.0)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.0]);
    }
}

// ---------------------------------------------------------------------------
// Running the tools.

/// `covkill KILL… | covpull PULL…` through a real pipe.
pub fn kill_pipe_pull(
    dir: &Dir,
    kill: &[&str],
    pull: &[&str],
    env: &[(&str, &str)],
) -> (Output, Output) {
    let mut k = Command::new(bin("covkill"));
    k.current_dir(&dir.root)
        .args(kill)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Command::new(bin("covpull"));
    p.current_dir(&dir.root)
        .args(pull)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, v) in env {
        k.env(key, v);
        p.env(key, v);
    }
    let mut kc = k.spawn().unwrap();
    p.stdin(kc.stdout.take().unwrap());
    let pc = p.spawn().unwrap();
    let kerr = drain(kc.stderr.take().unwrap());
    let pout = pc.wait_with_output().unwrap();
    let kstatus = kc.wait().unwrap();
    let kout = Output {
        status: kstatus,
        stdout: Vec::new(),
        stderr: kerr.join().unwrap(),
    };
    (kout, pout)
}

pub fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn assert_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The paths covpull printed, each checked to exist and to be a profile Go
/// itself accepts (the oracle: `go tool cover -func`).
pub fn pulled(dir: &Dir, b: &Built, stdout: &[u8]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = text(stdout).lines().map(|l| dir.root.join(l)).collect();
    paths.sort();
    for p in &paths {
        go_func(b, p);
    }
    paths
}

/// `go tool cover -func` on a profile, in the service's module.
pub fn go_func(b: &Built, profile: &Path) -> String {
    go::stdout_of(
        Command::new(go().unwrap())
            .current_dir(&b.module)
            .args(["tool", "cover"])
            .arg(format!("-func={}", profile.display())),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The percentage `go tool cover -func` gives one function (or "total:").
pub fn func_cover(func_output: &str, name: &str) -> String {
    func_output
        .lines()
        .find(|l| {
            l.split_whitespace().nth(1) == Some(name)
                || (name == "total" && l.starts_with("total:"))
        })
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no {name} in\n{func_output}"))
        .to_string()
}

/// Runs `cmd` (its output piped) while each of `containers` is removed
/// after `delay(its index)`: a fault in the middle of a run. Its output.
pub fn output_while_removing(
    cmd: &mut Command,
    containers: &[&Container],
    delay: impl Fn(usize) -> Duration,
) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::scope(|s| {
        for (i, c) in containers.iter().enumerate() {
            let delay = delay(i);
            s.spawn(move || {
                std::thread::sleep(delay);
                docker(&["rm", "-f", "-v", &c.0]);
            });
        }
    });
    child.wait_with_output().unwrap()
}

/// The count of the block starting on the line of main.go holding `needle`.
pub fn count_at(b: &Built, profile: &Path, needle: &str) -> u64 {
    let src = fs::read_to_string(b.module.join("main.go")).unwrap();
    let line = src
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in main.go")
        + 1;
    let prefix = format!("example.com/killpull/main.go:{line}.");
    let data = fs::read_to_string(profile).unwrap();
    let counts: Vec<u64> = data
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        counts.len(),
        1,
        "one block at main.go:{line} in {}:\n{data}",
        profile.display()
    );
    counts[0]
}

pub fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------
// Docker.

/// The fixture wrapper run as a local process; SIGTERM on drop (the wrapper
/// forwards it, so the service writes its profile and nothing is left).
pub struct LocalService {
    pub child: Child,
}

impl Drop for LocalService {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    Ok(buf)
}

// ---------------------------------------------------------------------------
// Live snapshots: tests/fixtures/snapshot, a `go build -cover
// -covermode=atomic` service that serves the harness's flush/reset contract
// itself.

/// The cover-kind binary of tests/fixtures/killpull/svc.
/// The fixture service's source file as profiles name it.
const SVC_MAIN: &str = "example.com/killpull/main.go";

pub struct CoverBuilt {
    /// The module built (read-only: the cover kind builds from a copy).
    pub module: PathBuf,
    pub bin: PathBuf,
}

/// Builds the cover-kind service once per test process, after the
/// test-kind one (whose first build empties the per-process directory).
pub fn cover_built(with_docker: bool) -> Option<&'static CoverBuilt> {
    built(with_docker)?;
    let go = require_go()?;
    static BUILT: OnceLock<CoverBuilt> = OnceLock::new();
    Some(BUILT.get_or_init(|| {
        use covjob::build_services::{
            build_services, BuildKind, BuildOptions, Harness, ServiceBuild,
        };
        let module = fixtures().join("killpull/svc");
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("killpull-fixture-{}", std::process::id()))
            .join("cover-bin");
        let built = build_services(&BuildOptions {
            go,
            module_dir: module.clone(),
            out_dir,
            cover_mode: "atomic".into(),
            cover_packages: "example.com/killpull/...".into(),
            services: vec![ServiceBuild {
                name: "svc".into(),
                package: ".".into(),
                harness: Harness::Covtools(BuildKind::Cover),
            }],
            jobs: 1,
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
        CoverBuilt {
            module,
            bin: built.into_iter().next().unwrap().binary,
        }
    }))
}

/// `go tool covdata textfmt` of a GOCOVERDIR, beside it.
pub fn covdata_textfmt(dir: &Path) -> String {
    crate::util::go::covdata_textfmt(&go().unwrap(), &[dir], &dir.with_extension("textfmt"))
}

/// The count of the block starting on the line of the service's main.go
/// holding `needle`, in a text profile.
pub fn cover_count(c: &CoverBuilt, profile: &str, needle: &str) -> u64 {
    let src = fs::read_to_string(c.module.join("main.go")).unwrap();
    let line = src
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in main.go")
        + 1;
    let prefix = format!("{SVC_MAIN}:{line}.");
    let counts: Vec<u64> = profile
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 1, "one block at main.go:{line}:\n{profile}");
    counts[0]
}

/// A profile of the service alone: the harness (a module of its own,
/// outside -coverpkg) adds no block, so two flushes without traffic give
/// the very same profile.
pub fn assert_service_only(profile: &str) {
    let mut lines = profile.lines();
    assert_eq!(lines.next(), Some("mode: atomic"), "{profile}");
    for l in lines {
        assert!(l.starts_with(&format!("{SVC_MAIN}:")), "{l}\n{profile}");
    }
}
