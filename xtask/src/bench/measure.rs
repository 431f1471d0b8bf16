//! Timing a child process: wall time and peak RSS through `xtask
//! measure-child`, and the median of several runs.

use std::fs;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use covcore::process::process;

use crate::flags;

pub struct Measure {
    pub wall: Duration,
    /// Peak resident set size of the child, MiB.
    pub rss_mib: f64,
}

/// Runs `cmd` through `xtask measure-child`, a small fresh process, because
/// a child's peak RSS (ru_maxrss) starts from the RSS of the process that
/// spawned it: measured from this process, which generated and checked the
/// data, even `wc -l` would look like it used 100 MiB.
pub fn measure(cmd: &[&std::ffi::OsStr]) -> anyhow::Result<Measure> {
    let text = process(std::env::current_exe()?)
        .arg("measure-child")
        .arg("--")
        .args(cmd)
        .stdin_null()
        .read()?;
    let mut f = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(ns)), Some(Ok(kib))) = (f.next(), f.next()) else {
        bail!("measure-child printed {text:?}")
    };
    Ok(Measure {
        wall: Duration::from_nanos(ns),
        rss_mib: kib as f64 / 1024.0,
    })
}

/// `xtask measure-child -- CMD…` (used by the bench): runs CMD with stdout
/// discarded and prints its wall time in ns and its peak RSS in KiB, from
/// wait4's rusage of the child.
pub fn measure_child(args: flags::MeasureChild) -> anyhow::Result<ExitCode> {
    // Make this process's own peak RSS the baseline the child inherits as
    // small as it can be (Linux: "5" resets the high-water mark).
    let _ = fs::write("/proc/self/clear_refs", "5");
    let mut cmd = process(&args.command[0]);
    cmd.args(&args.command[1..]).stdout_null().stdin_null();
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: pid is our child, not yet waited for (Child is never waited).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = start.elapsed();
    ensure!(r == pid, "wait4: {}", std::io::Error::last_os_error());
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "`{cmd}` failed (wait status {status})"
    );
    // ru_maxrss is in KiB on Linux.
    println!("{} {}", wall.as_nanos(), usage.ru_maxrss);
    Ok(ExitCode::SUCCESS)
}

/// The median and fastest wall time (s) and the largest peak RSS (MiB).
pub fn summarize(runs: &[Measure]) -> (f64, f64, f64) {
    let mut t = runs
        .iter()
        .map(|r| r.wall.as_secs_f64())
        .collect::<Vec<_>>();
    t.sort_by(f64::total_cmp);
    let n = t.len();
    let median = if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2.0
    };
    (
        median,
        t[0],
        runs.iter().map(|r| r.rss_mib).fold(0.0, f64::max),
    )
}
