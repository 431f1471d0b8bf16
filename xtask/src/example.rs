//! The services of a Go module, as its `covtools.toml` describes them: the
//! one place that lists the example's services for `build-services`,
//! `docker-images`, `integration-cover` and the tests.
//!
//! In a service's `args` and `env` values, `{addr}` is the service's own
//! listen address and `{url:NAME}` the base URL of service NAME; both are
//! filled in for the runtime (Docker: `:PORT` and `http://NAME:PORT` on the
//! services' network; local processes: loopback addresses).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::util::project_root;

/// The configuration file at a Go module root.
pub const CONFIG_FILE: &str = "covtools.toml";

/// The bundled example (tests/example), the default module of every task.
pub fn example_dir() -> PathBuf {
    project_root().join("tests/example")
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
    #[serde(default)]
    pub tests: Option<TestsConfig>,
    #[serde(default)]
    pub gates: GatesConfig,
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
    /// `-covermode`: set, count or atomic.
    #[serde(default = "default_cover_mode")]
    pub cover_mode: String,
    /// `-coverpkg`; default `<module path>/...`.
    #[serde(default)]
    pub cover_packages: Option<String>,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
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
pub const DEFAULT_KILLSWITCH_PORT: u16 = 19999;

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
}

impl Config {
    /// Reads `<module_dir>/covtools.toml`.
    pub fn load(module_dir: &Path) -> anyhow::Result<Config> {
        Config::load_file(&module_dir.join(CONFIG_FILE))
    }

    /// Reads a configuration file; the module root is its directory.
    pub fn load_file(file: &Path) -> anyhow::Result<Config> {
        let text =
            fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let module_dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        Config::parse(&text, file, &module_dir)
    }

    /// Parses configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path, module_dir: &Path) -> anyhow::Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            // toml's message spans several lines (a source excerpt); the
            // first names the line and column, the last the problem.
            let msg = e.message().trim().to_string();
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{}{at}: {msg}", file.display())
        })?;
        config.module_dir = module_dir.to_path_buf();
        config.module_path = module_path(module_dir)?;
        config
            .validate()
            .with_context(|| file.display().to_string())?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !["set", "count", "atomic"].contains(&self.build.cover_mode.as_str()) {
            bail!(
                "build.cover_mode = {:?}: expected set, count or atomic",
                self.build.cover_mode
            );
        }
        if self.services.is_empty() {
            bail!("no [[service]] entries");
        }
        let mut seen = BTreeMap::new();
        for (i, s) in self.services.iter().enumerate() {
            check_name(&s.name).with_context(|| format!("service[{i}].name"))?;
            if seen.insert(s.name.as_str(), i).is_some() {
                bail!("service[{i}].name = {:?} is used twice", s.name);
            }
            if s.package.is_empty() {
                bail!("service[{i}].package is empty ({})", s.name);
            }
            if s.port == 0 {
                bail!("service[{i}].port must not be 0 ({})", s.name);
            }
            if let Some(ready) = &s.ready {
                if !ready.starts_with('/') {
                    bail!("service[{i}].ready = {ready:?}: expected an HTTP path starting with /");
                }
            }
            if let Some(t) = &s.harness_test {
                if !t.starts_with("Test")
                    || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    bail!(
                        "service[{i}].harness_test = {t:?}: expected a Go test name like TestRun"
                    );
                }
            }
        }
        // Every {url:NAME} must name a service.
        let urls: BTreeMap<String, String> = self
            .services
            .iter()
            .map(|s| (s.name.clone(), String::new()))
            .collect();
        for s in &self.services {
            s.render_args("", &urls)
                .with_context(|| format!("service {}", s.name))?;
            s.render_env("", &urls)
                .with_context(|| format!("service {}", s.name))?;
        }
        if let Some(t) = &self.tests {
            if t.package.is_some() == t.command.is_some() {
                bail!("[tests]: set exactly one of package and command");
            }
            for a in &t.args {
                render(a, "", &urls).context("tests.args")?;
            }
        }
        Ok(())
    }

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

/// Fills in `{addr}` and `{url:NAME}`; `{{` and `}}` stand for braces.
pub fn render(
    template: &str,
    addr: &str,
    urls: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            bail!("{template:?}: unmatched }} (write }}}} for a brace)");
        }
        let end = tail
            .find('}')
            .with_context(|| format!("{template:?}: unclosed {{"))?;
        let key = &tail[1..end];
        match key.split_once(':') {
            None if key == "addr" => out.push_str(addr),
            Some(("url", name)) => out.push_str(
                urls.get(name)
                    .with_context(|| format!("{template:?}: {{url:{name}}} names no service"))?,
            ),
            _ => bail!(
                "{template:?}: unknown placeholder {{{key}}} (expected {{addr}} or {{url:NAME}})"
            ),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if !ok {
        bail!("{name:?}: expected lowercase letters, digits and -, as in a container name");
    }
    Ok(())
}

/// The module path from `<dir>/go.mod`.
pub fn module_path(dir: &Path) -> anyhow::Result<String> {
    let gomod = dir.join("go.mod");
    let text = fs::read_to_string(&gomod)
        .with_context(|| format!("reading {} (a Go module root?)", gomod.display()))?;
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("module") {
            let path = rest.trim().trim_matches('"');
            if rest.starts_with([' ', '\t']) && !path.is_empty() {
                return Ok(path.to_string());
            }
        }
    }
    bail!("{}: no module line", gomod.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> BTreeMap<String, String> {
        [("catalog".to_string(), "http://catalog:8080".to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            render("-addr={addr}", ":8080", &urls()).unwrap(),
            "-addr=:8080"
        );
        assert_eq!(
            render("{url:catalog}/x", "", &urls()).unwrap(),
            "http://catalog:8080/x"
        );
        assert_eq!(render("{{literal}}", "", &urls()).unwrap(), "{literal}");
        assert!(render("{url:nope}", "", &urls())
            .unwrap_err()
            .to_string()
            .contains("names no service"));
        assert!(render("{port}", "", &urls())
            .unwrap_err()
            .to_string()
            .contains("unknown placeholder {port}"));
        assert!(render("{addr", "", &urls()).is_err());
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
}
