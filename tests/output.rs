//! Outputs under failure: a full disk, a rename that cannot happen, SIGINT
//! and SIGTERM mid-run, a closed or full stdout. A failed or interrupted run
//! leaves the good output as it was and no temporary file behind.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::output::{covmerge_reading, profile, spawn_covmerge};
use crate::util::*;

const PRECIOUS: &str = "mode: set\nprecious.go:1.1,2.1 1 1\n";

fn assert_no_temp_file(dir: &Path) {
    let names = entries(dir);
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "a temporary file was left in {}: {names:?}",
        dir.display()
    );
}

/// A 1 MiB tmpfs at `dir`, unmounted on drop; `None` where mounting is not
/// permitted (not root, or no mount namespace rights).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> Option<SmallDisk> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

// A write that fails: the disk is full (a 1 MiB tmpfs, where this test may
// mount one) or the file size limit is reached (RLIMIT_FSIZE, with SIGXFSZ
// ignored so that write(2) fails with EFBIG instead of killing the tool).
// Both when the output fits the write buffer (the failure comes at the final
// flush) and when it does not (the failure comes mid-write).
covtest!(
    failed_write_leaves_no_temp_file_and_the_output_intact,
    |dir: Dir| {
        let small = profile(14_000); // about 600 KB
        let large = profile(80_000); // about 3.4 MB
        dir.create("small.out", &small);
        dir.create("large.out", &large);

        // The file size limit: any user can set it.
        let out_dir = dir.path("limited");
        fs::create_dir_all(&out_dir).unwrap();
        for input in ["small.out", "large.out"] {
            fs::write(out_dir.join("out.cov"), PRECIOUS).unwrap();
            let script = "trap '' XFSZ; ulimit -f 256; exec \"$0\" \"$@\"";
            let (_, err) = dir
                .command("bash")
                .args(["-c", script])
                .arg(bin("covmerge"))
                .args([input, "-o", "limited/out.cov"])
                .expect_code(2);
            assert!(err.contains("limited/out.cov"), "{input}: {err}");
            assert!(err.contains("File too large"), "{input}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert_eq!(
                fs::read_to_string(out_dir.join("out.cov")).unwrap(),
                PRECIOUS
            );
            assert_eq!(entries(&out_dir), ["out.cov"], "{input}");
        }

        // A full disk, where a tmpfs can be mounted (root): the good output
        // fills half of it, the new one does not fit beside it.
        let disk = dir.path("small");
        let Some(_mounted) = SmallDisk::mount(&disk) else {
            eprintln!("(mount not permitted here: the full-disk half of this test did not run)");
            return;
        };
        let good = profile(11_000);
        fs::write(disk.join("out.cov"), &good).unwrap();
        for input in ["small.out", "large.out"] {
            let (_, err) = dir
                .tool("covmerge")
                .args([input, "-o", "small/out.cov"])
                .expect_code(2);
            assert!(err.contains("No space left on device"), "{input}: {err}");
            assert_eq!(fs::read_to_string(disk.join("out.cov")).unwrap(), good);
            assert_eq!(entries(&disk), ["out.cov"], "{input}");
        }
    }
);

covtest!(
    output_that_cannot_be_a_file_leaves_no_temp_file,
    |dir: Dir| {
        dir.create("a.out", PRECIOUS);
        fs::create_dir_all(dir.path("existing")).unwrap();
        for (dest, want) in [
            ("existing", "existing: is a directory"),
            ("new/", "new/: names a directory"),
            ("existing/", "existing/: is a directory"),
        ] {
            let (out, err) = dir
                .tool("covmerge")
                .args(["a.out", "-o", dest])
                .expect_code(2);
            assert_eq!(out, "");
            assert!(err.contains(want), "{dest}: {err}");
            assert_no_temp_file(&dir.root);
            assert_no_temp_file(&dir.path("existing"));
            assert!(!dir.path("new").exists());
        }
    }
);

/// Sends `signal` to a covmerge that is writing `-o out.cov` and checks the
/// exit status, the good output and that no temporary file is left.
fn interrupt_while_writing(dir: &Dir, signal: &str, want_code: i32) {
    // Large enough that writing it takes a while even in a release build.
    let big = profile(2_500_000);
    dir.create("big.out", &big);
    drop(big);
    dir.create("out.cov", PRECIOUS);
    let mut child = spawn_covmerge(dir, &["big.out", "-o", "out.cov"]);
    // Writing has begun once the temporary file holds data.
    let start = Instant::now();
    let writing = loop {
        let tmp = entries(&dir.root)
            .into_iter()
            .find(|n| n.ends_with(".tmp"))
            .map(|n| dir.path(n));
        if tmp.is_some_and(|t| fs::metadata(t).is_ok_and(|m| m.len() > 0)) {
            break true;
        }
        if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(120) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(writing, "covmerge ended or stalled before writing began");
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(want_code),
        "{signal}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dir.read("out.cov"), PRECIOUS);
    assert_no_temp_file(&dir.root);
}

covtest!(sigterm_while_writing_leaves_no_temp_file, |dir: Dir| {
    interrupt_while_writing(&dir, "TERM", 143);
});

covtest!(sigint_while_writing_leaves_no_temp_file, |dir: Dir| {
    interrupt_while_writing(&dir, "INT", 130);
});

// A signal while covmerge still reads (stdin held open by this test): the
// output, opened first, is cleaned up as well.
covtest!(sigterm_while_reading_leaves_no_temp_file, |dir: Dir| {
    dir.create("out.cov", PRECIOUS);
    let (child, stdin) = covmerge_reading(&dir, &profile(1000));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(143), "{:?}", out.status);
    assert_eq!(dir.read("out.cov"), PRECIOUS);
    assert_no_temp_file(&dir.root);
});

covtest!(closed_stdout_is_an_error, |dir: Dir| {
    dir.create("a.out", PRECIOUS);
    for tool in ["covmerge", "covtotal"] {
        let (out, err) = dir
            .command("bash")
            .args(["-c", "exec \"$0\" \"$@\" >&-"])
            .arg(bin(tool))
            .arg("a.out")
            .expect_code(2);
        assert_eq!(out, "");
        assert_eq!(err, format!("{tool}: writing to stdout: stdout is closed; redirect it to where the output should go\n"));
    }
    // With -o, covmerge does not need stdout.
    dir.command("bash")
        .args(["-c", "exec \"$0\" \"$@\" >&-"])
        .arg(bin("covmerge"))
        .args(["a.out", "-o", "m.cov"])
        .expect_code(0);
    assert_eq!(dir.read("m.cov"), PRECIOUS);
    // A stdout redirected to /dev/null is not closed.
    dir.command("bash")
        .args(["-c", "exec \"$0\" \"$@\" >/dev/null"])
        .arg(bin("covtotal"))
        .arg("a.out")
        .expect_code(0);
});

covtest!(full_stdout_names_stdout, |dir: Dir| {
    dir.create("a.out", PRECIOUS);
    for tool in ["covmerge", "covtotal"] {
        let out = Command::new(bin(tool))
            .current_dir(&dir.root)
            .arg("a.out")
            .stdout(
                fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{tool}: {err}");
        assert_eq!(
            err,
            format!("{tool}: writing to stdout: No space left on device (os error 28)\n")
        );
    }
});

// A rename that fails for real: the destination becomes a non-empty
// directory while covmerge still reads (stdin held open by this test), so
// the checks made when the output was opened passed and only the final
// rename can fail.
covtest!(failed_rename_leaves_no_temp_file, |dir: Dir| {
    let (child, stdin) = covmerge_reading(&dir, PRECIOUS);
    dir.create(
        "out.cov/keep",
        "a file that makes the directory non-empty\n",
    );
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("out.cov: cannot replace it with the new file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(entries(&dir.root), ["out.cov"]);
    assert_eq!(entries(&dir.path("out.cov")), ["keep"]);
});
