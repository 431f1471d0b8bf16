//! What a run has started and how it always gets rid of it: Docker
//! containers, networks and volumes, compose projects, and local processes (the restart wrapper, each
//! in its own process group). Everything started is registered in
//! [`Resources`] before it exists, so that teardown (after success, after
//! any failure, on Ctrl-C) finds it.

use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

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
}

/// Ends the teardown problems that removed what they were about.
const FORCED: &str = " (forced)";

/// Ctrl-C and the resources of one run, shared with the signal thread.
#[derive(Clone, Default)]
pub struct Control {
    signals: Arc<AtomicUsize>,
    pub resources: Arc<Mutex<Resources>>,
}

/// The error a run stops with after Ctrl-C (exit 130, after teardown).
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
    /// groups, `docker rm -f`) and exits 130.
    pub fn with_signals() -> anyhow::Result<Control> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let control = Control::new();
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .context("installing signal handlers")?;
        let c = control.clone();
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if c.signals.fetch_add(1, Ordering::SeqCst) == 0 {
                    eprintln!(
                        "\ncover: interrupted: stopping and tearing down (Ctrl-C again to force)"
                    );
                } else {
                    eprintln!("\ncover: forced: killing what was started and exiting");
                    force_kill(&c.resources);
                    std::process::exit(130);
                }
            }
        });
        Ok(control)
    }

    /// Asks the run to stop, as a first Ctrl-C does.
    pub fn interrupt(&self) {
        self.signals.fetch_add(1, Ordering::SeqCst);
    }

    pub fn interrupted(&self) -> bool {
        self.signals.load(Ordering::SeqCst) > 0
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
    /// Returns what could not be removed.
    pub fn teardown(&self, grace: Option<Duration>) -> Vec<String> {
        let mut problems = Vec::new();
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
                        problems.push(format!("docker rm: {line}"));
                    }
                }
                Err(e) => problems.push(format!("{e:#}")),
            }
        }
        let mut downs_failed = false;
        for p in &projects {
            // As `docker rm -f` does for containers: no grace (a service
            // that must stop cleanly was collected already).
            if let Err(first) = p.remove() {
                if let Err(e) = p.down(Duration::ZERO) {
                    problems.push(format!("{first:#}; then {e:#}"));
                    downs_failed = true;
                }
            }
        }
        for net in &networks {
            match docker::run(&["network", "rm", net], TIMEOUT) {
                Ok(out) if out.success() => {}
                Ok(out) => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    if !err.contains("not found") {
                        problems.push(format!("docker network rm {net}: {}", err.trim()));
                    }
                }
                Err(e) => problems.push(format!("{e:#}")),
            }
        }
        // `down -v` removes a project's volumes, anonymous ones too; these
        // are for when it could not.
        if downs_failed || projects.is_empty() {
            problems.extend(remove_volumes(&volumes));
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
        loop {
            let running = {
                let res = self.resources.lock().unwrap();
                res.processes
                    .iter()
                    .any(|(_, c)| peek_exit(c.id()).is_none())
            };
            if !running || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut res = self.resources.lock().unwrap();
        let mut groups = Vec::new();
        for (name, mut child) in res.processes.drain(..) {
            if let (Some(grace), None) = (grace, peek_exit(child.id())) {
                problems.push(format!(
                    "{name} (pid {}) did not stop within {:.0}s of SIGTERM; killed{FORCED}",
                    child.id(),
                    grace.as_secs_f64()
                ));
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
        let deadline = Instant::now() + Duration::from_secs(5);
        while groups.iter().any(|(_, g)| process::group_alive(*g)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for (name, g) in groups {
            if process::group_alive(g) {
                problems.push(format!(
                    "{name}: processes of group {g} still run after SIGKILL"
                ));
            }
        }
        problems
    }

    /// Whether a teardown problem left something behind (a process that had
    /// to be killed is gone all the same).
    pub fn left_behind(problem: &str) -> bool {
        !problem.ends_with(FORCED)
    }

    /// Whether anything was registered (and not yet torn down).
    pub fn started_anything(&self) -> bool {
        let res = self.resources.lock().unwrap();
        !(res.containers.is_empty()
            && res.networks.is_empty()
            && res.projects.is_empty()
            && res.volumes.is_empty()
            && res.processes.is_empty())
    }

    /// What is still registered (for `--keep`): the commands that remove it.
    pub fn leftovers(&self) -> Vec<String> {
        let res = self.resources.lock().unwrap();
        let mut cmds = Vec::new();
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
        res.projects.clear();
        res.volumes.clear();
        for (_, child) in res.processes.drain(..) {
            std::mem::forget(child);
        }
    }
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
