//! What a run has started and how it always gets rid of it: Docker
//! containers, networks and volumes, compose projects, Swarm services and
//! their volumes, and local processes (the restart wrapper, each
//! in its own process group). Everything started is registered in
//! [`Resources`] before it exists, so that teardown (after success, after
//! any failure, on Ctrl-C) finds it.

use std::fmt;
use std::process::Child;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use covcore::exit_codes::ExitStatus;

use covcore::process::wait_for_children;
use covtarget::docker;

use super::compose::Project;
use super::docker::TIMEOUT;
use super::process::{self, peek_exit, signal, Exit};

/// What a run has started, to be removed at the end.
#[derive(Default)]
pub struct Resources {
    /// Docker containers, by name.
    pub containers: Vec<String>,
    /// Docker networks, by name.
    pub networks: Vec<String>,
    /// Compose projects (their containers, networks and volumes).
    pub projects: Vec<Project>,
    /// Docker volumes, by name (those a compose project's containers
    /// mounted: `down -v` removes them, unless it could not run).
    pub volumes: Vec<String>,
    /// Local processes, each the leader of its own process group.
    pub processes: Vec<(String, Child)>,
    /// Swarm services and their volumes.
    pub swarm: super::swarm::Registered,
}

/// Something teardown could not do cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeardownProblem {
    pub message: String,
    /// Whether something is left running or in place (a container, a
    /// network, a process); false when it is gone all the same (a process
    /// that had to be killed).
    pub left_behind: bool,
}

impl TeardownProblem {
    /// Something that could not be removed.
    pub fn left(message: impl Into<String>) -> TeardownProblem {
        TeardownProblem {
            message: message.into(),
            left_behind: true,
        }
    }
}

impl fmt::Display for TeardownProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Ctrl-C and the resources of one run, shared with the signal thread.
#[derive(Clone, Default)]
pub struct Control {
    signals: Arc<AtomicUsize>,
    /// The first signal received (0: none yet, or [`Control::interrupt`]).
    first_signal: Arc<AtomicI32>,
    pub resources: Arc<Mutex<Resources>>,
}

/// The error a run stops with after Ctrl-C or SIGTERM (exit 130 or 143,
/// after teardown).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

impl Control {
    /// No signal handling (the library use: tests call the task directly).
    pub fn new() -> Control {
        Control::default()
    }

    /// SIGINT/SIGTERM: the first asks the run to stop and tear down; the
    /// second kills what was started at once (SIGKILL to the local process
    /// groups, `docker rm -f`) and exits 130 (SIGINT) or 143 (SIGTERM).
    pub fn with_signals() -> anyhow::Result<Control> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let control = Control::new();
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .context("installing signal handlers")?;
        let c = control.clone();
        std::thread::spawn(move || {
            for signal in signals.forever() {
                let _ =
                    c.first_signal
                        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
                let first = c.signals.fetch_add(1, Ordering::SeqCst) == 0;
                // After the count: a wait woken here must see the interrupt.
                wake_waits();
                if first {
                    eprintln!(
                        "\ncover: interrupted: stopping and tearing down (Ctrl-C again to force)"
                    );
                } else {
                    eprintln!("\ncover: forced: killing what was started and exiting");
                    force_kill(&c.resources);
                    std::process::exit(ExitStatus::from_signal(signal).code());
                }
            }
        });
        Ok(control)
    }

    /// Asks the run to stop, as a first Ctrl-C does.
    pub fn interrupt(&self) {
        self.signals.fetch_add(1, Ordering::SeqCst);
        wake_waits();
    }

    pub fn interrupted(&self) -> bool {
        self.signals.load(Ordering::SeqCst) > 0
    }

    /// The exit status of a run stopped by a signal: 143 after SIGTERM,
    /// 130 after Ctrl-C (or [`Control::interrupt`]); `None` if none came.
    pub fn stopped_by(&self) -> Option<ExitStatus> {
        if !self.interrupted() {
            return None;
        }
        Some(match self.first_signal.load(Ordering::SeqCst) {
            0 => ExitStatus::Interrupted,
            signal => ExitStatus::from_signal(signal),
        })
    }

    /// An `Interrupted` error once Ctrl-C was pressed.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.interrupted() {
            return Err(Interrupted.into());
        }
        Ok(())
    }

    pub fn add_container(&self, name: &str) {
        self.resources
            .lock()
            .unwrap()
            .containers
            .push(name.to_string());
    }

    pub fn add_network(&self, name: &str) {
        self.resources
            .lock()
            .unwrap()
            .networks
            .push(name.to_string());
    }

    pub fn add_swarm_service(&self, name: &str) {
        let mut res = self.resources.lock().unwrap();
        res.swarm.services.push(name.to_string());
    }

    /// The label (`KEY=VALUE`) of the volumes this run's Swarm tasks create.
    pub fn add_swarm_volumes(&self, label: &str) {
        self.resources.lock().unwrap().swarm.volume_label = Some(label.to_string());
    }

    pub fn add_project(&self, project: &Project) {
        self.resources
            .lock()
            .unwrap()
            .projects
            .push(project.clone());
    }

    pub fn add_volume(&self, name: &str) {
        let mut res = self.resources.lock().unwrap();
        if !res.volumes.iter().any(|v| v == name) {
            res.volumes.push(name.to_string());
        }
    }

    /// Unregisters a container or network that this run turned out not to
    /// have created (its name was taken), so teardown leaves it alone.
    pub fn disown(&self, name: &str) {
        let mut res = self.resources.lock().unwrap();
        res.containers.retain(|c| c != name);
        res.networks.retain(|n| n != name);
    }

    pub fn add_process(&self, name: &str, child: Child) {
        self.resources
            .lock()
            .unwrap()
            .processes
            .push((name.to_string(), child));
    }

    /// Whether the local process `name` has exited (without reaping it), and
    /// with which status.
    pub fn process_exit(&self, name: &str) -> Option<Exit> {
        let res = self.resources.lock().unwrap();
        let (_, child) = res.processes.iter().find(|(n, _)| n == name)?;
        peek_exit(child.id())
    }

    /// Removes everything started: containers (`docker rm -f -v`), compose
    /// projects (what `down -v --remove-orphans` removes: after the
    /// containers attached to their networks), networks, then volumes;
    /// local processes get SIGTERM (the wrapper forwards it and
    /// keeps a profile), then SIGKILL to their whole group after `grace`.
    /// With no grace (the coverage is collected already: nothing to keep)
    /// they are killed at once, so no wrapper restarts a service and nothing
    /// waits on a harness's own grace.
    /// The lock is held only briefly, so a second Ctrl-C can still force.
    /// Returns what could not be done cleanly.
    pub fn teardown(&self, grace: Option<Duration>) -> Vec<TeardownProblem> {
        let mut problems = Vec::new();
        // Swarm services first: their tasks hold the run's network.
        let swarm = self.resources.lock().unwrap().swarm.clone();
        if !swarm.is_empty() {
            problems.extend(
                super::swarm::teardown(&swarm)
                    .into_iter()
                    .map(TeardownProblem::left),
            );
            self.resources.lock().unwrap().swarm = Default::default();
        }
        let (containers, networks, projects, volumes) = {
            let res = self.resources.lock().unwrap();
            for (_, child) in &res.processes {
                if peek_exit(child.id()).is_none() {
                    match grace {
                        Some(_) => signal(child.id() as i32, libc::SIGTERM),
                        // The group is not reaped yet, so its id is still ours.
                        None => signal(-(child.id() as i32), libc::SIGKILL),
                    }
                }
            }
            (
                res.containers.clone(),
                res.networks.clone(),
                res.projects.clone(),
                res.volumes.clone(),
            )
        };
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(containers.iter().map(String::as_str));
            match docker::run(&args, TIMEOUT) {
                Ok(out) if out.success() => {}
                Ok(out) => {
                    // "No such container" is fine: it never started.
                    let err = String::from_utf8_lossy(&out.stderr);
                    for line in err.lines().filter(|l| !l.contains("No such container")) {
                        problems.push(TeardownProblem::left(format!("docker rm: {line}")));
                    }
                }
                Err(e) => problems.push(TeardownProblem::left(format!("{e:#}"))),
            }
        }
        let mut downs_failed = false;
        for p in &projects {
            // As `docker rm -f` does for containers: no grace (a service
            // that must stop cleanly was collected already).
            if let Err(first) = p.remove() {
                if let Err(e) = p.down(Duration::ZERO) {
                    problems.push(TeardownProblem::left(format!("{first:#}; then {e:#}")));
                    downs_failed = true;
                }
            }
        }
        for net in &networks {
            match docker::run(&["network", "rm", net], TIMEOUT) {
                // An overlay network goes a moment after it is removed.
                Ok(out) if out.success() && !swarm.is_empty() => {
                    problems.extend(super::swarm::network_gone(net).map(TeardownProblem::left));
                }
                Ok(out) if out.success() => {}
                Ok(out) => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    if !err.contains("not found") {
                        problems.push(TeardownProblem::left(format!(
                            "docker network rm {net}: {}",
                            err.trim()
                        )));
                    }
                }
                Err(e) => problems.push(TeardownProblem::left(format!("{e:#}"))),
            }
        }
        // `down -v` removes a project's volumes, anonymous ones too; these
        // are for when it could not.
        if downs_failed || projects.is_empty() {
            problems.extend(
                remove_volumes(&volumes)
                    .into_iter()
                    .map(TeardownProblem::left),
            );
        }
        {
            let mut res = self.resources.lock().unwrap();
            res.containers.retain(|c| !containers.contains(c));
            res.networks.retain(|n| !networks.contains(n));
            res.projects
                .retain(|p| !projects.iter().any(|q| q.name == p.name));
            res.volumes.retain(|v| !volumes.contains(v));
        }
        let deadline = Instant::now() + grace.unwrap_or_default();
        // Woken as each one ends; the lock is taken only to look.
        let _ = wait_for_children(deadline, || {
            let res = self.resources.lock().unwrap();
            Ok(res
                .processes
                .iter()
                .all(|(_, c)| peek_exit(c.id()).is_some()))
        });
        let mut res = self.resources.lock().unwrap();
        let mut groups = Vec::new();
        for (name, mut child) in res.processes.drain(..) {
            if let (Some(grace), None) = (grace, peek_exit(child.id())) {
                problems.push(TeardownProblem {
                    message: format!(
                        "{name} (pid {}) did not stop within {:.0}s of SIGTERM; killed (forced)",
                        child.id(),
                        grace.as_secs_f64()
                    ),
                    left_behind: false,
                });
            }
            // The leader is not reaped yet, so its group id cannot have been
            // reused: whatever is left in the group (the service, a backoff
            // sleep) goes too.
            signal(-(child.id() as i32), libc::SIGKILL);
            let _ = child.wait();
            groups.push((name, child.id()));
        }
        drop(res);
        // The killed groups' members (the services the wrappers started)
        // end a moment later: return only once they are gone.
        let ids: Vec<u32> = groups.iter().map(|(_, g)| *g).collect();
        let alive = process::wait_groups_gone(&ids, Instant::now() + Duration::from_secs(5));
        for (name, g) in groups {
            if alive.contains(&g) {
                problems.push(TeardownProblem::left(format!(
                    "{name}: processes of group {g} still run after SIGKILL"
                )));
            }
        }
        problems
    }

    /// Whether anything was registered (and not yet torn down).
    pub fn started_anything(&self) -> bool {
        let res = self.resources.lock().unwrap();
        !(res.containers.is_empty()
            && res.networks.is_empty()
            && res.projects.is_empty()
            && res.volumes.is_empty()
            && res.processes.is_empty()
            && res.swarm.is_empty())
    }

    /// What is still registered (for `--keep`): the commands that remove it.
    pub fn leftovers(&self) -> Vec<String> {
        let res = self.resources.lock().unwrap();
        let mut cmds = super::swarm::leftover_commands(&res.swarm);
        if !res.containers.is_empty() {
            cmds.push(format!("docker rm -f -v {}", res.containers.join(" ")));
        }
        for p in &res.projects {
            cmds.push(p.shown(&["down", "-v", "--remove-orphans"]));
        }
        for n in &res.networks {
            cmds.push(format!("docker network rm {n}"));
        }
        if !res.volumes.is_empty() {
            cmds.push(format!("docker volume rm -f {}", res.volumes.join(" ")));
        }
        if !res.processes.is_empty() {
            let pids: Vec<String> = res
                .processes
                .iter()
                .map(|(_, c)| c.id().to_string())
                .collect();
            cmds.push(format!("kill -TERM {}", pids.join(" ")));
        }
        cmds
    }

    /// Forgets everything registered (`--keep`): the processes are left
    /// running, unreaped by us.
    pub fn forget(&self) {
        let mut res = self.resources.lock().unwrap();
        res.containers.clear();
        res.networks.clear();
        res.swarm = Default::default();
        res.projects.clear();
        res.volumes.clear();
        for (_, child) in res.processes.drain(..) {
            std::mem::forget(child);
        }
    }
}

/// Wakes every wait for children ([`wait_for_children`]) so that it sees a
/// signal at once: a SIGCHLD to this process, which no child sent (the
/// waits then look again and find only the interrupt).
fn wake_waits() {
    process::signal(std::process::id() as i32, libc::SIGCHLD);
}

/// Second Ctrl-C: no grace, no waiting on anything but `docker rm -f`.
fn force_kill(resources: &Mutex<Resources>) {
    // The main thread may hold the lock while blocked; do not wait for it long.
    let deadline = Instant::now() + Duration::from_secs(2);
    let guard = loop {
        if let Ok(g) = resources.try_lock() {
            break Some(g);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let Some(res) = guard else {
        eprintln!("cover: could not get the list of what was started; check `docker ps` and your processes");
        return;
    };
    for (_, child) in &res.processes {
        signal(-(child.id() as i32), libc::SIGKILL);
    }
    if !res.swarm.is_empty() {
        let _ = super::swarm::teardown(&res.swarm);
    }
    if !res.containers.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(res.containers.iter().map(String::as_str));
        let _ = docker::run(&args, TIMEOUT);
    }
    for p in &res.projects {
        if p.remove().is_err() {
            let _ = p.down(Duration::ZERO);
        }
    }
    for n in &res.networks {
        let _ = docker::run(&["network", "rm", n], TIMEOUT);
    }
    remove_volumes(&res.volumes);
}

/// `docker volume rm -f`: a volume already gone is fine; one still in use
/// is a problem.
fn remove_volumes(volumes: &[String]) -> Vec<String> {
    if volumes.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["volume", "rm", "-f"];
    args.extend(volumes.iter().map(String::as_str));
    match docker::run(&args, TIMEOUT) {
        Ok(out) if out.success() => Vec::new(),
        Ok(out) => String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("No such volume"))
            .map(|l| format!("docker volume rm: {}", l.trim()))
            .collect(),
        Err(e) => vec![format!("{e:#}")],
    }
}
