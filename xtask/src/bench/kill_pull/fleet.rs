//! The benchmark's fleets: N containers of one image, started a few at a
//! time, their harness and service addresses, readiness, the two floors
//! (N parallel bare `docker exec … true`, N parallel plain HTTP GETs to
//! the same containers), and removal, also when a step fails.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use covcore::contract;
use covcore::process::process;
use covtarget::docker::{self, State};
use covtarget::http;

const LONG: Duration = Duration::from_secs(120);
/// Containers started at once: `docker run` is mostly the engine's work.
const STARTING: usize = 8;

/// N running containers, removed on drop.
pub struct Fleet {
    pub names: Vec<String>,
    /// Each container's killswitch, `IP:PORT`.
    pub killswitches: Vec<String>,
    /// Each container's service, `IP:PORT`.
    services: Vec<String>,
}

impl Fleet {
    /// Starts `n` containers of `image` named `PREFIX-0…` (any left from an
    /// earlier run removed first) and waits until every one serves.
    pub fn start(prefix: &str, n: usize, image: &str, port: u16) -> anyhow::Result<Fleet> {
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
        remove(&names);
        let mut fleet = Fleet {
            names,
            killswitches: Vec::new(),
            services: Vec::new(),
        };
        let started = covcore::pool::map(&fleet.names, STARTING, |name| {
            // Started again at once after each stop: rounds follow quickly.
            docker::run_ok(
                &[
                    "run",
                    "-d",
                    "--name",
                    name,
                    "-e",
                    "COVER_MIN_UPTIME=0",
                    image,
                ],
                LONG,
            )
            .map(drop)
        });
        started.into_iter().collect::<anyhow::Result<()>>()?;
        for name in &fleet.names {
            let info = docker::inspect(name)?.with_context(|| format!("{name} is gone"))?;
            let ip = docker::addresses(&info)
                .into_iter()
                .next()
                .with_context(|| format!("{name} has no address"))?;
            fleet
                .killswitches
                .push(format!("{ip}:{}", contract::KILLSWITCH_PORT));
            fleet.services.push(format!("{ip}:{port}"));
        }
        fleet.wait_ready()?;
        Ok(fleet)
    }

    pub fn targets(&self) -> Vec<String> {
        self.names.iter().map(|n| format!("docker:{n}")).collect()
    }

    /// Waits until every container's harness lists its directory and its
    /// service answers (any status: a path no handler serves touches no
    /// coverage).
    pub fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let pairs: Vec<(&String, &String)> = self.killswitches.iter().zip(&self.services).collect();
        let ready = covcore::pool::map(&pairs, 32, |(kill, svc)| loop {
            let listed = http::get(kill, contract::LIST_PATH, Duration::from_secs(5))
                .is_ok_and(|r| r.status == 200);
            if listed && http::get(svc, "/ready", Duration::from_secs(5)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{kill} / {svc} not serving within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        });
        ready.into_iter().collect()
    }

    /// N bare `docker exec NAME true` at once, through the CLI: what each
    /// exec costs the engine, the floor of any exec path. Seconds.
    pub fn exec_floor(&self) -> anyhow::Result<f64> {
        let cli = docker::cli()?;
        let t = Instant::now();
        // All at once, as covkill's execs run: started first, then waited.
        let execs: Vec<_> = self
            .names
            .iter()
            .map(|name| {
                let mut exec = process(&cli);
                exec.args(["exec", name, "true"]);
                exec
            })
            .collect();
        let started = execs
            .iter()
            .map(|e| Ok(e.expression().start()?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (e, handle) in execs.iter().zip(started) {
            e.check(handle.wait()?.status, &[])?;
        }
        Ok(t.elapsed().as_secs_f64())
    }

    /// N plain HTTP GETs at once, one per container's killswitch port (a
    /// path the harness does not serve: it answers 404 at once), the
    /// addresses known: the floor of any HTTP path. Seconds.
    pub fn get_floor(&self) -> anyhow::Result<f64> {
        self.gets("/floor", 404)
    }

    /// N GETs of `path` at once, from this process, each answered `status`.
    /// Seconds.
    pub fn gets(&self, path: &str, status: u16) -> anyhow::Result<f64> {
        let t = Instant::now();
        let answers = covcore::pool::each(&self.killswitches, |addr| {
            http::get(addr, path, Duration::from_secs(30))
        });
        let took = t.elapsed().as_secs_f64();
        for a in answers {
            ensure!(a?.status == status, "GET {path} was not answered {status}");
        }
        Ok(took)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        remove(&self.names);
    }
}

/// Removes the containers, looking again until none is left: a `docker rm`
/// of many containers on a loaded engine may run out of time.
fn remove(names: &[String]) {
    for _ in 0..3 {
        let left: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| !matches!(docker::state(n), Ok(State::Removed)))
            .collect();
        if left.is_empty() {
            return;
        }
        for chunk in left.chunks(50) {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(chunk);
            let _ = docker::run(&args, LONG);
        }
    }
    if let Some(first) = names.first() {
        eprintln!("bench: some of {first}… may be left: see docker ps");
    }
}

/// The 1-minute load average.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Checks that `out` holds, for each container, exactly `per` profiles
/// (`docker_<name>.cover-<n>.out`; covpull validated each before writing):
/// none lost, none half-read.
pub fn check_profiles(out: &Path, names: &[String], per: usize) -> anyhow::Result<()> {
    let files: Vec<String> = std::fs::read_dir(out)
        .with_context(|| format!("reading {}", out.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for name in names {
        let prefix = format!("docker_{name}.cover-");
        let have = files.iter().filter(|f| f.starts_with(&prefix)).count();
        ensure!(
            have == per,
            "{}: {have} profiles of {name}, expected {per}",
            out.display()
        );
    }
    Ok(())
}

/// Checks that `out` holds, for each container, its snapshot's directory
/// with the meta-data and one counter file.
pub fn check_snapshots(out: &Path, names: &[String]) -> anyhow::Result<()> {
    for name in names {
        let dir = out.join(format!("docker_{name}"));
        let files: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let count = |p: &str| files.iter().filter(|f| f.starts_with(p)).count();
        ensure!(
            count(contract::COVMETA_PREFIX) == 1 && count(contract::COVCOUNTERS_PREFIX) == 1,
            "{}: {files:?}",
            dir.display()
        );
    }
    Ok(())
}
