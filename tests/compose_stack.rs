//! A stack with a real database, as its developers run it: the kvstore
//! example (tests/modules/kvstore, a Go service keeping its state in Redis)
//! brought up from its own compose file by the real Compose CLI, with the
//! `redis:7` that `cargo xtask dep-images` builds from Debian's packages.
//! The native run here (the service built with `go build -cover`) is the
//! oracle a measured compose run is compared with.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::compose::dep_images::{self, Recipe, State};
use crate::util::compose::{module, native_compose_run, require_compose};
use crate::util::{docker, docker_ok, require_docker, require_go, Dir};

/// The whole stack: Redis healthy before the service starts, the module's
/// suite passing against the published port, the service stopping cleanly
/// on SIGTERM with its counters written, the persistence code covered, and
/// nothing of the project left once it is down.
#[test]
fn kvstore_runs_with_compose_and_its_persistence_code_is_covered() {
    let Some(go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    if require_compose().is_none() {
        return;
    }
    let dir = Dir::new("compose_stack_kvstore");
    // A free loopback port: the compose file publishes `${KVSTORE_PORT:-8080}`.
    let run = native_compose_run(&dir, &go, "kvstore", &[("KVSTORE_PORT", "127.0.0.1:0")]);
    eprintln!(
        "kvstore stack answered {:.1} s after up",
        run.up_to_ready.as_secs_f64()
    );
    assert!(run.suite.contains("ok"), "{}", run.suite);

    let func = crate::util::shapes::go_run(
        &go,
        &module("kvstore"),
        &[
            "tool",
            "cover",
            &format!("-func={}", run.profile_path.display()),
        ],
        &[],
    );
    let percent = |file: &str, func_name: &str| -> f64 {
        let line = func
            .lines()
            .find(|l| {
                let mut w = l.split_whitespace();
                w.next().is_some_and(|f| f.contains(file)) && w.next() == Some(func_name)
            })
            .unwrap_or_else(|| panic!("no {file} {func_name} in:\n{func}"));
        line.split_whitespace()
            .last()
            .unwrap()
            .trim_end_matches('%')
            .parse()
            .unwrap()
    };
    // The Redis client, every command the service sends, through a real
    // server: its replies (simple, bulk, nil, integer, error) were parsed.
    for f in [
        "Dial",
        "Ping",
        "Set",
        "Get",
        "Incr",
        "Del",
        "Do",
        "readReply",
        "readLine",
    ] {
        assert!(
            percent("internal/resp/resp.go", f) > 0.0,
            "resp {f}:\n{func}"
        );
    }
    // The handlers that persist, and main's clean stop.
    for f in ["get", "put", "delete", "incr", "stats", "healthz"] {
        assert!(percent("cmd/kvstore/handlers.go", f) > 0.0, "{f}:\n{func}");
    }
    assert!(percent("cmd/kvstore/main.go", "main") > 50.0, "{func}");
    let total: f64 = func
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().last())
        .map(|p| p.trim_end_matches('%').parse().unwrap())
        .unwrap();
    assert!(total > 50.0 && total < 100.0, "{total}:\n{func}");

    // The named GOCOVERDIR volume and Redis's anonymous /data volume were
    // there, and are gone with the rest.
    assert!(run.project.volumes.len() >= 2, "{:?}", run.project.volumes);
    let left = run.project.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The example's covtools.toml is valid for today's loader; the compose
/// runtime's fields come with that runtime.
#[test]
fn kvstore_config_loads() {
    let config =
        covjob::config::Config::load(&module("kvstore")).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(config.services.len(), 1);
    assert_eq!(config.services[0].name, "kvstore");
    assert_eq!(config.build.cover_mode, "atomic");
    assert_eq!(config.cover_packages(), "example.com/kvstore/...");
}

/// The mirror comes from apt's own sources, in both formats: the archive
/// serving the suite itself, else a release's main archive (never
/// -security, never a scheme debootstrap cannot fetch).
#[test]
fn dep_images_take_the_mirror_from_apts_sources() {
    let deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n";
    let sources = dep_images::sources_deb822(deb822);
    assert_eq!(sources.len(), 2);
    assert_eq!(
        dep_images::pick_mirror(&sources, "bookworm").as_deref(),
        Some("http://deb.debian.org/debian")
    );
    // A trixie host: its main archive serves bookworm too.
    let trixie = dep_images::sources_deb822(&deb822.replace("bookworm", "trixie"));
    assert_eq!(
        dep_images::pick_mirror(&trixie, "bookworm").as_deref(),
        Some("http://deb.debian.org/debian")
    );
    let disabled = "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nEnabled: no\n\nTypes: deb-src\nURIs: http://b.example/debian\nSuites: bookworm\n";
    assert!(dep_images::sources_deb822(disabled).is_empty());

    let one_line = "# comment\ndeb-src http://src.example/debian bookworm main\ndeb cdrom:[Debian 12]/ bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\ndeb http://security.example/debian-security bookworm-security main\n";
    let sources = dep_images::sources_one_line(one_line);
    assert_eq!(sources.len(), 3, "{sources:?}");
    assert_eq!(
        dep_images::pick_mirror(&sources, "bookworm").as_deref(),
        Some("http://mirror.example/debian")
    );
    assert_eq!(dep_images::pick_mirror(&sources[2..], "bookworm"), None);
}

/// A recipe's marker names it and changes with anything that makes the
/// image; a tag is current only with the very marker, stale with another
/// of ours, and someone else's (left alone) without one.
#[test]
fn dep_images_are_cached_by_their_recipe_marker() {
    let redis = &dep_images::REDIS;
    let marker = redis.marker();
    assert!(marker.starts_with("redis-") && marker.len() == "redis-".len() + 16);
    assert_eq!(marker, redis.marker(), "stable");
    let other = Recipe {
        packages: &["redis-server", "redis-tools"],
        ..dep_images::REDIS
    };
    assert_ne!(other.marker(), marker);
    let other = Recipe {
        setup: "true\n",
        ..dep_images::REDIS
    };
    assert_ne!(other.marker(), marker);

    if !require_docker() {
        return;
    }
    let tag = |n: u32| format!("covtools-depimg-{}:{n}", std::process::id());
    let _gone = RemoveImages((1..=3).map(tag).collect());
    assert_eq!(dep_images::state(&tag(1), &marker).unwrap(), State::Missing);
    // An empty tar archive: two zero blocks.
    let dir = Dir::new("dep_images_marker");
    let tar = dir.create("empty.tar", vec![0u8; 1024]);
    // Each under a tag of its own: a tag imported over leaves an untagged
    // image behind.
    let import = |tag: &str, change: &str| {
        let out = Command::new("docker")
            .args(["import", "-c", change])
            .arg(&tar)
            .arg(tag)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    import(&tag(1), "ENV PATH=/bin");
    assert_eq!(dep_images::state(&tag(1), &marker).unwrap(), State::Foreign);
    import(&tag(2), "ENV COVTOOLS_DEP_IMAGE=redis-0000000000000000");
    assert_eq!(
        dep_images::state(&tag(2), &marker).unwrap(),
        State::Stale("redis-0000000000000000".into())
    );
    import(&tag(3), &format!("ENV COVTOOLS_DEP_IMAGE={marker}"));
    assert_eq!(dep_images::state(&tag(3), &marker).unwrap(), State::Current);
}

struct RemoveImages(Vec<String>);

impl Drop for RemoveImages {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = docker(&["rmi", "-f", image]);
        }
    }
}

/// The redis:7 built here is a working Redis: it answers `redis-cli ping`
/// (the compose health check) and stores a value, as the user it runs as.
#[test]
fn dep_images_redis_answers_ping() {
    if !require_docker() {
        return;
    }
    dep_images::ensure(&dep_images::REDIS).unwrap_or_else(|e| panic!("{e:#}"));
    // Or an upstream redis:7, where a registry was reachable.
    let ours = dep_images::state(dep_images::REDIS.tag, &dep_images::REDIS.marker()).unwrap()
        == State::Current;
    let name = format!("covtools-depimg-redis-{}", std::process::id());
    let _gone = RemoveContainer(name.clone());
    docker_ok(&["run", "-d", "--name", &name, "redis:7"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = docker(&["exec", &name, "redis-cli", "ping"]);
        if String::from_utf8_lossy(&out.stdout).trim() == "PONG" {
            break;
        }
        assert!(Instant::now() < deadline, "no PONG: {out:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    docker_ok(&["exec", &name, "redis-cli", "set", "k", "v"]);
    assert_eq!(
        docker_ok(&["exec", &name, "redis-cli", "get", "k"]).trim(),
        "v"
    );
    if ours {
        assert_eq!(docker_ok(&["exec", &name, "id", "-un"]).trim(), "redis");
    }
}

struct RemoveContainer(String);

impl Drop for RemoveContainer {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.0]);
    }
}

/// The postgres:15 built here sets up as the official image does: the
/// POSTGRES_* variables and /docker-entrypoint-initdb.d are applied before
/// `pg_isready` passes (a compose health check), clients from other
/// addresses need the password, and SIGTERM stops it at once.
#[test]
fn dep_images_postgres_is_set_up_before_it_is_ready() {
    if !require_docker() {
        return;
    }
    let pg = &dep_images::POSTGRES;
    dep_images::ensure(pg).unwrap_or_else(|e| panic!("{e:#}"));
    let dir = Dir::new("dep_images_postgres");
    let init = dir.create(
        "initdb/01-schema.sql",
        "CREATE TABLE items (k text PRIMARY KEY, v text);\nINSERT INTO items VALUES ('a', '1'), ('b', '2');\n",
    );
    let name = format!("covtools-depimg-postgres-{}", std::process::id());
    let _gone = RemoveContainer(name.clone());
    let mount = format!(
        "{}:/docker-entrypoint-initdb.d:ro",
        init.parent().unwrap().display()
    );
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        "POSTGRES_PASSWORD=s3cret",
        "-e",
        "POSTGRES_DB=app",
        "-v",
        &mount,
        pg.tag,
    ]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !docker(&["exec", &name, "pg_isready", "-q"])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "not ready: {}",
            String::from_utf8_lossy(&docker(&["logs", &name]).stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The first query after readiness sees the schema's rows.
    let ip = docker_ok(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &name,
    ]);
    let query = |password: &str| {
        docker(&[
            "exec",
            "-e",
            &format!("PGPASSWORD={password}"),
            &name,
            "psql",
            "-h",
            ip.trim(),
            "-U",
            "postgres",
            "-d",
            "app",
            "-tAc",
            "SELECT count(*) FROM items",
        ])
    };
    let out = query("s3cret");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    let wrong = query("wrong");
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"),
        "{wrong:?}"
    );
    let t = Instant::now();
    docker_ok(&["stop", "-t", "20", &name]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let code = docker_ok(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(code.trim(), "0");
}
