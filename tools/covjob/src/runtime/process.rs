//! Local processes: signals, exit statuses seen without reaping, and the
//! owner label that tells a live run from the leftovers of an ended one.

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

/// Whether a live (not zombie) process is in process group `pgid`. A
/// SIGKILL to a group returns before its members are gone, and a service the
/// wrapper started is reaped by init, not by us: teardown waits on this.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // `pid (comm) state ppid pgrp …`; comm may hold spaces and ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
        pgrp == Some(pgid) && state != Some("Z")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_killed_group_is_alive_until_its_grandchildren_are_gone() {
        use std::os::unix::process::CommandExt;
        // sh starts a grandchild (sleep) in its group, as the wrapper does.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(super::group_alive(pgid));
        super::signal(-(pgid as i32), libc::SIGKILL);
        child.wait().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while super::group_alive(pgid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!super::group_alive(pgid));
    }

    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

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
