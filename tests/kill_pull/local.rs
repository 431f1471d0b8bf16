//! Local processes (no Docker): `local:ADDR=DIR` and `dir:DIR` targets.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::kill_pull::*;
use crate::util::*;

#[test]
fn local_process_target_kill_then_pull() {
    let dir = Dir::new("local_process_target_kill_then_pull");
    let Some(b) = built(false) else { return };
    let (kill_port, http_port) = (free_port(), free_port());
    let cover = dir.path("run/cover");
    let http = format!("127.0.0.1:{http_port}");
    let svc = LocalService {
        child: Command::new("sh")
            .arg(&b.wrapper)
            .env("COVER_BIN", &b.svc_test)
            .env("COVER_DIR", &cover)
            .env("COVKILL_ADDR", format!("127.0.0.1:{kill_port}"))
            .env("LISTEN", &http)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(&http, "/hello").is_err() {
        assert!(
            Instant::now() < deadline,
            "the local service never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let target = format!("local::{kill_port}={}", cover.display());
    let (k, p) = kill_pipe_pull(&dir, &[&target], &["--out", "p"], &[]);
    assert_code(&k, 0, "covkill");
    assert_code(&p, 0, "covpull");
    let paths = pulled(&dir, b, &p.stdout);
    assert_eq!(paths.len(), 1);
    assert!(
        file_name(&paths[0]).starts_with("local_")
            && file_name(&paths[0]).ends_with(".cover-1.out")
    );
    assert_eq!(count_at(b, &paths[0], "fmt.Fprintln(w, \"hello\")"), 1);
    // A dir: target reads the same directory without a killswitch.
    let out = dir
        .tool("covpull")
        .args(["--out", "d", &format!("dir:{}", cover.display())])
        .stdout();
    assert_eq!(out.lines().count(), 1);
    let out = dir
        .tool("covkill")
        .arg(format!("dir:{}", cover.display()))
        .output();
    assert_code(&out, 1, "covkill on a dir: target");
    drop(svc);
    assert!(
        http_get(&http, "/hello").is_err(),
        "nothing is left running"
    );
}

/// A local killswitch that accepts the connection but never answers: an
/// error saying so within the timeout, not a hang or a socket error text.
#[test]
fn a_local_killswitch_that_never_answers_times_out_with_a_clear_error() {
    let dir = Dir::new("a_local_killswitch_that_never_answers_times_out_with_a_clear_error");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and holds every connection, reads nothing, answers nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let cover = dir.path("cover");
    fs::create_dir_all(&cover).unwrap();
    let target = format!("local:{addr}={}", cover.display());
    let t = Instant::now();
    let out = dir
        .tool("covkill")
        .args([&target, "--timeout", "1s"])
        .output();
    assert_code(&out, 1, "covkill");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{target}: killswitch http://{addr}/covkill: no answer within 1."
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
