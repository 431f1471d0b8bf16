//! Docker Swarm: `swarm:SERVICE` targets for covkill and covpull, and the
//! whole job with `runtime = "swarm"` on the engine of this host, made a
//! single-node swarm for the test (and returned to normal when the test
//! made it one). The services are real Swarm services of the hits example
//! (tests/modules/hits), whose /hit handler runs once per request, so the
//! merged counts can be checked against the requests sent.

use covcore::exit_codes::ExitStatus;
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use covjob::runtime::process::Exit;

use crate::util::cover::cover_run_with;
use crate::util::registry::Registry;
use crate::util::services::{docker, docker_ok, example, wait_until, DockerScope};
use crate::util::swarm::{line_count, published, replicas, state, SwarmMode, SwarmScope};
use crate::util::{bin, project_root, require_docker, require_go, Dir};
use covjob::runtime::control::Control;

fn hits_module() -> PathBuf {
    project_root().join("tests/modules/hits")
}

/// The line of the hits service's /hit handler body.
fn hit_line() -> u32 {
    let text = fs::read_to_string(hits_module().join("main.go")).unwrap();
    let i = text
        .lines()
        .position(|l| l.contains("os.Hostname()"))
        .expect("the /hit handler");
    i as u32 + 1
}

/// GET /hit on one replica; its answer is the replica's host name.
fn hit(addr: &str) -> String {
    let r = covtarget::http::get(addr, "/hit", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("GET http://{addr}/hit: {e}"));
    assert_eq!(r.status, 200, "{}", r.describe());
    r.text().trim().to_string()
}

fn healthy(addr: &str) -> bool {
    covtarget::http::get(addr, "/healthz", Duration::from_secs(2)).is_ok_and(|r| r.status == 200)
}

#[test]
fn swarm_targets_expand_to_every_running_task_and_say_swarm_init_when_off() {
    let Some(ex) = example() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("swarm_targets_expand_to_every_running_task_and_say_swarm_init_when_off");
    let scope = SwarmScope::new("swarm_targets");

    // Out of Swarm mode: both the target and the runtime say what to do.
    match SwarmMode::off() {
        Some(_off) => {
            let (_, err) = dir.tool("covkill").arg("swarm:anything").expect_code(1);
            assert!(err.contains("`docker swarm init`"), "{err}");
            let hits = hits_module().display().to_string();
            let r = cover_run_with(
                &dir,
                "out",
                Some(&scope.scope),
                &["--module", &hits],
                &Control::new(),
            );
            assert_eq!(r.code, ExitStatus::Error, "{r:#?}");
            let e = r.error.as_deref().unwrap_or_default();
            assert!(
                e.contains("runtime swarm") && e.contains("`docker swarm init`"),
                "{e}"
            );
            scope.assert_nothing_left();
        }
        None => eprintln!("the engine is in a swarm this test did not make: not leaving it"),
    }

    let swarm = SwarmMode::on();
    let images = DockerScope::new("swarm-targets");
    let image = &images.service_images(ex, &dir, &["catalog"])["catalog"];
    let up = format!("{}-up", scope.prefix());
    let pending = format!("{}-pending", scope.prefix());
    for (name, extra) in [
        (&up, vec!["--replicas", "2"]),
        // No node carries this label: its task waits.
        (
            &pending,
            vec!["--constraint", "node.labels.covtools-none==1"],
        ),
    ] {
        let mut args = vec!["service", "create", "--detach", "--no-resolve-image"];
        args.extend(["--name", name]);
        args.extend(extra);
        args.push(image);
        docker_ok(&args);
    }
    wait_until("2 running tasks", Duration::from_secs(60), || {
        replicas(&up).len() == 2
    });
    let tasks: Vec<String> = replicas(&up).into_iter().map(|(_, c)| c).collect();
    let missing = format!("{}-missing", scope.prefix());
    let (out, err) = dir
        .tool("covkill")
        .args([
            format!("swarm:{up}"),
            format!("swarm:{pending}"),
            format!("swarm:{missing}"),
        ])
        .expect_code(1);
    // Each running task once, as the container covpull reads.
    let mut stopped: Vec<&str> = out.lines().collect();
    stopped.sort();
    let want: Vec<String> = tasks.iter().map(|c| format!("docker:{c}")).collect();
    assert_eq!(stopped, want, "{err}");
    assert!(
        err.contains(&format!(
            "swarm:{pending}: task {pending}.1 is not running (Pending"
        )) && err.contains(&format!("swarm:{pending}: no running task")),
        "{err}"
    );
    assert!(
        err.contains(&format!("swarm:{missing}: no Swarm service \"{missing}\"")),
        "{err}"
    );
    let pulled = dir.path("pulled");
    let listing = dir
        .tool("covpull")
        .arg("--out")
        .arg(&pulled)
        .stdin(out)
        .stdout();
    assert_eq!(listing.lines().count(), 2, "{listing}");
    for c in &tasks {
        assert!(
            pulled.join(format!("docker_{c}.cover-1.out")).is_file(),
            "{c}: {listing}"
        );
    }
    drop(images);
    drop(scope);
    let made = swarm.made();
    drop(swarm);
    if made {
        assert_eq!(state(), "inactive");
    }
}

/// Touches a file when dropped: the job's test command waits for it, so a
/// failing scenario still lets the job collect and tear down.
struct Release(PathBuf);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = fs::write(&self.0, "");
    }
}

/// The tests command of a swarm job that waits while this test drives the
/// replicas from outside: it marks `<root>/started` and waits for
/// `<root>/done`, written when `drive` returns (or panics).
const WAIT_FOR_DONE: &str = "touch \"$0/started\"; i=0; while [ ! -e \"$0/done\" ] && [ $i -lt 3000 ]; do sleep 0.2; i=$((i+1)); done";

/// Runs the job with `args` (whose tests are [`WAIT_FOR_DONE`] on
/// `dir.root`) and `drive` once its tests have started; the job's report.
fn while_the_tests_wait(
    dir: &Dir,
    scope: &SwarmScope,
    args: &[&str],
    drive: impl FnOnce(),
) -> covjob::cover::Report {
    let (started, done) = (dir.path("started"), dir.path("done"));
    std::thread::scope(|s| {
        let job = s.spawn(|| cover_run_with(dir, "out", Some(&scope.scope), args, &Control::new()));
        let release = Release(done);
        let deadline = Instant::now() + Duration::from_secs(600);
        while !started.exists() {
            assert!(!job.is_finished(), "the job ended before its tests started");
            assert!(Instant::now() < deadline, "the tests never started");
            std::thread::sleep(Duration::from_millis(100));
        }
        drive();
        drop(release);
        job.join().unwrap()
    })
}

#[test]
fn swarm_replicas_are_measured_together_and_a_replaced_one_keeps_its_coverage() {
    if require_go().is_none() || !require_docker() {
        return;
    }
    let dir =
        Dir::new("swarm_replicas_are_measured_together_and_a_replaced_one_keeps_its_coverage");
    let Some(registry) = Registry::start(&dir.path("registry"), "127.0.0.1", false) else {
        return;
    };
    let swarm = SwarmMode::on();
    let scope = SwarmScope::new("swarm_job");
    let service = format!("{}-hits", scope.prefix());
    // A slot volume that an earlier run under this prefix left (killed
    // hard: its owner is gone), with a profile in it: the run removes it
    // before a task could mount it and have it collected.
    let stale = format!("{service}-cover-2");
    let base = scope.scope.base_tag();
    covjob::docker_images::build_base_image(&base).unwrap();
    docker_ok(&[
        "volume",
        "create",
        "--label",
        &format!("covtools.run={}", scope.prefix()),
        "--label",
        "covtools.owner=gone/1/1",
        &stale,
    ]);
    let line = hit_line();
    let profile = format!("mode: count\nexample.com/hits/main.go:{line}.2,{line}.30 1 1000\n");
    docker_ok(&[
        "run",
        "--rm",
        "--mount",
        &format!("source={stale},target=/cover"),
        &base,
        "sh",
        "-c",
        &format!("printf '{profile}' > /cover/cover-1.out"),
    ]);
    let hits = hits_module().display().to_string();
    let push = format!("{}/covtools-swarm", registry.addr);
    let root = dir.root.display().to_string();
    // --rm-images: the pushed tags go too (the registry keeps the image).
    let args = [
        "--module",
        &hits,
        "--push",
        &push,
        "--rm-images",
        "--",
        "sh",
        "-c",
        WAIT_FOR_DONE,
        &root,
    ];
    let mut sent = Sent::default();
    let report = while_the_tests_wait(&dir, &scope, &args, || {
        scenario(&service, scope.prefix(), &push, &mut sent)
    });

    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    assert_eq!(report.tests_exit, Some(Exit::Code(0)));
    assert!(
        report.teardown_problems.is_empty(),
        "{:?}",
        report.teardown_problems
    );
    assert_eq!(report.pushed.len(), 1, "{:?}", report.pushed);
    assert!(report.pushed[0].starts_with(&format!("{push}/hits:")));
    assert!(report.images_removed);
    assert!(!docker(&["image", "inspect", &report.pushed[0]])
        .status
        .success());
    // Three replicas stopped at collection, and the killed one's profile
    // from its slot's volume.
    let per: BTreeMap<&str, usize> = report
        .profiles
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(per, BTreeMap::from([("hits", 4)]));

    // The merged count is every request a replica served and kept: all but
    // those the killed one got after its last stop (and nothing of the
    // stale volume's).
    let merged = report.merged.as_ref().unwrap();
    assert_eq!(
        line_count(merged, "hits/main.go", line),
        sent.kept(),
        "{sent:?}\n{}",
        fs::read_to_string(merged).unwrap()
    );
    // Per replica: what each was sent directly (the requests on the network
    // went to any of them).
    let profiles = dir.path("out/profiles");
    let count = |name: &str| line_count(&profiles.join(name), "hits/main.go", line);
    let stem = |c: &str| format!("docker_{c}");
    let first = count(&format!("{}.cover-1.out", stem(&sent.replicas[0])));
    let third = count(&format!("{}.cover-1.out", stem(&sent.replicas[2])));
    // The replacement's volume holds the killed task's profile (written at
    // its stop, numbered 1) and its own (2).
    let killed = count(&format!("{}.cover-1.out", stem(&sent.replacement)));
    let own = count(&format!("{}.cover-2.out", stem(&sent.replacement)));
    assert_eq!(killed, sent.before_stop, "{sent:?}");
    assert!(
        first >= sent.direct[0] && third >= sent.direct[2],
        "{sent:?}"
    );
    assert!(own >= sent.to_replacement, "{sent:?}");
    assert_eq!(
        first + third + own,
        sent.direct[0] + sent.direct[2] + sent.to_replacement + sent.on_network,
        "{sent:?}"
    );

    nothing_left(scope, swarm);
}

/// Nothing of the run is left, and the node is out of Swarm mode again
/// when this test made it a manager.
fn nothing_left(scope: SwarmScope, swarm: SwarmMode) {
    scope.assert_nothing_left();
    drop(scope);
    let made = swarm.made();
    drop(swarm);
    if made {
        assert_eq!(state(), "inactive", "the test's swarm was not left");
    }
}

/// What the scenario sent where.
#[derive(Debug, Default)]
struct Sent {
    /// The task containers of slots 1 to 3 at the start.
    replicas: Vec<String>,
    /// Requests sent to each of them directly.
    direct: Vec<u64>,
    /// Of slot 2's: before its killswitch stop (kept), after it (lost).
    before_stop: u64,
    after_stop: u64,
    /// Slot 2's replacement, and the requests it got directly.
    replacement: String,
    to_replacement: u64,
    /// Requests from a container on the run's network, by service name.
    on_network: u64,
}

impl Sent {
    fn kept(&self) -> u64 {
        self.direct.iter().sum::<u64>() - self.after_stop + self.to_replacement + self.on_network
    }
}

/// Requests to every replica; slot 2 stopped by its killswitch (its
/// profile lands in its slot's volume, the wrapper restarts it), sent
/// more, then killed (those are lost) and replaced by Swarm; requests to
/// the replacement and, by name, from a container on the run's network.
fn scenario(service: &str, prefix: &str, registry: &str, sent: &mut Sent) {
    let tasks = replicas(service);
    assert_eq!(
        tasks.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [1, 2, 3],
        "{tasks:?}"
    );
    for (_, c) in &tasks {
        // Run from the pushed reference.
        let image = docker_ok(&["inspect", "--format", "{{.Config.Image}}", c]);
        assert!(image.starts_with(registry), "{c} runs {image}");
        sent.replicas.push(c.clone());
    }
    let addrs: Vec<String> = sent.replicas.iter().map(|c| published(c, 8080)).collect();
    let hostname = |c: &str| docker_ok(&["inspect", "--format", "{{.Config.Hostname}}", c]);
    for (i, addr) in addrs.iter().enumerate() {
        let n = 3 + i as u64;
        for _ in 0..n {
            assert_eq!(hit(addr), hostname(&sent.replicas[i]).trim());
        }
        sent.direct.push(n);
    }
    let victim = sent.replicas[1].clone();
    sent.before_stop = sent.direct[1];

    // The killswitch: slot 2 writes its profile (into the volume) and the
    // wrapper starts it again, in the same container.
    let out = std::process::Command::new(bin("covkill"))
        .arg(format!("docker:{victim}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "slot 2 back after its stop",
        Duration::from_secs(30),
        || healthy(&addrs[1]),
    );
    sent.after_stop = 4;
    for _ in 0..sent.after_stop {
        hit(&addrs[1]);
    }
    sent.direct[1] += sent.after_stop;

    // Killed: Swarm replaces the task; the new one mounts slot 2's volume.
    docker_ok(&["kill", &victim]);
    let mut replacement = None;
    wait_until("Swarm to replace slot 2", Duration::from_secs(90), || {
        replacement = replicas(service)
            .into_iter()
            .find(|(s, c)| *s == 2 && *c != victim)
            .map(|(_, c)| c);
        replacement.is_some()
    });
    sent.replacement = replacement.unwrap();
    let addr = published(&sent.replacement, 8080);
    wait_until(
        "the replacement to be ready",
        Duration::from_secs(60),
        || healthy(&addr),
    );
    sent.to_replacement = 2;
    for _ in 0..sent.to_replacement {
        assert_eq!(hit(&addr), hostname(&sent.replacement).trim());
    }

    // On the run's (attachable) network, by the service's name: DNS round
    // robin over the replicas. A request that finds no replica is retried.
    // (Busybox's own `wget -T` crashes in a static build: `timeout` bounds it.)
    sent.on_network = 3;
    let client = "for i in 1 2 3; do n=0; until timeout 10 wget -q -O- http://hits:8080/hit; do \
                  n=$((n+1)); [ $n -ge 5 ] && exit 1; sleep 1; done; done";
    let answers = docker_ok(&[
        "run",
        "--rm",
        "--name",
        &format!("{prefix}-client"),
        "--network",
        &format!("{prefix}-net"),
        &format!("{prefix}-base:local"),
        "sh",
        "-c",
        client,
    ]);
    assert_eq!(answers.lines().count(), 3, "{answers}");
}

/// The cover kind on Swarm: Go names its counter files by process id, and
/// a task's replacement starts its processes at the same ids on the same
/// slot volume. The replaced task's counters (from its killswitch stop and
/// its last live snapshot) must stay in the total beside the replacement's.
#[test]
fn swarm_cover_kind_keeps_a_replaced_replicas_counters_from_its_last_snapshot() {
    if require_go().is_none() || !require_docker() {
        return;
    }
    let dir = Dir::new("swarm_cover_kind_keeps_a_replaced_replicas_counters");
    let swarm = SwarmMode::on();
    let scope = SwarmScope::new("swarm_cover");
    let service = format!("{}-hits", scope.prefix());
    let hits = hits_module().display().to_string();
    let root = dir.root.display().to_string();
    let args = [
        "--module",
        &hits,
        "--set",
        "build.kind=cover",
        "--",
        "sh",
        "-c",
        WAIT_FOR_DONE,
        &root,
    ];
    let line = hit_line();
    let mut kept = 0u64;
    let report = while_the_tests_wait(&dir, &scope, &args, || {
        let tasks = replicas(&service);
        assert_eq!(tasks.len(), 3, "{tasks:?}");
        let addrs: Vec<String> = tasks.iter().map(|(_, c)| published(c, 8080)).collect();
        for (i, addr) in addrs.iter().enumerate() {
            for _ in 0..2 + i {
                hit(addr);
            }
            kept += 2 + i as u64;
        }
        let victim = tasks[1].1.clone();
        // Stopped by its killswitch: Go writes the process's counters and
        // the wrapper starts a new process in the same container.
        dir.tool("covkill").arg(format!("docker:{victim}")).stdout();
        wait_until(
            "slot 2 back after its stop",
            Duration::from_secs(30),
            || healthy(&addrs[1]),
        );
        // A live snapshot after more requests keeps them too; the last
        // ones, after it, die with the container.
        for _ in 0..4 {
            hit(&addrs[1]);
        }
        kept += 4;
        let snap = dir.path("snapshot");
        dir.tool("covpull")
            .args(["--flush", "--out"])
            .arg(&snap)
            .arg(format!("docker:{victim}"))
            .stdout();
        for _ in 0..3 {
            hit(&addrs[1]);
        }
        docker_ok(&["kill", &victim]);
        let mut replacement = None;
        wait_until("Swarm to replace slot 2", Duration::from_secs(90), || {
            replacement = replicas(&service)
                .into_iter()
                .find(|(s, c)| *s == 2 && *c != victim)
                .map(|(_, c)| c);
            replacement.is_some()
        });
        let addr = published(&replacement.unwrap(), 8080);
        wait_until(
            "the replacement to be ready",
            Duration::from_secs(60),
            || healthy(&addr),
        );
        for _ in 0..5 {
            hit(&addr);
        }
        kept += 5;
    });

    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    assert!(
        report.teardown_problems.is_empty(),
        "{:?}",
        report.teardown_problems
    );
    let merged = report.merged.as_ref().unwrap();
    assert_eq!(
        line_count(merged, "hits/main.go", line),
        kept,
        "{}",
        fs::read_to_string(merged).unwrap()
    );
    nothing_left(scope, swarm);
}

#[test]
fn swarm_refuses_phases_and_per_test_coverage_and_replicas_elsewhere_before_anything_is_built() {
    let dir = Dir::new("swarm_refusals");
    let hits = hits_module().display().to_string();
    let phased = dir.create(
        "phased/covtools.toml",
        fs::read_to_string(hits_module().join("covtools.toml"))
            .unwrap()
            .replace("[tests]", "[[tests]]\nname = \"one\"")
            + "\n[build]\nkind = \"cover\"\n",
    );
    let phased = phased.display().to_string();
    for (args, expect) in [
        (
            vec!["--module", &hits, "--per-test"],
            "run.runtime = \"swarm\" takes no [[tests]] phases or per-test coverage",
        ),
        (
            vec!["--module", &hits, "--config", &phased],
            "run.runtime = \"swarm\" takes no [[tests]] phases or per-test coverage",
        ),
        (
            vec!["--module", &hits, "--runtime", "docker"],
            "service hits: replicas = 3 needs run.runtime = \"swarm\" or \"compose\"",
        ),
    ] {
        let report = cover_run_with(&dir, "out", None, &args, &Control::new());
        assert_eq!(report.code, ExitStatus::Error, "{args:?}");
        let err = report.error.clone().unwrap();
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(
            report.steps.iter().all(|(s, _)| s != "build"),
            "{:?}",
            report.steps
        );
    }
}
