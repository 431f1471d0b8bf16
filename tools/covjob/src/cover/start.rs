//! The start step: the services as containers on a private network, or as
//! local processes through the wrapper, each waited for until ready.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context};
use covcore::contract;
use covcore::process::process;

use super::ready::{container_not_ready, died_at_start, wait_ready, Probe, LOG_TAIL};
use super::settings::{Settings, OWNER_LABEL};
use super::{Report, Started};
use crate::config::Service;
use crate::docker_images;
use crate::progress::{Item, Progress};
use crate::runtime::control::{Control, Interrupted};
use crate::runtime::{docker, net, process};

/// Where a service's `workdir` is mounted in its container.
pub(super) const WORKDIR: &str = "/covtools/workdir";

/// The services as containers on `<prefix>-net`.
pub(super) fn start_docker(
    s: &Settings,
    images: &BTreeMap<String, String>,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<Vec<Started>> {
    let phase = progress.phase("start", s.config.services.len() as u64);
    let result = (|| -> anyhow::Result<Vec<Started>> {
        remove_leftovers(&s.prefix, progress)?;
        let net = create_network(s, control, &[])?;
        let labels = s.labels();
        let urls = s.config.docker_urls();
        let results = covcore::pool::each(&s.config.services, |svc| {
            let item = phase.item(&svc.name, "docker run");
            let r = (|| {
                let container = format!("{}-{}", s.prefix, svc.name);
                let addr = svc.docker_addr();
                let mut run: Vec<String> = vec![
                    "run".into(),
                    "-d".into(),
                    "--name".into(),
                    container.clone(),
                    "--network".into(),
                    net.clone(),
                    "--network-alias".into(),
                    svc.name.clone(),
                ];
                run.extend(labels.iter().cloned());
                run.extend([
                    "-p".into(),
                    format!("127.0.0.1::{}", svc.port),
                    "-e".into(),
                    format!(
                        "{}=:{}",
                        contract::ENV_KILLSWITCH_ADDR,
                        s.config.image.killswitch_port
                    ),
                ]);
                for (k, v) in svc.render_env(&addr, &urls)? {
                    run.push("-e".into());
                    run.push(format!("{k}={v}"));
                }
                if let Some(w) = &svc.workdir {
                    // Files the service reads relative to its working
                    // directory: the module's own, read-only.
                    let src = s.config.module_dir.join(w);
                    run.extend([
                        "--mount".into(),
                        format!(
                            "type=bind,source={},target={WORKDIR},readonly",
                            src.display()
                        ),
                        "--workdir".into(),
                        WORKDIR.into(),
                    ]);
                }
                run.push(images[&svc.name].clone());
                run.extend(svc.render_args(&addr, &urls)?);
                control.add_container(&container);
                let argv: Vec<&str> = run.iter().map(String::as_str).collect();
                docker::run_ok(&argv).map_err(|e| name_taken(e, &container, control))?;
                let host = docker::published_addr(&container, svc.port)?;
                wait_container(s, svc, &svc.name, &container, &host, control, &item)?;
                Ok(Started {
                    name: svc.name.clone(),
                    target: format!("docker:{container}"),
                    host_url: format!("http://{host}"),
                    container: Some(container),
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

/// Creates the run's network `<prefix>-net` (registered first), with
/// `options` (a driver) and the run's labels; returns its name.
pub(super) fn create_network(
    s: &Settings,
    control: &Control,
    options: &[&str],
) -> anyhow::Result<String> {
    let net = format!("{}-net", s.prefix);
    let labels = s.labels();
    control.add_network(&net);
    let mut create = vec!["network", "create"];
    create.extend(options);
    create.extend(labels.iter().map(String::as_str));
    create.push(&net);
    docker::run_ok(&create).map_err(|e| name_taken(e, &net, control))?;
    Ok(net)
}

/// Waits until a service's container is ready, as its `ready` says: its
/// path on the published address `host`, else its port listening (read in
/// the container); from inside the container when the tests run there.
/// `shown` names it in errors (a replica: with its number).
pub(super) fn wait_container(
    s: &Settings,
    svc: &Service,
    shown: &str,
    container: &str,
    host: &str,
    control: &Control,
    item: &Item,
) -> anyhow::Result<()> {
    // The tests in this container reach it on its loopback.
    let hosts_tests = s.tests_in_service() == Some(svc.name.as_str());
    let probe = match (&svc.ready, hosts_tests) {
        (Some(path), false) => Probe::Http {
            addr: host.to_string(),
            path,
        },
        (Some(path), true) => Probe::ContainerHttp {
            container: container.to_string(),
            port: svc.port,
            path,
        },
        (None, _) => Probe::ContainerPort {
            container: container.to_string(),
            port: svc.port,
            loopback_ok: hosts_tests,
        },
    };
    item.set(format!("waiting: {}", probe.describe()));
    wait_ready(
        shown,
        &probe,
        s.ready_timeout,
        control,
        || container_not_ready(container, svc.port, &svc.name),
        || docker::docker_logs(container, LOG_TAIL),
    )
}

/// A service's readiness on its progress line.
pub(super) fn show_ready(item: crate::progress::Item, r: &anyhow::Result<Started>) {
    match r {
        Ok(st) => item.done(&format!("ready, {}", st.host_url)),
        Err(_) => item.fail("not ready"),
    }
}

/// A `docker run --name` or `network create` that failed because the name
/// exists: another run with this prefix started after the leftover check.
/// What has the name is not ours to tear down.
pub(super) fn name_taken(err: anyhow::Error, name: &str, control: &Control) -> anyhow::Error {
    let msg = format!("{err:#}");
    if msg.contains("already in use") || msg.contains("already exists") {
        control.disown(name);
        return err.context(format!(
            "{name} exists: another covtools run with this prefix started at the same time? give each run its own --prefix"
        ));
    }
    err
}

/// Containers of an earlier run with the same prefix (left by --keep, or a
/// run killed hard) would make `docker run --name` fail: remove them. Those
/// of a run still going on this host are not touched: that is an error.
pub(super) fn remove_leftovers(prefix: &str, progress: &Progress) -> anyhow::Result<()> {
    let label = format!("label=covtools.run={prefix}");
    let format = format!("{{{{.ID}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}");
    let containers = docker::run_ok(&["ps", "-a", "--filter", &label, "--format", &format])?;
    let networks = docker::run_ok(&["network", "ls", "--filter", &label, "--format", &format])?;
    for line in containers.lines().chain(networks.lines()) {
        let owner = line.split_once('\t').map_or("", |(_, o)| o.trim());
        if process::owner_alive(owner) == Some(true) {
            let pid = owner.split('/').nth(1).unwrap_or("?");
            bail!(
                "prefix {prefix} is in use by another covtools run (pid {pid} on this host): \
                 wait for it to end, or give this run its own --prefix"
            );
        }
    }
    let ids: Vec<&str> = containers
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|id| !id.is_empty())
        .collect();
    if !ids.is_empty() {
        progress.line(format!(
            "removing {} container(s) left by an earlier run with prefix {prefix}",
            ids.len()
        ));
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids);
        docker::run_ok(&args)?;
    }
    for n in networks.lines().filter_map(|l| l.split('\t').next()) {
        if !n.is_empty() {
            docker::run_ok(&["network", "rm", n])?;
        }
    }
    Ok(())
}

pub(super) fn collect_started(
    results: Vec<anyhow::Result<Started>>,
) -> anyhow::Result<Vec<Started>> {
    let mut started = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(s) => started.push(s),
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => return Err(e),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(started)
}

pub(super) fn finish_start(
    phase: crate::progress::Phase,
    result: anyhow::Result<Vec<Started>>,
    report: &mut Report,
) -> anyhow::Result<Vec<Started>> {
    match result {
        Ok(started) => {
            report
                .steps
                .push(("start".into(), phase.finish("all ready")));
            Ok(started)
        }
        Err(e) => {
            report.steps.push(("start".into(), phase.fail("failed")));
            Err(e)
        }
    }
}

/// The services as local processes: the wrapper with COVER_DIR under
/// `<work>/local/<service>` and free loopback ports.
pub(super) fn start_local(
    s: &Settings,
    bin_dir: &Path,
    control: &Control,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Result<Vec<Started>> {
    let phase = progress.phase("start", s.config.services.len() as u64);
    let result = (|| -> anyhow::Result<Vec<Started>> {
        let n = s.config.services.len();
        let ports = net::free_ports(2 * n)?;
        // A service told where to listen gets a free port; one that is not
        // listens on its configured port (clashes were checked in settings).
        let addrs: BTreeMap<&str, (String, String)> = s
            .config
            .services
            .iter()
            .enumerate()
            .map(|(i, svc)| {
                let port = if svc.takes_addr() {
                    ports[2 * i]
                } else {
                    svc.port
                };
                (
                    svc.name.as_str(),
                    (
                        format!("127.0.0.1:{port}"),
                        format!("127.0.0.1:{}", ports[2 * i + 1]),
                    ),
                )
            })
            .collect();
        let urls: BTreeMap<String, String> = addrs
            .iter()
            .map(|(n, (a, _))| (n.to_string(), format!("http://{a}")))
            .collect();
        let root = s.work.join("local");
        let mut started = Vec::new();
        for svc in &s.config.services {
            let (addr, killswitch) = &addrs[svc.name.as_str()];
            let dir = root.join(&svc.name);
            if dir.exists() {
                fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            let cover = dir.join("cover");
            fs::create_dir_all(&cover).with_context(|| format!("creating {}", cover.display()))?;
            let log_path = dir.join("service.log");
            let mut cmd = process("sh");
            cmd.arg(docker_images::wrapper_script()?)
                .args(svc.render_args(addr, &urls)?)
                .envs(svc.render_env(addr, &urls)?)
                .env(
                    contract::ENV_COVER_BIN,
                    bin_dir.join(format!("{}.test", svc.name)),
                )
                .env(contract::ENV_COVER_KIND, s.config.build.kind.name())
                .env(contract::ENV_COVER_DIR, &cover)
                .env(contract::ENV_KILLSWITCH_ADDR, killswitch)
                .dir(match &svc.workdir {
                    Some(w) => s.config.module_dir.join(w),
                    None => dir.clone(),
                })
                .stdin_null()
                .stdout_path(&log_path)
                .stderr_to_stdout()
                // Its own group: teardown kills the wrapper and the service
                // together, and a terminal's Ctrl-C reaches only us.
                .process_group();
            match &svc.harness_test {
                Some(t) => cmd.env(contract::ENV_COVER_TEST, t),
                None => cmd.env_remove(contract::ENV_COVER_TEST),
            };
            let child = cmd.spawn()?;
            control.add_process(&svc.name, child);
            started.push((svc, addr.clone(), killswitch.clone(), cover, log_path));
        }
        let results = covcore::pool::each(&started, |(svc, addr, killswitch, cover, log_path)| {
            let probe = match &svc.ready {
                Some(path) => Probe::Http {
                    addr: addr.clone(),
                    path,
                },
                None => Probe::LocalPort { addr: addr.clone() },
            };
            let item = phase.item(&svc.name, &format!("waiting: {}", probe.describe()));
            let r = wait_ready(
                &svc.name,
                &probe,
                s.ready_timeout,
                control,
                || match control.process_exit(&svc.name) {
                    Some(e) => Some(format!(
                        "stopped before it was ready (the wrapper exited: {e})"
                    )),
                    None => died_at_start(&process::file_tail(log_path, LOG_TAIL)),
                },
                || process::file_tail(log_path, LOG_TAIL),
            )
            .map(|()| Started {
                name: svc.name.clone(),
                target: format!("local:{killswitch}={}", cover.display()),
                host_url: format!("http://{addr}"),
                container: None,
                network: None,
                replica: 1,
            });
            show_ready(item, &r);
            r
        });
        collect_started(results)
    })();
    finish_start(phase, result, report)
}
