//! `-o` under signals sent from outside, and over a file with its own mode.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::output::{covmerge_reading, profile, spawn_covmerge};
use crate::util::*;

const PRECIOUS: &str = "mode: set\nprecious.go:1.1,2.1 1 1\n";

fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

fn temp_files(dir: &Dir) -> Vec<String> {
    entries(&dir.root)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

// A closing terminal sends SIGHUP, Ctrl-\ SIGQUIT, a batch system SIGUSR1 or
// SIGXCPU: each ends the run as SIGTERM does, with 128 + its number, the
// good output as it was and no temporary file.
covtest!(every_terminating_signal_leaves_no_temp_file, |dir: Dir| {
    for (signal, code) in [("HUP", 129), ("QUIT", 131), ("USR1", 138), ("XCPU", 152)] {
        dir.create("out.cov", PRECIOUS);
        let (child, stdin) = covmerge_reading(&dir, "mode: set\na.go:1.1,2.2 1 1\n");
        kill(signal, child.id());
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        assert_eq!(
            out.status.code(),
            Some(code),
            "SIG{signal}: {:?}",
            out.status
        );
        assert_eq!(dir.read("out.cov"), PRECIOUS, "SIG{signal}");
        assert_eq!(temp_files(&dir), Vec::<String>::new(), "SIG{signal}");
    }
});

// Under `nohup` SIGHUP is ignored from the start: it must stay ignored.
covtest!(a_signal_ignored_at_start_stays_ignored, |dir: Dir| {
    let mut child = Command::new("nohup")
        .current_dir(&dir.root)
        .arg(bin("covmerge"))
        .args(["-o", "out.cov"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"mode: set\na.go:1.1,2.2 1 1\n").unwrap();
    let start = Instant::now();
    while temp_files(&dir).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no temporary output"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    kill("HUP", child.id());
    std::thread::sleep(Duration::from_millis(200));
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(dir.read("out.cov"), "mode: set\na.go:1.1,2.2 1 1\n");
});

// Once `-o`'s rename is done the run has succeeded; freeing a large merge's
// memory takes a moment after it. A SIGTERM sent the moment the new file
// appears must not turn the run into a failure with the new file in place.
covtest!(sigterm_after_the_rename_is_a_success, |dir: Dir| {
    dir.create("big.out", profile(2_500_000));
    let mut results = Vec::new();
    for _ in 0..2 {
        dir.create("out.cov", PRECIOUS);
        let old = fs::metadata(dir.path("out.cov")).unwrap().len();
        let mut child = spawn_covmerge(&dir, &["big.out", "-o", "out.cov"]);
        // The rename replaces the small file with the large one: watch its
        // size, as fast as stat allows.
        let start = Instant::now();
        loop {
            if fs::metadata(dir.path("out.cov")).is_ok_and(|m| m.len() != old) {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "covmerge ended before the rename was seen"
            );
            assert!(start.elapsed() < Duration::from_secs(300), "no rename");
        }
        kill("TERM", child.id());
        let out = child.wait_with_output().unwrap();
        results.push(out.status.code());
        let merged = fs::read_to_string(dir.path("out.cov")).unwrap();
        assert!(merged.starts_with("mode: count\n") && merged.len() > 90_000_000);
        assert_eq!(temp_files(&dir), Vec::<String>::new());
    }
    assert_eq!(results, [Some(0), Some(0)]);
});

// Replacing a file keeps its permission bits: a private 0600 profile stays
// private, a shared 0664 one shared (whatever the umask).
covtest!(output_over_a_file_keeps_its_mode, |dir: Dir| {
    dir.create("a.out", "mode: set\na.go:1.1,2.2 1 1\n");
    for (tool, args) in [
        ("covmerge", vec!["a.out"]),
        ("covreport", vec!["--format", "lcov", "a.out"]),
    ] {
        for mode in [0o600, 0o664, 0o640] {
            let out = dir.create("out", PRECIOUS);
            fs::set_permissions(&out, fs::Permissions::from_mode(mode)).unwrap();
            dir.tool(tool).args(&args).args(["-o", "out"]).stdout();
            let now = fs::metadata(&out).unwrap().permissions().mode() & 0o7777;
            assert_eq!(now, mode, "{tool}: {now:o}, expected {mode:o}");
            assert_ne!(dir.read("out"), PRECIOUS);
        }
    }
    // A new file is made as any other: 0666 less the umask.
    let (_, _) = dir
        .command("sh")
        .args(["-c", "umask 027; exec \"$0\" a.out -o fresh"])
        .arg(bin("covmerge"))
        .expect_code(0);
    let fresh = fs::metadata(dir.path("fresh"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(fresh, 0o640, "{fresh:o}");
});
