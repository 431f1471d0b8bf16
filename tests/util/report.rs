//! Helpers of the report, diff and html tests: the real consumers of
//! covreport's formats, and a small Go module made and tested for real.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{project_root, require_go, Dir};

/// A consumer program: on PATH, or in the venv `cargo xtask test` makes.
pub fn consumer(name: &str) -> PathBuf {
    let venv = project_root().join(".tools/report-venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    which::which(name).unwrap_or_else(|_| {
        panic!("{name} is not installed: run the tests with `cargo xtask test`, which installs the report consumers")
    })
}

/// Runs a command, asserts success, returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Go module `example.com/shop` written under `root`, with two packages
/// whose tests cover part of them. Lines chosen for the line rule: a line
/// with two blocks (`if x == 0 { return "zero" }`, only the `if` runs), a
/// statement over two lines, blocks ending at column 1 of the next line,
/// and a method pair with the same name.
pub const CALC_GO: &str = "package calc

// Sign says whether x is negative, zero or positive.
func Sign(x int) string {
\tif x < 0 {
\t\treturn \"negative\"
\t}
\tif x == 0 { return \"zero\" }
\ty := x *
\t\t2
\t// a comment inside the block
\t_ = y
\treturn \"positive\"
}

type A struct{}
type B struct{}

func (A) String() string { return \"A\" }
func (B) String() string { return \"B\" }

func Unused(s string) int {
\tn := 0
\tfor range s {
\t\tn++
\t}
\treturn n
}
";

pub const CALC_TEST_GO: &str = "package calc

import \"testing\"

func TestSign(t *testing.T) {
\tfor i := 1; i < 4; i++ {
\t\tSign(i)
\t}
\t_ = A{}.String()
}
";

pub const STORE_GO: &str = "package store

import \"strings\"

var Normalise = func(s string) string { return strings.ToLower(s) }

func Put(m map[string]int, k string, v int) {
\tif v < 0 {
\t\tpanic(\"negative\")
\t}
\tm[Normalise(k)] = v
}

func Get(m map[string]int, k string) (int, bool) {
\tv, ok := m[Normalise(k)]
\treturn v, ok
}
";

pub const STORE_TEST_GO: &str = "package store

import \"testing\"

func TestPut(t *testing.T) {
\tm := map[string]int{}
\tPut(m, \"A\", 1)
}
";

pub fn write_module(dir: &Dir, root: &str) {
    dir.create(
        format!("{root}/go.mod"),
        "module example.com/shop\n\ngo 1.21\n",
    );
    dir.create(format!("{root}/calc/calc.go"), CALC_GO);
    dir.create(format!("{root}/calc/calc_test.go"), CALC_TEST_GO);
    dir.create(format!("{root}/store/store.go"), STORE_GO);
    dir.create(format!("{root}/store/store_test.go"), STORE_TEST_GO);
}

/// `go test -covermode=MODE -coverprofile=OUT PKGS` in `module`.
pub fn go_cover(go: &Path, module: &Path, mode: &str, out: &Path, pkgs: &[&str]) {
    let mut cmd = Command::new(go);
    cmd.current_dir(module)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "")
        .arg("test")
        .arg(format!("-covermode={mode}"))
        .arg(format!("-coverprofile={}", out.display()))
        .args(pkgs);
    run_ok(&mut cmd);
}

/// The shop module and its count-mode profile (`shop.out`), or `None`
/// outside CI without Go.
pub fn shop(dir: &Dir) -> Option<PathBuf> {
    let go = require_go()?;
    write_module(dir, "shop");
    go_cover(
        &go,
        &dir.path("shop"),
        "count",
        &dir.path("shop.out"),
        &["./..."],
    );
    Some(go)
}

/// covreport's stdout (asserting success).
pub fn report(dir: &Dir, args: &[&str]) -> String {
    dir.tool("covreport").args(args).stdout()
}

/// Runs the page's self-check in headless Chromium; returns its result and
/// Chromium's stderr (console messages are logged there).
pub fn chromium_selftest(dir: &Dir, html: &str) -> (Value, String) {
    let page = dir.path(html);
    let out = Command::new(consumer("chromium"))
        .current_dir(&dir.root)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path("chromium-profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}#selftest", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {stderr}");
    let start = dom
        .find("<pre id=\"selftest\">")
        .unwrap_or_else(|| panic!("no self-check result in the DOM; stderr:\n{stderr}"));
    let text = &dom[start + "<pre id=\"selftest\">".len()..];
    let text = &text[..text.find("</pre>").unwrap()];
    let text = text
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    (serde_json::from_str(&text).unwrap(), stderr)
}
