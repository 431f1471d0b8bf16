//! Helpers of tests/compose_stack.rs: an example module's compose stack run
//! as its developers run it, with the real Compose CLI and the dependency
//! images `cargo xtask dep-images` builds (this file includes its code), and
//! the native run of such a stack: the Go service built with `go build
//! -cover`, run in the stack in place of its image with GOCOVERDIR on a
//! volume, driven by the module's own suite, stopped with SIGTERM and read
//! with `go tool covdata textfmt`. That profile is the oracle a measured
//! compose run is compared with.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use covjob::config::Config;

use super::kill_pull::BASE_LOCK;
use super::services::http_get;
use super::shapes::{go_run, run_suite, NATIVE_STOP, NATIVE_STOP_GO};
use super::{copy_tree, docker, docker_ok, project_root, skip, Dir};

#[allow(dead_code)]
#[path = "../../xtask/src/dep_images.rs"]
pub mod dep_images;

/// An example module (tests/modules/<name>).
pub fn module(name: &str) -> PathBuf {
    project_root().join("tests/modules").join(name)
}

/// The Compose CLI on this machine: Debian's `docker-compose` (v1), else
/// the `docker compose` plugin (v2). `None` when neither answers.
pub fn compose_cli() -> Option<Vec<String>> {
    static CLI: OnceLock<Option<Vec<String>>> = OnceLock::new();
    CLI.get_or_init(|| {
        [vec!["docker-compose"], vec!["docker", "compose"]]
            .into_iter()
            .find(|cli| {
                Command::new(cli[0])
                    .args(&cli[1..])
                    .arg("version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .map(|cli| cli.into_iter().map(String::from).collect())
    })
    .clone()
}

/// [`compose_cli`], or: a failure in CI, a loud skip elsewhere.
pub fn require_compose() -> Option<Vec<String>> {
    let cli = compose_cli();
    if cli.is_none() {
        skip::skip_unless_ci(
            "no Compose CLI (neither docker-compose nor `docker compose`; Debian's package is docker-compose)",
        );
    }
    cli
}

/// Compose's project label, on containers, networks and named volumes.
const PROJECT_LABEL: &str = "com.docker.compose.project";

/// One compose project of one test: `-p NAME -f FILE…`, run in the first
/// file's directory with the given interpolation variables. Taken down
/// with its volumes and orphans when dropped, whatever happened.
pub struct Project {
    pub cli: Vec<String>,
    pub name: String,
    pub files: Vec<PathBuf>,
    pub env: Vec<(String, String)>,
    /// The volumes its containers mounted (anonymous ones carry no label).
    pub volumes: Vec<String>,
}

impl Project {
    pub fn new(cli: Vec<String>, test: &str, files: Vec<PathBuf>) -> Project {
        // Compose v1 keeps only lowercase letters, digits, `-` and `_`.
        let name = format!("covtools-{}-{}", test.replace('_', "-"), std::process::id());
        Project {
            cli,
            name,
            files,
            env: Vec::new(),
            volumes: Vec::new(),
        }
    }

    /// The Compose command with the project's name and files.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cli[0]);
        cmd.args(&self.cli[1..]).args(["-p", &self.name]);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args)
            .current_dir(self.files[0].parent().expect("a compose file's directory"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running the Compose CLI")
    }

    /// Runs, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "{} {}: {}\n{}{}",
            self.cli.join(" "),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The container of a service (found by Compose's labels, not by name).
    pub fn container(&self, service: &str) -> String {
        let out = docker_ok(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label={PROJECT_LABEL}={}", self.name),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]);
        let ids: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(ids.len(), 1, "containers of {service}: {ids:?}");
        ids[0].to_string()
    }

    /// The host address a service's container port is published on.
    pub fn published(&self, service: &str, port: u16) -> String {
        let out = self.ok(&["port", service, &port.to_string()]);
        // v2 may list an IPv6 binding too; the first is the IPv4 one.
        let first = out.lines().next().unwrap_or("").trim();
        let addr = first.replace("0.0.0.0:", "127.0.0.1:");
        assert!(
            addr.contains(':'),
            "{service}:{port} is not published: {out:?}"
        );
        addr
    }

    /// Records the volumes the project's containers mount, for
    /// [`Project::leftovers`].
    pub fn note_volumes(&mut self) {
        let ids = docker_ok(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label={PROJECT_LABEL}={}", self.name),
        ]);
        for id in ids.split_whitespace() {
            let names = docker_ok(&[
                "inspect",
                "--format",
                "{{range .Mounts}}{{if .Name}}{{println .Name}}{{end}}{{end}}",
                id,
            ]);
            self.volumes.extend(names.lines().map(String::from));
        }
        self.volumes.sort();
        self.volumes.dedup();
    }

    /// `down` with the volumes and orphans; asserts success.
    pub fn down(&self) {
        self.ok(&["down", "-v", "--remove-orphans", "-t", "20"]);
    }

    /// What of the project `docker ps -a`, `docker network ls` and `docker
    /// volume ls` still list: by Compose's label, by the `<project>_` prefix
    /// of what it names, and the volumes noted while it ran.
    pub fn leftovers(&self) -> Vec<String> {
        let label = format!("label={PROJECT_LABEL}={}", self.name);
        let prefix = format!("{}_", self.name);
        let names = |list: &[&str], format: &str, filter: &[&str]| -> Vec<String> {
            let args = [list, &["--format", format], filter].concat();
            docker_ok(&args).lines().map(String::from).collect()
        };
        let mut found = Vec::new();
        for (what, list, format) in [
            ("container", &["ps", "-a"][..], "{{.Names}}"),
            ("network", &["network", "ls"][..], "{{.Name}}"),
            ("volume", &["volume", "ls"][..], "{{.Name}}"),
        ] {
            let labelled = names(list, format, &["--filter", &label]);
            for name in names(list, format, &[]) {
                let noted = what == "volume" && self.volumes.contains(&name);
                if name.starts_with(&prefix) || noted || labelled.contains(&name) {
                    found.push(format!("{what} {name}"));
                }
            }
        }
        found
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["down", "-v", "--remove-orphans", "-t", "5"])
            .output();
        for v in &self.volumes {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
    }
}

/// The local busybox base and the image of one binary on it (`ENTRYPOINT
/// ["/<name>"]`), both removed when dropped.
pub struct BinaryImage {
    pub base: String,
    pub name: String,
}

impl BinaryImage {
    pub fn build(dir: &Dir, binary: &Path, tag: &str) -> BinaryImage {
        let image = BinaryImage {
            base: format!("{tag}-base:local"),
            name: format!("{tag}:native"),
        };
        {
            // Builds and removals of the tests' identical base images take
            // turns (tests/util/kill_pull.rs says why).
            let _one = BASE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            covjob::docker_images::build_base_image(&image.base)
                .unwrap_or_else(|e| panic!("{e:#}"));
        }
        let file = binary.file_name().unwrap().to_string_lossy().into_owned();
        let ctx = dir.path(format!("image-{file}"));
        fs::create_dir_all(&ctx).unwrap();
        fs::copy(binary, ctx.join(&file)).unwrap();
        fs::write(
            ctx.join("Dockerfile"),
            format!(
                "FROM {}\nCOPY {file} /{file}\nENTRYPOINT [\"/{file}\"]\n",
                image.base
            ),
        )
        .unwrap();
        docker_ok(&["build", "-q", "-t", &image.name, ctx.to_str().unwrap()]);
        image
    }
}

impl Drop for BinaryImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.name]);
        let _one = BASE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let _ = docker(&["rmi", "-f", &self.base]);
    }
}

/// What a native run of a stack left: its profile and what its suite said.
pub struct NativeRun {
    /// `go tool covdata textfmt`'s profile (also in `dir/native.out`).
    pub profile: String,
    pub profile_path: PathBuf,
    /// The module's suite's output.
    pub suite: String,
    /// How long the stack took to answer, from `up`.
    pub up_to_ready: Duration,
    /// The project, taken down already; its leftovers can be asked.
    pub project: Project,
}

/// The native oracle of an example stack: the module's compose file as
/// written (its dependency images built by dep-images' code), with its one
/// `[[service]]` (the compose service of that name) built natively with `go
/// build -cover` (the config's mode and packages, CGO_ENABLED=0) into an
/// image on the local busybox base, put in place of the service's own image
/// by an override file that also mounts a GOCOVERDIR volume. `compose_env`
/// is the Compose interpolation the run needs (host ports, say). Up with
/// `--no-build`, ready when the service answers its `ready` path on its
/// published port (its dependencies' health checks gate its start), the
/// config's `[tests] command` run against that URL, the service stopped
/// with SIGTERM (so Go writes its counters), the data copied out and
/// converted, then `down -v --remove-orphans`.
pub fn native_compose_run(
    dir: &Dir,
    go_bin: &Path,
    module_name: &str,
    compose_env: &[(&str, &str)],
) -> NativeRun {
    native_compose_run_with(dir, go_bin, module_name, compose_env, NativeStop::Sigterm)
}

/// How the native run stops its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeStop {
    /// `compose stop`: the service shuts down by itself (main returns).
    Sigterm,
    /// Exits through `os.Exit(0)` while serving, as the harness's
    /// killswitch stops a service covtools measures: the binary is built
    /// from a copy with tests/util/shapes.rs's SIGUSR1 file added to its
    /// package main (its blocks are that file's alone).
    ExitWhileServing,
}

/// [`native_compose_run`], stopped as `stop` says.
pub fn native_compose_run_with(
    dir: &Dir,
    go_bin: &Path,
    module_name: &str,
    compose_env: &[(&str, &str)],
    stop: NativeStop,
) -> NativeRun {
    let module = module(module_name);
    let cli = compose_cli().expect("a Compose CLI (require_compose)");
    // The dependency images its compose file names (only those: another
    // can take minutes to build).
    let compose_text = fs::read_to_string(compose_file(&module)).unwrap();
    for recipe in dep_images::RECIPES {
        if compose_text.contains(recipe.tag) {
            dep_images::ensure(recipe).unwrap_or_else(|e| panic!("dep-images: {e:#}"));
        }
    }
    let config = Config::load(&module).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(config.services.len(), 1, "one Go service per example stack");
    let svc = &config.services[0];

    let binary = dir.path(format!("native/{}", svc.name));
    let src = match stop {
        NativeStop::Sigterm => module.clone(),
        NativeStop::ExitWhileServing => {
            let src = dir.path("native/src");
            let _ = fs::remove_dir_all(&src);
            copy_tree(&module, &src);
            fs::write(src.join(&svc.package).join(NATIVE_STOP), NATIVE_STOP_GO).unwrap();
            src
        }
    };
    go_run(
        go_bin,
        &src,
        &[
            "build",
            "-cover",
            &format!("-covermode={}", config.build.cover_mode),
            &format!("-coverpkg={}", config.cover_packages()),
            "-o",
            binary.to_str().unwrap(),
            &svc.package,
        ],
        &[],
    );
    let tag = format!("covtools-native-{module_name}-{}", std::process::id());
    let image = BinaryImage::build(dir, &binary, &tag);

    let override_file = dir.create(
        "native/override.yaml",
        format!(
            "services:\n  {svc}:\n    image: {image}\n    environment:\n      GOCOVERDIR: /gocover\n    volumes:\n      - gocover:/gocover\nvolumes:\n  gocover: {{}}\n",
            svc = svc.name,
            image = image.name
        ),
    );
    let mut project = Project::new(
        cli,
        &format!("native-{module_name}"),
        vec![compose_file(&module), override_file],
    );
    project.env = compose_env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

    let t = Instant::now();
    project.ok(&["up", "-d", "--no-build"]);
    project.note_volumes();
    let container = project.container(&svc.name);
    let addr = project.published(&svc.name, svc.port);
    let ready = svc.ready.as_deref().unwrap_or("/");
    wait_ready(&container, &addr, ready, Duration::from_secs(90));
    let up_to_ready = t.elapsed();

    // The module's suite, as covtools would run it: {url:NAME} is the
    // published port.
    let urls: BTreeMap<String, String> = [(svc.name.clone(), format!("http://{addr}"))].into();
    let suite = run_suite(go_bin, &config, &urls);

    match stop {
        // `stop` sends SIGTERM: the service returns from main, which
        // writes the counters into GOCOVERDIR.
        NativeStop::Sigterm => drop(project.ok(&["stop", "-t", "30", &svc.name])),
        NativeStop::ExitWhileServing => {
            project.ok(&["kill", "-s", "SIGUSR1", &svc.name]);
            let t = Instant::now();
            while docker_ok(&["inspect", "--format", "{{.State.Status}}", &container]).trim()
                != "exited"
            {
                assert!(
                    t.elapsed() < Duration::from_secs(30),
                    "{} did not exit on SIGUSR1",
                    svc.name
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let code = docker_ok(&["inspect", "--format", "{{.State.ExitCode}}", &container]);
    assert_eq!(
        code.trim(),
        "0",
        "{} exited {code} on {stop:?}:\n{}",
        svc.name,
        logs(&container)
    );
    let covdir = dir.path("native/gocover");
    let _ = fs::remove_dir_all(&covdir);
    docker_ok(&[
        "cp",
        &format!("{container}:/gocover"),
        covdir.to_str().unwrap(),
    ]);
    let profile_path = dir.path("native/native.out");
    go_run(
        go_bin,
        &module,
        &[
            "tool",
            "covdata",
            "textfmt",
            &format!("-i={}", covdir.display()),
            &format!("-o={}", profile_path.display()),
        ],
        &[],
    );
    // What `leftovers` finds once the project is down, it sees now.
    let up = project.leftovers();
    for what in ["container", "network", "volume"] {
        assert!(
            up.iter().any(|l| l.starts_with(what)),
            "no {what} in {up:?}"
        );
    }
    project.down();
    drop(image);
    NativeRun {
        profile: fs::read_to_string(&profile_path).unwrap(),
        profile_path,
        suite,
        up_to_ready,
        project,
    }
}

/// The module's compose file: the first of the names Compose looks for.
pub fn compose_file(module: &Path) -> PathBuf {
    [
        "compose.yaml",
        "compose.yml",
        "docker-compose.yaml",
        "docker-compose.yml",
    ]
    .iter()
    .map(|f| module.join(f))
    .find(|f| f.is_file())
    .unwrap_or_else(|| panic!("no compose file in {}", module.display()))
}

/// Waits until the service answers 200 on `path` at `addr`; fails at once,
/// with its log, when its container stops.
fn wait_ready(container: &str, addr: &str, path: &str, timeout: Duration) {
    let t = Instant::now();
    loop {
        if http_get(addr, path).is_ok_and(|(code, _)| code == 200) {
            return;
        }
        let state = docker_ok(&["inspect", "--format", "{{.State.Status}}", container]);
        assert!(
            state.trim() == "running" || state.trim() == "created",
            "the service's container is {}:\n{}",
            state.trim(),
            logs(container)
        );
        assert!(
            t.elapsed() < timeout,
            "no 200 from http://{addr}{path} after {timeout:?}:\n{}",
            logs(container)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn logs(container: &str) -> String {
    let out = docker(&["logs", "--tail", "40", container]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
