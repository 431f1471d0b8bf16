//! covkill and covpull on the real Docker engine with a real Go coverage
//! binary: tests/fixtures/killpull/svc (a tiny service) built with the
//! project's harness (tools/harness): test kind (`go test -c`), and for
//! live snapshots (kill_pull/snapshot.rs) cover kind by covjob's own
//! build code; in an image made by covjob's own code (docker/Dockerfile.template,
//! docker/cover-wrapper.sh as entrypoint)
//! on a local FROM-scratch base with Debian's static busybox
//! (docker/busybox-base.Dockerfile); the Kubernetes path through a `kubectl`
//! stand-in that forwards to `docker exec`; and local processes under the
//! same wrapper.
//!
//! Every container and image a test creates is removed by a Drop guard,
//! also when the test fails. The helpers are in tests/util/kill_pull.rs.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::kill_pull::*;
use crate::util::*;

mod faults;
mod fleet;
mod kubernetes;
mod local;
mod snapshot;

#[test]
fn kill_pull_several_containers_then_merge_and_total() {
    let dir = Dir::new("kill_pull_several_containers_then_merge_and_total");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "several");
    let cs: Vec<Container> = (0..3)
        .map(|i| Container::run(&image, unique("several", &format!("c{i}")), &[]))
        .collect();
    cs[0].get("/hello");
    assert_eq!(cs[1].get("/add?a=2&b=3").trim(), "5");
    // cs[2] serves nothing: its profile has no handler hit.
    let targets: Vec<String> = cs.iter().map(Container::target).collect();
    let mut kill: Vec<&str> = targets.iter().map(String::as_str).collect();
    kill.extend(["--timeout", "20s"]);
    let (k, p) = kill_pipe_pull(&dir, &kill, &["--out", "profiles"], &[]);
    assert_code(&k, 0, "covkill");
    assert_code(&p, 0, "covpull");
    assert_eq!(
        text(&k.stderr),
        "",
        "covkill says nothing on success when stderr is not a terminal"
    );
    let paths = pulled(&dir, b, &p.stdout);
    let names: Vec<String> = paths.iter().map(|p| file_name(p)).collect();
    let mut want: Vec<String> = cs
        .iter()
        .map(|c| format!("docker_{}.cover-1.out", c.0))
        .collect();
    want.sort();
    assert_eq!(names, want);
    // Each container's own profile holds its own traffic only.
    assert_eq!(count_at(b, &paths[0], "fmt.Fprintln(w, \"hello\")"), 1);
    assert_eq!(count_at(b, &paths[1], "fmt.Fprintln(w, \"hello\")"), 0);
    assert_eq!(count_at(b, &paths[1], "return a + b"), 1);
    assert_eq!(count_at(b, &paths[2], "return a + b"), 0);

    // The merge combines them: covpull's stdout feeds covmerge, then covtotal.
    let merged = dir.path("merged.cov");
    dir.tool("covmerge")
        .args(["-o", merged.to_str().unwrap()])
        .stdin(p.stdout.clone())
        .stdout();
    let func = go_func(b, &merged);
    assert_eq!(func_cover(&func, "hello"), "100.0%");
    assert_eq!(func_cover(&func, "sum"), "100.0%");
    assert_eq!(func_cover(&func, "neverCalled"), "0.0%");
    let total = dir
        .tool("covtotal")
        .args(["--src", b.module.to_str().unwrap()])
        .stdin(p.stdout.clone())
        .stdout();
    let go_total = func_cover(&func, "total");
    assert!(
        total.contains(&go_total),
        "covtotal says {total:?}, go tool cover -func says {go_total}"
    );

    // Every container was restarted by its wrapper and serves again.
    for c in &cs {
        c.wait_ready();
    }
}

#[test]
fn container_stopped_with_sigterm_before_covkill_still_yields_its_profile() {
    let dir = Dir::new("container_stopped_with_sigterm_before_covkill_still_yields_its_profile");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "sigterm");
    let c = Container::run(&image, unique("sigterm", "c"), &[]);
    let other = Container::run(&image, unique("sigterm", "other"), &[]);
    c.get("/hello");
    let t = Instant::now();
    docker_ok(&["stop", "-t", "20", &c.0]);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the wrapper forwards SIGTERM: no 20 s wait for SIGKILL"
    );

    let out = dir
        .tool("covkill")
        .args([&c.target(), &other.target()])
        .output();
    assert_code(&out, 0, "covkill");
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    let mut want = vec![c.target(), other.target()];
    want.sort();
    assert_eq!(lines, want, "a stopped container is passed on to covpull");
    assert!(
        text(&out.stderr).contains(&format!("{}: not running", c.target())),
        "{}",
        text(&out.stderr)
    );

    // Read from the stopped container (docker cp), fed covkill's output.
    let out = dir
        .tool("covpull")
        .args(["--out", "p"])
        .stdin(out.stdout.clone())
        .output();
    assert_code(&out, 0, "covpull");
    let paths = pulled(&dir, b, &out.stdout);
    let mine: Vec<&PathBuf> = paths
        .iter()
        .filter(|p| file_name(p).contains(&c.0))
        .collect();
    assert_eq!(mine.len(), 1, "{paths:?}");
    assert_eq!(file_name(mine[0]), format!("docker_{}.cover-1.out", c.0));
    assert_eq!(count_at(b, mine[0], "fmt.Fprintln(w, \"hello\")"), 1);
}

#[test]
fn missing_targets_and_missing_profiles_are_named_and_the_rest_is_processed() {
    let dir = Dir::new("missing_targets_and_missing_profiles_are_named_and_the_rest_is_processed");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "missing");
    let good = Container::run(&image, unique("missing", "good"), &[]);
    let fresh = Container::run(&image, unique("missing", "fresh"), &[]);
    let gone = format!("docker:{}", unique("missing", "gone"));

    let out = dir.tool("covkill").args([&gone, &good.target()]).output();
    assert_code(&out, 1, "covkill");
    assert_eq!(
        text(&out.stdout),
        format!("{}\n", good.target()),
        "the good target is still stopped"
    );
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("covkill: {gone}: ")) && err.contains("No such container"),
        "{err}"
    );

    let out = dir
        .tool("covpull")
        .args(["--out", "p", &gone, &fresh.target(), &good.target()])
        .output();
    assert_code(&out, 1, "covpull");
    let paths = pulled(&dir, b, &out.stdout);
    assert_eq!(paths.len(), 1);
    assert_eq!(
        file_name(&paths[0]),
        format!("docker_{}.cover-1.out", good.0)
    );
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains(&format!("covpull: {gone}: ")) && err.contains("No such container"),
        "{err}"
    );
    // Never stopped, so no profile yet: the error names the directory looked
    // in and the running service's work in it.
    assert!(
        err.contains(&format!(
            "covpull: {}: no complete profile (cover-<n>.out) or binary coverage (covmeta.*, covcounters.*) in /cover: it holds only what a run still writes (.cover-running.",
            fresh.target()
        )) && err.contains("stop the service first (covkill)"),
        "{err}"
    );
    // Bad target syntax is bad usage: exit 2 before anything is touched.
    let out = dir.tool("covpull").args(["--out", "p", "orders"]).output();
    assert_code(&out, 2, "covpull with a malformed target");
    assert!(
        text(&out.stderr).contains("\"orders\": not a target"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn wrong_killswitch_port_times_out_instead_of_hanging() {
    let dir = Dir::new("wrong_killswitch_port_times_out_instead_of_hanging");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "port");
    let c = Container::run(&image, unique("port", "c"), &[]);
    let t = Instant::now();
    let out = dir
        .tool("covkill")
        .args(["--port", "19998", "--timeout", "2s", &c.target()])
        .output();
    let took = t.elapsed();
    assert_code(&out, 1, "covkill");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "covkill: {}: killswitch http://127.0.0.1:19998/covkill: connection refused",
            c.target()
        )),
        "{err}"
    );
    // A port that accepts but never answers: the same bound, asked at the
    // container's address on the local engine (the listing before the
    // stop), and from inside it through an exec.
    let ip = docker_ok(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &c.0,
    ]);
    for (transport, url) in [
        ("", format!("http://{}:19997/covtools/list", ip.trim())),
        ("cli", "http://127.0.0.1:19997/covkill".to_string()),
    ] {
        // nc answers one connection: one listener per attempt.
        docker_ok(&["exec", "-d", &c.0, "sh", "-c", "sleep 60 | nc -l -p 19997"]);
        let t = Instant::now();
        let out = dir
            .tool("covkill")
            .env("COVTOOLS_DOCKER", transport)
            .args(["--port", "19997", "--timeout", "2s", &c.target()])
            .output();
        let took = t.elapsed();
        assert_code(&out, 1, "covkill");
        assert!(took < Duration::from_secs(6), "took {took:?}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "covkill: {}: killswitch {url}: no answer within 2.0s\n",
                c.target()
            )
        );
        docker(&["exec", &c.0, "pkill", "nc"]);
    }
    // The client inside was bounded too (timeout(1)): nothing is left behind.
    std::thread::sleep(Duration::from_millis(300));
    let ps = c.sh("ps -o comm,args");
    assert!(!ps.contains("wget"), "{ps}");
    // Nothing was stopped: the right port (from the container's COVKILL_ADDR) still works.
    let out = dir.tool("covkill").args([&c.target()]).output();
    assert_code(&out, 0, "covkill");
}

/// With `COVER_RESTART=never` the container exits with the service, maybe
/// before covkill's script has seen the renamed profile from inside: still
/// a success, and covpull reads the profile from the stopped container.
#[test]
fn a_container_that_exits_with_its_service_is_stopped_and_pulled() {
    let dir = Dir::new("a_container_that_exits_with_its_service_is_stopped_and_pulled");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "never");
    // Several, so both orders of the race (profile seen, or exec cut off
    // by the container's exit) are likely to happen.
    let containers: Vec<Container> = (0..3)
        .map(|i| {
            Container::run(
                &image,
                unique("never", &format!("c{i}")),
                &[("COVER_RESTART", "never")],
            )
        })
        .collect();
    for c in &containers {
        c.get("/hello");
    }
    let targets: Vec<String> = containers.iter().map(Container::target).collect();
    let mut kill: Vec<&str> = targets.iter().map(String::as_str).collect();
    kill.extend(["--timeout", "20s"]);
    let (kout, pout) = kill_pipe_pull(&dir, &kill, &["--out", "p"], &[]);
    assert_code(&kout, 0, "covkill");
    assert_code(&pout, 0, "covpull");
    assert!(
        !text(&kout.stderr).contains("stopped before covkill"),
        "containers covkill stopped are not reported as stopped before it:\n{}",
        text(&kout.stderr)
    );
    let paths = pulled(&dir, b, &pout.stdout);
    for c in &containers {
        let state = docker_ok(&["inspect", "--format", "{{.State.Running}}", &c.0]);
        assert_eq!(state.trim(), "false", "{} exited with its service", c.0);
        let mine: Vec<&PathBuf> = paths
            .iter()
            .filter(|p| file_name(p).contains(&c.0))
            .collect();
        assert_eq!(mine.len(), 1, "{paths:?}");
        assert_eq!(count_at(b, mine[0], "fmt.Fprintln(w, \"hello\")"), 1);
    }
}

#[test]
fn killed_twice_gives_two_profiles_and_both_are_pulled_and_merged() {
    let dir = Dir::new("killed_twice_gives_two_profiles_and_both_are_pulled_and_merged");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "twice");
    // Every run is shorter than COVER_MIN_UPTIME, but a clean killswitch stop
    // that kept its profile is no crash: the wrapper restarts at once.
    let c = Container::run(&image, unique("twice", "c"), &[("COVER_MIN_UPTIME", "600")]);
    c.get("/hello");
    let t = Instant::now();
    dir.tool("covkill").arg(c.target()).stdout();
    // At once again: covkill retries while the new run is not listening yet.
    let out = dir.tool("covkill").arg(c.target()).stdout();
    assert_eq!(out, format!("{}\n", c.target()));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a killswitch stop was backed off like a crash: {:?}",
        t.elapsed()
    );
    c.wait_ready();
    c.get("/hello");
    c.get("/hello");
    dir.tool("covkill").arg(c.target()).stdout();
    let out = dir
        .tool("covpull")
        .args(["--out", "p", &c.target()])
        .output();
    assert_code(&out, 0, "covpull");
    let paths = pulled(&dir, b, &out.stdout);
    let names: Vec<String> = paths.iter().map(|p| file_name(p)).collect();
    assert_eq!(
        names,
        (1..=3)
            .map(|n| format!("docker_{}.cover-{n}.out", c.0))
            .collect::<Vec<_>>()
    );
    let hello = "fmt.Fprintln(w, \"hello\")";
    assert_eq!(count_at(b, &paths[0], hello), 1);
    assert_eq!(count_at(b, &paths[1], hello), 0);
    assert_eq!(count_at(b, &paths[2], hello), 2);
    let merged = dir.path("merged.cov");
    dir.tool("covmerge")
        .args(["-o", merged.to_str().unwrap()])
        .stdin(out.stdout.clone())
        .stdout();
    assert_eq!(count_at(b, &merged, hello), 3);
    // Pulling again rewrites the same names, nothing more.
    let again = dir
        .tool("covpull")
        .args(["--out", "p", &c.target()])
        .stdout();
    assert_eq!(again, text(&out.stdout));
    assert_eq!(fs::read_dir(dir.path("p")).unwrap().count(), 3);
}

#[test]
fn covkill_retries_while_the_killswitch_refuses_connections() {
    let dir = Dir::new("covkill_retries_while_the_killswitch_refuses_connections");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "late");
    // The service starts 2 s after the container: until then every
    // killswitch request is refused, and covkill must retry, not fail.
    let c = Container::run_sh(
        &image,
        unique("late", "c"),
        "sleep 2; exec /bin/sh /usr/local/bin/cover-wrapper",
    );
    let t = Instant::now();
    let out = dir
        .tool("covkill")
        .args(["--timeout", "20s", &c.target()])
        .output();
    assert_code(&out, 0, "covkill");
    assert_eq!(text(&out.stdout), format!("{}\n", c.target()));
    assert!(
        t.elapsed() > Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    let out = dir
        .tool("covpull")
        .args(["--out", "p", &c.target()])
        .output();
    assert_code(&out, 0, "covpull");
    assert_eq!(pulled(&dir, b, &out.stdout).len(), 1);
}

#[test]
fn covpull_never_reads_a_profile_still_being_written() {
    let dir = Dir::new("covpull_never_reads_a_profile_still_being_written");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "partial");
    let c = Container::run(&image, unique("partial", "c"), &[]);
    c.get("/hello");
    dir.tool("covkill").arg(c.target()).stdout();
    let complete = c.sh("cat /cover/cover-1.out");
    // A leftover half-written profile under the wrapper's temporary name.
    c.sh("head -c 40 /cover/cover-1.out > /cover/.cover-7.out.tmp");
    // And a writer that keeps producing profiles the wrapper's way (slowly
    // to a temporary name, then a rename) while covpull runs.
    c.sh("cat > /tmp/writer.sh <<'EOF'\n\
         i=100\n\
         while [ $i -lt 400 ]; do\n\
           t=/cover/.cover-$i.out.tmp\n\
           head -c 60 /cover/cover-1.out > $t; sleep 0.01; tail -c +61 /cover/cover-1.out >> $t\n\
           mv $t /cover/cover-$i.out; i=$((i+1))\n\
         done\n\
         EOF");
    docker_ok(&["exec", "-d", &c.0, "sh", "/tmp/writer.sh"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.sh("ls /cover").lines().count() < 3 {
        assert!(Instant::now() < deadline, "the writer never wrote");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut seen = 0;
    for round in 0..8 {
        let out = dir
            .tool("covpull")
            .args(["--out", &format!("p{round}"), &c.target()])
            .output();
        assert_code(&out, 0, "covpull");
        for line in text(&out.stdout).lines() {
            let name = file_name(Path::new(line));
            assert!(!name.contains(".tmp") && !name.starts_with('.'), "{name}");
            assert_eq!(
                fs::read_to_string(dir.path(line)).unwrap(),
                complete,
                "{line} is complete"
            );
            seen += 1;
        }
        assert!(
            text(&out.stderr).is_empty(),
            "temporary files are not errors: {}",
            text(&out.stderr)
        );
    }
    assert!(
        seen > 8,
        "the writer produced profiles during the pulls ({seen} pulled)"
    );
}

#[test]
fn corrupt_profile_is_reported_and_the_others_are_written() {
    let dir = Dir::new("corrupt_profile_is_reported_and_the_others_are_written");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "corrupt");
    let bad = Container::run(&image, unique("corrupt", "bad"), &[]);
    let good = Container::run(&image, unique("corrupt", "good"), &[]);
    dir.tool("covkill")
        .args([bad.target(), good.target()])
        .stdout();
    bad.sh("printf 'mode: count\\nexample.com/killpull/main.go:14.2,15.1 one 1\\n' > /cover/cover-2.out");
    // A good file from an earlier pull under the name the corrupt one maps to.
    let kept = dir.create(format!("p/docker_{}.cover-2.out", bad.0), "mode: count\n");
    let out = dir
        .tool("covpull")
        .args(["--out", "p", &bad.target(), &good.target()])
        .output();
    assert_code(&out, 1, "covpull");
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("covpull: {}: ", bad.target()))
            && err.contains("/cover/cover-2.out:2:"),
        "{err}"
    );
    let names: Vec<String> = pulled(&dir, b, &out.stdout)
        .iter()
        .map(|p| file_name(p))
        .collect();
    let mut want = vec![
        format!("docker_{}.cover-1.out", bad.0),
        format!("docker_{}.cover-1.out", good.0),
    ];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(
        fs::read_to_string(kept).unwrap(),
        "mode: count\n",
        "the failed pull left the old file alone"
    );
}
