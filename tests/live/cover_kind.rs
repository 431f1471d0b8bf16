//! The cover build kind: `go build -cover` of the real main with the
//! harness package, against a plain `go build -cover` of the same module.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use covcore::contract;
use covjob::build_services::{self, BuildKind, Built};

use super::*;
use crate::util::{require_go, Dir};

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

/// The cover-kind notifyd started with a killswitch of its own, writing
/// into `dir/cover`: the process, its address, its killswitch, the cover dir.
fn spawn_cover_kind(dir: &Dir, b: &NotifyBuilds) -> (Proc, String, String, PathBuf) {
    let (addr, killswitch) = (free_addr(), free_addr());
    let cover = dir.path("cover");
    let mut cmd = notify_cmd(&b.cover_kind.binary, port_of(&addr), &cover);
    cmd.env(contract::ENV_KILLSWITCH_ADDR, &killswitch);
    let p = Proc::spawn(dir, "notifyd", &mut cmd);
    (p, addr, killswitch, cover)
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
        profiles.push(covdata_textfmt(
            &b.go,
            &[&newest],
            &dir.path(format!("{name}.txt")),
        ));
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
    let (mut p, addr, killswitch, cover) = spawn_cover_kind(&dir, &b);
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
        let text = covdata_textfmt(&b.go, &[&only], &dir.path(format!("snap{n}.txt")));
        (names, text)
    };
    let (first, p1) = flush(1);
    let (second, p2) = flush(2);
    assert_ne!(first[1], second[1], "a new counter file each time");
    assert_eq!(p1, p2, "two flushes with no traffic between them");
    // Listed and served as they are: no snapshot taken.
    let list = get(&killswitch, contract::LIST_PATH);
    assert_eq!((list.code, list.harness()), (200, Some("cover")));
    let mut listed: Vec<String> = list
        .body
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
        .collect();
    listed.sort();
    let mut want = second.clone();
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(covfiles(&cover), want.iter().cloned().collect());
    // Binary files: read with covtarget's client, bytes as they are.
    let files =
        covtarget::http::get(&killswitch, contract::FILES_PATH, Duration::from_secs(30)).unwrap();
    assert_eq!(
        (files.status, files.header(contract::HARNESS_HEADER)),
        (200, Some("cover"))
    );
    let first = fs::read(cover.join(&want[0])).unwrap();
    let mut frame = format!("{} {}\n", want[0], first.len()).into_bytes();
    frame.extend_from_slice(&first);
    assert!(files.body.starts_with(&frame));
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
    let last = covdata_textfmt(&b.go, &[&cover], &dir.path("final.txt"));
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
    let (mut p, _, killswitch, cover) = spawn_cover_kind(&dir, &b);
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
    let profile = covdata_textfmt(&go, &[&cover], &dir.path("harness.txt"));
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
    let config = covjob::config::Config::parse_with(
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
    covjob::docker_images::build_base_image(&base).unwrap_or_else(|e| panic!("{e:#}"));
    let images = covjob::docker_images::service_images(&config, &bin_dir, &prefix, "t").unwrap();
    let img = &images[0];
    assert!(img
        .env
        .contains(&(contract::ENV_COVER_KIND.into(), "cover".into())));
    cleanup.0.push(("image", img.image.clone()));
    covjob::docker_images::build_images(&images, &base, &dir.path("contexts"))
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
    let snapshot = covdata_textfmt(&go, &[&snapshot], &dir.path("snapshot.txt"));

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
    let profile = covdata_textfmt(&go, &[&out], &dir.path("final.txt"));
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

    // The same container started again: the same cover directory, and
    // process ids counting from the same numbers in its fresh namespace.
    // The first run's counters are kept apart from the second's, so the
    // collected counts are both runs' together.
    docker_ok(&["start", &name]);
    drive_notify(&port("8080/tcp"));
    docker_ok(&["stop", "-t", "20", &name]);
    let again = dir.path("cover-again");
    docker_ok(&["cp", &format!("{name}:/cover"), &again.to_string_lossy()]);
    let counters: Vec<_> = covfiles(&again)
        .into_iter()
        .filter(|f| f.starts_with(contract::COVCOUNTERS_PREFIX))
        .collect();
    assert_eq!(counters.len(), 2, "one counter file per run: {counters:?}");
    let both = covdata_textfmt(&go, &[&again], &dir.path("both.txt"));
    let main = fs::read_to_string(module.join("cmd/notifyd/main.go")).unwrap();
    let line = |needle: &str| main.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let notify_handler = line("\"/notify\"")..line("\"/inbox/\"");
    let handler_counts = |p: &str| -> u64 {
        p.lines()
            .filter_map(|l| {
                let (block, count) = l
                    .strip_prefix("example.com/notify/cmd/notifyd/main.go:")?
                    .rsplit_once(' ')?;
                let start: usize = block.split('.').next()?.parse().ok()?;
                notify_handler
                    .contains(&start)
                    .then(|| count.parse::<u64>().unwrap())
            })
            .sum()
    };
    let once = handler_counts(&profile);
    assert!(once >= 3, "{profile}");
    assert_eq!(handler_counts(&both), 2 * once, "{both}");
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
