//! covpull: copies every complete coverage profile (and Go's binary
//! coverage files) out of containers, pods and directories, validates each
//! profile, and writes it atomically under `--out`, printing each path
//! written, so that `covpull … | covmerge` works.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use covtarget::{Options, Report, Settings, Target};

mod write;

/// Targets read at once. A read over HTTP takes milliseconds and no wait
/// (unlike covkill's, which waits for each service to start again), so a
/// few dozen keep the harnesses and this host busy; each holds a thread
/// and a read buffer, so covpull's memory stops growing there.
const WORKERS: usize = 64;

use write::Writer;

const AFTER_HELP: &str = "\
Each profile is written to DIR/<target>.cover-<n>.out (for example docker_orders.cover-1.out,
k8s_shop_orders-7d9f8-x2x5q_server.cover-2.out), so a target stopped several times keeps one
file per run, and pulling again rewrites the same names. Every path written is printed on
stdout, one per line. A profile that fails validation is reported and not written (an older
good file of that name is left as it was); a target with no complete profile is an error naming
the directory looked in. The others are still written, and the exit code is 1.

Binary coverage (GOCOVERDIR, from `go build -cover` services) is copied into DIR/<target>/:
every covmeta.<hash>, and for each process (meta hash, pid) only its newest
covcounters.<hash>.<pid>.<nanotime> (snapshots are cumulative: older ones of that process are
removed from there, never summed); temporary names are never read. That directory is printed
once. --flush first asks each target's harness for a complete live snapshot, in the same
round trip as the copy (covkill --flush | covpull does the same in two).
Exit codes: 0 all pulled, 1 some target failed, 2 bad usage or input.

Examples:
  covkill docker:orders docker:catalog | covpull --out cover/ | covmerge | covtotal --min 70
  covpull --out cover/ k8s:shop/orders-7d9f8-x2x5q:server
  covpull --out cover/ dir:/tmp/run/orders/cover
  covpull --flush --out cover/ docker:orders docker:catalog";

#[derive(Parser, Debug)]
#[command(
    name = "covpull",
    version,
    about = "Copy complete Go coverage profiles out of containers, pods and directories",
    after_help = format!("{}\n\n{AFTER_HELP}", covtarget::FORMS_HELP),
)]
struct Args {
    /// Targets (see TARGETS below); none or `-`: read them from stdin (what covkill prints).
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,
    /// Directory the profiles are written to (created if missing).
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Budget per target.
    #[arg(short, long, default_value = "60s", value_parser = covtarget::parse_duration)]
    timeout: Duration,
    /// Execs at once (docker exec, kubectl exec, a stopped container's copy).
    /// Running containers of the local Docker engine are read over HTTP
    /// instead, up to 64 at once.
    #[arg(short, long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// Cover directory inside containers and pods [default: their $COVER_DIR, else /cover].
    #[arg(long, value_name = "DIR")]
    cover_dir: Option<String>,
    /// Container of k8s targets that do not name one [default: the pod's default container].
    #[arg(short, long, value_name = "NAME")]
    container: Option<String>,
    /// Ask each target's harness for a complete live snapshot first (same round trip).
    #[arg(long)]
    flush: bool,
    /// Killswitch port inside containers and pods, for --flush [default: from their $COVKILL_ADDR, else 19999].
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..), requires = "flush")]
    port: Option<u16>,
}

pub fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating --out {}", args.out.display()))?;
    let opts = Options {
        cover_dir: args.cover_dir,
        port: args.port,
        timeout: args.timeout,
    };
    let settings = Settings {
        args: args.targets,
        default_container: args.container,
        jobs: args.jobs.into(),
        workers: WORKERS,
        expand_timeout: args.timeout,
        verb: "pulling",
    };
    write::limit();
    let claimed = write::Claimed::default();
    let out = args.out;
    let flush = args.flush;
    covtarget::drive(settings, |target: &Target| {
        let mut report = Report::default();
        let mut writer = Writer::new(target, &out, &claimed);
        match covtarget::ops::fetch_into(target, &opts, flush, &mut writer) {
            Ok(fetched) => writer.finish(&fetched, &mut report),
            Err(e) => report.errors.push(e),
        }
        report
    })
}
