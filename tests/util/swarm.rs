//! Docker Swarm mode for the tests that need it (tests/swarm.rs). Swarm
//! mode belongs to the whole engine, which other test runs share: the
//! tests that touch it run one at a time (a process-wide lock), make the
//! engine a manager only when it is not in Swarm mode, and leave the swarm
//! only if they made it; a swarm that was there before is never left.
//! [`SwarmScope`] names and removes a test's services, task containers,
//! volumes and network.

use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use super::cover::Scope;
use super::{docker, docker_ok};

static SWARM: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next one still gets the engine.
    SWARM.lock().unwrap_or_else(|e| e.into_inner())
}

/// The engine's swarm state: `inactive`, `active`, …
pub fn state() -> String {
    docker_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .trim()
        .to_string()
}

/// The engine in Swarm mode for one test.
pub struct SwarmMode {
    made: bool,
    /// Whether `docker swarm init` made the docker_gwbridge network (which
    /// leaving the swarm keeps).
    made_gwbridge: bool,
    _lock: MutexGuard<'static, ()>,
}

const GWBRIDGE: &str = "docker_gwbridge";

fn network_exists(name: &str) -> bool {
    docker(&["network", "inspect", name]).status.success()
}

impl SwarmMode {
    /// Swarm mode on (`docker swarm init --advertise-addr 127.0.0.1` when it
    /// is off); left at the end only if this made it.
    pub fn on() -> SwarmMode {
        let lock = lock();
        let made = state() != "active";
        let made_gwbridge = made && !network_exists(GWBRIDGE);
        if made {
            docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        }
        SwarmMode {
            made,
            made_gwbridge,
            _lock: lock,
        }
    }

    /// Whether this made the engine a manager (and leaves the swarm when
    /// dropped).
    pub fn made(&self) -> bool {
        self.made
    }

    /// The engine out of Swarm mode for one test; `None` when it is in one
    /// that this test did not make (not ours to leave).
    pub fn off() -> Option<MutexGuard<'static, ()>> {
        let lock = lock();
        (state() != "active").then_some(lock)
    }
}

impl Drop for SwarmMode {
    fn drop(&mut self) {
        if self.made {
            let out = docker(&["swarm", "leave", "--force"]);
            if !out.status.success() && !std::thread::panicking() {
                panic!(
                    "docker swarm leave --force: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            if self.made_gwbridge {
                let _ = docker(&["network", "rm", GWBRIDGE]);
            }
        }
    }
}

/// A test's Docker objects under one prefix ([`Scope`]), Swarm services and
/// volumes included.
pub struct SwarmScope {
    pub scope: Scope,
}

impl SwarmScope {
    pub fn new(test: &str) -> SwarmScope {
        SwarmScope {
            scope: Scope::new(test),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.scope.prefix
    }

    /// Everything under the prefix that exists now: services, containers,
    /// volumes, networks.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (what, args) in [
            ("service", vec!["service", "ls", "--format", "{{.Name}}"]),
            ("volume", vec!["volume", "ls", "--format", "{{.Name}}"]),
        ] {
            let out = Command::new("docker").args(&args).output().unwrap();
            // Out of Swarm mode there are no services to list.
            for name in String::from_utf8_lossy(&out.stdout).lines() {
                if name.starts_with(self.prefix()) {
                    found.push(format!("{what} {name}"));
                }
            }
        }
        found.extend(self.scope.leftovers());
        found
    }

    pub fn assert_nothing_left(&self) {
        let left = self.leftovers();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

impl Drop for SwarmScope {
    fn drop(&mut self) {
        // Services first (Swarm would replace removed containers), then
        // their containers, then the volumes they held; the Scope removes
        // the rest and the images.
        for l in self.leftovers() {
            if let Some(s) = l.strip_prefix("service ") {
                let _ = docker(&["service", "rm", s]);
            }
        }
        for l in self.leftovers() {
            if let Some(c) = l.strip_prefix("container ") {
                let _ = docker(&["rm", "-f", "-v", c]);
            }
        }
        for l in self.leftovers() {
            if let Some(v) = l.strip_prefix("volume ") {
                let _ = docker(&["volume", "rm", "-f", v]);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// A service's replicas, seen from the host.

/// The running task containers of Swarm service `service` on this node, as
/// (slot, container), by slot.
pub fn replicas(service: &str) -> Vec<(u32, String)> {
    let label = format!("label=com.docker.swarm.service.name={service}");
    let out = docker_ok(&["ps", "--filter", &label, "--format", "{{.Names}}"]);
    let mut found: Vec<(u32, String)> = out
        .lines()
        .filter_map(|c| {
            // SERVICE.SLOT.TASK
            let slot = c
                .strip_prefix(service)?
                .strip_prefix('.')?
                .split('.')
                .next()?;
            Some((slot.parse().ok()?, c.to_string()))
        })
        .collect();
    found.sort();
    found
}

/// The host address a task container's `port` is published on (host mode:
/// every interface of the node, so loopback too).
pub fn published(container: &str, port: u16) -> String {
    let out = docker_ok(&["port", container, &format!("{port}/tcp")]);
    let port = out
        .lines()
        .find_map(|l| l.trim().rsplit_once(':').map(|(_, p)| p.to_string()))
        .unwrap_or_else(|| panic!("docker port {container}: {out:?}"));
    format!("127.0.0.1:{port}")
}

/// The sum of the counts of the blocks of `file` (a path suffix) that hold
/// line `line`, in a text profile.
pub fn line_count(profile: &std::path::Path, file: &str, line: u32) -> u64 {
    let text = std::fs::read_to_string(profile).unwrap();
    super::profile_text::block_lines(&text)
        .into_iter()
        .map(super::profile_text::parse_block)
        .filter(|((path, start, _, end, _), _, _)| {
            path.ends_with(file.as_bytes()) && *start <= line && line <= *end
        })
        .map(|(_, _, count)| count)
        .sum()
}
