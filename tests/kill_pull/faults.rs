//! Faults in the middle of a run: a container removed while covkill waits
//! for it, and a killswitch port that answers but is not the harness.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::kill_pull::*;
use crate::util::*;

/// Fault 6: containers removed at different moments and in each phase of
/// covkill's wait (its first exec, its retries on a killswitch that
/// refuses, its poll for the new profile, the service stopping) are failed
/// targets whose message says they were removed: never "stopped before
/// covkill" with exit 0, an exec's exit status or a Docker client error.
#[test]
fn a_container_removed_while_covkill_waits_is_a_failed_target_saying_so() {
    let dir = Dir::new("a_container_removed_while_covkill_waits_is_a_failed_target_saying_so");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "removed");
    let started = Instant::now();
    for round in 0..3u64 {
        // The killswitch answers (the service stops and is restarted), but
        // the profile is looked for where it never appears: covkill polls.
        let polling: Vec<Container> = (0..2)
            .map(|i| Container::run(&image, unique("removed", &format!("p{round}{i}")), &[]))
            .collect();
        // Nothing listens on the killswitch: covkill retries.
        let refusing: Vec<Container> = (0..3)
            .map(|i| {
                let name = unique("removed", &format!("r{round}{i}"));
                Container::run_sh(&image, name, "sleep 600")
            })
            .collect();
        let all: Vec<&Container> = polling.iter().chain(&refusing).collect();
        let mut cmd = Command::new(bin("covkill"));
        cmd.args(["--cover-dir", "/nowhere", "--timeout", "30s"])
            .args(all.iter().map(|c| c.target()))
            .stdin(Stdio::null());
        let t = Instant::now();
        // Removed at staggered moments: before covkill's first exec reaches
        // some, during the exec or the backoff of others.
        let out = output_while_removing(&mut cmd, &all, |i| {
            Duration::from_millis(round * 40 + i as u64 * 170)
        });
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "round {round}: {:?}",
            t.elapsed()
        );
        assert_code(&out, 1, "covkill");
        assert_eq!(
            text(&out.stdout),
            "",
            "no removed container is passed on to covpull"
        );
        let err = text(&out.stderr);
        for c in &all {
            let line: Vec<&str> = err.lines().filter(|l| l.contains(&c.target())).collect();
            assert_eq!(line.len(), 1, "one line for {}:\n{err}", c.0);
            assert!(line[0].contains("removed"), "round {round}: {}", line[0]);
            for wrong in [
                "stopped before",
                "exit status",
                "unable to upgrade",
                "not running",
            ] {
                assert!(!line[0].contains(wrong), "round {round}: {}", line[0]);
            }
        }
    }
    // The service itself stopping on the killswitch while it is removed:
    // either covkill saw the new profile first (a success), or it says the
    // container was removed.
    for round in 0..2u64 {
        let cs: Vec<Container> = (0..3)
            .map(|i| Container::run(&image, unique("removed", &format!("s{round}{i}")), &[]))
            .collect();
        let mut cmd = Command::new(bin("covkill"));
        cmd.args(["--timeout", "30s"])
            .args(cs.iter().map(Container::target))
            .stdin(Stdio::null());
        let out = output_while_removing(&mut cmd, &cs.iter().collect::<Vec<_>>(), |i| {
            Duration::from_millis(round * 30 + i as u64 * 60)
        });
        let (stdout, err) = (text(&out.stdout), text(&out.stderr));
        for c in &cs {
            let ok = stdout.lines().any(|l| l == c.target());
            let line: Vec<&str> = err.lines().filter(|l| l.contains(&c.target())).collect();
            match ok {
                true => assert!(line.is_empty(), "{err}"),
                false => {
                    assert_eq!(line.len(), 1, "{err}");
                    assert!(line[0].contains("removed"), "{}", line[0]);
                }
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
}

/// Fault 7: the service's own port given as the killswitch answers 404;
/// covkill fails at once naming what answered, instead of waiting out
/// its timeout for a profile.
#[test]
fn a_port_that_answers_but_is_not_the_harness_fails_at_once_naming_what_answered() {
    let dir =
        Dir::new("a_port_that_answers_but_is_not_the_harness_fails_at_once_naming_what_answered");
    let Some(b) = built(true) else { return };
    let image = Image::build(b, &dir, "notharness");
    let c = Container::run(&image, unique("notharness", "c"), &[]);
    let t = Instant::now();
    let out = dir
        .tool("covkill")
        .args(["--port", "8080", "--timeout", "30s", &c.target()])
        .output();
    assert_code(&out, 1, "covkill");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "covkill: {}: http://127.0.0.1:8080/covkill is not the covtools harness (no Covtools-Harness header in its answer: HTTP 404 Not Found, body \"404 page not found\"); is the port the harness's killswitch (--port, the container's $COVKILL_ADDR)?\n",
            c.target()
        )
    );
    // The service was not stopped: its one run has written no profile yet.
    assert_eq!(c.sh("ls /cover"), "");
    // The harness itself is still recognised (the header, or this harness's
    // own answer text: the compatibility rule).
    dir.tool("covkill").arg(c.target()).stdout();

    // A local port answering 200 without the harness's header.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming() {
            let mut s = s.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nServer: imposter/1.0\r\nContent-Length: 12\r\n\r\nall is well\n",
            );
        }
    });
    let cover = dir.path("cover");
    std::fs::create_dir_all(&cover).unwrap();
    let target = format!("local:{addr}={}", cover.display());
    let t = Instant::now();
    let out = dir
        .tool("covkill")
        .args(["--timeout", "30s", &target])
        .output();
    assert_code(&out, 1, "covkill");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        text(&out.stderr).contains(&format!(
            "http://{addr}/covkill is not the covtools harness (no Covtools-Harness header in its answer: HTTP 200 OK, Server: imposter/1.0, body \"all is well\")"
        )),
        "{}",
        text(&out.stderr)
    );
}
