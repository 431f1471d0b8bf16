//! The run loop covkill and covpull share: targets from the arguments and
//! then stdin (streamed, so `covkill … | covpull …` overlaps), label
//! selectors and Swarm services expanded, duplicates dropped, workers
//! started as targets arrive (up to [`Settings::workers`]; execs within
//! them bounded by `--jobs`, see [`crate::exec::limit`]), data lines on
//! stdout as soon as they are known, one-line errors and an optional
//! progress bar on stderr, and the exit code.

use std::collections::HashSet;
use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use anyhow::bail;
use covcore::cli;
use covcore::exit_codes::ExitStatus;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ops;
use crate::target::Target;

/// What one target's work produced.
#[derive(Debug, Default)]
pub struct Report {
    /// Data for stdout, one line each.
    pub lines: Vec<String>,
    /// Remarks for stderr that are not failures.
    pub notes: Vec<String>,
    /// Failures; any makes the run exit 1.
    pub errors: Vec<anyhow::Error>,
}

/// The most targets covkill works on at once. A target reached over HTTP
/// mostly waits (for its service to stop and start again), so a fleet is
/// stopped all at once rather than a few at a time; execs stay within
/// `jobs`.
pub const WORKERS: usize = 256;

/// How to run.
pub struct Settings {
    /// The target arguments; empty or `-` means stdin.
    pub args: Vec<String>,
    /// The container for pod and selector targets that name none.
    pub default_container: Option<String>,
    /// Execs at once (docker exec, kubectl exec, a stopped container's
    /// copy).
    pub jobs: usize,
    /// Targets worked on at once (at least `jobs`), each on a thread of
    /// its own started as targets arrive.
    pub workers: usize,
    /// Bound on one `kubectl get pods` selector expansion.
    pub expand_timeout: Duration,
    /// Shown on the progress bar ("stopping", "pulling").
    pub verb: &'static str,
}

enum Event {
    Queued,
    Done(Target, Report),
    /// A target (or selector) that failed before any work.
    Failed(String, anyhow::Error),
    /// A remark on a target as it was expanded.
    Note(String, String),
    /// A malformed stdin line: bad input, exit 2.
    BadInput(anyhow::Error),
}

/// Runs `work` on every target, `settings.jobs` at a time.
pub fn drive(
    settings: Settings,
    work: impl Fn(&Target) -> Report + Sync,
) -> anyhow::Result<ExitCode> {
    let dc = settings.default_container.as_deref();
    // Bad arguments stop everything before any target is touched.
    let mut from_args = Vec::new();
    let mut use_stdin = settings.args.is_empty();
    for arg in &settings.args {
        if arg == "-" {
            use_stdin = true;
        } else {
            from_args.push(Target::parse(arg, dc)?);
        }
    }
    if use_stdin && io::stdin().is_terminal() {
        bail!("no targets: give them as arguments or on stdin, one per line (see --help)");
    }

    let bar = if io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {pos}/{len} targets {wide_msg}")
                .expect("valid template"),
        );
        bar.set_prefix(settings.verb);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    } else {
        ProgressBar::hidden()
    };
    let prog = cli::prog_name();
    crate::exec::limit(settings.jobs);
    let (job_tx, job_rx) = mpsc::channel::<Target>();
    let job_rx = Mutex::new(job_rx);
    let (ev_tx, ev_rx) = mpsc::channel::<Event>();
    let (mut failed, mut bad_input, mut queued, mut write_err) = (false, false, 0usize, None);
    let max_workers = settings.workers.max(settings.jobs);

    std::thread::scope(|s| {
        let feeder_tx = ev_tx.clone();
        let expand_timeout = settings.expand_timeout;
        let (job_rx, work) = (&job_rx, &work);
        let worker_tx = ev_tx.clone();
        // One worker per target queued, up to the bound: a fleet's targets
        // all start at once, and a lone target costs one thread.
        let spawn_worker = move || {
            let ev = worker_tx.clone();
            s.spawn(move || loop {
                let next = job_rx.lock().expect("no worker panics holding it").recv();
                let Ok(target) = next else { return };
                let report = work(&target);
                if ev.send(Event::Done(target, report)).is_err() {
                    return;
                }
            });
        };
        s.spawn(move || {
            let ev = feeder_tx;
            let mut seen = HashSet::new();
            let mut workers = 0usize;
            let mut queue = |target: Target| {
                let expanded = match ops::expand(&target, expand_timeout) {
                    Ok(t) => t,
                    Err(e) => return ev.send(Event::Failed(target.to_string(), e)).is_ok(),
                };
                for note in expanded.notes {
                    let _ = ev.send(Event::Note(target.to_string(), note));
                }
                for e in expanded.errors {
                    let _ = ev.send(Event::Failed(target.to_string(), e));
                }
                for t in expanded.targets {
                    if seen.insert(t.clone()) {
                        let _ = ev.send(Event::Queued);
                        if job_tx.send(t).is_err() {
                            return false;
                        }
                        if workers < max_workers {
                            spawn_worker();
                            workers += 1;
                        }
                    }
                }
                true
            };
            for t in from_args {
                if !queue(t) {
                    return;
                }
            }
            if !use_stdin {
                return;
            }
            for (i, line) in io::stdin().lock().lines().enumerate() {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ev.send(Event::BadInput(
                            anyhow::Error::new(e).context("reading <stdin>"),
                        ));
                        return;
                    }
                };
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                match Target::parse(line, dc) {
                    Ok(t) => {
                        if !queue(t) {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = ev.send(Event::BadInput(e.context(format!("<stdin>:{}", i + 1))));
                    }
                }
            }
        });
        drop(ev_tx);

        let stdout = io::stdout();
        let say = |msg: String| bar.suspend(|| eprintln!("{prog}: {msg}"));
        for event in ev_rx {
            match event {
                Event::Queued => {
                    queued += 1;
                    bar.inc_length(1);
                }
                Event::Done(target, report) => {
                    if write_err.is_none() {
                        let mut out = stdout.lock();
                        let res = report
                            .lines
                            .iter()
                            .try_for_each(|l| writeln!(out, "{l}"))
                            .and_then(|()| out.flush());
                        if let Err(e) = res {
                            write_err = Some(e);
                        }
                    }
                    for note in report.notes {
                        say(format!("{target}: {note}"));
                    }
                    for err in &report.errors {
                        failed = true;
                        say(format!("{target}: {}", cli::one_line(err)));
                    }
                    bar.set_message(target.to_string());
                    bar.inc(1);
                }
                Event::Failed(target, err) => {
                    failed = true;
                    say(format!("{target}: {}", cli::one_line(&err)));
                }
                Event::Note(target, note) => say(format!("{target}: {note}")),
                Event::BadInput(err) => {
                    bad_input = true;
                    say(cli::one_line(&err));
                }
            }
        }
    });
    bar.finish_and_clear();
    if let Some(e) = write_err {
        // A reader that went away is no error of ours (a quiet exit), but
        // targets that failed must still say so in the exit code.
        if e.kind() == std::io::ErrorKind::BrokenPipe && (failed || bad_input) {
            return Ok(if bad_input {
                ExitStatus::Error
            } else {
                ExitStatus::Negative
            }
            .into());
        }
        return Err(anyhow::Error::new(e).context("writing to stdout"));
    }
    if queued == 0 && !failed && !bad_input {
        bail!("no targets: stdin held none (blank lines and #comments only)");
    }
    Ok(if bad_input {
        ExitStatus::Error
    } else {
        ExitStatus::negative_unless(!failed)
    }
    .into())
}
