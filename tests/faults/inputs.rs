//! Inputs that cannot be read as they claim: a directory that cannot be
//! listed, a meta-data file whose file name is not UTF-8, a Docker socket
//! that is not there.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::util::faults::{cover_dir, unprivileged};
use crate::util::report::run_ok;
use crate::util::*;

// A directory that cannot be listed may well hold coverage files: its own
// error is the cause, as an unreadable file's is.
covtest!(unreadable_directory_names_the_real_cause, |dir: Dir| {
    let locked = dir.path("locked");
    fs::create_dir_all(&locked).unwrap();
    dir.create("locked/cover-1.out", "mode: set\na.go:1.1,2.2 1 1\n");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o311)).unwrap();
    for tool in ["covmerge", "covtotal"] {
        let Some(mut cmd) = unprivileged(&bin(tool)) else {
            crate::util::skip::skip("running as root without setpriv to drop the rights");
            return;
        };
        let out = cmd.current_dir(&dir.root).arg("locked").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{tool}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("locked: cannot list the directory") && err.contains("Permission denied"),
            "{tool}: {err}"
        );
        assert!(!err.contains("without covmeta"), "{tool}: {err}");
    }
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
});

/// Replaces the first occurrence of `from` in `data` by `to` (same length).
fn patch(data: &mut [u8], from: &[u8], to: &[u8]) {
    let at = data
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not in the file", String::from_utf8_lossy(from)));
    data[at..at + to.len()].copy_from_slice(to);
}

// A file name inside a meta-data file is bytes, as Go keeps it: a byte that
// is not UTF-8 goes into the profile as it is (what `go tool covdata
// textfmt` writes), never rewritten as U+FFFD.
covtest!(meta_file_names_keep_their_bytes_as_go_does, |dir: Dir| {
    let Some(go) = require_go() else { return };
    let cov = cover_dir(&dir, &go);
    let meta = crate::util::covdata::files_starting(&cov, "covmeta.")[0].clone();
    let mut data = fs::read(&meta).unwrap();
    patch(&mut data, b"prog/main.go", b"prog/m\xffin.go");
    fs::write(&meta, data).unwrap();

    let go_text = dir.path("go.txt");
    run_ok(
        std::process::Command::new(&go)
            .args(["tool", "covdata", "textfmt"])
            .arg(format!("-i={}", cov.display()))
            .arg(format!("-o={}", go_text.display())),
    );
    assert!(
        fs::read(&go_text)
            .unwrap()
            .windows(6)
            .any(|w| w == b"m\xffin.g"),
        "Go's textfmt keeps the byte"
    );
    let ours = dir.tool("covmerge").arg(&cov).output();
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let theirs = dir.tool("covmerge").arg(&go_text).output();
    assert!(theirs.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&theirs.stdout)
    );
    assert_eq!(ours.stdout, theirs.stdout, "the same bytes as Go's");

    // A newline no profile line can carry: refused, naming the file.
    let mut data = fs::read(&meta).unwrap();
    patch(&mut data, b"prog/m\xffin.go", b"prog/m\nin.go");
    fs::write(&meta, data).unwrap();
    let (_, err) = dir.tool("covmerge").arg(&cov).expect_code(2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&meta.display().to_string()) && err.contains("newline"),
        "{err}"
    );
});

// With DOCKER_HOST naming a socket that is not there, the socket is the
// cause: the CLI missing from PATH is only why nothing else was tried.
covtest!(docker_host_on_a_missing_socket_is_named, |dir: Dir| {
    let empty = dir.path("empty");
    fs::create_dir_all(&empty).unwrap();
    for tool in ["covkill", "covpull"] {
        let mut cmd = dir.tool(tool);
        cmd.cmd.env_clear();
        cmd.env("PATH", &empty)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
        if tool == "covpull" {
            cmd.args(["--out", "pulled"]);
        }
        let out = cmd.arg("docker:some-service").output();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{tool}: {err}");
        assert!(
            err.contains("DOCKER_HOST=unix:///nonexistent/docker.sock: cannot connect to the Docker Engine at /nonexistent/docker.sock"),
            "{tool}: {err}"
        );
        assert!(!err.contains("docker: not found"), "{tool}: {err}");
    }
});
