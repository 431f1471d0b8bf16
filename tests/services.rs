//! The Go side of the method on the real Go toolchain: the example shop
//! (tests/example) built with the injected harness (tools/harness) by the
//! xtask's own code, and the restart wrapper (docker/cover-wrapper.sh) as a
//! local process under dash and busybox sh, each trap of issue 3 with its
//! own test (the images and containers are in tests/images.rs). Every
//! profile is checked with Go's own `go tool cover -func`.

use std::fs;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use covcore::profile;
use xtask::build_services::{self, BuildOptions, Harness, ServiceBuild, HARNESS_TEST};
use xtask::config::{self, Config};

use crate::util::services::*;
use crate::util::{require_go, Dir};

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
    // /covkill on the killswitch's own listener stops it (other paths are 404).
    let (code, body) = wait_get(&kill, "/covkill");
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
