//! The start step: the services as containers on a private network, or as
//! local processes through the wrapper, each waited for until ready.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::settings::{Settings, OWNER_LABEL};
use super::{indent, Report, Started};
use crate::docker_images;
use crate::progress::Progress;
use crate::runtime::control::{Control, Interrupted};
use crate::runtime::{docker, net, process};

/// How to tell a service is ready.
pub(super) enum Probe<'a> {
    Http {
        addr: String,
        path: &'a str,
    },
    /// Docker: the container's own /proc/net/tcp (a published port accepts
    /// connections before the service does).
    ContainerPort {
        container: String,
        port: u16,
    },
    LocalPort {
        addr: String,
    },
}

impl Probe<'_> {
    fn describe(&self) -> String {
        match self {
            Probe::Http { addr, path } => format!("GET http://{addr}{path}"),
            Probe::ContainerPort { port, .. } => format!("port {port} listening"),
            Probe::LocalPort { addr } => format!("{addr} accepting connections"),
        }
    }

    /// Ok(true) ready; Ok(false) not yet, with the reason in `last`.
    fn check(&self, last: &mut String) -> bool {
        match self {
            Probe::Http { addr, path } => {
                match net::http_status(addr, path, Duration::from_secs(2)) {
                    Ok(code) if (200..300).contains(&code) => true,
                    Ok(code) => {
                        *last = format!("answered {code}");
                        false
                    }
                    Err(e) => {
                        *last = e.to_string();
                        false
                    }
                }
            }
            Probe::ContainerPort { container, port } => {
                match docker::listening_in_container(container, *port) {
                    Ok(true) => true,
                    Ok(false) => {
                        *last = format!("nothing listens on port {port}");
                        false
                    }
                    Err(e) => {
                        *last = format!("{e:#}");
                        false
                    }
                }
            }
            Probe::LocalPort { addr } => {
                let ok = net::port_open(addr);
                if !ok {
                    *last = "connection refused".into();
                }
                ok
            }
        }
    }
}

/// Lines of a service's log read when it fails to get ready; the error
/// shows the output of its last run from them (see `log_excerpt`).
pub(super) const LOG_TAIL: usize = 400;

/// The part of a service log worth showing: the output of the wrapper's last
/// run (from its last `cover-wrapper: run N` line), where the service says
/// why it is not ready; long output keeps its head (the error usually comes
/// before a usage text) and its tail.
pub(super) fn log_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let runs: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("cover-wrapper: run "))
        .collect();
    // A run that has only just started has said nothing yet: show the one
    // before it too.
    let from = match runs.as_slice() {
        [] => lines.len().saturating_sub(30),
        [.., before, last] if lines.len() - last < 3 => *before,
        [.., last] => *last,
    };
    let last = &lines[from..];
    let (head, tail) = (15, 20);
    let text = if last.len() > head + tail + 1 {
        format!(
            "{}\n... ({} lines) ...\n{}",
            last[..head].join("\n"),
            last.len() - head - tail,
            last[last.len() - tail..].join("\n")
        )
    } else {
        last.join("\n")
    };
    indent(&text)
}

/// Polls `probe` until ready, the deadline, Ctrl-C, or `gone()` telling the
/// service is not running any more (Some(why)).
pub(super) fn wait_ready(
    name: &str,
    probe: &Probe,
    timeout: Duration,
    control: &Control,
    mut gone: impl FnMut() -> Option<String>,
    log_tail: impl Fn() -> String,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    let mut next_gone_check = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        if probe.check(&mut last) {
            return Ok(());
        }
        control.check()?;
        if Instant::now() >= next_gone_check {
            if let Some(why) = gone() {
                bail!(
                    "service {name} stopped before it was ready ({why}); its log:\n{}",
                    log_excerpt(&log_tail())
                );
            }
            next_gone_check = Instant::now() + Duration::from_millis(500);
        }
        if started.elapsed() >= timeout {
            bail!(
                "service {name} was not ready after {:.0}s ({}: {last}); its log:\n{}",
                timeout.as_secs_f64(),
                probe.describe(),
                log_excerpt(&log_tail())
            );
        }
        // Quick at first (services start in well under a second), then
        // slower, so the probes do not fill the service's log.
        std::thread::sleep(pause);
        pause = (pause * 3 / 2).min(Duration::from_secs(1));
    }
}

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
        let net = format!("{}-net", s.prefix);
        let labels = s.labels();
        control.add_network(&net);
        let mut create = vec!["network", "create"];
        create.extend(labels.iter().map(String::as_str));
        create.push(&net);
        docker::docker(&create).map_err(|e| name_taken(e, &net, control))?;
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
                    format!("COVKILL_ADDR=:{}", s.config.image.killswitch_port),
                ]);
                for (k, v) in svc.render_env(&addr, &urls)? {
                    run.push("-e".into());
                    run.push(format!("{k}={v}"));
                }
                run.push(images[&svc.name].clone());
                run.extend(svc.render_args(&addr, &urls)?);
                control.add_container(&container);
                let argv: Vec<&str> = run.iter().map(String::as_str).collect();
                docker::docker(&argv).map_err(|e| name_taken(e, &container, control))?;
                let host = docker::published_addr(&container, svc.port)?;
                let probe = match &svc.ready {
                    Some(path) => Probe::Http {
                        addr: host.clone(),
                        path,
                    },
                    None => Probe::ContainerPort {
                        container: container.clone(),
                        port: svc.port,
                    },
                };
                item.set(format!("waiting: {}", probe.describe()));
                wait_ready(
                    &svc.name,
                    &probe,
                    s.ready_timeout,
                    control,
                    || match docker::container_state(&container) {
                        Ok((true, _)) => None,
                        Ok((false, code)) => Some(format!("container exited with {code}")),
                        Err(e) => Some(format!("{e:#}")),
                    },
                    || docker::docker_logs(&container, LOG_TAIL),
                )?;
                Ok(Started {
                    name: svc.name.clone(),
                    target: format!("docker:{container}"),
                    host_url: format!("http://{host}"),
                })
            })();
            show_ready(item, &r);
            r
        });
        collect_started(results)
    })();
    finish_start(phase, result, report)
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
            "{name} exists: another integration-cover run with this prefix started at the same time? give each run its own --prefix"
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
    let containers = docker::docker(&["ps", "-a", "--filter", &label, "--format", &format])?;
    let networks = docker::docker(&["network", "ls", "--filter", &label, "--format", &format])?;
    for line in containers.lines().chain(networks.lines()) {
        let owner = line.split_once('\t').map_or("", |(_, o)| o.trim());
        if process::owner_alive(owner) == Some(true) {
            let pid = owner.split('/').nth(1).unwrap_or("?");
            bail!(
                "prefix {prefix} is in use by another integration-cover run (pid {pid} on this host): \
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
        docker::docker(&args)?;
    }
    for n in networks.lines().filter_map(|l| l.split('\t').next()) {
        if !n.is_empty() {
            docker::docker(&["network", "rm", n])?;
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
        let addrs: BTreeMap<&str, (String, String)> = s
            .config
            .services
            .iter()
            .enumerate()
            .map(|(i, svc)| {
                (
                    svc.name.as_str(),
                    (
                        format!("127.0.0.1:{}", ports[2 * i]),
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
            let log = fs::File::create(&log_path)
                .with_context(|| format!("creating {}", log_path.display()))?;
            let mut cmd = Command::new("sh");
            cmd.arg(docker_images::wrapper_script())
                .args(svc.render_args(addr, &urls)?)
                .envs(svc.render_env(addr, &urls)?)
                .env("COVER_BIN", bin_dir.join(format!("{}.test", svc.name)))
                .env("COVER_DIR", &cover)
                .env("COVKILL_ADDR", killswitch)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                // Its own group: teardown kills the wrapper and the service
                // together, and a terminal's Ctrl-C reaches only us.
                .process_group(0);
            match &svc.harness_test {
                Some(t) => cmd.env("COVER_TEST", t),
                None => cmd.env_remove("COVER_TEST"),
            };
            let child = cmd.spawn().context("starting sh docker/cover-wrapper.sh")?;
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
                || {
                    control
                        .process_exit(&svc.name)
                        .map(|e| format!("the wrapper exited: {e}"))
                },
                || process::file_tail(log_path, LOG_TAIL),
            )
            .map(|()| Started {
                name: svc.name.clone(),
                target: format!("local:{killswitch}={}", cover.display()),
                host_url: format!("http://{addr}"),
            });
            show_ready(item, &r);
            r
        });
        collect_started(results)
    })();
    finish_start(phase, result, report)
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn log_excerpt_shows_the_last_run_head_and_tail() {
        let mut log = String::from("cover-wrapper: run 1: x\nold failure\n");
        log.push_str("cover-wrapper: run 2: x\nflag provided but not defined: -nope\n");
        for i in 0..60 {
            log.push_str(&format!("  -test.flag{i}\n"));
        }
        log.push_str("cover-wrapper: restarting in 2s\n");
        let e = log_excerpt(&log);
        assert!(e.starts_with("  | cover-wrapper: run 2"), "{e}");
        assert!(!e.contains("old failure"));
        assert!(e.contains("flag provided but not defined: -nope"));
        assert!(e.contains("... (28 lines) ..."), "{e}");
        assert!(e.ends_with("restarting in 2s"), "{e}");
        let fresh = log_excerpt("cover-wrapper: run 1: x\nboom\ncover-wrapper: run 2: x\n");
        assert_eq!(
            fresh,
            "  | cover-wrapper: run 1: x\n  | boom\n  | cover-wrapper: run 2: x"
        );
        let short = log_excerpt("a\nb\n");
        assert_eq!(short, "  | a\n  | b");
    }
}
