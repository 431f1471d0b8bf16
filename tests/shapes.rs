//! `covtools cover` on real modules' shapes: each example
//! module under tests/modules/<shape> is a small stdlib-only Go service with
//! its own go.mod, covtools.toml and `go test` client suite (./e2e), run in
//! both runtimes and checked against a native `go build -cover` run of the
//! same module driven the same way (same block set, same covered set).
//! Each test's comment says what its shape exercises.

use std::fs;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use covjob::cover::{self, Report};

use crate::util::cover::{cover_run, processes_mentioning, Scope};
use crate::util::shapes::*;
use crate::util::{copy_tree, require_docker, require_go, Dir};
use covcore::exit_codes::ExitStatus;

fn assert_ok(r: &Report) {
    assert_eq!(r.code, ExitStatus::Success, "{r:#?}");
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.teardown_problems.is_empty(), "{:?}", r.teardown_problems);
}

/// The shape in Docker (`docker_args`) and as local processes
/// (`local_args`), each run's figure checked against the native run; then
/// `more` gets the directory and both reports.
fn both_runtimes_match_native(
    shape: &str,
    docker_args: &[&str],
    local_args: &[&str],
    more: impl FnOnce(&Dir, &Scope, &Report, &Report),
) {
    let Some(go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new(&format!("shape_{shape}"));
    let scope = Scope::new(shape);
    let native = native_blocks(&go, &dir, shape);
    let docker = cover_shape(&dir, shape, "docker", Some(&scope), docker_args);
    assert_ok(&docker);
    assert_same_as_native(&docker, &native);
    scope.assert_nothing_left();
    let local = cover_shape(&dir, shape, "local", None, local_args);
    assert_ok(&local);
    assert_same_as_native(&local, &native);
    let left = processes_mentioning(&dir.path("work").display().to_string());
    assert!(left.is_empty(), "processes left behind: {left:#?}");
    more(&dir, &scope, &docker, &local);
}

fn step(r: &Report, name: &str) -> Duration {
    r.steps
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} step in {:?}", r.steps))
        .1
}

/// The images a prefix has.
fn images_of(prefix: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .args(["--filter", &format!("reference={prefix}/*")])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `-port {port}`, a bare port, in both runtimes; the tests' configured
/// PATH lacks Go, and covtools puts its own Go first on it;
/// `--rm-images` removes the run's images (kept otherwise).
#[test]
fn a_bare_port_flag_works_in_both_runtimes_and_the_tests_find_go() {
    let no_go = r#"tests.env={ SERVICE_URL = "{url:portflag}", PATH = "/usr/bin:/bin" }"#;
    both_runtimes_match_native(
        "portflag",
        &["--set", no_go, "--rm-images"],
        &["--set", no_go],
        |_, scope, docker, _| {
            assert!(images_of(&scope.prefix).is_empty(), "--rm-images");
            assert!(
                cover::summary(docker).contains("images:    removed (--rm-images)"),
                "{docker:#?}"
            );
        },
    );
}

/// `PORT = "{port}"` in the environment, and a shell test
/// command with `${{…}}` (literal braces) beside a placeholder.
#[test]
fn a_port_from_the_environment_works_and_shell_braces_are_escaped() {
    let shell =
        r#"tests.command=["sh", "-c", "go test -count=1 ./e2e && echo port=${{SERVICE_URL##*:}}"]"#;
    both_runtimes_match_native("portenv", &["--set", shell], &[], |dir, scope, _, _| {
        let log = fs::read_to_string(dir.path("docker/tests.log")).unwrap();
        let port = log
            .lines()
            .find_map(|l| l.strip_prefix("port="))
            .unwrap_or_else(|| panic!("no port= line in:\n{log}"));
        assert!(port.parse::<u16>().is_ok(), "{log}");
        // Without --rm-images the run's images stay (the next run reuses
        // their layers); the summary says so.
        assert!(!images_of(&scope.prefix).is_empty());
    });
}

/// A service with no signal handling at all: teardown after the collection
/// is quick, restarts nothing and reports no failure. And the default
/// output directory is the module's own `.covtools/`, ignored by git.
#[test]
fn a_service_without_signal_handling_is_torn_down_at_once() {
    both_runtimes_match_native("nosigterm", &[], &[], |dir, _, _, local| {
        let teardown = step(local, "teardown");
        assert!(teardown < Duration::from_secs(1), "{teardown:?}");
        // Default --out: <module>/.covtools, in a copy of the module.
        let copy = dir.path("nosigterm");
        copy_tree(&module("nosigterm"), &copy);
        let module = copy.display().to_string();
        let r = cover_run(dir, "", None, &["--module", &module, "--runtime", "local"]);
        assert_ok(&r);
        assert_eq!(
            r.merged.as_deref(),
            Some(copy.join(".covtools/merged.cov").as_path())
        );
        assert_eq!(
            std::fs::read_to_string(copy.join(".covtools/.gitignore")).unwrap(),
            "# Written by covtools: its results, not sources.\n*\n"
        );
        assert!(step(&r, "teardown") < Duration::from_secs(1));
    });
}

/// A service reading config/greeting.txt relative to its working directory
/// (`workdir`), in both runtimes.
#[test]
fn a_service_reading_files_relative_to_its_workdir_runs_in_both_runtimes() {
    both_runtimes_match_native("configfile", &[], &[], |dir, _, _, _| {
        let log = fs::read_to_string(dir.path("local/tests.log")).unwrap();
        assert!(log.contains("ok"), "{log}");
    });
}

/// A module whose go.mod says `go 1.17` (the harness under
/// old language versions is helper live's).
#[test]
fn a_module_pinned_to_go_1_17_is_measured() {
    both_runtimes_match_native("gomod117", &[], &[], |_, _, _, _| {});
}

/// log.Fatal on a failed listen; a taken port shows its cause on
/// the summary's error line at once; port clashes are caught before
/// anything starts, naming both sides.
#[test]
fn log_fatal_at_start_is_reported_with_its_cause_and_clashes_are_caught_early() {
    both_runtimes_match_native("logfatal", &[], &[], |dir, _, _, _| {
        let module = module("logfatal").display().to_string();
        // A port some other program holds: the service dies at start.
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let args = format!(r#"service.logfatal.args=["-addr", "127.0.0.1:{port}"]"#);
        let port_key = format!("service.logfatal.port={port}");
        let t = Instant::now();
        let r = cover_run(
            dir,
            "taken",
            None,
            &[
                "--module",
                &module,
                "--runtime",
                "local",
                "--set",
                &args,
                "--set",
                &port_key,
            ],
        );
        assert_eq!(r.code, ExitStatus::Error, "{r:#?}");
        assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
        let summary = cover::summary(&r);
        let error_line = summary.lines().find(|l| l.starts_with("error:")).unwrap();
        assert!(
            error_line.contains("stopped before it was ready")
                && error_line.contains("address already in use"),
            "{summary}"
        );
        drop(holder);

        // The killswitch port, in Docker: refused before anything starts.
        let r = cover_run(
            dir,
            "killswitch",
            None,
            &["--module", &module, "--set", "service.logfatal.port=19999"],
        );
        assert_eq!(r.code, ExitStatus::Error);
        let err = r.error.clone().unwrap();
        assert!(
            err.contains("service logfatal port 19999 is the killswitch port"),
            "{err}"
        );
        assert!(r.steps.iter().all(|(n, _)| n != "start"), "{:?}", r.steps);

        // Two services on one fixed port in the local runtime.
        let config = dir.create(
            "two.toml",
            "[[service]]\nname = \"a\"\npackage = \".\"\nport = 8080\n\n\
             [[service]]\nname = \"b\"\npackage = \".\"\nport = 8080\n\n\
             [tests]\ncommand = [\"true\"]\n",
        );
        let config = config.display().to_string();
        let r = cover_run(
            dir,
            "two",
            None,
            &[
                "--module",
                &module,
                "--config",
                &config,
                "--runtime",
                "local",
            ],
        );
        assert_eq!(r.code, ExitStatus::Error);
        let err = r.error.clone().unwrap();
        assert!(
            err.contains("services a and b both listen on port 8080"),
            "{err}"
        );
    });
}

/// A service bound to localhost only. In a container nothing else
/// can reach it: an error saying exactly that, long before the readiness
/// timeout. As a local process it is fine, and so is a test program run
/// in its own container (`tests.run_in = "service:NAME"`); both match the
/// native run.
#[test]
fn a_service_bound_to_localhost_is_named_in_docker_and_measured_locally() {
    let Some(go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("shape_localhost");
    let scope = Scope::new("localhost");
    for ready in ["/healthz", "port"] {
        let t = Instant::now();
        let ready = format!("localhost={ready}");
        let r = cover_shape(
            &dir,
            "localhost",
            "docker",
            Some(&scope),
            &["--ready", &ready],
        );
        assert_eq!(r.code, ExitStatus::Error, "{r:#?}");
        assert!(t.elapsed() < Duration::from_secs(45), "{:?}", t.elapsed());
        assert_eq!(r.tests_exit, None, "the tests must not run");
        let err = r.error.clone().unwrap();
        let first = err.lines().next().unwrap();
        assert!(
            first
                .contains("service localhost listens on 127.0.0.1:8080 only, inside its container")
                && first.contains("0.0.0.0:8080"),
            "{err}"
        );
        scope.assert_nothing_left();
    }
    let native = native_blocks(&go, &dir, "localhost");
    let local = cover_shape(&dir, "localhost", "local", None, &[]);
    assert_ok(&local);
    assert_same_as_native(&local, &native);
    // Or a test program inside the service's own container, where its
    // loopback listener is reachable: the same requests, the same blocks.
    let inside = cover_run(
        &dir,
        "inside",
        Some(&scope),
        &[
            "--module",
            &module("localhost").display().to_string(),
            "--test-package",
            "./cmd/e2e",
            "--tests-in",
            "service:localhost",
        ],
    );
    assert_ok(&inside);
    assert_same_as_native(&inside, &native);
    scope.assert_nothing_left();
}

/// One of two builds fails: counted right, and the summary's
/// error line carries the compiler's message.
#[test]
fn a_failed_build_is_counted_right_with_its_cause_on_the_error_line() {
    if require_go().is_none() {
        return;
    }
    let dir = Dir::new("shape_broken_build");
    let src = dir.path("module");
    fs::create_dir_all(&src).unwrap();
    for f in ["go.mod", "main.go"] {
        fs::copy(module("portflag").join(f), src.join(f)).unwrap();
    }
    dir.create(
        "module/broken/main.go",
        "package main\n\nfunc main() {\n\tnope()\n}\n",
    );
    dir.create(
        "module/covtools.toml",
        "[build]\ncover_packages = \"example.com/portflag\"\n\n\
         [[service]]\nname = \"portflag\"\npackage = \".\"\nport = 8080\nargs = [\"-port\", \"{port}\"]\n\n\
         [[service]]\nname = \"broken\"\npackage = \"./broken\"\nport = 8081\n\n\
         [tests]\ncommand = [\"true\"]\n",
    );
    let module = src.display().to_string();
    let r = cover_run(
        &dir,
        "out",
        None,
        &["--module", &module, "--runtime", "local"],
    );
    assert_eq!(r.code, ExitStatus::Error, "{r:#?}");
    let summary = cover::summary(&r);
    let error_line = summary.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(
        error_line.contains("1 of 2 builds failed: building broken (./broken) failed")
            && error_line.contains("undefined: nope"),
        "{summary}"
    );
}
