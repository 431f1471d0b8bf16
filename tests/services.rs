//! The Go side of the method on the real Go toolchain: the example shop
//! (tests/example) built with the injected harness (tools/harness) by the
//! covjob's own code, and the restart wrapper (docker/cover-wrapper.sh) as a
//! local process under dash and busybox sh, each trap it must survive with
//! its own test (the images and containers are in tests/images.rs). Every
//! profile is checked with Go's own `go tool cover -func`. The harness's
//! traps are in services/harness.rs, the wrapper's in services/wrapper.rs.

use std::process::Command;

use covjob::build_services::{self, BuildOptions, Harness, ServiceBuild};
use covjob::config::Config;

use crate::util::services::*;
use crate::util::{require_go, Dir};

mod harness;
mod wrapper;

// ---------------------------------------------------------------------------
// The example itself.

#[test]
fn example_own_unit_tests_pass_and_the_config_lists_its_services() {
    let Some(go) = require_go() else { return };
    let module = crate::util::example_dir();
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
        &crate::util::example_dir(),
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
