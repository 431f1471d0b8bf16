//! The harness under every go.mod language version, embedded in the xtask,
//! and the killswitch contract of the test kind.

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

use covcore::contract;
use covjob::build_services::{self, BuildKind};

use super::*;
use crate::util::{require_go, Dir};

// ---------------------------------------------------------------------------
// Every go.mod language version, and the harness embedded in the binary.

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
                BuildKind::Cover => {
                    covdata_textfmt(&go, &[&cover], &dir.path(format!("{label}.txt")))
                }
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
    // The image files too: the wrapper run as a local process is the
    // embedded text, written under a name of its content outside any checkout.
    let docker = |f: &str| fs::read_to_string(root.join("docker").join(f)).unwrap();
    assert_eq!(
        covjob::docker_images::WRAPPER_SOURCE,
        docker("cover-wrapper.sh")
    );
    let wrapper = covjob::docker_images::wrapper_script().unwrap();
    assert!(!wrapper.starts_with(&root), "{}", wrapper.display());
    assert_eq!(
        fs::read_to_string(&wrapper).unwrap(),
        docker("cover-wrapper.sh")
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
    let go_mod = dir.read("bin/.cover-src/t+c/module/go.mod");
    assert!(
        go_mod.contains(&format!(
            "replace covtools.local/harness => {}",
            dir.path("bin/.cover-src/t+c/harness").display()
        )),
        "{go_mod}"
    );
    assert_eq!(
        dir.read("bin/.cover-src/t+c/harness/harness.go"),
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
        for path in [
            contract::FLUSH_PATH,
            contract::SNAPSHOT_PATH,
            contract::RESET_PATH,
        ] {
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

    // The cover directory, listed and served as it is (what covkill and
    // covpull read with no exec), its complete files only; and once the run
    // is ending (here: SIGTERM, main() given its grace), 503.
    let (killswitch, addr) = (free_addr(), free_addr());
    let cover = dir.path("cover-files");
    fs::create_dir_all(&cover).unwrap();
    fs::write(cover.join("cover-1.out"), "mode: count\n").unwrap();
    fs::write(cover.join(".cover-2.out.tmp"), "mode: co").unwrap();
    let mut p = start(&dir, &built[0], &killswitch, &cover, &["-addr", &addr]);
    let list = get(&killswitch, contract::LIST_PATH);
    assert_eq!((list.code, list.harness()), (200, Some("test")));
    assert_eq!(list.body, "cover-1.out 12\n");
    let files = get(&killswitch, contract::FILES_PATH);
    assert_eq!((files.code, files.harness()), (200, Some("test")));
    assert_eq!(files.body, "cover-1.out 12\nmode: count\n");
    p.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(4);
    let ending = loop {
        let a = get(&killswitch, contract::LIST_PATH);
        if a.code != 200 || Instant::now() > deadline {
            break a;
        }
    };
    assert_eq!((ending.code, ending.harness()), (503, Some("test")));
    assert_eq!(get(&killswitch, contract::FILES_PATH).code, 503);
    assert!(p.wait(Duration::from_secs(20)).success());
}

#[test]
fn a_vendored_module_builds_in_both_kinds() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("live_vendored_module");
    dir.create("dep/go.mod", "module example.com/dep\n\ngo 1.16\n");
    dir.create(
        "dep/dep.go",
        "package dep\n\n// Greeting is what the service answers.\nfunc Greeting() string { return \"hello\" }\n",
    );
    dir.create(
        "vend/go.mod",
        "module example.com/vend\n\ngo 1.21\n\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ../dep\n",
    );
    dir.create(
        "vend/main.go",
        OLD_STYLE_MAIN
            .replace("\"os\"\n", "\"os\"\n\n\t\"example.com/dep\"\n")
            .replace(
                "fmt.Fprintln(w, \"hello\")",
                "fmt.Fprintln(w, dep.Greeting())",
            ),
    );
    let vendor = std::process::Command::new(&go)
        .current_dir(dir.path("vend"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .args(["mod", "vendor"])
        .output()
        .unwrap();
    assert!(
        vendor.status.success(),
        "{}",
        String::from_utf8_lossy(&vendor.stderr)
    );
    let modules_txt = dir.read("vend/vendor/modules.txt");
    let built = build(
        &go,
        &dir.path("vend"),
        dir.path("bin"),
        "atomic",
        "example.com/vend/...",
        &[("t", ".", BuildKind::Test), ("c", ".", BuildKind::Cover)],
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    for b in &built {
        let (killswitch, addr) = (free_addr(), free_addr());
        let cover = dir.path(format!("cover-{}", b.name));
        let mut p = start(&dir, b, &killswitch, &cover, &["-addr", &addr]);
        assert_eq!(get(&addr, "/hello").body, "hello\n");
        assert_eq!(get(&killswitch, contract::KILL_PATH).code, 200);
        assert!(p.wait(std::time::Duration::from_secs(20)).success());
    }
    // The user's vendor directory is untouched.
    assert_eq!(dir.read("vend/vendor/modules.txt"), modules_txt);
    assert!(!dir.path("vend/vendor/covtools.local").exists());
}

#[test]
fn the_build_kind_is_a_config_key_with_a_flag_and_set() {
    let module = notify_module();
    let file = module.join("covtools.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let parse = |sets: &[(&str, &str)]| {
        let sets: Vec<(String, String)> = sets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        covjob::config::Config::parse_with(&text, &file, &module, &sets)
    };
    // notify's own file says kind = "cover": the mode defaults to atomic.
    let c = parse(&[]).unwrap();
    assert_eq!(
        (c.build.kind, c.build.cover_mode.as_str()),
        (BuildKind::Cover, "atomic")
    );
    let c = parse(&[("build.kind", "test")]).unwrap();
    assert_eq!(
        (c.build.kind, c.build.cover_mode.as_str()),
        (BuildKind::Test, "count")
    );
    let c = parse(&[("build.kind", "cover"), ("build.cover_mode", "set")]).unwrap();
    assert_eq!(
        (c.build.kind, c.build.cover_mode.as_str()),
        (BuildKind::Cover, "set")
    );
    let err = format!("{:#}", parse(&[("build.kind", "binary")]).unwrap_err());
    assert!(
        err.contains("--set build.kind=binary") && err.contains("`test` or `cover`"),
        "{err}"
    );
    // The phases of the file, in order.
    let names: Vec<&str> = c.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["smoke", "api"]);
    assert!(c.tests.is_none());
}
