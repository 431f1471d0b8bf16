//! Where `integration-cover` runs the services, and how it always gets rid
//! of them: Docker containers on a private network, or local processes
//! (the restart wrapper, each in its own process group). Everything started
//! is registered in [`Resources`] before it exists, so that teardown (after
//! success, after any failure, on Ctrl-C) finds it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// What a run has started, to be removed at the end.
#[derive(Default)]
pub struct Resources {
    /// Docker containers, by name.
    pub containers: Vec<String>,
    /// Docker networks, by name.
    pub networks: Vec<String>,
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

    /// Removes everything started: containers (`docker rm -f -v`), then
    /// networks; local processes get SIGTERM (the wrapper forwards it and
    /// keeps a profile), then SIGKILL to their whole group after `grace`.
    /// The lock is held only briefly, so a second Ctrl-C can still force.
    /// Returns what could not be removed.
    pub fn teardown(&self, grace: Duration) -> Vec<String> {
        let mut problems = Vec::new();
        let (containers, networks) = {
            let res = self.resources.lock().unwrap();
            for (_, child) in &res.processes {
                if peek_exit(child.id()).is_none() {
                    signal(child.id() as i32, libc::SIGTERM);
                }
            }
            (res.containers.clone(), res.networks.clone())
        };
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(containers.iter().map(String::as_str));
            match docker_output(&args) {
                Ok(out) if out.status.success() => {}
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
        for net in &networks {
            match docker_output(&["network", "rm", net]) {
                Ok(out) if out.status.success() => {}
                Ok(out) => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    if !err.contains("not found") {
                        problems.push(format!("docker network rm {net}: {}", err.trim()));
                    }
                }
                Err(e) => problems.push(format!("{e:#}")),
            }
        }
        {
            let mut res = self.resources.lock().unwrap();
            res.containers.retain(|c| !containers.contains(c));
            res.networks.retain(|n| !networks.contains(n));
        }
        let deadline = Instant::now() + grace;
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
        for (name, mut child) in res.processes.drain(..) {
            if peek_exit(child.id()).is_none() {
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
        !(res.containers.is_empty() && res.networks.is_empty() && res.processes.is_empty())
    }

    /// What is still registered (for `--keep`): the commands that remove it.
    pub fn leftovers(&self) -> Vec<String> {
        let res = self.resources.lock().unwrap();
        let mut cmds = Vec::new();
        if !res.containers.is_empty() {
            cmds.push(format!("docker rm -f -v {}", res.containers.join(" ")));
        }
        for n in &res.networks {
            cmds.push(format!("docker network rm {n}"));
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
        let _ = docker_output(&args);
    }
    for n in &res.networks {
        let _ = docker_output(&["network", "rm", n]);
    }
}

/// This process as the owner of what a run creates, `HOST/PID/START` (START:
/// its start time in clock ticks since boot, so a reused pid is not taken
/// for it), put on containers and networks as the `covtools.owner` label.
pub fn run_owner() -> String {
    let pid = std::process::id();
    format!(
        "{}/{pid}/{}",
        hostname(),
        process_start(pid).unwrap_or_default()
    )
}

/// Whether the run that owns something is still going: `Some` only when the
/// owner is on this host (elsewhere, or unlabelled, cannot be told).
pub fn owner_alive(owner: &str) -> Option<bool> {
    let mut parts = owner.splitn(3, '/');
    let (host, pid, start) = (parts.next()?, parts.next()?, parts.next()?);
    if host != hostname() {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    Some(process_start(pid).is_some_and(|s| s.to_string() == start))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Field 22 of /proc/PID/stat (after the command name, which may hold
/// spaces and parentheses).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// kill(2), ignoring "no such process".
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill has no memory effects.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Already reaped by its owner; the status is theirs.
    Unknown,
}

impl Exit {
    pub fn code(self) -> Option<i32> {
        match self {
            Exit::Code(c) => Some(c),
            _ => None,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::Unknown => write!(f, "exited"),
        }
    }
}

/// Whether child `pid` has exited, without reaping it (`waitid` with
/// WNOWAIT): its owner (a `Child`, duct) still collects the status, and
/// meanwhile its pid cannot be reused.
pub fn peek_exit(pid: u32) -> Option<Exit> {
    // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if rc != 0 {
        // ECHILD: not our child any more (reaped): it has exited.
        return Some(Exit::Unknown);
    }
    // SAFETY: waitid filled in info (si_pid 0: nothing has exited).
    let (who, status) = unsafe { (info.si_pid(), info.si_status()) };
    if who == 0 {
        return None;
    }
    Some(match info.si_code {
        libc::CLD_EXITED => Exit::Code(status),
        _ => Exit::Signal(status),
    })
}

/// `n` distinct free loopback ports. The listeners are held until all are
/// picked, so no two are the same; another program could still take one
/// before the service binds it (the service then fails to start, visibly).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("picking free loopback ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// One HTTP/1.0 GET of `path` at `addr`; the status code.
pub fn http_status(addr: &str, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let sa = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr}: no address")))?;
    let mut s = TcpStream::connect_timeout(&sa, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < head.len() {
        let k = s.read(&mut head[n..])?;
        if k == 0 || head[..n + k].contains(&b'\n') {
            n += k;
            break;
        }
        n += k;
    }
    let line = String::from_utf8_lossy(&head[..n]);
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .filter(|_| line.starts_with("HTTP/"));
    code.ok_or_else(|| {
        if n == 0 {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed without an answer",
            )
        } else {
            std::io::Error::other(format!("not an HTTP answer: {:?}", line.trim()))
        }
    })
}

/// Whether something accepts TCP connections at `addr` (local processes;
/// Docker's published ports accept even when the container does not).
pub fn port_open(addr: &str) -> bool {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|sa| TcpStream::connect_timeout(&sa, Duration::from_millis(500)).is_ok())
}

// ---------------------------------------------------------------------------
// Docker

pub fn docker_output(args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running docker")
}

/// `docker ARGS`, its stdout; an error holding its stderr otherwise.
pub fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = docker_output(args)?;
    if !out.status.success() {
        bail!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last `n` lines of a container's log (stdout and stderr).
pub fn docker_logs(container: &str, n: usize) -> String {
    match docker_output(&["logs", "--tail", &n.to_string(), container]) {
        Ok(out) => {
            // The wrapper and the services log to stderr; keep both, in order
            // per stream.
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            text
        }
        Err(e) => format!("(docker logs {container}: {e:#})"),
    }
}

/// Whether a container is running, and its exit code when it is not.
pub fn container_state(container: &str) -> anyhow::Result<(bool, i32)> {
    let out = docker(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.State.ExitCode}}",
        container,
    ])?;
    let mut f = out.split_whitespace();
    let running = f.next() == Some("true");
    let code = f.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
    Ok((running, code))
}

/// The host address a container's port is published on (`127.0.0.1:49153`).
pub fn published_addr(container: &str, port: u16) -> anyhow::Result<String> {
    let out = docker(&["port", container, &format!("{port}/tcp")])?;
    out.lines()
        .map(str::trim)
        .find(|l| l.starts_with("127.0.0.1:"))
        .or_else(|| out.lines().next())
        .map(str::to_string)
        .with_context(|| format!("docker port {container} {port}/tcp printed nothing"))
}

/// Whether a process in the container listens on TCP `port`, from its
/// /proc/net/tcp{,6} (needs only `cat`; a published port cannot tell).
pub fn listening_in_container(container: &str, port: u16) -> anyhow::Result<bool> {
    let out = docker_output(&["exec", container, "cat", "/proc/net/tcp", "/proc/net/tcp6"])?;
    Ok(listens(&String::from_utf8_lossy(&out.stdout), port))
}

/// Whether /proc/net/tcp text holds a socket in LISTEN state (0A) on `port`.
fn listens(proc_net_tcp: &str, port: u16) -> bool {
    let want = format!(":{port:04X}");
    proc_net_tcp.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1].ends_with(&want) && f[3] == "0A"
    })
}

/// The last `n` lines of a file (a local service's log).
pub fn file_tail(path: &std::path::Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
            out.push('\n');
            out
        }
        Err(e) => format!("({}: {e})\n", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners() {
        let me = run_owner();
        assert_eq!(owner_alive(&me), Some(true), "{me}");
        let (rest, start) = me.rsplit_once('/').unwrap();
        let start: u64 = start.parse().unwrap();
        assert_eq!(owner_alive(&format!("{rest}/{}", start + 1)), Some(false));
        assert_eq!(owner_alive("another-host/1/1"), None);
        assert_eq!(owner_alive(""), None);
    }

    #[test]
    fn proc_net_tcp_listen_state() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   1: 0100007F:4E1F 0100007F:A0B2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n";
        assert!(listens(text, 8080));
        assert!(!listens(text, 19999), "established, not listening");
        assert!(!listens(text, 80));
    }

    #[test]
    fn peek_does_not_reap() {
        let mut child = Command::new("true").spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while peek_exit(child.id()).is_none() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(peek_exit(child.id()), Some(Exit::Code(0)));
        // The owner still gets the real status.
        assert!(child.wait().unwrap().success());
        assert_eq!(peek_exit(child.id()), Some(Exit::Unknown));
    }
}
