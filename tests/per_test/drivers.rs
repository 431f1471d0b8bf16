//! Drivers in other languages mark their own tests at
//! `$COVTOOLS_TESTS_URL`: a shell script with curl (tests in sequence, a
//! test it forgets to end, two tests at once, a refused end), a Python
//! driver that dies in the middle of a test, and Go drivers in a container
//! on the services' network (the shop's, and one on a compose project's).

use covcore::exit_codes::ExitStatus;
use std::fs;

use covjob::runtime::process::Exit;

use super::{at_line, checked_map, line_of, local_run, owner_keys, results};
use crate::util::cover::{cover_run, notify_module};
use crate::util::{require_go, Dir};

const SHELL_DRIVER: &str = r#"#!/bin/sh
set -eu
u=$COVTOOLS_TESTS_URL; n=$COVTOOLS_URL_NOTIFYD
REFUSED_LOG="$(dirname "$0")/refused.log"
mark() { curl -fsS -X POST "$u/test/$1"; }
mark "start?name=health%20check"
curl -fsS "$n/healthz" >/dev/null
mark "end?name=health%20check&result=passed"
mark "start?name=rejects"
curl -sS -o /dev/null -X POST -d 'not json' "$n/notify"
mark "end?name=rejects&result=failed"
mark "start?name=forgotten"
curl -fsS -o /dev/null -X POST -d '{"to":"bo","text":"x"}' "$n/notify"
mark "start?name=reader"
mark "start?name=writer"
curl -fsS -o /dev/null "$n/inbox/bo"
mark "end?name=reader&result=passed"
mark "end?name=writer&result=skipped"
curl -sS -o /dev/null -w '%{http_code}\n' -X POST "$u/test/end?name=never&result=passed" > "$REFUSED_LOG"
curl -sS -o /dev/null -w '%{http_code}\n' -X POST "$u/test/end?name=reader&result=maybe" >> "$REFUSED_LOG"
curl -sS -o /dev/null -w '%{http_code}\n' "$u/test/start?name=x" >> "$REFUSED_LOG"
"#;

#[test]
fn a_shell_driver_with_curl_marks_its_tests() {
    let Some(_go) = require_go() else { return };
    let dir = Dir::new("per_test_shell_driver");
    let script = dir.create("driver.sh", SHELL_DRIVER);
    let refused = dir.path("refused.log");
    let module = notify_module();
    let report = local_run(&dir, &module, false, &["sh", &script.to_string_lossy()]);
    // The driver's own exit status is the tests' (a test reported failed
    // is the driver's business).
    assert_eq!(report.tests_exit, Some(Exit::Code(0)), "{report:#?}");
    let map = checked_map(&dir.path("out"));
    let tests: Vec<(&str, &str, Option<&str>)> = map
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.result.as_str(), t.closed_by.as_deref()))
        .collect();
    assert_eq!(
        tests,
        [
            ("health check", "passed", None),
            ("rejects", "failed", None),
            ("forgotten", "unfinished", Some("start of reader")),
            ("reader", "passed", None),
            ("writer", "skipped", None),
        ]
    );
    // The 409 for an end of a test never started, 400 for a bad result,
    // 405 for a GET.
    assert_eq!(fs::read_to_string(&refused).unwrap(), "409\n400\n405\n");
    let main = fs::read_to_string(module.join("cmd/notifyd/main.go")).unwrap();
    let outbox = fs::read_to_string(module.join("internal/outbox/outbox.go")).unwrap();
    let owners = owner_keys(&map);
    assert!(at_line(
        &owners["rejects"],
        "main.go",
        line_of(&main, "\"bad JSON: \"")
    ));
    assert!(at_line(
        &owners["forgotten"],
        "outbox.go",
        line_of(&outbox, "q := append(")
    ));
    // Reader and writer were open together: the inbox read is theirs,
    // together, and neither's alone.
    let group = map
        .buckets
        .iter()
        .find(|b| b.kind == "parallel")
        .expect("a group");
    assert_eq!(group.tests, ["reader", "writer"]);
    let take = line_of(&outbox, "delete(o.queues, to)");
    assert!(at_line(&owners["reader + writer"], "outbox.go", take));
    assert!(!at_line(&owners["reader"], "outbox.go", take));
    assert!(!at_line(&owners["writer"], "outbox.go", take));
    let summary = covjob::cover::summary(&report);
    // The results are counted by kind, in the order first seen.
    for want in [
        "per test:  5 tests (2 passed, 1 failed, 1 unfinished, 1 skipped)".to_string(),
        "unfinished: forgotten (never ended; closed by the start of reader)".to_string(),
        "parallel:  reader + writer".to_string(),
        "per test:  refused: end of test \"never\"".to_string(),
        "per test:  boundaries marked by the tests at http://127.0.0.1:".to_string(),
    ] {
        assert!(summary.contains(&want), "{want:?} not in\n{summary}");
    }
}

const PYTHON_DRIVER: &str = r#"
import os, signal, sys, urllib.request
u = os.environ["COVTOOLS_TESTS_URL"]
# The service's host and port as arguments ({host:notifyd} {port:notifyd}).
n = "http://%s:%s" % (sys.argv[1], sys.argv[2])
assert n == os.environ["COVTOOLS_URL_NOTIFYD"], (n, os.environ["COVTOOLS_URL_NOTIFYD"])
def mark(path):
    with urllib.request.urlopen(urllib.request.Request(u + path, method="POST")) as r:
        assert r.status == 200, r.status
mark("/test/start?name=smoke")
urllib.request.urlopen(n + "/healthz").read()
mark("/test/end?name=smoke&result=passed")
mark("/test/start?name=crashes")
body = b'{"to":"cy","text":"hello"}'
urllib.request.urlopen(urllib.request.Request(n + "/notify", data=body, method="POST")).read()
os.kill(os.getpid(), signal.SIGKILL)
"#;

#[test]
fn a_python_driver_that_dies_mid_test_leaves_the_test_unfinished() {
    let Some(_go) = require_go() else { return };
    let dir = Dir::new("per_test_python_crash");
    let script = dir.create("driver.py", PYTHON_DRIVER);
    let module = notify_module();
    let report = local_run(
        &dir,
        &module,
        false,
        &[
            "python3",
            &script.to_string_lossy(),
            "{host:notifyd}",
            "{port:notifyd}",
        ],
    );
    assert_eq!(report.tests_exit, Some(Exit::Signal(9)), "{report:#?}");
    assert_eq!(report.code, ExitStatus::Negative);
    let map = checked_map(&dir.path("out"));
    let crashed = &map.tests[1];
    assert_eq!(
        (
            crashed.name.as_str(),
            crashed.result.as_str(),
            crashed.closed_by.as_deref()
        ),
        ("crashes", "unfinished", Some("end of the suite"))
    );
    let outbox = fs::read_to_string(module.join("internal/outbox/outbox.go")).unwrap();
    let owners = owner_keys(&map);
    assert!(at_line(
        &owners["crashes"],
        "outbox.go",
        line_of(&outbox, "q := append(")
    ));
    assert!(!at_line(
        &owners["smoke"],
        "outbox.go",
        line_of(&outbox, "q := append(")
    ));
    assert!(covjob::cover::summary(&report)
        .contains("unfinished: crashes (never ended; closed by the end of the suite)"));
}

#[test]
fn the_shops_own_driver_in_a_container_marks_each_check() {
    let Some(_go) = crate::util::require_go() else {
        return;
    };
    if !crate::util::require_docker() {
        return;
    }
    let dir = Dir::new("per_test_shoptest_container");
    let scope = crate::util::cover::Scope::new("per-test-shoptest");
    // The configured tests: shoptest in a container on the services'
    // network, reaching the coordinator at the network's gateway.
    let report = cover_run(
        &dir,
        "out",
        Some(&scope),
        &[
            "--build-kind",
            "cover",
            "--cover-mode",
            "atomic",
            "--per-test",
            "--reports",
            "none",
        ],
    );
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    let url = report.per_test.as_ref().unwrap().url.clone().unwrap();
    assert!(
        !url.starts_with("http://127."),
        "{url}: not reachable from a container"
    );
    let map = checked_map(&dir.path("out"));
    let names: Vec<&str> = map.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert_eq!(names[0], "list products");
    assert!(map.tests.iter().all(|t| t.result == "passed"));
    let catalog =
        fs::read_to_string(crate::util::example_dir().join("cmd/catalog/main.go")).unwrap();
    let reserve = line_of(&catalog, "p.Stock -= req.Qty");
    let owners = owner_keys(&map);
    assert!(at_line(
        &owners["place an order with a coupon"],
        "catalog/main.go",
        reserve
    ));
    assert!(!at_line(
        &owners["unknown order is 404"],
        "catalog/main.go",
        reserve
    ));
    scope.assert_nothing_left();
}

/// A Go driver kvstore's module holds: it stores an item, then reads it
/// back, each its own test marked at `$COVTOOLS_TESTS_URL`.
const KVSTORE_DRIVER: &str = r#"// Command marker drives kvstore, marking each check as a test.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

func mark(what, name, result string) {
	u := os.Getenv("COVTOOLS_TESTS_URL") + "/test/" + what + "?name=" + url.QueryEscape(name)
	if result != "" {
		u += "&result=" + result
	}
	r, err := http.Post(u, "", nil)
	if err != nil || r.StatusCode != 200 {
		fmt.Println("mark:", u, err, r)
		os.Exit(1)
	}
}

func main() {
	base := flag.String("url", "", "the service's base URL")
	flag.Parse()
	mark("start", "store an item", "")
	req, _ := http.NewRequest("PUT", *base+"/items/marked", strings.NewReader("v"))
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 204 {
		fmt.Println("PUT:", err, r)
		os.Exit(1)
	}
	mark("end", "store an item", "passed")
	mark("start", "read it back", "")
	r, err := http.Get(*base + "/items/marked")
	if err != nil {
		fmt.Println("GET:", err)
		os.Exit(1)
	}
	b, _ := io.ReadAll(r.Body)
	mark("end", "read it back", map[bool]string{true: "passed", false: "failed"}[string(b) == "v"])
}
"#;

/// Under the compose runtime a driver in a container on the compose
/// project's network reaches the coordinator at that network's gateway.
#[test]
fn a_driver_on_a_compose_network_marks_its_tests() {
    let Some(stack) = crate::util::compose_run::Stack::new("per_test_marker", "kvstore", true)
    else {
        return;
    };
    fs::create_dir_all(stack.module.join("cmd/marker")).unwrap();
    stack.write("cmd/marker/main.go", KVSTORE_DRIVER);
    let report = stack.run(
        "out",
        &[
            "--per-test",
            "--reports",
            "none",
            "--test-package",
            "./cmd/marker",
            "--test-arg=-url",
            "--test-arg={url:kvstore}",
        ],
    );
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    let url = report.per_test.as_ref().unwrap().url.clone().unwrap();
    assert!(!url.starts_with("http://127."), "{url}");
    let map = checked_map(&stack.dir.path("out"));
    assert_eq!(
        results(&map),
        [("store an item", "passed"), ("read it back", "passed")]
    );
    let handlers = fs::read_to_string(stack.module.join("cmd/kvstore/handlers.go")).unwrap();
    let owners = owner_keys(&map);
    let set = line_of(&handlers, "s.db.Set(itemPrefix+key");
    let hit = line_of(&handlers, "s.count(hitsKey)");
    assert!(at_line(&owners["store an item"], "handlers.go", set));
    assert!(!at_line(&owners["store an item"], "handlers.go", hit));
    assert!(at_line(&owners["read it back"], "handlers.go", hit));
    assert!(!at_line(&owners["read it back"], "handlers.go", set));
    stack.assert_nothing_left(&report);
}
