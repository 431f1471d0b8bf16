//! The wrapper as a local process (what `--runtime local` runs).

use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use covcore::profile;

use crate::util::services::*;
use crate::util::Dir;

#[test]
fn wrapper_numbers_profiles_across_stops_and_keeps_the_one_of_sigterm() {
    let Some(ex) = example() else { return };
    let dir = Dir::new("wrapper_numbers_profiles_across_stops_and_keeps_the_one_of_sigterm");
    for (i, shell) in shells().iter().enumerate() {
        let shell_name = shell.join(" ");
        let cover = dir.path(format!("cover-{i}"));
        let (addr, kill) = (free_addr(), free_addr());
        let mut w = run_wrapper(
            &dir,
            &format!("wrapper-{i}"),
            shell,
            &ex.bin("catalog"),
            &cover,
            &kill,
            &["-addr", &addr],
        );
        // Two killswitch stops: two profiles, the wrapper restarts the service.
        assert_eq!(wait_get(&addr, "/products/p1").0, 200);
        assert_eq!(wait_get(&kill, "/covkill").0, 200);
        // From the moment the killswitch answered, cover-1.out is either
        // absent or complete: read it as often as possible meanwhile.
        let mut reads = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        let first = loop {
            assert!(Instant::now() < deadline, "{shell_name}: no cover-1.out");
            match fs::read(cover.join("cover-1.out")) {
                Ok(bytes) => {
                    profile::validate("cover-1.out", &bytes[..]).unwrap_or_else(|e| {
                        panic!("{shell_name}: a partial profile was visible: {e:#}")
                    });
                    reads += 1;
                    if reads == 20 {
                        break bytes;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("{e}"),
            }
            assert!(w.wait_timeout(Duration::ZERO).is_none(), "{}", w.stderr());
        };
        assert!(cover_files(&cover)
            .iter()
            .all(|f| f == "cover-1.out" || f.starts_with('.')));
        assert_eq!(
            wait_get(&addr, "/products").0,
            200,
            "restarted ({shell_name})"
        );
        assert_eq!(wait_get(&kill, "/covkill").0, 200);
        wait_until("cover-2.out", Duration::from_secs(20), || {
            cover.join("cover-2.out").exists()
        });
        assert_eq!(
            fs::read(cover.join("cover-1.out")).unwrap(),
            first,
            "the second stop must not touch the first profile"
        );
        // SIGTERM to the wrapper: forwarded, profile kept, wrapper exits.
        wait_get(&addr, "/healthz");
        let t = Instant::now();
        w.signal("TERM");
        let status = w
            .wait_timeout(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{shell_name}: no exit after SIGTERM"));
        assert!(status.success(), "{shell_name}: {}", w.stderr());
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(
            cover_files(&cover),
            ["cover-1.out", "cover-2.out", "cover-3.out"],
            "{shell_name}"
        );
        for n in 1..=3 {
            let func = valid_profile(&ex.go, ex.module(), &cover.join(format!("cover-{n}.out")));
            assert!(func_percent(&func, "cmd/catalog/main.go", "main") > 0.0);
        }
        let err = w.stderr();
        assert!(
            err.contains("SIGTERM received: stopping catalog.test"),
            "{shell_name}: {err}"
        );
        assert!(err.contains("stopped by SIGTERM"), "{err}");
        // Nothing left running: the port is free again.
        assert!(
            TcpListener::bind(&addr).is_ok(),
            "{shell_name}: the service outlived the wrapper"
        );
    }
}

#[test]
fn wrapper_backs_off_a_service_that_exits_at_once_and_says_so() {
    let Some(ex) = example() else { return };
    let dir = Dir::new("wrapper_backs_off_a_service_that_exits_at_once_and_says_so");
    let cover = dir.path("cover");
    let shell = &shells()[1]; // busybox, as in the images
    let mut w = run_wrapper(
        &dir,
        "wrapper",
        shell,
        &ex.bin("orders"),
        &cover,
        &free_addr(),
        &["-no-such-flag"],
    );
    std::thread::sleep(Duration::from_millis(4500));
    // Quick exits at 0 s, 1 s, 3 s (then 7 s): not a spin.
    let err = w.stderr();
    let runs = err
        .lines()
        .filter(|l| l.starts_with("cover-wrapper: run "))
        .count();
    assert!((2..=4).contains(&runs), "{runs} runs in 4.5 s:\n{err}");
    assert!(
        err.contains("flag provided but not defined: -no-such-flag"),
        "{err}"
    );
    assert!(err.contains("exited with status 2 after "), "{err}");
    assert!(
        err.contains("(quick exit 1 in a row); restarting in 1s"),
        "{err}"
    );
    assert!(
        err.contains("(quick exit 2 in a row); restarting in 2s"),
        "{err}"
    );
    assert!(err.contains("wrote no profile"), "{err}");
    assert!(cover_files(&cover).is_empty(), "{:?}", cover_files(&cover));
    // A stop during the backoff pause is immediate.
    let t = Instant::now();
    w.signal("TERM");
    w.wait_timeout(Duration::from_secs(5))
        .expect("exits during backoff");
    assert!(t.elapsed() < Duration::from_secs(3));
}
