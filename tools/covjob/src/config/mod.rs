//! The services of a Go module, as its `covtools.toml` describes them: the
//! one place that lists a module's services for `covtools build`, `covtools
//! images`, `covtools cover` and the tests. A leaf: it imports no other
//! module of this crate.
//!
//! In a service's `args` and `env` values, and in the tests' `args`, `env`
//! and `command`, placeholders are filled in for the runtime:
//! - `{addr}`: the service's own listen address (Docker: `:PORT`; local
//!   processes: `127.0.0.1:PORT` with a free port);
//! - `{host}` and `{port}`: its parts (Docker: `0.0.0.0` and the configured
//!   port; local: `127.0.0.1` and the free port), for services that take a
//!   bare port (`-port {port}`, `PORT = "{port}"`);
//! - `{url:NAME}`: the base URL of service NAME (Docker: `http://NAME:PORT`
//!   on the services' network, or the published port from the host);
//! - `{host:NAME}` and `{port:NAME}`: its parts, for tests that read a bare
//!   port (`SERVERPORT = "{port:db}"`).
//!
//! `{{` and `}}` are literal braces (`sh -c 'echo ${{PORT}}'`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

mod compose;
mod kinds;
mod load;
mod render;
mod set;
mod validate;

pub use compose::{ComposeFiles, COMPOSE_FILE_NAMES};
pub use kinds::{check_formats, BuildKind, PerTest, PhaseConfig, REPORT_FORMATS};
pub use render::render;
use render::uses_own_addr;
pub use validate::RUNTIMES;

/// The configuration file at a Go module root.
pub const CONFIG_FILE: &str = "covtools.toml";

/// The folder under a module where covtools keeps a run's results (and,
/// below `work/`, its binaries and image contexts) unless told otherwise.
pub const STATE_DIR: &str = ".covtools";

/// `<module>/.covtools`: the default output directory.
pub fn state_dir(module_dir: &Path) -> PathBuf {
    module_dir.join(STATE_DIR)
}

/// `<module>/.covtools/work`: the default work directory (binaries, image
/// contexts, local cover directories).
pub fn work_dir(module_dir: &Path) -> PathBuf {
    state_dir(module_dir).join("work")
}

/// Creates `dir`; when it lies in the module's [`STATE_DIR`], that folder
/// also gets a `.gitignore` of `*`, so that a run leaves `git status` of
/// the user's repository clean (as pytest's cache does).
pub fn create_output_dir(module_dir: &Path, dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let state = state_dir(module_dir);
    let ignore = state.join(".gitignore");
    if dir.starts_with(&state) && !ignore.exists() {
        fs::write(
            &ignore,
            "# Written by covtools: its results, not sources.\n*\n",
        )
        .with_context(|| format!("writing {}", ignore.display()))?;
    }
    Ok(())
}

/// `--module` and `--config`, the same for every task that reads a module.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ModuleArgs {
    /// The Go module [default: the nearest folder upward from here holding
    /// covtools.toml, else go.mod].
    #[arg(long, value_name = "DIR")]
    pub module: Option<PathBuf>,
    /// The configuration file [default: <module>/covtools.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ModuleArgs {
    /// The module root: `--module`, else [`find_module`] from the current
    /// directory.
    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        match &self.module {
            Some(m) => Ok(m.clone()),
            None => {
                let here = std::env::current_dir().context("reading the current directory")?;
                find_module(&here)
            }
        }
    }

    /// [`dir`](Self::dir), checked to be a Go module root, so that a run
    /// started in the wrong place stops at once with one line saying where
    /// it looked.
    pub fn go_module_dir(&self) -> anyhow::Result<PathBuf> {
        let dir = self.dir()?;
        if !dir.join("go.mod").is_file() {
            anyhow::bail!(
                "no go.mod in {}: covtools measures a Go module; run it inside one, or pass --module DIR",
                dir.display()
            );
        }
        Ok(dir)
    }

    /// The configuration file: `--config`, else `<module>/covtools.toml`.
    pub fn config_file(&self, module_dir: &Path) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| module_dir.join(CONFIG_FILE))
    }
}

/// The nearest folder from `start` upward that holds `covtools.toml`, else
/// the nearest that holds `go.mod`; an error saying where it looked.
pub fn find_module(start: &Path) -> anyhow::Result<PathBuf> {
    let upward = || start.ancestors();
    upward()
        .find(|d| d.join(CONFIG_FILE).is_file())
        .or_else(|| upward().find(|d| d.join("go.mod").is_file()))
        .map(Path::to_path_buf)
        .with_context(|| {
            format!(
                "no {CONFIG_FILE} or go.mod in {} or any folder above it: run covtools inside a Go module, or pass --module DIR",
                start.display()
            )
        })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub build: BuildConfig,
    #[serde(default)]
    pub image: ImageConfig,
    #[serde(rename = "service", default)]
    pub services: Vec<Service>,
    /// `[tests]`, or `[[tests]]` phases (split into the two fields below).
    #[serde(rename = "tests", default, deserialize_with = "tests_or_phases")]
    tests_spec: Option<TestsOrPhases>,
    #[serde(skip)]
    pub tests: Option<TestsConfig>,
    /// `[[tests]]`: named test phases, each measured on its own (cover/phases.rs).
    #[serde(skip)]
    pub phases: Vec<PhaseConfig>,
    #[serde(default)]
    pub gates: GatesConfig,
    #[serde(default)]
    pub report: ReportConfig,
    #[serde(default)]
    pub run: RunConfig,
    /// The Go module root (where the file was found).
    #[serde(skip)]
    pub module_dir: PathBuf,
    /// The module path from go.mod (`example.com/shop`).
    #[serde(skip)]
    pub module_path: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// `test` (go test -c) or `cover` (go build -cover of the real main).
    #[serde(default)]
    pub kind: BuildKind,
    /// `-covermode`: set, count or atomic (default: count; atomic for kind cover).
    #[serde(default)]
    pub cover_mode: String,
    /// `-coverpkg`; default `<module path>/...`.
    #[serde(default)]
    pub cover_packages: Option<String>,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            kind: Default::default(),
            cover_mode: default_cover_mode(),
            cover_packages: None,
        }
    }
}

fn default_cover_mode() -> String {
    "count".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// The base image; it needs a POSIX sh (busybox or alpine).
    #[serde(default = "default_base")]
    pub base: String,
    /// The harness's killswitch port inside the containers.
    #[serde(default = "default_killswitch_port")]
    pub killswitch_port: u16,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            base: default_base(),
            killswitch_port: default_killswitch_port(),
        }
    }
}

pub const DEFAULT_BASE: &str = "alpine:3";
pub const DEFAULT_KILLSWITCH_PORT: u16 = covcore::contract::KILLSWITCH_PORT;

fn default_base() -> String {
    DEFAULT_BASE.into()
}

fn default_killswitch_port() -> u16 {
    DEFAULT_KILLSWITCH_PORT
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Container, image and binary name: lowercase letters, digits, `-`.
    pub name: String,
    /// The main package, relative to the module root (`./cmd/orders`).
    pub package: String,
    /// The port the service listens on (inside its container).
    pub port: u16,
    /// Readiness: an HTTP path answering 2xx when ready; none means the port
    /// accepting connections is enough.
    #[serde(default)]
    pub ready: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The service's own hand-written harness test (`TestRun`), used instead
    /// of the injected one.
    #[serde(default)]
    pub harness_test: Option<String>,
    /// The directory the service runs in, relative to the module root, for
    /// services that read files relative to their working directory
    /// (Docker: mounted read-only into the container). Default: a scratch
    /// directory of the run.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    /// How many replicas run: the Swarm runtime's tasks (default 1), or the
    /// Compose runtime's containers (`up --scale`; default: what the compose
    /// file says, `scale:` or `deploy.replicas`); measured all together.
    #[serde(default)]
    pub replicas: Option<u32>,
}

#[derive(Debug, Clone)]
enum TestsOrPhases {
    One(TestsConfig),
    Phases(Vec<PhaseConfig>),
}

/// `[tests]` (a table) or `[[tests]]` (an array of phases).
fn tests_or_phases<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<TestsOrPhases>, D::Error> {
    use serde::de::Error;
    let value = toml::Value::deserialize(d)?;
    Ok(Some(match value {
        toml::Value::Array(_) => TestsOrPhases::Phases(value.try_into().map_err(D::Error::custom)?),
        _ => TestsOrPhases::One(value.try_into().map_err(D::Error::custom)?),
    }))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestsConfig {
    /// A Go main package of the module to build (static) and run as the
    /// integration tests.
    #[serde(default)]
    pub package: Option<String>,
    /// Or a command to run on the host.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Arguments (placeholders as for services; `{url:NAME}`).
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Where a `package` test program runs under the Docker runtime:
    /// `container` (on the services' network, reaching them by name; the
    /// default), `host` (against their published loopback ports), or
    /// `service:NAME` (inside service NAME's container, for a service that
    /// listens on loopback only: `{url:NAME}` is then its loopback URL). A
    /// `command` always runs on the host.
    #[serde(default)]
    pub run_in: Option<String>,
    /// Coverage per test (cover/per_test/): a `go test` command runs its
    /// top-level tests one at a time (`true`), and with `"subtests"` each
    /// subtest alone too; any other command or program gets
    /// `$COVTOOLS_TESTS_URL` to mark where each of its tests starts and
    /// ends. Needs live snapshots (build kind cover, covermode atomic).
    #[serde(default)]
    pub per_test: PerTest,
}

/// How `covtools cover` runs the services.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// `docker` (the default), `local` (the same test binaries as local
    /// processes on loopback ports), `swarm` (Docker Swarm services, with
    /// `replicas` each) or `compose` (the module's compose file, with the
    /// `[[service]]`s' instrumented images in place of theirs).
    #[serde(default)]
    pub runtime: Option<String>,
    /// The compose file(s) of the `compose` runtime, relative to the module
    /// root; several as `-f` takes them [default: the first of
    /// [`COMPOSE_FILE_NAMES`] at the module root].
    #[serde(default)]
    pub compose_file: Option<ComposeFiles>,
    /// How long each service may take to become ready, in seconds
    /// (default 60).
    #[serde(default)]
    pub ready_timeout: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesConfig {
    /// Minimum total coverage, percent.
    #[serde(default)]
    pub min: Option<f64>,
    /// A profile to compare against.
    #[serde(default)]
    pub baseline: Option<PathBuf>,
    /// The largest allowed drop from the baseline, percentage points.
    #[serde(default)]
    pub max_drop: Option<f64>,
    /// Diff coverage since the merge-base with this git ref.
    #[serde(default)]
    pub diff_base: Option<String>,
    /// Minimum diff coverage, percent (needs diff_base).
    #[serde(default)]
    pub diff_min: Option<f64>,
}

/// `[report]`: the reports written next to merged.cov.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Some of lcov, cobertura, html, markdown, badge, or ["none"]
    /// [default: all].
    #[serde(default)]
    pub formats: Option<Vec<String>>,
}

impl Config {
    /// The `-coverpkg` pattern.
    pub fn cover_packages(&self) -> String {
        self.build
            .cover_packages
            .clone()
            .unwrap_or_else(|| format!("{}/...", self.module_path))
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Base URLs of the services as containers on one network, reached by
    /// their names (network aliases).
    pub fn docker_urls(&self) -> BTreeMap<String, String> {
        self.services
            .iter()
            .map(|s| (s.name.clone(), format!("http://{}:{}", s.name, s.port)))
            .collect()
    }
}

impl Service {
    /// Whether the service is told where to listen (`{addr}`, `{host}` or
    /// `{port}` in its args or env); if not, it listens on its configured
    /// port in every runtime.
    pub fn takes_addr(&self) -> bool {
        self.args
            .iter()
            .chain(self.env.values())
            .any(|t| uses_own_addr(t))
    }

    /// The listen address inside a container.
    pub fn docker_addr(&self) -> String {
        format!(":{}", self.port)
    }

    /// `args` with the placeholders filled in.
    pub fn render_args(
        &self,
        addr: &str,
        urls: &BTreeMap<String, String>,
    ) -> anyhow::Result<Vec<String>> {
        self.args.iter().map(|a| render(a, addr, urls)).collect()
    }

    /// `env` with the placeholders filled in.
    pub fn render_env(
        &self,
        addr: &str,
        urls: &BTreeMap<String, String>,
    ) -> anyhow::Result<Vec<(String, String)>> {
        self.env
            .iter()
            .map(|(k, v)| Ok((k.clone(), render(v, addr, urls)?)))
            .collect()
    }
}

/// The module path from `<dir>/go.mod`.
pub fn module_path(dir: &Path) -> anyhow::Result<String> {
    // One go.mod reader for the project: covcore's, which reads it as Go does.
    let gomod = dir.join("go.mod");
    let text = fs::read(&gomod)
        .with_context(|| format!("reading {} (a Go module root?)", gomod.display()))?;
    covcore::gosrc::gomod::module_path(&gomod.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled example module, tests/example.
    pub(crate) fn example_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/example")
    }

    #[test]
    fn the_example_config_loads() {
        let c = Config::load(&example_dir()).unwrap();
        assert_eq!(c.module_path, "example.com/shop");
        assert_eq!(c.cover_packages(), "example.com/shop/...");
        let names: Vec<_> = c.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["catalog", "orders", "gateway"]);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let dir = example_dir();
        let f = Path::new("covtools.toml");
        let err = Config::parse("[build]\ncover_mod = \"set\"\n", f, &dir)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("covtools.toml:2") && err.contains("cover_mod"),
            "{err}"
        );
        let err = Config::parse(
            "[build]\ncover_mode = \"sets\"\n[[service]]\nname=\"a\"\npackage=\".\"\nport=1\n",
            f,
            &dir,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("build.cover_mode"), "{err:#}");
        let err = Config::parse(
            "[[service]]\nname=\"A b\"\npackage=\".\"\nport=1\n",
            f,
            &dir,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("service[0].name"), "{err:#}");
    }

    #[test]
    fn per_test_is_a_flag_or_the_subtests_mode() {
        let dir = example_dir();
        let f = Path::new("covtools.toml");
        let per_test = |v: &str| {
            let text = format!("[[service]]\nname=\"a\"\npackage=\".\"\nport=1\n[tests]\ncommand = [\"true\"]\nper_test = {v}\n");
            Config::parse(&text, f, &dir).map(|c| c.tests.unwrap().per_test)
        };
        assert_eq!(per_test("true").unwrap(), PerTest::Tests);
        assert_eq!(per_test("false").unwrap(), PerTest::Off);
        assert_eq!(per_test("\"subtests\"").unwrap(), PerTest::Subtests);
        for bad in ["\"sub\"", "1"] {
            let err = format!("{:#}", per_test(bad).unwrap_err());
            assert!(
                err.contains("covtools.toml:5: [tests]")
                    && err.contains("expected true, false or \"subtests\" in `per_test`")
                    && !err.contains('\n'),
                "{err}"
            );
        }
    }

    #[test]
    fn overrides_set_keys_and_services_by_name() {
        let dir = example_dir();
        let file = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&file).unwrap();
        let set = |kv: &[(&str, &str)]| {
            let kv: Vec<(String, String)> = kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Config::parse_with(&text, &file, &dir, &kv)
        };
        let c = set(&[
            ("gates.min", "80"),
            ("service.orders.ready", "/nope"),
            ("run.runtime", "local"),
            (
                "tests.args",
                r#"["-gateway", "{url:gateway}", "-skip", "x"]"#,
            ),
        ])
        .unwrap();
        assert_eq!(c.gates.min, Some(80.0));
        assert_eq!(c.service("orders").unwrap().ready.as_deref(), Some("/nope"));
        assert_eq!(
            c.service("catalog").unwrap().ready.as_deref(),
            Some("/healthz")
        );
        assert_eq!(c.run.runtime.as_deref(), Some("local"));
        assert_eq!(c.tests.unwrap().args.len(), 4);
        let err = format!("{:#}", set(&[("service.nope.ready", "/x")]).unwrap_err());
        assert!(
            err.contains("no service \"nope\"") && err.contains("catalog"),
            "{err}"
        );
        let err = format!("{:#}", set(&[("service.orders.redy", "/x")]).unwrap_err());
        assert!(
            err.contains("--set service.orders.redy") && err.contains("redy"),
            "{err}"
        );
        let err = format!("{:#}", set(&[("run.runtime", "podman")]).unwrap_err());
        assert!(err.contains("run.runtime"), "{err}");
        let err = format!("{:#}", set(&[("gates.min", "120")]).unwrap_err());
        assert!(err.contains("gates.min"), "{err}");
        let err = format!("{:#}", set(&[("tests.run_in", "pod")]).unwrap_err());
        assert!(err.contains("tests.run_in"), "{err}");
    }
}
