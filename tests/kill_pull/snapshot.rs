//! Live snapshots and resets, on the collection side: `covkill
//! --flush/--reset`, `covpull --flush`, and covpull copying Go's binary
//! coverage, against tests/fixtures/killpull/svc built with the cover kind
//! (`go build -cover -covermode=atomic` of its real main with covtools'
//! harness, tools/harness/cover, by covjob's own build code), with
//! `go tool covdata textfmt` and `go tool cover -func` as the oracles; and
//! the 501 of the same service built with the test kind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::kill_pull::*;
use crate::util::*;

const HELLO: &str = "fmt.Fprintln(w, \"hello\")";
const TEST_KIND_501: &str = "the harness answered HTTP 501 Not Implemented: covtools: build kind test (go test -c -cover, covermode count) cannot take live snapshots or reset counters; build with [build] kind = \"cover\" (covermode atomic)";

/// Starts `bin ARGS…` with its killswitch and service on free loopback
/// ports and GOCOVERDIR=<name>/cover; returns it, its service address and
/// its `local:` target once the service answers (on a path no handler
/// serves: no coverage is touched).
fn start_local(dir: &Dir, bin: &Path, args: &[&str], name: &str) -> (LocalService, String, String) {
    let (kill_port, http_port) = (free_port(), free_port());
    let cover = dir.path(format!("{name}/cover"));
    std::fs::create_dir_all(&cover).unwrap();
    let http = format!("127.0.0.1:{http_port}");
    let svc = LocalService {
        child: Command::new(bin)
            .args(args)
            .env("GOCOVERDIR", &cover)
            .env("COVKILL_ADDR", format!("127.0.0.1:{kill_port}"))
            .env("LISTEN", &http)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(&http, "/ready").is_err() {
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
    (entries(&path), covdata_textfmt(&path))
}

#[test]
fn flush_and_reset_keep_a_local_go_build_cover_service_running() {
    let dir = Dir::new("flush_and_reset_keep_a_local_go_build_cover_service_running");
    let Some(c) = cover_built(false) else {
        return;
    };
    let b = built(false).unwrap();
    let (mut svc, http, target) = start_local(&dir, &c.bin, &[], "svc");
    http_get(&http, "/hello").unwrap();

    // covkill --flush | covpull: a complete snapshot, the service still up.
    let (k, p) = kill_pipe_pull(&dir, &["--flush", &target], &["--out", "p"], &[]);
    assert_code(&k, 0, "covkill --flush");
    assert_code(&p, 0, "covpull");
    let (names, first) = pulled_snapshot(&dir, &text(&p.stdout));
    assert_eq!(cover_count(c, &first, HELLO), 1);
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
    assert_eq!(cover_count(c, &second, HELLO), 3);
    // No traffic between two flushes: the very same profile, whole (the
    // harness's own code is in no profile).
    let out = dir
        .tool("covpull")
        .args(["--flush", "--out", "p2", &target])
        .output();
    assert_code(&out, 0, "covpull --flush");
    let third = pulled_snapshot(&dir, &text(&out.stdout)).1;
    assert_service_only(&second);
    assert_eq!(third, second);
    // Go's own reading of the snapshot: hello covered, nothing else called.
    let second_file = dir.path("second.txt");
    std::fs::write(&second_file, &second).unwrap();
    let func = go_func(b, &second_file);
    assert_eq!(func_cover(&func, "hello"), "100.0%");
    assert_eq!(func_cover(&func, "add"), "0.0%");
    assert_eq!(func_cover(&func, "sum"), "0.0%");
    assert_eq!(func_cover(&func, "neverCalled"), "0.0%");

    // Reset: printed for covpull like any covkill; the counters start again.
    let out = dir.tool("covkill").args(["--reset", &target]).output();
    assert_code(&out, 0, "covkill --reset");
    assert_eq!(text(&out.stdout), format!("{target}\n"));
    let out = dir
        .tool("covpull")
        .args(["--flush", "--out", "p", &target])
        .output();
    assert_code(&out, 0, "covpull --flush");
    assert_eq!(
        cover_count(c, &pulled_snapshot(&dir, &text(&out.stdout)).1, HELLO),
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
    assert_eq!(cover_count(c, &last, HELLO), 1);
    assert!(svc.child.wait().unwrap().success());

    // A test-kind binary cannot snapshot: it answers 501, a failed target
    // with the harness's message, at once.
    let args = [
        "-test.run=^TestCovtoolsHarness$",
        "-test.coverprofile=/dev/null",
        "--",
    ];
    let (_svc, _http, target) = start_local(&dir, &b.svc_test, &args, "refusing");
    for tool in ["covkill", "covpull"] {
        let mut cmd = dir.tool(tool);
        if tool == "covpull" {
            cmd.args(["--out", "r"]);
        }
        let out = cmd.args(["--flush", &target]).output();
        assert_code(&out, 1, tool);
        assert_eq!(text(&out.stdout), "");
        assert!(
            text(&out.stderr).contains(TEST_KIND_501),
            "{tool}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn covpull_flush_snapshots_and_copies_each_container_in_one_round_trip() {
    let dir = Dir::new("covpull_flush_snapshots_and_copies_each_container_in_one_round_trip");
    let Some(c) = cover_built(true) else {
        return;
    };
    let b = built(true).unwrap();
    let image = Image::cover(c, &dir, "snap");
    let cs: Vec<Container> = (0..3)
        .map(|i| Container::run(&image, unique("snap", &format!("c{i}")), &[]))
        .collect();
    cs[0].get("/hello");
    assert_eq!(cs[1].get("/add?a=2&b=3").trim(), "5");
    let targets: Vec<String> = cs.iter().map(Container::target).collect();
    let mut args = vec!["--flush", "--out", "p"];
    args.extend(targets.iter().map(String::as_str));
    let since = SystemTime::now();
    let out = dir.tool("covpull").args(&args).output();
    assert_code(&out, 0, "covpull --flush");
    // Over the local engine's API the harness serves the snapshot at the
    // container's address (/covtools/snapshot): no exec in any container.
    for k in &cs {
        assert_eq!(execs_since(k, since), 0, "covpull --flush execs in {}", k.0);
    }
    let mut dirs: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    dirs.sort();
    let mut want: Vec<String> = cs.iter().map(|c| format!("p/docker_{}", c.0)).collect();
    want.sort();
    assert_eq!(dirs, want);
    let profile =
        |k: &Container, root: &str| covdata_textfmt(&dir.path(format!("{root}/docker_{}", k.0)));
    assert_eq!(cover_count(c, &profile(&cs[0], "p"), HELLO), 1);
    assert_eq!(cover_count(c, &profile(&cs[1], "p"), HELLO), 0);
    assert_eq!(cover_count(c, &profile(&cs[1], "p"), "return a + b"), 1);
    assert_eq!(cover_count(c, &profile(&cs[2], "p"), "return a + b"), 0);
    for k in &cs {
        assert_service_only(&profile(k, "p"));
    }

    // The same through the pipe, two round trips: identical profiles.
    let mut kill = vec!["--flush"];
    kill.extend(targets.iter().map(String::as_str));
    let (k, p) = kill_pipe_pull(&dir, &kill, &["--out", "q"], &[]);
    assert_code(&k, 0, "covkill --flush");
    assert_code(&p, 0, "covpull");
    for k in &cs {
        assert_eq!(profile(k, "q"), profile(k, "p"));
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
    for k in &cs {
        assert_eq!(profile(k, "e"), profile(k, "p"));
    }

    // A stop of a cover-kind service: its new counter file is what covkill
    // waits for; the wrapper starts the service again.
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
    assert_eq!(cover_count(c, &profile(&cs[0], "p"), HELLO), 1);

    // The restarted service's snapshot over HTTP holds the earlier
    // process's final counters too (one counter file per process), as the
    // exec path reads them.
    cs[0].get("/hello");
    let since = SystemTime::now();
    let out = dir
        .tool("covpull")
        .args(["--flush", "--out", "h", &cs[0].target()])
        .output();
    assert_code(&out, 0, "covpull --flush after a restart");
    assert_eq!(
        execs_since(&cs[0], since),
        0,
        "covpull --flush started an exec"
    );
    let names = entries(&dir.path(format!("h/docker_{}", cs[0].0)));
    let counters = |names: &[String]| {
        names
            .iter()
            .filter(|n| n.starts_with("covcounters."))
            .count()
    };
    assert_eq!(counters(&names), 2, "{names:?}");
    assert_eq!(cover_count(c, &profile(&cs[0], "h"), HELLO), 2);
    let out = dir
        .tool("covpull")
        .env("COVTOOLS_DOCKER", "cli")
        .args(["--flush", "--out", "hc", &cs[0].target()])
        .output();
    assert_code(&out, 0, "covpull --flush over docker exec");
    assert_eq!(profile(&cs[0], "hc"), profile(&cs[0], "h"));

    // A harness this host cannot reach at the container's address (here it
    // listens on the container's loopback only): covpull --flush falls back
    // to the exec, silently.
    let inside = Container::run(
        &image,
        unique("snap", "loopback"),
        &[("COVKILL_ADDR", "127.0.0.1:19999")],
    );
    inside.get("/hello");
    let since = SystemTime::now();
    let out = dir
        .tool("covpull")
        .args(["--flush", "--out", "l", &inside.target()])
        .output();
    assert_code(&out, 0, "covpull --flush, harness on loopback");
    assert_eq!(text(&out.stderr), "");
    assert_eq!(execs_since(&inside, since), 1, "the fallback: one exec");
    assert_eq!(cover_count(c, &profile(&inside, "l"), HELLO), 1);

    // 501 from the same service built with the test kind, over both
    // transports.
    let test_kind = Image::build(b, &dir, "snap-test");
    let refusing = Container::run(&test_kind, unique("snap", "refusing"), &[]);
    let out = dir
        .tool("covpull")
        .args(["--flush", "--out", "r", &refusing.target()])
        .output();
    assert_code(&out, 1, "covpull --flush");
    assert!(
        text(&out.stderr).contains(TEST_KIND_501),
        "{}",
        text(&out.stderr)
    );
    let out = dir
        .tool("covpull")
        .env("COVTOOLS_DOCKER", "cli")
        .args(["--flush", "--out", "r", &refusing.target()])
        .output();
    assert_code(&out, 1, "covpull --flush over docker exec");
    assert!(
        text(&out.stderr).contains(TEST_KIND_501),
        "{}",
        text(&out.stderr)
    );
    let out = dir
        .tool("covkill")
        .args(["--flush", &refusing.target()])
        .output();
    assert_code(&out, 1, "covkill --flush");
    assert!(
        text(&out.stderr).contains(TEST_KIND_501),
        "{}",
        text(&out.stderr)
    );
}

/// How many execs the engine started in the container since `since`
/// (its `exec_create` events; an action spans lines: the script), to tell whether an operation started a
/// process in it.
pub(super) fn execs_since(c: &Container, since: SystemTime) -> usize {
    let stamp = |t: SystemTime| {
        let d = t.duration_since(UNIX_EPOCH).unwrap();
        format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
    };
    let filter = format!("container={}", c.0);
    docker_ok(&[
        "events",
        "--since",
        &stamp(since),
        "--until",
        &stamp(SystemTime::now()),
        "--filter",
        &filter,
        "--filter",
        "event=exec_create",
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .filter(|l| l.starts_with("exec_create"))
    .count()
}
