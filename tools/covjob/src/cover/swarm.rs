//! The swarm runtime's start step: each service as a Docker Swarm service
//! of `replicas` tasks on this node, on an attachable overlay network the
//! run creates (`<prefix>-net`, so the tests' container can join it), each
//! replica waited for until ready.
//!
//! - Each task's cover directory is a volume of its slot,
//!   `<prefix>-<service>-cover-<slot>`: a task Swarm replaces (its
//!   container killed, its node drained) leaves its profiles there, and its
//!   replacement, which mounts the same volume, keeps numbering after them
//!   (the wrapper's contract), so collecting from the running tasks reads
//!   the replaced ones' profiles too. A process that exits is restarted by
//!   the wrapper inside its container, as in the Docker runtime.
//! - Ports: each replica's service port is published on the node in host
//!   mode (a port of its own, found with `docker port`), and the services
//!   find each other by name with DNS round robin (`--endpoint-mode
//!   dnsrr`). The routing mesh and virtual IPs need the kernel's IPVS,
//!   which not every host has; these work everywhere. `{url:NAME}` from the
//!   host is the first replica; tests on the network reach all of them. The
//!   killswitch port is never published.
//! - Tasks are placed on this node (`node.id==…`): collection reaches the
//!   containers of this engine, and unpushed images exist only here.
//! - Collection is `covkill swarm:<prefix>-<service> | covpull …`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use covcore::contract;
use covtarget::ops::swarm as tasks;

use super::ready::{container_not_ready, wait_ready, Probe, LOG_TAIL};
use super::settings::{Settings, OWNER_LABEL};
use super::start::{collect_started, finish_start, name_taken, show_ready, WORKDIR};
use super::{Report, Started};
use crate::config::Service;
use crate::progress::Progress;
use crate::runtime::control::Control;
use crate::runtime::{docker, process, swarm};

/// What Swarm waits before it replaces a failed task (its default is 5 s):
/// a replaced replica should be back within a test run.
const RESTART_DELAY: &str = "1s";

/// The Swarm service of one configured service.
pub(super) fn service_name(s: &Settings, svc: &str) -> String {
    format!("{}-{svc}", s.prefix)
}

/// The volume of a service's task slot, as a Swarm template.
fn volume_template(s: &Settings, svc: &str) -> String {
    format!("{}-{svc}-cover-{{{{.Task.Slot}}}}", s.prefix)
}

/// The services as Swarm services; `images` maps each to the image its
/// tasks run (a pushed reference when the run pushes).
pub(super) fn start_swarm(
    s: &Settings,
    images: &BTreeMap<String, String>,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<Vec<Started>> {
    let phase = progress.phase("start", s.config.services.len() as u64);
    let result = (|| -> anyhow::Result<Vec<Started>> {
        let node = swarm::ensure_manager()?;
        remove_leftovers(s, progress)?;
        super::start::remove_leftovers(&s.prefix, progress)?;
        let net =
            super::start::create_network(s, control, &["--driver", "overlay", "--attachable"])?;
        let owner = process::run_owner();
        control.add_swarm_volumes(&format!("{OWNER_LABEL}={owner}"));
        let results = covcore::pool::each(&s.config.services, |svc| {
            let name = service_name(s, &svc.name);
            let item = phase.item(&svc.name, "docker service create");
            let r = (|| {
                let args = create_args(s, svc, &images[&svc.name], &node.id, &owner)?;
                control.add_swarm_service(&name);
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                docker::run_ok(&argv).map_err(|e| name_taken(e, &name, control))?;
                let want = replicas(svc);
                item.set(format!("waiting for {want} task(s)"));
                let containers = wait_tasks(&name, want, s.ready_timeout, control)?;
                let mut first_url = None;
                for (i, container) in containers.iter().enumerate() {
                    let port = published_port(container, svc.port)?;
                    let addr = format!("127.0.0.1:{port}");
                    first_url.get_or_insert_with(|| format!("http://{addr}"));
                    let probe = match &svc.ready {
                        Some(path) => Probe::Http { addr, path },
                        None => Probe::ContainerPort {
                            container: container.clone(),
                            port: svc.port,
                            loopback_ok: false,
                        },
                    };
                    item.set(format!(
                        "replica {} of {want}: waiting: {}",
                        i + 1,
                        probe.describe()
                    ));
                    wait_ready(
                        &format!("{} (task container {container})", svc.name),
                        &probe,
                        s.ready_timeout,
                        control,
                        || container_not_ready(container, svc.port, &svc.name),
                        || docker::docker_logs(container, LOG_TAIL),
                    )?;
                }
                Ok(Started {
                    name: svc.name.clone(),
                    target: format!("swarm:{name}"),
                    host_url: first_url.context("no replica")?,
                    // One target for all its tasks, which the tests
                    // reach on the run's network.
                    container: None,
                    network: Some(net.clone()),
                    replica: 1,
                })
            })();
            show_ready(item, &r);
            r
        });
        collect_started(results)
    })();
    finish_start(phase, result, report)
}

fn replicas(svc: &Service) -> usize {
    svc.replicas.unwrap_or(1) as usize
}

/// `docker service create …` for one service.
fn create_args(
    s: &Settings,
    svc: &Service,
    image: &str,
    node_id: &str,
    owner: &str,
) -> anyhow::Result<Vec<String>> {
    let name = service_name(s, &svc.name);
    let run_label = format!("covtools.run={}", s.prefix);
    let owner_label = format!("{OWNER_LABEL}={owner}");
    let mut a: Vec<String> = ["service", "create", "--detach", "--name", &name]
        .map(String::from)
        .to_vec();
    a.extend([
        "--replicas".into(),
        replicas(svc).to_string(),
        "--constraint".into(),
        format!("node.id=={node_id}"),
        "--network".into(),
        format!("name={}-net,alias={}", s.prefix, svc.name),
        "--endpoint-mode".into(),
        "dnsrr".into(),
        "--publish".into(),
        format!("mode=host,target={}", svc.port),
        "--restart-delay".into(),
        RESTART_DELAY.into(),
        "--mount".into(),
        format!(
            "type=volume,source={},target={},volume-label={run_label},volume-label={owner_label}",
            volume_template(s, &svc.name),
            contract::COVER_DIR
        ),
    ]);
    for l in [&run_label, &owner_label] {
        a.extend([
            "--label".into(),
            l.clone(),
            "--container-label".into(),
            l.clone(),
        ]);
    }
    if s.push.is_some() {
        // The nodes pull the pushed image with this client's login.
        a.push("--with-registry-auth".into());
    } else {
        // A local image has no registry digest to resolve.
        a.push("--no-resolve-image".into());
    }
    let killswitch = format!(
        "{}=:{}",
        contract::ENV_KILLSWITCH_ADDR,
        s.config.image.killswitch_port
    );
    a.extend(["--env".into(), killswitch]);
    let urls = s.config.docker_urls();
    let addr = svc.docker_addr();
    for (k, v) in svc.render_env(&addr, &urls)? {
        a.extend(["--env".into(), format!("{k}={v}")]);
    }
    if let Some(w) = &svc.workdir {
        let src = s.config.module_dir.join(w);
        let src = src.display().to_string();
        if src.contains(',') {
            bail!(
                "service {}: workdir {src}: a path with ',' cannot be a Swarm mount",
                svc.name
            );
        }
        a.extend([
            "--mount".into(),
            format!("type=bind,source={src},target={WORKDIR},readonly"),
            "--workdir".into(),
            WORKDIR.into(),
        ]);
    }
    a.push(image.to_string());
    a.extend(svc.render_args(&addr, &urls)?);
    Ok(a)
}

/// Waits until `want` tasks of `service` run on this node; their
/// containers, in slot order. Tasks that keep failing (a missing image, a
/// mount that cannot be made) end the wait with Swarm's own errors.
fn wait_tasks(
    service: &str,
    want: usize,
    timeout: Duration,
    control: &Control,
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    loop {
        let (_, list) = tasks::service_tasks(service, docker::TIMEOUT)?;
        let mut here: Vec<(&str, &str)> = list
            .iter()
            .filter(|t| t.running())
            .filter_map(|t| Some((t.name.as_str(), t.container.as_deref()?)))
            .collect();
        if here.len() >= want {
            here.sort_by_key(|(name, _)| slot(name));
            return Ok(here.iter().map(|(_, c)| c.to_string()).collect());
        }
        control.check()?;
        let failures = failed_tasks(service);
        if failures.len() >= 3 || started.elapsed() >= timeout {
            let states: Vec<String> = list
                .iter()
                .map(|t| format!("{} {}", t.name, t.state))
                .collect();
            bail!(
                "service {service}: {} of {want} task(s) running after {:.0}s ({}){}",
                here.len(),
                started.elapsed().as_secs_f64(),
                states.join(", "),
                match failures.first() {
                    Some(f) => format!("; Swarm says: {f}"),
                    None => String::new(),
                }
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The slot number of a task name `SERVICE.SLOT`.
fn slot(task: &str) -> u64 {
    task.rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Swarm's errors for the service's failed or rejected tasks (newest first).
fn failed_tasks(service: &str) -> Vec<String> {
    let out = docker::run_ok(&[
        "service",
        "ps",
        service,
        "--no-trunc",
        "--format",
        "{{.Name}}\t{{.CurrentState}}\t{{.Error}}",
    ])
    .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (name, state, error) = (f.next()?, f.next()?, f.next()?);
            let failed = state.starts_with("Failed") || state.starts_with("Rejected");
            (failed && !error.is_empty()).then(|| format!("{name} {state}: {error}"))
        })
        .collect()
}

/// The node port a task container's `port` is published on.
fn published_port(container: &str, port: u16) -> anyhow::Result<u16> {
    let addr = docker::published_addr(container, port)?;
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.trim().parse().ok())
        .with_context(|| format!("docker port {container} {port}/tcp: {addr:?}"))
}

/// Services and volumes an earlier run with this prefix left (`--keep`, a
/// run killed hard) are removed; those of a run still going are an error,
/// and so is a volume of this run's names that no covtools run made (it
/// would be mounted, profiles and all, into this run's tasks).
fn remove_leftovers(s: &Settings, progress: &Progress) -> anyhow::Result<()> {
    let run_label = format!("covtools.run={}", s.prefix);
    let filter = format!("label={run_label}");
    let ids = docker::run_ok(&["service", "ls", "-q", "--filter", &filter])?;
    let ids: Vec<&str> = ids
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut services = Vec::new();
    if !ids.is_empty() {
        let format = format!("{{{{.Spec.Name}}}}\t{{{{index .Spec.Labels \"{OWNER_LABEL}\"}}}}");
        let mut args = vec!["service", "inspect", "--format", &format];
        args.extend(&ids);
        for line in docker::run_ok(&args)?.lines() {
            let (name, owner) = line.split_once('\t').unwrap_or((line, ""));
            check_owner(&s.prefix, owner)?;
            services.push(name.trim().to_string());
        }
    }
    let format = format!("{{{{.Name}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}");
    for line in docker::run_ok(&["volume", "ls", "--filter", &filter, "--format", &format])?.lines()
    {
        check_owner(&s.prefix, line.split_once('\t').map_or("", |(_, o)| o))?;
    }
    let leftover = swarm::Registered {
        services,
        volume_label: Some(run_label),
    };
    let volumes = swarm::volumes_labelled(leftover.volume_label.as_deref().unwrap_or_default());
    if !leftover.services.is_empty() || !volumes.is_empty() {
        progress.line(format!(
            "removing {} Swarm service(s) and {} volume(s) left by an earlier run with prefix {}",
            leftover.services.len(),
            volumes.len(),
            s.prefix
        ));
        let problems = swarm::teardown(&leftover);
        if !problems.is_empty() {
            bail!("removing what an earlier run left: {}", problems.join("; "));
        }
    }
    let name_filter = format!("name={}-", s.prefix);
    for v in docker::run_ok(&["volume", "ls", "-q", "--filter", &name_filter])?.lines() {
        let v = v.trim();
        let ours = s.config.services.iter().any(|svc| {
            v.strip_prefix(&format!("{}-{}-cover-", s.prefix, svc.name))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if ours {
            bail!(
                "volume {v} exists and no covtools run with prefix {} made it: its files would be \
                 taken for this run's coverage; remove it (docker volume rm {v}) or give this run \
                 its own --prefix",
                s.prefix
            );
        }
    }
    Ok(())
}

fn check_owner(prefix: &str, owner: &str) -> anyhow::Result<()> {
    if process::owner_alive(owner.trim()) == Some(true) {
        let pid = owner.split('/').nth(1).unwrap_or("?");
        bail!(
            "prefix {prefix} is in use by another covtools run (pid {pid} on this host): wait for \
             it to end, or give this run its own --prefix"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn slots_order_numerically() {
        let mut names = vec!["s.10", "s.2", "s.1"];
        names.sort_by_key(|n| super::slot(n));
        assert_eq!(names, ["s.1", "s.2", "s.10"]);
    }
}
