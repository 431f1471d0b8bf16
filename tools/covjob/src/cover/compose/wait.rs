//! `up` and the stack's dependencies: Compose starts the services in the
//! order of their `depends_on` (v1 and v2 alike wait for a
//! `service_healthy` dependency before starting what depends on it); this
//! watches it do so, bounded: a dependency that exits, turns unhealthy or
//! is still not healthy at the deadline stops the run with its name, its
//! health status and the last lines of its log, and so does Ctrl-C.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::super::indent;
use super::plan::Plan;
use crate::runtime::compose::{message, Container, Project};
use crate::runtime::control::{Control, Interrupted};
use crate::runtime::docker;
use crate::runtime::process;

/// Lines of a dependency's log shown when it fails.
const DEP_LOG_LINES: usize = 20;

/// How a dependency stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Standing {
    Ready,
    Pending(String),
    Failed(String),
}

/// A dependency's standing from its `docker inspect`: with a health check
/// (the compose file's or the image's) it is ready when healthy; without,
/// when running; a one-shot job when it exited 0.
fn standing(info: &covtarget::docker::Container, one_shot: bool) -> Standing {
    let state = &info.state;
    let status = if state.status.is_empty() {
        "?"
    } else {
        state.status.as_str()
    };
    let health = state.health.as_ref().map(|h| h.status.as_str());
    let last_check = || {
        state
            .health
            .as_ref()
            .and_then(|h| h.log.last())
            .map(|c| {
                let out = c.output.trim();
                let out = out.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
                format!(
                    "; last check exited {}{}",
                    c.exit_code,
                    if out.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", out.trim())
                    }
                )
            })
            .unwrap_or_default()
    };
    if !state.running {
        let code = state.exit_code.unwrap_or(-1);
        return match (status, code) {
            ("created", _) => Standing::Pending("created, not started yet".into()),
            ("exited", 0) if one_shot => Standing::Ready,
            ("exited", _) => Standing::Failed(format!(
                "exited with code {code}{}",
                if one_shot {
                    ""
                } else {
                    " (nothing waits for it to complete: a service the stack needs running)"
                }
            )),
            _ => Standing::Failed(format!("is {status} (exit code {code})")),
        };
    }
    match health {
        None | Some("healthy") => Standing::Ready,
        Some("unhealthy") => {
            Standing::Failed(format!("is unhealthy (health: unhealthy{})", last_check()))
        }
        Some(h) => Standing::Pending(format!("health: {h}{}", last_check())),
    }
}

/// The stack's services covtools does not instrument, as containers.
fn dependencies<'a>(all: &'a [Container], instrumented: &BTreeSet<&str>) -> Vec<&'a Container> {
    all.iter()
        .filter(|c| !instrumented.contains(c.service.as_str()))
        .collect()
}

/// The error of a failed dependency: its name, why, its log's last lines.
fn failed(c: &Container, why: &str) -> anyhow::Error {
    let log = docker::docker_logs(&c.name, DEP_LOG_LINES);
    anyhow::anyhow!(
        "dependency {} {why}; its log ({}):\n{}",
        c.service,
        c.name,
        indent(log.trim_end())
    )
}

/// How the dependencies stand, all at once.
enum Deps {
    Ready,
    /// The first not ready yet, and how it stands.
    Pending(Container, String),
    /// The first that failed, as the run's error.
    Failed(anyhow::Error),
}

fn survey(project: &Project, plan: &Plan, instrumented: &BTreeSet<&str>) -> anyhow::Result<Deps> {
    let all = project.containers()?;
    let mut pending = None;
    for c in dependencies(&all, instrumented) {
        let Some(info) = covtarget::docker::inspect(&c.id)? else {
            continue;
        };
        match standing(&info, plan.one_shot.contains(&c.service)) {
            Standing::Ready => {}
            Standing::Failed(why) => return Ok(Deps::Failed(failed(c, &why))),
            Standing::Pending(how) => {
                pending.get_or_insert((c.clone(), how));
            }
        }
    }
    Ok(match pending {
        Some((c, how)) => Deps::Pending(c, how),
        None => Deps::Ready,
    })
}

/// A dependency still not ready at the deadline.
fn late(c: &Container, how: &str, timeout: Duration) -> anyhow::Error {
    failed(
        c,
        &format!("was not ready after {:.0}s ({how})", timeout.as_secs_f64()),
    )
}

/// `up -d --no-build ARGS…`, its output in `log`, watched until it ends:
/// a dependency failing or the deadline (`timeout`) kills it and ends the
/// run with that dependency's error; so does Ctrl-C (with `Interrupted`).
pub(super) fn up(
    project: &Project,
    plan: &Plan,
    args: &[String],
    instrumented: &BTreeSet<&str>,
    timeout: Duration,
    control: &Control,
    log: &Path,
) -> anyhow::Result<()> {
    let mut argv = vec!["up", "-d", "--no-build"];
    argv.extend(args.iter().map(String::as_str));
    let mut cmd = project.command(&argv);
    cmd.stdout_path(log)
        .stderr_to_stdout()
        // Its own group: a terminal's Ctrl-C reaches us, and we stop it.
        .process_group();
    let mut child = cmd.spawn()?;
    let started = Instant::now();
    let stop = |child: &mut std::process::Child| {
        process::signal(-(child.id() as i32), libc::SIGTERM);
        let grace = Instant::now() + Duration::from_secs(5);
        let _ = covcore::process::wait_until(child, grace);
        process::signal(-(child.id() as i32), libc::SIGKILL);
        let _ = child.wait();
    };
    let mut next_check = Instant::now() + Duration::from_millis(500);
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if control.interrupted() {
            stop(&mut child);
            return Err(Interrupted.into());
        }
        if Instant::now() >= next_check {
            let is_late = started.elapsed() >= timeout;
            match survey(project, plan, instrumented)? {
                Deps::Failed(e) => {
                    stop(&mut child);
                    return Err(e);
                }
                Deps::Pending(c, how) if is_late => {
                    stop(&mut child);
                    return Err(late(&c, &how, timeout));
                }
                _ => {}
            }
            if is_late {
                stop(&mut child);
                bail!(
                    "{} did not finish within {:.0}s (run.ready_timeout); its output: {}",
                    project.shown(&argv),
                    timeout.as_secs_f64(),
                    message(&fs::read_to_string(log).unwrap_or_default())
                );
            }
            next_check = Instant::now() + Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.success() {
        return Ok(());
    }
    // A dependency that failed says more than Compose's "container … is
    // unhealthy".
    if let Deps::Failed(e) = survey(project, plan, instrumented)? {
        return Err(e);
    }
    let said = message(&fs::read_to_string(log).unwrap_or_default());
    let exit = status
        .code()
        .map_or_else(|| format!("{status}"), |c| format!("exit {c}"));
    match port_taken(&said) {
        Some(addr) => bail!(
            "compose up failed ({exit}): host port {addr} is already taken, by another program or \
             container: free it, or publish another port in the compose file (an interpolated port, \
             \"${{PORT:-8080}}:8080\", lets each run choose); Compose said: {said}"
        ),
        None => bail!("compose up failed ({exit}): {said}"),
    }
}

/// The host address of a "port already taken" error from Docker, as
/// Compose passes it on.
fn port_taken(msg: &str) -> Option<String> {
    if let Some(i) = msg.find("Bind for ") {
        let rest = &msg[i + "Bind for ".len()..];
        if let Some(j) = rest.find(" failed: port is already allocated") {
            return Some(rest[..j].to_string());
        }
    }
    if msg.contains("address already in use") {
        let listen = msg.rfind("listen tcp")?;
        let rest = &msg[listen..];
        let addr = rest.split_whitespace().nth(2)?.trim_end_matches(':');
        return Some(addr.to_string());
    }
    None
}

/// Once `up` is done: every dependency ready (healthy, running, or a
/// one-shot job done), polled until `timeout` from `since`.
pub(super) fn dependencies_ready(
    project: &Project,
    plan: &Plan,
    instrumented: &BTreeSet<&str>,
    since: Instant,
    timeout: Duration,
    control: &Control,
) -> anyhow::Result<()> {
    let mut pause = Duration::from_millis(100);
    loop {
        match survey(project, plan, instrumented)? {
            Deps::Ready => return Ok(()),
            Deps::Failed(e) => return Err(e),
            Deps::Pending(c, how) if since.elapsed() >= timeout => {
                return Err(late(&c, &how, timeout))
            }
            Deps::Pending(..) => {}
        }
        control.check()?;
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn standing(info: &Value, one_shot: bool) -> Standing {
        super::standing(&serde_json::from_value(info.clone()).unwrap(), one_shot)
    }

    #[test]
    fn a_dependency_stands_by_its_health_then_by_running() {
        let running = |health: Value| json!({"State": {"Status": "running", "Running": true, "Health": health}});
        assert_eq!(standing(&running(Value::Null), false), Standing::Ready);
        assert_eq!(
            standing(&running(json!({"Status": "healthy"})), false),
            Standing::Ready
        );
        let log = json!([{"ExitCode": 1, "Output": "Could not connect to Redis\n"}]);
        assert_eq!(
            standing(&running(json!({"Status": "starting", "Log": log})), false),
            Standing::Pending(
                "health: starting; last check exited 1: Could not connect to Redis".into()
            )
        );
        assert_eq!(
            standing(&running(json!({"Status": "unhealthy", "Log": log})), false),
            Standing::Failed(
                "is unhealthy (health: unhealthy; last check exited 1: Could not connect to Redis)"
                    .into()
            )
        );
        let exited =
            |code: i64| json!({"State": {"Status": "exited", "Running": false, "ExitCode": code}});
        assert_eq!(standing(&exited(0), true), Standing::Ready);
        assert!(
            matches!(standing(&exited(0), false), Standing::Failed(w) if w.starts_with("exited with code 0 (nothing waits"))
        );
        assert_eq!(
            standing(&exited(3), true),
            Standing::Failed("exited with code 3".into())
        );
    }

    #[test]
    fn a_taken_port_is_found_in_dockers_words() {
        assert_eq!(
            port_taken("for app Cannot start service app: driver failed programming external connectivity on endpoint p_app_1 (73): Error starting userland proxy: listen tcp4 127.0.0.1:43999: bind: address already in use").as_deref(),
            Some("127.0.0.1:43999")
        );
        assert_eq!(
            port_taken("for app Cannot start service app: driver failed programming external connectivity on endpoint x: Bind for 0.0.0.0:8080 failed: port is already allocated").as_deref(),
            Some("0.0.0.0:8080")
        );
        assert_eq!(port_taken("for app Container \"48\" is unhealthy."), None);
    }
}
