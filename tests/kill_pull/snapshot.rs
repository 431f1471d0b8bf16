//! Live snapshots and resets (issue 10 §2, collection side): `covkill
//! --flush/--reset`, `covpull --flush`, and covpull copying Go's binary
//! coverage, against a real `go build -cover -covermode=atomic` service
//! (tests/fixtures/snapshot, which serves the harness's flush/reset contract
//! itself), with `go tool covdata textfmt` as the oracle.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::kill_pull::*;
use crate::util::*;

fn start_local(
    dir: &Dir,
    s: &Snapshot,
    name: &str,
    env: &[(&str, &str)],
) -> (LocalService, String, String) {
    let (kill_port, http_port) = (free_port(), free_port());
    let cover = dir.path(format!("{name}/cover"));
    std::fs::create_dir_all(&cover).unwrap();
    let http = format!("127.0.0.1:{http_port}");
    let mut cmd = Command::new(&s.bin);
    cmd.env("GOCOVERDIR", &cover)
        .env("COVKILL_ADDR", format!("127.0.0.1:{kill_port}"))
        .env("LISTEN", &http)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let svc = LocalService {
        child: cmd.spawn().unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(&http, "/add?a=0&b=0").is_err() {
        assert!(
            Instant::now() < deadline,
            "the local service never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let target = format!("local:127.0.0.1:{kill_port}={}", cover.display());
    (svc, http, target)
}

/// The one directory covpull printed, read by Go.
fn pulled_snapshot(dir: &Dir, stdout: &str) -> (Vec<String>, String) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let path = dir.path(lines[0]);
    let text = go::covdata_textfmt(&go().unwrap(), &[&path], &path.with_extension("textfmt"));
    (entries(&path), text)
}

#[test]
fn flush_and_reset_keep_a_local_go_build_cover_service_running() {
    let dir = Dir::new("flush_and_reset_keep_a_local_go_build_cover_service_running");
    let Some(s) = snapshot_built(false) else {
        return;
    };
    let (mut svc, http, target) = start_local(&dir, s, "svc", &[]);
    let hello = "fmt.Fprintln(w, \"hello\")";
    http_get(&http, "/hello").unwrap();

    // covkill --flush | covpull: a complete snapshot, the service still up.
    let (k, p) = kill_pipe_pull(&dir, &["--flush", &target], &["--out", "p"], &[]);
    assert_code(&k, 0, "covkill --flush");
    assert_code(&p, 0, "covpull");
    let (names, first) = pulled_snapshot(&dir, &text(&p.stdout));
    assert_eq!(snapshot_count(s, &first, hello), 1);
    assert_eq!(names.len(), 2, "covmeta and one covcounters: {names:?}");
    assert!(svc.child.try_wait().unwrap().is_none(), "still running");

    // Two more hits; covpull --flush (one round trip) replaces the older
    // snapshot of this process: cumulative, never summed.
    http_get(&http, "/hello").unwrap();
    http_get(&http, "/hello").unwrap();
    let out = dir
        .tool("covpull")
        .args(["--flush", "--out", "p", &target])
        .output();
    assert_code(&out, 0, "covpull --flush");
    let (names, second) = pulled_snapshot(&dir, &text(&out.stdout));
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(snapshot_count(s, &second, hello), 3);
    // No traffic between two flushes: the same profile (of the service; the
    // fixture's own flush code counts each flush).
    let out = dir
        .tool("covpull")
        .args(["--flush", "--out", "p2", &target])
        .output();
    assert_code(&out, 0, "covpull --flush");
    let third = pulled_snapshot(&dir, &text(&out.stdout)).1;
    assert_eq!(service_blocks(s, &third), service_blocks(s, &second));
    assert_eq!(service_blocks(s, &second).lines().count(), 3, "{second}");

    // Reset: printed for covpull like any covkill; the counters start again.
    let out = dir.tool("covkill").args(["--reset", &target]).output();
    assert_code(&out, 0, "covkill --reset");
    assert_eq!(text(&out.stdout), format!("{target}\n"));
    let out = dir
        .tool("covpull")
        .args(["--flush", "--out", "p", &target])
        .output();
    assert_eq!(
        snapshot_count(s, &pulled_snapshot(&dir, &text(&out.stdout)).1, hello),
        0
    );

    // A stop: Go writes the final counters at exit, covkill sees the new
    // counter file; the last snapshot was deleted, so one counter file.
    http_get(&http, "/hello").unwrap();
    let out = dir.tool("covkill").arg(&target).output();
    assert_code(&out, 0, "covkill");
    let out = dir.tool("covpull").args(["--out", "p", &target]).output();
    assert_code(&out, 0, "covpull");
    let (names, last) = pulled_snapshot(&dir, &text(&out.stdout));
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("covcounters."))
            .count(),
        1,
        "{names:?}"
    );
    assert_eq!(snapshot_count(s, &last, hello), 1);
    assert!(svc.child.wait().unwrap().success());

    // A binary that cannot snapshot answers 501: a failed target with the
    // harness's message, at once.
    let (_svc, _http, target) = start_local(&dir, s, "refusing", &[("SNAPSHOT_REFUSE", "1")]);
    for tool in ["covkill", "covpull"] {
        let mut cmd = dir.tool(tool);
        if tool == "covpull" {
            cmd.args(["--out", "r"]);
        }
        let out = cmd.args(["--flush", &target]).output();
        assert_code(&out, 1, tool);
        assert_eq!(text(&out.stdout), "");
        assert!(
            text(&out.stderr).contains("the harness answered HTTP 501 Not Implemented: covtools: this binary cannot snapshot or reset (build kind test, covermode count): set [build] kind = \"cover\" (covermode atomic)"),
            "{tool}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn covpull_flush_snapshots_and_copies_each_container_in_one_round_trip() {
    let dir = Dir::new("covpull_flush_snapshots_and_copies_each_container_in_one_round_trip");
    let Some(s) = snapshot_built(true) else {
        return;
    };
    let image = Image::base("snap");
    let cs: Vec<Container> = (0..3)
        .map(|i| Container::snapshot(&image, s, unique("snap", &format!("c{i}")), &[]))
        .collect();
    cs[0].get("/hello");
    assert_eq!(cs[1].get("/add?a=2&b=3").trim(), "5");
    let targets: Vec<String> = cs.iter().map(Container::target).collect();
    let mut args = vec!["--flush", "--out", "p"];
    args.extend(targets.iter().map(String::as_str));
    let out = dir.tool("covpull").args(&args).output();
    assert_code(&out, 0, "covpull --flush");
    let mut dirs: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    dirs.sort();
    let mut want: Vec<String> = cs.iter().map(|c| format!("p/docker_{}", c.0)).collect();
    want.sort();
    assert_eq!(dirs, want);
    let profile = |c: &Container, root: &str| {
        let path = dir.path(format!("{root}/docker_{}", c.0));
        go::covdata_textfmt(&go().unwrap(), &[&path], &path.with_extension("textfmt"))
    };
    let hello = "fmt.Fprintln(w, \"hello\")";
    assert_eq!(snapshot_count(s, &profile(&cs[0], "p"), hello), 1);
    assert_eq!(snapshot_count(s, &profile(&cs[1], "p"), hello), 0);
    assert_eq!(snapshot_count(s, &profile(&cs[1], "p"), "return a + b"), 1);
    assert_eq!(snapshot_count(s, &profile(&cs[2], "p"), "return a + b"), 0);

    // The same through the pipe, two round trips: identical profiles.
    let mut kill = vec!["--flush"];
    kill.extend(targets.iter().map(String::as_str));
    let (k, p) = kill_pipe_pull(&dir, &kill, &["--out", "q"], &[]);
    assert_code(&k, 0, "covkill --flush");
    assert_code(&p, 0, "covpull");
    for c in &cs {
        assert_eq!(
            service_blocks(s, &profile(c, "q")),
            service_blocks(s, &profile(c, "p"))
        );
    }

    // The exec transport (the docker CLI, as for remote engines): the same
    // snapshot, asked and read from inside each container in one exec.
    let mut args = vec!["--flush", "--out", "e"];
    args.extend(targets.iter().map(String::as_str));
    let out = dir
        .tool("covpull")
        .env("COVTOOLS_DOCKER", "cli")
        .args(&args)
        .output();
    assert_code(&out, 0, "covpull --flush over docker exec");
    for c in &cs {
        assert_eq!(
            service_blocks(s, &profile(c, "e")),
            service_blocks(s, &profile(c, "p"))
        );
    }

    // A stop of a `go build -cover` service: its new counter file is what
    // covkill waits for; the loop starts the service again.
    let out = dir.tool("covkill").arg(cs[0].target()).output();
    assert_code(&out, 0, "covkill");
    assert_eq!(text(&out.stderr), "");
    cs[0].wait_ready();
    let out = dir
        .tool("covpull")
        .args(["--out", "p", &cs[0].target()])
        .output();
    assert_code(&out, 0, "covpull");
    let names = entries(&dir.path(format!("p/docker_{}", cs[0].0)));
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("covcounters."))
            .count(),
        1,
        "{names:?}"
    );
    assert_eq!(snapshot_count(s, &profile(&cs[0], "p"), hello), 1);

    // 501 from a binary that cannot snapshot.
    let refusing = Container::snapshot(
        &image,
        s,
        unique("snap", "refusing"),
        &[("SNAPSHOT_REFUSE", "1")],
    );
    // The default transport, then `docker exec` (COVTOOLS_DOCKER=cli).
    for (docker, what) in [
        (None, "covpull --flush"),
        (Some("cli"), "covpull --flush over docker exec"),
    ] {
        let mut covpull = dir.tool("covpull");
        if let Some(docker) = docker {
            covpull.env("COVTOOLS_DOCKER", docker);
        }
        let out = covpull
            .args(["--flush", "--out", "r", &refusing.target()])
            .output();
        assert_code(&out, 1, what);
        assert!(
            text(&out.stderr).contains(
                "the harness answered HTTP 501 Not Implemented: covtools: this binary cannot snapshot"
            ),
            "{}",
            text(&out.stderr)
        );
    }
    let out = dir
        .tool("covkill")
        .args(["--flush", &refusing.target()])
        .output();
    assert_code(&out, 1, "covkill --flush");
    assert!(
        text(&out.stderr)
            .contains("HTTP 501 Not Implemented: covtools: this binary cannot snapshot"),
        "{}",
        text(&out.stderr)
    );
}
