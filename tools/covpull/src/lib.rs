//! covpull: copies every complete coverage profile (and Go's binary
//! coverage files) out of containers, pods and directories, validates each
//! profile, and writes it atomically under `--out`, printing each path
//! written, so that `covpull … | covmerge` works.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Parser;
use covcore::output::AtomicFile;
use covtarget::ops::{binary_kind, BinaryFile, BinaryKind};
use covtarget::{Fetched, Options, Report, Settings, Target};

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
    /// Targets pulled at once.
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
        expand_timeout: args.timeout,
        verb: "pulling",
    };
    // Two targets must never write the same file (a sanitised local path
    // could collide): the first keeps the name, the second fails.
    let claimed: Mutex<HashMap<PathBuf, String>> = Mutex::new(HashMap::new());
    let out = args.out;
    let flush = args.flush;
    covtarget::drive(settings, |target: &Target| {
        let mut report = Report::default();
        let fetched = match flush {
            true => covtarget::ops::fetch_snapshot(target, &opts),
            false => covtarget::ops::fetch(target, &opts),
        };
        match fetched {
            Ok(fetched) => write_all(target, fetched, &out, &claimed, &mut report),
            Err(e) => report.errors.push(e),
        }
        report
    })
}

fn write_all(
    target: &Target,
    fetched: Fetched,
    out: &Path,
    claimed: &Mutex<HashMap<PathBuf, String>>,
    report: &mut Report,
) {
    let dir = &fetched.dir;
    if !fetched.dir_exists {
        report.errors.push(anyhow!(
            "no profile: the cover directory {dir} does not exist"
        ));
        return;
    }
    for (name, why) in &fetched.unreadable {
        report
            .errors
            .push(anyhow!("{dir}/{name}: cannot read: {why}"));
    }
    if fetched.profiles.is_empty() && fetched.unreadable.is_empty() && fetched.binaries.is_empty() {
        let others = match fetched.skipped.len() {
            0 => "it is empty".to_string(),
            _ => format!("it holds only {}", fetched.skipped.join(", ")),
        };
        report.errors.push(anyhow!(
            "no complete profile (cover-<n>.out) or binary coverage (covmeta.*, covcounters.*) in {dir}: {others}"
        ));
        return;
    }
    let stem = target.file_stem();
    for profile in &fetched.profiles {
        let source = format!("{}/{}", dir.trim_end_matches('/'), profile.name);
        if let Err(e) = covcore::profile::validate(&source, &profile.data[..]) {
            report.errors.push(e.context("not written"));
            continue;
        }
        let dest = out.join(format!("{stem}.{}", profile.name));
        {
            let mut claimed = claimed.lock().expect("no panics while held");
            match claimed.get(&dest) {
                Some(owner) if *owner != target.to_string() => {
                    report.errors.push(anyhow!(
                        "{source}: not written: {} is already written for {owner}",
                        dest.display()
                    ));
                    continue;
                }
                _ => {
                    claimed.insert(dest.clone(), target.to_string());
                }
            }
        }
        match write_atomically(&dest, &profile.data) {
            Ok(()) => report.lines.push(dest.display().to_string()),
            Err(e) => report
                .errors
                .push(e.context(format!("{source}: not written"))),
        }
    }
    if !fetched.binaries.is_empty() {
        let dest = out.join(&stem);
        let claim = {
            let mut claimed = claimed.lock().expect("no panics while held");
            match claimed.get(&dest) {
                Some(owner) if *owner != target.to_string() => Err(anyhow!(
                    "{dir}: binary coverage not written: {} is already written for {owner}",
                    dest.display()
                )),
                _ => {
                    claimed.insert(dest.clone(), target.to_string());
                    Ok(())
                }
            }
        };
        match claim.and_then(|()| write_binaries(&dest, &fetched.binaries)) {
            Ok(()) => report.lines.push(dest.display().to_string()),
            Err(e) => report
                .errors
                .push(e.context(format!("{dir}: binary coverage not written"))),
        }
    }
}

/// Writes binary coverage files into `dir`, each atomically, keeping per
/// (meta hash, pid) only the newest counter file there: an older snapshot
/// of a process is removed once its newer one is in place (never both).
fn write_binaries(dir: &Path, files: &[BinaryFile]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let present: Vec<(String, BinaryKind)> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            binary_kind(&name).map(|k| (name, k))
        })
        .collect();
    for file in files {
        let mut older = Vec::new();
        if let BinaryKind::Counters {
            hash,
            pid,
            nanotime,
        } = &file.kind
        {
            let mut newer_there = false;
            for (name, kind) in &present {
                if let BinaryKind::Counters {
                    hash: h,
                    pid: p,
                    nanotime: n,
                } = kind
                {
                    if h == hash && p == pid && n != nanotime {
                        match n < nanotime {
                            true => older.push(name),
                            false => newer_there = true,
                        }
                    }
                }
            }
            if newer_there {
                continue;
            }
        }
        write_atomically(&dir.join(&file.name), &file.data)?;
        for name in older {
            let path = dir.join(name);
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

fn write_atomically(dest: &Path, data: &[u8]) -> anyhow::Result<()> {
    let mut file = AtomicFile::create(dest)?;
    file.write_all(data)
        .with_context(|| format!("writing {}", dest.display()))?;
    file.commit()
}
