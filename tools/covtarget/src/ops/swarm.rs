//! `swarm:SERVICE`: the tasks of a Docker Swarm service, and their
//! expansion into the containers this node runs (`docker:CONTAINER`, read
//! and stopped like any container). Tasks on other nodes cannot be reached
//! from this engine: each is reported by name with what to do. Everything
//! goes through the `docker` CLI (a few calls per service, not per task).

use std::time::Duration;

use anyhow::{bail, Context};

use super::Expanded;
use crate::docker;
use crate::target::Target;

/// The label Swarm puts on every task's container.
pub const SERVICE_LABEL: &str = "com.docker.swarm.service.name";
const TASK_LABEL: &str = "com.docker.swarm.task.id";

/// This engine's place in a swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The engine's host name (`docker info`'s Name), as `docker service
    /// ps` shows nodes.
    pub hostname: String,
    pub id: String,
    /// A manager sees every task of a service; a worker only its own.
    pub manager: bool,
}

/// The swarm node this engine is; an error saying `docker swarm init` when
/// it is in none.
pub fn node(timeout: Duration) -> anyhow::Result<Node> {
    let out = docker::run_ok(
        &[
            "info",
            "--format",
            "{{.Name}}\t{{.Swarm.LocalNodeState}}\t{{.Swarm.ControlAvailable}}\t{{.Swarm.NodeID}}",
        ],
        timeout,
    )?;
    parse_node(&out)
}

fn parse_node(out: &str) -> anyhow::Result<Node> {
    let f: Vec<&str> = out.trim_end_matches(['\n', '\r']).split('\t').collect();
    let [hostname, state, control, id] = f[..] else {
        bail!("docker info: unexpected answer {:?}", out.trim());
    };
    if state != "active" {
        bail!(
            "this Docker engine is not in Swarm mode (its swarm state: {}): run `docker swarm init` \
             to make it a single-node swarm, or point DOCKER_HOST or DOCKER_CONTEXT at a node of your swarm",
            if state.is_empty() { "none" } else { state }
        );
    }
    Ok(Node {
        hostname: hostname.to_string(),
        id: id.to_string(),
        manager: control == "true",
    })
}

/// One task of a service that should be running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    /// `SERVICE.SLOT` (replicated) or `SERVICE.NODE` (global).
    pub name: String,
    /// The node's host name ("" while unassigned).
    pub node: String,
    /// Swarm's current state: `Running 3 seconds ago`, `Preparing …`.
    pub state: String,
    /// Why it is not running, when Swarm says.
    pub error: String,
    /// Its container, when it runs on this node.
    pub container: Option<String>,
}

impl Task {
    pub fn running(&self) -> bool {
        self.state.starts_with("Running")
    }
}

/// The tasks of `service` that Swarm wants running, each with its local
/// container if it has one here. On a worker (which cannot list a
/// service's tasks) these are the tasks of this node alone.
pub fn tasks(service: &str, node: &Node, timeout: Duration) -> anyhow::Result<Vec<Task>> {
    // Tasks first, then containers: a task that runs by the time of the
    // listing has its container by the time of the second call.
    let listed = if node.manager {
        let out = docker::run(
            &[
                "service",
                "ps",
                service,
                "--no-trunc",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.ID}}\t{{.Name}}\t{{.Node}}\t{{.CurrentState}}\t{{.Error}}",
            ],
            timeout,
        )?;
        if !out.success() {
            let msg = out.error_line();
            if msg.to_lowercase().contains("no such service") {
                bail!("no Swarm service {service:?} (`docker service ls` lists them)");
            }
            bail!("docker service ps {service}: {msg}");
        }
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        None
    };
    let label = format!("label={SERVICE_LABEL}={service}");
    let format = format!("{{{{.Names}}}}\t{{{{.Label \"{TASK_LABEL}\"}}}}");
    let local = docker::run_ok(
        &["ps", "--no-trunc", "--filter", &label, "--format", &format],
        timeout,
    )?;
    let local: Vec<(String, String)> = local
        .lines()
        .filter_map(|l| {
            let (name, task) = l.split_once('\t')?;
            Some((name.trim().to_string(), task.trim().to_string()))
        })
        .collect();
    Ok(match listed {
        Some(listed) => join(&listed, &local),
        None => local
            .into_iter()
            .map(|(container, id)| Task {
                name: task_name(&container),
                id,
                node: node.hostname.clone(),
                state: "Running".into(),
                error: String::new(),
                container: Some(container),
            })
            .collect(),
    })
}

/// `docker service ps` lines joined with this node's containers (name, task id).
fn join(listed: &str, local: &[(String, String)]) -> Vec<Task> {
    listed
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let [id, name, node, state, error] = f[..] else {
                return None;
            };
            let container = local
                .iter()
                .find(|(_, task)| task == id)
                .map(|(c, _)| c.clone());
            Some(Task {
                id: id.to_string(),
                name: name.to_string(),
                node: node.to_string(),
                state: state.to_string(),
                error: error.to_string(),
                container,
            })
        })
        .collect()
}

/// `SERVICE.SLOT` from a task container's name `SERVICE.SLOT.TASKID`.
fn task_name(container: &str) -> String {
    match container.rsplit_once('.') {
        Some((name, _)) => name.to_string(),
        None => container.to_string(),
    }
}

/// `swarm:SERVICE` as the containers of its running tasks on this node;
/// tasks elsewhere are errors that say where they run and what to do, tasks
/// not running yet are notes.
pub fn expand(service: &str, timeout: Duration) -> anyhow::Result<Expanded> {
    let node = node(timeout)?;
    let tasks = tasks(service, &node, timeout)?;
    Ok(classify(service, &node, &tasks))
}

fn classify(service: &str, node: &Node, tasks: &[Task]) -> Expanded {
    let mut ex = Expanded::default();
    for t in tasks {
        match (&t.container, t.running()) {
            (Some(c), _) => ex.targets.push(Target::Docker {
                container: c.clone(),
            }),
            (None, true) => ex.errors.push(anyhow::anyhow!(
                "task {} runs on node {}, not on this one ({}): run covkill and covpull against that \
                 node's engine (DOCKER_HOST=ssh://{} or a docker context), or with docker:CONTAINER there",
                t.name,
                t.node,
                node.hostname,
                t.node
            )),
            (None, false) => {
                let why = if t.error.is_empty() {
                    String::new()
                } else {
                    format!(": {}", t.error)
                };
                ex.notes.push(format!(
                    "task {} is not running ({}{why}): skipped",
                    t.name, t.state
                ));
            }
        }
    }
    if !node.manager {
        ex.notes.push(format!(
            "this node ({}) is a Swarm worker: only its own tasks of {service} are seen; \
             run on every node, or on a manager to list them all",
            node.hostname
        ));
    }
    if ex.targets.is_empty() && ex.errors.is_empty() {
        ex.errors.push(anyhow::anyhow!(
            "no running task of Swarm service {service:?} on this node"
        ));
    }
    ex
}

/// [`tasks`] with the node looked up; for callers that wait on a service.
pub fn service_tasks(service: &str, timeout: Duration) -> anyhow::Result<(Node, Vec<Task>)> {
    let node = node(timeout)?;
    let tasks = tasks(service, &node, timeout).context(format!("swarm:{service}"))?;
    Ok((node, tasks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> Node {
        Node {
            hostname: "vm".into(),
            id: "n1".into(),
            manager: true,
        }
    }

    #[test]
    fn not_in_swarm_mode_says_swarm_init() {
        let e = parse_node("vm\tinactive\tfalse\t\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`docker swarm init`") && e.contains("inactive"),
            "{e}"
        );
        assert_eq!(parse_node("vm\tactive\ttrue\tn1\n").unwrap(), manager());
        assert!(!parse_node("w\tactive\tfalse\tn2").unwrap().manager);
    }

    #[test]
    fn tasks_here_elsewhere_and_starting() {
        let listed = "t1\tweb.1\tvm\tRunning 3 seconds ago\t\n\
                      t2\tweb.2\tother\tRunning 5 seconds ago\t\n\
                      t3\tweb.3\t\tPending 1 second ago\tno suitable node\n";
        let local = [("web.1.t1".to_string(), "t1".to_string())];
        let tasks = join(listed, &local);
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[0].container.as_deref(), Some("web.1.t1"));
        let ex = classify("web", &manager(), &tasks);
        assert_eq!(
            ex.targets,
            [Target::Docker {
                container: "web.1.t1".into()
            }]
        );
        assert_eq!(ex.errors.len(), 1);
        let e = ex.errors[0].to_string();
        assert!(
            e.starts_with("task web.2 runs on node other, not on this one (vm)")
                && e.contains("DOCKER_HOST=ssh://other"),
            "{e}"
        );
        assert_eq!(
            ex.notes,
            ["task web.3 is not running (Pending 1 second ago: no suitable node): skipped"]
        );
        // Nothing here at all: an error, not an empty success.
        let ex = classify("web", &manager(), &[]);
        assert!(ex.targets.is_empty());
        assert!(ex.errors[0].to_string().contains("no running task"));
        assert_eq!(task_name("web.2.abc"), "web.2");
    }
}
