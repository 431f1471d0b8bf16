//! Bad input and faults of the compose runtime, each with the real engine
//! and the real Compose CLI: exit 2, the cause on one line, nothing of the
//! run left in `docker ps -a`, `docker network ls` or `docker volume ls`.
//! The faulty dependencies run on the local busybox base image.

use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::time::Duration;

use crate::util::compose_run::{error_line, Stack};

/// kvstore's service as its compose file has it, beside a dependency
/// `redis` defined by `redis` (YAML under the service's key) on the
/// test's busybox base.
fn compose_with_dep(stack: &Stack, condition: &str, redis: &str) -> String {
    format!(
        "services:\n  kvstore:\n    build: .\n    image: kvstore:dev\n    environment:\n      PORT: \"8080\"\n      REDIS_ADDR: redis:6379\n    ports:\n      - \"${{KVSTORE_PORT:-8080}}:8080\"\n    depends_on:\n      redis:\n        condition: {condition}\n  redis:\n    image: {base}\n{redis}",
        base = stack.scope.base_tag()
    )
}

/// Checks that fail before anything is built or started.
fn refused(test: &str, setup: impl FnOnce(&Stack)) -> Option<(Stack, String)> {
    let stack = Stack::new(test, "kvstore", false)?;
    setup(&stack);
    let r = stack.run("out", &[]);
    let line = error_line(&r);
    assert!(r.compose.is_none(), "started: {:?}", r.compose);
    assert!(
        !r.steps.iter().any(|(s, _)| s == "build"),
        "built before the check: {:?}",
        r.steps
    );
    stack.assert_nothing_left(&r);
    Some((stack, line))
}

#[test]
fn no_compose_file_is_an_error_naming_the_names_looked_for() {
    let Some((stack, line)) = refused("nofile", |s| {
        std::fs::remove_file(s.module.join("compose.yaml")).unwrap();
    }) else {
        return;
    };
    assert_eq!(
        line,
        format!(
            "no compose file in {} (looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml): add one, or name yours with [run] compose_file (--compose-file FILE)",
            stack.module.display()
        )
    );
}

#[test]
fn a_service_the_compose_file_lacks_is_an_error_listing_its_services() {
    let Some((_, line)) = refused("noservice", |s| {
        let toml = std::fs::read_to_string(s.module.join("covtools.toml")).unwrap();
        s.write("covtools.toml", &toml.replace("kvstore", "api"));
    }) else {
        return;
    };
    assert!(
        line.starts_with("[[service]] \"api\" is not a service of compose.yaml (its services: ")
            && line.contains("kvstore")
            && line.contains("redis"),
        "{line}"
    );
}

#[test]
fn a_file_compose_rejects_is_an_error_with_composes_own_message() {
    let Some((_, line)) = refused("rejected", |s| {
        let yaml = std::fs::read_to_string(s.module.join("compose.yaml")).unwrap();
        s.write(
            "compose.yaml",
            &yaml.replace(
                "    ports:\n      - \"${KVSTORE_PORT:-8080}:8080\"\n",
                "    ports: 8080\n",
            ),
        );
    }) else {
        return;
    };
    assert!(
        line.starts_with("compose.yaml: docker-compose rejects it: ")
            && line.contains("services.kvstore.ports contains an invalid type"),
        "{line}"
    );
}

#[test]
fn a_service_run_through_a_shell_is_an_error_saying_what_is_missing() {
    let Some((_, line)) = refused("shell", |s| {
        let yaml = std::fs::read_to_string(s.module.join("compose.yaml")).unwrap();
        s.write(
            "compose.yaml",
            &yaml.replace(
                "    image: kvstore:dev\n",
                "    image: kvstore:dev\n    command: [\"sh\", \"-c\", \"exec /kvstore\"]\n",
            ),
        );
    }) else {
        return;
    };
    assert!(
        line.starts_with("service kvstore in compose.yaml: has no way to run the instrumented binary: its command \"sh -c exec /kvstore\" starts a shell")
            && line.contains("command: [ARGS…]"),
        "{line}"
    );
}

/// No Compose CLI on PATH (Docker alone): the error names both.
#[test]
fn no_compose_cli_is_an_error_naming_both() {
    let Some(stack) = Stack::new("nocli", "kvstore", false) else {
        return;
    };
    let bin = stack.dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    symlink(which::which("docker").unwrap(), bin.join("docker")).unwrap();
    let out = stack.command(&[]).env("PATH", &bin).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    let error: Vec<&str> = stdout.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        error,
        ["error:     no Compose CLI: neither the Docker plugin `docker compose` nor `docker-compose` is installed (install one: Docker's compose plugin, or Debian's docker-compose package)"],
        "{stdout}"
    );
}

/// Faults once the stack runs: each stops the run, names the dependency
/// and leaves nothing.
fn fault(stack: &Stack, out: &str, args: &[&str]) -> (String, covjob::cover::Report) {
    let r = stack.run(out, args);
    let line = error_line(&r);
    assert!(r.compose.is_some(), "never started: {r:#?}");
    assert!(r.teardown_problems.is_empty(), "{:?}", r.teardown_problems);
    stack.assert_nothing_left(&r);
    (line, r)
}

#[test]
fn a_dependency_that_exits_stops_the_run_with_its_log() {
    let Some(stack) = Stack::new("depexits", "kvstore", false) else {
        return;
    };
    stack.write(
        "compose.yaml",
        &compose_with_dep(
            &stack,
            "service_started",
            "    command: [\"sh\", \"-c\", \"echo 'fatal: no config here' >&2; exit 3\"]\n",
        ),
    );
    let (line, r) = fault(&stack, "out", &[]);
    assert!(
        line.starts_with("dependency redis exited with code 3 (nothing waits for it to complete"),
        "{line}"
    );
    let error = r.error.unwrap();
    assert!(error.contains("  | fatal: no config here"), "{error}");
}

#[test]
fn a_dependency_that_never_gets_healthy_stops_the_run_in_bounded_time() {
    let Some(stack) = Stack::new("depunhealthy", "kvstore", false) else {
        return;
    };
    // Its check fails for ever without turning it unhealthy: Compose would
    // wait; the run stops at run.ready_timeout.
    let check = |retries: u32| {
        format!(
            "    command: [\"sh\", \"-c\", \"echo starting up; exec sleep 600\"]\n    healthcheck:\n      test: [\"CMD\", \"sh\", \"-c\", \"echo not ready yet; exit 1\"]\n      interval: 1s\n      retries: {retries}\n"
        )
    };
    stack.write(
        "compose.yaml",
        &compose_with_dep(&stack, "service_healthy", &check(100_000)),
    );
    let (line, r) = fault(&stack, "starting", &["--ready-timeout", "6s"]);
    assert!(
        line.starts_with(
            // Its last check's output too, when one has run yet (a loaded
            // machine may not have run one in 6 s).
            "dependency redis was not ready after 6s (health: starting"
        ),
        "{line}"
    );
    assert!(r.error.unwrap().contains("  | starting up"));
    let start = r.steps.iter().find(|(s, _)| s == "start").unwrap().1;
    assert!(start < Duration::from_secs(20), "start took {start:?}");

    // Unhealthy after its retries: at once, whatever the timeout.
    stack.write(
        "compose.yaml",
        &compose_with_dep(&stack, "service_healthy", &check(1)),
    );
    let (line, _) = fault(&stack, "unhealthy", &[]);
    assert!(
        line.starts_with(
            "dependency redis is unhealthy (health: unhealthy; last check exited 1: not ready yet)"
        ),
        "{line}"
    );
}

#[test]
fn a_host_port_already_taken_is_an_error_naming_it() {
    let Some(stack) = Stack::new("porttaken", "kvstore", false) else {
        return;
    };
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    stack.write(".env", &format!("KVSTORE_PORT={addr}\n"));
    stack.write(
        "compose.yaml",
        &compose_with_dep(
            &stack,
            "service_started",
            "    command: [\"sleep\", \"600\"]\n",
        ),
    );
    let (line, _) = fault(&stack, "out", &[]);
    assert!(
        line.starts_with(&format!(
            "compose up failed (exit 1): host port {addr} is already taken, by another program or container"
        )),
        "{line}"
    );
    drop(taken);
}

/// SIGTERM in the middle of the tests (a CI job cancelled): exit 143, and
/// `down -v --remove-orphans` leaves nothing, the volumes the suite saw
/// mounted included.
#[test]
fn sigterm_mid_run_tears_the_stack_down() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let Some(stack) = Stack::new("sigterm", "kvstore", true) else {
        return;
    };
    let seen = stack.dir.path("volumes.txt");
    // In a file: a test command's braces are covtools placeholders.
    let script = stack.dir.create(
        "suite.sh",
        format!(
            "docker ps -q --filter label=com.docker.compose.project=$COVTOOLS_COMPOSE_PROJECT \
             | xargs docker inspect --format '{{{{range .Mounts}}}}{{{{.Name}}}} {{{{end}}}}' > {}\n\
             echo suite-started\nexec sleep 120\n",
            seen.display()
        ),
    );
    let script = script.display().to_string();
    let mut child = stack
        .command(&["--progress", "plain", "--", "sh", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its stderr read to the end (a closed pipe would fail its writes),
    // the start of the suite reported on a channel.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut said = String::new();
        for line in stderr.lines() {
            let line = line.unwrap();
            if line.contains("suite-started") {
                let _ = tx.send(());
            }
            said.push_str(&line);
            said.push('\n');
        }
        said
    });
    if rx.recv_timeout(Duration::from_secs(600)).is_err() {
        let _ = child.kill();
        panic!("the suite never started:\n{}", reader.join().unwrap());
    }
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let said = reader.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // SIGTERM ends a run as a shell reports it: 128 + 15.
    assert_eq!(out.status.code(), Some(143), "{stdout}\n{said}");
    assert!(
        stdout.contains("result:    terminated (exit 143)"),
        "{stdout}"
    );
    let volumes = std::fs::read_to_string(&seen).unwrap();
    let volumes: Vec<String> = volumes.split_whitespace().map(String::from).collect();
    assert!(!volumes.is_empty(), "the suite saw no volumes");
    let report = covjob::cover::Report {
        compose_volumes: volumes,
        ..Default::default()
    };
    stack.assert_nothing_left(&report);
}
