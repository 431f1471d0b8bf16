//! Settings resolution: `covtools.toml` with the flags and `--set`
//! overrides on top, and the defaults that depend on the module.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::Args;
use crate::build_services;
use crate::config::{self, Config, Service};
use crate::docker_images;
use crate::runtime;
use crate::util;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Runtime {
    Docker,
    Local,
}

#[derive(Debug, Clone)]
pub(super) enum Tests {
    /// A Go main package, built with `go build` and run with these args.
    Package {
        package: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        in_container: bool,
    },
    /// A command run on the host.
    Command {
        argv: Vec<String>,
        env: BTreeMap<String, String>,
    },
}

/// The label naming the run that created a container or network
/// ([`runtime::run_owner`]), so a second run with the same prefix can tell
/// a leftover from a run still going.
pub const OWNER_LABEL: &str = "covtools.owner";

pub(super) struct Settings {
    pub(super) config: Config,
    pub(super) runtime: Runtime,
    pub(super) base: String,
    pub(super) build_local_base: bool,
    pub(super) prefix: String,
    pub(super) out: PathBuf,
    pub(super) work: PathBuf,
    pub(super) ready_timeout: Duration,
    pub(super) tests: Tests,
    pub(super) min: Option<f64>,
    pub(super) baseline: Option<PathBuf>,
    pub(super) max_drop: Option<f64>,
    pub(super) jobs: usize,
}

pub(super) fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("{}", p.display()))
}

pub(super) fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Settings {
    /// `--label` arguments for everything this run creates in Docker.
    pub(super) fn labels(&self) -> Vec<String> {
        vec![
            "--label".into(),
            format!("covtools.run={}", self.prefix),
            "--label".into(),
            format!("{OWNER_LABEL}={}", runtime::process::run_owner()),
        ]
    }

    pub(super) fn resolve(args: &Args) -> anyhow::Result<Settings> {
        let module_dir = absolute(&args.module.dir())?;
        let file = absolute(&args.module.config_file())?;
        let text = fs::read_to_string(&file).with_context(|| {
            format!(
                "reading {} (the services' configuration; see tests/example/{})",
                file.display(),
                config::CONFIG_FILE
            )
        })?;
        // The dedicated flags are overrides like --set, checked the same way.
        let mut sets = args.set.clone();
        let mut set = |k: &str, v: String| sets.push((k.to_string(), v));
        if let Some(r) = &args.runtime {
            set("run.runtime", toml_string(r));
        }
        if let Some(m) = &args.cover_mode {
            set("build.cover_mode", toml_string(m));
        }
        if let Some(p) = &args.cover_packages {
            set("build.cover_packages", toml_string(p));
        }
        if let Some(p) = args.killswitch_port {
            set("image.killswitch_port", p.to_string());
        }
        if let Some(t) = args.ready_timeout {
            set("run.ready_timeout", format!("{:?}", t.as_secs_f64()));
        }
        if let Some(b) = args.base.as_deref().filter(|b| *b != "local") {
            set("image.base", toml_string(b));
        }
        if let Some(m) = args.min {
            set("gates.min", format!("{m:?}"));
        }
        if let Some(b) = &args.baseline {
            set(
                "gates.baseline",
                toml_string(&absolute(b)?.to_string_lossy()),
            );
        }
        if let Some(d) = args.max_drop {
            set("gates.max_drop", format!("{d:?}"));
        }
        if let Some(r) = &args.diff_base {
            set("gates.diff_base", toml_string(r));
        }
        if let Some(d) = args.diff_min {
            set("gates.diff_min", format!("{d:?}"));
        }
        if let Some(list) = &args.reports {
            let items: Vec<String> = list.iter().map(|f| toml_string(f)).collect();
            set("report.formats", format!("[{}]", items.join(", ")));
        }
        let mut config = Config::parse_with(&text, &file, &module_dir, &sets)?;

        for (name, ready) in &args.ready {
            let svc = service_mut(&mut config, name)
                .with_context(|| format!("--ready {name}={ready}"))?;
            svc.ready = match ready.as_str() {
                "port" => None,
                p if p.starts_with('/') => Some(p.to_string()),
                p => bail!("--ready {name}={p}: expected /PATH (an HTTP path) or port"),
            };
        }

        let runtime = match config.run.runtime.as_deref() {
            Some("local") => Runtime::Local,
            _ => Runtime::Docker,
        };
        let (base, build_local_base) = match args.base.as_deref() {
            Some("local") => (args.local_base_tag.clone(), true),
            _ => (config.image.base.clone(), false),
        };
        let prefix = args
            .prefix
            .clone()
            .unwrap_or_else(|| docker_images::default_prefix(&module_dir));
        let prefix_ok = prefix
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
        if !prefix_ok {
            bail!("--prefix {prefix:?}: expected lowercase letters, digits, - _ . (container and image names)");
        }
        let label = build_services::module_label(&module_dir);
        let out = absolute(
            &args
                .out
                .clone()
                .unwrap_or_else(|| util::project_root().join("target/cover")),
        )?;
        let work = absolute(
            &args
                .work
                .clone()
                .unwrap_or_else(|| util::project_root().join("target/covtools").join(&label)),
        )?;
        let ready_timeout = Duration::from_secs_f64(config.run.ready_timeout.unwrap_or(60.0));

        // The tests: a command after `--`, else --test-package, else [tests].
        let configured = config.tests.clone();
        let tests = if !args.test_command.is_empty() {
            let mut argv = args.test_command.clone();
            argv.extend(args.test_args.iter().cloned());
            Tests::Command {
                argv,
                env: configured.map(|t| t.env).unwrap_or_default(),
            }
        } else {
            let (package, mut targs, env, run_in, command) = match (&args.test_package, configured) {
                (Some(p), Some(t)) => {
                    let args = if t.package.is_some() { t.args } else { Vec::new() };
                    (Some(p.clone()), args, t.env, t.run_in, None)
                }
                (Some(p), None) => (Some(p.clone()), Vec::new(), BTreeMap::new(), None, None),
                (None, Some(t)) => (t.package, t.args, t.env, t.run_in, t.command),
                (None, None) => bail!(
                    "no integration tests configured: set [tests] package or command in {}, pass --test-package PKG, or a command after --",
                    file.display()
                ),
            };
            targs.extend(args.test_args.iter().cloned());
            let run_in = args.tests_in.clone().or(run_in);
            match (package, command) {
                (Some(package), _) => Tests::Package {
                    package,
                    args: targs,
                    env,
                    in_container: runtime == Runtime::Docker && run_in.as_deref() != Some("host"),
                },
                (None, Some(command)) => {
                    if run_in.as_deref() == Some("container") {
                        bail!("tests.run_in = \"container\" needs tests.package: a test command runs on the host");
                    }
                    let mut argv = command;
                    argv.extend(targs);
                    Tests::Command { argv, env }
                }
                (None, None) => bail!("[tests]: set package or command"),
            }
        };
        let baseline = config.gates.baseline.clone().map(|b| {
            // Relative to the configuration file's directory.
            if b.is_relative() {
                file.parent().unwrap_or(Path::new(".")).join(b)
            } else {
                b
            }
        });
        Ok(Settings {
            runtime,
            base,
            build_local_base,
            prefix,
            out,
            work,
            ready_timeout,
            tests,
            min: config.gates.min,
            baseline,
            max_drop: config.gates.max_drop,
            jobs: args
                .jobs
                .unwrap_or_else(build_services::default_jobs)
                .max(1),
            config,
        })
    }
}

pub(super) fn service_mut<'a>(
    config: &'a mut Config,
    name: &str,
) -> anyhow::Result<&'a mut Service> {
    let names: Vec<String> = config.services.iter().map(|s| s.name.clone()).collect();
    config
        .services
        .iter_mut()
        .find(|s| s.name == name)
        .with_context(|| format!("no service {name:?} (services: {})", names.join(", ")))
}
