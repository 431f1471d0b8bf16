//! `cargo xtask integration-cover` end to end on the bundled example, with
//! the real Go toolchain and the real Docker engine: the xtask's own
//! `cover::execute` (what `cargo xtask integration-cover` runs after
//! installing its Ctrl-C handler), with the tools built for these tests
//! (`--tools`, the directory of CARGO_BIN_EXE_covkill).
//!
//! Each test has its own prefix (containers `<prefix>-<service>`, network
//! `<prefix>-net`, images `<prefix>/<service>:latest` on a base image of its
//! own), so the tests run in parallel; each asserts that the run itself left
//! nothing behind, and a Drop guard removes whatever a failing test left.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use covcore::profile::{self, Mode, Pos, Visitor};
use xtask::cover::{self, Args, Report};
use xtask::progress::Progress;
use xtask::runtime::{Control, Exit};

use crate::util::{bin, require_docker, require_go, Dir};

// ---------------------------------------------------------------------------
// Docker objects of one test, removed when it ends (also when it fails).

struct Scope {
    prefix: String,
}

impl Scope {
    fn new(test: &str) -> Scope {
        Scope {
            prefix: format!("covtools-cover-{test}-{}", std::process::id()),
        }
    }

    fn base_tag(&self) -> String {
        format!("{}-base:local", self.prefix)
    }

    /// `--prefix`, and a local busybox base under this test's own tag.
    fn args(&self) -> Vec<String> {
        vec![
            "--prefix".into(),
            self.prefix.clone(),
            "--base".into(),
            "local".into(),
            "--local-base-tag".into(),
            self.base_tag(),
        ]
    }

    /// Containers and networks of this test that exist now.
    fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (what, args) in [
            ("container", vec!["ps", "-a", "--format", "{{.Names}}"]),
            ("network", vec!["network", "ls", "--format", "{{.Name}}"]),
        ] {
            let out = Command::new("docker").args(&args).output().unwrap();
            assert!(out.status.success(), "docker {args:?} failed");
            for name in String::from_utf8_lossy(&out.stdout).lines() {
                if name.starts_with(&self.prefix) {
                    found.push(format!("{what} {name}"));
                }
            }
        }
        found
    }

    fn assert_nothing_left(&self) {
        let left = self.leftovers();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        for l in self.leftovers() {
            let (what, name) = l.split_once(' ').unwrap();
            let args: Vec<&str> = match what {
                "container" => vec!["rm", "-f", "-v", name],
                _ => vec!["network", "rm", name],
            };
            // Containers first: a network in use cannot be removed.
            let _ = Command::new("docker").args(&args).output();
        }
        let images = Command::new("docker")
            .args([
                "images",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "--filter",
                &format!("reference={}/*", self.prefix),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for image in images.lines().chain([self.base_tag().as_str()]) {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

// ---------------------------------------------------------------------------

/// Runs the task like `cargo xtask integration-cover ARGS…` with the tools
/// under test, outputs in `dir/<out>`, binaries and local cover directories
/// in `dir/work`.
fn cover_run(dir: &Dir, out: &str, scope: Option<&Scope>, args: &[&str]) -> Report {
    cover_run_with(dir, out, scope, args, &Control::new())
}

fn cover_run_with(
    dir: &Dir,
    out: &str,
    scope: Option<&Scope>,
    args: &[&str],
    control: &Control,
) -> Report {
    let tools = bin("covkill").parent().unwrap().to_path_buf();
    let mut argv: Vec<String> = vec![
        "--out".into(),
        dir.path(out).display().to_string(),
        "--work".into(),
        dir.path("work").display().to_string(),
        "--tools".into(),
        tools.display().to_string(),
    ];
    if let Some(s) = scope {
        argv.extend(s.args());
    }
    argv.extend(args.iter().map(|a| a.to_string()));
    let args = Args::parse_from_args(&argv).unwrap_or_else(|e| panic!("{e}"));
    let report = cover::execute(&args, control, &Progress::new(false));
    eprintln!("{report:#?}");
    report
}

/// Every block (file and position) of a profile, covered or not.
fn block_set(profile: &Path) -> BTreeSet<(String, Pos)> {
    struct Collect(BTreeSet<(String, Pos)>);
    impl Visitor for Collect {
        fn mode(&mut self, _: Mode, _: u64) -> anyhow::Result<()> {
            Ok(())
        }
        fn block(&mut self, path: &[u8], pos: Pos, _: u32, _: u32, _: u64) -> anyhow::Result<()> {
            self.0
                .insert((String::from_utf8_lossy(path).into_owned(), pos));
            Ok(())
        }
    }
    let mut c = Collect(BTreeSet::new());
    profile::parse(
        &profile.display().to_string(),
        fs::File::open(profile).unwrap(),
        &mut c,
    )
    .unwrap();
    c.0
}

/// `go tool cover -func` of a profile: (its output, the total it prints).
fn cover_func(go: &Path, profile: &Path) -> (String, String) {
    let out = Command::new(go)
        .current_dir(xtask::example::example_dir())
        .args(["tool", "cover"])
        .arg(format!("-func={}", profile.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go tool cover -func failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let total = text
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .trim_end_matches('%')
        .to_string();
    (text, total)
}

/// The percentage `go tool cover -func` gives one function of a file.
fn func_percent(func_out: &str, file: &str, func: &str) -> f64 {
    for line in func_out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 && f[0].contains(file) && f[1] == func {
            return f[2].trim_end_matches('%').parse().unwrap();
        }
    }
    panic!("no {file} {func} in:\n{func_out}");
}

/// Processes whose command line or environment mentions `needle` (a test's
/// own work directory: the wrapper's COVER_DIR, the test binaries' paths).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        for f in ["cmdline", "environ"] {
            let Ok(bytes) = fs::read(entry.path().join(f)) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if text.contains(needle) {
                let cmd = fs::read(entry.path().join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "pid {pid}: {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
                break;
            }
        }
    }
    found
}

fn assert_ok(r: &Report) {
    assert_eq!(r.code, 0, "{r:#?}");
    assert_eq!(r.tests_exit, Some(Exit::Code(0)));
    assert!(r.error.is_none());
    assert!(r.teardown_problems.is_empty(), "{:?}", r.teardown_problems);
    // One complete profile per service, each pulled and merged.
    let per: Vec<(&str, usize)> = r.profiles.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_eq!(per, [("catalog", 1), ("gateway", 1), ("orders", 1)]);
    // What the command prints: each figure above, the table, where the
    // merged profile is, the steps' durations.
    let summary = cover::summary(r);
    let total = r.total.as_deref().expect("a total");
    let merged = r.merged.as_ref().expect("a merged profile");
    for want in [
        "profiles:  3 (catalog 1, gateway 1, orders 1)".to_string(),
        format!("total:     {total}"),
        format!("merged:    {}", merged.display()),
        "example.com/shop/internal/money".to_string(),
        "collect:".to_string(),
        "teardown".to_string(),
        "result:    ok (exit 0)".to_string(),
    ] {
        assert!(summary.contains(&want), "{want:?} not in:\n{summary}");
    }
}

// ---------------------------------------------------------------------------

/// The main scenario: the full command in Docker, then the same binaries as
/// local processes; both exit 0, clean up, and cover the same blocks.
#[test]
fn docker_and_local_runtimes_give_the_same_blocks_and_leave_nothing() {
    let Some(go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("cover_docker_and_local");
    let scope = Scope::new("main");

    let docker = cover_run(&dir, "docker", Some(&scope), &[]);
    assert_ok(&docker);
    assert_eq!(docker.runtime, "docker");
    scope.assert_nothing_left();
    let merged = docker.merged.clone().unwrap();
    assert_eq!(merged, dir.path("docker/merged.cov"));
    // covtotal --src counts like `go tool cover -func`: the same figure.
    let (func, go_total) = cover_func(&go, &merged);
    assert_eq!(docker.total.as_deref(), Some(go_total.as_str()), "{func}");
    assert!(docker.table.contains("example.com/shop/internal/money"));
    assert!(docker.pipeline.starts_with(&format!(
        "covkill docker:{0}-catalog docker:{0}-orders docker:{0}-gateway | covpull --out ",
        scope.prefix
    )));
    // What the integration tests drive is covered, across services.
    assert!(func_percent(&func, "cmd/orders/main.go", "create") > 70.0);
    assert!(func_percent(&func, "internal/money/money.go", "Discount") > 50.0);
    assert_eq!(
        func_percent(&func, "cmd/orders/main.go", "cancelOrder"),
        0.0
    );
    let c = docker.collect.unwrap();
    eprintln!(
        "docker collection: {:.2}s (covkill {:.2}s, covpull {:.2}s, covmerge {:.2}s, covtotal {:.2}s)",
        c.all.as_secs_f64(),
        c.kill.as_secs_f64(),
        c.pull.as_secs_f64(),
        c.merge.as_secs_f64(),
        c.total.as_secs_f64()
    );
    assert!(c.kill <= c.pull && c.pull <= c.merge && c.merge <= c.all);

    let local = cover_run(&dir, "local", None, &["--runtime", "local"]);
    assert_ok(&local);
    assert_eq!(local.runtime, "local");
    let work = dir.path("work").display().to_string();
    let left = processes_mentioning(&work);
    assert!(left.is_empty(), "processes left behind: {left:#?}");
    let local_merged = local.merged.clone().unwrap();
    assert_eq!(block_set(&local_merged), block_set(&merged));
    let (_, local_go_total) = cover_func(&go, &local_merged);
    assert_eq!(local.total.as_deref(), Some(local_go_total.as_str()));
    // Each service ran once under its wrapper and left one profile.
    for svc in ["catalog", "orders", "gateway"] {
        let cover = dir.path(format!("work/local/{svc}/cover"));
        assert!(cover.join("cover-1.out").is_file(), "{}", cover.display());
    }
}

/// A test command that fails: exit 1, yet the coverage of what it did was
/// collected and reported, and everything is gone.
#[test]
fn a_failing_test_command_still_collects_coverage_and_exits_1() {
    let Some(go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("cover_failing_tests");
    let scope = Scope::new("failing");
    let busybox = xtask::docker_images::static_busybox().unwrap_or_else(|e| panic!("{e:#}"));
    let busybox = busybox.display().to_string();
    // Lists the products through the gateway, then fails.
    let script = format!(
        "{busybox} wget -q -O /dev/null \"$COVTOOLS_URL_GATEWAY/api/products\" && echo listed && exit 1"
    );
    let r = cover_run(
        &dir,
        "out",
        Some(&scope),
        &["--", &busybox, "sh", "-c", &script],
    );
    assert_eq!(r.code, 1, "{r:#?}");
    assert_eq!(r.tests_exit, Some(Exit::Code(1)));
    assert!(r.error.is_none(), "{r:#?}");
    assert!(fs::read_to_string(dir.path("out/tests.log"))
        .unwrap()
        .contains("listed"));
    assert_eq!(r.profiles.values().sum::<usize>(), 3, "{r:#?}");
    let merged = r.merged.clone().unwrap();
    let (func, go_total) = cover_func(&go, &merged);
    assert_eq!(r.total.as_deref(), Some(go_total.as_str()));
    assert!(r.table.contains("total"));
    // The listing the failing command did is in the profile; orders were
    // never placed.
    assert!(
        func_percent(&func, "cmd/catalog/main.go", "list") > 50.0,
        "{func}"
    );
    assert_eq!(func_percent(&func, "cmd/orders/main.go", "create"), 0.0);
    scope.assert_nothing_left();
}

/// Gates: a minimum above the total fails; a run with checks left out
/// fails against the first run as baseline, with old/new/delta. Local
/// runtime: the gates do not depend on where the services ran.
#[test]
fn gates_fail_below_the_minimum_and_on_a_drop_from_the_baseline() {
    if require_go().is_none() {
        return;
    }
    let dir = Dir::new("cover_gates");
    let full = cover_run(&dir, "full", None, &["--runtime", "local", "--min", "99.5"]);
    assert_eq!(full.code, 1, "{full:#?}");
    assert_eq!(full.tests_exit, Some(Exit::Code(0)));
    assert!(full.gate_failed);
    let total = full.total.clone().unwrap();
    assert!(
        full.gate_messages
            .contains(&format!("total {total}% is below the minimum 99.5%")),
        "{}",
        full.gate_messages
    );
    let baseline = full.merged.clone().unwrap();

    // The same tests again pass the gate. (Not necessarily +0.0: how often
    // a readiness probe finds a peer still starting varies between runs.)
    let same = cover_run(
        &dir,
        "same",
        None,
        &[
            "--runtime",
            "local",
            "--baseline",
            &baseline.display().to_string(),
            "--max-drop",
            "3",
        ],
    );
    assert_eq!(same.code, 0, "{same:#?}");
    assert!(
        same.gate_messages
            .contains(&format!("baseline {total}% -> now "))
            && same.gate_messages.contains("): ok"),
        "{}",
        same.gate_messages
    );

    let fewer = cover_run(
        &dir,
        "fewer",
        None,
        &[
            "--runtime",
            "local",
            "--baseline",
            &baseline.display().to_string(),
            "--max-drop",
            "0.5",
            "--test-arg=-skip",
            "--test-arg=beyond stock|unknown order|coupon|read back|stock went down",
        ],
    );
    assert_eq!(fewer.code, 1, "{fewer:#?}");
    assert_eq!(
        fewer.tests_exit,
        Some(Exit::Code(0)),
        "the checks that ran passed"
    );
    assert!(fewer.gate_failed);
    let now = fewer.total.clone().unwrap();
    let (old, new): (f64, f64) = (total.parse().unwrap(), now.parse().unwrap());
    assert!(new < old - 0.5, "{old} -> {new}");
    let msg = format!(
        "baseline {total}% -> now {now}% (delta {:+.1}): dropped by more than the allowed 0.5",
        new - old
    );
    assert!(
        fewer.gate_messages.contains(&msg),
        "{}\nwant: {msg}",
        fewer.gate_messages
    );
    let left = processes_mentioning(&dir.path("work").display().to_string());
    assert!(left.is_empty(), "processes left behind: {left:#?}");
}

/// A readiness path the service never answers: an error naming the service,
/// the probe and its last answer, with the container's log tail; exit 2;
/// torn down.
#[test]
fn a_service_that_never_becomes_ready_is_an_error_with_its_log_tail() {
    if require_go().is_none() || !require_docker() {
        return;
    }
    let dir = Dir::new("cover_never_ready");
    let scope = Scope::new("unready");
    // Long enough for the service to answer at all on a loaded machine, so
    // that its last answer is the 404.
    let r = cover_run(
        &dir,
        "out",
        Some(&scope),
        &["--ready", "orders=/nope", "--ready-timeout", "15s"],
    );
    assert_eq!(r.code, 2, "{r:#?}");
    assert_eq!(r.tests_exit, None, "the tests must not run");
    let err = r.error.clone().unwrap();
    assert!(
        err.contains("service orders was not ready after 15s")
            && err.contains("/nope: answered 404"),
        "{err}"
    );
    // The tail of the container's own log: the wrapper starting the service.
    assert!(err.contains("cover-wrapper: run 1"), "{err}");
    assert!(r.merged.is_none());
    scope.assert_nothing_left();
}

/// A local service that dies at once (a flag it does not know): the
/// wrapper's backoff keeps it down; the error carries the Go flag message
/// from its log, and no process is left.
#[test]
fn a_local_service_that_cannot_start_shows_why_and_leaves_no_process() {
    if require_go().is_none() {
        return;
    }
    let dir = Dir::new("cover_local_bad_flag");
    let r = cover_run(
        &dir,
        "out",
        None,
        &[
            "--runtime",
            "local",
            "--set",
            r#"service.catalog.args=["-addr", "{addr}", "-no-such-flag"]"#,
            "--ready-timeout",
            "4s",
        ],
    );
    assert_eq!(r.code, 2, "{r:#?}");
    let err = r.error.clone().unwrap();
    assert!(err.contains("service catalog was not ready"), "{err}");
    assert!(
        err.contains("flag provided but not defined: -no-such-flag"),
        "{err}"
    );
    let left = processes_mentioning(&dir.path("work").display().to_string());
    assert!(left.is_empty(), "processes left behind: {left:#?}");
}

/// Ctrl-C while the tests run (the first Ctrl-C's effect, through the same
/// `Control` the signal handler drives): the tests are stopped, everything
/// is torn down, exit 130.
#[test]
fn an_interrupt_during_the_tests_tears_everything_down() {
    if require_go().is_none() || !require_docker() {
        return;
    }
    let dir = Dir::new("cover_interrupt");
    let scope = Scope::new("interrupt");
    let marker = dir.path("tests-started");
    let control = Control::new();
    let watcher = {
        let (control, marker) = (control.clone(), marker.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !marker.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            control.interrupt();
            Instant::now()
        })
    };
    let script = format!("touch {} && exec sleep 600", marker.display());
    let r = cover_run_with(
        &dir,
        "out",
        Some(&scope),
        &["--", "sh", "-c", &script],
        &control,
    );
    let interrupted = watcher.join().unwrap();
    assert!(marker.exists(), "the tests never started: {r:#?}");
    assert_eq!(r.code, 130, "{r:#?}");
    // Timed from the interrupt, not from the start (a cold build takes
    // minutes): the 600 s sleep was stopped, not waited for.
    assert!(
        interrupted.elapsed() < Duration::from_secs(60),
        "the sleep was not stopped"
    );
    assert!(r.merged.is_none());
    scope.assert_nothing_left();
    let left = processes_mentioning(&marker.display().to_string());
    assert!(left.is_empty(), "{left:#?}");
}

/// Two runs with one prefix on one Docker host: the second refuses (exit 2)
/// and touches nothing of the first; what a run that has ended left behind
/// is removed and the run goes on; a name taken between the check and the
/// creation is an error, and teardown leaves what has it alone.
#[test]
fn a_prefix_in_use_by_a_live_run_is_refused_and_an_ended_runs_leftovers_are_removed() {
    if require_go().is_none() || !require_docker() {
        return;
    }
    let dir = Dir::new("cover_prefix_owner");
    let scope = Scope::new("owner");
    let net = format!("{}-net", scope.prefix);
    let network = |owner: &str| {
        let out = Command::new("docker")
            .args(["network", "create", "--label"])
            .arg(format!("covtools.run={}", scope.prefix))
            .arg("--label")
            .arg(format!("{}={owner}", cover::OWNER_LABEL))
            .arg(&net)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    let exists = || {
        Command::new("docker")
            .args(["network", "inspect", &net])
            .output()
            .unwrap()
            .status
            .success()
    };
    // This test process stands for a run still going.
    let me = xtask::runtime::run_owner();
    network(&me);
    let r = cover_run(&dir, "live", Some(&scope), &[]);
    assert_eq!(r.code, 2, "{r:#?}");
    let err = r.error.clone().unwrap();
    let want = format!(
        "prefix {} is in use by another integration-cover run (pid {} on this host)",
        scope.prefix,
        std::process::id()
    );
    assert!(err.contains(&want), "{err}");
    assert!(exists(), "the live run's network was removed");

    // The same network, left by a run that has ended (its pid now belongs
    // to a process started at another time).
    assert!(Command::new("docker")
        .args(["network", "rm", &net])
        .status()
        .unwrap()
        .success());
    let (rest, start) = me.rsplit_once('/').unwrap();
    network(&format!("{rest}/{}", start.parse::<u64>().unwrap() + 1));
    let r = cover_run(&dir, "ended", Some(&scope), &[]);
    assert_ok(&r);
    scope.assert_nothing_left();

    // A network of that name that appears after the check (unlabelled
    // here, so the check does not see it): not ours, so not torn down.
    let out = Command::new("docker")
        .args(["network", "create", &net])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r = cover_run(&dir, "raced", Some(&scope), &[]);
    assert_eq!(r.code, 2, "{r:#?}");
    let err = r.error.clone().unwrap();
    assert!(err.contains(&format!("{net} exists")), "{err}");
    assert!(r.teardown_problems.is_empty(), "{:?}", r.teardown_problems);
    assert!(exists(), "teardown removed a network it had not created");
}

/// Settings are checked before anything runs: an unknown key, a service
/// that does not exist, a bad value; each names what is wrong, exit 2.
#[test]
fn bad_settings_are_errors_naming_the_key() {
    let dir = Dir::new("cover_bad_settings");
    for (args, want) in [
        (vec!["--set", "gates.mn=3"], "unknown field `mn`"),
        (vec!["--ready", "nope=/x"], "no service \"nope\""),
        (vec!["--ready", "orders=healthz"], "expected /PATH"),
        (vec!["--min", "130"], "gates.min = 130"),
        (vec!["--set", "run.runtime=podman"], "run.runtime"),
        (vec!["--prefix", "Bad Name"], "--prefix"),
    ] {
        let r = cover_run(&dir, "out", None, &args);
        assert_eq!(r.code, 2, "{args:?}: {r:#?}");
        let err = r.error.unwrap();
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(r.steps.iter().all(|(s, _)| s == "teardown" || s == "all"));
    }
}
