//! `covtools cover` end to end on the bundled example (what `cargo xtask
//! integration-cover` runs), with the real Go toolchain and the real Docker
//! engine: covjob's `cover::execute` (what the command runs after
//! installing its Ctrl-C handler), with the tools built for these tests
//! (`--tools`, the directory of CARGO_BIN_EXE_covkill).
//!
//! Each test has its own prefix (containers `<prefix>-<service>`, network
//! `<prefix>-net`, images `<prefix>/<service>:latest` on a base image of its
//! own), so the tests run in parallel; each asserts that the run itself left
//! nothing behind, and a Drop guard removes whatever a failing test left.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use covjob::cover;
use covjob::runtime::control::Control;
use covjob::runtime::process::Exit;

use crate::util::cover::*;
use crate::util::services::func_percent;
use crate::util::{require_docker, require_go, Dir};
use covcore::exit_codes::ExitStatus;

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
    let (func, go_total) = cover_func_total(&go, &merged);
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
    let (_, local_go_total) = cover_func_total(&go, &local_merged);
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
    let busybox = covjob::docker_images::static_busybox().unwrap_or_else(|e| panic!("{e:#}"));
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
    assert_eq!(r.code, ExitStatus::Negative, "{r:#?}");
    assert_eq!(r.tests_exit, Some(Exit::Code(1)));
    assert!(r.error.is_none(), "{r:#?}");
    assert!(fs::read_to_string(dir.path("out/tests.log"))
        .unwrap()
        .contains("listed"));
    assert_eq!(r.profiles.values().sum::<usize>(), 3, "{r:#?}");
    let merged = r.merged.clone().unwrap();
    let (func, go_total) = cover_func_total(&go, &merged);
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
    assert_eq!(full.code, ExitStatus::Negative, "{full:#?}");
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
    assert_eq!(same.code, ExitStatus::Success, "{same:#?}");
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
    assert_eq!(fewer.code, ExitStatus::Negative, "{fewer:#?}");
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
    assert_eq!(r.code, ExitStatus::Error, "{r:#?}");
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
    assert_eq!(r.code, ExitStatus::Error, "{r:#?}");
    let err = r.error.clone().unwrap();
    // Seen as soon as it exits (not after the timeout), with its cause on
    // the first line, which the summary's error line shows.
    let first = err.lines().next().unwrap();
    assert!(
        first.contains("service catalog stopped before it was ready (exit status 2: ")
            && first.contains("flag provided but not defined: -no-such-flag"),
        "{err}"
    );
    assert!(cover::summary(&r).contains("flag provided but not defined"));
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
    assert_eq!(r.code, ExitStatus::Interrupted, "{r:#?}");
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
    let me = covjob::runtime::process::run_owner();
    network(&me);
    let r = cover_run(&dir, "live", Some(&scope), &[]);
    assert_eq!(r.code, ExitStatus::Error, "{r:#?}");
    let err = r.error.clone().unwrap();
    let want = format!(
        "prefix {} is in use by another covtools run (pid {} on this host)",
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
    assert_eq!(r.code, ExitStatus::Error, "{r:#?}");
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
        assert_eq!(r.code, ExitStatus::Error, "{args:?}: {r:#?}");
        let summary = cover::summary(&r);
        let err = r.error.unwrap();
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(r.steps.iter().all(|(s, _)| s == "teardown" || s == "all"));
        // No runtime was resolved: the heading says none (not "- runtime").
        assert!(summary.contains("== covtools cover summary\n"), "{summary}");
    }
}

/// The help's examples are whole lines at 80 columns (clap wraps
/// longer ones inside the quoted strings, breaking copy-paste), and it
/// names the placeholders, the brace escape and the Go on the tests' PATH.
#[test]
fn help_examples_survive_an_80_column_terminal() {
    let help = cover::Args::help(80);
    for line in help.lines() {
        assert!(line.chars().count() <= 80, "{line:?} in:\n{help}");
    }
    for want in [
        "  covtools cover --runtime local -- \\\n    sh -c 'curl -fsS $COVTOOLS_URL_GATEWAY/healthz'",
        "{host} and {port}",
        "{{ and }} are literal braces",
        "first on their PATH",
        "the options above",
        "--rm-images",
    ] {
        assert!(help.contains(want), "{want:?} not in:\n{help}");
    }
}

/// The README installs with the lock file's versions.
#[test]
fn readme_installs_with_the_lock_file() {
    let readme = fs::read_to_string(crate::util::project_root().join("README.md")).unwrap();
    assert!(
        readme.contains("    cargo install --locked --path ."),
        "README"
    );
    assert!(!readme.contains("    cargo install --path ."), "README");
}
