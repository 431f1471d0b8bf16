//! The compose runtime: the module's own compose file, as its developers
//! run it, with each `[[service]]` (a compose service) run from its
//! instrumented image.
//!
//! - check (preflight, before anything is built): the Compose CLI, the
//!   files as Compose reads them (`config --services`, `config`: a file it
//!   rejects fails with its own message), every `[[service]]` one of their
//!   services with a way to run the binary (plan.rs);
//! - start: a generated override file (`<work>/compose/override.yaml`; the
//!   user's files are never written), the project registered for teardown,
//!   `up -d --no-build` under a project name of the run's own, watched
//!   until the dependencies are ready (wait.rs), then every replica of the
//!   instrumented services probed as the Docker runtime probes a container.
//!
//! Containers are found by Compose's labels (project, service, number);
//! each replica is a `docker:<container>` target of its own, so collection,
//! live snapshots and phases work as with the Docker runtime. Teardown
//! removes what `down -v --remove-orphans` would (runtime/control.rs,
//! runtime/compose.rs).

mod plan;
mod wait;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use super::settings::{Settings, OWNER_LABEL};
use super::start::{collect_started, finish_start, show_ready, wait_container};
use super::{Report, Started};
use crate::progress::Progress;
use crate::runtime::compose::{Cli, Container, Project, PROJECT_LABEL};
use crate::runtime::control::Control;
use crate::runtime::{docker, process};
use plan::{Instrumented, Plan};

/// The user's stack, checked.
pub(super) struct Stack {
    /// The user's files alone (the override joins them at start).
    project: Project,
    plan: Plan,
}

impl Stack {
    /// For the preflight line: the CLI and the files.
    pub(super) fn describe(&self) -> String {
        format!("{} {}", self.project.cli.shown, self.project.cli.version)
    }
}

/// The files relative to the module, as messages name them.
fn shown_files(files: &[std::path::PathBuf], module: &Path) -> String {
    files
        .iter()
        .map(|f| f.strip_prefix(module).unwrap_or(f).display().to_string())
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The preflight of the stack (see the module doc).
pub(super) fn check(s: &Settings) -> anyhow::Result<Stack> {
    let (files, name) = s.compose.clone().context("no compose files resolved")?;
    let shown = shown_files(&files, &s.config.module_dir);
    let project = Project {
        cli: Cli::detect()?,
        name,
        files,
    };
    let names = project
        .services()
        .map_err(|e| anyhow::anyhow!("{shown}: {} rejects it: {e:#}", project.cli.shown))?;
    let yaml = project
        .config()
        .map_err(|e| anyhow::anyhow!("{shown}: {} rejects it: {e:#}", project.cli.shown))?;
    let plan = plan::read(&yaml, &names, &s.config, &shown)?;
    Ok(Stack { project, plan })
}

/// The start step (see the module doc); one [`Started`] per replica.
pub(super) fn start(
    s: &Settings,
    stack: &Stack,
    images: &BTreeMap<String, String>,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<Vec<Started>> {
    let phase = progress.phase("start", stack.plan.services.len() as u64);
    let result = (|| -> anyhow::Result<Vec<Started>> {
        let dir = s.work.join("compose");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let urls = s.config.docker_urls();
        let image_args: Vec<Vec<String>> = s
            .config
            .services
            .iter()
            .map(|svc| svc.render_args(&svc.docker_addr(), &urls))
            .collect::<anyhow::Result<_>>()?;
        let instrumented: Vec<Instrumented> = s
            .config
            .services
            .iter()
            .zip(&image_args)
            .map(|(svc, own)| Instrumented {
                service: svc,
                image: &images[&svc.name],
                args: stack.plan.args[&svc.name].as_deref().unwrap_or(own),
            })
            .collect();
        let override_file = dir.join("override.yaml");
        fs::write(
            &override_file,
            plan::override_yaml(&instrumented, &s.label_pairs())?,
        )
        .with_context(|| format!("writing {}", override_file.display()))?;
        remove_leftovers(s, &stack.project, progress)?;
        let mut project = stack.project.clone();
        project.files.push(override_file);
        control.add_project(&project);

        let scale: Vec<String> = s
            .config
            .services
            .iter()
            .filter_map(|svc| Some(["--scale".into(), format!("{}={}", svc.name, svc.replicas?)]))
            .flatten()
            .collect();
        let ours: BTreeSet<&str> = s.config.services.iter().map(|x| x.name.as_str()).collect();
        let mut up_args = vec!["up".to_string(), "-d".into(), "--no-build".into()];
        up_args.extend(scale.iter().cloned());
        report.compose =
            Some(project.shown(&up_args.iter().map(String::as_str).collect::<Vec<_>>()));
        fs::create_dir_all(s.out.join("logs"))?;
        let since = Instant::now();
        let item = phase.item("compose", "up");
        let up = wait::up(
            &project,
            &stack.plan,
            &scale,
            &ours,
            s.ready_timeout,
            control,
            &s.out.join("logs/compose-up.log"),
        );
        let containers = project.containers();
        // Whatever `up` created, its volumes are known to teardown.
        if let Ok(all) = &containers {
            for c in all {
                for v in volumes(c) {
                    control.add_volume(&v);
                    report.compose_volumes.push(v);
                }
            }
        }
        if up.is_err() {
            item.fail("up failed");
            return up.map(|()| Vec::new());
        }
        let containers = containers?;
        item.set("dependencies: waiting until ready");
        let deps = wait::dependencies_ready(
            &project,
            &stack.plan,
            &ours,
            since,
            s.ready_timeout,
            control,
        );
        if deps.is_err() {
            item.fail("a dependency failed");
            return deps.map(|()| Vec::new());
        }
        item.done(&format!("up, dependencies ready ({})", project.name));

        let replicas: Vec<(&crate::config::Service, &Container)> = s
            .config
            .services
            .iter()
            .flat_map(|svc| {
                containers
                    .iter()
                    .filter(move |c| c.service == svc.name)
                    .map(move |c| (svc, c))
            })
            .collect();
        for svc in &s.config.services {
            if !replicas.iter().any(|(x, _)| x.name == svc.name) {
                anyhow::bail!(
                    "service {}: {} started no container for it (scaled to 0?)",
                    svc.name,
                    project.cli.shown
                );
            }
        }
        let results = covcore::pool::each(&replicas, |(svc, c)| {
            let item = phase.item(&c.name, "waiting");
            let r = replica_ready(s, svc, c, control, &item);
            show_ready(item, &r);
            r
        });
        collect_started(results)
    })();
    finish_start(phase, result, report)
}

/// Compose projects an ended run with this prefix left (killed hard, or
/// `--keep`): found by the labels the override put on its instrumented
/// containers, removed as teardown removes a project. A run still going
/// keeps its own.
fn remove_leftovers(s: &Settings, stack: &Project, progress: &Progress) -> anyhow::Result<()> {
    let format = format!("{{{{.Label \"{PROJECT_LABEL}\"}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}");
    let label = format!("label=covtools.run={}", s.prefix);
    let out = docker::run_ok(&["ps", "-a", "--filter", &label, "--format", &format])?;
    let ended: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(p, owner)| !p.is_empty() && process::owner_alive(owner) != Some(true))
        .map(|(p, _)| p)
        .collect();
    for name in ended {
        progress.line(format!(
            "removing compose project {name}, left by an earlier run with prefix {}",
            s.prefix
        ));
        let old = Project {
            name: name.to_string(),
            ..stack.clone()
        };
        old.remove()?;
    }
    Ok(())
}

/// The named volumes a container mounts (anonymous ones have names too).
fn volumes(c: &Container) -> Vec<String> {
    let Ok(Some(info)) = covtarget::docker::inspect(&c.id) else {
        return Vec::new();
    };
    info.mounts
        .into_iter()
        .filter(|m| m.r#type == "volume" && !m.name.is_empty())
        .map(|m| m.name)
        .collect()
}

/// One replica of an instrumented service, waited for as the Docker
/// runtime waits for a container.
fn replica_ready(
    s: &Settings,
    svc: &crate::config::Service,
    c: &Container,
    control: &Control,
    item: &crate::progress::Item,
) -> anyhow::Result<Started> {
    let host = docker::published_addr(&c.name, svc.port)?;
    let shown = if c.number > 1 {
        format!("{} (replica {})", svc.name, c.number)
    } else {
        svc.name.clone()
    };
    wait_container(s, svc, &shown, &c.name, &host, control, item)?;
    let info = covtarget::docker::inspect(&c.id)?
        .with_context(|| format!("container {} is gone", c.name))?;
    // The first of its networks: any reaches it by its service name.
    let network = info.network_settings.networks.keys().next().cloned();
    Ok(Started {
        name: svc.name.clone(),
        target: format!("docker:{}", c.name),
        host_url: format!("http://{host}"),
        container: Some(c.name.clone()),
        network,
        replica: c.number,
    })
}
