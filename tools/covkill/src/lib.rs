//! covkill: stops instrumented Go services through their killswitch and
//! waits until each one's new coverage profile is complete (or, with
//! `--flush`, has each write a complete live snapshot and keep running;
//! with `--reset`, clear its counters), then prints the target, so that
//! `covkill … | covpull --out DIR` pulls exactly those.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use covtarget::ops::Action;
use covtarget::{Killed, Options, Report, Settings, Target};

const AFTER_HELP: &str = "\
With --flush each target's harness writes a complete live snapshot into its cover directory
(covmeta.<hash> and covcounters.<hash>.<pid>.<nanotime>) and answers once it is complete; the
service keeps running. --reset clears the counters. Both need a service built with
`go build -cover -covermode=atomic` (build kind `cover`); the harness refuses any other binary
(HTTP 501), and its message is the target's error. Only the covtools harness is believed: a
port that answers without its Covtools-Harness header fails at once, naming what answered.

Each target stopped, flushed or reset (or found already stopped) is printed on stdout, one per line, in the
canonical form covpull reads. A target that fails (gone, wrong port, timeout) gets a one-line
error on stderr naming it and the cause; the others are still processed, and the exit code is 1.
Exit codes: 0 all stopped, 1 some target failed, 2 bad usage or input.

Examples:
  covkill docker:orders docker:catalog | covpull --out cover/ | covmerge | covtotal
  docker ps --filter label=cover --format 'docker:{{.Names}}' | covkill --timeout 20s
  covkill -c server k8s-selector:shop/app=orders
  covkill local::19001=run/orders/cover
  covkill --flush docker:orders docker:catalog | covpull --out cover/ | covmerge | covtotal";

#[derive(Parser, Debug)]
#[command(
    name = "covkill",
    version,
    about = "Stop instrumented Go services through their killswitch and wait for their complete coverage profiles",
    after_help = format!("{}\n\n{AFTER_HELP}", covtarget::FORMS_HELP),
)]
struct Args {
    /// Targets (see TARGETS below); none or `-`: read them from stdin.
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,
    /// Budget per target: killswitch retries on "connection refused" plus
    /// the wait for the new profile.
    #[arg(short, long, default_value = "30s", value_parser = covtarget::parse_duration)]
    timeout: Duration,
    /// Execs at once (docker exec, kubectl exec, a stopped container's copy).
    /// Running containers of the local Docker engine are asked over HTTP
    /// instead, up to 256 at once (each mostly waits for its service to
    /// start again).
    #[arg(short, long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// Killswitch port inside containers and pods [default: from their $COVKILL_ADDR, else 19999].
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Cover directory inside containers and pods [default: their $COVER_DIR, else /cover].
    #[arg(long, value_name = "DIR")]
    cover_dir: Option<String>,
    /// Container of k8s targets that do not name one [default: the pod's default container].
    #[arg(short, long, value_name = "NAME")]
    container: Option<String>,
    /// Take a complete live snapshot instead of stopping (the service keeps running).
    #[arg(long, conflicts_with = "reset")]
    flush: bool,
    /// Reset the coverage counters instead of stopping.
    #[arg(long)]
    reset: bool,
}

pub fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let opts = Options {
        cover_dir: args.cover_dir,
        port: args.port,
        timeout: args.timeout,
    };
    let settings = Settings {
        args: args.targets,
        default_container: args.container,
        jobs: args.jobs.into(),
        workers: covtarget::drive::WORKERS,
        expand_timeout: args.timeout,
        verb: if args.flush {
            "flushing"
        } else if args.reset {
            "resetting"
        } else {
            "stopping"
        },
    };
    let action = if args.flush {
        Action::Flush
    } else if args.reset {
        Action::Reset
    } else {
        Action::Kill
    };
    covtarget::drive(settings, |target: &Target| {
        let mut report = Report::default();
        match covtarget::ops::ask(target, &opts, action) {
            Ok(killed) => {
                let note = match killed {
                    Killed::Stopped { .. } | Killed::Done => None,
                    Killed::AlreadyStopped => Some(
                        "not running (stopped before covkill); its profiles are kept as they are",
                    ),
                    Killed::Exited => Some(
                        "stopped; the container exited with the service (not restarted), its profiles are kept",
                    ),
                };
                report.notes.extend(note.map(String::from));
                report.lines.push(target.to_string());
            }
            Err(e) => report.errors.push(e),
        }
        report
    })
}
