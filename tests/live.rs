//! The harness (tools/harness) and the two build kinds: the harness compiles
//! under every go.mod language version, is embedded in the xtask, serves the
//! killswitch contract (covcore::contract), and the cover kind (`go build
//! -cover` of the real main) gives exactly the blocks of a plain `go build
//! -cover`, live snapshots, resets and counters on SIGTERM. Real Go, real
//! processes, `go tool covdata` as the oracle.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use covcore::contract;
use xtask::build_services::{self, BuildKind, BuildOptions, Built, Harness, ServiceBuild};

use crate::util::{require_go, Dir};

// ---------------------------------------------------------------------------
// Helpers: modules, builds, processes, HTTP, `go tool covdata`.

/// A one-service module with the given go.mod `go` line, written only with
/// what Go 1.16 accepts.
const OLD_STYLE_MAIN: &str = r#"package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	if err := http.ListenAndServe(*addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
"#;

fn write_module(dir: &Dir, name: &str, go_line: &str) -> PathBuf {
    dir.create(
        format!("{name}/go.mod"),
        format!("module example.com/{name}\n\ngo {go_line}\n"),
    );
    dir.create(format!("{name}/main.go"), OLD_STYLE_MAIN);
    dir.path(name)
}

/// The notify module (tests/modules/notify).
fn notify_module() -> PathBuf {
    crate::util::project_root().join("tests/modules/notify")
}

fn go_version(go: &Path) -> String {
    let out = Command::new(go)
        .args(["env", "GOVERSION"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("go")
        .to_string()
}

/// One build_services call: `services` are (name, package, kind).
fn build(
    go: &Path,
    module: &Path,
    out: PathBuf,
    mode: &str,
    coverpkg: &str,
    services: &[(&str, &str, BuildKind)],
) -> anyhow::Result<Vec<Built>> {
    build_services::build_services(&BuildOptions {
        go: go.to_path_buf(),
        module_dir: module.to_path_buf(),
        out_dir: out,
        cover_mode: mode.into(),
        cover_packages: coverpkg.into(),
        services: services
            .iter()
            .map(|(name, package, kind)| ServiceBuild {
                name: name.to_string(),
                package: package.to_string(),
                harness: Harness::Covtools(*kind),
            })
            .collect(),
        jobs: 2,
    })
}

fn free_addr() -> String {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

struct Answer {
    code: u16,
    head: String,
    body: String,
}

impl Answer {
    fn harness(&self) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(contract::HARNESS_HEADER)
                .then_some(v.trim())
        })
    }
}

/// A minimal HTTP/1.0 request on loopback.
fn http(method: &str, addr: &str, path: &str, body: &str) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(Answer {
        code,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// GET, retrying while nothing listens yet.
fn get(addr: &str, path: &str) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match http("GET", addr, path, "") {
            Ok(a) => return a,
            Err(e) if Instant::now() > deadline => panic!("GET http://{addr}{path}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A process in its own process group, killed when dropped.
struct Proc {
    child: Child,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    fn spawn(dir: &Dir, name: &str, cmd: &mut Command) -> Proc {
        let stderr = dir.path(format!("{name}.stderr"));
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(dir.path(format!("{name}.stdout"))).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        Proc {
            child,
            stderr,
            status: None,
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                self.status = Some(s);
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {timeout:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts a built binary the way the wrapper does: the test kind with the
/// harness test and a text profile, the cover kind as the real main with
/// GOCOVERDIR.
fn start(dir: &Dir, built: &Built, killswitch: &str, cover: &Path, args: &[&str]) -> Proc {
    let mut cmd = Command::new(&built.binary);
    cmd.env(contract::ENV_KILLSWITCH_ADDR, killswitch);
    match built.kind {
        BuildKind::Test => {
            fs::create_dir_all(cover).unwrap();
            cmd.arg(format!("-test.run=^{}$", built.test))
                .arg(format!(
                    "-test.coverprofile={}",
                    cover.join("profile.out").display()
                ))
                .arg("--");
        }
        BuildKind::Cover => {
            fs::create_dir_all(cover).unwrap();
            cmd.env("GOCOVERDIR", cover);
        }
    }
    cmd.args(args);
    Proc::spawn(dir, &built.name, &mut cmd)
}

/// `go tool covdata textfmt` of a GOCOVERDIR: the oracle for binary data.
fn textfmt(go: &Path, cover: &Path, out: &Path) -> String {
    let res = Command::new(go)
        .args(["tool", "covdata", "textfmt"])
        .arg(format!("-i={}", cover.display()))
        .arg(format!("-o={}", out.display()))
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "covdata textfmt: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    fs::read_to_string(out).unwrap()
}

/// The blocks of a text profile (file:positions numStmts) and the covered ones.
fn blocks(profile: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut all = BTreeSet::new();
    let mut covered = BTreeSet::new();
    for line in profile.lines().skip(1).filter(|l| !l.is_empty()) {
        let (block, count) = line.rsplit_once(' ').unwrap();
        all.insert(block.to_string());
        if count != "0" {
            covered.insert(block.to_string());
        }
    }
    (all, covered)
}

fn files_of(blocks: &BTreeSet<String>) -> BTreeSet<String> {
    blocks
        .iter()
        .map(|b| b.split_once(':').unwrap().0.to_string())
        .collect()
}

/// The complete binary coverage files of a directory (names only).
fn covfiles(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.starts_with(contract::COVMETA_PREFIX)
                        || n.starts_with(contract::COVCOUNTERS_PREFIX)
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Issue 8 item 1: every go.mod language version; item 8: embedded harness.

#[test]
fn the_harness_builds_and_runs_under_every_go_mod_language_version_in_both_kinds() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("live_go_mod_versions");
    let newest = go_version(&go);
    for version in ["1.16", "1.17", "1.21", newest.as_str()] {
        let label = format!("v{}", version.replace('.', "_"));
        let module = write_module(&dir, &label, version);
        let built = build(
            &go,
            &module,
            dir.path(format!("{label}-bin")),
            "atomic",
            &format!("example.com/{label}/..."),
            &[("t", ".", BuildKind::Test), ("c", ".", BuildKind::Cover)],
        )
        .unwrap_or_else(|e| panic!("go {version}: {e:#}"));
        for b in &built {
            let (killswitch, addr) = (free_addr(), free_addr());
            let cover = dir.path(format!("{label}-{}-cover", b.name));
            let mut p = start(&dir, b, &killswitch, &cover, &["-addr", &addr]);
            assert_eq!(get(&addr, "/hello").body, "hello\n");
            let stop = get(&killswitch, contract::KILL_PATH);
            assert_eq!(stop.code, 200, "go {version} {}: {}", b.name, stop.body);
            let status = p.wait(Duration::from_secs(20));
            assert!(status.success(), "go {version} {}: {status}", b.name);
            let profile = match b.kind {
                BuildKind::Test => fs::read_to_string(cover.join("profile.out")).unwrap(),
                BuildKind::Cover => textfmt(&go, &cover, &dir.path(format!("{label}.txt"))),
            };
            let (all, covered) = blocks(&profile);
            assert_eq!(
                files_of(&all),
                BTreeSet::from([format!("example.com/{label}/main.go")]),
                "go {version} {}",
                b.name
            );
            // main, its handler and the /hello request ran.
            assert!(covered.len() >= 2, "go {version} {}: {profile}", b.name);
        }
    }
    // The user's tree holds only what it held.
    let names: BTreeSet<_> = fs::read_dir(dir.path("v1_16"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, BTreeSet::from(["go.mod".into(), "main.go".into()]));
}

#[test]
fn a_module_needing_a_newer_go_says_which_versions() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("live_go_mod_too_new");
    let module = write_module(&dir, "future", "1.99");
    for kind in [BuildKind::Test, BuildKind::Cover] {
        let err = format!(
            "{:#}",
            build(
                &go,
                &module,
                dir.path("bin"),
                "count",
                "example.com/future/...",
                &[("svc", ".", kind)],
            )
            .unwrap_err()
        );
        let have = go_version(&go);
        assert!(
            err.contains("go.mod:3: the module needs go 1.99")
                && err.contains(&format!("(go{have}"))
                && err.contains("install Go 1.99 or later"),
            "{err}"
        );
    }
}

#[test]
fn the_harness_sources_are_embedded_in_the_xtask() {
    let root = crate::util::project_root();
    assert_eq!(
        build_services::HARNESS_TEST_SOURCE,
        fs::read_to_string(root.join("tools/harness/covtools_harness_test.go")).unwrap()
    );
    assert_eq!(
        build_services::HARNESS_COVER_SOURCE,
        fs::read_to_string(root.join("tools/harness/cover/harness.go")).unwrap()
    );
    let Some(go) = require_go() else { return };
    // A build reads no harness from any checkout: the overlay and the cover
    // kind's copy point into the output directory, at the embedded text.
    let dir = Dir::new("live_embedded_harness");
    let module = write_module(&dir, "emb", "1.21");
    build(
        &go,
        &module,
        dir.path("bin"),
        "atomic",
        "example.com/emb/...",
        &[("t", ".", BuildKind::Test), ("c", ".", BuildKind::Cover)],
    )
    .unwrap();
    let overlay = dir.read("bin/.overlay/t.json");
    let source = dir.path("bin/.overlay/t.covtools_harness_test.go");
    assert!(overlay.contains(&*source.to_string_lossy()), "{overlay}");
    assert!(!overlay.contains(&*root.join("tools").to_string_lossy()));
    assert_eq!(
        fs::read_to_string(&source).unwrap(),
        build_services::HARNESS_TEST_SOURCE
    );
    let go_mod = dir.read("bin/.cover-src/module/go.mod");
    assert!(
        go_mod.contains(&format!(
            "replace covtools.local/harness => {}",
            dir.path("bin/.cover-src/harness").display()
        )),
        "{go_mod}"
    );
    assert_eq!(
        dir.read("bin/.cover-src/harness/harness.go"),
        build_services::HARNESS_COVER_SOURCE
    );
}
