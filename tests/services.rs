//! The Go side of the method on the real Go toolchain and the real Docker
//! engine: the example shop (tests/example) built with the injected harness
//! (tools/harness) by the xtask's own code, the restart wrapper
//! (docker/cover-wrapper.sh) as a local process under dash and busybox sh
//! and as the entrypoint of images built on a local FROM-scratch busybox
//! base, each trap of issue 3 with its own test, and the example run as
//! containers driven by its integration-test program. Every profile is
//! checked with Go's own `go tool cover -func`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use covcore::profile;
use xtask::build_services::{self, BuildOptions, Harness, ServiceBuild, HARNESS_TEST};
use xtask::config::{self, Config};
use xtask::docker_images;

use crate::util::services::*;
use crate::util::{bin, require_docker, require_go, Dir};

// ---------------------------------------------------------------------------
// The example itself.

#[test]
fn example_own_unit_tests_pass_and_the_config_lists_its_services() {
    let Some(go) = require_go() else { return };
    let module = config::example_dir();
    let out = Command::new(&go)
        .current_dir(&module)
        .args(["vet", "./..."])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go vet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The gateway's own tests (TestMain, TestRun, helpers) pass without the harness.
    let out = Command::new(&go)
        .current_dir(&module)
        .args(["test", "-count=1", "./..."])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go test: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok  \texample.com/shop/cmd/gateway"));
    let config = Config::load(&module).unwrap();
    let names: Vec<_> = config.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["catalog", "orders", "gateway"]);
    assert_eq!(config.cover_packages(), "example.com/shop/...");
}

#[test]
fn integration_test_program_exits_nonzero_when_the_shop_is_not_there() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("integration_test_program_exits_nonzero_when_the_shop_is_not_there");
    let bin = build_services::build_program(
        &go,
        &config::example_dir(),
        "./cmd/shoptest",
        &dir.path("shoptest"),
    )
    .unwrap();
    let out = Command::new(&bin)
        .args([
            "-gateway",
            &format!("http://{}", free_addr()),
            "-wait",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not ready after 1s"));
}

// ---------------------------------------------------------------------------
// The harness's traps, on local processes.

#[test]
fn harness_hands_args_after_double_dash_to_main_so_flags_defined_in_main_work() {
    let Some(ex) = example() else { return };
    let dir =
        Dir::new("harness_hands_args_after_double_dash_to_main_so_flags_defined_in_main_work");
    let (addr, kill) = (free_addr(), free_addr());

    // The trap: orders defines its flags inside main(); handed to the test
    // binary directly they kill it before main() runs.
    let mut direct = run_harness(
        &dir,
        "direct",
        &ex.bin("orders"),
        &kill,
        &dir.path("direct.out"),
        &["-addr", &addr],
    );
    let status = direct
        .wait_timeout(Duration::from_secs(20))
        .expect("exits at once");
    assert!(!status.success());
    assert!(
        direct
            .stderr()
            .contains("flag provided but not defined: -addr"),
        "{}",
        direct.stderr()
    );
    assert!(!dir.path("direct.out").exists());

    // After "--" they reach main() as os.Args.
    let profile = dir.path("orders.out");
    let mut p = run_harness(
        &dir,
        "orders",
        &ex.bin("orders"),
        &kill,
        &profile,
        &[
            "--",
            "-addr",
            &addr,
            "-catalog",
            "http://127.0.0.1:9",
            "-catalog-timeout",
            "3s",
        ],
    );
    let (code, body) = wait_get(&addr, "/healthz");
    assert_eq!((code, body.trim()), (200, r#"{"status":"ok"}"#));
    let (code, body) = wait_get(&kill, "/covkill");
    assert_eq!(code, 200);
    assert!(body.contains("covtools: stopping"));
    let status = p
        .wait_timeout(Duration::from_secs(20))
        .expect("the killswitch stops the binary");
    assert!(status.success(), "{}", p.stderr());
    assert!(
        p.stderr().contains("orders: catalog at http://127.0.0.1:9"),
        "{}",
        p.stderr()
    );
    assert!(p.stdout().contains("PASS"));
    let func = valid_profile(&ex.go, ex.module(), &profile);
    assert!(
        func_percent(&func, "cmd/orders/main.go", "main") > 50.0,
        "{func}"
    );
    assert_eq!(
        func_percent(&func, "cmd/orders/main.go", "cancelOrder"),
        0.0
    );
}

#[test]
fn harness_package_level_flags_work_too() {
    let Some(ex) = example() else { return };
    let dir = Dir::new("harness_package_level_flags_work_too");
    let (addr, kill) = (free_addr(), free_addr());
    let profile = dir.path("catalog.out");
    let mut p = run_harness(
        &dir,
        "catalog",
        &ex.bin("catalog"),
        &kill,
        &profile,
        &["--", "-addr", &addr, "-seed", "none"],
    );
    // -seed none took effect: no products.
    assert_eq!(wait_get(&addr, "/products"), (200, "[]\n".to_string()));
    assert_eq!(wait_get(&kill, "/").0, 200);
    assert!(
        p.wait_timeout(Duration::from_secs(20))
            .expect("stops")
            .success(),
        "{}",
        p.stderr()
    );
    let func = valid_profile(&ex.go, ex.module(), &profile);
    assert!(func_percent(&func, "cmd/catalog/main.go", "list") > 0.0);
}

#[test]
fn harness_killswitch_is_private_beside_a_service_owning_default_servemux_root() {
    let Some(ex) = example() else { return };
    let dir =
        Dir::new("harness_killswitch_is_private_beside_a_service_owning_default_servemux_root");
    let (addr, kill) = (free_addr(), free_addr());
    let profile = dir.path("catalog.out");
    // catalog registers "/" on http.DefaultServeMux.
    let mut p = run_harness(
        &dir,
        "catalog",
        &ex.bin("catalog"),
        &kill,
        &profile,
        &["--", "-addr", &addr],
    );
    let (code, body) = wait_get(&addr, "/");
    assert_eq!(code, 200);
    assert!(
        body.starts_with("catalog: GET /products"),
        "the service's own / answered: {body}"
    );
    let (code, body) = wait_get(&addr, "/covkill");
    assert_eq!(code, 404, "the service's mux has no killswitch: {body}");
    assert!(
        p.wait_timeout(Duration::from_millis(300)).is_none(),
        "still running"
    );
    // Any path of the killswitch's own listener stops it.
    let (code, body) = wait_get(&kill, "/any/path");
    assert_eq!(code, 200);
    assert!(body.contains("covtools: stopping"));
    let status = p.wait_timeout(Duration::from_secs(20)).expect("stops");
    assert!(status.success(), "{}", p.stderr());
    assert!(!p.stderr().contains("multiple registrations"));
    let func = valid_profile(&ex.go, ex.module(), &profile);
    assert_eq!(
        func_percent(&func, "cmd/catalog/main.go", "index"),
        100.0,
        "{func}"
    );
}

#[test]
fn harness_joins_a_package_with_its_own_tests_testmain_and_colliding_helpers() {
    let Some(ex) = example() else { return };
    let dir = Dir::new("harness_joins_a_package_with_its_own_tests_testmain_and_colliding_helpers");
    let gateway = ex.bin("gateway");
    // The harness sits beside the gateway's own tests in package main.
    let list = Command::new(&gateway)
        .arg("-test.list=.*")
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for t in [HARNESS_TEST, "TestRun", "TestProxyStripsAPIPrefix"] {
        assert!(
            list.lines().any(|l| l == t),
            "{t} missing from -test.list:\n{list}"
        );
    }
    // Only the harness runs (through the gateway's TestMain).
    let (addr, kill) = (free_addr(), free_addr());
    let profile = dir.path("gateway.out");
    let mut p = Proc::spawn(
        &dir,
        "gateway",
        Command::new(&gateway)
            .env("COVKILL_ADDR", &kill)
            .env("CATALOG_URL", "http://127.0.0.1:9")
            .env("ORDERS_URL", "http://127.0.0.1:9")
            .arg("-test.v")
            .arg(format!("-test.run=^{HARNESS_TEST}$"))
            .arg(format!("-test.coverprofile={}", profile.display()))
            .args(["--", "-addr", &addr]),
    );
    assert_eq!(wait_get(&addr, "/healthz").0, 200);
    assert_eq!(wait_get(&addr, "/readyz").0, 503);
    assert_eq!(wait_get(&kill, "/").0, 200);
    assert!(
        p.wait_timeout(Duration::from_secs(20))
            .expect("stops")
            .success(),
        "{}",
        p.stderr()
    );
    let stdout = p.stdout();
    assert!(
        stdout.contains(&format!("=== RUN   {HARNESS_TEST}")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("TestRun") && !stdout.contains("TestProxy"),
        "the service's own tests ran:\n{stdout}"
    );
    let func = valid_profile(&ex.go, ex.module(), &profile);
    assert!(func_percent(&func, "cmd/gateway/main.go", "ready") > 0.0);

    // The trap: a hand-written harness with the usual names does not even
    // compile there, and the build says so with the compiler's own words.
    let naive = dir.create(
        "naive_harness_test.go",
        "package main\n\nimport \"testing\"\n\nfunc startServer() {}\n\nfunc TestRun(t *testing.T) { go main(); select {} }\n",
    );
    let opts = BuildOptions {
        go: ex.go.clone(),
        module_dir: ex.module().to_path_buf(),
        out_dir: dir.path("naive-bin"),
        cover_mode: "count".into(),
        cover_packages: "example.com/shop/...".into(),
        services: vec![ServiceBuild {
            name: "gateway".into(),
            package: "./cmd/gateway".into(),
            harness: Harness::Injected(naive),
        }],
        jobs: 1,
    };
    let err = format!("{:#}", build_services::build_services(&opts).unwrap_err());
    assert!(
        err.contains("building gateway (./cmd/gateway) failed"),
        "{err}"
    );
    assert!(
        err.contains("TestRun redeclared") || err.contains("TestRun already declared"),
        "{err}"
    );
    assert!(err.contains("startServer"), "{err}");
}

#[test]
fn a_service_with_its_own_testrun_harness_runs_through_it() {
    let (Some(go), Some((module, bin))) = (require_go(), legacy()) else {
        return;
    };
    let dir = Dir::new("a_service_with_its_own_testrun_harness_runs_through_it");
    let (addr, kill) = (free_addr(), free_addr());
    let cover = dir.path("cover");
    // Classic method: the service's (package-level) flags are test-binary
    // flags, no "--".
    let mut w = Proc::spawn(
        &dir,
        "wrapper",
        Command::new("/bin/sh")
            .arg(wrapper())
            .args(["-addr", &addr])
            .env("COVER_BIN", bin)
            .env("COVER_DIR", &cover)
            .env("COVER_TEST", "TestRun")
            .env("COVER_RESTART", "never")
            .env("COVKILL_ADDR", &kill),
    );
    assert_eq!(
        wait_get(&addr, "/hello?name=cov"),
        (200, "hello, cov\n".to_string())
    );
    assert_eq!(wait_get(&kill, "/").0, 200);
    let status = w
        .wait_timeout(Duration::from_secs(20))
        .expect("COVER_RESTART=never: the wrapper exits");
    assert!(status.success(), "{}", w.stderr());
    assert!(w.stderr().contains("-test.run=^TestRun$"), "{}", w.stderr());
    assert_eq!(cover_files(&cover), ["cover-1.out"]);
    let func = valid_profile(&go, module, &cover.join("cover-1.out"));
    assert!(func_percent(&func, "main.go", "greet") > 0.0, "{func}");
    assert_eq!(func_percent(&func, "main.go", "neverCalled"), 0.0);
}

#[test]
fn a_test_binary_without_a_writable_tmp_writes_no_profile_unless_wrapped() {
    let Some(ex) = example() else { return };
    let dir = Dir::new("a_test_binary_without_a_writable_tmp_writes_no_profile_unless_wrapped");
    let no_tmp = "/nonexistent-covtools-tmp";
    // The trap: PASS, then no profile.
    let (addr, kill) = (free_addr(), free_addr());
    let mut p = Proc::spawn(
        &dir,
        "bare",
        Command::new(ex.bin("catalog"))
            .env("TMPDIR", no_tmp)
            .env("COVKILL_ADDR", &kill)
            .arg(format!("-test.run=^{HARNESS_TEST}$"))
            .arg(format!(
                "-test.coverprofile={}",
                dir.path("bare.out").display()
            ))
            .args(["--", "-addr", &addr]),
    );
    assert_eq!(wait_get(&kill, "/").0, 200);
    let status = p.wait_timeout(Duration::from_secs(20)).expect("stops");
    assert!(!status.success());
    assert!(
        p.stderr().contains("bad os.MkdirTemp return"),
        "{}",
        p.stderr()
    );
    assert!(!dir.path("bare.out").exists());

    // The wrapper notices and gives the binary a temp dir in the cover dir.
    let cover = dir.path("cover");
    let (addr, kill) = (free_addr(), free_addr());
    let mut w = Proc::spawn(
        &dir,
        "wrapped",
        Command::new("/bin/sh")
            .arg(wrapper())
            .args(["-addr", &addr])
            .env("TMPDIR", no_tmp)
            .env("COVER_BIN", ex.bin("catalog"))
            .env("COVER_DIR", &cover)
            .env("COVER_RESTART", "never")
            .env("COVKILL_ADDR", &kill),
    );
    assert_eq!(wait_get(&kill, "/").0, 200);
    assert!(
        w.wait_timeout(Duration::from_secs(20))
            .expect("exits")
            .success(),
        "{}",
        w.stderr()
    );
    assert!(
        w.stderr()
            .contains(&format!("{no_tmp} is not writable; using TMPDIR=")),
        "{}",
        w.stderr()
    );
    valid_profile(&ex.go, ex.module(), &cover.join("cover-1.out"));
}

// ---------------------------------------------------------------------------
// The wrapper as a local process (the `--runtime local` of issue 4).

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

// ---------------------------------------------------------------------------
// Build errors.

#[test]
fn build_errors_name_go_and_carry_the_compiler_message() {
    let Some(go) = require_go() else { return };
    let dir = Dir::new("build_errors_name_go_and_carry_the_compiler_message");
    dir.create("broken/go.mod", "module example.com/broken\n\ngo 1.27\n");
    dir.create(
        "broken/svc/main.go",
        "package main\n\nfunc main() { undefinedThing() }\n",
    );
    dir.create("broken/ok/main.go", "package main\n\nfunc main() {}\n");
    let mut opts = BuildOptions {
        go: go.clone(),
        module_dir: dir.path("broken"),
        out_dir: dir.path("bin"),
        cover_mode: "count".into(),
        cover_packages: "example.com/broken/...".into(),
        services: ["svc", "ok"]
            .iter()
            .map(|s| ServiceBuild {
                name: s.to_string(),
                package: format!("./{s}"),
                harness: Harness::Covtools(build_services::BuildKind::Test),
            })
            .collect(),
        jobs: 2,
    };
    let err = format!("{:#}", build_services::build_services(&opts).unwrap_err());
    assert!(err.contains("1 of 2 service builds failed"), "{err}");
    assert!(err.contains("building svc (./svc) failed"), "{err}");
    assert!(err.contains("undefined: undefinedThing"), "{err}");
    // The other build still ran.
    assert!(dir.path("bin/ok.test").is_file());
    // Nothing was written into the module's tree.
    assert!(!dir.path("broken/ok/covtools_harness_test.go").exists());

    opts.go = dir.path("no/such/go");
    let err = format!("{:#}", build_services::build_services(&opts).unwrap_err());
    assert!(
        err.starts_with("go: ") && err.contains("no/such/go not found"),
        "{err}"
    );
}

#[test]
fn generated_build_contexts_say_so_and_check_finds_stale_ones() {
    let Some(ex) = example() else { return };
    let dir = Dir::new("generated_build_contexts_say_so_and_check_finds_stale_ones");
    let images = docker_images::service_images(&ex.config, &ex.bin_dir, "covtools-x", "t").unwrap();
    let orders = images.iter().find(|i| i.service == "orders").unwrap();
    let ctx = dir.path("orders");
    docker_images::write_context(orders, "alpine:3", &ctx).unwrap();
    let dockerfile = fs::read_to_string(ctx.join("Dockerfile")).unwrap();
    assert!(dockerfile.starts_with(
        "# generated by cargo xtask docker-images from docker/Dockerfile.template, do not edit\nFROM alpine:3\n"
    ));
    assert!(
        dockerfile.contains(r#"CMD ["-addr", ":8080", "-catalog", "http://catalog:8080"]"#),
        "{dockerfile}"
    );
    assert!(dockerfile.contains(r#"ENTRYPOINT ["/bin/sh", "/usr/local/bin/cover-wrapper"]"#));
    assert!(ctx.join("rootfs/app/orders.test").is_file());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(ctx.join("rootfs/tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    assert!(docker_images::check_context(orders, "alpine:3", &ctx)
        .unwrap()
        .is_empty());
    let stale = docker_images::check_context(orders, "other:base", &ctx).unwrap();
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(stale[0].ends_with("Dockerfile is out of date"));
    let gateway = images.iter().find(|i| i.service == "gateway").unwrap();
    let text = docker_images::render_dockerfile(gateway, "alpine:3").unwrap();
    assert!(
        text.contains(r#"CATALOG_URL="http://catalog:8080""#),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Images and containers on the real Docker engine.

#[test]
fn images_have_busybox_and_a_writable_tmp_and_survive_a_read_only_root() {
    let Some(ex) = example() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("images_have_busybox_and_a_writable_tmp_and_survive_a_read_only_root");
    let scope = DockerScope::new("images_tmp");
    let images = scope.service_images(ex, &dir, &["catalog"]);
    let image = &images["catalog"];
    let out = docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        image,
        "-c",
        "stat -c '%a %n' /tmp /cover; ls /bin/wget /bin/cat /bin/ls",
    ]);
    assert!(
        out.contains("1777 /tmp") && out.contains("1777 /cover"),
        "{out}"
    );
    assert!(
        out.contains("/bin/wget") && out.contains("/bin/cat"),
        "{out}"
    );

    // A read-only root filesystem (no writable /tmp): the bare test binary
    // PASSes and writes no profile...
    let bare = scope.run(
        "bare",
        &[
            "--read-only",
            "--tmpfs",
            "/cover",
            "--entrypoint",
            "/app/catalog.test",
            image,
            "-test.run=^TestCovtoolsHarness$",
            "-test.coverprofile=/cover/p.out",
            "--",
            "-addr",
            ":8080",
        ],
    );
    docker_killswitch(&bare);
    let code = docker_ok(&["wait", &bare]);
    assert_eq!(code.trim(), "2");
    assert!(
        logs(&bare).contains("bad os.MkdirTemp return"),
        "{}",
        logs(&bare)
    );
    // ... while the wrapper falls back to a temp dir in /cover.
    let wrapped = scope.run("wrapped", &["--read-only", "--tmpfs", "/cover", image]);
    docker_killswitch(&wrapped);
    wait_docker_profile(&wrapped, 1);
    let profile = docker_profile(&dir, &wrapped, 1);
    valid_profile(&ex.go, ex.module(), &profile);
    assert!(
        logs(&wrapped).contains("/tmp is not writable; using TMPDIR=/cover/.tmp"),
        "{}",
        logs(&wrapped)
    );
}

#[test]
fn docker_stop_forwards_sigterm_and_yields_a_profile_within_seconds() {
    let Some(ex) = example() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("docker_stop_forwards_sigterm_and_yields_a_profile_within_seconds");
    let scope = DockerScope::new("docker_stop");
    let images = scope.service_images(ex, &dir, &["orders"]);
    let c = scope.run("orders", &[&images["orders"]]);
    wait_until("orders listening", Duration::from_secs(20), || {
        logs(&c).contains("orders: listening on")
    });
    let t = Instant::now();
    docker_ok(&["stop", "-t", "10", &c]);
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "docker stop took {took:?}: SIGTERM was not forwarded\n{}",
        logs(&c)
    );
    let state = docker_ok(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.State.OOMKilled}}",
        &c,
    ]);
    assert_eq!(state.trim(), "0 false", "{}", logs(&c));
    // The stopped container still holds the profile.
    let profile = dir.path("cover-1.out");
    docker_ok(&[
        "cp",
        &format!("{c}:/cover/cover-1.out"),
        &profile.display().to_string(),
    ]);
    let func = valid_profile(&ex.go, ex.module(), &profile);
    // Serve's graceful-shutdown branch ran (a killswitch stop leaves it at 57%).
    assert!(
        func_percent(&func, "internal/httpx/httpx.go", "Serve") > 60.0,
        "{func}"
    );
    let log = logs(&c);
    assert!(
        log.contains("SIGTERM received") && log.contains("orders: shutting down"),
        "{log}"
    );
    assert!(log.contains("profile written: /cover/cover-1.out"), "{log}");
}

#[test]
fn docker_two_killswitch_stops_give_two_numbered_profiles() {
    let Some(ex) = example() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("docker_two_killswitch_stops_give_two_numbered_profiles");
    let scope = DockerScope::new("two_stops");
    let images = scope.service_images(ex, &dir, &["catalog"]);
    let c = scope.run("catalog", &[&images["catalog"]]);
    let body = docker_killswitch(&c);
    assert!(body.contains("covtools: stopping"), "{body}");
    wait_docker_profile(&c, 1);
    let first = docker_profile(&dir, &c, 1);
    let first_bytes = fs::read(&first).unwrap();
    docker_killswitch(&c);
    wait_docker_profile(&c, 2);
    let second = docker_profile(&dir, &c, 2);
    assert_eq!(
        fs::read(docker_profile(&dir, &c, 1)).unwrap(),
        first_bytes,
        "the second stop must not touch the first profile"
    );
    // Only complete profiles (the running one is written at exit, under a dot name).
    let files = docker_cover_files(&c);
    assert!(
        files
            .iter()
            .all(|f| f.starts_with('.') || f == "cover-1.out" || f == "cover-2.out"),
        "{files:?}"
    );
    for p in [&first, &second] {
        valid_profile(&ex.go, ex.module(), p);
    }
    // The container kept running across both stops (the wrapper restarts).
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}} {{.RestartCount}}", &c]).trim(),
        "true 0"
    );
}

#[test]
fn docker_service_that_exits_at_once_backs_off_and_shows_it_in_the_log() {
    let Some(ex) = example() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("docker_service_that_exits_at_once_backs_off_and_shows_it_in_the_log");
    let scope = DockerScope::new("fast_exit");
    let images = scope.service_images(ex, &dir, &["orders"]);
    let c = scope.run("orders", &[&images["orders"], "-wrong-flag"]);
    std::thread::sleep(Duration::from_millis(4500));
    let log = logs(&c);
    let runs = log
        .lines()
        .filter(|l| l.starts_with("cover-wrapper: run "))
        .count();
    assert!((2..=4).contains(&runs), "{runs} runs in 4.5 s:\n{log}");
    assert!(
        log.contains("flag provided but not defined: -wrong-flag"),
        "{log}"
    );
    assert!(log.contains("restarting in 2s"), "{log}");
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}}", &c]).trim(),
        "true"
    );
    let t = Instant::now();
    docker_ok(&["stop", &c]);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "stop during the backoff pause took {:?}",
        t.elapsed()
    );
}

#[test]
fn example_runs_as_containers_and_its_integration_tests_pass() {
    let Some(ex) = example() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("example_runs_as_containers_and_its_integration_tests_pass");
    let scope = DockerScope::new("example_e2e");
    let names: Vec<&str> = ex.config.services.iter().map(|s| s.name.as_str()).collect();
    let images = scope.service_images(ex, &dir, &names);
    let net = scope.network();
    let mut containers = BTreeMap::new();
    for s in &names {
        // The images' default CMD/ENV come from covtools.toml, rendered for
        // a network where each service is reached by its name.
        let c = scope.run(s, &["--network", &net, "--network-alias", s, &images[*s]]);
        containers.insert(s.to_string(), c);
    }
    let shoptest =
        build_services::build_program(&ex.go, ex.module(), "./cmd/shoptest", &dir.path("shoptest"))
            .unwrap();
    let tests = ex.config.tests.as_ref().unwrap();
    let args = tests
        .args
        .iter()
        .map(|a| config::render(a, "", &ex.config.docker_urls()).unwrap())
        .collect::<Vec<_>>();
    let base = scope.images.lock().unwrap()[0].clone();
    let mount = format!("{}:/shoptest:ro", shoptest.display());
    let mut run = vec![
        "run",
        "--rm",
        "--network",
        &net,
        "-v",
        &mount,
        &base,
        "/shoptest",
    ];
    run.extend(args.iter().map(String::as_str));
    let out = docker(&run);
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "shoptest failed:\n{report}\n{}",
        logs(&containers["gateway"])
    );
    assert!(
        report.contains("shoptest: all 10 checks passed"),
        "{report}"
    );

    // Stop each through its killswitch and collect with the tools, composed
    // through real pipes as a user would type them.
    let targets: Vec<String> = containers.values().map(|c| format!("docker:{c}")).collect();
    let pipeline = format!(
        "set -o pipefail; {} {} | {} --out profiles | {} -o merged.cov",
        bin("covkill").display(),
        targets.join(" "),
        bin("covpull").display(),
        bin("covmerge").display()
    );
    dir.command("bash").args(["-c", &pipeline]).stdout();
    let mut profiles = BTreeMap::new();
    for (s, c) in &containers {
        let pulled = dir.path(format!("profiles/docker_{c}.cover-1.out"));
        assert!(pulled.is_file(), "covpull wrote no {}", pulled.display());
        profiles.insert(s.clone(), pulled);
    }
    // The merged total is the one Go computes for the merged profile.
    let merged = dir.path("merged.cov");
    let go_total = valid_profile(&ex.go, ex.module(), &merged)
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let ours = dir
        .tool("covtotal")
        .args(["--percent", "--src"])
        .arg(ex.module())
        .arg(&merged)
        .stdout();
    assert_eq!(format!("{}%", ours.trim()), go_total);
    // The merged profile holds every shared block any service covered.
    let merged_shared = covered_blocks(&merged, "example.com/shop/internal/");
    let funcs: BTreeMap<_, _> = profiles
        .iter()
        .map(|(s, p)| (s.clone(), valid_profile(&ex.go, ex.module(), p)))
        .collect();
    // What the tests call is covered; what no test reaches is not.
    assert!(
        func_percent(&funcs["orders"], "cmd/orders/main.go", "create") > 70.0,
        "{}",
        funcs["orders"]
    );
    assert!(func_percent(&funcs["orders"], "cmd/orders/main.go", "reserve") > 70.0);
    assert_eq!(
        func_percent(&funcs["orders"], "cmd/orders/main.go", "cancelOrder"),
        0.0
    );
    assert_eq!(
        func_percent(&funcs["orders"], "internal/money/money.go", "Refund"),
        0.0
    );
    assert!(
        func_percent(&funcs["catalog"], "cmd/catalog/main.go", "reserve") > 50.0,
        "{}",
        funcs["catalog"]
    );
    assert!(func_percent(&funcs["gateway"], "cmd/gateway/main.go", "ready") > 70.0);
    // The shared packages: each service covers part of them, and only the
    // union of the services' profiles shows all that the tests covered.
    let shared: BTreeMap<_, _> = profiles
        .iter()
        .map(|(s, p)| (s.clone(), covered_blocks(p, "example.com/shop/internal/")))
        .collect();
    let union: BTreeSet<_> = shared.values().flatten().cloned().collect();
    assert_eq!(merged_shared, union);
    for (s, blocks) in &shared {
        assert!(!blocks.is_empty(), "{s} covers nothing of internal/");
        assert!(
            blocks.len() < union.len(),
            "{s} alone covers all of internal/ that the fleet covers"
        );
    }
    // internal/money: the catalog parses prices, orders discounts them.
    let money = "internal/money/money.go";
    assert!(func_percent(&funcs["catalog"], money, "Parse") > 50.0);
    assert_eq!(func_percent(&funcs["orders"], money, "Parse"), 0.0);
    assert_eq!(func_percent(&funcs["catalog"], money, "Discount"), 0.0);
    assert!(func_percent(&funcs["orders"], money, "Discount") > 50.0);
    // internal/httpx: only the services that call peers use its client.
    assert_eq!(
        func_percent(&funcs["catalog"], "internal/httpx/httpx.go", "GetJSON"),
        0.0
    );
    assert!(func_percent(&funcs["orders"], "internal/httpx/httpx.go", "GetJSON") > 0.0);
    assert!(func_percent(&funcs["gateway"], "internal/httpx/httpx.go", "GetJSON") > 0.0);
}
