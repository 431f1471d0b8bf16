//! Local processes: signals, exit statuses seen without reaping, the wait
//! for a killed process group to be gone, and the owner label that tells a
//! live run from the leftovers of an ended one.

use std::time::Instant;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{
    kill_process, kill_process_group, pidfd_open, waitid, Pid, PidfdFlags, Signal, WaitId,
    WaitIdOptions,
};

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

/// kill(2) to a process, or with a negative `pid` to its process group;
/// "no such process" is no error (it has ended).
pub fn signal(pid: i32, sig: i32) {
    let (Some(target), Some(sig)) = (Pid::from_raw(pid.abs()), Signal::from_named_raw(sig)) else {
        return;
    };
    let _ = if pid < 0 {
        kill_process_group(target, sig)
    } else {
        kill_process(target, sig)
    };
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
    let pid = Pid::from_raw(i32::try_from(pid).ok()?)?;
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    match waitid(WaitId::Pid(pid), options) {
        // ECHILD: not our child any more (reaped): it has exited.
        Err(_) => Some(Exit::Unknown),
        Ok(None) => None,
        Ok(Some(st)) => Some(match (st.exit_status(), st.terminating_signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(sig)) => Exit::Signal(sig),
            (None, None) => Exit::Unknown,
        }),
    }
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

/// The live (not zombie) processes of process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and ')'.
            let (_, rest) = stat.rsplit_once(')')?;
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
            (pgrp == Some(pgid) && state != Some("Z")).then_some(pid)
        })
        .collect()
}

/// Whether a live (not zombie) process is in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    !group_members(pgid).is_empty()
}

/// Waits until no live process is left in any of `groups`, or `deadline`;
/// returns the groups that still have one. A SIGKILL to a group returns
/// before its members are gone, and a service the wrapper started is
/// reaped by init, not by us (no SIGCHLD here): each member is watched
/// through a pidfd, which becomes readable when it ends.
pub fn wait_groups_gone(groups: &[u32], deadline: Instant) -> Vec<u32> {
    loop {
        let members: Vec<u32> = groups.iter().flat_map(|g| group_members(*g)).collect();
        let left = deadline.saturating_duration_since(Instant::now());
        if members.is_empty() || left.is_zero() {
            break;
        }
        // A member gone before its pidfd is opened needs no wait.
        let fds: Vec<_> = members
            .iter()
            .filter_map(|m| pidfd_open(Pid::from_raw(*m as i32)?, PidfdFlags::empty()).ok())
            .collect();
        let mut polled: Vec<PollFd> = fds
            .iter()
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        let timeout = Timespec::try_from(left).ok();
        if !polled.is_empty() {
            // Wakes when any of them ends; the next round looks again.
            let _ = poll(&mut polled, timeout.as_ref());
        }
    }
    groups.iter().copied().filter(|g| group_alive(*g)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_killed_group_is_alive_until_its_grandchildren_are_gone() {
        // sh starts a grandchild (sleep) in its group, as the wrapper does.
        let mut child = covcore::process::process("sh")
            .args(["-c", "sleep 30 & wait"])
            .process_group()
            .spawn()
            .unwrap();
        let pgid = child.id();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(super::group_alive(pgid));
        super::signal(-(pgid as i32), libc::SIGKILL);
        child.wait().unwrap();
        let t0 = std::time::Instant::now();
        let left = super::wait_groups_gone(&[pgid], t0 + std::time::Duration::from_secs(20));
        assert_eq!(left, Vec::<u32>::new());
        assert!(!super::group_alive(pgid));
        assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    }

    use super::*;
    use std::time::Duration;

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
        let mut child = covcore::process::process("true").spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let ended =
            covcore::process::wait_for_children(deadline, || Ok(peek_exit(child.id()).is_some()));
        assert!(ended.unwrap());
        assert_eq!(peek_exit(child.id()), Some(Exit::Code(0)));
        // The owner still gets the real status.
        assert!(child.wait().unwrap().success());
        assert_eq!(peek_exit(child.id()), Some(Exit::Unknown));
    }
}
