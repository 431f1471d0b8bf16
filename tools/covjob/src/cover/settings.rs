//! Settings resolution: `covtools.toml` with the flags and `--set`
//! overrides on top, and the defaults that depend on the module.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::Args;
use crate::build_services;
use crate::config::{self, Config, PerTest, Service};
use crate::docker_images;
use crate::runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Runtime {
    Docker,
    Local,
    /// Docker Swarm services on this node (swarm.rs).
    Swarm,
    /// The module's compose file (cover/compose/).
    Compose,
}

impl Runtime {
    pub(super) fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Local => "local",
            Runtime::Swarm => "swarm",
            Runtime::Compose => "compose",
        }
    }

    /// Whether the services run from images, in containers (Docker, Swarm,
    /// Compose).
    pub(super) fn uses_docker(self) -> bool {
        self != Runtime::Local
    }
}

#[derive(Debug, Clone)]
pub(super) enum Tests {
    /// A Go main package, built with `go build` and run with these args.
    Package {
        package: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        in_container: bool,
        /// Docker: inside this service's own container (`service:NAME`).
        in_service: Option<String>,
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

#[derive(Clone)]
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
    /// `[[tests]]` phases (then `tests` is the first one's).
    pub(super) phases: Vec<Phase>,
    /// Coverage per test (per_test/).
    pub(super) per_test: PerTest,
    pub(super) min: Option<f64>,
    pub(super) baseline: Option<PathBuf>,
    pub(super) max_drop: Option<f64>,
    pub(super) jobs: usize,
    /// `--push`: where the images are pushed.
    pub(super) push: Option<docker_images::push::Destination>,
    /// `--tag`: the pushed images' tag (default: per image, see push.rs).
    pub(super) tag: Option<String>,
    /// The compose runtime's files and project name (unique to the run).
    pub(super) compose: Option<(Vec<PathBuf>, String)>,
}

/// A phase, resolved.
#[derive(Debug, Clone)]
pub(super) struct Phase {
    pub(super) name: String,
    pub(super) tests: Tests,
}

/// The test phases of a configuration (none without `[[tests]]`). The
/// build must be able to snapshot.
fn resolve_phases(config: &Config) -> anyhow::Result<Vec<Phase>> {
    if config.phases.is_empty() {
        return Ok(Vec::new());
    }
    let (kind, mode) = (config.build.kind, config.build.cover_mode.as_str());
    if !kind.can_snapshot(mode) {
        bail!(
            "[[tests]] phases need live snapshots, which build kind {} with covermode {mode} cannot take; \
             set [build] kind = \"cover\" (covermode atomic), e.g. --set build.kind=cover",
            kind.name()
        );
    }
    let mut seen = BTreeSet::new();
    let mut phases = Vec::new();
    for p in &config.phases {
        let ok = !p.name.is_empty()
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            bail!(
                "[[tests]] name = {:?}: expected letters, digits, - and _",
                p.name
            );
        }
        if !seen.insert(p.name.clone()) {
            bail!("[[tests]] name = {:?} appears twice", p.name);
        }
        if p.command.is_empty() {
            bail!("[[tests]] {}: command is empty", p.name);
        }
        phases.push(Phase {
            name: p.name.clone(),
            tests: Tests::Command {
                argv: p.command.clone(),
                env: p.env.clone(),
            },
        });
    }
    Ok(phases)
}

pub(super) fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("{}", p.display()))
}

pub(super) fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Settings {
    /// The service whose container the tests run in (`service:NAME`).
    pub(super) fn tests_in_service(&self) -> Option<&str> {
        match &self.tests {
            Tests::Package { in_service, .. } => in_service.as_deref(),
            Tests::Command { .. } => None,
        }
    }

    /// What names the run's own Docker objects: the compose project, else
    /// the prefix.
    pub(super) fn run_name(&self) -> &str {
        match &self.compose {
            Some((_, project)) => project,
            None => &self.prefix,
        }
    }

    /// `--label` arguments for everything this run creates in Docker.
    pub(super) fn labels(&self) -> Vec<String> {
        self.label_pairs()
            .into_iter()
            .flat_map(|(k, v)| ["--label".into(), format!("{k}={v}")])
            .collect()
    }

    /// The labels of everything this run creates in Docker.
    pub(super) fn label_pairs(&self) -> Vec<(String, String)> {
        vec![
            ("covtools.run".into(), self.prefix.clone()),
            (OWNER_LABEL.into(), runtime::process::run_owner()),
        ]
    }

    pub(super) fn resolve(args: &Args) -> anyhow::Result<Settings> {
        let module_dir = absolute(&args.module.dir()?)?;
        let file = absolute(&args.module.config_file(&module_dir))?;
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
        if !args.compose_files.is_empty() {
            let items: Vec<String> = args
                .compose_files
                .iter()
                .map(|f| Ok(toml_string(&absolute(f)?.to_string_lossy())))
                .collect::<anyhow::Result<_>>()?;
            set("run.compose_file", format!("[{}]", items.join(", ")));
        }
        if let Some(k) = &args.build_kind {
            set("build.kind", toml_string(k));
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
            Some("swarm") => Runtime::Swarm,
            Some("compose") => Runtime::Compose,
            _ => Runtime::Docker,
        };
        check_runtime(&config, runtime)?;
        let push = args
            .push
            .as_deref()
            .map(docker_images::push::Destination::parse)
            .transpose()?;
        if let Some(t) = &args.tag {
            docker_images::push::check_tag(t)?;
        }
        if push.is_some() && runtime == Runtime::Local {
            bail!("--push needs images: the local runtime builds none (use --runtime docker or swarm)");
        }
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
        let out = absolute(
            &args
                .out
                .clone()
                .unwrap_or_else(|| config::state_dir(&module_dir)),
        )?;
        let work = absolute(
            &args
                .work
                .clone()
                .unwrap_or_else(|| config::work_dir(&module_dir)),
        )?;
        let ready_timeout = Duration::from_secs_f64(config.run.ready_timeout.unwrap_or(60.0));

        // The tests: a command after `--`, else --test-package, else [tests].
        let configured = config.tests.clone();
        let phases = if args.test_command.is_empty() && args.test_package.is_none() {
            resolve_phases(&config)?
        } else {
            Vec::new()
        };
        let tests = if let Some(first) = phases.first() {
            first.tests.clone()
        } else if !args.test_command.is_empty() {
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
            if let Some(r) = &run_in {
                config.check_run_in(r).context("--tests-in")?;
            }
            let in_service = run_in
                .as_deref()
                .and_then(|r| r.strip_prefix("service:"))
                .filter(|_| runtime.uses_docker())
                .map(str::to_string);
            if runtime == Runtime::Swarm
                && run_in.as_deref().is_some_and(|r| r.starts_with("service:"))
            {
                bail!(
                    "tests.run_in = {run_in:?}: the swarm runtime runs replicas, not one container to \
                     run the tests in: use \"container\" (on the services' network) or \"host\""
                );
            }
            match (package, command) {
                (Some(package), _) => Tests::Package {
                    package,
                    args: targs,
                    env,
                    in_container: runtime.uses_docker()
                        && run_in.as_deref() != Some("host")
                        && in_service.is_none(),
                    in_service,
                },
                (None, Some(command)) => {
                    if run_in.as_deref().is_some_and(|r| r != "host") {
                        bail!("tests.run_in = {run_in:?} needs tests.package: a test command runs on the host");
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
        check_ports(&config, runtime)?;
        let per_test = match &args.per_test {
            Some(mode) => mode
                .parse::<PerTest>()
                .map_err(|e| anyhow::anyhow!("--per-test={mode}: {e:#}"))?,
            None => config.tests.as_ref().map_or(PerTest::Off, |t| t.per_test),
        };
        if runtime == Runtime::Swarm && per_test.on() {
            bail!("{SWARM_SNAPSHOT_ROUNDS}");
        }
        let compose = match runtime {
            Runtime::Compose => Some((
                config.compose_files()?,
                // Unique to the run: everything Compose creates carries it.
                runtime::compose::project_name(&format!("{prefix}-{}", std::process::id())),
            )),
            _ => None,
        };
        Ok(Settings {
            per_test,
            compose,
            runtime,
            base,
            build_local_base,
            prefix,
            out,
            work,
            ready_timeout,
            tests,
            phases,
            min: config.gates.min,
            baseline,
            max_drop: config.gates.max_drop,
            jobs: args
                .jobs
                .unwrap_or_else(build_services::default_jobs)
                .max(1),
            push,
            tag: args.tag.clone(),
            config,
        })
    }
}

/// Port clashes that would only show as a service never getting ready:
/// caught before anything starts, naming both sides.
fn check_ports(config: &Config, runtime: Runtime) -> anyhow::Result<()> {
    let killswitch = config.image.killswitch_port;
    for svc in &config.services {
        // Docker: the harness's killswitch listens in every container.
        if runtime.uses_docker() && svc.port == killswitch {
            bail!(
                "service {} port {} is the killswitch port (image.killswitch_port = {killswitch}): \
                 give the service another port, or set image.killswitch_port (--killswitch-port)",
                svc.name,
                svc.port
            );
        }
    }
    if runtime == Runtime::Local {
        // Local processes share the host: services that are not told where
        // to listen ({addr}, {host} or {port}) listen on their own port.
        let mut fixed: BTreeMap<u16, &str> = BTreeMap::new();
        for svc in config.services.iter().filter(|s| !s.takes_addr()) {
            if let Some(other) = fixed.insert(svc.port, &svc.name) {
                bail!(
                    "services {other} and {} both listen on port {} in the local runtime \
                     (neither uses {{addr}}, {{host}} or {{port}} in its args or env, so each keeps \
                     its configured port): pass the port with a placeholder, e.g. \
                     args = [\"-port\", \"{{port}}\"]",
                    svc.name,
                    svc.port
                );
            }
        }
    }
    Ok(())
}

/// Why the swarm runtime takes no phases or per-test coverage: snapshot
/// rounds follow the tasks running when the tests start, and Swarm may
/// replace one during them.
const SWARM_SNAPSHOT_ROUNDS: &str =
    "run.runtime = \"swarm\" takes no [[tests]] phases or per-test \
     coverage: their snapshot rounds follow the tasks that run when the tests start, and Swarm \
     may replace one meanwhile (use run.runtime = \"docker\" or \"compose\")";

/// What only the swarm runtime runs: replicas; and what it cannot run.
fn check_runtime(config: &Config, runtime: Runtime) -> anyhow::Result<()> {
    if runtime == Runtime::Compose {
        // Compose scales a service (`up --scale`; its file's own `scale:`
        // or `deploy.replicas` when none is given).
        return Ok(());
    }
    if runtime != Runtime::Swarm {
        if let Some(svc) = config.services.iter().find(|s| s.replicas.unwrap_or(1) > 1) {
            bail!(
                "service {}: replicas = {} needs run.runtime = \"swarm\" or \"compose\" \
                 (--runtime swarm, --runtime compose); the {} runtime runs one of each service",
                svc.name,
                svc.replicas.unwrap_or(1),
                runtime.name()
            );
        }
        return Ok(());
    }
    if !config.phases.is_empty() {
        bail!("{SWARM_SNAPSHOT_ROUNDS}");
    }
    Ok(())
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
