//! `go test` suites measured one top-level test at a time: notify as local
//! processes (with the reports: covtotal --by test, the HTML view in
//! Chromium, the testwise export), the shop's e2e suite in Docker, and
//! kvstore's suite in its compose stack with the real Redis.

use covcore::exit_codes::ExitStatus;
use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use covjob::runtime::process::Exit;
use serde_json::Value;

use super::{
    at_line, checked_map, documented_reader_agrees, line_of, local_run, local_run_as, owner_keys,
    results,
};
use crate::util::cover::{cover_run, notify_module, Scope};
use crate::util::report::consumer;
use crate::util::{bin, example_dir, require_docker, require_go, Dir};

#[test]
fn notify_go_test_suite_is_measured_one_test_at_a_time() {
    let Some(_go) = require_go() else { return };
    let dir = Dir::new("per_test_notify_local");
    let module = notify_module();
    let report = local_run(&dir, &module, true, &["go", "test", "-count=1", "./e2e"]);
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    let out = dir.path("out");
    let map = checked_map(&out);
    documented_reader_agrees(&out, &map);
    assert_eq!(
        results(&map),
        [
            ("TestSmokeHealthz", "passed"),
            ("TestAPIDeliversInOrder", "passed"),
            ("TestAPIRejectsBadMessages", "passed")
        ]
    );
    // The suite was built once (one test binary per package), and each
    // test ran alone from it: its own log, its own -test.run.
    assert!(out.join("tests/.bin/e2e.test").is_file());
    for (i, t) in map.tests.iter().enumerate() {
        let log = fs::read_to_string(out.join(format!("tests/{i}-{}/tests.log", t.name))).unwrap();
        assert!(log.contains(&format!("--- PASS: {} (", t.name)), "{log}");
        assert_eq!(log.matches("--- PASS").count(), 1, "{log}");
        assert!(t.duration_ms < 5000.0, "Go's own time: {}", t.duration_ms);
    }
    // What each test ran, from the source.
    let main = fs::read_to_string(module.join("cmd/notifyd/main.go")).unwrap();
    let outbox = fs::read_to_string(module.join("internal/outbox/outbox.go")).unwrap();
    let owners = owner_keys(&map);
    let (health, deliver, reject) = (
        &owners["TestSmokeHealthz"],
        &owners["TestAPIDeliversInOrder"],
        &owners["TestAPIRejectsBadMessages"],
    );
    assert_eq!(health.len(), 1, "{health:?}");
    assert!(at_line(
        health,
        "main.go",
        line_of(&main, "fmt.Fprintln(w, \"ok\")")
    ));
    let take = line_of(&outbox, "delete(o.queues, to)");
    assert!(at_line(deliver, "outbox.go", take));
    assert!(!at_line(reject, "outbox.go", take));
    assert!(at_line(reject, "main.go", line_of(&main, "\"bad JSON: \"")));
    assert!(!at_line(
        deliver,
        "main.go",
        line_of(&main, "\"bad JSON: \"")
    ));
    let summary = covjob::cover::summary(&report);
    assert!(
        summary.contains("per test:  3 tests (3 passed); 8 snapshot rounds"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "test map:  {}",
            out.join("test-map.json").display()
        )),
        "{summary}"
    );

    // covtotal --by test: statements and only-this-test statements, as
    // recomputed here from the map's blocks and the merged profile.
    let merged = fs::read_to_string(out.join("merged.cov")).unwrap();
    let stmts = |keys: &BTreeSet<String>| -> u64 {
        merged
            .lines()
            .skip(1)
            .filter(|l| keys.contains(l.rsplitn(3, ' ').nth(2).unwrap()))
            .map(|l| l.rsplit(' ').nth(1).unwrap().parse::<u64>().unwrap())
            .sum()
    };
    let table = Command::new(bin("covtotal"))
        .args(["--by", "test"])
        .arg(out.join("merged.cov"))
        .output()
        .unwrap();
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    for (name, blocks) in &owners {
        let others: BTreeSet<String> = owners
            .iter()
            .filter(|(n, _)| *n != name)
            .flat_map(|(_, b)| b.iter().cloned())
            .collect();
        let only: BTreeSet<String> = blocks.difference(&others).cloned().collect();
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in\n{table}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        let n = cells.len();
        assert_eq!(
            (cells[n - 3], cells[n - 2]),
            (
                stmts(blocks).to_string().as_str(),
                stmts(&only).to_string().as_str()
            ),
            "{row}"
        );
    }
    assert!(
        table.lines().last().unwrap().starts_with("total"),
        "{table}"
    );
    assert!(
        table.contains(&format!("{}%", report.total.as_deref().unwrap())),
        "{table}"
    );

    // The testwise export: every test, its lines.
    let testwise: Value =
        serde_json::from_str(&fs::read_to_string(out.join("testwise.json")).unwrap()).unwrap();
    let tw = testwise["tests"].as_array().unwrap();
    assert_eq!(tw.len(), 3);
    let deliver_tw = tw
        .iter()
        .find(|t| t["uniformPath"] == "TestAPIDeliversInOrder")
        .unwrap();
    assert_eq!(deliver_tw["result"], "PASSED");
    let outbox_lines = deliver_tw["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == "internal/outbox")
        .unwrap()["files"][0]["coveredLines"]
        .as_str()
        .unwrap()
        .to_string();
    let has = |spec: &str, line: u32| {
        spec.split(',').any(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            a.parse::<u32>().unwrap() <= line && line <= b.parse::<u32>().unwrap()
        })
    };
    assert!(has(&outbox_lines, take), "{outbox_lines}");

    // The HTML page: per line the tests that ran it, in Chromium.
    let page = out.join("report.html");
    let html = fs::read_to_string(&page).unwrap();
    assert!(
        !html[html.find("id=\"tests\"").unwrap()..].contains("</script><"),
        "escaped data"
    );
    let shown = chromium(&dir, &page, "#selftest-tests");
    assert_eq!(shown["errors"], Value::Array(vec![]), "{shown}");
    assert_eq!(shown["tests"], 4, "three tests and the start-up: {shown}");
    assert_eq!(shown["pages"].as_array().unwrap().len(), 4);
    let file = shown["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "example.com/notify/internal/outbox/outbox.go")
        .unwrap();
    // Lines only one test reaches, recomputed from the map's lines.
    let mut per_line: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    let fi = map
        .file_index("example.com/notify/internal/outbox/outbox.go")
        .unwrap();
    for o in map.owners().unwrap() {
        for l in map.lines(&o.blocks).get(&fi).cloned().unwrap_or_default() {
            per_line.entry(l).or_default().push(format!(
                "{}{}",
                if o.test.is_some() { "" } else { "!" },
                o.label
            ));
        }
    }
    let only: Vec<String> = per_line
        .values()
        .filter(|os| os.len() == 1 && !os[0].starts_with('!'))
        .map(|os| format!("only {} runs this line", os[0]))
        .collect();
    assert!(!only.is_empty());
    let titles: Vec<String> = file["onlyTitles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, only);
    assert_eq!(file["counted"], per_line.len());
}

/// The page's `hash` self-check in headless Chromium: its JSON.
pub(crate) fn chromium(dir: &Dir, page: &std::path::Path, hash: &str) -> Value {
    let out = Command::new(consumer("chromium"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path("chromium-profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}{hash}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = dom
        .find("<pre id=\"selftest\">")
        .expect("the self-check's result")
        + 19;
    let text = &dom[start..];
    let text = text[..text.find("</pre>").unwrap()]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_shops_e2e_suite_per_test_in_docker() {
    let Some(_go) = require_go() else { return };
    if !require_docker() {
        return;
    }
    let dir = Dir::new("per_test_shop_docker");
    let scope = Scope::new("per-test-shop");
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
            "--",
            "go",
            "test",
            "-count=1",
            "./e2e",
        ],
    );
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    assert_eq!(report.tests_exit, Some(Exit::Code(0)));
    let map = checked_map(&dir.path("out"));
    assert_eq!(map.services, ["catalog", "orders", "gateway"]);
    assert_eq!(map.tests.len(), 10);
    assert!(map.tests.iter().all(|t| t.result == "passed"));
    // Every test ran in all three services' code paths it needs, and only those.
    let catalog = fs::read_to_string(example_dir().join("cmd/catalog/main.go")).unwrap();
    let reserve = line_of(&catalog, "p.Stock -= req.Qty");
    let owners = owner_keys(&map);
    assert!(at_line(
        &owners["TestStockGoesDown"],
        "catalog/main.go",
        reserve
    ));
    assert!(!at_line(
        &owners["TestOrderWithoutItemsIs400"],
        "catalog/main.go",
        reserve
    ));
    assert!(!at_line(
        &owners["TestListProducts"],
        "catalog/main.go",
        reserve
    ));
    let stock = map
        .tests
        .iter()
        .find(|t| t.name == "TestStockGoesDown")
        .unwrap();
    let services: Vec<&String> = stock.coverage.keys().collect();
    assert_eq!(services, ["catalog", "gateway", "orders"]);
    scope.assert_nothing_left();
}

#[test]
fn per_test_is_refused_without_live_snapshots_before_anything_is_built() {
    let dir = Dir::new("per_test_refused");
    let report = cover_run(&dir, "out", None, &["--runtime", "local", "--per-test"]);
    assert_eq!(report.code, ExitStatus::Error);
    let err = report.error.unwrap();
    assert!(
        err.contains("per-test coverage needs live snapshots")
            && err.contains("--build-kind cover --cover-mode atomic"),
        "{err}"
    );
    assert!(report.steps.iter().all(|(s, _)| s != "build"));
}

/// kvstore's own `go test` e2e suite, per test, in its compose stack with
/// the real Redis (`per_test = true` in its covtools.toml): every test
/// named with its result, the map against merged.cov, the Redis-backed
/// handler lines each test ran, and nothing of the compose project left.
#[test]
fn kvstores_go_test_suite_per_test_in_its_compose_stack() {
    let Some(stack) = crate::util::compose_run::Stack::new("per_test_kvstore", "kvstore", true)
    else {
        return;
    };
    let toml = fs::read_to_string(stack.module.join("covtools.toml")).unwrap();
    let toml = toml.replacen("[tests]\n", "[tests]\nper_test = true\n", 1);
    stack.write("covtools.toml", &toml);
    let report = stack.run("out", &["--reports", "none"]);
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    assert_eq!(report.runtime, "compose");
    assert_eq!(report.tests_exit, Some(Exit::Code(0)));
    assert!(
        report.teardown_problems.is_empty(),
        "{:?}",
        report.teardown_problems
    );
    let out = stack.dir.path("out");
    let map = checked_map(&out);
    assert_eq!(map.services, ["kvstore"]);
    // The suite's top-level tests in source order, each run alone.
    let suite = fs::read_to_string(stack.module.join("e2e/e2e_test.go")).unwrap();
    let declared: Vec<String> = suite
        .lines()
        .filter_map(|l| l.strip_prefix("func Test"))
        .map(|l| format!("Test{}", &l[..l.find('(').unwrap()]))
        .collect();
    assert_eq!(declared.len(), 7, "{declared:?}");
    let names: Vec<&str> = map.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, declared);
    assert!(map.tests.iter().all(|t| t.result == "passed"));
    for (i, t) in map.tests.iter().enumerate() {
        let log = fs::read_to_string(out.join(format!("tests/{i}-{}/tests.log", t.name))).unwrap();
        assert_eq!(log.matches("--- PASS").count(), 1, "{log}");
        assert!(log.contains(&format!("--- PASS: {} (", t.name)), "{log}");
    }

    // The handlers' Redis paths, from the source: Redis's error reply to
    // INCR of a text only in TestCounters, DEL only in TestDelete.
    let handlers = fs::read_to_string(stack.module.join("cmd/kvstore/handlers.go")).unwrap();
    let client = fs::read_to_string(stack.module.join("internal/resp/resp.go")).unwrap();
    let owners = owner_keys(&map);
    let conflict = line_of(&handlers, "http.StatusConflict)");
    let error_reply = line_of(&client, "return nil, Error(rest)");
    let del = line_of(&handlers, "s.db.Del(itemPrefix + key)");
    for (name, blocks) in &owners {
        let counters = name == "TestCounters";
        assert_eq!(
            at_line(blocks, "cmd/kvstore/handlers.go", conflict),
            counters,
            "{name}: the 409 of a non-integer INCR"
        );
        assert_eq!(
            at_line(blocks, "internal/resp/resp.go", error_reply),
            counters,
            "{name}: Redis's error reply"
        );
        assert_eq!(
            at_line(blocks, "cmd/kvstore/handlers.go", del),
            name == "TestDelete",
            "{name}: DEL"
        );
    }
    // A hit's GET and its counter, in the tests that read a stored item.
    let hit = line_of(&handlers, "s.count(hitsKey)");
    for name in [
        "TestSetThenGet",
        "TestCounters",
        "TestStatsCountHitsAndMisses",
    ] {
        assert!(at_line(&owners[name], "handlers.go", hit), "{name}");
    }
    assert!(!at_line(&owners["TestMissingKey"], "handlers.go", hit));
    let summary = covjob::cover::summary(&report);
    assert!(
        summary.contains("per test:  7 tests (7 passed)"),
        "{summary}"
    );
    stack.assert_nothing_left(&report);
}

/// Subtests of a table, in the finer mode (`--per-test=subtests`).
const SUBTESTS: &str = r#"package e2e

import (
	"net/http"
	"testing"
)

// Each case a subtest: in the finer mode each runs alone.
func TestMessages(t *testing.T) {
	cases := []struct {
		name, body string
		want       int
	}{
		{"accepts a message", `{"to":"dee","text":"hi"}`, http.StatusAccepted},
		{"rejects bad JSON", `not json`, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if r := post(t, c.body); r.StatusCode != c.want {
				t.Fatalf("notify: %s, want %d", r.Status, c.want)
			}
		})
	}
}
"#;

#[test]
fn subtests_each_run_alone_in_the_finer_mode() {
    let Some(_go) = require_go() else { return };
    let dir = Dir::new("per_test_subtests");
    let module = dir.path("notify");
    crate::util::copy_tree(&notify_module(), &module);
    fs::write(module.join("e2e/messages_test.go"), SUBTESTS).unwrap();
    let report = local_run_as(
        &dir,
        &module,
        "--per-test=subtests",
        false,
        &[
            "go",
            "test",
            "-count=1",
            "-run",
            "TestSmokeHealthz|TestMessages",
            "./e2e",
        ],
    );
    assert_eq!(report.code, ExitStatus::Success, "{report:#?}");
    let out = dir.path("out");
    let map = checked_map(&out);
    // The whole test first (it names its subtests), then each alone; the
    // tests in the order `go test -list` gives (file by file).
    assert_eq!(
        results(&map),
        [
            ("TestMessages", "passed"),
            ("TestMessages/accepts_a_message", "passed"),
            ("TestMessages/rejects_bad_JSON", "passed"),
            ("TestSmokeHealthz", "passed"),
        ]
    );
    let log =
        fs::read_to_string(out.join("tests/2-TestMessages--rejects_bad_JSON/tests.log")).unwrap();
    assert!(
        log.contains("--- PASS: TestMessages/rejects_bad_JSON ("),
        "{log}"
    );
    assert!(!log.contains("accepts_a_message"), "{log}");
    let main = fs::read_to_string(module.join("cmd/notifyd/main.go")).unwrap();
    let outbox = fs::read_to_string(module.join("internal/outbox/outbox.go")).unwrap();
    let (bad, push) = (
        line_of(&main, "\"bad JSON: \""),
        line_of(&outbox, "q := append("),
    );
    let owners = owner_keys(&map);
    let (whole, accepts, rejects) = (
        &owners["TestMessages"],
        &owners["TestMessages/accepts_a_message"],
        &owners["TestMessages/rejects_bad_JSON"],
    );
    assert!(at_line(rejects, "main.go", bad) && !at_line(rejects, "outbox.go", push));
    assert!(at_line(accepts, "outbox.go", push) && !at_line(accepts, "main.go", bad));
    assert!(at_line(whole, "main.go", bad) && at_line(whole, "outbox.go", push));
    // What the whole test ran is what its subtests ran alone.
    let alone: BTreeSet<String> = accepts.union(rejects).cloned().collect();
    assert_eq!(whole, &alone);
}
