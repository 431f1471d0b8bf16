//! The Swarm runtime's own objects and how they are always removed: the
//! services (Swarm then stops their tasks; their containers are removed
//! here at once, as the Docker runtime's are) and the cover volumes their
//! tasks mounted, found by this run's label. They go before the run's
//! network, which cannot be removed while a task is attached to it.

use std::time::{Duration, Instant};

use covtarget::docker;
use covtarget::ops::swarm::{self, Node, SERVICE_LABEL};

use super::docker::TIMEOUT;

/// How long removed services' containers and volumes may take to go.
const GONE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a Swarm run created, registered before it exists.
#[derive(Debug, Default, Clone)]
pub struct Registered {
    /// Services, by name.
    pub services: Vec<String>,
    /// The label (`KEY=VALUE`) on every volume this run's tasks created.
    pub volume_label: Option<String>,
}

impl Registered {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.volume_label.is_none()
    }
}

/// This engine as a Swarm manager (services are created on managers), else
/// an error saying what to do.
pub fn ensure_manager() -> anyhow::Result<Node> {
    let node = swarm::node(TIMEOUT).map_err(|e| anyhow::anyhow!("runtime swarm: {e:#}"))?;
    if !node.manager {
        anyhow::bail!(
            "runtime swarm: this node ({}) is a Swarm worker; services are created on a manager: \
             run covtools there, or promote this node (`docker node promote {}` on a manager)",
            node.hostname,
            node.hostname
        );
    }
    Ok(node)
}

/// Removes the services, their containers and the volumes; returns what
/// could not be removed.
pub fn teardown(reg: &Registered) -> Vec<String> {
    let mut problems = Vec::new();
    if !reg.services.is_empty() {
        let mut args = vec!["service", "rm"];
        args.extend(reg.services.iter().map(String::as_str));
        match docker::run(&args, TIMEOUT) {
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                for line in err
                    .lines()
                    .filter(|l| !l.to_lowercase().contains("not found"))
                {
                    problems.push(format!("docker service rm: {line}"));
                }
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    // Swarm stops the tasks in its own time (the stop grace period); the
    // coverage is collected or abandoned by now, so their containers go at
    // once, and the volumes can go after them.
    let deadline = Instant::now() + GONE_TIMEOUT;
    let left = until_gone(
        deadline,
        || containers_of(&reg.services),
        |ids| {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = docker::run(&args, TIMEOUT);
        },
    );
    for c in &left {
        problems.push(format!(
            "container {c} of a removed Swarm service is still there"
        ));
    }
    if let Some(label) = &reg.volume_label {
        let volumes = until_gone(
            deadline,
            || volumes_labelled(label),
            |names| {
                let mut args = vec!["volume", "rm"];
                args.extend(names.iter().map(String::as_str));
                let _ = docker::run(&args, TIMEOUT);
            },
        );
        for v in &volumes {
            problems.push(format!("docker volume rm {v}: still there (in use?)"));
        }
    }
    problems
}

/// Waits until a removed overlay network is gone from this node (Swarm
/// removes it in the background); a problem if it is not within 30 s.
pub fn network_gone(net: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let left = until_gone(
        deadline,
        || match docker::run(&["network", "inspect", net], TIMEOUT) {
            Ok(out) if !out.success() => Vec::new(),
            _ => vec![net.to_string()],
        },
        |_| {},
    );
    (!left.is_empty()).then(|| format!("docker network rm {net}: still there after 30s"))
}

/// Lists what is left and removes it until nothing is, or the deadline;
/// what is still there then.
fn until_gone(
    deadline: Instant,
    list: impl Fn() -> Vec<String>,
    remove: impl Fn(&[String]),
) -> Vec<String> {
    loop {
        let left = list();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        remove(&left);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The containers (any state) of these services, by id.
fn containers_of(services: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for s in services {
        let label = format!("label={SERVICE_LABEL}={s}");
        if let Ok(out) = docker::run_ok(&["ps", "-aq", "--filter", &label], TIMEOUT) {
            ids.extend(
                out.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            );
        }
    }
    ids
}

/// The volumes carrying `label` (`KEY=VALUE`).
pub fn volumes_labelled(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    docker::run_ok(&["volume", "ls", "-q", "--filter", &filter], TIMEOUT)
        .map(|out| {
            out.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The commands that remove what is registered (`--keep`).
pub fn leftover_commands(reg: &Registered) -> Vec<String> {
    let mut cmds = Vec::new();
    if !reg.services.is_empty() {
        cmds.push(format!("docker service rm {}", reg.services.join(" ")));
    }
    if let Some(label) = &reg.volume_label {
        cmds.push(format!(
            "docker volume rm $(docker volume ls -q --filter 'label={label}')"
        ));
    }
    cmds
}
