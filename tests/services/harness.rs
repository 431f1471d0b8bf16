//! The harness's traps, on local processes: flags defined in main, the
//! private killswitch, a package with its own tests, a missing /tmp.

use std::process::Command;
use std::time::Duration;

use covjob::build_services::{self, BuildOptions, Harness, ServiceBuild, HARNESS_TEST};

use crate::util::services::*;
use crate::util::{require_go, Dir};

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
