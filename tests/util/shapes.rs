//! Helpers of the example-module tests (tests/shapes.rs): the modules under
//! tests/modules/<shape>, each run through `integration-cover`, and the
//! oracle: the same module built natively with `go build -cover`, started
//! with the same arguments and environment, driven by the same `go test`
//! client suite, its data turned into a text profile by `go tool covdata
//! textfmt`. Both profiles are compared as block sets (every block, and the
//! covered ones), which is what makes two figures equal.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use covcore::profile::{self, Mode, Pos, Visitor};
use covjob::config::{self, Config};

use super::cover::{cover_run, Scope};
use super::services::{free_addr, http_get, wait_until, Proc};
use super::{copy_tree, project_root, Dir};

/// The example module of a shape.
pub fn module(shape: &str) -> PathBuf {
    project_root().join("tests/modules").join(shape)
}

/// `integration-cover --module tests/modules/<shape> --runtime RUNTIME
/// ARGS…`, outputs in `dir/<runtime>`; Docker runs get the scope's prefix
/// and base image.
pub fn cover_shape(
    dir: &Dir,
    shape: &str,
    runtime: &str,
    scope: Option<&Scope>,
    args: &[&str],
) -> covjob::cover::Report {
    let module = module(shape).display().to_string();
    let mut all = vec!["--module", &module, "--runtime", runtime];
    all.extend_from_slice(args);
    cover_run(dir, runtime, scope, &all)
}

/// A profile as block sets: every block (file, position, statements) and
/// the covered ones.
#[derive(Debug, PartialEq, Eq)]
pub struct Blocks {
    pub all: BTreeSet<(String, Pos, u32)>,
    pub covered: BTreeSet<(String, Pos)>,
}

impl Blocks {
    /// The statement percentage, as `go tool cover` counts it.
    pub fn percent(&self) -> f64 {
        let stmts = |covered: bool| -> u64 {
            self.all
                .iter()
                .filter(|(f, p, _)| !covered || self.covered.contains(&(f.clone(), *p)))
                .map(|(_, _, n)| u64::from(*n))
                .sum()
        };
        100.0 * stmts(true) as f64 / stmts(false).max(1) as f64
    }
}

/// The block sets of a text profile, without the files whose path ends
/// with one of `skip`. A block listed twice (textfmt lists a position once
/// per function) is one block, covered when any of its lines is.
pub fn blocks(profile: &Path, skip: &[&str]) -> Blocks {
    struct Collect<'a> {
        skip: &'a [&'a str],
        out: Blocks,
    }
    impl Visitor for Collect<'_> {
        fn mode(&mut self, _: Mode, _: u64) -> anyhow::Result<()> {
            Ok(())
        }
        fn block(
            &mut self,
            path: &[u8],
            pos: Pos,
            stmts: u32,
            count: u32,
            _: u64,
        ) -> anyhow::Result<()> {
            let path = String::from_utf8_lossy(path).into_owned();
            if self.skip.iter().any(|s| path.ends_with(s)) {
                return Ok(());
            }
            if count > 0 {
                self.out.covered.insert((path.clone(), pos));
            }
            self.out.all.insert((path, pos, stmts));
            Ok(())
        }
    }
    let mut c = Collect {
        skip,
        out: Blocks {
            all: BTreeSet::new(),
            covered: BTreeSet::new(),
        },
    };
    profile::parse(
        &profile.display().to_string(),
        fs::File::open(profile).unwrap_or_else(|e| panic!("{}: {e}", profile.display())),
        &mut c,
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    c.out
}

/// The file the native build adds to package main: on SIGUSR1 the program
/// exits through os.Exit, which writes its counters (Go's exit hook), while
/// its main is still serving, as the harness's killswitch stops it. (An
/// `-overlay` file breaks `go build -cover`, so it goes into a copy.)
pub const NATIVE_STOP: &str = "covtools_native_stop.go";
pub const NATIVE_STOP_GO: &str = r#"package main

import (
	"os"
	"os/signal"
	"syscall"
)

func init() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	go func() {
		<-c
		os.Exit(0)
	}()
}
"#;

/// Runs `go` with ARGS in `dir`; its stdout, or a panic with its stderr.
pub fn go_run(go: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(go)
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go {} in {}: {}\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The oracle for a shape: its single service built with `go build -cover
/// -covermode=<the config's> -coverpkg=<the config's>`, started on a free
/// loopback port with the configuration's args and env (placeholders filled
/// in as the local runtime does, in its workdir if it has one), driven by
/// the configuration's test command, stopped, and its data converted by
/// `go tool covdata textfmt`. Returns its blocks.
pub fn native_blocks(go: &Path, dir: &Dir, shape: &str) -> Blocks {
    let module = module(shape);
    let config = Config::load(&module).unwrap();
    assert_eq!(config.services.len(), 1, "one service per example module");
    let svc = &config.services[0];
    let src = dir.path("native/src");
    let _ = fs::remove_dir_all(&src);
    copy_tree(&module, &src);
    let pkg_dir = src.join(&svc.package);
    fs::write(pkg_dir.join(NATIVE_STOP), NATIVE_STOP_GO).unwrap();
    let bin = dir.path("native/service");
    go_run(
        go,
        &src,
        &[
            "build",
            "-cover",
            &format!("-covermode={}", config.build.cover_mode),
            &format!("-coverpkg={}", config.cover_packages()),
            "-o",
            &bin.display().to_string(),
            &svc.package,
        ],
        &[],
    );

    let addr = free_addr();
    let urls: BTreeMap<String, String> = [(svc.name.clone(), format!("http://{addr}"))].into();
    let covdir = dir.path("native/gocover");
    let _ = fs::remove_dir_all(&covdir);
    fs::create_dir_all(&covdir).unwrap();
    let workdir = match &svc.workdir {
        Some(w) => module.join(w),
        None => dir.path("native"),
    };
    let mut cmd = Command::new(&bin);
    cmd.args(svc.render_args(&addr, &urls).unwrap())
        .envs(svc.render_env(&addr, &urls).unwrap())
        .env("GOCOVERDIR", &covdir)
        .current_dir(workdir);
    let mut proc = Proc::spawn(dir, "native-service", &mut cmd);
    let ready = svc.ready.as_deref().unwrap_or("/");
    wait_until(
        &format!("the native {shape} at {addr}"),
        Duration::from_secs(20),
        || http_get(&addr, ready).is_ok_and(|(code, _)| code == 200),
    );

    run_suite(go, &config, &urls);

    proc.signal("USR1");
    let status = proc
        .wait_timeout(Duration::from_secs(20))
        .expect("the native service stops on SIGUSR1");
    assert!(
        status.success(),
        "native {shape}: {status}\n{}",
        proc.stderr()
    );
    let profile = dir.path("native/native.out");
    go_run(
        go,
        &src,
        &[
            "tool",
            "covdata",
            "textfmt",
            &format!("-i={}", covdir.display()),
            &format!("-o={}", profile.display()),
        ],
        &[],
    );
    blocks(&profile, &[NATIVE_STOP])
}

/// Runs the configuration's `[tests] command` (a `go test`) in its module
/// with `{url:NAME}` filled in from `urls`; its stdout.
pub fn run_suite(go: &Path, config: &Config, urls: &BTreeMap<String, String>) -> String {
    let tests = config.tests.clone().expect("a [tests] section");
    let argv: Vec<String> = tests
        .command
        .expect("a tests.command")
        .iter()
        .map(|a| config::render(a, "", urls).unwrap())
        .collect();
    assert_eq!(argv[0], "go", "the example modules' suites are go test");
    let env: Vec<(String, String)> = tests
        .env
        .iter()
        .map(|(k, v)| (k.clone(), config::render(v, "", urls).unwrap()))
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    go_run(go, &config.module_dir, &args, &env)
}

/// Asserts that a run's merged profile has exactly the native run's blocks
/// and covered blocks, and that the figure is neither 0 nor 100.
pub fn assert_same_as_native(report: &covjob::cover::Report, native: &Blocks) {
    let merged = report.merged.as_ref().expect("a merged profile");
    let ours = blocks(merged, &[]);
    assert_eq!(ours.all, native.all, "block sets differ");
    assert_eq!(ours.covered, native.covered, "covered blocks differ");
    let pct = ours.percent();
    assert!(pct > 0.0 && pct < 100.0, "{pct}");
    // covtotal's figure is the same one (one decimal, as printed).
    let total: f64 = report.total.as_deref().unwrap().parse().unwrap();
    assert!(
        (total - pct).abs() < 0.051,
        "covtotal {total} vs blocks {pct}"
    );
}

/// Waits, at most `timeout`, for `f` to hold; how long it took.
pub fn time_until(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}
