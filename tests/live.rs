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

/// The reader's rule (covcore::contract): every meta-data file, and per
/// (meta hash, pid) only the counter file with the largest nanotime; copied
/// into `to`.
fn newest_per_process(from: &Path, to: &Path) -> PathBuf {
    fs::create_dir_all(to).unwrap();
    let mut newest: std::collections::BTreeMap<(String, String), (u64, String)> =
        Default::default();
    for name in covfiles(from) {
        if name.starts_with(contract::COVMETA_PREFIX) {
            fs::copy(from.join(&name), to.join(&name)).unwrap();
            continue;
        }
        let parts: Vec<&str> = name.split('.').collect();
        let (hash, pid, nanos) = (parts[1], parts[2], parts[3].parse::<u64>().unwrap());
        let slot = newest
            .entry((hash.into(), pid.into()))
            .or_insert((0, String::new()));
        if nanos >= slot.0 {
            *slot = (nanos, name.clone());
        }
    }
    for (_, name) in newest.values() {
        fs::copy(from.join(name), to.join(name)).unwrap();
    }
    to.to_path_buf()
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

// ---------------------------------------------------------------------------
// The killswitch contract of the test kind.

#[test]
fn test_kind_harness_answers_the_contract_and_refuses_snapshots_at_once() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("live_test_kind_contract");
    let module = write_module(&dir, "tk", "1.17");
    let built = build(
        &go,
        &module,
        dir.path("bin"),
        "count",
        "example.com/tk/...",
        &[("svc", ".", BuildKind::Test)],
    )
    .unwrap();
    for stop_path in [contract::KILL_PATH, "/"] {
        let (killswitch, addr) = (free_addr(), free_addr());
        let cover = dir.path(format!("cover{}", stop_path.len()));
        let mut p = start(&dir, &built[0], &killswitch, &cover, &["-addr", &addr]);
        let unknown = get(&killswitch, "/nope");
        assert_eq!(
            (unknown.code, unknown.harness()),
            (404, Some("test")),
            "{}",
            unknown.head
        );
        for path in [contract::FLUSH_PATH, contract::RESET_PATH] {
            let started = Instant::now();
            let a = get(&killswitch, path);
            assert!(started.elapsed() < Duration::from_secs(2));
            assert_eq!((a.code, a.harness()), (501, Some("test")), "{path}");
            assert_eq!(a.body.lines().count(), 1, "{}", a.body);
            assert!(
                a.body.contains("build kind test")
                    && a.body.contains("covermode count")
                    && a.body.contains("kind = \"cover\"")
                    && a.body.contains("atomic"),
                "{}",
                a.body
            );
        }
        // Still serving after both refusals.
        assert_eq!(get(&addr, "/hello").code, 200);
        let stop = get(&killswitch, stop_path);
        assert_eq!((stop.code, stop.harness()), (200, Some("test")));
        assert!(p.wait(Duration::from_secs(20)).success());
        assert!(fs::read_to_string(cover.join("profile.out"))
            .unwrap()
            .starts_with("mode: count\n"));
    }
}

// ---------------------------------------------------------------------------
// The cover kind.

/// notifyd built both ways from its module: the cover kind through the
/// xtask, and a plain `go build -cover` of the same module with the same
/// flags (the oracle).
struct NotifyBuilds {
    go: PathBuf,
    cover_kind: Built,
    plain: PathBuf,
}

fn notify_builds(dir: &Dir, mode: &str) -> Option<NotifyBuilds> {
    let go = require_go()?;
    let module = notify_module();
    let built = build(
        &go,
        &module,
        dir.path("bin"),
        mode,
        "example.com/notify/...",
        &[("notifyd", "./cmd/notifyd", BuildKind::Cover)],
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let plain = dir.path("plain/notifyd");
    let res = Command::new(&go)
        .current_dir(&module)
        .env("CGO_ENABLED", "0")
        .env("GOTOOLCHAIN", "local")
        .args(["build", "-cover", &format!("-covermode={mode}")])
        .args(["-coverpkg=example.com/notify/...", "-o"])
        .arg(&plain)
        .arg("./cmd/notifyd")
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    Some(NotifyBuilds {
        go,
        cover_kind: built.into_iter().next().unwrap(),
        plain,
    })
}

/// The same traffic for both builds: one accepted message taken back, one
/// rejected, and one left pending.
fn drive_notify(addr: &str) {
    assert_eq!(get(addr, "/healthz").code, 200);
    let ok = http("POST", addr, "/notify", r#"{"to":"ann","text":"hi"}"#).unwrap();
    assert_eq!(ok.code, 202, "{}", ok.body);
    assert!(get(addr, "/inbox/ann").body.contains("\"hi\""));
    let bad = http("POST", addr, "/notify", r#"{"to":" ","text":"x"}"#).unwrap();
    assert_eq!(bad.code, 422);
    let pending = http("POST", addr, "/notify", r#"{"to":"bob","text":"later"}"#).unwrap();
    assert_eq!(pending.code, 202);
}

fn notify_cmd(bin: &Path, port: &str, cover: &Path) -> Command {
    fs::create_dir_all(cover).unwrap();
    let mut cmd = Command::new(bin);
    cmd.env("NOTIFY_PORT", port)
        .env("NOTIFY_HOST", "127.0.0.1")
        .env("GOCOVERDIR", cover)
        .args(["-limit", "3"]);
    cmd
}

fn port_of(addr: &str) -> &str {
    addr.rsplit_once(':').unwrap().1
}

#[test]
fn cover_kind_blocks_are_those_of_a_plain_go_build_cover_and_sigterm_keeps_the_services_shutdown() {
    let dir = Dir::new("live_cover_kind_vs_plain");
    let Some(b) = notify_builds(&dir, "atomic") else {
        return;
    };
    let mut profiles = Vec::new();
    for (name, bin, with_harness) in [
        ("plain", b.plain.clone(), false),
        ("harness", b.cover_kind.binary.clone(), true),
    ] {
        let (addr, killswitch) = (free_addr(), free_addr());
        let cover = dir.path(format!("{name}-cover"));
        let mut cmd = notify_cmd(&bin, port_of(&addr), &cover);
        cmd.env(contract::ENV_KILLSWITCH_ADDR, &killswitch);
        let mut p = Proc::spawn(&dir, name, &mut cmd);
        drive_notify(&addr);
        if with_harness {
            assert_eq!(get(&killswitch, "/x").harness(), Some("cover"));
        }
        // notifyd handles SIGTERM itself: its graceful shutdown runs, and
        // its own exit status (4: a message was still pending) is kept.
        p.signal("TERM");
        let status = p.wait(Duration::from_secs(20));
        assert_eq!(status.code(), Some(4), "{name}: {}", p.stderr());
        assert!(p
            .stderr()
            .contains("graceful shutdown lost 1 undelivered message(s)"));
        // The harness races the service's exit to delete its snapshot
        // (none was taken here); readers keep the newest file per process.
        let newest = newest_per_process(&cover, &dir.path(format!("{name}-newest")));
        assert_eq!(
            covfiles(&newest).len(),
            2,
            "{name}: meta and one counter file"
        );
        profiles.push(textfmt(&b.go, &newest, &dir.path(format!("{name}.txt"))));
    }
    let (plain_all, plain_covered) = blocks(&profiles[0]);
    let (all, covered) = blocks(&profiles[1]);
    assert_eq!(
        files_of(&all),
        BTreeSet::from([
            "example.com/notify/cmd/notifyd/main.go".to_string(),
            "example.com/notify/internal/outbox/outbox.go".to_string()
        ])
    );
    assert_eq!(all, plain_all, "the block sets differ");
    assert_eq!(covered, plain_covered, "the covered sets differ");
    assert!(!profiles[1].contains("covtools"), "{}", profiles[1]);
    // The module's tree is untouched.
    assert!(!notify_module()
        .join("cmd/notifyd")
        .join(build_services::HARNESS_COVER_IMPORT_FILE)
        .exists());
}

#[test]
fn cover_kind_flush_writes_complete_cumulative_snapshots_and_reset_clears() {
    let dir = Dir::new("live_cover_kind_flush");
    let Some(b) = notify_builds(&dir, "atomic") else {
        return;
    };
    let (addr, killswitch) = (free_addr(), free_addr());
    let cover = dir.path("cover");
    let mut cmd = notify_cmd(&b.cover_kind.binary, port_of(&addr), &cover);
    cmd.env(contract::ENV_KILLSWITCH_ADDR, &killswitch);
    let mut p = Proc::spawn(&dir, "notifyd", &mut cmd);
    drive_notify(&addr);

    let flush = |n: usize| -> (Vec<String>, String) {
        let a = get(&killswitch, contract::FLUSH_PATH);
        assert_eq!((a.code, a.harness()), (200, Some("cover")), "{}", a.body);
        let names: Vec<String> = a.body.lines().map(str::to_string).collect();
        // Every name answered is in place, complete, and nothing else
        // (the previous snapshot of this process is gone).
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].starts_with(contract::COVMETA_PREFIX));
        assert!(names[1].starts_with(contract::COVCOUNTERS_PREFIX));
        assert_eq!(covfiles(&cover), names.iter().cloned().collect());
        let only = dir.path(format!("snap{n}"));
        fs::create_dir_all(&only).unwrap();
        for name in &names {
            fs::copy(cover.join(name), only.join(name)).unwrap();
        }
        let text = textfmt(&b.go, &only, &dir.path(format!("snap{n}.txt")));
        (names, text)
    };
    let (first, p1) = flush(1);
    let (second, p2) = flush(2);
    assert_ne!(first[1], second[1], "a new counter file each time");
    assert_eq!(p1, p2, "two flushes with no traffic between them");
    let (_, covered) = blocks(&p1);
    assert!(covered.len() > 10, "{p1}");

    // More traffic: the snapshot is cumulative.
    assert_eq!(get(&addr, "/inbox/bob").code, 200);
    let (_, p3) = flush(3);
    assert_ne!(p3, p2);
    let count = |profile: &str| -> u64 {
        profile
            .lines()
            .skip(1)
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum()
    };
    assert!(count(&p3) > count(&p2));

    // Reset: counters start again from zero.
    let reset = get(&killswitch, contract::RESET_PATH);
    assert_eq!((reset.code, reset.harness()), (200, Some("cover")));
    let (_, p4) = flush(4);
    let (_, covered4) = blocks(&p4);
    assert!(covered4.is_empty(), "{p4}");
    assert_eq!(get(&addr, "/healthz").code, 200);
    let (_, p5) = flush(5);
    let (_, covered5) = blocks(&p5);
    assert!(
        !covered5.is_empty() && covered5.len() < covered.len(),
        "{p5}"
    );

    // The killswitch: exit 0, Go's own final counters replace the snapshot.
    let stop = get(&killswitch, contract::KILL_PATH);
    assert_eq!((stop.code, stop.harness()), (200, Some("cover")));
    assert!(p.wait(Duration::from_secs(20)).success());
    let files = covfiles(&cover);
    assert_eq!(files.len(), 2, "{files:?}");
    let last = textfmt(&b.go, &cover, &dir.path("final.txt"));
    assert_eq!(
        blocks(&last).1,
        covered5,
        "nothing ran after the last flush"
    );
    assert!(fs::read_dir(&cover).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with('.')));
}

#[test]
fn cover_kind_in_count_mode_refuses_snapshots_naming_kind_and_mode() {
    let dir = Dir::new("live_cover_kind_count");
    let Some(b) = notify_builds(&dir, "count") else {
        return;
    };
    let (addr, killswitch) = (free_addr(), free_addr());
    let cover = dir.path("cover");
    let mut cmd = notify_cmd(&b.cover_kind.binary, port_of(&addr), &cover);
    cmd.env(contract::ENV_KILLSWITCH_ADDR, &killswitch);
    let mut p = Proc::spawn(&dir, "notifyd", &mut cmd);
    for path in [contract::FLUSH_PATH, contract::RESET_PATH] {
        let a = get(&killswitch, path);
        assert_eq!((a.code, a.harness()), (501, Some("cover")));
        assert!(
            a.body.contains("build kind cover with covermode count")
                && a.body.contains("cover_mode = \"atomic\""),
            "{}",
            a.body
        );
    }
    p.signal("TERM");
    assert_eq!(p.wait(Duration::from_secs(20)).code(), Some(0));
    assert_eq!(covfiles(&cover).len(), 2, "meta and final counters");
}

#[test]
fn cover_kind_writes_counters_when_the_service_does_not_handle_sigterm() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("live_cover_kind_unhandled_sigterm");
    let module = write_module(&dir, "plainsig", "1.21");
    let built = build(
        &go,
        &module,
        dir.path("bin"),
        "atomic",
        "example.com/plainsig/...",
        &[("svc", ".", BuildKind::Cover)],
    )
    .unwrap();
    let plain = dir.path("plain/svc");
    let res = Command::new(&go)
        .current_dir(&module)
        .env("GOTOOLCHAIN", "local")
        .args(["build", "-cover", "-covermode=atomic", "-o"])
        .arg(&plain)
        .arg(".")
        .output()
        .unwrap();
    assert!(res.status.success());

    // The trap: a plain `go build -cover` binary killed by SIGTERM, which it
    // does not handle, writes its meta-data and no counters.
    let addr = free_addr();
    let cover = dir.path("plain-cover");
    let mut cmd = Command::new(&plain);
    cmd.env("GOCOVERDIR", &cover).args(["-addr", &addr]);
    fs::create_dir_all(&cover).unwrap();
    let mut p = Proc::spawn(&dir, "plain", &mut cmd);
    assert_eq!(get(&addr, "/hello").code, 200);
    p.signal("TERM");
    let status = p.wait(Duration::from_secs(20));
    assert_eq!(status.signal(), Some(15));
    let files = covfiles(&cover);
    assert!(
        files
            .iter()
            .all(|f| f.starts_with(contract::COVMETA_PREFIX)),
        "{files:?}"
    );

    // The harness: after COVKILL_GRACE the process ends with 143 (what a
    // shell or Docker reports for death by SIGTERM) and Go writes counters.
    let (addr, killswitch) = (free_addr(), free_addr());
    let cover = dir.path("harness-cover");
    let mut cmd = Command::new(&built[0].binary);
    fs::create_dir_all(&cover).unwrap();
    cmd.env("GOCOVERDIR", &cover)
        .env(contract::ENV_KILLSWITCH_ADDR, &killswitch)
        .env(contract::ENV_GRACE, "300ms")
        .args(["-addr", &addr]);
    let mut p = Proc::spawn(&dir, "harness", &mut cmd);
    assert_eq!(get(&addr, "/hello").code, 200);
    // A snapshot before the signal is replaced by the final counters.
    assert_eq!(get(&killswitch, contract::FLUSH_PATH).code, 200);
    p.signal("TERM");
    let status = p.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(143), "{}", p.stderr());
    let counters: Vec<_> = covfiles(&cover)
        .into_iter()
        .filter(|f| f.starts_with(contract::COVCOUNTERS_PREFIX))
        .collect();
    assert_eq!(counters.len(), 1, "{counters:?}");
    let profile = textfmt(&go, &cover, &dir.path("harness.txt"));
    let (_, covered) = blocks(&profile);
    assert!(covered.len() >= 2, "{profile}");
}

// ---------------------------------------------------------------------------
// The cover kind in a container: the image's wrapper runs the real main with
// GOCOVERDIR; snapshots and `docker stop` both yield counters.

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes the containers and images it names when dropped.
struct DockerCleanup(Vec<(&'static str, String)>);

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        for (what, name) in &self.0 {
            let _ = match *what {
                "container" => docker(&["rm", "-f", "-v", name]),
                _ => docker(&["rmi", "-f", name]),
            };
        }
    }
}

#[test]
fn cover_kind_image_snapshots_live_and_docker_stop_keeps_the_services_shutdown() {
    let Some(go) = require_go() else { return };
    if !crate::util::require_docker() {
        return;
    }
    let dir = Dir::new("live_cover_kind_docker");
    let module = notify_module();
    let config = xtask::config::Config::parse_with(
        &fs::read_to_string(module.join("covtools.toml")).unwrap(),
        &module.join("covtools.toml"),
        &module,
        &[("build.kind".into(), "cover".into())],
    )
    .unwrap();
    assert_eq!(
        (config.build.kind, config.build.cover_mode.as_str()),
        (BuildKind::Cover, "atomic"),
        "--set build.kind=cover defaults the mode to atomic"
    );
    let bin_dir = dir.path("bin");
    let opts = BuildOptions::from_config(&config, go.clone(), bin_dir.clone());
    build_services::build_services(&opts).unwrap_or_else(|e| panic!("{e:#}"));

    let prefix = format!("covtools-live-{}", std::process::id());
    let mut cleanup = DockerCleanup(Vec::new());
    let base = format!("{prefix}-base:t");
    cleanup.0.push(("image", base.clone()));
    xtask::docker_images::build_base_image(&base).unwrap_or_else(|e| panic!("{e:#}"));
    let images = xtask::docker_images::service_images(&config, &bin_dir, &prefix, "t").unwrap();
    let img = &images[0];
    assert!(img
        .env
        .contains(&(contract::ENV_COVER_KIND.into(), "cover".into())));
    cleanup.0.push(("image", img.image.clone()));
    xtask::docker_images::build_images(&images, &base, &dir.path("contexts"))
        .unwrap_or_else(|e| panic!("{e:#}"));

    let name = format!("{prefix}-notifyd");
    cleanup.0.push(("container", name.clone()));
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        "127.0.0.1::8080",
        "-p",
        "127.0.0.1::19999",
        &img.image,
    ]);
    let port = |p: &str| -> String {
        docker_ok(&["port", &name, p])
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    let (addr, killswitch) = (port("8080/tcp"), port("19999/tcp"));
    drive_notify(&addr);
    let flush = get(&killswitch, contract::FLUSH_PATH);
    assert_eq!(
        (flush.code, flush.harness()),
        (200, Some("cover")),
        "{}",
        flush.body
    );
    let listed = docker_ok(&["exec", &name, "ls", "/cover"]);
    let listed: BTreeSet<&str> = listed.lines().collect();
    assert_eq!(listed, flush.body.lines().collect(), "only complete files");
    let snapshot = dir.path("snapshot");
    docker_ok(&["cp", &format!("{name}:/cover"), &snapshot.to_string_lossy()]);
    let snapshot = textfmt(&go, &snapshot, &dir.path("snapshot.txt"));

    // docker stop: the wrapper forwards SIGTERM, notifyd shuts down by
    // itself (a message is pending: its status 4), Go writes the counters.
    docker_ok(&["stop", "-t", "20", &name]);
    let code = docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    let logs = String::from_utf8_lossy(&docker(&["logs", &name]).stderr).into_owned();
    assert_eq!(code, "4", "{logs}");
    assert!(logs.contains("graceful shutdown lost 1"), "{logs}");
    let out = dir.path("cover");
    docker_ok(&["cp", &format!("{name}:/cover"), &out.to_string_lossy()]);
    let counters: Vec<_> = covfiles(&out)
        .into_iter()
        .filter(|f| f.starts_with(contract::COVCOUNTERS_PREFIX))
        .collect();
    assert_eq!(
        counters.len(),
        1,
        "the final counters replaced the snapshot: {counters:?}"
    );
    let profile = textfmt(&go, &out, &dir.path("final.txt"));
    let (all, covered) = blocks(&profile);
    assert_eq!(files_of(&all).len(), 2, "{profile}");
    assert!(!profile.contains("covtools"));
    assert!(covered.len() > 10, "{profile}");
    // The final counters include the shutdown path (the `lost` branch at
    // line 55), which ran after the snapshot.
    let lost_branch = |p: &str| -> Vec<bool> {
        p.lines()
            .filter(|l| l.contains("cmd/notifyd/main.go:55."))
            .map(|l| !l.ends_with(" 0"))
            .collect()
    };
    assert_eq!(lost_branch(&snapshot), [false], "{snapshot}");
    assert_eq!(lost_branch(&profile), [true], "{profile}");
}

#[test]
fn test_kind_runs_notifyd_too_and_loses_the_profile_only_when_main_calls_os_exit() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("live_test_kind_notify");
    let built = build(
        &go,
        &notify_module(),
        dir.path("bin"),
        "count",
        "example.com/notify/...",
        &[("notifyd", "./cmd/notifyd", BuildKind::Test)],
    )
    .unwrap();
    for (leave_pending, status, profile) in [(false, 0, true), (true, 4, false)] {
        let (addr, killswitch) = (free_addr(), free_addr());
        let cover = dir.path(format!("cover-{leave_pending}"));
        let mut cmd = Command::new(&built[0].binary);
        fs::create_dir_all(&cover).unwrap();
        cmd.env("NOTIFY_PORT", port_of(&addr))
            .env("NOTIFY_HOST", "127.0.0.1")
            .env(contract::ENV_KILLSWITCH_ADDR, &killswitch)
            .arg(format!("-test.run=^{}$", built[0].test))
            .arg(format!(
                "-test.coverprofile={}",
                cover.join("p.out").display()
            ))
            .args(["--", "-limit", "3"]);
        let mut p = Proc::spawn(&dir, &format!("notifyd-{leave_pending}"), &mut cmd);
        drive_notify(&addr);
        if !leave_pending {
            assert!(get(&addr, "/inbox/bob").body.contains("later"));
        }
        // Its flags were parsed in main from the arguments after "--".
        let r = http("POST", &addr, "/notify", r#"{"to":"cy","text":"1"}"#).unwrap();
        assert_eq!(r.code, 202);
        get(&addr, "/inbox/cy");
        p.signal("TERM");
        let got = p.wait(Duration::from_secs(20));
        assert_eq!(got.code(), Some(status), "{}", p.stderr());
        // The test binary writes its text profile when main returns; a
        // main that ends with os.Exit skips it (the cover kind does not).
        assert_eq!(cover.join("p.out").is_file(), profile, "{}", p.stderr());
    }
}
